"""The flow inspector: `/flow-inspector` shows this session's last sign-in and API calls step
by step, every secret hidden. A debugging aid, on in sandbox mode or with FLOW_INSPECTOR=true.

It listens to `ilert.oauth.ilert_called`, collects the request's calls in `g`, and after the
request keeps them beside the session (purpose "flow"), never in it. A sign-in's first step is
kept with its pending sign-in (under its nonce) until the callback starts the new session's
flow with it. To remove it from a fork: delete this module, its template and the line
`inspector.init_app(app)` in app.py.
"""

import json
import logging
import re

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    g,
    jsonify,
    render_template,
    request,
    session,
)

import store
from errors import wants_json
from ilert import oauth
from ilert.oauth import TOKEN_PATH, ilert_called
from store import StoreError
from store.flask_session import VISITOR_LIFETIME, current_session

LIMIT = 20  # calls kept per session
HIDDEN = "[hidden]"
# Hidden in what was sent and what came back: these fields (integrationUrl carries an alert
# source's integration key), and any whose name ends in key, secret, token or password, in
# any case (whoever has an alert source's integrationKey can raise alerts with it).
SECRET_FIELDS = {"client_secret", "code", "code_verifier", "token", "integrationUrl"}
SECRET_NAME = re.compile(r"(key|secret|token|password)$", re.IGNORECASE)
# A token answer's fields the inspector may show; any other (an id_token, say) is hidden.
TOKEN_ANSWER_FIELDS = {"token_type", "expires_in", "scope", "refresh_token_expires_in"}
SHORTENED_FIELDS = {"state", "code_challenge"}

bp = Blueprint("inspector", __name__)
log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    """Serve the inspector and note every call to ilert, when FLOW_INSPECTOR is on."""
    if not app.config["FLOW_INSPECTOR"]:
        return
    app.register_blueprint(bp)
    app.extensions.setdefault("layout_tools", []).append(
        ("inspector.flow_inspector", "Flow inspector")
    )
    ilert_called.connect(note_call, app)
    app.before_request(note_session_id)
    app.after_request(keep_calls)


@bp.route("/flow-inspector")
def flow_inspector():
    """This session's last sign-in and API calls, step by step, every secret hidden."""
    calls = _flow_of(current_session().sid)
    if wants_json():
        return jsonify(calls)
    return render_template("flow_inspector.html", calls=calls)


def note_call(app: Flask, call: dict, response=None) -> None:
    """Keep a step of this request, with secrets hidden and long values shortened."""
    noted = {**call, "sent": _masked(call["sent"])}
    if response is not None:
        noted["answer"] = _shape(response, token_answer=call["url"].endswith(TOKEN_PATH))
    g.setdefault("ilert_calls", []).append(noted)


def note_session_id() -> None:
    """The session id this request started with: sign-in gives the session a new one."""
    if not current_app.session_interface.is_null_session(session):
        g.first_session_id = current_session().sid


def keep_calls(response: Response) -> Response:
    """Add this request's calls to the session's flow. Notes that cannot be kept are only
    logged: the inspector never fails a page."""
    first_session_id = g.get("first_session_id")
    calls = g.get("ilert_calls", [])
    pending = g.get("sign_in")
    try:
        if request.endpoint == "auth.login":
            return response
        if first_session_id is None or not (calls or current_session().sid != first_session_id):
            return response
        if request.endpoint == "auth.authorize_result" and pending is not None:
            earlier = [_authorize_step(pending)]
        else:
            earlier = _flow_of(first_session_id)
        if current_session().sid != first_session_id:
            store.current().delete("flow", first_session_id)
        if not session and request.endpoint == "auth.authorize_result" and calls:
            session["flow_only"] = True  # a failed sign-in: keep a session to show its steps
        if session and (earlier or calls):
            lifetime = current_app.config["SESSION_LIFETIME"].total_seconds()
            if "user" not in session:  # the notes live no longer than the session they are of
                lifetime = min(lifetime, VISITOR_LIFETIME)
            store.current().put("flow", current_session().sid, (earlier + calls)[-LIMIT:], lifetime)
    except StoreError as error:
        log.warning("Flow inspector notes not kept: %s", error)
    return response


def _authorize_step(pending) -> dict:
    """Step 1 of a sign-in, as `/login` sent it (noted here: `/login` keeps nothing)."""
    challenge = oauth.pkce_challenge(pending.verifier) if pending.verifier else None
    call = oauth.authorize_call(pending.state, challenge, pending.scopes)  # a grant's own
    return {**call, "sent": _masked(call["sent"])}


def _flow_of(key: str) -> list:
    notes = store.current().get("flow", key)
    return notes if isinstance(notes, list) else []


def _masked(fields: dict) -> dict:
    """`fields` with secrets hidden, long ones shortened, and what is nested in them (a body's
    objects) summarised, never looked into."""
    masked = {}
    for name, value in fields.items():
        if name in SECRET_FIELDS or SECRET_NAME.search(name):
            value = HIDDEN
        elif name in SHORTENED_FIELDS:
            value = f"{value[:6]}…"
        elif isinstance(value, dict) or (
            isinstance(value, list) and any(isinstance(item, dict | list) for item in value)
        ):
            value = _summary(value)
        masked[name] = value
    return masked


def _shape(response, token_answer: bool = False):
    """What an answer looked like: its fields with secrets hidden, or its type and size."""
    try:
        body = response.json()
    except ValueError:
        kind = response.headers.get("Content-Type", "no content type")
        return f"{kind}, {len(response.content)} bytes"
    if isinstance(body, list):
        return f"a list of {len(body)} items"
    if not isinstance(body, dict):
        return type(body).__name__
    if token_answer:
        return {
            name: _summary(value) if name in TOKEN_ANSWER_FIELDS else HIDDEN
            for name, value in body.items()
        }
    return _masked({name: _summary(value) for name, value in body.items()})


def _summary(value):
    if isinstance(value, list):
        return f"[{len(value)} items]"
    if isinstance(value, dict):
        return "{…}"
    text = value if isinstance(value, str) else json.dumps(value)  # true, not Python's True
    return text if len(text) <= 60 else text[:57] + "…"
