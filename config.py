"""Settings, read once at start-up from the environment and `.env`.

Every variable in `.env.example` is read here, with its default (gunicorn.conf.py uses the
gunicorn ones); `app.py` and gunicorn.conf.py read `.env` into the environment first
(`config_sources.load_dotenv`). Each value is checked by `config_checks.py`: a missing or
malformed one raises `ConfigError`, whose message is the one line `app.py` (or
gunicorn.conf.py) prints before it stops (exit code 3, which also stops gunicorn from
restarting workers).
"""

import config_checks as check
from config_checks import ConfigError
from config_sources import available_cores

# --- What a fork renames, here and nowhere else: the app, the sandbox, the tests, bench and
# scripts read these names (or ask the app under test), so renaming one breaks no test.
APP_NAME = "ilert OAuth2 backend app"  # in every page's title and header
APP_VERSION = "1.0"  # with APP_NAME, the User-Agent of every call to ilert
DEFAULT_PORT = 4597  # PORT
DEFAULT_SANDBOX_PORT = 4598  # SANDBOX_PORT
CALLBACK_PATH = "/authorize-result"  # the path of the default ILERT_REDIRECT_URI
DEFAULT_SCOPES = "profile source:w"  # ILERT_SCOPES: what sign-in asks for first
LANDING_PAGE = "pages.me"  # the page (its view's endpoint) a sign-in ends on without `next`
SESSION_COOKIE = "session"  # SESSION_COOKIE_NAME
LOGOUT_NOTICE_COOKIE = "logout_notice"  # says on the home page how logout went
SIGN_IN_COOKIE_PREFIX = "sign-in-"  # one cookie per pending sign-in, named after its state


def redirect_uri_at(port: int) -> str:
    """The redirect URI of an app served at `http://localhost:<port>`."""
    return f"http://localhost:{port}{CALLBACK_PATH}"


DEFAULT_REDIRECT_URI = redirect_uri_at(DEFAULT_PORT)  # ILERT_REDIRECT_URI
# ---
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
LOG_FORMATS = ("text", "json")
SESSION_TYPES = ("filesystem", "redis")


def load(environ):
    """Return the checked settings from `environ` as a dict for `app.config`.

    Keys are the variable names, values are parsed (URLs, numbers, booleans,
    durations). `ILERT_CLIENT_ID` is None in sandbox mode, which only
    `python app.py` can serve: it fills in the sandbox's values itself.
    """

    def get(name, default=None):
        value = check.text(name, environ.get(name, "").strip())
        return value if value else default

    client_id = get("ILERT_CLIENT_ID")
    port = check.port("PORT", get("PORT", str(DEFAULT_PORT)))
    # In sandbox mode nothing is registered at ilert yet, so the default follows PORT.
    default_redirect_uri = DEFAULT_REDIRECT_URI if client_id else redirect_uri_at(port)
    redirect_uri = check.url("ILERT_REDIRECT_URI", get("ILERT_REDIRECT_URI", default_redirect_uri))
    if client_id is None:
        for name in ("ILERT_CLIENT_SECRET", "ILERT_TENANT", "ILERT_AUTH_URL", "ILERT_API_URL"):
            if get(name) is not None:
                raise ConfigError(
                    f"{name} is set but ILERT_CLIENT_ID is not: set the app's client id "
                    f"too, or unset {name} to use the built-in sandbox"
                )
    elif get("ILERT_CLIENT_SECRET") is None:
        raise ConfigError("ILERT_CLIENT_SECRET is missing: it is required with ILERT_CLIENT_ID")
    if client_id is not None and get("SECRET_KEY") is None:
        raise ConfigError(
            "SECRET_KEY is missing: set it to a long random value, e.g. the output of "
            'python -c "import secrets; print(secrets.token_hex(32))"'
        )

    cookie_secure = check.boolean(
        "SESSION_COOKIE_SECURE",
        get("SESSION_COOKIE_SECURE", str(redirect_uri.startswith("https:"))),
    )
    if client_id is not None:
        check.redirect_uri(redirect_uri, cookie_secure)
    secret_key = check.secret_key(get("SECRET_KEY"))

    tenant = check.tenant(get("ILERT_TENANT"))
    auth_url = check.url(
        "ILERT_AUTH_URL", get("ILERT_AUTH_URL", "https://app.ilert.com"), origin=True
    )
    if tenant is not None:
        auth_url = f"https://{tenant}.ilert.com"
    api_url = check.url("ILERT_API_URL", get("ILERT_API_URL", "https://api.ilert.com"), origin=True)
    if client_id is not None:
        check.require_https("ILERT_AUTH_URL", auth_url, "the sign-in and its code would travel")
        check.require_https(
            "ILERT_API_URL", api_url, "the client secret and every token would travel"
        )
    host = get("HOST", "127.0.0.1")
    debug = check.flask_debug(get("FLASK_DEBUG", "false"))
    check.host(host, sandbox_mode=client_id is None, debug=debug)
    sandbox_port = check.port("SANDBOX_PORT", get("SANDBOX_PORT", str(DEFAULT_SANDBOX_PORT)))
    if client_id is None and sandbox_port == port:
        raise ConfigError(
            f"PORT and SANDBOX_PORT are both {port}: the app and the sandbox need a port each"
        )

    scopes = check.scopes(get("ILERT_SCOPES", DEFAULT_SCOPES))
    session_type = check.one_of("SESSION_TYPE", get("SESSION_TYPE", "filesystem"), SESSION_TYPES)
    log_level = check.one_of("LOG_LEVEL", get("LOG_LEVEL", "info").lower(), LOG_LEVELS)
    log_format = check.one_of("LOG_FORMAT", get("LOG_FORMAT", "text").lower(), LOG_FORMATS)

    otlp = get("OTEL_EXPORTER_OTLP_ENDPOINT")  # traces (tracing.py); None: off
    return {
        "ILERT_CLIENT_ID": client_id,
        "ILERT_CLIENT_SECRET": get("ILERT_CLIENT_SECRET"),
        "ILERT_REDIRECT_URI": redirect_uri,
        "ILERT_SCOPES": scopes,
        "ILERT_TENANT": tenant,
        "ILERT_AUTH_URL": auth_url,
        "ILERT_API_URL": api_url,
        "ILERT_USE_PKCE": check.boolean("ILERT_USE_PKCE", get("ILERT_USE_PKCE", "true")),
        "SECRET_KEY": secret_key,
        "SECRET_KEY_FALLBACKS": check.fallback_keys(get("SECRET_KEY_FALLBACKS", "")),
        "SESSION_TYPE": session_type,
        "SESSION_FILE_DIR": check.session_file_dir(get("SESSION_FILE_DIR")),
        "REDIS_URL": check.redis_url(get("REDIS_URL", "redis://localhost:6379/0")),
        "SESSION_LIFETIME": check.session_lifetime(get("SESSION_LIFETIME", "7d")),
        "SESSION_MAX_AGE": check.duration("SESSION_MAX_AGE", get("SESSION_MAX_AGE", "30d")),
        "SESSION_COOKIE_NAME": check.cookie_name(get("SESSION_COOKIE_NAME", SESSION_COOKIE)),
        "SESSION_COOKIE_SECURE": cookie_secure,
        "HTTP_TIMEOUT": check.seconds("HTTP_TIMEOUT", get("HTTP_TIMEOUT", "10")),
        "HOST": host,
        "PORT": port,
        "LOG_LEVEL": log_level.upper(),
        "LOG_FORMAT": log_format,
        "GUNICORN_THREADS": check.threads(get("GUNICORN_THREADS", "64")),
        "FLOW_INSPECTOR": check.boolean("FLOW_INSPECTOR", get("FLOW_INSPECTOR", "false")),
        "ILERT_SANDBOX_ACCESS_TOKEN_TTL": check.whole_seconds(
            "ILERT_SANDBOX_ACCESS_TOKEN_TTL", get("ILERT_SANDBOX_ACCESS_TOKEN_TTL", "3600")
        ),
        "ILERT_RATE_LIMIT": check.rate_limit(get("ILERT_RATE_LIMIT", "600/min")),
        "ILERT_CACHE_SECONDS": check.cache_seconds(get("ILERT_CACHE_SECONDS", "0")),
        "METRICS_TOKEN": check.metrics_token(get("METRICS_TOKEN")),
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp and check.url("OTEL_EXPORTER_OTLP_ENDPOINT", otlp),
        "SANDBOX_PORT": sandbox_port,
        "FLASK_DEBUG": debug,
        # gunicorn's worker processes: by default one per core this process may use
        "WEB_CONCURRENCY": check.workers(get("WEB_CONCURRENCY")) or available_cores(),
    }


def require_client_id(settings: dict) -> dict:
    """`settings`, if they name a client id: sandbox mode belongs to `python app.py` only."""
    if settings["ILERT_CLIENT_ID"] is None:
        raise ConfigError(
            "ILERT_CLIENT_ID is not set: set ILERT_CLIENT_ID and ILERT_CLIENT_SECRET, or start "
            "`python -m sandbox` and point the app at it (the built-in sandbox runs only "
            "with `python app.py`)"
        )
    return settings
