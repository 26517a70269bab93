"""ilert's OAuth2 scopes in plain words: a fact about ilert, used by the app's token info
page and by the sandbox's consent page.

`profile`, `offline_access`, and resource scopes with `:r` (read, the default), `:w`
(write) or `:d` (delete).
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
}
_ACCESS = {"r": "See your {}", "w": "See and change your {}", "d": "See, change and delete your {}"}
_SCOPE = re.compile(rf"profile|offline_access|(?:{'|'.join(RESOURCES)})(?::[rwd])?")


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
