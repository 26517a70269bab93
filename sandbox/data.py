"""The made-up ilert account behind the sandbox: its people, and what each API row serves.

Field names and enum values are those of ilert's OpenAPI spec (see `sandbox.description` for
the sources), so what a page reads here it reads from ilert. A user has no `mobile` or
`landline` (ilert moved them to /api/users/{id}/contacts in 2023), nor a `username` (not in
the spec), and its `language` is `en` or `de`. Include-only fields (`sandbox.description`)
are kept in the rows and left out of answers that do not ask for them. Each list has more
rows than the smallest default page (10), so paging shows.
"""

from typing import Any

# Keyed by username, in the order the consent page offers them (the first is preselected).
PEOPLE: dict[str, dict[str, Any]] = {
    "ada.lovelace": {
        "id": 1001,
        "firstName": "Ada",
        "lastName": "Lovelace",
        "email": "ada.lovelace@example.com",
        "timezone": "Europe/London",
        "language": "en",
        "role": "ADMIN",
        "position": "Head of Platform Engineering",
        "department": "Platform",
        "region": "GB",
        "shiftColor": "#0f609b",
        "avatarUrl": "",
        "mutedUntil": None,
        "createdAt": "2024-03-04T09:12:00Z",
        "updatedAt": "2026-10-02T14:20:11Z",
    },
    "grace.hopper": {
        "id": 1002,
        "firstName": "Grace",
        "lastName": "Hopper",
        "email": "grace.hopper@example.com",
        "timezone": "America/New_York",
        "language": "en",
        "role": "USER",
        "position": "Site Reliability Engineer",
        "department": "Operations",
        "region": "US",
        "shiftColor": "#2f8132",
        "avatarUrl": "",
        "mutedUntil": None,
        "createdAt": "2024-03-04T09:30:00Z",
        "updatedAt": "2026-11-18T07:45:39Z",
    },
    "lena.fischer": {
        "id": 1003,
        "firstName": "Lena",
        "lastName": "Fischer",
        "email": "lena.fischer@example.com",
        "timezone": "Europe/Berlin",
        "language": "de",
        "role": "STAKEHOLDER",
        "position": "Customer Success Manager",
        "department": "Customer Success",
        "region": "DE",
        "shiftColor": "#b44d12",
        "avatarUrl": "",
        "mutedUntil": "2026-12-24T00:00:00Z",
        "createdAt": "2025-01-13T08:05:00Z",
        "updatedAt": "2026-11-27T16:02:51Z",
    },
}

USERS = list(PEOPLE.values())

TEAMS: list[dict[str, Any]] = [
    {
        "id": 301,
        "name": "Platform",
        "visibility": "PUBLIC",
        "members": [
            {"user": PEOPLE["ada.lovelace"], "role": "ADMIN"},
            {"user": PEOPLE["grace.hopper"], "role": "RESPONDER"},
        ],
    },
    {
        "id": 302,
        "name": "Payments",
        "visibility": "PRIVATE",
        "members": [{"user": PEOPLE["grace.hopper"], "role": "USER"}],
    },
    {
        "id": 303,
        "name": "Customer Success",
        "visibility": "PUBLIC",
        "members": [{"user": PEOPLE["lena.fischer"], "role": "STAKEHOLDER"}],
    },
]
_PLATFORM, _PAYMENTS, _SUCCESS = ({"id": t["id"], "name": t["name"]} for t in TEAMS)

SCHEDULES: list[dict[str, Any]] = [
    {
        "id": 501,
        "name": "Platform on-call",
        "timezone": "Europe/London",
        "type": "RECURRING",
        "scheduleLayers": [
            {
                "name": "Weekly rotation",
                "startsOn": "2026-01-05T09:00:00Z",
                "users": [PEOPLE["ada.lovelace"], PEOPLE["grace.hopper"]],
                "rotation": "P7D",
            }
        ],
        "showGaps": True,
        "defaultShiftDuration": "P7D",
        "teams": [_PLATFORM],
        "currentShift": {
            "user": {"id": 1002, "firstName": "Grace", "lastName": "Hopper"},
            "start": "2026-11-30T09:00:00Z",
            "end": "2026-12-07T09:00:00Z",
        },
        "nextShift": {
            "user": {"id": 1001, "firstName": "Ada", "lastName": "Lovelace"},
            "start": "2026-12-07T09:00:00Z",
            "end": "2026-12-14T09:00:00Z",
        },
    },
    {
        "id": 502,
        "name": "Payments business hours",
        "timezone": "America/New_York",
        "type": "RECURRING",
        "scheduleLayers": [
            {
                "name": "Weekdays",
                "startsOn": "2026-01-05T14:00:00Z",
                "users": [PEOPLE["grace.hopper"]],
                "rotation": "P1D",
                "restrictionType": "TIMES_OF_WEEK",
                "restrictions": [
                    {
                        "from": {"dayOfWeek": "MONDAY", "time": "09:00"},
                        "to": {"dayOfWeek": "FRIDAY", "time": "17:00"},
                    }
                ],
            }
        ],
        "defaultShiftDuration": "PT8H",
        "teams": [_PAYMENTS],
        "currentShift": {
            "user": {"id": 1002, "firstName": "Grace", "lastName": "Hopper"},
            "start": "2026-11-30T14:00:00Z",
            "end": "2026-11-30T22:00:00Z",
        },
        "nextShift": {
            "user": {"id": 1002, "firstName": "Grace", "lastName": "Hopper"},
            "start": "2026-12-01T14:00:00Z",
            "end": "2026-12-01T22:00:00Z",
        },
    },
    {
        "id": 503,
        "name": "Release weekend cover",
        "timezone": "Europe/Berlin",
        "type": "STATIC",
        "shifts": [
            {
                "user": PEOPLE["ada.lovelace"],
                "start": "2026-12-12T08:00:00Z",
                "end": "2026-12-13T08:00:00Z",
            },
            {
                "user": PEOPLE["grace.hopper"],
                "start": "2026-12-13T08:00:00Z",
                "end": "2026-12-14T08:00:00Z",
            },
        ],
        "teams": [_PLATFORM],
    },
]

ESCALATION_POLICIES: list[dict[str, Any]] = [
    {
        "id": 601,
        "name": "Platform: on-call, then the head of platform",
        "escalationRules": [
            {
                "schedules": [{"id": 501, "name": "Platform on-call"}],
                "escalationTimeout": 15,
            },
            {"users": [PEOPLE["ada.lovelace"]], "escalationTimeout": 30},
        ],
        "teams": [_PLATFORM],
        "repeating": True,
        "frequency": 2,
        "routingKey": "platform",
    },
    {
        "id": 602,
        "name": "Payments: business hours",
        "escalationRules": [
            {
                "schedules": [{"id": 502, "name": "Payments business hours"}],
                "escalationTimeout": 10,
            },
            {"teams": [_PAYMENTS], "escalationTimeout": 20},
        ],
        "teams": [_PAYMENTS],
        "routingKey": "payments",
    },
    {
        "id": 603,
        "name": "Default",
        "escalationRules": [{"users": [PEOPLE["grace.hopper"]], "escalationTimeout": 0}],
    },
]
_POLICY_PLATFORM, _POLICY_PAYMENTS, _POLICY_DEFAULT = (
    {"id": p["id"], "name": p["name"]} for p in ESCALATION_POLICIES
)

ALERT_SOURCES: list[dict[str, Any]] = [
    {
        "id": 4101,
        "name": "Payments API",
        "integrationType": "API",
        "status": "ALL_ACCEPTED",
        "active": True,
        "alertCreation": "ONE_ALERT_PER_EMAIL",
        "alertPriorityRule": "HIGH",
        "escalationPolicy": _POLICY_PAYMENTS,
        "teams": [_PAYMENTS],
    },
    {
        "id": 4102,
        "name": "Kubernetes prod-eu (Prometheus)",
        "integrationType": "PROMETHEUS",
        "status": "ALL_ACCEPTED",
        "active": True,
        "alertCreation": "INTELLIGENT_GROUPING",
        "alertPriorityRule": "HIGH",
        "scoreThreshold": 0.7,
        "summaryTemplate": {"textTemplate": "{{ labels.alertname }} in {{ labels.cluster }}"},
        "eventFilter": 'event.labels.severity in ["critical", "warning"]',
        "detailsTemplate": {"textTemplate": "{{ annotations.description }}"},
        "routingTemplate": {"textTemplate": "{{ labels.team }}"},
        "linkTemplates": [
            {"text": "Runbook", "hrefTemplate": {"textTemplate": "{{ annotations.runbook_url }}"}}
        ],
        "priorityTemplate": {
            "valueTemplate": {"textTemplate": "{{ labels.severity }}"},
            "mappings": [{"value": "critical", "priority": "HIGH"}],
        },
        "severityTemplate": {
            "valueTemplate": {"textTemplate": "{{ labels.severity }}"},
            "mappings": [{"value": "critical", "severity": 1}],
        },
        "alertKeyTemplate": {"textTemplate": "{{ labels.cluster }}/{{ labels.alertname }}"},
        "servicesTemplate": [{"textTemplate": "{{ labels.service }}"}],
        "eventTypeFilterCreate": 'event.status == "firing"',
        "eventTypeFilterAccept": "false",
        "eventTypeFilterResolve": 'event.status == "resolved"',
        "escalationPolicy": _POLICY_PLATFORM,
        "teams": [_PLATFORM],
    },
    {
        "id": 4103,
        "name": "Datadog monitors",
        "integrationType": "DATADOG",
        "status": "PENDING",
        "active": True,
        "alertCreation": "ONE_OPEN_ALERT_ALLOWED",
        "alertPriorityRule": "LOW",
        "escalationPolicy": _POLICY_PLATFORM,
        "teams": [_PLATFORM],
    },
    {
        "id": 4104,
        "name": "Support inbox",
        "integrationType": "EMAIL2",
        "status": "DISABLED",
        "active": False,
        "alertCreation": "ONE_ALERT_PER_EMAIL_SUBJECT",
        "alertPriorityRule": "LOW",
        "escalationPolicy": _POLICY_DEFAULT,
        "teams": [_SUCCESS],
    },
]
# Fields of every alert source (spec alert-sources list) the rows above leave at ilert's
# defaults; the integration key is made up (it only identifies the source to ilert).
for _source in ALERT_SOURCES:
    _source.setdefault("iconUrl", "")
    _source.setdefault("lightIconUrl", "")
    _source.setdefault("darkIconUrl", "")
    _source.setdefault("integrationKey", f"il1api{_source['id']}sbx0000000000000000")
    _source.setdefault("integrationUrl", "")
    _source.setdefault("autoResolutionTimeout", None)
    _source.setdefault("alertGroupingWindow", None)
    _source.setdefault("supportHours", None)
    _source.setdefault("bidirectional", False)
    _source.setdefault("autoRaiseAlerts", False)
    _source.setdefault("scoreThreshold", None)
    _source.setdefault("severity", 3)
    _source.setdefault("services", [])
    _source.setdefault("setupStatus", "FINISHED")
    _source.setdefault("autoCreateServices", False)
    _source.setdefault("createdAt", "2024-03-05T10:00:00Z")
    _source.setdefault("updatedAt", "2026-11-02T08:30:00Z")
_SOURCE = {s["id"]: {k: s[k] for k in ("id", "name", "integrationType")} for s in ALERT_SOURCES}
_POLICY_OF_SOURCE: dict[int, Any] = {s["id"]: s["escalationPolicy"] for s in ALERT_SOURCES}
_RULES_OF_POLICY: dict[int, Any] = {p["id"]: p["escalationRules"] for p in ESCALATION_POLICIES}


def _person(username):
    """A person as alerts name their responders: id and name."""
    person = PEOPLE[username]
    return {key: person[key] for key in ("id", "firstName", "lastName")}


def _alert(alert_id, source, status, priority, summary, details, reported, alert_key, **more):
    """An alert of `source` with the fields every alert has; `more` adds or overrides."""
    return {
        "id": alert_id,
        "summary": summary,
        "details": details,
        "reportTime": reported,
        "resolvedOn": None,
        "status": status,
        "alertSource": _SOURCE[source],
        "escalationPolicy": _POLICY_OF_SOURCE[source],
        "priority": priority,
        "alertKey": alert_key,
        "nextEscalation": None,
        "nextEscalationRuleIndex": 0,
        "images": [],
        "links": [],
        "responders": [],
        "severity": 3 if priority == "HIGH" else 5,
        "labels": {},
        "escalationRules": _RULES_OF_POLICY[_POLICY_OF_SOURCE[source]["id"]],
        "nextEscalationUser": None,
        "customDetails": {},
        **more,
    }


# Newest first, as ilert lists them. Open alerts: PENDING (nobody accepted yet) or ACCEPTED.
ALERTS = [
    _alert(
        70014, 4101, "ACCEPTED", "HIGH", "Payments API: p99 latency above 2 s",
        "p99 latency of POST /charges was 2.4 s for 10 minutes (threshold 2 s).",
        "2026-11-30T07:41:09Z", "payments-latency-p99",
        links=[{"text": "Dashboard", "href": "https://grafana.example.com/d/payments"}],
        responders=[
            {
                "user": _person("grace.hopper"),
                "status": "ACCEPTED",
                "acceptedAt": "2026-11-30T07:44:51Z",
            }
        ],
        nextEscalationUser=_person("ada.lovelace"),
        customDetails={"endpoint": "POST /charges", "p99_ms": 2400},
    ),
    _alert(
        70013, 4104, "PENDING", "LOW", "Customer reports failed card payments",
        "Email from support@example.com: several customers cannot pay by card.",
        "2026-11-30T07:35:31Z", "support-7781",
        nextEscalation="2026-11-30T07:45:31Z",
        responders=[{"user": _person("grace.hopper"), "status": "PENDING", "acceptedAt": None}],
    ),
    _alert(
        70012, 4102, "ACCEPTED", "HIGH", "KubePodCrashLooping: checkout-7d9f in prod-eu",
        "Pod checkout-7d9f restarted 6 times in 15 minutes.",
        "2026-11-30T06:02:55Z", "prod-eu/checkout/KubePodCrashLooping",
        responders=[
            {
                "user": _person("ada.lovelace"),
                "status": "ACCEPTED",
                "acceptedAt": "2026-11-30T06:05:12Z",
            }
        ],
        customDetails={"namespace": "checkout", "cluster": "prod-eu"},
        labels={"cluster": "prod-eu", "team": "platform"},
    ),
    _alert(
        70011, 4103, "PENDING", "LOW", "Datadog: disk usage on db-replica-2 above 85 %",
        "/var/lib/postgresql is 87 % full.",
        "2026-11-30T05:17:40Z", "db-replica-2-disk",
        nextEscalation="2026-11-30T05:32:40Z",
        responders=[{"user": _person("grace.hopper"), "status": "PENDING", "acceptedAt": None}],
    ),
    _alert(
        70010, 4103, "PENDING", "HIGH", "Datadog: host prod-eu-7 stopped reporting",
        "The Datadog agent on prod-eu-7 has sent no data for 5 minutes.",
        "2026-11-30T04:48:02Z", "host-prod-eu-7-no-data",
        nextEscalation="2026-11-30T05:03:02Z",
        nextEscalationRuleIndex=1,
        responders=[{"user": _person("ada.lovelace"), "status": "PENDING", "acceptedAt": None}],
        nextEscalationUser=_person("grace.hopper"),
        labels={"cluster": "prod-eu"},
    ),
    _alert(
        70009, 4101, "ACCEPTED", "HIGH", "Payments API: error rate above 5 %",
        "5xx answers were 6.1 % of POST /charges for 5 minutes (threshold 5 %).",
        "2026-11-30T03:12:19Z", "payments-error-rate",
        responders=[
            {
                "user": _person("grace.hopper"),
                "status": "ACCEPTED",
                "acceptedAt": "2026-11-30T03:15:02Z",
            }
        ],
    ),
    _alert(
        70008, 4103, "RESOLVED", "LOW", "Datadog: CPU on worker-3 above 90 %",
        "CPU was above 90 % for 10 minutes.",
        "2026-11-29T22:17:40Z", "worker-3-cpu",
        resolvedOn="2026-11-29T22:41:05Z",
        responders=[
            {
                "user": _person("grace.hopper"),
                "status": "ACCEPTED",
                "acceptedAt": "2026-11-29T22:20:13Z",
            }
        ],
    ),
    _alert(
        70007, 4102, "RESOLVED", "HIGH", "KubePersistentVolumeFillingUp: data-kafka-0",
        "The volume data-kafka-0 will be full within 4 hours.",
        "2026-11-29T19:03:27Z", "prod-eu/kafka/data-kafka-0",
        resolvedOn="2026-11-29T20:10:44Z",
        responders=[
            {
                "user": _person("ada.lovelace"),
                "status": "ACCEPTED",
                "acceptedAt": "2026-11-29T19:09:51Z",
            }
        ],
    ),
    _alert(
        70006, 4101, "RESOLVED", "HIGH", "Payments API: health check failing",
        "GET /health answered 503 three times in a row.",
        "2026-11-29T14:26:08Z", "payments-health",
        resolvedOn="2026-11-29T14:39:30Z",
        responders=[
            {
                "user": _person("grace.hopper"),
                "status": "ACCEPTED",
                "acceptedAt": "2026-11-29T14:28:02Z",
            }
        ],
    ),
    _alert(
        70005, 4104, "RESOLVED", "LOW", "Invoice PDFs missing in customer portal",
        "Email from support@example.com: invoices for November do not open.",
        "2026-11-29T10:55:31Z", "support-7764",
        resolvedOn="2026-11-29T13:02:12Z",
        responders=[
            {
                "user": _person("lena.fischer"),
                "status": "ACCEPTED",
                "acceptedAt": "2026-11-29T11:04:40Z",
            }
        ],
    ),
    _alert(
        70004, 4103, "RESOLVED", "LOW", "Datadog: TLS certificate of api.example.com expires soon",
        "The TLS certificate of api.example.com expires on 2026-12-13.",
        "2026-11-29T08:00:00Z", "cert-api-example-com",
        resolvedOn="2026-11-29T09:15:27Z",
        responders=[
            {
                "user": _person("ada.lovelace"),
                "status": "ACCEPTED",
                "acceptedAt": "2026-11-29T08:30:00Z",
            }
        ],
    ),
    _alert(
        70003, 4102, "RESOLVED", "HIGH", "KubeDeploymentReplicasMismatch: search in prod-eu",
        "Deployment search has 2 of 4 replicas available.",
        "2026-11-28T21:44:16Z", "prod-eu/search/KubeDeploymentReplicasMismatch",
        resolvedOn="2026-11-28T22:01:02Z",
        responders=[
            {
                "user": _person("grace.hopper"),
                "status": "ACCEPTED",
                "acceptedAt": "2026-11-28T21:47:33Z",
            }
        ],
    ),
    _alert(
        70002, 4101, "RESOLVED", "LOW", "Payments API: webhook deliveries delayed",
        "Webhook deliveries to partners are 4 minutes behind.",
        "2026-11-28T16:20:45Z", "payments-webhook-lag",
        resolvedOn="2026-11-28T16:58:19Z",
        responders=[
            {
                "user": _person("grace.hopper"),
                "status": "ACCEPTED",
                "acceptedAt": "2026-11-28T16:31:10Z",
            }
        ],
    ),
    _alert(
        70001, 4103, "RESOLVED", "LOW", "Datadog: backup job on db-primary took 3 h",
        "The nightly backup of db-primary ran 3 h 12 min (usually 40 min).",
        "2026-11-28T04:12:00Z", "db-primary-backup-duration",
        resolvedOn="2026-11-28T08:02:41Z",
        responders=[
            {
                "user": _person("ada.lovelace"),
                "status": "ACCEPTED",
                "acceptedAt": "2026-11-28T07:58:03Z",
            }
        ],
    ),
]  # fmt: skip


def _service(service_id, name, alias, status, description, teams, **more):
    return {
        "id": service_id,
        "name": name,
        "alias": alias,
        "status": status,
        "description": description,
        "oneOpenIncidentOnly": True,
        "showUptimeHistory": True,
        "teams": teams,
        "subscribed": False,
        "incidents": [],
        "uptime": {
            "rangeStart": "2026-09-01T00:00:00Z",
            "rangeEnd": "2026-11-30T00:00:00Z",
            "outages": [],
            "uptimePercentage": {"p90": 100.0, "p60": 100.0, "p30": 100.0},
        },
        **more,
    }


SERVICES = [
    _service(801, "Checkout", "checkout", "DEGRADED", "The web shop's cart and checkout pages.",
             [_PLATFORM]),
    _service(802, "Card payments", "card-payments", "PARTIAL_OUTAGE",
             "Card payments through the Payments API.", [_PAYMENTS]),
    _service(803, "Public website", "www", "OPERATIONAL", "www.example.com", [_PLATFORM],
             oneOpenIncidentOnly=False),
    _service(804, "Reporting", "reporting", "UNDER_MAINTENANCE", "Monthly reports and exports.",
             [_SUCCESS], oneOpenIncidentOnly=False, showUptimeHistory=False),
    _service(805, "Search", "search", "OPERATIONAL", "Product search and suggestions.",
             [_PLATFORM]),
    _service(806, "Customer accounts", "accounts", "OPERATIONAL",
             "Sign-up, sign-in and account settings.", [_PLATFORM]),
    _service(807, "Invoices", "invoices", "OPERATIONAL", "Invoice PDFs in the customer portal.",
             [_PAYMENTS]),
    _service(808, "Payouts", "payouts", "OPERATIONAL", "Daily payouts to merchants.",
             [_PAYMENTS]),
    _service(809, "Mobile API", "mobile-api", "OPERATIONAL", "The API behind the shop's apps.",
             [_PLATFORM]),
    _service(810, "Email notifications", "email", "OPERATIONAL",
             "Order confirmations and shipping updates.", [_SUCCESS]),
    _service(811, "Partner webhooks", "webhooks", "OPERATIONAL",
             "Order and payment events sent to partners.", [_PAYMENTS]),
    _service(812, "Help center", "help", "OPERATIONAL", "help.example.com", [_SUCCESS],
             oneOpenIncidentOnly=False),
]  # fmt: skip
_SERVICE = {s["id"]: {key: s[key] for key in ("id", "name", "alias", "status")} for s in SERVICES}


def _incident(incident_id, summary, status, message, created, updated, affected, teams, **more):
    """An incident on the services in `affected` ({service id: impact})."""
    return {
        "id": incident_id,
        "summary": summary,
        "status": status,
        "message": message,
        "sendNotification": True,
        "createdAt": created,
        "updatedAt": updated,
        "affectedServices": [
            {"impact": impact, "service": _SERVICE[service]} for service, impact in affected.items()
        ],
        "resolvedOn": updated if status == "RESOLVED" else None,
        "subscribed": False,
        "affectedTeams": teams,
        "history": [],
        **more,
    }  # fmt: skip


# Newest first, as ilert lists them.
INCIDENTS = [
    _incident(9013, "Card payments fail for some customers", "IDENTIFIED",
              "A certificate at our card processor expired; a new one is being rolled out.",
              "2026-11-30T08:01:00Z", "2026-11-30T08:20:00Z",
              {802: "PARTIAL_OUTAGE", 801: "DEGRADED"}, [_PAYMENTS]),
    _incident(9012, "Slow checkout pages in the EU", "MONITORING",
              "A fix is deployed; we are watching response times.",
              "2026-11-30T06:10:00Z", "2026-11-30T07:30:00Z", {801: "DEGRADED"}, [_PLATFORM],
              sendNotification=False),
    _incident(9011, "Reporting maintenance", "INVESTIGATING",
              "Reports and exports are paused while we move their database.",
              "2026-11-29T20:00:00Z", "2026-11-29T20:00:00Z", {804: "UNDER_MAINTENANCE"},
              [_SUCCESS]),
    _incident(9010, "Invoice PDFs did not open", "RESOLVED",
              "Invoices open again; a storage permission was restored.",
              "2026-11-29T11:05:00Z", "2026-11-29T13:05:00Z", {807: "PARTIAL_OUTAGE"},
              [_PAYMENTS]),
    _incident(9009, "Search returned no results", "RESOLVED",
              "Search works again after two replicas were restarted.",
              "2026-11-28T21:50:00Z", "2026-11-28T22:05:00Z", {805: "MAJOR_OUTAGE"},
              [_PLATFORM]),
    _incident(9008, "Delayed partner webhooks", "RESOLVED",
              "Webhooks caught up; no event was lost.",
              "2026-11-28T16:25:00Z", "2026-11-28T17:00:00Z", {811: "DEGRADED"}, [_PAYMENTS]),
    _incident(9007, "Sign-in errors in the mobile apps", "RESOLVED",
              "A faulty release of the mobile API was rolled back.",
              "2026-11-25T09:40:00Z", "2026-11-25T10:15:00Z",
              {809: "PARTIAL_OUTAGE", 806: "DEGRADED"}, [_PLATFORM]),
    _incident(9006, "Order confirmation emails delayed", "RESOLVED",
              "Our email provider cleared its queue; all emails were sent.",
              "2026-11-21T18:00:00Z", "2026-11-21T19:30:00Z", {810: "DEGRADED"}, [_SUCCESS]),
    _incident(9005, "Payouts a day late", "RESOLVED",
              "Yesterday's payouts were sent this morning.",
              "2026-11-18T07:00:00Z", "2026-11-18T09:45:00Z", {808: "DEGRADED"}, [_PAYMENTS]),
    _incident(9004, "Website unreachable from some networks", "RESOLVED",
              "A DNS change was reverted.",
              "2026-11-12T13:20:00Z", "2026-11-12T13:50:00Z", {803: "PARTIAL_OUTAGE"},
              [_PLATFORM]),
    _incident(9003, "Help center search down", "RESOLVED",
              "The help center's search index was rebuilt.",
              "2026-11-07T10:00:00Z", "2026-11-07T11:10:00Z", {812: "DEGRADED"}, [_SUCCESS],
              sendNotification=False),
    _incident(9002, "Card payments declined for one card network", "RESOLVED",
              "The card network fixed a routing fault on its side.",
              "2026-10-30T15:45:00Z", "2026-10-30T16:40:00Z", {802: "PARTIAL_OUTAGE"},
              [_PAYMENTS]),
    _incident(9001, "Checkout unavailable during a database failover", "RESOLVED",
              "The failover finished; checkout works again.",
              "2026-10-21T03:10:00Z", "2026-10-21T03:25:00Z", {801: "MAJOR_OUTAGE"},
              [_PLATFORM]),
]  # fmt: skip


def _status_page(page_id, name, subdomain, visibility, status, services, teams, **more):
    """A status page in the single GET's shape; lists leave out what only it has."""
    return {
        "id": page_id,
        "name": name,
        "domain": "",
        "subdomain": subdomain,
        "timezone": "Europe/Berlin",
        "faviconUrl": "",
        "logoUrl": "",
        "visibility": visibility,
        "hiddenFromSearch": visibility == "PRIVATE",
        "showSubscribeAction": True,
        "showIncidentHistoryOption": True,
        "pageTitle": name,
        "pageDescription": "",
        "pageLayout": "RESPONSIVE",
        "logoRedirectUrl": "",
        "activated": True,
        "status": status,
        "teams": teams,
        "services": [_SERVICE[service] for service in services],
        "metrics": [],
        "ipWhitelist": [],
        "structure": {
            "elements": [{"id": service, "type": "SERVICE", "options": []} for service in services]
        },
        "appearance": "LIGHT",
        "subscribed": False,
        "uptime": {
            "rangeStart": "2026-09-01T00:00:00Z",
            "rangeEnd": "2026-11-30T00:00:00Z",
            "outages": [],
            "uptimePercentage": {"p90": 99.98, "p60": 99.97, "p30": 99.95},
        },
        "groups": [],
        "announcement": "",
        "announcementOnPage": False,
        "announcementInWidget": False,
        "audienceSpecific": False,
        **more,
    }


STATUS_PAGES = [
    _status_page(1201, "Example status", "example", "PUBLIC", "PARTIAL_OUTAGE",
                 [801, 802, 803, 805, 806], [_PLATFORM], domain="status.example.com",
                 pageDescription="Live status of the Example web shop.",
                 logoRedirectUrl="https://www.example.com", timezone="Europe/London",
                 announcement="Card payments fail for some customers; we are on it.",
                 announcementOnPage=True),
    _status_page(1202, "Internal tools", "example-internal", "PRIVATE", "UNDER_MAINTENANCE",
                 [804, 810], [_SUCCESS], pageDescription="For staff: reporting and exports.",
                 pageLayout="SINGLE_COLUMN", appearance="DARK", ipWhitelist=["203.0.113.0/24"]),
    _status_page(1203, "Payments partners", "example-payments", "PUBLIC", "PARTIAL_OUTAGE",
                 [802, 807, 808, 811], [_PAYMENTS],
                 pageDescription="Card payments and payouts, for our partners.",
                 showIncidentHistoryOption=False, activated=False, audienceSpecific=True),
]  # fmt: skip

# Fields the spec has that the rows above leave to its defaults (spec escalation-policies
# post: repeating false, frequency 1, delayMin 0; teams post: createdAt, updatedAt).
for _policy in ESCALATION_POLICIES:
    _policy.setdefault("repeating", False)
    _policy.setdefault("frequency", 1)
    _policy.setdefault("delayMin", 0)
    _policy.setdefault("teams", [])
    _policy.setdefault("routingKey", "")
for _team in TEAMS:
    _team.setdefault("createdAt", "2024-03-04T10:00:00Z")
    _team.setdefault("updatedAt", "2026-06-01T12:00:00Z")

# Every resource's rows, by the name its list has in the API table.
ROWS = {
    "users": USERS,
    "teams": TEAMS,
    "schedules": SCHEDULES,
    "escalation_policies": ESCALATION_POLICIES,
    "alert_sources": ALERT_SOURCES,
    "alerts": ALERTS,
    "services": SERVICES,
    "incidents": INCIDENTS,
    "status_pages": STATUS_PAGES,
}
