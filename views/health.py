"""`/healthz` (liveness: does the session store answer?) and `/readyz` (readiness: can this
instance serve sign-ins right now?), for load balancers and orchestrators; `/metrics`, for
Prometheus."""

import hmac
import logging
import secrets
from collections.abc import Callable

from flask import Blueprint, Response, abort, current_app, jsonify, request

import metrics
import store
from config_checks import is_loopback
from errors import error_page
from store import StoreError

PROXY_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")  # a proxy passed the request on

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)

READINESS_PROBE_LIFETIME = 30  # seconds: a probe's entry outlives no failed delete for long


@bp.route("/healthz")
def healthz():
    """`{"status": "ok", "session_store": "ok"}`, or 503. Anyone may ask, so why the store
    failed (a host, port, folder or error text) goes to the log, not into the answer."""
    try:
        store.current().check()
    except StoreError as error:
        log.error("Health check: session store unavailable: %s", error)
        return jsonify(status="unavailable", session_store="unavailable"), 503
    return jsonify(status="ok", session_store="ok")


@bp.route("/metrics")
def metrics_text():
    """Prometheus text of every worker. With METRICS_TOKEN, only for `Authorization: Bearer
    <token>`; without it, only for a caller on this machine that no proxy passed on (404 to
    anyone else, as if there were no such page)."""
    token = current_app.config["METRICS_TOKEN"]
    if token is None:
        if not is_loopback(request.remote_addr or "") or any(
            name in request.headers for name in PROXY_HEADERS
        ):
            abort(404)
    else:
        given = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(given, f"Bearer {token}".encode()):
            return error_page(
                401,
                "Metrics need a token",
                "Send METRICS_TOKEN as Authorization: Bearer <token>.",
                error="unauthorized",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
    body, content_type = metrics.exposition()
    return Response(body, content_type=content_type)


@bp.route("/readyz")
def readyz():
    """`{"status": "ok"}` when every check of READINESS_CHECKS passes, else 503 with
    `{"status": "unavailable"}`; the reasons go to the log only."""
    problems = [problem for check in READINESS_CHECKS if (problem := check()) is not None]
    for problem in problems:
        log.error("Not ready: %s", problem)
    if problems:
        return jsonify(status="unavailable"), 503
    return jsonify(status="ok")


def session_store_round_trip() -> str | None:
    """What /healthz asks (the store answers; for files, its entries and locks folders take
    files), then a write, a read and a delete of an entry of its own: a Redis at `maxmemory`
    or a full disk still answers a PING, but refuses the writes every sign-in needs."""
    probe = secrets.token_urlsafe(16)
    try:
        store.current().check()
        store.current().put("readiness", probe, {"probe": probe}, READINESS_PROBE_LIFETIME)
        found = store.current().get("readiness", probe)
        store.current().delete("readiness", probe)
    except StoreError as error:
        return f"session store unavailable: {error}"
    if found != {"probe": probe}:
        return "session store did not give back what it was given"
    return None


def ilert_budget_not_paused() -> str | None:
    """ilert answered 429 a moment ago: every call of every instance waits out its Retry-After
    (ilert/budget.py), so pages that call ilert would answer "ilert is busy"."""
    budget = current_app.extensions["ilert_budget"]
    try:
        paused_for = budget.paused_for() if budget is not None else 0
    except StoreError as error:
        return f"ilert budget unreadable: {error}"
    if paused_for > 0:
        return f"ilert asked for a pause (429): {paused_for:.0f} s left"
    return None


# Each check returns None when all is well, else a sentence for the log. Add yours here.
READINESS_CHECKS: list[Callable[[], str | None]] = [
    session_store_round_trip,
    ilert_budget_not_paused,
]
