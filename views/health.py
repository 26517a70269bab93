"""`/healthz` for load balancers: does the session store answer? And `/metrics`, for
Prometheus."""

import hmac
import logging

from flask import Blueprint, Response, abort, current_app, jsonify, request

import metrics
import store
from config import is_loopback
from errors import error_page
from store import StoreError

PROXY_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")  # a proxy passed the request on

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
