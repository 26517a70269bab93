"""Settings, read once at start-up from the environment and `.env`.

Every variable in `.env.example` is read here and checked, but `WEB_CONCURRENCY`, which
only gunicorn.conf.py reads. A missing or malformed value raises `ConfigError`, whose
message is the one line `app.py` (or gunicorn.conf.py) prints before it stops (exit code 3,
which also stops gunicorn from restarting workers).
"""

import ipaddress
import os
import re
import stat
import sys
from datetime import timedelta
from urllib.parse import urlsplit

# --- What a fork renames, here and nowhere else: the app, the sandbox, the tests, bench and
# scripts read these names (or ask the app under test), so renaming one breaks no test.
APP_NAME = "ilert OAuth2 backend app"  # in every page's title and header
DEFAULT_PORT = 4597  # PORT
DEFAULT_SANDBOX_PORT = 4598  # SANDBOX_PORT
CALLBACK_PATH = "/authorize-result"  # the path of the default ILERT_REDIRECT_URI
DEFAULT_SCOPES = "profile source:w"  # ILERT_SCOPES: what sign-in asks for first
SESSION_COOKIE = "session"  # SESSION_COOKIE_NAME
LOGOUT_NOTICE_COOKIE = "logout_notice"  # says on the home page how logout went
SIGN_IN_COOKIE_PREFIX = "sign-in-"  # one cookie per pending sign-in, named after its state


def redirect_uri_at(port: int) -> str:
    """The redirect URI of an app served at `http://localhost:<port>`."""
    return f"http://localhost:{port}{CALLBACK_PATH}"


DEFAULT_REDIRECT_URI = redirect_uri_at(DEFAULT_PORT)  # ILERT_REDIRECT_URI
# ---
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
SESSION_TYPES = ("filesystem", "redis")
SECRET_KEY_BYTES = 32  # the store's keys are derived from it: no fewer bytes than they have
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
_DURATION = re.compile(r"(\d+)\s*([smhd]?)")
_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_SCOPE = re.compile(r"[a-z_]+(:[rwd])?")
_COOKIE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TENANT = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


class ConfigError(Exception):
    """A setting is missing or malformed; the message names it and says what is wrong."""


def load(environ):
    """Return the checked settings from `environ` as a dict for `app.config`.

    Keys are the variable names, values are parsed (URLs, numbers, booleans,
    durations). `ILERT_CLIENT_ID` is None in sandbox mode, which only
    `python app.py` can serve: it fills in the sandbox's values itself.
    """

    def get(name, default=None):
        value = environ.get(name, "").strip()
        return value if value else default

    client_id = get("ILERT_CLIENT_ID")
    port = _port("PORT", get("PORT", str(DEFAULT_PORT)))
    # In sandbox mode nothing is registered at ilert yet, so the default follows PORT.
    default_redirect_uri = DEFAULT_REDIRECT_URI if client_id else redirect_uri_at(port)
    redirect_uri = _url("ILERT_REDIRECT_URI", get("ILERT_REDIRECT_URI", default_redirect_uri))
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

    secret_key = get("SECRET_KEY")
    if secret_key is not None and len(secret_key.encode()) < SECRET_KEY_BYTES:
        raise ConfigError(
            f"SECRET_KEY is too short: {len(secret_key.encode())} bytes, at least "
            f"{SECRET_KEY_BYTES} are needed; e.g. the output of "
            'python -c "import secrets; print(secrets.token_hex(32))"'
        )

    tenant = get("ILERT_TENANT")
    if tenant is not None and not _TENANT.fullmatch(tenant):
        raise ConfigError(
            f"ILERT_TENANT is malformed: {tenant!r} is not an account name like 'acme' "
            "(the part before .ilert.com)"
        )
    auth_url = _url("ILERT_AUTH_URL", get("ILERT_AUTH_URL", "https://app.ilert.com"), origin=True)
    if tenant is not None:
        auth_url = f"https://{tenant}.ilert.com"
    api_url = _url("ILERT_API_URL", get("ILERT_API_URL", "https://api.ilert.com"), origin=True)
    if client_id is not None:
        _require_https("ILERT_AUTH_URL", auth_url, "the sign-in and its code would travel")
        _require_https("ILERT_API_URL", api_url, "the client secret and every token would travel")
    host = get("HOST", "127.0.0.1")
    _check_host(host, sandbox_mode=client_id is None, debug=_flask_debug(environ))

    scopes = get("ILERT_SCOPES", DEFAULT_SCOPES).split()
    for scope in scopes:
        if not _SCOPE.fullmatch(scope):
            raise ConfigError(
                f"ILERT_SCOPES is malformed: {scope!r} is not a scope like 'profile' or 'source:w'"
            )

    session_type = get("SESSION_TYPE", "filesystem")
    if session_type not in SESSION_TYPES:
        raise ConfigError(
            f"SESSION_TYPE is malformed: {session_type!r} is not one of {', '.join(SESSION_TYPES)}"
        )

    log_level = get("LOG_LEVEL", "info").lower()
    if log_level not in LOG_LEVELS:
        raise ConfigError(
            f"LOG_LEVEL is malformed: {log_level!r} is not one of {', '.join(LOG_LEVELS)}"
        )

    return {
        "ILERT_CLIENT_ID": client_id,
        "ILERT_CLIENT_SECRET": get("ILERT_CLIENT_SECRET"),
        "ILERT_REDIRECT_URI": redirect_uri,
        "ILERT_SCOPES": " ".join(scopes),
        "ILERT_TENANT": tenant,
        "ILERT_AUTH_URL": auth_url,
        "ILERT_API_URL": api_url,
        "ILERT_USE_PKCE": _boolean("ILERT_USE_PKCE", get("ILERT_USE_PKCE", "true")),
        "SECRET_KEY": secret_key,
        "SECRET_KEY_FALLBACKS": _fallback_keys(get("SECRET_KEY_FALLBACKS", "")),
        "SESSION_TYPE": session_type,
        "SESSION_FILE_DIR": _session_file_dir(get("SESSION_FILE_DIR")),
        "REDIS_URL": _redis_url(get("REDIS_URL", "redis://localhost:6379/0")),
        "SESSION_LIFETIME": _session_lifetime(get("SESSION_LIFETIME", "7d")),
        "SESSION_MAX_AGE": _duration("SESSION_MAX_AGE", get("SESSION_MAX_AGE", "30d")),
        "SESSION_COOKIE_NAME": _cookie_name(get("SESSION_COOKIE_NAME", SESSION_COOKIE)),
        "SESSION_COOKIE_SECURE": _boolean(
            "SESSION_COOKIE_SECURE",
            get("SESSION_COOKIE_SECURE", str(redirect_uri.startswith("https:"))),
        ),
        "HTTP_TIMEOUT": _seconds("HTTP_TIMEOUT", get("HTTP_TIMEOUT", "10")),
        "HOST": host,
        "PORT": port,
        "LOG_LEVEL": log_level.upper(),
        "GUNICORN_THREADS": _threads(get("GUNICORN_THREADS", "64")),
        "FLOW_INSPECTOR": _boolean("FLOW_INSPECTOR", get("FLOW_INSPECTOR", "false")),
        "ILERT_SANDBOX_ACCESS_TOKEN_TTL": _whole_seconds(
            "ILERT_SANDBOX_ACCESS_TOKEN_TTL", get("ILERT_SANDBOX_ACCESS_TOKEN_TTL", "3600")
        ),
        "SANDBOX_PORT": _port("SANDBOX_PORT", get("SANDBOX_PORT", str(DEFAULT_SANDBOX_PORT))),
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


def _url(name, value, origin=False):
    """An http(s) URL with a host (and, for an origin, no path, query or fragment)."""
    try:
        parts = urlsplit(value)
        if parts.port == 0:
            raise ValueError("Port out of range 1-65535")
    except ValueError as error:  # also what urlsplit says of a port out of range
        raise ConfigError(f"{name} is malformed: {value!r} ({error})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{name} is malformed: {value!r} is not an http or https URL with a host")
    if origin:
        if parts.query or parts.fragment or parts.path not in ("", "/"):
            raise ConfigError(
                f"{name} is malformed: {value!r} must be an origin like https://api.ilert.com, "
                "without a path"
            )
        return f"{parts.scheme}://{parts.netloc}"
    if parts.fragment:
        raise ConfigError(f"{name} is malformed: {value!r} must not have a #fragment")
    return value


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an address, IPv6 without brackets, as `HOST` takes it and
    `urlsplit(...).hostname` gives it) is this machine only: localhost, 127.0.0.0/8, ::1."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _require_https(name, origin, what_travels):
    """With a real client id, secrets travel to this origin: plain http only on loopback."""
    parts = urlsplit(origin)
    if parts.scheme != "https" and not is_loopback(parts.hostname):
        raise ConfigError(
            f"{name} must be https: with {origin!r} {what_travels} in clear; use https "
            "(plain http is only for a loopback host such as localhost)"
        )


def _flask_debug(environ):
    """Whether Flask turns its debugger on, by Flask's own reading of FLASK_DEBUG."""
    value = environ.get("FLASK_DEBUG", "")
    return bool(value) and value.lower() not in ("0", "false", "no")


def _check_host(host, sandbox_mode, debug):
    """`python app.py` listens on HOST: refuse the network where what it serves there
    would let anyone in (the sandbox's fake sign-in, Werkzeug's interactive debugger)."""
    if is_loopback(host):
        return
    if sandbox_mode:
        raise ConfigError(
            f"HOST {host!r} is beyond loopback, which sandbox mode refuses: its sign-in is "
            "fake and its client secret public; keep HOST=127.0.0.1, or use a real ilert app "
            "(ILERT_CLIENT_ID, ILERT_CLIENT_SECRET) and gunicorn"
        )
    if debug:
        raise ConfigError(
            f"HOST {host!r} is beyond loopback, which FLASK_DEBUG refuses: Werkzeug's "
            "debugger runs any code it is sent; turn FLASK_DEBUG off, or keep HOST=127.0.0.1"
        )


def _session_file_dir(value):
    """A folder that, if it exists already, is private to this user (the store creates it
    otherwise); checked here too so that gunicorn's master stops before any worker starts."""
    if value is not None and os.path.isdir(value):
        check_private_folder(value)
    return value


def check_private_folder(path: str) -> None:
    """Refuse `path` if another user owns it or others can write to it: whoever can write to
    the session folder can delete sessions, and may plant files."""
    if sys.platform == "win32":
        return  # NTFS permissions are not mode bits: keep the folder in the user's profile
    info = os.stat(path)
    if info.st_uid != os.getuid():
        raise ConfigError(
            f"SESSION_FILE_DIR is not safe: {path} belongs to another user (uid {info.st_uid})"
        )
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ConfigError(
            f"SESSION_FILE_DIR is not safe: others can write to {path} "
            f"(mode {stat.S_IMODE(info.st_mode):o}); use chmod 700"
        )


def _redis_url(value):
    scheme = urlsplit(value).scheme
    if scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(
            f"REDIS_URL is malformed: {value!r} is not a redis://, rediss:// or unix:// URL"
        )
    return value


def _fallback_keys(value):
    """Older secret keys, space- or comma-separated (Flask's SECRET_KEY_FALLBACKS): entries
    sealed under them still open. Any length: a short old key is what one rotates away from."""
    return [key for key in re.split(r"[\s,]+", value) if key]


def _cookie_name(value):
    """A plain cookie name; the app puts `__Host-` in front itself when the cookie is Secure."""
    if not _COOKIE_NAME.fullmatch(value) or value.lower().startswith(("__host-", "__secure-")):
        raise ConfigError(
            f"SESSION_COOKIE_NAME is malformed: {value!r} is not a name of letters, digits, "
            "'-' and '_' (without a __Host- or __Secure- prefix: the app adds __Host- itself)"
        )
    return value


def _boolean(name, value):
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ConfigError(f"{name} is malformed: {value!r} is not true or false")


def _port(name, value):
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise ConfigError(f"{name} is malformed: {value!r} is not a port from 1 to 65535")
    return int(value)


def _seconds(name, value):
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0
    if not 0 < seconds <= 600:
        raise ConfigError(
            f"{name} is malformed: {value!r} is not a number of seconds from 0 to 600"
        )
    return seconds


def _whole_seconds(name, value):
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(f"{name} is malformed: {value!r} is not a whole number of seconds")
    return int(value)


def _threads(value):
    """Threads per gunicorn worker, which is also the size of its pool of ilert connections."""
    if not value.isdigit() or not 1 <= int(value) <= 256:
        raise ConfigError(
            f"GUNICORN_THREADS is malformed: {value!r} is not a whole number from 1 to 256"
        )
    return int(value)


def _session_lifetime(value):
    """An idle lifetime no longer than an ilert refresh token lives (a year)."""
    lifetime = _duration("SESSION_LIFETIME", value)
    if lifetime > timedelta(days=365):
        raise ConfigError(
            f"SESSION_LIFETIME is malformed: {value!r} is longer than a refresh token lives (365d)"
        )
    return lifetime


def _duration(name, value):
    """A duration such as `90s`, `30m`, `12h` or `7d` (a bare number means seconds)."""
    match = _DURATION.fullmatch(value.lower())
    if not match or int(match[1]) == 0:
        raise ConfigError(f"{name} is malformed: {value!r} is not a duration like 30m, 12h or 7d")
    return timedelta(seconds=int(match[1]) * _DURATION_UNITS[match[2]])
