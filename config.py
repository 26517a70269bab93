"""Settings, read once at start-up from the environment and `.env`.

Every variable in `.env.example` is read here and checked (gunicorn.conf.py uses the gunicorn
ones); `.env` itself too (`load_dotenv`). A missing or malformed value raises `ConfigError`, whose
message is the one line `app.py` (or gunicorn.conf.py) prints before it stops (exit code 3,
which also stops gunicorn from restarting workers).
"""

import errno
import ipaddress
import math
import os
import re
import socket
import stat
import sys
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dotenv
import dotenv.parser

# --- What a fork renames, here and nowhere else: the app, the sandbox, the tests, bench and
# scripts read these names (or ask the app under test), so renaming one breaks no test.
APP_NAME = "ilert OAuth2 backend app"  # in every page's title and header
APP_VERSION = "1.0"  # with APP_NAME, the User-Agent of every call to ilert
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
LOG_FORMATS = ("text", "json")
SESSION_TYPES = ("filesystem", "redis")
SECRET_KEY_BYTES = 32  # the store's keys are derived from it: no fewer bytes than they have
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
_DURATION = re.compile(r"([0-9]{1,20}) *([smhd]?)")  # ASCII digits: int() takes others
_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_LONGEST_DURATION = 100 * 365 * 86400  # beyond it, a timedelta or a store TTL overflows
_WHOLE = re.compile(r"[0-9]{1,12}")
_DECIMAL = re.compile(r"[0-9]{1,12}(\.[0-9]{1,12})?")
_RATE = re.compile(r"([0-9]{1,7})/(s|min|h)")
_RATE_UNITS = {"s": 1, "min": 60, "h": 3600}
_SCOPE = re.compile(r"[a-z_]+(:[rwd])?")
_COOKIE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,252})")  # a name to resolve
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

    cookie_secure = _boolean(
        "SESSION_COOKIE_SECURE",
        get("SESSION_COOKIE_SECURE", str(redirect_uri.startswith("https:"))),
    )
    if client_id is not None:
        _check_redirect_uri(redirect_uri, cookie_secure)

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
    debug = _flask_debug(get("FLASK_DEBUG", "false"))
    _check_host(host, sandbox_mode=client_id is None, debug=debug)
    sandbox_port = _port("SANDBOX_PORT", get("SANDBOX_PORT", str(DEFAULT_SANDBOX_PORT)))
    if client_id is None and sandbox_port == port:
        raise ConfigError(
            f"PORT and SANDBOX_PORT are both {port}: the app and the sandbox need a port each"
        )

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

    log_format = get("LOG_FORMAT", "text").lower()
    if log_format not in LOG_FORMATS:
        raise ConfigError(
            f"LOG_FORMAT is malformed: {log_format!r} is not one of {', '.join(LOG_FORMATS)}"
        )

    otlp = get("OTEL_EXPORTER_OTLP_ENDPOINT")  # traces (tracing.py); None: off
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
        "SESSION_COOKIE_SECURE": cookie_secure,
        "HTTP_TIMEOUT": _seconds("HTTP_TIMEOUT", get("HTTP_TIMEOUT", "10")),
        "HOST": host,
        "PORT": port,
        "LOG_LEVEL": log_level.upper(),
        "LOG_FORMAT": log_format,
        "GUNICORN_THREADS": _threads(get("GUNICORN_THREADS", "64")),
        "FLOW_INSPECTOR": _boolean("FLOW_INSPECTOR", get("FLOW_INSPECTOR", "false")),
        "ILERT_SANDBOX_ACCESS_TOKEN_TTL": _whole_seconds(
            "ILERT_SANDBOX_ACCESS_TOKEN_TTL", get("ILERT_SANDBOX_ACCESS_TOKEN_TTL", "3600")
        ),
        "ILERT_RATE_LIMIT": _rate_limit(get("ILERT_RATE_LIMIT", "600/min")),
        "ILERT_CACHE_SECONDS": _cache_seconds(get("ILERT_CACHE_SECONDS", "0")),
        "METRICS_TOKEN": _metrics_token(get("METRICS_TOKEN")),
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp and _url("OTEL_EXPORTER_OTLP_ENDPOINT", otlp),
        "SANDBOX_PORT": sandbox_port,
        "FLASK_DEBUG": debug,
        "WEB_CONCURRENCY": _workers(get("WEB_CONCURRENCY")),
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
        raise ConfigError(f"{name} is malformed: {_shown(value)!r} ({error})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"{name} is malformed: {_shown(value)!r} is not an http or https URL with a host"
        )
    if origin:
        if parts.query or parts.fragment or parts.path not in ("", "/"):
            raise ConfigError(
                f"{name} is malformed: {_shown(value)!r} must be an origin like "
                "https://api.ilert.com, "
                "without a path"
            )
        return f"{parts.scheme}://{parts.netloc}"
    if parts.fragment:
        raise ConfigError(f"{name} is malformed: {_shown(value)!r} must not have a #fragment")
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


def check_can_listen(host: str, port: int) -> None:
    """Raise ConfigError naming PORT and HOST if nothing could listen there (busy, or an
    address of no interface here), before a server tries: Werkzeug would say so after
    `python app.py` says "Open", gunicorn after five seconds, neither naming the setting.
    The probe binds as both do (SO_REUSEADDR), and is closed again at once."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except (OSError, ValueError) as error:  # ValueError: a HOST no resolver takes
        if getattr(error, "errno", None) == errno.EADDRINUSE:
            raise ConfigError(
                f"PORT {port} is busy on HOST {host}: stop what uses it or set PORT to a free port"
            ) from None
        raise ConfigError(
            f"HOST {host!r} cannot be listened on ({getattr(error, 'strerror', None) or error}): "
            "set HOST to an address of this machine, such as 127.0.0.1"
        ) from None


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _require_https(name, origin, what_travels):
    """With a real client id, secrets travel to this origin: plain http only on loopback."""
    parts = urlsplit(origin)
    if parts.scheme != "https" and not is_loopback(parts.hostname):
        raise ConfigError(
            f"{name} must be https: with {origin!r} {what_travels} in clear; use https "
            "(plain http is only for a loopback host such as localhost)"
        )


def _check_redirect_uri(redirect_uri, cookie_secure):
    """With a real client id, ilert sends each person's code to the redirect URI, and the
    session cookie follows the person there: plain http only on loopback, and an https one
    never with a cookie that may also travel over http."""
    parts = urlsplit(redirect_uri)
    if parts.scheme != "https" and not is_loopback(parts.hostname):
        raise ConfigError(
            f"ILERT_REDIRECT_URI must be https: with {_shown(redirect_uri)!r} each sign-in's "
            "code and session cookie would travel in clear (plain http is only for a "
            "loopback host such as localhost)"
        )
    if parts.scheme == "https" and not cookie_secure:
        raise ConfigError(
            "SESSION_COOKIE_SECURE=false is refused with an https ILERT_REDIRECT_URI: the "
            "session cookie would also be sent over plain http; unset it or set it to true"
        )


def _flask_debug(value):
    """FLASK_DEBUG, strictly: Flask itself reads any word but 0/false/no (even "maybe" or
    "off") as on, so `python app.py` passes this reading to Flask instead."""
    return _boolean("FLASK_DEBUG", value)


def _check_host(host, sandbox_mode, debug):
    """`python app.py` listens on HOST: refuse the network where what it serves there
    would let anyone in (the sandbox's fake sign-in, Werkzeug's interactive debugger)."""
    if not _HOST.fullmatch(host) and not _is_address(host):
        raise ConfigError(
            f"HOST is malformed: {host!r} is not a host name or an IP address to listen on"
        )
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
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (urlsplit checks the port only when asked for it)
        scheme = parts.scheme
    except ValueError:
        scheme = None
    if scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(
            f"REDIS_URL is malformed: {_shown(value)!r} is not a redis://, rediss:// or unix:// URL"
        )
    return value


def _shown(url):
    """`url` as an error message may show it: without the password it may carry
    (`redis://user:password@host`, or `?password=` as redis-py also reads)."""
    url = re.sub(r"(//[^/?#:@]*):[^/?#]*@", r"\1:[hidden]@", url)
    return re.sub(r"(?i)(password=)[^&#]*", r"\1[hidden]", url)


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
    """One of the documented words, in any case: 1/0, true/false, yes/no, on/off."""
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ConfigError(
        f"{name} is malformed: {value!r} is not one of {'/'.join(_TRUE)} or {'/'.join(_FALSE)}"
    )


def _integer(name, value, low, high, what):
    """A whole number from `low` to `high` in ASCII digits (`int()` also takes '٣', and
    '²'.isdigit() is true), said in the error as "a whole number of `what`"."""
    if not _WHOLE.fullmatch(value) or not low <= int(value) <= high:
        raise ConfigError(
            f"{name} is malformed: {value!r} is not a whole number of {what} from {low} to {high}"
        )
    return int(value)


def _port(name, value):
    if not _WHOLE.fullmatch(value) or not 1 <= int(value) <= 65535:
        raise ConfigError(f"{name} is malformed: {value!r} is not a port from 1 to 65535")
    return int(value)


def _seconds(name, value):
    """Seconds from 0 to 600 (exclusive of 0), such as 10 or 2.5, in ASCII digits."""
    if not _DECIMAL.fullmatch(value) or not 0 < float(value) <= 600:
        raise ConfigError(
            f"{name} is malformed: {value!r} is not a number of seconds from 0 to 600"
        )
    return float(value)


def _whole_seconds(name, value):
    return _integer(name, value, 1, 365 * 86400, "seconds")


def _workers(value):
    """gunicorn's worker processes: by default one per core this process may use."""
    if value is None:
        return available_cores()
    return _integer("WEB_CONCURRENCY", value, 1, 1024, "worker processes")


def _threads(value):
    """Threads per gunicorn worker, which is also the size of its pool of ilert connections."""
    return _integer("GUNICORN_THREADS", value, 1, 256, "threads")


def _rate_limit(value):
    """(calls, per seconds) from `600/min`, `10/s` or `36000/h`; None for `0` (no budget)."""
    if value == "0":
        return None
    match = _RATE.fullmatch(value.replace(" ", "").lower())
    if not match or not 1 <= int(match[1]) <= 1_000_000:
        raise ConfigError(
            f"ILERT_RATE_LIMIT is malformed: {value!r} is not a rate like 600/min, 10/s or "
            "36000/h (1 to 1000000 calls), or 0 for no budget"
        )
    return int(match[1]), _RATE_UNITS[match[2]]


def _cache_seconds(value):
    """Seconds to keep a person's identical GET answers: 0 (off) to 60."""
    if not re.fullmatch(r"[0-9]{1,2}", value) or int(value) > 60:
        raise ConfigError(
            f"ILERT_CACHE_SECONDS is malformed: {value!r} is not a whole number of seconds "
            "from 0 (off) to 60"
        )
    return int(value)


def _metrics_token(value):
    """A bearer token for /metrics, long enough not to be guessed (None: loopback only)."""
    if value is not None and (len(value) < 16 or not value.isprintable() or " " in value):
        raise ConfigError(
            "METRICS_TOKEN is malformed: it must be at least 16 characters without spaces, "
            'e.g. the output of python -c "import secrets; print(secrets.token_urlsafe(32))"'
        )
    return value


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
    seconds = int(match[1]) * _DURATION_UNITS[match[2]]
    if seconds > _LONGEST_DURATION:
        raise ConfigError(f"{name} is malformed: {value!r} is longer than 100 years")
    return timedelta(seconds=seconds)


def load_dotenv(path: str | None = None) -> None:
    """Read `.env` (by default the project folder's) into the environment, which wins over it,
    as python-dotenv does, but stop on a line it cannot parse, which python-dotenv skips."""
    if os.environ.get("PYTHON_DOTENV_DISABLED", "").lower() in ("1", "true", "t", "yes", "y"):
        return
    path = path or os.path.join(os.path.dirname(os.path.abspath(__file__)), ".env")
    try:
        with open(path, encoding="utf-8") as file:
            bindings = list(dotenv.parser.parse_stream(file))
    except FileNotFoundError:
        return
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path} cannot be read: {error}") from None
    for binding in bindings:
        if binding.error:
            text = binding.original.string  # with the blank lines before it
            line = binding.original.line + len(text) - len(text.lstrip("\n"))
            raise ConfigError(
                f"{path} line {line} is malformed: {text.strip()[:60]!r} is not NAME=value"
            )
    dotenv.load_dotenv(path)


def available_cores(cgroup: str = "/sys/fs/cgroup") -> int:
    """The cores this process may use: those it may run on, fewer under a cgroup CPU quota
    (a container's --cpus), rounded up. gunicorn's default worker count."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    quota = _cgroup_quota(cgroup)
    if quota is not None:
        cores = min(cores or 1, math.ceil(quota))
    return max(cores or 1, 1)


def _cgroup_quota(cgroup: str) -> float | None:
    """The smallest CPU quota, in cores, of this process's cgroup and those above it: cgroup
    v2's cpu.max ("400000 100000"), or v1's cpu.cfs_quota_us over cpu.cfs_period_us. None
    without one ("max", -1, no such files: not Linux)."""
    try:
        with open("/proc/self/cgroup") as file:
            own = next((line.split(":", 2)[2].strip() for line in file if line[:3] == "0::"), "")
    except OSError:
        own = ""
    folders = [os.path.join(cgroup, "cpu")]  # v1
    parts = [part for part in own.split("/") if part]
    folders += [os.path.join(cgroup, *parts[:depth]) for depth in range(len(parts), -1, -1)]
    quotas = [q for folder in folders if (q := _quota_in(folder)) is not None]
    return min(quotas, default=None)


def _quota_in(folder: str) -> float | None:
    names = [("cpu.max",), ("cpu.cfs_quota_us", "cpu.cfs_period_us")]
    for files in names:
        try:
            text = " ".join(Path(folder, name).read_text() for name in files)
            quota, period = (int(number) for number in text.split()[:2])
        except (OSError, ValueError):
            continue  # no such file, or "max": no quota
        if quota > 0 and period > 0:
            return quota / period
    return None
