"""The ilert OAuth2 backend app: the Flask factory, the routes and their error pages.

Routes stay thin: they read the request, call one step of `ilert_oauth.py` (or
`token_store.py`, which adds refreshing), update the session and render or
redirect. `python app.py` runs it on port 4597, with the built-in ilert sandbox
when no ilert credentials are configured.
"""

import functools
import hmac
import logging
import os
import re
import secrets
import sys
import tempfile
import time
from datetime import UTC, datetime
from types import SimpleNamespace
from urllib.parse import unquote, urlsplit

from dotenv import load_dotenv
from flask import (
    Flask,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.helpers import get_debug_flag
from werkzeug.datastructures import MIMEAccept
from werkzeug.exceptions import HTTPException
from werkzeug.http import parse_accept_header
from werkzeug.serving import is_running_from_reloader

import config
import ilert_oauth
import presentation
import store
import token_store
from config import ConfigError
from ilert_oauth import IlertError
from store import LockBusy, StoreError, sign_ins
from token_store import SessionEnded

FLOW_INSPECTOR_LIMIT = 20
LOGOUT_NOTICE_COOKIE = "logout_notice"
LOGOUT_NOTICES = {
    "revoked": ("info", "You are signed out."),
    "not_revoked": (
        "warning",
        "You are signed out here, but ilert could not be reached to revoke this app's "
        "access. You can remove it in your ilert profile settings.",
    ),
}
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self' https:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
HSTS = "max-age=31536000"  # a year (RFC 6797)
CONFIG_ERROR_EXIT_CODE = 3  # gunicorn stops instead of restarting the worker
_CALLBACK_SECRETS = re.compile(r"((?:^|[?&])(?:code|state)=)[^&\s\"']*")
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")

log = logging.getLogger(__name__)


def create_app(test_config=None, *, sandbox_mode=False, clock=time.time):
    """Build the app.

    `test_config` is a mapping of the environment variables in `.env.example`,
    used instead of the real environment and `.env` (tests pass their own); a
    bad value then raises ConfigError. Without it (gunicorn, `flask run`) a bad
    value prints one line and exits with code 3.
    `sandbox_mode` is set by `python app.py` when it serves the built-in sandbox.
    `clock` is what the app reads the time from (tests pass one they move forward).
    """
    if test_config is None:
        load_dotenv()
        try:
            return create_app(dict(os.environ), sandbox_mode=sandbox_mode, clock=clock)
        except ConfigError as error:
            stop_on_config_error(error)
    settings = config.load(test_config)
    if settings["ILERT_CLIENT_ID"] is None:
        raise ConfigError(
            "ILERT_CLIENT_ID is not set: set ILERT_CLIENT_ID and ILERT_CLIENT_SECRET, or start "
            "`python -m sandbox` and point the app at it (the built-in sandbox runs only "
            "with `python app.py`)"
        )

    app = Flask(__name__, instance_relative_config=True)
    app.config.update(settings)
    app.config.update(
        SANDBOX_MODE=sandbox_mode,
        FLOW_INSPECTOR=settings["FLOW_INSPECTOR"] or sandbox_mode,
        PERMANENT_SESSION_LIFETIME=settings["SESSION_LIFETIME"],
        SESSION_COOKIE_NAME=cookie_name(settings["SESSION_COOKIE_NAME"], app_config=settings),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_PATH="/",
    )
    _configure_logging(app)
    store.init_app(app, clock)
    ilert_oauth.init_app(app)
    _register_error_handlers(app)

    app.add_url_rule("/", view_func=home)
    app.add_url_rule("/login", view_func=login)
    app.add_url_rule("/me", view_func=me)
    app.add_url_rule("/token-info", view_func=token_info)
    app.add_url_rule("/alert-sources", view_func=alert_sources)
    app.add_url_rule("/logout", view_func=logout, methods=["POST"])
    app.add_url_rule("/healthz", view_func=healthz)
    app.add_url_rule("/flow-inspector", view_func=flow_inspector)
    callback_path = urlsplit(settings["ILERT_REDIRECT_URI"]).path
    if callback_path in ("", "/") or any(r.rule == callback_path for r in app.url_map.iter_rules()):
        raise ConfigError(
            f"ILERT_REDIRECT_URI is malformed: its path {callback_path or '(none)'!r} must be "
            "one of its own, such as /authorize-result, not a page the app already has"
        )
    app.add_url_rule(callback_path, view_func=authorize_result)
    if app.config["FLOW_INSPECTOR"]:
        app.before_request(note_session_id)
        app.after_request(remember_ilert_calls)
    app.context_processor(
        lambda: {
            "sandbox_mode": app.config["SANDBOX_MODE"],
            "flow_inspector": app.config["FLOW_INSPECTOR"],
        }
    )
    app.context_processor(layout_links)
    app.before_request(end_session_past_max_age)
    app.after_request(set_security_headers)
    return app


def cookie_name(name, app_config=None):
    """`name` with the `__Host-` prefix when cookies are Secure (Secure, `Path=/`, no
    `Domain`: no other host or path can set or shadow it), else `name` as it is."""
    secure = (app_config or current_app.config)["SESSION_COOKIE_SECURE"]
    return f"__Host-{name}" if secure else name


def layout_links():
    """The addresses the layout links to on every page, as `links.me` and so on: built
    once per app and mount point (SCRIPT_NAME), where eight `url_for` calls per page view
    cost 6% of the profile page's instructions."""
    return {"links": _layout_links(current_app._get_current_object(), request.script_root)}


@functools.lru_cache(maxsize=32)
def _layout_links(app, script_root):
    """`app` and `script_root` are what the cached addresses depend on."""
    return SimpleNamespace(
        style=url_for("static", filename="style.css"),
        favicon=url_for("static", filename="favicon.svg"),
        home=url_for("home"),
        me=url_for("me"),
        token_info=url_for("token_info"),
        alert_sources=url_for("alert_sources"),
        flow_inspector=url_for("flow_inspector"),
        logout=url_for("logout"),
    )


def set_security_headers(response):
    """No inline code, no framing, no referrer (the callback URL carries the code), no
    caching of pages that show account data; HSTS when the cookie is Secure, so browsers
    never try plain http, where cookies can be tossed in (`includeSubDomains` is the
    operator's call: the app cannot know every subdomain)."""
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    if current_app.config["SESSION_COOKIE_SECURE"]:
        response.headers["Strict-Transport-Security"] = HSTS
    if request.endpoint != "static":
        response.headers["Cache-Control"] = "no-store"
    return response


class RedactCallbackParameters(logging.Filter):
    """Replace the callback's `code` and `state` values in access log lines."""

    def filter(self, record):
        if isinstance(record.args, tuple):
            record.args = tuple(_redact(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            # In place: gunicorn's atoms are a dict subclass that answers "-" for missing keys.
            for key, value in record.args.items():
                record.args[key] = _redact(value)
        return True


def _redact(value):
    return _CALLBACK_SECRETS.sub(r"\1[redacted]", value) if isinstance(value, str) else value


def _configure_logging(app):
    level = app.config["LOG_LEVEL"]
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in (__name__, "ilert_oauth", "token_store", "store"):
        logging.getLogger(name).setLevel(level)
    for name in ("werkzeug", "gunicorn.access"):
        access_log = logging.getLogger(name)
        if not any(isinstance(f, RedactCallbackParameters) for f in access_log.filters):
            access_log.addFilter(RedactCallbackParameters())


# --- helpers shared by the routes ---------------------------------------------------------


def wants_json():
    """True when the caller's Accept header prefers JSON over HTML."""
    return _prefers_json(request.headers.get("Accept"))


@functools.lru_cache(maxsize=256)
def _prefers_json(accept):
    """Decided once per distinct Accept header: a browser or an API client sends the same
    one on every request, and parsing a browser's takes as long as reading the session."""
    best = parse_accept_header(accept, MIMEAccept).best_match(["text/html", "application/json"])
    return best == "application/json"


def signed_in(view):
    """Send signed-out people to sign in first (JSON callers get a 401)."""

    @functools.wraps(view)
    def guarded(**kwargs):
        if "user" not in session:
            if wants_json():
                return _json_error(401, "not_signed_in", "Sign in at /login first.")
            return redirect(url_for("login", next=request.full_path.rstrip("?")))
        return view(**kwargs)

    return guarded


def safe_next(value):
    """`value` if it is a path on this site, else None (no open redirects)."""
    if not value or len(value) > 2000:
        return None
    for candidate in (value, unquote(value)):
        if not re.match(r"/(?![/\\])", candidate) or "\\" in candidate:
            return None
        if _CONTROL_CHARACTERS.search(candidate):
            return None
        parts = urlsplit(candidate)
        if parts.scheme or parts.netloc:
            return None
    return value


def _retry_after(error):
    """ilert's Retry-After, passed on with our 503."""
    return {"Retry-After": error.retry_after} if error.retry_after else None


def _json_error(status, error, message, headers=None):
    return jsonify(error=error, message=message), status, headers or {}


def _error_page(status, title, message, error="error", headers=None, **context):
    """The one way every failure is answered: an HTML page, or JSON for JSON callers."""
    if wants_json():
        return _json_error(status, error, message, headers)
    page = render_template("errors/error.html", title=title, message=message, **context)
    return page, status, headers or {}


def _end_session(message=None, category="info"):
    """Destroy the session. With a message, the browser gets a fresh session id that
    carries only the message."""
    session.clear()
    if message:
        flash(message, category)
        current_app.session_interface.regenerate(session)


# --- routes ---------------------------------------------------------------------------------


def home():
    """A sign-in button, or the signed-in person's name (remembered at sign-in)."""
    notice_cookie = cookie_name(LOGOUT_NOTICE_COOKIE)
    notice = LOGOUT_NOTICES.get(request.cookies.get(notice_cookie))
    response = make_response(
        render_template("home.html", user=session.get("user"), logout_notice=notice)
    )
    if notice:
        response.delete_cookie(
            notice_cookie, path="/", secure=current_app.config["SESSION_COOKIE_SECURE"]
        )
    return response


def login():
    """Start a sign-in: fresh state and PKCE verifier, kept here, then off to ilert."""
    redirect_origin = urlsplit(current_app.config["ILERT_REDIRECT_URI"])
    if not _same_host(request.host, redirect_origin):
        # The sign-in cookie must be set on the host ilert sends the person back to.
        return redirect(
            f"{redirect_origin.scheme}://{redirect_origin.netloc}{request.full_path.rstrip('?')}"
        )
    state = secrets.token_urlsafe(32)
    verifier, challenge = (None, None)
    if current_app.config["ILERT_USE_PKCE"]:
        verifier, challenge = ilert_oauth.new_pkce_pair()
    response = redirect(ilert_oauth.authorize_url(state, challenge))
    g.sign_in_nonce = sign_ins.begin(response, state, verifier, safe_next(request.args.get("next")))
    return response


def _same_host(host, origin):
    """Whether a request's Host header names the same host and port as `origin`."""
    default_port = 443 if origin.scheme == "https" else 80
    try:
        requested = urlsplit("//" + host)
        requested_port = requested.port or default_port
    except ValueError:
        return False
    return (requested.hostname, requested_port) == (origin.hostname, origin.port or default_port)


def authorize_result():
    """ilert sends the person back here: check state, then exchange the code for tokens."""
    states = request.args.getlist("state")
    nonce = sign_ins.nonce_for(states[0]) if len(states) == 1 else None
    if nonce is None:
        return _invalid_sign_in()
    g.sign_in_nonce = nonce
    with sign_ins.callback_lock(nonce):
        sign_in = sign_ins.claim(states[0], nonce)
        if sign_in is None:
            return _taken_over_or_invalid(nonce)
        response = _finish_sign_in(sign_in, nonce)
    sign_ins.forget_cookie(response, sign_in.state)
    return response


def _finish_sign_in(sign_in, nonce):
    """The rest of the callback, for the request that claimed the pending sign-in."""
    error = request.args.get("error")
    if error:
        return make_response(_consent_error(error, request.args.get("error_description", "")))
    code = request.args.get("code")
    if not code or len(request.args.getlist("code")) > 1:
        return make_response(
            _error_page(
                400,
                "ilert sent no code",
                "The answer from ilert had no usable authorization code.",
                error="invalid_request",
                retry=True,
            )
        )
    try:
        tokens = ilert_oauth.exchange_code(code, sign_in.verifier)
    except IlertError as error:
        return make_response(_exchange_failed(error))
    _revoke_quietly(token_store.forget(session.sid))
    user = _fetch_user(tokens["access_token"])
    current_app.session_interface.regenerate(session)
    session.clear()
    token_store.keep(session.sid, tokens)
    session["user"] = user
    session["csrf_token"] = secrets.token_urlsafe(32)
    session["signed_in_at"] = store.now()
    sign_ins.keep_result(nonce, session.sid, sign_in.next)
    return redirect(sign_in.next or url_for("me"))


def _taken_over_or_invalid(nonce):
    """A second copy of a callback (a double click, a reload): if the first signed the person
    in, continue in its session; otherwise the link is not valid."""
    finished = sign_ins.result(nonce)
    if finished is None:
        return _invalid_sign_in()
    session.clear()
    session.update(store.current().get("session", finished["sid"]) or {})
    session.sid = finished["sid"]
    session.modified = False
    session.renewed = True  # the session interface sets its cookie again
    return redirect(finished["next"] or url_for("me"))


def _invalid_sign_in():
    return _error_page(
        400,
        "This sign-in link is not valid",
        "It is unknown, was already used, belongs to another browser, or is older "
        "than 10 minutes. Nothing was exchanged.",
        error="invalid_state",
        retry=True,
        hint="Sign in again from this browser. If this keeps happening, open the app at "
        "the same address as ILERT_REDIRECT_URI (localhost and 127.0.0.1 keep separate "
        "cookies), and allow cookies for it.",
    )


def _exchange_failed(error):
    """The page for a code exchange that failed; the code is spent, so: sign in again."""
    log.warning("Code exchange failed: %s (%s)", error.error, error.status)
    if error.error == "invalid_grant":
        return _error_page(
            400,
            "This sign-in code was not accepted",
            "Authorization codes live 2 minutes and work once. Please sign in again.",
            error="invalid_grant",
            retry=True,
            hint="A code fails when the sign-in took longer than 2 minutes, when the page "
            "was reloaded or opened twice, or when ILERT_REDIRECT_URI differs from the "
            "redirect URL in the ilert app's settings.",
        )
    hint = "Sign in again in a moment."
    if error.error == "invalid_client":
        hint = (
            "ilert did not accept this app's client id and secret: compare ILERT_CLIENT_ID "
            "and ILERT_CLIENT_SECRET with the app's settings in ilert."
        )
    status = error.status if error.status in (502, 503, 504) else 502
    return _error_page(
        status,
        "ilert could not complete your sign-in",
        error.description,
        error=error.error,
        headers=_retry_after(error),
        retry=True,
        hint=hint,
    )


CONSENT_ERROR_HINTS = {
    "invalid_scope": "ILERT_SCOPES asks for a scope ilert does not know: use profile, "
    "offline_access, or a resource scope such as source:r, source:w or incident:r.",
    "unauthorized_client": "The ilert app may not use this flow: check its settings in ilert.",
    "server_error": "ilert had a problem. Try again in a moment.",
    "temporarily_unavailable": "ilert is busy. Try again in a moment.",
}


def _consent_error(error, description):
    """The page for an `error` that ilert sent back instead of a code."""
    if error == "access_denied":
        return _error_page(
            403,
            "Access was denied",
            "You did not allow this app to access your ilert account.",
            error="access_denied",
            retry=True,
            hint="Changed your mind? Sign in again and choose Allow.",
        )
    status = 502 if error in ("server_error", "temporarily_unavailable") else 400
    return _error_page(
        status,
        "ilert could not sign you in",
        f"ilert answered with {error}: {description}".strip(" :"),
        error=error,
        retry=True,
        hint=CONSENT_ERROR_HINTS.get(error),
    )


def _fetch_user(access_token):
    """The person's id, username and name, remembered for the home page. If ilert won't
    say, sign-in still succeeds and the values stay empty."""
    try:
        user = ilert_oauth.call_api("GET", "/api/users/current", access_token)
    except IlertError as error:
        log.warning("Could not read the signed-in user: %s", error.error)
        user = {}
    name = " ".join(filter(None, (user.get("firstName"), user.get("lastName"))))
    return {"id": user.get("id"), "username": user.get("username"), "name": name}


def _revoke_quietly(refresh_token):
    """Revoke a refresh token; True if it worked (or there was none)."""
    if not refresh_token:
        return True
    try:
        ilert_oauth.revoke(refresh_token)
        return True
    except IlertError as error:
        log.warning("Could not revoke a refresh token: %s", error.error)
        return False


@signed_in
def me():
    """The signed-in person's ilert profile (`GET /api/users/current`)."""
    user = token_store.call_api(session.sid, "GET", "/api/users/current")
    if wants_json():
        return jsonify(user)
    return render_template("me.html", profile=presentation.profile(user))


@signed_in
def token_info():
    """What ilert knows about the current access token (never the token itself)."""
    tokens = token_store.fresh_tokens(session.sid)
    info = ilert_oauth.token_info(tokens["access_token"])
    if wants_json():
        return jsonify(info)
    expires = datetime.fromtimestamp(tokens["expires_at"], UTC)
    return render_template(
        "token_info.html",
        info=info,
        expires=expires,
        expires_in_words=presentation.in_words(int(tokens["expires_at"] - store.now())),
        refreshes=bool(tokens.get("refresh_token")),
        scopes=presentation.scopes(info.get("scope")),
    )


@signed_in
def alert_sources():
    """A second API call through the same helper: the person's alert sources."""
    try:
        sources = token_store.call_api(session.sid, "GET", "/api/alert-sources")
    except IlertError as error:
        if error.status != 403:
            raise
        return _error_page(
            403,
            "This app may not read your alert sources",
            "Reading alert sources needs the scope source:r (or source:w). Add it to "
            "ILERT_SCOPES and sign in again.",
            error="missing_scope",
            retry=True,
            hint=presentation.missing_scope_hint(
                token_store.tokens_of(session.sid).get("scope") or ""
            ),
        )
    if wants_json():
        return jsonify(sources)
    return render_template("alert_sources.html", sources=sources)


def logout():
    """Revoke the refresh token at ilert, then destroy the session here."""
    sent = request.form.get("csrf_token", "")
    expected = session.get("csrf_token")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        return _error_page(
            400,
            "This sign-out form has expired",
            "Nothing was changed. Reload the page and try again.",
            error="invalid_csrf_token",
        )
    revoked = _revoke_quietly(token_store.forget(session.sid))
    token_store.forget_flow(session.sid)
    session.clear()  # Flask-Session deletes the stored session and clears the cookie
    response = redirect(url_for("home"))
    # The session is gone, so the home page learns how logout went from a short-lived
    # cookie that says only that.
    response.set_cookie(
        cookie_name(LOGOUT_NOTICE_COOKIE),
        "revoked" if revoked else "not_revoked",
        max_age=300,
        path="/",
        httponly=True,
        samesite="Lax",
        secure=current_app.config["SESSION_COOKIE_SECURE"],
    )
    return response


def end_session_past_max_age():
    """A session older than SESSION_MAX_AGE ends at its next request, however much it was
    used: its refresh token is revoked and the person is asked to sign in again."""
    signed_in_at = session.get("signed_in_at") if request.endpoint != "static" else None
    if signed_in_at is None:
        return None
    if store.now() - signed_in_at < current_app.config["SESSION_MAX_AGE"].total_seconds():
        return None
    _revoke_quietly(token_store.forget(session.sid))
    token_store.forget_flow(session.sid)
    raise SessionEnded("Your sign-in reached its maximum age. Please sign in again.")


def flow_inspector():
    """This session's last sign-in and API calls, step by step, every secret hidden."""
    if not current_app.config["FLOW_INSPECTOR"]:
        abort(404)
    calls = token_store.flow_of(session.sid)
    if wants_json():
        return jsonify(calls)
    return render_template("flow_inspector.html", calls=calls)


def note_session_id():
    """The session id this request started with: sign-in gives the session a new one."""
    if not current_app.session_interface.is_null_session(session):
        g.first_session_id = session.sid


def remember_ilert_calls(response):
    """Add this request's calls to ilert (noted by ilert_oauth) to the session's flow,
    kept beside the session. A sign-in's first step is kept with its pending sign-in until
    the callback, which starts the new session's flow with it; when the session got a new
    id, its flow moves along. Notes that cannot be kept are only logged."""
    first_session_id = g.get("first_session_id")
    calls = g.get("ilert_calls", [])
    nonce = g.get("sign_in_nonce")
    try:
        if request.endpoint == "login" and nonce is not None:
            token_store.keep_flow(nonce, calls, ttl=sign_ins.LIFETIME)
            return response
        if first_session_id is None or not (calls or session.sid != first_session_id):
            return response
        if request.endpoint == "authorize_result" and nonce is not None:
            earlier = token_store.flow_of(nonce)
            token_store.forget_flow(nonce)
        else:
            earlier = token_store.flow_of(first_session_id)
        if session.sid != first_session_id:
            token_store.forget_flow(first_session_id)
        if not session and request.endpoint == "authorize_result" and calls:
            session["flow_only"] = True  # a failed sign-in: keep a session to show its steps
        if session and (earlier or calls):
            token_store.keep_flow(session.sid, (earlier + calls)[-FLOW_INSPECTOR_LIMIT:])
    except StoreError as error:
        log.warning("Flow inspector notes not kept: %s", error)
    return response


def healthz():
    """`{"status": "ok", "session_store": "ok"}`, or 503. Anyone may ask, so why the store
    failed (a host, port, folder or error text) goes to the log, not into the answer."""
    try:
        store.current().check()
    except StoreError as error:
        log.error("Health check: session store unavailable: %s", error)
        return jsonify(status="unavailable", session_store="unavailable"), 503
    return jsonify(status="ok", session_store="ok")


# --- error handlers ------------------------------------------------------------------------


UPSTREAM_FAILURES = {  # our status: (title, what the person can do)
    502: (
        "ilert gave an unexpected answer",
        "Try again in a moment. You are still signed in.",
    ),
    503: (
        "ilert is unavailable right now",
        "Try again in a minute. You are still signed in. If you run this app, check that this "
        "server can reach ILERT_API_URL.",
    ),
    504: (
        "ilert did not answer in time",
        "Try again in a moment. If it keeps happening, HTTP_TIMEOUT may be too short for "
        "this server's connection to ilert.",
    ),
    None: (
        "ilert refused the request",
        "Your ilert role, or the scopes this app was granted, may not allow this.",
    ),
}
HTTP_ERRORS = {
    404: ("Page not found", "There is no page at this address."),
    405: ("Not allowed", "This page does not take that kind of request."),
}


def _register_error_handlers(app):
    @app.errorhandler(IlertError)
    def upstream_failed(error):
        log.warning("ilert call failed: %s (%s)", error.error, error.status)
        title, hint = UPSTREAM_FAILURES.get(error.status, UPSTREAM_FAILURES[None])
        return _error_page(
            error.status,
            title,
            error.description,
            error=error.error,
            headers=_retry_after(error),
            hint=hint,
        )

    @app.errorhandler(SessionEnded)
    def session_ended(error):
        if error.status is not None:
            log.warning("Session ended after an upstream failure (%s)", error.status)
            _end_session()
            return _error_page(
                error.status, "Please sign in again", str(error), error="session_ended", retry=True
            )
        _end_session(str(error), "warning")
        if wants_json():
            return _json_error(401, "session_ended", str(error))
        return redirect(url_for("home"))

    @app.errorhandler(LockBusy)
    def busy(error):
        return _error_page(
            503,
            "Please try again",
            "Another request of yours is still being handled (renewing your access to ilert, "
            "or signing you in).",
            error="refresh_busy",
            headers={"Retry-After": "1"},
        )

    @app.errorhandler(StoreError)
    def store_unavailable(error):
        log.error("Session store unavailable: %s", error)
        return _error_page(
            503,
            "Sessions are unavailable",
            "This app cannot reach its session store right now. Please try again soon.",
            error="session_store_unavailable",
            hint="If you run this app: check that Redis answers at REDIS_URL, or that "
            "SESSION_FILE_DIR is a writable folder. The app's log names the problem.",
        )

    @app.errorhandler(HTTPException)
    def http_error(error):
        title, message = HTTP_ERRORS.get(error.code, (error.name, error.description))
        allowed = getattr(error, "valid_methods", None)
        headers = {"Allow": ", ".join(allowed)} if allowed else None
        return _error_page(
            error.code, title, message, error=error.name.lower().replace(" ", "_"), headers=headers
        )


# --- python app.py ------------------------------------------------------------------------


def main():
    """Run the app on HOST:PORT, with the built-in sandbox when no client id is set."""
    load_dotenv()
    try:
        settings = config.load(os.environ)
        environ = dict(os.environ)
        sandbox_mode = settings["ILERT_CLIENT_ID"] is None
        if sandbox_mode:
            environ.update(_start_sandbox(settings, serve=not _reloader_supervisor()))
        app = create_app(environ, sandbox_mode=sandbox_mode)
    except ConfigError as error:
        stop_on_config_error(error)
    redirect_uri = urlsplit(app.config["ILERT_REDIRECT_URI"])
    redirect_port = redirect_uri.port or (443 if redirect_uri.scheme == "https" else 80)
    if redirect_port != app.config["PORT"]:
        print(
            f"Warning: ILERT_REDIRECT_URI uses port {redirect_port}, but PORT is "
            f"{app.config['PORT']}: ilert will send people to a port this app is not on "
            "(fine only behind a proxy that forwards it here)."
        )
    print(f"Open {redirect_uri.scheme}://{redirect_uri.netloc} in your browser.", flush=True)
    app.run(host=app.config["HOST"], port=app.config["PORT"], threaded=True)


def stop_on_config_error(error):
    """Print the one line that names the bad setting, and exit with code 3 (or 1 in the
    reloader's child process, for which werkzeug takes 3 to mean "start me again")."""
    print(f"Configuration error: {error}", file=sys.stderr, flush=True)
    sys.exit(1 if is_running_from_reloader() else CONFIG_ERROR_EXIT_CODE)


def _reloader_supervisor():
    """True in the process that, with FLASK_DEBUG on, only watches files and restarts the
    serving child process: it must not hold the sandbox's port."""
    return get_debug_flag() and not is_running_from_reloader()


def _start_sandbox(settings, serve=True):
    """Serve the sandbox in a background thread (unless `serve` is false); return the
    settings that point at it."""
    import sandbox  # only sandbox mode needs it: the app itself never depends on it

    port = settings["SANDBOX_PORT"]
    if serve:
        state_file = os.path.join(os.path.dirname(__file__), "instance", f"sandbox-{port}.json")
        os.makedirs(os.path.dirname(state_file), exist_ok=True)
        upstream = sandbox.create_app(
            redirect_uris=[settings["ILERT_REDIRECT_URI"]],
            access_token_ttl=settings["ILERT_SANDBOX_ACCESS_TOKEN_TTL"],
            state_file=state_file,
        )
        try:
            sandbox.serve_in_thread(upstream, "127.0.0.1", port)
        except OSError:
            raise ConfigError(
                f"SANDBOX_PORT {port} is busy: stop what uses it or set SANDBOX_PORT to a free port"
            ) from None
        print(
            f"Sandbox mode: no ILERT_CLIENT_ID is set, so a local stand-in for ilert runs on "
            f"http://localhost:{port} (nothing here talks to the real ilert).",
            flush=True,
        )
    return {
        "ILERT_CLIENT_ID": sandbox.CLIENT_ID,
        "ILERT_CLIENT_SECRET": sandbox.CLIENT_SECRET,
        "ILERT_AUTH_URL": f"http://localhost:{port}",
        "ILERT_API_URL": f"http://127.0.0.1:{port}",
        "SECRET_KEY": settings["SECRET_KEY"] or _sandbox_secret_key(),
    }


def _sandbox_secret_key():
    """Sandbox mode's SECRET_KEY, made once and kept in the instance folder (0600): every
    stored session is sealed with it, so a restart or the reloader must not change it."""
    folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), "instance")
    path = os.path.join(folder, "sandbox-secret-key")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    if not os.path.exists(path):
        descriptor, temporary = tempfile.mkstemp(dir=folder)  # 0600
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_hex(32))
        try:
            os.link(temporary, path)  # whole or not at all, and never over another's
        except FileExistsError:
            pass
        os.remove(temporary)
    with open(path) as file:
        return file.read().strip()


if __name__ == "__main__":
    main()
