"""`/healthz` (liveness: does the session store answer?) and `/readyz` (readiness: can this
instance serve sign-ins right now?), for load balancers and orchestrators."""

import logging
import secrets
from collections.abc import Callable

from flask import Blueprint, jsonify

import store
from store import StoreError

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
    """A write, a read and a delete of an entry of its own: a Redis at `maxmemory` or a full
    disk still answers a PING, but refuses the writes every sign-in needs."""
    probe = secrets.token_urlsafe(16)
    try:
        store.current().put("readiness", probe, {"probe": probe}, READINESS_PROBE_LIFETIME)
        found = store.current().get("readiness", probe)
        store.current().delete("readiness", probe)
    except StoreError as error:
        return f"session store unavailable: {error}"
    if found != {"probe": probe}:
        return "session store did not give back what it was given"
    return None


# Each check returns None when all is well, else a sentence for the log. Add yours here.
READINESS_CHECKS: list[Callable[[], str | None]] = [session_store_round_trip]
