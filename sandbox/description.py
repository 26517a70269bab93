"""ilert's REST API as the sandbox serves it: one row per resource, each fact with its source.

Sources, cited below by these short names:

- `spec`: ilert's OpenAPI spec v2.2026.5-r.3 (api.ilert.com/api-docs/openapi.json), read in the
  client generated from it, lassoColombo/nu-http-client-collection `clients/incident/ilert.nu`
  (e.g. "spec alerts list" is its command `alerts list`, GET /alerts).
- `ilert-go`: iLert/ilert-go at 549c4adb (file named).
- `terraform`: iLert/terraform-provider-ilert at d8da1ef (file named).
- `docs`: iLert/docs at 185bdf91 (file named under developer-docs/rest-api/).

The sandbox's API table (`sandbox.server.API`) and the contract tests
(`tests/test_sandbox_contract.py`) are made from these rows: serving another ilert resource
starts with a row here.
"""

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Filter:
    """A query parameter that narrows a list.

    `param` may repeat (`states=PENDING&states=ACCEPTED`) and an entry matches if the value
    at `path` in it is one of the given ones; `compare` "from" or "until" makes it a time
    bound instead (an ISO-8601 date-time, inclusive from, exclusive until).
    """

    param: str
    path: tuple[str, ...]
    kind: type = str  # the parameter's type: str (checked against `values` if any) or int
    values: tuple[str, ...] = ()
    compare: str = "in"
    single: bool = False  # whether the parameter may be given once only


@dataclass(frozen=True)
class Resource:
    """One ilert resource: its list, its single GET, and how ilert pages and narrows it.

    `name` is the list's key in the API table and in /_sandbox/stats, `item` the single
    GET's. `include` names what `include=` may ask for on the single GET: fields sent only
    when asked for (ilert: "this field is an ?include, it will not appear in lists"), and
    options that are no field (`past`); `list_include` those a list may ask for. A list
    leaves out the other include-only fields and `list_omits` (fields only the single GET
    has). `max_page_with_include` is the lower maximum of `max-results` with `include=`.
    """

    name: str
    item: str
    path: str
    scope: str
    default_page: int
    max_page: int
    filters: tuple[Filter, ...] = ()
    include: tuple[str, ...] = ()
    list_include: tuple[str, ...] = ()
    list_omits: tuple[str, ...] = ()
    max_page_with_include: int | None = None
    options: tuple[str, ...] = field(default=())  # include values that name no field
    etag: bool = False  # whether the single GET sends an ETag for If-Match on updates


# spec alerts list / alerts get; ilert-go alert.go (AlertStatuses NEW PENDING ACCEPTED RESOLVED)
ALERT_STATES = ("NEW", "PENDING", "ACCEPTED", "RESOLVED")
# spec incidents list (status-completer: IDENTIFIED INVESTIGATING MONITORING RESOLVED)
INCIDENT_STATES = ("INVESTIGATING", "IDENTIFIED", "MONITORING", "RESOLVED")
# Maxima of `max-results`: ilert-go alert.go GetAlertsInput says "Maximum: 100"; the spec's
# other maxima are not carried into the generated client, so the sandbox takes 100 where
# ilert publishes none, and keeps the lower ones the spec has (schedules 20, alert sources
# and escalation policies 50: a larger `max-results` is a 400 there as at ilert).
MAX = 100

RESOURCES = (
    Resource(
        # spec users list: default 50
        "users", "user", "/api/users", "user", 50, MAX,
    ),
    Resource(
        # spec alerts list: default 50; filters states, sources, policies, responders, from,
        # until ("based on reportTime"); include nextEscalationUser. spec alerts get
        # --include: escalationRules, nextEscalationUser, customDetails
        "alerts", "alert", "/api/alerts", "alert", 50, MAX,
        filters=(
            Filter("states", ("status",), values=ALERT_STATES),
            Filter("sources", ("alertSource", "id"), kind=int),
            Filter("policies", ("escalationPolicy", "id"), kind=int),
            Filter("responders", ("responders", "user", "id"), kind=int),
            Filter("from", ("reportTime",), compare="from"),
            Filter("until", ("reportTime",), compare="until"),
        ),
        include=("escalationRules", "nextEscalationUser", "customDetails"),
        list_include=("nextEscalationUser",),
    ),
    Resource(
        # spec alert-sources list: default 50, paging only; spec alert-sources get --include
        # (each "is an ?include, it will not appear in lists")
        "alert_sources", "alert_source", "/api/alert-sources", "source", 50, 50,
        include=(
            "summaryTemplate", "detailsTemplate", "routingTemplate", "linkTemplates",
            "priorityTemplate", "severityTemplate", "eventFilter", "alertKeyTemplate",
            "servicesTemplate", "eventTypeFilterCreate", "eventTypeFilterAccept",
            "eventTypeFilterResolve",
        ),
    ),
    Resource(
        # spec incidents list: default 10 ("when using ?include maximum is reduced to 25"),
        # include subscribed, filters states, services, from, until; spec incidents get
        # --include: subscribed, affectedTeams, history
        "incidents", "incident", "/api/incidents", "incident", 10, MAX,
        filters=(
            Filter("states", ("status",), values=INCIDENT_STATES),
            Filter("services", ("affectedServices", "service", "id"), kind=int),
            Filter("from", ("createdAt",), compare="from"),
            Filter("until", ("createdAt",), compare="until"),
        ),
        include=("subscribed", "affectedTeams", "history"),
        list_include=("subscribed",),
        max_page_with_include=25,
        # spec incidents put --If-Match: "Should be the ETag response header retrieved from
        # GET /incidents/{id} ... Will return 412 status code in case of conflict."
        etag=True,
    ),
    Resource(
        # spec services list: default 10 (25 at most with include), include subscribed,
        # uptime, incidents (list and get)
        "services", "service", "/api/services", "service", 10, MAX,
        include=("subscribed", "uptime", "incidents"),
        list_include=("subscribed", "uptime", "incidents"),
        max_page_with_include=25,
    ),
    Resource(
        # spec schedules list: default 20; include (list and get) currentShift, nextShift,
        # scheduleLayers [RECURRING], shifts [STATIC], past [shifts in the past]
        "schedules", "schedule", "/api/schedules", "schedule", 20, 20,
        include=("currentShift", "nextShift", "scheduleLayers", "shifts", "past"),
        list_include=("currentShift", "nextShift", "scheduleLayers", "shifts", "past"),
        options=("past",),
    ),
    Resource(
        # spec escalation-policies list: default 50
        "escalation_policies", "escalation_policy", "/api/escalation-policies", "policy",
        50, 50,
    ),
    Resource(
        # spec teams list: default 50; --members: "filter teams for specific members
        # (currently only a single occurrence of this param is allowed)"
        "teams", "team", "/api/teams", "team", 50, MAX,
        filters=(Filter("members", ("members", "user", "id"), kind=int, single=True),),
    ),
    Resource(
        # spec status-pages list: default 25, include subscribed; spec status-pages get:
        # include subscribed, uptime, groups, structure ("structure is always included by
        # default"); pageLayout, structure ("not available in the list resource") and
        # appearance only in the single GET
        "status_pages", "status_page", "/api/status-pages", "status_page", 25, MAX,
        include=("subscribed", "uptime", "groups"),
        list_include=("subscribed",),
        list_omits=("pageLayout", "structure", "appearance"),
        options=("structure",),
    ),
)  # fmt: skip

BY_NAME = {resource.name: resource for resource in RESOURCES}


def parse_time(text: str) -> datetime | None:
    """An ISO-8601 date-time such as 2021-05-25T21:24:56.771Z, or None."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
