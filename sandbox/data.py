"""The made-up ilert account behind the sandbox: its people, and what each API row serves.

Field names and enum values are those of ilert's Go client (iLert/ilert-go: user.go,
alert.go, incident.go, ...), so what a page reads here it reads from ilert. A user has no
`mobile` or `landline` (ilert moved them to /api/users/{id}/contacts in 2023), and its
`language` is `en` or `de`.
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
    },
}

USERS = list(PEOPLE.values())

TEAMS = [
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

SCHEDULES = [
    {
        "id": 501,
        "name": "Platform on-call",
        "timezone": "Europe/London",
        "type": "RECURRING",
        "scheduleLayers": [
            {
                "name": "Weekly rotation",
                "startsOn": "2025-01-06T09:00:00Z",
                "users": [PEOPLE["ada.lovelace"], PEOPLE["grace.hopper"]],
                "rotation": "P7D",
            }
        ],
        "showGaps": True,
        "defaultShiftDuration": "P7D",
        "teams": [_PLATFORM],
    },
    {
        "id": 502,
        "name": "Payments business hours",
        "timezone": "America/New_York",
        "type": "RECURRING",
        "scheduleLayers": [
            {
                "name": "Weekdays",
                "startsOn": "2025-01-06T14:00:00Z",
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
    },
    {
        "id": 503,
        "name": "Release weekend cover",
        "timezone": "Europe/Berlin",
        "type": "STATIC",
        "shifts": [
            {
                "user": PEOPLE["ada.lovelace"],
                "start": "2025-06-14T08:00:00Z",
                "end": "2025-06-15T08:00:00Z",
            },
            {
                "user": PEOPLE["grace.hopper"],
                "start": "2025-06-15T08:00:00Z",
                "end": "2025-06-16T08:00:00Z",
            },
        ],
        "teams": [_PLATFORM],
    },
]

ESCALATION_POLICIES = [
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

ALERT_SOURCES = [
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
_SOURCE = {s["id"]: {k: s[k] for k in ("id", "name", "integrationType")} for s in ALERT_SOURCES}
_POLICY_OF_SOURCE = {s["id"]: s["escalationPolicy"] for s in ALERT_SOURCES}


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

SERVICES = [
    {
        "id": 801,
        "name": "Checkout",
        "status": "DEGRADED",
        "description": "The web shop's cart and checkout pages.",
        "oneOpenIncidentOnly": True,
        "showUptimeHistory": True,
        "teams": [_PLATFORM],
    },
    {
        "id": 802,
        "name": "Card payments",
        "status": "PARTIAL_OUTAGE",
        "description": "Card payments through the Payments API.",
        "oneOpenIncidentOnly": True,
        "showUptimeHistory": True,
        "teams": [_PAYMENTS],
    },
    {
        "id": 803,
        "name": "Public website",
        "status": "OPERATIONAL",
        "description": "www.example.com",
        "oneOpenIncidentOnly": False,
        "showUptimeHistory": True,
        "teams": [_PLATFORM],
    },
    {
        "id": 804,
        "name": "Reporting",
        "status": "UNDER_MAINTENANCE",
        "description": "Monthly reports and exports.",
        "oneOpenIncidentOnly": False,
        "showUptimeHistory": False,
        "teams": [_SUCCESS],
    },
]
_SERVICE = {s["id"]: s for s in SERVICES}

INCIDENTS = [
    {
        "id": 9001,
        "summary": "Card payments fail for some customers",
        "status": "IDENTIFIED",
        "message": "A certificate at our card processor expired; a new one is being rolled out.",
        "sendNotification": True,
        "createdAt": "2025-06-12T08:01:00Z",
        "updatedAt": "2025-06-12T08:20:00Z",
        "affectedServices": [
            {"impact": "PARTIAL_OUTAGE", "service": _SERVICE[802]},
            {"impact": "DEGRADED", "service": _SERVICE[801]},
        ],
        "affectedTeams": [_PAYMENTS],
    },
    {
        "id": 9002,
        "summary": "Slow checkout pages in the EU",
        "status": "MONITORING",
        "message": "A fix is deployed; we are watching response times.",
        "sendNotification": False,
        "createdAt": "2025-06-12T06:10:00Z",
        "updatedAt": "2025-06-12T07:30:00Z",
        "affectedServices": [{"impact": "DEGRADED", "service": _SERVICE[801]}],
        "affectedTeams": [_PLATFORM],
    },
    {
        "id": 9003,
        "summary": "Reporting maintenance",
        "status": "RESOLVED",
        "message": "Maintenance is over; reports are available again.",
        "sendNotification": True,
        "createdAt": "2025-06-10T20:00:00Z",
        "updatedAt": "2025-06-10T22:00:00Z",
        "resolvedOn": "2025-06-10T22:00:00Z",
        "affectedServices": [{"impact": "UNDER_MAINTENANCE", "service": _SERVICE[804]}],
        "affectedTeams": [_SUCCESS],
    },
]

STATUS_PAGES = [
    {
        "id": 1201,
        "name": "Example status",
        "domain": "status.example.com",
        "subdomain": "example",
        "customCss": "",
        "faviconUrl": "",
        "logoUrl": "",
        "visibility": "PUBLIC",
        "hiddenFromSearch": False,
        "showSubscribeAction": True,
        "showIncidentHistoryOption": True,
        "pageTitle": "Example status",
        "pageDescription": "Live status of the Example web shop.",
        "pageLayout": "RESPONSIVE",
        "logoRedirectUrl": "https://www.example.com",
        "activated": True,
        "status": "PARTIAL_OUTAGE",
        "teams": [_PLATFORM],
        "timezone": "Europe/London",
        "services": [_SERVICE[801], _SERVICE[802], _SERVICE[803]],
        "appearance": "LIGHT",
    },
    {
        "id": 1202,
        "name": "Internal tools",
        "domain": "",
        "subdomain": "example-internal",
        "customCss": "",
        "faviconUrl": "",
        "logoUrl": "",
        "visibility": "PRIVATE",
        "hiddenFromSearch": True,
        "showSubscribeAction": False,
        "showIncidentHistoryOption": True,
        "pageTitle": "Internal tools status",
        "pageDescription": "For staff: reporting and exports.",
        "pageLayout": "SINGLE_COLUMN",
        "logoRedirectUrl": "",
        "activated": True,
        "status": "UNDER_MAINTENANCE",
        "teams": [_SUCCESS],
        "timezone": "Europe/Berlin",
        "services": [_SERVICE[804]],
        "appearance": "DARK",
        "emailWhitelist": ["example.com"],
    },
    {
        "id": 1203,
        "name": "Payments partners",
        "domain": "",
        "subdomain": "example-payments",
        "customCss": "",
        "faviconUrl": "",
        "logoUrl": "",
        "visibility": "PUBLIC",
        "hiddenFromSearch": True,
        "showSubscribeAction": True,
        "showIncidentHistoryOption": False,
        "pageTitle": "Payments status",
        "pageDescription": "Card payments for our partners.",
        "logoRedirectUrl": "",
        "activated": False,
        "status": "PARTIAL_OUTAGE",
        "teams": [_PAYMENTS],
        "services": [_SERVICE[802]],
    },
]

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
