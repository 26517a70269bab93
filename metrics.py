"""What the app counts, for Prometheus (`prometheus_client`), served at `GET /metrics`
(views/health.py): sign-ins, refreshes, revokes, calls to ilert by endpoint and status with
their latency, 429s, the budget's waits, store errors, refresh lock waits, busy answers, and
sessions ended by their maximum age.

Under gunicorn every worker counts in files of its own, added up when /metrics is read
(prometheus_client's multiprocess mode, which gunicorn.conf.py switches on with
`PROMETHEUS_MULTIPROC_DIR`). Labels hold only fixed words, statuses and endpoint templates
(`/api/alerts/{id}`), never a person, a token or a query.
"""

import os
import re
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

PREFIX = "ilert_app"
# A path segment that is a number, or a long hex or UUID: an id.
_ID_SEGMENT = re.compile(r"/(?:[0-9]+|[0-9a-fA-F-]{16,})(?=/|$)")

SIGN_INS = Counter(f"{PREFIX}_sign_ins", "Callbacks from ilert, by outcome", ["outcome"])
REFRESHES = Counter(f"{PREFIX}_refreshes", "Token refreshes, by outcome", ["outcome"])
REVOKES = Counter(f"{PREFIX}_revokes", "Refresh tokens revoked, by outcome", ["outcome"])
ILERT_CALLS = Counter(
    f"{PREFIX}_ilert_calls",
    "Calls to ilert, by endpoint and status",
    ["method", "endpoint", "status"],
)
ILERT_LATENCY = Histogram(
    f"{PREFIX}_ilert_call_seconds",
    "Time ilert took to answer, by endpoint",
    ["method", "endpoint"],
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RATE_LIMITED = Counter(f"{PREFIX}_ilert_429s", "429 answers from ilert (each pauses the budget)")
BUDGET_WAITS = Counter(f"{PREFIX}_budget_waits", "Calls that waited for their turn of the budget")
BUSY = Counter(f"{PREFIX}_busy_answers", "503s asking to try again, by reason", ["reason"])
STORE_ERRORS = Counter(f"{PREFIX}_store_errors", "Requests the session store failed")
LOCK_WAITS = Counter(
    f"{PREFIX}_refresh_lock_waits", "Requests that waited for another request's refresh"
)
MAX_AGE_ENDS = Counter(f"{PREFIX}_sessions_ended_max_age", "Sessions ended by SESSION_MAX_AGE")


def endpoint(path: str) -> str:
    """The path as a template, its ids as `{id}` (`/api/alerts/{id}/accept`)."""
    return _ID_SEGMENT.sub("/{id}", path)


@lru_cache(maxsize=1024)
def ilert_call_series(method: str, url: str, outcome: str) -> tuple[Any, Any]:
    """The series a call to ilert counts in (`ILERT_CALLS`) and times in (`ILERT_LATENCY`),
    found once per method, URL and outcome: `labels` takes a lock and builds its key on
    every call, and every page makes one."""
    labels = (method, endpoint(urlsplit(url).path))
    return ILERT_CALLS.labels(*labels, outcome), ILERT_LATENCY.labels(*labels)


def sign_in_outcome(status: int) -> str:
    """A callback's outcome by the status of its answer."""
    return {302: "signed_in", 303: "signed_in", 400: "refused", 403: "denied"}.get(status, "failed")


def exposition() -> tuple[bytes, str]:
    """The Prometheus text of every process of this app, and its content type."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
