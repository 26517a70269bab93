"""Server-side sessions: Flask-Session, plus the token store beside it.

`SESSION_TYPE=filesystem` maps to Flask-Session's cachelib type with a
`FileSystemCache` that never drops sessions and raises when a write fails;
`SESSION_TYPE=redis` to its redis type. Either way the session store failing
answers 503 with a page, never a 500 with a traceback.
"""

import logging
import os
import time

import redis
from flask import request
from flask.sessions import SessionInterface
from flask_session import Session

import token_store
from token_store import SessionStoreError

STORE_ERRORS = (SessionStoreError, redis.RedisError)

log = logging.getLogger(__name__)


def init_app(app, on_store_error):
    """Set up sessions and the token store for `app.config["SESSION_TYPE"]`.

    `on_store_error(error)` builds the response for a request whose session
    could not be saved.
    """
    if app.config["SESSION_TYPE"] == "redis":
        timeout = app.config["HTTP_TIMEOUT"]
        client = redis.Redis.from_url(
            app.config["REDIS_URL"], socket_timeout=timeout, socket_connect_timeout=timeout
        )
        app.config.update(SESSION_TYPE="redis", SESSION_REDIS=client)
        app.extensions["token_store"] = token_store.RedisTokenStore(client)
    else:
        # SESSION_FILE_DIR holds three folders: sessions/, tokens/ and locks/.
        folder = app.config["SESSION_FILE_DIR"] or os.path.join(app.instance_path, "sessions")
        os.makedirs(folder, mode=0o700, exist_ok=True)
        # Flask-Session's own "filesystem" type is deprecated, and its default threshold
        # silently deletes sessions beyond 500: cachelib with threshold=0 never drops any.
        app.config.update(
            SESSION_TYPE="cachelib",
            SESSION_CACHELIB=token_store.StrictFileSystemCache(
                os.path.join(folder, "sessions"), threshold=0, mode=0o600
            ),
        )
        app.extensions["token_store"] = token_store.FileTokenStore(folder)
    # Writing every session back on every request is what SESSION_REFRESH_EACH_REQUEST
    # would do; GuardedSessionInterface renews idle sessions far less often instead.
    app.config["SESSION_REFRESH_EACH_REQUEST"] = False
    Session().init_app(app)
    app.session_interface = GuardedSessionInterface(app.session_interface, on_store_error)

    @app.before_request
    def stop_if_the_session_store_failed():
        error = request.environ.get("app.session_store_error")
        if error is not None:
            raise SessionStoreError(str(error))


def _renew_interval(app):
    """How often an idle session's lifetime is renewed: a tenth of it, at most an hour."""
    return min(3600, app.permanent_session_lifetime.total_seconds() / 10)


class GuardedSessionInterface(SessionInterface):
    """Flask-Session's interface, with a health check that opens no session, store
    failures turned into a 503 answer instead of an exception outside any handler, and
    idle sessions renewed only every so often rather than written on every request."""

    def __init__(self, inner, on_store_error):
        self.inner = inner
        self.on_store_error = on_store_error

    def open_session(self, app, request):
        if request.path == "/healthz":
            return None  # Flask uses a null session: nothing is read, written or set.
        try:
            session = self.inner.open_session(app, request)
            if session and time.time() - session.get("renewed_at", 0) > _renew_interval(app):
                session["renewed_at"] = time.time()  # saved with a fresh lifetime and cookie
                token_store.touch(session.sid)
        except STORE_ERRORS as error:
            request.environ["app.session_store_error"] = error
            return None
        return session

    def save_session(self, app, session, response):
        try:
            self.inner.save_session(app, session, response)
        except STORE_ERRORS as error:
            log.error("Could not save a session: %s", error)
            # The response is final by now: turn it into the error answer in place.
            failed = self.on_store_error(error)
            response.status_code = failed.status_code
            response.content_type = failed.content_type
            response.headers.pop("Location", None)
            response.set_data(failed.get_data())

    def regenerate(self, session):
        """Give the session a new id (Flask-Session's, used at sign-in against fixation)."""
        self.inner.regenerate(session)
