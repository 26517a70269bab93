"""Flask-Session on top of the sealed store.

Flask-Session keeps the session cookie and the session's lifecycle (new ids at sign-in,
deletion at logout). Its cachelib session type reads and writes the session through a cache
object: `SessionCache` is ours, so the session is a sealed entry like every other, and nothing
read from the store is ever unpickled (cachelib's caches pickle; Flask-Session's own decoder
falls back to `pickle.loads`).

The session holds only what sign-in sets (the person, the CSRF token, when they signed in), so
Flask-Session writes it only then. Every tenth of its idle lifetime (at most hourly) a request
renews it instead: the session's entries get a fresh idle lifetime in place (`touch`, never a
rewrite that could put back what another request replaced) and the cookie is set again with
the new expiry.

`init_app` also gives the app `CookieRequest`, whose cookies every request with a session
reads: werkzeug's way to them walks the whole WSGI environ.
"""

from typing import Any, cast

import flask
from flask import Flask, Request, Response, current_app, has_request_context, request
from flask.sessions import SessionInterface, SessionMixin
from flask_session import Session
from flask_session.base import ServerSideSessionInterface
from flask_session.cachelib.cachelib import CacheLibSession
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.sansio.http import parse_cookie
from werkzeug.utils import cached_property

from store import BESIDE_SESSION, SealedStore, StoreError, current

KEY_PREFIX = "session:"
VISITOR_LIFETIME = 600  # seconds, as long as a pending sign-in
EXPIRES_AT = "app.session_expires_at"  # the WSGI environ key SessionCache notes it under
NO_SESSION_PATHS = ("/healthz", "/readyz")  # probes: no session read, written or set


class AppSession(CacheLibSession):
    """Flask-Session's session (a dict with a `sid`), which knows whether it was renewed:
    then its cookie is set again though the session itself was not written."""

    renewed: bool = False

    def __bool__(self) -> bool:
        """Whether it holds anything besides "_permanent" (Flask-Session's test, which copied
        the whole dict each time; Flask asks it several times per request)."""
        return len(self) > ("_permanent" in self)


def current_session() -> AppSession:
    """`flask.session`, typed as what it is."""
    return cast(AppSession, flask.session)


def regenerate() -> None:
    """Give the current session a new id (Flask-Session's, used at sign-in against
    fixation, and when an ended session carries only a message)."""
    cast(GuardedSessionInterface, current_app.session_interface).regenerate(current_session())


def still_stored(sid: str) -> bool:
    """Whether session `sid` is still in the store: another request of its browser may have
    moved it to a new id (a sign-in, a grant) or ended it (a logout) meanwhile, and then that
    one's cookie stands. A store that cannot say counts as yes."""
    try:
        return current().get("session", sid) is not None
    except StoreError:
        return True


def cookie_name(name: str, app_config: dict | None = None) -> str:
    """`name` with the `__Host-` prefix when cookies are Secure (Secure, `Path=/`, no
    `Domain`: no other host or path can set or shadow it), else `name` as it is."""
    secure = (app_config or current_app.config)["SESSION_COOKIE_SECURE"]
    return f"__Host-{name}" if secure else name


class SessionCache:
    """The cachelib calls Flask-Session makes (`get`, `set`, `delete` of `session:<id>`),
    answered from sealed entries of purpose "session"."""

    def __init__(self, store: SealedStore) -> None:
        self.store = store

    def get(self, key: str) -> Any | None:
        found = self.store.get_expiring("session", key.removeprefix(KEY_PREFIX))
        if found is None:
            return None
        if has_request_context():
            request.environ[EXPIRES_AT] = found[1]  # for GuardedSessionInterface's renewal
        return found[0]

    def set(self, key: str, value: dict, timeout: float) -> bool:
        """A session without a signed-in person (one that carries a message to the home page,
        or the flow inspector's notes of a failed sign-in) lives VISITOR_LIFETIME at most."""
        if "user" not in value:
            timeout = min(timeout, VISITOR_LIFETIME)
        self.store.put("session", key.removeprefix(KEY_PREFIX), value, timeout)
        return True

    def delete(self, key: str) -> bool:
        self.store.delete("session", key.removeprefix(KEY_PREFIX))
        return True


class CookieRequest(Request):
    """Flask's request, with its cookies read from the environ's one `HTTP_COOKIE`: werkzeug
    gathers them with `headers.getlist("Cookie")`, which walks the whole environ, and every
    request with a session reads them."""

    @cached_property
    def cookies(self) -> ImmutableMultiDict[str, str]:
        cookies = parse_cookie(self.environ.get("HTTP_COOKIE", ""), cls=self.dict_storage_class)
        return cast(ImmutableMultiDict[str, str], cookies)  # dict_storage_class is that


def init_app(app: Flask) -> None:
    """Flask-Session's cachelib type over our cache, wrapped in `GuardedSessionInterface`."""
    app.request_class = CookieRequest
    app.config.update(
        SESSION_TYPE="cachelib",
        SESSION_CACHELIB=SessionCache(app.extensions["store"]),
        SESSION_KEY_PREFIX=KEY_PREFIX,
        SESSION_REFRESH_EACH_REQUEST=False,
    )
    Session().init_app(app)
    app.session_interface = GuardedSessionInterface(app.session_interface, app.static_url_path)
    app.session_interface.inner.session_class = AppSession

    @app.before_request
    def stop_if_the_session_store_failed() -> None:
        error = request.environ.get("app.session_store_error")
        if error is not None:
            raise error


def vary_by_cookie(response: Response) -> None:
    """Say that the answer varies by cookie, as Flask-Session does. Most answers have no
    `Vary` yet, and setting the header is cheaper than werkzeug's parsed `response.vary`
    (`getlist`, since werkzeug's `in` raises and catches an exception for a missing header)."""
    if response.headers.getlist("Vary"):
        response.vary.add("Cookie")
    else:
        response.headers["Vary"] = "Cookie"


class GuardedSessionInterface(SessionInterface):
    """Flask-Session's interface, with no session at all for the probes and static files,
    idle renewal in place, and store failures turned into the app's 503 answer instead of an
    exception outside every handler."""

    def __init__(self, inner: SessionInterface, static_url_path: str | None) -> None:
        self.inner = cast(ServerSideSessionInterface, inner)
        self.static_files = f"{static_url_path}/"

    def open_session(self, app: Flask, request: Request) -> SessionMixin | None:
        if request.path in NO_SESSION_PATHS or request.path.startswith(self.static_files):
            return None  # Flask uses a null session: nothing is read, written or set.
        try:
            session = self.inner.open_session(app, request)
            if session and self._due(app, request.environ[EXPIRES_AT]):
                lifetime = app.permanent_session_lifetime.total_seconds()
                current().touch(["session", *BESIDE_SESSION], session.sid, lifetime)
                session.renewed = True
        except StoreError as error:
            request.environ["app.session_store_error"] = error
            return None
        return session

    @staticmethod
    def _due(app: Flask, expires_at: float) -> bool:
        """Whether a session found in the store is due for renewal: every tenth of its idle
        lifetime (at most hourly), not on every request."""
        lifetime = app.permanent_session_lifetime.total_seconds()
        return expires_at - current().clock() < lifetime - min(lifetime / 10, 3600)

    def save_session(self, app: Flask, session: Any, response: Response) -> None:
        if session and not session.modified:
            # Nothing to write, as on most requests: all Flask-Session would do is say that
            # the answer varies by cookie (SESSION_REFRESH_EACH_REQUEST is off).
            if session.renewed and still_stored(session.sid):
                self.set_cookie(app, session, response)
            elif session.accessed:
                vary_by_cookie(response)
            return
        try:
            self.inner.save_session(app, session, response)
        except StoreError as error:
            # The response is final by now: turn it into the error answer in place.
            failed = app.make_response(app.handle_user_exception(error))
            response.status_code = failed.status_code
            response.content_type = failed.content_type
            response.headers.pop("Location", None)
            response.set_data(failed.get_data())
            return
        if not session and session.modified and self.inner.get_cookie_secure(app):
            # Flask-Session clears the cookie without `Secure`, and a browser ignores that for
            # a __Host- cookie: clear it again, with the attributes it was set with.
            name = self.inner.get_cookie_name(app)
            others = [c for c in response.headers.getlist("Set-Cookie") if not c.startswith(name)]
            response.headers.setlist("Set-Cookie", others)
            response.delete_cookie(name, path="/", secure=True, httponly=True, samesite="Lax")

    def set_cookie(self, app: Flask, session: AppSession, response: Response) -> None:
        """Set the session cookie as Flask-Session does, for a session it did not write."""
        inner = self.inner
        response.set_cookie(
            inner.get_cookie_name(app),
            session.sid,
            expires=inner.get_expiration_time(app, session),
            httponly=inner.get_cookie_httponly(app),
            domain=inner.get_cookie_domain(app),
            path=inner.get_cookie_path(app),
            secure=inner.get_cookie_secure(app),
            samesite=inner.get_cookie_samesite(app),
        )
        vary_by_cookie(response)

    def regenerate(self, session: AppSession) -> None:
        """Give the session a new id (Flask-Session's, used at sign-in against fixation)."""
        self.inner.regenerate(session)
