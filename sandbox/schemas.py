"""The fields of each resource as ilert's OpenAPI spec types them: the schema fragments the
contract tests hold the sandbox's answers to (tests/test_sandbox_contract.py).

Source of every fragment, unless a line says otherwise: the spec v2.2026.5-r.3 as the client
generated from it has it (lassoColombo/nu-http-client-collection, clients/incident/ilert.nu),
in the answer type of the resource's `get` command (e.g. `alerts get`, GET /alerts/{id}) and
its enum completers. A kind is a Python type, a tuple of enum values, `DATE_TIME` (an
ISO-8601 string), `TIMEZONE` (an IANA name: the spec's enum lists Europe/Berlin,
America/New_York, America/Los_Angeles and Asia/Istanbul as examples of them) or
`Nullable(kind)`. An answer may leave a field out, never add one.
"""

from dataclasses import dataclass
from typing import Any

DATE_TIME = "date-time"
TIMEZONE = "timezone"


@dataclass(frozen=True)
class Nullable:
    kind: Any


# spec users get: language-completer, region-completer, role-completer
LANGUAGES = ("de", "en")
REGIONS = ("CA", "CH", "CN", "DE", "ES", "FR", "GB", "IE", "IN", "US")
ROLES = ("ADMIN", "GUEST", "RESPONDER", "STAKEHOLDER", "USER")
# spec services get / status-completer-1; incidents: status-completer
SERVICE_STATUSES = ("OPERATIONAL", "UNDER_MAINTENANCE", "DEGRADED", "PARTIAL_OUTAGE",
                    "MAJOR_OUTAGE")  # fmt: skip
INCIDENT_STATUSES = ("INVESTIGATING", "IDENTIFIED", "MONITORING", "RESOLVED")
# ilert-go alert.go AlertStatuses; spec priority-completer
ALERT_STATUSES = ("NEW", "PENDING", "ACCEPTED", "RESOLVED")
PRIORITIES = ("HIGH", "LOW")
# ilert-go alert_source.go AlertSourceStatuses; spec alertCreation-completer,
# alertPriorityRule-completer
SOURCE_STATUSES = ("PENDING", "ALL_ACCEPTED", "ALL_RESOLVED", "IN_MAINTENANCE", "DISABLED")
ALERT_CREATIONS = ("INTELLIGENT_GROUPING", "ONE_ALERT_GROUPED_PER_WINDOW", "ONE_ALERT_PER_EMAIL",
                   "ONE_ALERT_PER_EMAIL_SUBJECT", "ONE_OPEN_ALERT_ALLOWED",
                   "ONE_PENDING_ALERT_ALLOWED", "OPEN_RESOLVE_ON_EXTRACTION")  # fmt: skip
PRIORITY_RULES = ("HIGH", "HIGH_DURING_SUPPORT_HOURS", "LOW", "LOW_DURING_SUPPORT_HOURS")
# spec setupStatus-completer
SETUP_STATUSES = ("CREATED", "CREATED_ADVANCED", "CREATED_BIDIRECTIONAL", "FINISHED")
# spec integrationType-completer (lassoColombo/nu-http-client-collection at f42cf191,
# clients/incident/ilert.nu), all 151 values. It has no EMAIL: that type is deprecated for
# EMAIL2 (iLert/terraform-provider-ilert at d8da1ef, examples/alert_source/README.md,
# "replaced with ... the new email alert source with type EMAIL2").
INTEGRATION_TYPES = (
    "ALIBABACLOUD", "AMAZONSNS", "API", "APICA", "APIFORTRESS", "APPDYNAMICS", "APPSIGNAL",
    "AUTOTASK", "AUVIK", "AWSBUDGET", "AWSPHD", "AWX", "AZUREALERTS", "AZUREDEVOPS", "CALLFLOW",
    "CATCHPOINT", "CHECKLY", "CHECKMK", "CISCOMERAKI", "CISCOTHOUSANDEYES", "CLOUDFLARE",
    "CLOUDWATCH", "CLUSTERCONTROL", "CONNECTWISEPSA", "CONSUL", "CORTEX", "CORTEXXSOAR", "CRONITOR",
    "CROWDSTRIKE", "DASH0", "DATADOG", "DEADMANSSNITCH", "DOMOTZ", "DOTCOMMONITOR", "DYNATRACE",
    "EKARA", "EMAIL2", "ESWATCHER", "FLEETDM", "FORTISOAR", "FOURME", "FRESHSERVICE", "GATUS",
    "GITHUB", "GITLAB", "GOOGLECHAT", "GOOGLESCC", "GRAFANA", "GRAYLOG", "GUARDDUTY", "HALOITSM",
    "HALOPSA", "HEALTHCHECKSIO", "HEARTBEAT2", "HELPSCOUT", "HETRIXTOOLS", "HONEYBADGER",
    "HONEYCOMB", "HUMIO", "HYPERPING", "IBMCLOUDFUNCTIONS", "ICINGA", "INFLUXDB", "INSTANA",
    "ITCONDUCTOR", "IXON", "JIRA", "JUMPCLOUD", "KAFKA", "KAPACITOR", "KEEP", "KENTIXAM", "KIBANA",
    "KUBERNETES", "LEVELIO", "LIBRENMS", "LIGHTSTEP", "LIVEWATCH", "LOKI", "MEZMO", "MIMIR",
    "MONGODBATLAS", "MONITOR", "MQTT", "MSSCOM", "MSTEAMS", "MXTOOLBOX", "NAGIOS", "NCENTRAL",
    "NETDATA", "NEWRELIC", "OHDEAR", "OPMANAGER", "OPSGENIE", "PANDORAFMS", "PANTHER",
    "PAPRISMACLOUD", "PARTICLE", "PHAREIO", "PINGDOM", "POSTHOG", "POSTMAN", "PROMETHEUS", "PRTG",
    "PULSETIC", "RAPIDSPIKE", "RAYGUN", "ROLLBAR", "SALESFORCE", "SAMSARA", "SAPFRUN",
    "SCIENCELOGIC", "SEARCHGUARD", "SEKOIA", "SEMATEXT", "SENSU", "SENTRY", "SERVERDENSITY",
    "SERVERGUARD24", "SERVICENOW", "SIGNALFX", "SIGNOZ", "SITE24X7", "SLACK", "SMS", "SOLARWINDS",
    "SPLUNK", "STACKDRIVER", "STATUSCAKE", "STATUSHUB", "SUMOLOGIC", "SYSAID", "SYSDIG", "TEAMCITY",
    "TERRAFORMCLOUD", "TOOL", "TOPDESK", "TULIP", "TWILIO", "TWILIOERRORS", "UBIDOTS", "UPTIME",
    "UPTIMEKUMA", "UPTIMEROBOT", "VICTORIAMETRICS", "WAZUH", "WHATAP", "ZABBIX", "ZAMMAD", "ZAPIER",
    "ZENDESK",
)  # fmt: skip
# spec visibility-completer, role-completer-1 (team members), type-completer-3 (schedules),
# pageLayout-completer, appearance-completer
VISIBILITIES = ("PRIVATE", "PUBLIC")
MEMBER_ROLES = ("ADMIN", "RESPONDER", "STAKEHOLDER", "USER")
SCHEDULE_TYPES = ("RECURRING", "STATIC")
PAGE_LAYOUTS = ("RESPONSIVE", "SINGLE_COLUMN")
APPEARANCES = ("DARK", "LIGHT")

SCHEMAS: dict[str, dict[str, Any]] = {
    "users": {
        "id": int, "firstName": str, "lastName": str, "email": str, "timezone": TIMEZONE,
        "position": str, "department": str, "avatarUrl": str, "language": LANGUAGES,
        "region": REGIONS, "role": ROLES, "shiftColor": str, "mutedUntil": Nullable(DATE_TIME),
        "createdAt": DATE_TIME, "updatedAt": DATE_TIME,
    },
    "alerts": {
        "id": int, "summary": str, "details": str, "reportTime": DATE_TIME,
        "resolvedOn": Nullable(DATE_TIME), "status": ALERT_STATUSES, "alertSource": dict,
        "escalationPolicy": dict, "priority": PRIORITIES, "alertKey": str,
        "nextEscalation": Nullable(DATE_TIME), "escalationRules": list,
        "nextEscalationUser": Nullable(dict), "nextEscalationRuleIndex": int, "images": list,
        "links": list, "responders": list, "severity": int, "labels": dict,
        "customDetails": dict, "linkedIncidentId": Nullable(int), "mergedIntoId": Nullable(int),
        "mergeState": Nullable(str),
    },
    "alert_sources": {
        "id": int, "teams": list, "name": str, "iconUrl": str, "lightIconUrl": str,
        "darkIconUrl": str, "escalationPolicy": dict, "integrationType": INTEGRATION_TYPES,
        "integrationKey": str, "integrationUrl": str,
        "autoResolutionTimeout": Nullable(str), "alertGroupingWindow": Nullable(str),
        "alertCreation": ALERT_CREATIONS, "status": SOURCE_STATUSES, "active": bool,
        "alertPriorityRule": PRIORITY_RULES, "supportHours": Nullable(dict),
        "bidirectional": bool, "summaryTemplate": dict, "detailsTemplate": dict,
        "routingTemplate": dict, "linkTemplates": list, "priorityTemplate": dict,
        "severityTemplate": dict, "eventFilter": str, "alertKeyTemplate": dict,
        "servicesTemplate": list, "eventTypeFilterCreate": str, "eventTypeFilterAccept": str,
        "eventTypeFilterResolve": str, "autoRaiseAlerts": bool,
        "scoreThreshold": Nullable(float), "severity": int, "services": list,
        "setupStatus": SETUP_STATUSES, "autoCreateServices": bool, "createdAt": DATE_TIME,
        "updatedAt": DATE_TIME,
    },
    "incidents": {
        "id": int, "summary": str, "status": INCIDENT_STATUSES, "message": str,
        "sendNotification": bool, "createdAt": DATE_TIME, "updatedAt": DATE_TIME,
        "history": list, "affectedServices": list, "resolvedOn": Nullable(DATE_TIME),
        "subscribed": bool, "affectedTeams": list,
    },
    "services": {
        "id": int, "name": str, "alias": str, "status": SERVICE_STATUSES, "description": str,
        "oneOpenIncidentOnly": bool, "showUptimeHistory": bool, "teams": list,
        "subscribed": bool, "uptime": dict, "incidents": list,
    },
    "schedules": {
        "id": int, "name": str, "timezone": TIMEZONE, "type": SCHEDULE_TYPES,
        "scheduleLayers": list, "shifts": list, "showGaps": bool,
        "defaultShiftDuration": str, "currentShift": dict, "nextShift": dict, "teams": list,
    },
    "escalation_policies": {
        "id": int, "name": str, "escalationRules": list, "teams": list, "repeating": bool,
        "frequency": int, "delayMin": int, "routingKey": str,
    },
    "teams": {
        "id": int, "name": str, "visibility": VISIBILITIES, "members": list,
        "createdAt": DATE_TIME, "updatedAt": DATE_TIME,
    },
    "status_pages": {
        "id": int, "name": str, "domain": str, "subdomain": str, "timezone": TIMEZONE,
        "faviconUrl": str, "logoUrl": str, "visibility": VISIBILITIES,
        "hiddenFromSearch": bool, "showSubscribeAction": bool,
        "showIncidentHistoryOption": bool, "pageTitle": str, "pageDescription": str,
        "pageLayout": PAGE_LAYOUTS, "logoRedirectUrl": str, "activated": bool,
        "status": SERVICE_STATUSES, "teams": list, "services": list, "metrics": list,
        "ipWhitelist": list, "structure": dict, "subscribed": bool, "uptime": dict,
        "groups": list, "appearance": APPEARANCES, "announcement": str,
        "announcementOnPage": bool, "announcementInWidget": bool, "audienceSpecific": bool,
    },
}  # fmt: skip
# Nested entries the contract tests look into: (resource, field) -> the entry's fields.
NESTED: dict[tuple[str, str], dict[str, Any]] = {
    # spec alerts get: responders table<user: record, status: string, acceptedAt: string>
    ("alerts", "responders"): {"user": dict, "status": ("PENDING", "ACCEPTED"),
                               "acceptedAt": Nullable(DATE_TIME)},
    # spec teams get: members table<user: record, role: string>
    ("teams", "members"): {"user": dict, "role": MEMBER_ROLES},
    # spec incidents get: affectedServices table<impact: string, service: record>
    ("incidents", "affectedServices"): {"impact": SERVICE_STATUSES, "service": dict},
    # spec schedules post: scheduleLayers item shape (restrictionType?: "TIMES_OF_WEEK"), as
    # in iLert/terraform-provider-ilert examples/schedule/main.tf (restriction_type)
    ("schedules", "scheduleLayers"): {"name": str, "startsOn": DATE_TIME,
                                      "endsOn": DATE_TIME, "users": list, "rotation": str,
                                      "restrictionType": ("TIMES_OF_WEEK",),
                                      "restrictions": list},
}  # fmt: skip
# Fields of the schema the sandbox's data never sends (every other field that is neither
# include-only nor single-GET-only is in at least one row of each list):
OPTIONAL: dict[str, set[str]] = {
    # The sandbox's alerts are neither linked to an incident nor merged into another alert,
    # and the spec does not say whether ilert then sends these as null or leaves them out.
    "alerts": {"linkedIncidentId", "mergedIntoId", "mergeState"},
}
