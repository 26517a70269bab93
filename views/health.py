"""`/healthz` for load balancers: does the session store answer?"""

import logging

from flask import Blueprint, jsonify

import store
from store import StoreError

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


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
