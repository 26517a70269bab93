"""ilert's REST API as the sandbox serves it: one row per resource, each fact with its source.

Sources, cited below by these short names:

- `spec`: ilert's OpenAPI spec v2.2026.5-r.3 (api.ilert.com/api-docs/openapi.json), read in the
  client generated from it, lassoColombo/nu-http-client-collection `clients/incident/ilert.nu`
  (e.g. "spec alerts list" is its command `alerts list`, GET /alerts).
- `ilert-go`: iLert/ilert-go at 549c4adb (file named).
- `terraform`: iLert/terraform-provider-ilert (file named).
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


@dataclass(frozen=True)
class Resource:
    """One ilert resource: its list, its single GET, and how ilert pages and narrows it.

    `name` is the list's key in the API table and in /_sandbox/stats, `item` the single
    GET's. `include` names the fields sent only when `include=` asks for them (ilert: "this
    field is an ?include, it will not appear in lists"); `list_include` those of them a list
    may ask for too.
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
    list_omits: tuple[str, ...] = field(default=())  # fields only the single GET has


# spec alerts list / alerts get; ilert-go alert.go (AlertStatuses NEW PENDING ACCEPTED RESOLVED)
ALERT_STATES = ("NEW", "PENDING", "ACCEPTED", "RESOLVED")

RESOURCES = (
    Resource(
        # spec users list: --start-index, --max-results (default 50)
        "users", "user", "/api/users", "user", 50, 100,
    ),
    Resource(
        # spec alerts list: default 50; ilert-go alert.go GetAlertsInput: "Maximum: 100";
        # filters states, sources, policies, responders, from, until ("based on reportTime")
        "alerts", "alert", "/api/alerts", "alert", 50, 100,
        filters=(
            Filter("states", ("status",), values=ALERT_STATES),
            Filter("sources", ("alertSource", "id"), kind=int),
            Filter("policies", ("escalationPolicy", "id"), kind=int),
            Filter("responders", ("responders", "user", "id"), kind=int),
            Filter("from", ("reportTime",), compare="from"),
            Filter("until", ("reportTime",), compare="until"),
        ),
        # spec alerts get --include: escalationRules, nextEscalationUser, customDetails;
        # spec alerts list --include: nextEscalationUser
        include=("escalationRules", "nextEscalationUser", "customDetails"),
        list_include=("nextEscalationUser",),
    ),
    Resource(
        # spec alert-sources list: default 50 (and at most 50); no filter but paging
        "alert_sources", "alert_source", "/api/alert-sources", "source", 50, 50,
        # spec alert-sources get --include (detailsTemplate, summaryTemplate, ...)
        include=(
            "summaryTemplate", "detailsTemplate", "routingTemplate", "linkTemplates",
            "priorityTemplate", "severityTemplate", "eventFilter", "alertKeyTemplate",
            "servicesTemplate", "eventTypeFilterCreate", "eventTypeFilterAccept",
            "eventTypeFilterResolve",
        ),
    ),
    Resource("incidents", "incident", "/api/incidents", "incident", 10, 100),
    Resource("services", "service", "/api/services", "service", 10, 100),
    Resource("schedules", "schedule", "/api/schedules", "schedule", 20, 20),
    Resource(
        # spec escalation-policies list: default 50
        "escalation_policies", "escalation_policy", "/api/escalation-policies", "policy",
        50, 50,
    ),
    Resource(
        # spec teams list: default 50; --members: "filter teams for specific members
        # (currently only a single occurrence of this param is allowed)"
        "teams", "team", "/api/teams", "team", 50, 100,
        filters=(Filter("members", ("members", "user", "id"), kind=int),),
    ),
    Resource("status_pages", "status_page", "/api/status-pages", "status_page", 25, 100),
)  # fmt: skip

BY_NAME = {resource.name: resource for resource in RESOURCES}


def parse_time(text: str) -> datetime | None:
    """An ISO-8601 date-time such as 2021-05-25T21:24:56.771Z, or None."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
