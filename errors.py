"""How every failure is answered (a page, or JSON for JSON callers), the headers every answer
carries, and the redaction of the callback's secrets from access logs."""

import functools
import logging
import re
from collections.abc import Callable, Iterable
from typing import Any

from flask import (
    Flask,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.datastructures import MIMEAccept
from werkzeug.exceptions import HTTPException
from werkzeug.http import parse_accept_header

import metrics
from ilert import client, scopes, session_tokens
from ilert.client import MissingScope
from ilert.oauth import IlertError
from ilert.session_tokens import SessionEnded
from logs import request_id
from store import LockBusy, StoreError
from store.flask_session import current_session, regenerate, still_stored

# Forms post to this app, and /grant's answer redirects a form to ilert's sign-in, which
# browsers check against form-action too: `{sign_in}` is ILERT_AUTH_URL.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self' https:; form-action 'self' {sign_in}; "
    "frame-ancestors 'none'; base-uri 'none'"
)
HSTS = "max-age=31536000"  # a year (RFC 6797)
UPSTREAM_FAILURES = {  # the IlertError's status (ours for 5xx, ilert's 400, 404): (title, hint)
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
    404: (
        "ilert has no such record",
        "It may have been deleted at ilert meanwhile: reload the page to see what ilert has now.",
    ),
    400: (
        "ilert refused the request",
        "ilert did not take what this page asked for, for the reason above. If you run this "
        "app, LOG_LEVEL=debug logs each call to ilert with its parameters.",
    ),
    None: (
        "ilert refused the request",
        "Your ilert role, or the scopes this app was granted, may not allow this.",
    ),
}
BUSY = ("ilert_busy", "rate_limited")  # the deployment's budget is spent, or ilert said 429
BUSY_PAGE = ("ilert is busy", "Try again in {seconds} s. You are still signed in.")
HTTP_ERRORS = {
    404: ("Page not found", "There is no page at this address."),
    405: ("Not allowed", "This page does not take that kind of request."),
}
ACTIONS = {"r": "read", "w": "change", "d": "delete"}  # what a scope's access level allows
CALLBACK_SECRETS = ("code", "state")  # the callback's parameters the access log never shows


def _as_a_server_reads_it(name: str) -> str:
    """A pattern for `name` with each letter plain or percent-encoded (`%63ode` is `code` to
    the app, which decodes before it reads)."""
    return "".join(f"(?:{re.escape(letter)}|(?i:%{ord(letter):02x}))" for letter in name)


# `code=` or `state=` wherever a log format puts it (after ?, &, a space, a quote, `q=`...),
# in any percent-encoding, but not as the end of a longer name such as `error_code=`.
_CALLBACK_SECRETS = re.compile(
    r"((?<![\w.~%+-])(?:"
    + "|".join(_as_a_server_reads_it(name) for name in CALLBACK_SECRETS)
    + r")=)[^&\s\"']*"
)

log = logging.getLogger(__name__)


def wants_json() -> bool:
    """True when the caller's Accept header prefers JSON over HTML."""
    return _prefers_json(request.headers.get("Accept"))


@functools.lru_cache(maxsize=256)
def _prefers_json(accept: str | None) -> bool:
    """Decided once per distinct Accept header: a browser or an API client sends the same
    one on every request, and parsing a browser's takes as long as reading the session."""
    best = parse_accept_header(accept, MIMEAccept).best_match(["text/html", "application/json"])
    return best == "application/json"


def json_error(status: int, error: str, message: str, headers: dict | None = None):
    """`{"error": ..., "message": ...}` with `status`: what every JSON caller gets."""
    return jsonify(error=error, message=message), status, headers or {}


def error_page(
    status: int, title: str, message: str, error: str = "error", headers=None, **context
):
    """The one way every failure is answered: an HTML page, or JSON for JSON callers."""
    if wants_json():
        return json_error(status, error, message, headers)
    page = render_template(
        "errors/error.html", title=title, message=message, request_id=request_id(), **context
    )
    return page, status, headers or {}


def missing_scope_page(error: MissingScope):
    """ilert refused a call for a scope: which one, and what to do about it."""
    log.warning("ilert refused a call for a missing scope (%s)", error.needed)
    resource, _, access = (error.needed or "").partition(":")
    if resource in scopes.RESOURCES:
        title = f"This app may not {ACTIONS[access]} your {scopes.RESOURCES[resource]}"
    else:
        title = "This app may not do that for you"
    needs = f": it needs the scope {error.needed}" if error.needed else ""
    return error_page(
        403,
        title,
        f"ilert refused the call{needs}.",
        error="missing_scope",
        retry=True,
        hint=scopes.missing_scope_hint(
            error.needed, session_tokens.granted_scopes(), current_app.config["ILERT_SCOPES"]
        ),
    )


def end_session(message: str | None = None, category: str = "info") -> None:
    """Destroy the session. With a message, the browser gets a fresh session id that
    carries only the message."""
    session.clear()
    if message:
        flash(message, category)
        regenerate()


def init_app(app: Flask) -> None:
    """Register the error handlers, the security headers and the access-log redaction."""
    secure = app.config["SESSION_COOKIE_SECURE"]
    app.wsgi_app = SecurityHeaders(  # type: ignore[method-assign]
        app.wsgi_app, secure, app.static_url_path, app.config["ILERT_AUTH_URL"]
    )
    for name in ("werkzeug", "gunicorn.access"):
        access_log = logging.getLogger(name)
        if not any(isinstance(f, RedactCallbackParameters) for f in access_log.filters):
            access_log.addFilter(RedactCallbackParameters())

    app.errorhandler(MissingScope)(missing_scope_page)

    @app.errorhandler(client.Refused)
    def refused(error: client.Refused):
        log.warning("ilert refused a change: %s (%s)", error.error, error.status)
        return error_page(
            error.status,
            "ilert refused this change",
            f"ilert answered: {error.description}",
            error=error.error,
            hint="Nothing was changed. Go back and reload the page to see how things stand "
            "now, then try again if it still makes sense.",
        )

    @app.errorhandler(client.OutcomeUnknown)
    def outcome_unknown(error: client.OutcomeUnknown):
        log.warning("A change's answer was lost: %s (%s)", error.error, error.status)
        return error_page(
            error.status,
            "It is not known whether this change was made",
            f"{error.description} ilert may or may not have made the change; it was not "
            "sent again.",
            error="outcome_unknown",
            hint="Go back and reload the page to see whether it was made before you try again.",
        )

    @app.errorhandler(IlertError)
    def upstream_failed(error: IlertError):
        log.warning("ilert call failed: %s (%s)", error.error, error.status)
        # ilert refusing what this app sent (a 400, or a 401 for its client) is a bad
        # upstream answer for the person: never our own 400 or 401 ("not signed in"). ilert's
        # 404 stays one: the record asked for (a detail page's, an action's) is not there.
        status = error.status if error.status in (404, 502, 503, 504) else 502
        title, hint = UPSTREAM_FAILURES.get(error.status, UPSTREAM_FAILURES[None])
        if error.error in BUSY and error.retry_after:
            title, hint = BUSY_PAGE[0], BUSY_PAGE[1].format(seconds=error.retry_after)
        headers = {"Retry-After": error.retry_after} if error.retry_after else None
        return error_page(
            status, title, error.description, error=error.error, headers=headers, hint=hint
        )

    @app.errorhandler(SessionEnded)
    def session_ended(error: SessionEnded):
        if not still_stored(current_session().sid):
            current_session().renewed = False  # moved or ended meanwhile: this sets no cookie
        elif error.status is not None:
            end_session()
        else:
            end_session(str(error), "warning")
        if error.status is not None:
            log.warning("Session ended after an upstream failure (%s)", error.status)
            return error_page(
                error.status, "Please sign in again", str(error), error="session_ended", retry=True
            )
        if wants_json():
            return json_error(401, "session_ended", str(error))
        return redirect(url_for("pages.home"))

    @app.errorhandler(LockBusy)
    def busy(error: LockBusy):
        metrics.BUSY.labels("refresh_busy").inc()
        return error_page(
            503,
            "Please try again",
            "Another request of yours is still being handled (renewing your access to ilert, "
            "or signing you in).",
            error="refresh_busy",
            headers={"Retry-After": "1"},
        )

    @app.errorhandler(StoreError)
    def store_unavailable(error: StoreError):
        log.error("Session store unavailable: %s", error)
        metrics.STORE_ERRORS.inc()
        return error_page(
            503,
            "Sessions are unavailable",
            "This app cannot reach its session store right now. Please try again soon.",
            error="session_store_unavailable",
            hint="If you run this app: check that Redis answers at REDIS_URL, or that "
            "SESSION_FILE_DIR is a writable folder. The app's log names the problem.",
        )

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        code = error.code or 500
        title, message = HTTP_ERRORS.get(code, (error.name, error.description or ""))
        allowed = getattr(error, "valid_methods", None)
        headers = {"Allow": ", ".join(allowed)} if allowed else None
        return error_page(
            code, title, message, error=error.name.lower().replace(" ", "_"), headers=headers
        )


def security_headers(secure: bool, static: bool, sign_in: str) -> list[tuple[str, str]]:
    """No inline code, no framing, no referrer (the callback URL carries the code), no
    caching of pages that show account data (static files may be cached); HSTS when the
    cookie is Secure, so browsers never try plain http, where cookies can be tossed in
    (`includeSubDomains` is the operator's call: the app cannot know every subdomain)."""
    headers = [
        ("Content-Security-Policy", CONTENT_SECURITY_POLICY.format(sign_in=sign_in)),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
    ]
    if secure:
        headers.append(("Strict-Transport-Security", HSTS))
    if not static:
        headers.append(("Cache-Control", "no-store"))
    return headers


class SecurityHeaders:
    """WSGI middleware that gives every answer `security_headers` (no view sets them itself),
    by the settings the app was built with.

    Added to the list the answer starts with, from lists made once: an `after_request` that
    set them one by one on the response cost more than reading the session from the store,
    since Flask validates each header once when it is set and again when the answer leaves."""

    def __init__(
        self, wsgi_app: Callable, secure: bool, static_url_path: str | None, sign_in: str
    ) -> None:
        self.wsgi_app = wsgi_app
        self.static_files = f"{static_url_path}/"
        self.for_pages = security_headers(secure, static=False, sign_in=sign_in)
        self.for_static_files = security_headers(secure, static=True, sign_in=sign_in)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = "/" + environ.get("PATH_INFO", "").lstrip("/")  # as Flask routes it

        def start(status: str, headers: list, exc_info: Any = None) -> Callable:
            served = path.startswith(self.static_files) and status[:1] in "23"  # not an error
            added = self.for_static_files if served else self.for_pages
            return start_response(status, headers + added, exc_info)

        return self.wsgi_app(environ, start)


class RedactCallbackParameters(logging.Filter):
    """Replace the callback's `code` and `state` values in access log lines.

    The line is formatted here, once, and redacted as a whole; its arguments are dropped, so
    that no handler sees them: gunicorn's hold every request header (the session cookie among
    them) and environ variable, far more than a line prints."""

    def filter(self, record: logging.LogRecord) -> bool:
        line = record.getMessage()
        # Most lines have no `=`, without which no parameter has a value to redact.
        record.msg = _CALLBACK_SECRETS.sub(r"\1[redacted]", line) if "=" in line else line
        record.args = ()
        return True
