"""The ilert OAuth2 backend app: `create_app()` puts the pieces together; `python app.py`
runs it on `config.DEFAULT_PORT`, with the built-in ilert sandbox when no ilert credentials
are set.

Where things are: `config.py` (settings; `config_checks.py` checks them), `ilert/` (the OAuth2
steps, the one way views call ilert, the session's tokens), `store/` (sealed sessions and what
lives beside them), `views/` (the pages), `errors.py` (error pages and headers), `inspector.py`
(the flow inspector), `sandbox/`.
"""

import sys

if sys.version_info < (3, 11):  # noqa: UP036 (said here, before an import fails on an old Python)
    version = ".".join(str(part) for part in sys.version_info[:3])
    sys.exit(f"This app needs Python 3.11 or newer; this is Python {version}.")

import os
import secrets
import tempfile
import time
from urllib.parse import urlsplit

from flask import Flask, request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.serving import is_running_from_reloader

import config
import config_checks
import config_sources
import errors
import inspector
import logs
import store
from config import ConfigError
from ilert import budget, upstream
from store.flask_session import cookie_name
from views import auth, grant, health, pages

CONFIG_ERROR_EXIT_CODE = 3  # gunicorn stops instead of restarting the worker
# Request bodies longer than this are refused (413): the app takes small forms only.
MAX_REQUEST_BODY = 64 * 1024  # deploy/nginx.conf's client_max_body_size


def create_app(test_config=None, *, sandbox_mode=False, clock=time.time) -> Flask:
    """Build the app.

    `test_config` is a mapping of the environment variables in `.env.example`,
    used instead of the real environment and `.env` (tests pass their own); a
    bad value then raises ConfigError. Without it (gunicorn, `flask run`) a bad
    value prints one line and exits with code 3.
    `sandbox_mode` is set by `python app.py` when it serves the built-in sandbox.
    `clock` is what the app reads the time from (tests pass one they move forward).
    """
    if test_config is None:
        try:
            config_sources.load_dotenv()
            return create_app(dict(os.environ), sandbox_mode=sandbox_mode, clock=clock)
        except ConfigError as error:
            stop_on_config_error(error)
    settings = config.require_client_id(config.load(test_config))

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
        MAX_CONTENT_LENGTH=MAX_REQUEST_BODY + 1,  # read one byte more: see refuse_a_long_body
    )
    app.before_request(refuse_a_long_body)
    logs.init_app(app)
    if settings["OTEL_EXPORTER_OTLP_ENDPOINT"]:
        import tracing  # only traces need it, and the otel extra (docs/production.md)

        tracing.init_app(app)
    store.init_app(app, clock)
    budget.init_app(app)
    upstream.init_app(app)
    errors.init_app(app)
    app.register_blueprint(pages.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(grant.bp)
    inspector.init_app(app)
    auth.init_app(app)
    app.jinja_env.globals.update(sandbox_mode=sandbox_mode, app_name=config.APP_NAME)  # per app
    app.wsgi_app = ForwardedByLocalProxy(app.wsgi_app)  # type: ignore[method-assign]
    return app


def refuse_a_long_body() -> None:
    """MAX_CONTENT_LENGTH refuses a body whose Content-Length is past it, and stops reading a
    chunked one there (without it, a chunked body was read into memory whole), but werkzeug
    then parses what it read. So a body is read up to one byte past MAX_REQUEST_BODY, and
    refused if that byte came: cut off, a chunked one could be read as another form."""
    if request.method == "POST" and len(request.get_data(cache=True)) > MAX_REQUEST_BODY:
        raise RequestEntityTooLarge()


class ForwardedByLocalProxy:
    """The client's address, scheme, host and port as the one proxy in front of the app sets
    them in X-Forwarded-For/-Proto/-Host/-Port (deploy/nginx.conf), believed only when the
    request comes from this machine, where that proxy runs (the app listens on loopback). A
    client that reaches the app any other way cannot claim another address or https."""

    def __init__(self, wsgi_app) -> None:
        self.direct = wsgi_app
        self.proxied = ProxyFix(wsgi_app, x_for=1, x_proto=1, x_host=1, x_port=1)

    def __call__(self, environ, start_response):
        if config_checks.is_loopback(environ.get("REMOTE_ADDR") or ""):
            return self.proxied(environ, start_response)
        return self.direct(environ, start_response)


# --- python app.py ------------------------------------------------------------------------


def main():
    """Run the app on HOST:PORT, with the built-in sandbox when no client id is set."""
    try:
        config_sources.load_dotenv()
        settings = config.load(os.environ)
        environ = dict(os.environ)
        sandbox_mode = settings["ILERT_CLIENT_ID"] is None
        # With FLASK_DEBUG, a supervisor process only watches files and restarts the serving
        # child: it must not hold the sandbox's port.
        supervisor = settings["FLASK_DEBUG"] and not is_running_from_reloader()
        if not is_running_from_reloader():  # the reloader's child inherits the socket
            config_checks.check_can_listen(settings["HOST"], settings["PORT"])
        if sandbox_mode:
            environ.update(_start_sandbox(settings, serve=not supervisor))
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
    app.run(
        host=app.config["HOST"],
        port=app.config["PORT"],
        debug=settings["FLASK_DEBUG"],
        threaded=True,
    )


def stop_on_config_error(error):
    """Print the one line that names the bad setting, and exit with code 3 (or 1 in the
    reloader's child process, for which werkzeug takes 3 to mean "start me again")."""
    print(f"Configuration error: {error}", file=sys.stderr, flush=True)
    sys.exit(1 if is_running_from_reloader() else CONFIG_ERROR_EXIT_CODE)


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
        "ILERT_REDIRECT_URI": settings["ILERT_REDIRECT_URI"],
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
