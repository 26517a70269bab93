"""Signing in and out: `/login`, ilert's callback (at ILERT_REDIRECT_URI's path), `/logout`.

Each view reads the request, calls one step of `ilert.oauth`, updates the session and
redirects or renders. Pending sign-ins live in `store.sign_ins`, tokens in `ilert.session_tokens`.
"""

import logging
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import SplitResult, unquote, urlsplit

from flask import (
    Blueprint,
    Flask,
    current_app,
    g,
    make_response,
    redirect,
    request,
    session,
    url_for,
)
from werkzeug.wrappers import Response

import metrics
import store
from config import LANDING_PAGE, LOGOUT_NOTICE_COOKIE, ConfigError
from errors import error_page
from ilert import budget, oauth, session_tokens
from ilert.oauth import IlertError
from ilert.session_tokens import SessionEnded
from store import sign_ins
from store.flask_session import cookie_name, current_session
from views.csrf import csrf_token_valid, form_expired

CONSENT_ERROR_HINTS = {
    "invalid_scope": "ILERT_SCOPES asks for a scope ilert does not know: use profile, "
    "offline_access, or a resource scope such as source:r, source:w or incident:r.",
    "unauthorized_client": "The ilert app may not use this flow: check its settings in ilert.",
    "server_error": "ilert had a problem. Try again in a moment.",
    "temporarily_unavailable": "ilert is busy. Try again in a moment.",
}
REPLACED_BY = "replaced-by"  # the entry naming the session a sign-in made in place of another
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")

bp = Blueprint("auth", __name__)
log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    """Register the views, the callback at the redirect URI's path (after every other page,
    so that it can be checked to be one of its own), and the max-age check."""
    app.register_blueprint(bp)
    path = urlsplit(app.config["ILERT_REDIRECT_URI"]).path
    if path in ("", "/") or any(rule.rule == path for rule in app.url_map.iter_rules()):
        raise ConfigError(
            f"ILERT_REDIRECT_URI is malformed: its path {path or '(none)'!r} must be "
            "one of its own, such as /authorize-result, not a page the app already has"
        )
    app.add_url_rule(path, endpoint="auth.authorize_result", view_func=authorize_result)
    app.before_request(end_session_past_max_age)


@bp.route("/login")
def login():
    """Start a sign-in: fresh state and PKCE verifier, kept here, then off to ilert."""
    redirect_origin = urlsplit(current_app.config["ILERT_REDIRECT_URI"])
    if not _same_host(request.host, redirect_origin):
        # The sign-in cookie must be set on the host ilert sends the person back to.
        return redirect(
            f"{redirect_origin.scheme}://{redirect_origin.netloc}{request.full_path.rstrip('?')}"
        )
    return begin_sign_in(safe_next(request.args.get("next")))


def begin_sign_in(next_path: str | None, scopes: str | None = None) -> Response:
    """A fresh pending sign-in, sealed in its cookie, and the redirect to ilert's authorize
    URL; `scopes` (a grant of more scopes, views.grant) instead of ILERT_SCOPES."""
    pending = sign_ins.start(
        next_path, use_pkce=current_app.config["ILERT_USE_PKCE"], scopes=scopes
    )
    challenge = oauth.pkce_challenge(pending.verifier) if pending.verifier else None
    response = redirect(oauth.authorize_url(pending.state, challenge, scopes))
    sign_ins.set_cookie(response, pending)
    return response


def authorize_result() -> Response:
    """ilert sends the person back here: check state, then exchange the code for tokens."""
    response = make_response(_authorize_result())
    metrics.SIGN_INS.labels(metrics.sign_in_outcome(response.status_code)).inc()
    return response


def _authorize_result():
    states = request.args.getlist("state")
    pending = sign_ins.pending_for(states[0]) if len(states) == 1 else None
    if pending is None:
        return _invalid_sign_in()
    g.sign_in = pending
    with sign_ins.callback_lock(pending):
        finished = sign_ins.finished(pending)
        if finished is not None:
            return _continued_or_invalid(finished)
        response = _finish_sign_in(pending)
    sign_ins.forget_cookie(response, pending.state)
    return response


@bp.route("/logout", methods=["POST"])
def logout():
    """Revoke the refresh token at ilert, then destroy the session here."""
    if not csrf_token_valid():
        return form_expired("sign-out form")
    revoked = session_tokens.revoke_quietly(session_tokens.forget(current_session().sid))
    store.forget_beside_session(current_session().sid)
    session.clear()  # Flask-Session deletes the stored session and clears the cookie
    response = redirect(url_for("pages.home"))
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


def end_session_past_max_age() -> None:
    """A session older than SESSION_MAX_AGE ends at its next request, however much it was
    used: its refresh token is revoked and the person is asked to sign in again."""
    signed_in_at = session.get("signed_in_at")  # static files have no session: None
    if signed_in_at is None:
        return
    if store.now() - signed_in_at < current_app.config["SESSION_MAX_AGE"].total_seconds():
        return
    session_tokens.revoke_quietly(session_tokens.forget(current_session().sid))
    store.forget_beside_session(current_session().sid)
    metrics.MAX_AGE_ENDS.inc()
    raise SessionEnded("Your sign-in reached its maximum age. Please sign in again.")


def safe_next(value: str | None) -> str | None:
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


def _same_host(host: str, origin: SplitResult) -> bool:
    """Whether a request's Host header names the same host and port as `origin`."""
    default_port = 443 if origin.scheme == "https" else 80
    try:
        requested = urlsplit("//" + host)
        requested_port = requested.port or default_port
    except ValueError:
        return False
    return (requested.hostname, requested_port) == (origin.hostname, origin.port or default_port)


def _finish_sign_in(sign_in: sign_ins.PendingSignIn) -> Response:
    """The rest of the callback, for the request that claimed the pending sign-in."""
    from views import grant  # it starts its sign-ins with this module's begin_sign_in

    refused = request.args.get("error")
    if refused:
        sign_ins.note_refused(sign_in)
    if refused == "access_denied" and sign_in.scopes is not None:
        return grant.denied(sign_in)
    if refused:
        return make_response(_consent_error(refused, request.args.get("error_description", "")))
    code = request.args.get("code")
    if not code or len(request.args.getlist("code")) > 1:
        return make_response(
            error_page(
                400,
                "ilert sent no code",
                "The answer from ilert had no usable authorization code.",
                error="invalid_request",
                retry=True,
            )
        )
    browser = _this_browser()
    replaced = _replaced_in(browser)  # before the exchange (_replacing_this_browsers_session)
    # Claimed before the code goes to ilert, never to go again: a store that takes no writes
    # is found out while the code is still unused, and a reload then signs in with it.
    sign_ins.claim(sign_in)
    try:
        tokens = oauth.exchange_code(code, sign_in.verifier)
    except IlertError as error:
        if error.error == budget.BUSY_ERROR:  # the code never went to ilert: it still may
            sign_ins.unclaim(sign_in)
        return make_response(_exchange_failed(error))
    sid_before = current_session().sid
    try:
        if sign_in.scopes is not None:
            return grant.finish(sign_in, code, tokens)
        user = _fetch_user(tokens["access_token"])
        with _replacing_this_browsers_session(browser, replaced):
            with session_tokens.replacing(tokens):
                session.clear()
                session["user"] = user
                session["csrf_token"] = secrets.token_urlsafe(32)
                session["signed_in_at"] = store.now()
                sign_ins.keep_finished(sign_in, code, current_session().sid, dict(session))
    except Exception:  # a store that refused or stayed locked: nothing of it left alive
        session_tokens.revoke_quietly(tokens.get("refresh_token"))
        if current_session().sid != sid_before:
            session.clear()  # the new session, which would hold them: not kept, no cookie
        raise
    return redirect(sign_in.next or url_for(LANDING_PAGE))


@contextmanager
def _replacing_this_browsers_session(browser: str | None, replaced: object) -> Iterator[None]:
    """Run a sign-in's switch to its new session one at a time per browser (`_this_browser`).
    Two callbacks finishing at once in one browser (two tabs) both start from what it held:
    the later one also ends the session the earlier made, which the browser will not keep (its
    refresh token is revoked), so no second session lives on unseen.

    Only a callback that was under way when the earlier finished does so (the session named
    changed since `replaced`, read as the callback began): a later one, from someone holding
    the same cookie (tossed into the browser by whoever made it), must not sign out the person
    who signed in there."""
    if browser is None:
        yield
        return
    most = 3 * current_app.config["HTTP_TIMEOUT"]
    with store.current().lock(REPLACED_BY, browser, wait=most, hold=most + 5):
        earlier = store.current().get(REPLACED_BY, browser)
        if isinstance(earlier, str) and earlier != replaced:
            session_tokens.revoke_quietly(session_tokens.forget(earlier))
            store.forget_beside_session(earlier)
            store.current().delete("session", earlier)
        yield
        store.current().put(REPLACED_BY, browser, current_session().sid, sign_ins.LIFETIME)


def _replaced_in(browser: str | None) -> object:
    """The session a sign-in in `browser` made last (REPLACED_BY), if any."""
    return None if browser is None else store.current().get(REPLACED_BY, browser)


def _this_browser() -> str | None:
    """What every callback of a browser's tabs carries: the session cookie it holds or, signed
    out, the first of its pending sign-in cookies (each request sends them all)."""
    held = request.cookies.get(current_app.config["SESSION_COOKIE_NAME"])
    if held:
        return held
    prefix = sign_ins.cookie_prefix()
    pending = sorted(value for name, value in request.cookies.items() if name.startswith(prefix))
    return pending[0] if pending else None


def _continued_or_invalid(finished: dict):
    """A second copy of a callback that signed the person in (a double click, a reload):
    continue in the session it made, if this copy carries the same code (what ilert sent this
    browser: a tossed sign-in cookie alone is not enough) and that session is still signed in
    (never brought back after logout); otherwise the link is not valid. The session is written
    again (the same data) with its cookie, since the first copy's answer may not have written
    it yet."""
    codes = request.args.getlist("code")
    code = codes[0] if len(codes) == 1 else None
    if not sign_ins.may_continue(finished, code) or not _still_signed_in(finished["sid"]):
        return _invalid_sign_in()
    adopted = current_session()
    adopted.clear()
    adopted.update(finished["data"])
    adopted.sid = finished["sid"]
    return redirect(finished["next"] or url_for(LANDING_PAGE))


def _still_signed_in(sid: str) -> bool:
    """Whether session `sid` still has its tokens (logout and every sign-out delete them)."""
    return store.current().get("tokens", sid) is not None


def _invalid_sign_in():
    return error_page(
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


def _exchange_failed(error: IlertError):
    """The page for a code exchange that failed; the code is spent, so: sign in again."""
    log.warning("Code exchange failed: %s (%s)", error.error, error.status)
    if error.error == "invalid_grant":
        return error_page(
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
    headers = {"Retry-After": error.retry_after} if error.retry_after else None
    return error_page(
        status,
        "ilert could not complete your sign-in",
        error.description,
        error=error.error,
        headers=headers,
        retry=True,
        hint=hint,
    )


def _consent_error(error: str, description: str):
    """The page for an `error` that ilert sent back instead of a code."""
    if error == "access_denied":
        return error_page(
            403,
            "Access was denied",
            "You did not allow this app to access your ilert account.",
            error="access_denied",
            retry=True,
            hint="Changed your mind? Sign in again and choose Allow.",
        )
    status = 502 if error in ("server_error", "temporarily_unavailable") else 400
    return error_page(
        status,
        "ilert could not sign you in",
        f"ilert answered with {error}: {description}".strip(" :"),
        error=error,
        retry=True,
        hint=CONSENT_ERROR_HINTS.get(error),
    )


def _fetch_user(access_token: str) -> dict:
    """The person's id, username and name, remembered for the home page. If ilert won't
    say, sign-in still succeeds and the values stay empty."""
    try:
        user = oauth.call_api("GET", "/api/users/current", access_token)
    except IlertError as error:
        log.warning("Could not read the signed-in user: %s", error.error)
        user = {}
    if not isinstance(user, dict):
        log.warning("Could not read the signed-in user: ilert's answer was not an object")
        user = {}
    names = [user.get("firstName"), user.get("lastName"), user.get("username")]
    first, last, username = [value if isinstance(value, str) else None for value in names]
    return {
        "id": user.get("id"),
        "username": username,
        "name": " ".join(filter(None, (first, last))),
    }
