"""ilert's OAuth2 scopes: what they are called, what they allow, which API paths they guard,
and in plain words. Facts about ilert (iLert/docs, developer-docs/rest-api/
developing-ilert-apps/token-lifetimes-error-codes-app-verification-etc..md, "ilert OAuth2
scopes"), used by the app's token info and missing-scope pages and by the sandbox's consent
page and API.

`profile`, `offline_access`, and resource scopes with `:r` (read, the default), `:w`
(write, which includes read) or `:d` (delete, which includes write).
"""

import re

RESOURCES = {
    "policy": "escalation policies",
    "schedule": "on-call schedules",
    "source": "alert sources",
    "monitor": "monitors",
    "action": "alert actions",
    "connector": "connectors",
    "maintenance": "maintenance windows",
    "report": "reports",
    "template": "templates",
    "service": "services",
    "status_page": "status pages",
    "team": "teams",
    "user": "users",
    "alert": "alerts",
    "incident": "incidents",
    "metric": "metrics",
    "metric_source": "metric data sources",
}
# Which scope guards which API path (ilert docs, "Token lifetimes, error codes, app
# verification"); a path below one of these (/api/incidents/42) needs the same scope.
PATH_SCOPES = {
    "/api/users/current": "profile",
    "/api/users": "user",
    "/api/alert-sources": "source",
    "/api/alerts": "alert",
    "/api/alert-actions": "action",
    "/api/incidents": "incident",
    "/api/services": "service",
    "/api/schedules": "schedule",
    "/api/escalation-policies": "policy",
    "/api/teams": "team",
    "/api/status-pages": "status_page",
    "/api/connectors": "connector",
    "/api/maintenance-windows": "maintenance",
    "/api/uptime-monitors": "monitor",
    "/api/reports": "report",
    "/api/incident-templates": "template",
    "/api/metrics": "metric",
    "/api/metric-data-sources": "metric_source",
}
_ACCESS = {"r": "See your {}", "w": "See and change your {}", "d": "See, change and delete your {}"}
_SCOPE = re.compile(rf"profile|offline_access|(?:{'|'.join(RESOURCES)})(?::[rwd])?")
_LEVELS = {"": 0, "r": 0, "w": 1, "d": 2}  # each access includes the ones below it
_METHOD_ACCESS = {"GET": "r", "HEAD": "r", "POST": "w", "PUT": "w", "PATCH": "w", "DELETE": "d"}


def is_scope(scope):
    """Whether `scope` is one ilert knows."""
    return _SCOPE.fullmatch(scope) is not None


def describe_scope(scope):
    """What a scope lets the app do, in the words of a consent page."""
    if not is_scope(scope):
        return "A scope this app does not know"
    if scope == "profile":
        return "See your name, email address, role and other profile details"
    if scope == "offline_access":
        return "Keep access while you are away (the app may refresh its tokens)"
    resource, _, access = scope.partition(":")
    return _ACCESS[access or "r"].format(RESOURCES[resource])


def required_scope(scope: str, method: str) -> str:
    """The least scope that lets a `method` call through to an endpoint guarded by `scope`
    (a resource such as `source`, or `profile`): `source` and GET give `source:r`."""
    if scope not in RESOURCES:
        return scope
    return f"{scope}:{_METHOD_ACCESS[method]}"


def grants(granted: str, scope: str, method: str) -> bool:
    """Whether the space-separated scopes `granted` let a `method` call through to an
    endpoint guarded by `scope`, as ilert rules: `x` is `x:r` and reads, `x:w` also writes
    (POST, PUT), `x:d` also deletes."""
    needed = required_scope(scope, method)
    if scope not in RESOURCES:
        return needed in granted.split(" ")
    level = _LEVELS[needed[-1]]
    return any(
        resource == scope and _LEVELS.get(access, -1) >= level
        for resource, _, access in (item.partition(":") for item in granted.split(" "))
    )


def includes(granted: str, scope: str) -> bool:
    """Whether the space-separated scopes `granted` include `scope` (`alert:w` includes
    `alert:r`, and `alert` is `alert:r`)."""
    resource, _, access = scope.partition(":")
    return grants(granted, resource, {"r": "GET", "w": "POST", "d": "DELETE"}[access or "r"])


def widest(scopes: list[str]) -> str:
    """The one of `scopes` (all of one resource) that includes the others."""
    return max(scopes, key=lambda scope: _LEVELS[scope.partition(":")[2]])


def adding(granted: str, scope: str) -> str:
    """The scopes to ask for to have `granted` and `scope`: `scope` in place of any lesser
    scope of its resource (`profile alert:r` adding `alert:w` is `profile alert:w`)."""
    resource = scope.partition(":")[0]
    kept = [item for item in granted.split() if item.partition(":")[0] != resource]
    same = [item for item in granted.split() if item.partition(":")[0] == resource]
    return " ".join([*kept, widest([*same, scope])])


def scope_for(path: str, method: str = "GET") -> str | None:
    """The least scope that lets `method` through to `path` (`source:r` for GET
    /api/alert-sources), or None for a path this table does not know."""
    for prefix, scope in sorted(PATH_SCOPES.items(), key=lambda item: -len(item[0])):
        if path == prefix or path.startswith(prefix + "/"):
            return required_scope(scope, method)
    return None


def missing_scope_hint(needed: str | None, granted: str, configured: str) -> str:
    """What to do about a 403 for a call that needs `needed`, given the scopes this sign-in
    was `granted` and the ones the app asks for (`configured`, ILERT_SCOPES)."""
    if needed is None:
        return "Your ilert role, or the scopes this app was granted, may not allow this."
    resource, _, access = needed.partition(":")
    method = {"r": "GET", "w": "POST", "d": "DELETE"}.get(access, "GET")
    if grants(granted, resource, method):
        return (
            f"This sign-in already has {needed} (granted: {granted}), so ilert refused for "
            "another reason: your ilert role may not allow it. Ask an ilert admin."
        )
    if grants(configured, resource, method):
        return (
            f"ILERT_SCOPES already asks for it, but this sign-in was granted only "
            f"{granted or 'no scopes'}: sign in again and allow {needed}."
        )
    return (
        f"This sign-in was granted: {granted or 'no scopes'}. Add {needed} to ILERT_SCOPES "
        f"in .env (ILERT_SCOPES={configured} {needed}), restart the app, then sign in again "
        "and allow the new scope."
    )
