"""The sandbox's writes: what accepting, resolving and assigning an alert, updating or
deleting an alert source, and creating or updating an incident change in its records,
answered as ilert answers them.

Shapes: spec `alerts-accept put`, `alerts-resolve put`, `alerts-assign put` (PUT, no body,
the alert in the answer; assign takes one of `user`, `policy`, `schedule`), spec
`alert-sources put` (the whole alert source: `name`, `escalationPolicy` and `integrationType`
required) and `alert-sources delete`; ilert-go alert_source.go expects 200 from an update and
204 from a delete. A write the state of the entry forbids is a 400 in ilert's shape.
"""

import time
from datetime import UTC, datetime
from typing import Any

from flask import current_app, request

from sandbox import data
from sandbox.api import ApiError, etag, find, shown
from sandbox.description import BY_NAME, INCIDENT_STATES
from sandbox.records import Row
from sandbox.schemas import ALERT_CREATIONS, INTEGRATION_TYPES, PRIORITY_RULES

ALERTS, SOURCES = BY_NAME["alerts"], BY_NAME["alert_sources"]


def _now() -> str:
    clock = getattr(current_app.extensions["sandbox"], "clock", time.time)
    return datetime.fromtimestamp(clock(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _records():
    return current_app.extensions["sandbox"].records


def _person_ref(user: Row) -> Row:
    return {key: user[key] for key in ("id", "firstName", "lastName")}


def _signed_in_person(grant: dict) -> Row:
    return _person_ref(data.PEOPLE[grant["user"]])


def _change_alert(alert_id: int, edit, once_resolved_too: bool = False) -> Row:
    """Apply `edit` to an alert (400 for a resolved one, unless `once_resolved_too`), then
    bring its alert source's status up to date; the alert as ilert answers with it."""
    find(ALERTS, alert_id)

    def checked(alert: Row) -> Row:
        if alert["status"] == "RESOLVED" and not once_resolved_too:
            raise ApiError(400, f"Alert {alert_id} is resolved: it can no longer change")
        return edit(alert)

    alert = _records().change("alerts", alert_id, checked)
    assert alert is not None
    update_source_status(alert["alertSource"]["id"])
    return shown(ALERTS, alert, set(), single=True)


def accept_alert(grant: dict, item_id: int):
    """PUT /api/alerts/{id}/accept: the signed-in person accepts the alert."""
    person = _signed_in_person(grant)

    def accepted(alert: Row) -> Row:
        others = [r for r in alert["responders"] if r["user"]["id"] != person["id"]]
        mine = {"user": person, "status": "ACCEPTED", "acceptedAt": _now()}
        return alert | {"status": "ACCEPTED", "nextEscalation": None, "responders": [mine, *others]}

    return _change_alert(item_id, accepted)


def _resolved(alert: Row) -> Row:
    if alert["status"] == "RESOLVED":
        return alert
    return alert | {"status": "RESOLVED", "resolvedOn": _now(), "nextEscalation": None}


def resolve_alert(grant: dict, item_id: int):
    """PUT /api/alerts/{id}/resolve: the alert is resolved (resolving it again changes
    nothing)."""
    return _change_alert(item_id, _resolved, once_resolved_too=True)


def assign_alert(grant: dict, item_id: int):
    """PUT /api/alerts/{id}/assign?user=|policy=|schedule=: the alert waits for its new
    responder (PENDING)."""
    given = {
        name: request.args[name] for name in ("user", "policy", "schedule") if name in request.args
    }
    if len(given) != 1 or not next(iter(given.values())).isdigit():
        raise ApiError(400, "Assign to exactly one of user, policy or schedule, by numeric id")
    (kind, text), target = next(iter(given.items())), int(next(iter(given.values())))
    resource = {"user": "users", "policy": "escalation_policies", "schedule": "schedules"}[kind]
    row = _records().get(resource, target)
    if row is None:
        raise ApiError(400, f"No {kind} with id {text} to assign the alert to")

    def assigned(alert: Row) -> Row:
        change: dict[str, Any] = {"status": "PENDING", "responders": []}
        if kind == "user":
            change["responders"] = [
                {"user": _person_ref(row), "status": "PENDING", "acceptedAt": None}
            ]
        elif kind == "policy":
            change["escalationPolicy"] = {"id": row["id"], "name": row["name"]}
        else:
            on_call = _on_call(row)
            if on_call is not None:
                change["responders"] = [{"user": on_call, "status": "PENDING", "acceptedAt": None}]
        return alert | change

    return _change_alert(item_id, assigned)


def _on_call(schedule: Row) -> Row | None:
    """Who is on call in a schedule: its current shift's person, else the first person of
    its first layer or shift."""
    if schedule.get("currentShift"):
        return _person_ref(schedule["currentShift"]["user"])
    for layer in schedule.get("scheduleLayers") or []:
        if layer.get("users"):
            return _person_ref(layer["users"][0])
    for shift in schedule.get("shifts") or []:
        return _person_ref(shift["user"])
    return None


def update_source_status(source_id: int) -> None:
    """An alert source's status from its alerts (ilert-go alert_source.go
    AlertSourceStatuses): DISABLED when switched off, PENDING while an alert waits to be
    accepted, ALL_ACCEPTED while open ones are all accepted, else ALL_RESOLVED."""
    states = {
        alert["status"]
        for alert in _records().rows("alerts")
        if alert["alertSource"]["id"] == source_id
    }

    def refreshed(source: Row) -> Row:
        if not source["active"]:
            status = "DISABLED"
        elif states & {"NEW", "PENDING"}:
            status = "PENDING"
        elif "ACCEPTED" in states:
            status = "ALL_ACCEPTED"
        else:
            status = "ALL_RESOLVED"
        return source | {"status": status}

    _records().change("alert_sources", source_id, refreshed)


def _body() -> dict:
    """The request's JSON object, else 400."""
    body = request.get_json(silent=True) if request.mimetype == "application/json" else None
    if not isinstance(body, dict):
        raise ApiError(400, "Send the body as a JSON object (Content-Type: application/json)")
    return body


def _checked_source_update(body: dict) -> Row:
    """The writable fields of an alert source update, checked; 400 names what is wrong."""
    name, kind, policy = body.get("name"), body.get("integrationType"), body.get("escalationPolicy")
    if not isinstance(name, str) or not name.strip():
        raise ApiError(400, "name is required: a non-empty string")
    if kind not in INTEGRATION_TYPES:
        raise ApiError(
            400, "integrationType is required: one of ilert's, e.g. API, EMAIL2 or PROMETHEUS"
        )
    if not isinstance(policy, dict) or type(policy.get("id")) is not int:
        raise ApiError(400, 'escalationPolicy is required: {"id": <escalation policy id>}')
    known = _records().get("escalation_policies", policy["id"])
    if known is None:
        raise ApiError(400, f"No escalation policy with id {policy['id']}")
    change: Row = {
        "name": name,
        "integrationType": kind,
        "escalationPolicy": {"id": known["id"], "name": known["name"]},
    }
    for field, values in (
        ("alertPriorityRule", PRIORITY_RULES),
        ("alertCreation", ALERT_CREATIONS),
    ):
        if field in body:
            if body[field] not in values:
                raise ApiError(400, f"{field} must be one of {', '.join(values)}")
            change[field] = body[field]
    if "active" in body:
        if type(body["active"]) is not bool:
            raise ApiError(400, "active must be true or false")
        change["active"] = body["active"]
    return change


def update_alert_source(grant: dict, item_id: int):
    """PUT /api/alert-sources/{id}: replace its writable fields (switch it off with
    `"active": false`); fields ilert sets itself (status, integrationKey, ...) stay."""
    find(SOURCES, item_id)
    change = _checked_source_update(_body())
    _records().change("alert_sources", item_id, lambda source: source | change)
    update_source_status(item_id)
    return shown(SOURCES, find(SOURCES, item_id), set(), single=True)


def delete_alert_source(grant: dict, item_id: int):
    """DELETE /api/alert-sources/{id}: 204, and the alert source is gone."""
    if not _records().delete("alert_sources", item_id):
        find(SOURCES, item_id)
    return "", 204


# --- incidents: spec incidents post / incidents put (If-Match, 412) -------------------------

INCIDENTS = BY_NAME["incidents"]
# spec incidents post: affectedServices impact (the service statuses)
IMPACTS = ("OPERATIONAL", "UNDER_MAINTENANCE", "DEGRADED", "PARTIAL_OUTAGE", "MAJOR_OUTAGE")


def _checked_incident(body: dict) -> Row:
    """The writable fields of an incident, checked; 400 names what is wrong."""
    summary, status = body.get("summary"), body.get("status", "INVESTIGATING")
    if not isinstance(summary, str) or not summary.strip():
        raise ApiError(400, "summary is required: a non-empty string")
    if status not in INCIDENT_STATES:
        raise ApiError(400, f"status must be one of {', '.join(INCIDENT_STATES)}")
    message, notify = body.get("message", ""), body.get("sendNotification", False)
    if not isinstance(message, str) or type(notify) is not bool:
        raise ApiError(400, "message must be a string and sendNotification true or false")
    affected = body.get("affectedServices", [])
    if not isinstance(affected, list):
        raise ApiError(400, "affectedServices must be a list of {impact, service: {id}}")
    services = []
    for entry in affected:
        service_id = entry.get("service", {}).get("id") if isinstance(entry, dict) else None
        service = _records().get("services", service_id) if type(service_id) is int else None
        if service is None or entry.get("impact") not in IMPACTS:
            raise ApiError(
                400,
                f"each affected service needs the id of a service and an impact among "
                f"{', '.join(IMPACTS)}",
            )
        ref = {key: service[key] for key in ("id", "name", "alias", "status")}
        services.append({"impact": entry["impact"], "service": ref})
    return {
        "summary": summary,
        "status": status,
        "message": message,
        "sendNotification": notify,
        "affectedServices": services,
    }


def _incident_answer(row: Row, status: int = 200):
    """An incident as the single GET shows it, with its ETag."""
    return shown(INCIDENTS, row, set(), single=True), status, {"ETag": etag(row)}


def _history_entry(grant: dict, incident: Row, now: str) -> Row:
    return {
        "id": f"{incident['id']}-{len(incident['history']) + 1}",
        "content": incident["message"],
        "creator": _signed_in_person(grant),
        "incidentStatus": incident["status"],
        "sendNotification": incident["sendNotification"],
        "createdAt": now,
    }


def create_incident(grant: dict):
    """POST /api/incidents: a new incident (ilert-go incident.go expects 200), newest first."""
    fields, now = _checked_incident(_body()), _now()

    def new(incident_id: int) -> Row:
        incident = {
            "id": incident_id,
            **fields,
            "createdAt": now,
            "updatedAt": now,
            "resolvedOn": now if fields["status"] == "RESOLVED" else None,
            "subscribed": False,
            "affectedTeams": [],
            "history": [],
        }
        return incident | {"history": [_history_entry(grant, incident, now)]}

    return _incident_answer(_records().add("incidents", new))


def update_incident(grant: dict, item_id: int):
    """PUT /api/incidents/{id}: replace its writable fields; with `If-Match`, only if the
    incident is still as the client last saw it (412 otherwise)."""
    find(INCIDENTS, item_id)
    fields, now = _checked_incident(_body()), _now()
    wanted = request.headers.get("If-Match")

    def updated(incident: Row) -> Row:
        tags = {tag.strip() for tag in (wanted or "").split(",")}
        if wanted is not None and "*" not in tags and etag(incident) not in tags:
            raise ApiError(
                412, f"Incident {item_id} changed since that ETag: GET it again, then retry"
            )
        resolved = incident["resolvedOn"] if incident["status"] == "RESOLVED" else now
        changed = incident | fields | {"updatedAt": now}
        changed["resolvedOn"] = resolved if fields["status"] == "RESOLVED" else None
        return changed | {"history": [*incident["history"], _history_entry(grant, changed, now)]}

    row = _records().change("incidents", item_id, updated)
    assert row is not None
    return _incident_answer(row)
