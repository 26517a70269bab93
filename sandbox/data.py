"""The made-up ilert account behind the sandbox: its people, its alert sources, and
ilert's scopes in plain words."""

import re

# Keyed by username, in the order the consent page offers them (the first is preselected).
PEOPLE = {
    "ada.lovelace": {
        "id": 1001,
        "username": "ada.lovelace",
        "firstName": "Ada",
        "lastName": "Lovelace",
        "email": "ada.lovelace@example.com",
        "timezone": "Europe/London",
        "language": "en",
        "role": "ADMIN",
        "position": "Head of Platform Engineering",
        "department": "Platform",
        "region": "EU",
        "avatarUrl": "",
        "mobile": {"regionCode": "GB", "number": "+447700900123"},
        "landline": {"regionCode": "GB", "number": "+442079460123"},
    },
    "grace.hopper": {
        "id": 1002,
        "username": "grace.hopper",
        "firstName": "Grace",
        "lastName": "Hopper",
        "email": "grace.hopper@example.com",
        "timezone": "America/New_York",
        "language": "en",
        "role": "USER",
        "position": "Site Reliability Engineer",
        "department": "Operations",
        "region": "US",
        "avatarUrl": "",
        "mobile": {"regionCode": "US", "number": "+12025550143"},
        "landline": None,
    },
    "kenji.tanaka": {
        "id": 1003,
        "username": "kenji.tanaka",
        "firstName": "Kenji",
        "lastName": "Tanaka",
        "email": "kenji.tanaka@example.com",
        "timezone": "Asia/Tokyo",
        "language": "ja",
        "role": "STAKEHOLDER",
        "position": "Customer Success Manager",
        "department": "Customer Success",
        "region": "APAC",
        "avatarUrl": "",
        "mobile": None,
        "landline": None,
    },
}

ALERT_SOURCES = [
    {
        "id": 4101,
        "name": "Payments API",
        "integrationType": "API",
        "status": "ALL_ACCEPTED",
        "alertPriorityRule": "HIGH",
    },
    {
        "id": 4102,
        "name": "Kubernetes prod-eu (Prometheus)",
        "integrationType": "PROMETHEUS",
        "status": "ALL_ACCEPTED",
        "alertPriorityRule": "HIGH",
    },
    {
        "id": 4103,
        "name": "Datadog monitors",
        "integrationType": "DATADOG",
        "status": "PENDING",
        "alertPriorityRule": "LOW",
    },
    {
        "id": 4104,
        "name": "Support inbox",
        "integrationType": "EMAIL",
        "status": "DISABLED",
        "alertPriorityRule": "LOW",
    },
]

# ilert's resource scopes and what each one covers.
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
    """Whether `scope` is one ilert knows: `profile`, `offline_access` or a resource
    with an optional `:r`, `:w` or `:d`."""
    return _SCOPE.fullmatch(scope) is not None


def describe_scope(scope):
    """The consent page's words for a valid scope (a bare resource means read)."""
    if scope == "profile":
        return "See your name, email address, role and other profile details"
    if scope == "offline_access":
        return "Keep access while you are away (the app may refresh its tokens)"
    resource, _, access = scope.partition(":")
    return _ACCESS[access or "r"].format(RESOURCES[resource])
