"""The made-up ilert account behind the sandbox: its people, and what each API row serves.

Field names and enum values are those of ilert's Go client (iLert/ilert-go: user.go,
alert.go, incident.go, ...), so what a page reads here it reads from ilert. A user has no
`mobile` or `landline` (ilert moved them to /api/users/{id}/contacts in 2023), and its
`language` is `en` or `de`.
"""

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
        "shiftColor": "#0f609b",
        "avatarUrl": "",
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
        "shiftColor": "#2f8132",
        "avatarUrl": "",
    },
    "lena.fischer": {
        "id": 1003,
        "username": "lena.fischer",
        "firstName": "Lena",
        "lastName": "Fischer",
        "email": "lena.fischer@example.com",
        "timezone": "Europe/Berlin",
        "language": "de",
        "role": "STAKEHOLDER",
        "position": "Customer Success Manager",
        "department": "Customer Success",
        "region": "EU",
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
                "restrictionType": "TIME_OF_WEEK",
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
        "integrationType": "EMAIL",
        "status": "DISABLED",
        "active": False,
        "alertCreation": "ONE_ALERT_PER_EMAIL_SUBJECT",
        "alertPriorityRule": "LOW",
        "escalationPolicy": _POLICY_DEFAULT,
        "teams": [_SUCCESS],
    },
]
_SOURCE = {s["id"]: {k: s[k] for k in ("id", "name", "integrationType")} for s in ALERT_SOURCES}

ALERTS = [
    {
        "id": 70001,
        "summary": "Payments API: p99 latency above 2 s",
        "details": "p99 latency of POST /charges was 2.4 s for 10 minutes (threshold 2 s).",
        "reportTime": "2025-06-12T07:41:09Z",
        "resolvedOn": None,
        "status": "PENDING",
        "alertSource": _SOURCE[4101],
        "priority": "HIGH",
        "alertKey": "payments-latency-p99",
        "assignedTo": PEOPLE["grace.hopper"],
        "nextEscalation": "2025-06-12T07:51:09Z",
        "links": [{"text": "Dashboard", "href": "https://grafana.example.com/d/payments"}],
    },
    {
        "id": 70002,
        "summary": "KubePodCrashLooping: checkout-7d9f in prod-eu",
        "details": "Pod checkout-7d9f restarted 6 times in 15 minutes.",
        "reportTime": "2025-06-12T06:02:55Z",
        "resolvedOn": None,
        "status": "ACCEPTED",
        "alertSource": _SOURCE[4102],
        "priority": "HIGH",
        "alertKey": "prod-eu/checkout/KubePodCrashLooping",
        "assignedTo": PEOPLE["ada.lovelace"],
        "acknowledgedBy": PEOPLE["ada.lovelace"],
        "acknowledgedByType": "USER",
        "nextEscalation": None,
        "customDetails": {"namespace": "checkout", "cluster": "prod-eu"},
    },
    {
        "id": 70003,
        "summary": "Disk usage on db-replica-2 above 85 %",
        "details": "/var/lib/postgresql is 87 % full.",
        "reportTime": "2025-06-11T22:17:40Z",
        "resolvedOn": "2025-06-11T23:05:12Z",
        "status": "RESOLVED",
        "alertSource": _SOURCE[4103],
        "priority": "LOW",
        "alertKey": "db-replica-2-disk",
        "assignedTo": PEOPLE["grace.hopper"],
        "resolvedBy": PEOPLE["grace.hopper"],
        "resolvedByType": "USER",
        "nextEscalation": None,
    },
    {
        "id": 70004,
        "summary": "Customer reports failed card payments",
        "details": "Email from support@example.com: several customers cannot pay by card.",
        "reportTime": "2025-06-12T07:55:31Z",
        "resolvedOn": None,
        "status": "NEW",
        "alertSource": _SOURCE[4104],
        "priority": "LOW",
        "alertKey": "support-7781",
        "nextEscalation": "2025-06-12T08:05:31Z",
    },
]

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
