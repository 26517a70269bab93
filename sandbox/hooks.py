"""Test hooks: call counters, queued faults and the rate limit, read and set under /_sandbox/.

Every endpoint of the sandbox's API table is wrapped in `counted(name)`: the call is
counted under the row's name, then the next fault queued for that name (if any) answers
instead of the endpoint, so a faulted call changes no codes or tokens. The token endpoint
is counted per grant type: `{"token": {"authorization_code": n, "refresh_token": n}}`
and `token_other` for anything else.
"""

import json
import socket
import threading
import time
from collections import Counter, defaultdict, deque
from functools import wraps

from flask import Blueprint, Response, current_app, jsonify, request

GRANTS = ("authorization_code", "refresh_token")
FAULT_RETRY_AFTER = 2
_FAULT_FIELDS = {"endpoint", "count", "status", "body", "delay", "drop"}

bp = Blueprint("hooks", __name__, url_prefix="/_sandbox")


class Hooks:
    """What the endpoints named `names` were asked, and the faults waiting for them."""

    def __init__(self, names):
        self.names = tuple(names)
        # What a fault may be queued for: an endpoint, or one grant type of the token one.
        self.fault_names = (*self.names, *GRANTS, "token_other")
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._faults: defaultdict[str, deque] = defaultdict(
            deque
        )  # endpoint or grant -> [fault, calls left]

    def reset(self):
        """Forget the counts and the queued faults."""
        with self._lock:
            self._calls.clear()
            self._faults.clear()

    def stats(self):
        """The counts in the shape of GET /_sandbox/stats."""
        with self._lock:
            stats: dict[str, int | dict[str, int]] = {
                name: self._calls[name] for name in self.names if name != "token"
            }
            stats["token"] = {grant: self._calls[grant] for grant in GRANTS}
            stats["token_other"] = self._calls["token_other"]
            return stats

    def queue(self, endpoint, fault, count):
        """Let `fault` answer the next `count` calls of `endpoint`; return the calls now
        waiting to be faulted there."""
        with self._lock:
            self._faults[endpoint].append([fault, count])
            return sum(left for _, left in self._faults[endpoint])

    def arrive(self, endpoint, grant=None):
        """Count a call and take the next fault for it: a token call is counted under its
        grant and takes a fault queued for that grant before one queued for any token call."""
        if endpoint == "token":
            counter = grant if grant in GRANTS else "token_other"
            queues: tuple[str, ...] = (counter, "token")
        else:
            counter, queues = endpoint, (endpoint,)
        with self._lock:
            self._calls[counter] += 1
            for name in queues:
                if self._faults[name]:
                    entry = self._faults[name][0]
                    entry[1] -= 1
                    if entry[1] == 0:
                        self._faults[name].popleft()
                    return entry[0]
            return None


def counted(endpoint):
    """Decorate an endpoint's view so that it is counted and can be faulted."""

    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            grant = request.form.get("grant_type") if endpoint == "token" else None
            fault = current_app.extensions["sandbox"].hooks.arrive(endpoint, grant)
            if fault is not None:
                time.sleep(fault["delay"])
                if fault["drop"]:
                    return _drop_connection()
                if fault["status"] is not None:
                    return _fault_response(fault)
            return view(*args, **kwargs)

        return wrapper

    return decorate


def _drop_connection():
    """Shut the client's connection without an answer (needs werkzeug's server).

    Writing the response that follows fails with a broken pipe, which werkzeug takes for
    a client that went away and ignores. The socket is only shut down: werkzeug still
    holds it and closes it when the request is over."""
    request.environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)
    return Response(status=500)


def _fault_response(fault):
    """The queued status and body, labelled JSON if the body parses as JSON. A 429 or 503
    also says when to retry, as a rate-limited or overloaded server does."""
    try:
        json.loads(fault["body"])
        mimetype = "application/json"
    except ValueError:
        mimetype = "text/html"
    response = Response(fault["body"], status=fault["status"], mimetype=mimetype)
    if fault["status"] in (429, 503):
        response.headers["Retry-After"] = str(FAULT_RETRY_AFTER)
    return response


def _parse_fault(data, names):
    """(endpoint, fault, count) from POST /_sandbox/faults, for an endpoint in `names`;
    ValueError names what is wrong."""
    if not isinstance(data, dict):
        raise ValueError("send a JSON object")
    if set(data) - _FAULT_FIELDS:
        raise ValueError(f"unknown fields {sorted(set(data) - _FAULT_FIELDS)}")
    endpoint, count = data.get("endpoint"), data.get("count", 1)
    status, body = data.get("status"), data.get("body", "")
    delay, drop = data.get("delay", 0), data.get("drop", False)
    if endpoint not in names:
        raise ValueError(f"endpoint must be one of {', '.join(names)}")
    if type(count) is not int or count < 1:
        raise ValueError("count must be a positive integer")
    if status is not None and (type(status) is not int or not 200 <= status <= 599):
        raise ValueError("status must be an integer from 200 to 599")
    if not isinstance(body, str) or (body and status is None):
        raise ValueError("body must be a string, and comes with a status")
    if type(delay) not in (int, float) or not 0 <= delay <= 60:
        raise ValueError("delay must be a number of seconds from 0 to 60")
    if type(drop) is not bool or (drop and status is not None):
        raise ValueError("drop must be true or false, and excludes a status")
    if not (drop or status is not None or delay):
        raise ValueError("a fault needs a status, a delay or drop")
    return endpoint, {"status": status, "body": body, "delay": delay, "drop": drop}, count


@bp.get("/stats")
def stats():
    """How often each endpoint was called, faulted and failed calls included."""
    return current_app.extensions["sandbox"].hooks.stats()


@bp.post("/faults")
def faults():
    """Queue a fault for the next calls of an endpoint."""
    hooks = current_app.extensions["sandbox"].hooks
    try:
        endpoint, fault, count = _parse_fault(request.get_json(silent=True), hooks.fault_names)
    except ValueError as error:
        return jsonify(code="invalid_request", error=str(error)), 400
    queued = hooks.queue(endpoint, fault, count)
    return {"endpoint": endpoint, "queued": queued}


@bp.post("/reset")
def reset():
    """Clear counts and faults and set the account's records back to `sandbox.data` (what
    writes changed is undone); codes and tokens stay."""
    sandbox = current_app.extensions["sandbox"]
    sandbox.hooks.reset()
    sandbox.records.reset()
    sandbox.rate_limit.reset()
    return {"reset": True}


@bp.route("/rate-limit", methods=["GET", "POST"])
def rate_limit():
    """The rate limit (GET), or another one (POST `{"rate_limit": "5/min"}`, "0" for none),
    with every client's window started afresh."""
    limit = current_app.extensions["sandbox"].rate_limit
    if request.method == "POST":
        body = request.get_json(silent=True)
        text = body.get("rate_limit") if isinstance(body, dict) and len(body) == 1 else None
        try:
            limit.change(text if isinstance(text, str) else "")
        except ValueError as error:
            return jsonify(code="invalid_request", error=str(error)), 400
    return {"rate_limit": limit.text}
