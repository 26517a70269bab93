"""How `config.py` checks each setting: one function per kind of value (numbers, booleans,
durations, rate limits, URLs, names), and the checks that keep the sign-in, the tokens and
the client secret off the network (https, loopback, `HOST`, the redirect URI, the session
folder, the port to listen on).

Each returns the value parsed or raises `ConfigError`, whose message names the setting and
says what is wrong, in the one line `app.py` (or gunicorn.conf.py) prints before it stops.
"""

import errno
import functools
import ipaddress
import os
import re
import socket
import stat
import sys
from datetime import timedelta
from urllib.parse import urlsplit

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


def text(name: str, value: str) -> str:
    """`value` if it is UTF-8 text: the environment hands on bytes it cannot decode as
    surrogates, which no URL, header, form or key could carry."""
    try:
        value.encode()
    except UnicodeEncodeError:
        raise ConfigError(f"{name} is malformed: it holds bytes that are not UTF-8 text") from None
    return value


def one_of(name: str, value: str, choices: tuple[str, ...]) -> str:
    """`value` if it is one of `choices`."""
    if value not in choices:
        raise ConfigError(f"{name} is malformed: {value!r} is not one of {', '.join(choices)}")
    return value


def secret_key(value: str | None) -> str | None:
    """SECRET_KEY, if set, of at least SECRET_KEY_BYTES bytes."""
    if value is not None and len(value.encode()) < SECRET_KEY_BYTES:
        raise ConfigError(
            f"SECRET_KEY is too short: {len(value.encode())} bytes, at least "
            f"{SECRET_KEY_BYTES} are needed; e.g. the output of "
            'python -c "import secrets; print(secrets.token_hex(32))"'
        )
    return value


def tenant(value: str | None) -> str | None:
    """ILERT_TENANT, if set: an account name, the part before .ilert.com."""
    if value is not None and not _TENANT.fullmatch(value):
        raise ConfigError(
            f"ILERT_TENANT is malformed: {value!r} is not an account name like 'acme' "
            "(the part before .ilert.com)"
        )
    return value


def scopes(value: str) -> str:
    """ILERT_SCOPES: scopes like `profile` or `source:w`, separated by single spaces."""
    words = value.split()
    for scope in words:
        if not _SCOPE.fullmatch(scope):
            raise ConfigError(
                f"ILERT_SCOPES is malformed: {scope!r} is not a scope like 'profile' or 'source:w'"
            )
    return " ".join(words)


def url(name: str, value: str, origin: bool = False) -> str:
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


@functools.lru_cache(maxsize=1024)
def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an address, IPv6 without brackets, as `HOST` takes it and
    `urlsplit(...).hostname` gives it) is this machine only: localhost, 127.0.0.0/8, ::1.
    Remembered, since every request asks it of its peer's address (app.py)."""
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


def require_https(name: str, origin: str, what_travels: str) -> None:
    """With a real client id, secrets travel to this origin: plain http only on loopback."""
    parts = urlsplit(origin)
    if parts.scheme != "https" and not is_loopback(parts.hostname or ""):
        raise ConfigError(
            f"{name} must be https: with {origin!r} {what_travels} in clear; use https "
            "(plain http is only for a loopback host such as localhost)"
        )


def redirect_uri(value: str, cookie_secure: bool) -> None:
    """With a real client id, ilert sends each person's code to the redirect URI, and the
    session cookie follows the person there: plain http only on loopback, and an https one
    never with a cookie that may also travel over http."""
    parts = urlsplit(value)
    if parts.scheme != "https" and not is_loopback(parts.hostname or ""):
        raise ConfigError(
            f"ILERT_REDIRECT_URI must be https: with {_shown(value)!r} each sign-in's "
            "code and session cookie would travel in clear (plain http is only for a "
            "loopback host such as localhost)"
        )
    if parts.scheme == "https" and not cookie_secure:
        raise ConfigError(
            "SESSION_COOKIE_SECURE=false is refused with an https ILERT_REDIRECT_URI: the "
            "session cookie would also be sent over plain http; unset it or set it to true"
        )


def flask_debug(value: str) -> bool:
    """FLASK_DEBUG, strictly: Flask itself reads any word but 0/false/no (even "maybe" or
    "off") as on, so `python app.py` passes this reading to Flask instead."""
    return boolean("FLASK_DEBUG", value)


def host(value: str, sandbox_mode: bool, debug: bool) -> None:
    """`python app.py` listens on HOST: refuse the network where what it serves there
    would let anyone in (the sandbox's fake sign-in, Werkzeug's interactive debugger)."""
    if not _HOST.fullmatch(value) and not _is_address(value):
        raise ConfigError(
            f"HOST is malformed: {value!r} is not a host name or an IP address to listen on"
        )
    if is_loopback(value):
        return
    if sandbox_mode:
        raise ConfigError(
            f"HOST {value!r} is beyond loopback, which sandbox mode refuses: its sign-in is "
            "fake and its client secret public; keep HOST=127.0.0.1, or use a real ilert app "
            "(ILERT_CLIENT_ID, ILERT_CLIENT_SECRET) and gunicorn"
        )
    if debug:
        raise ConfigError(
            f"HOST {value!r} is beyond loopback, which FLASK_DEBUG refuses: Werkzeug's "
            "debugger runs any code it is sent; turn FLASK_DEBUG off, or keep HOST=127.0.0.1"
        )


def session_file_dir(value: str | None) -> str | None:
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


def redis_url(value: str) -> str:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (urlsplit checks the port only when asked for it)
        scheme: str | None = parts.scheme
    except ValueError:
        scheme = None
    if scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(
            f"REDIS_URL is malformed: {_shown(value)!r} is not a redis://, rediss:// or unix:// URL"
        )
    return value


def _shown(value: str) -> str:
    """A URL as an error message may show it: without the password it may carry
    (`redis://user:password@host`, or `?password=` as redis-py also reads)."""
    value = re.sub(r"(//[^/?#:@]*):[^/?#]*@", r"\1:[hidden]@", value)
    return re.sub(r"(?i)(password=)[^&#]*", r"\1[hidden]", value)


def fallback_keys(value: str) -> list[str]:
    """Older secret keys, space- or comma-separated (Flask's SECRET_KEY_FALLBACKS): entries
    sealed under them still open. Any length: a short old key is what one rotates away from."""
    return [key for key in re.split(r"[\s,]+", value) if key]


def cookie_name(value: str) -> str:
    """A plain cookie name; the app puts `__Host-` in front itself when the cookie is Secure."""
    if not _COOKIE_NAME.fullmatch(value) or value.lower().startswith(("__host-", "__secure-")):
        raise ConfigError(
            f"SESSION_COOKIE_NAME is malformed: {value!r} is not a name of letters, digits, "
            "'-' and '_' (without a __Host- or __Secure- prefix: the app adds __Host- itself)"
        )
    return value


def boolean(name: str, value: str) -> bool:
    """One of the documented words, in any case: 1/0, true/false, yes/no, on/off."""
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ConfigError(
        f"{name} is malformed: {value!r} is not one of {'/'.join(_TRUE)} or {'/'.join(_FALSE)}"
    )


def _integer(name: str, value: str, low: int, high: int, what: str) -> int:
    """A whole number from `low` to `high` in ASCII digits (`int()` also takes '٣', and
    '²'.isdigit() is true), said in the error as "a whole number of `what`"."""
    if not _WHOLE.fullmatch(value) or not low <= int(value) <= high:
        raise ConfigError(
            f"{name} is malformed: {value!r} is not a whole number of {what} from {low} to {high}"
        )
    return int(value)


def port(name: str, value: str) -> int:
    if not _WHOLE.fullmatch(value) or not 1 <= int(value) <= 65535:
        raise ConfigError(f"{name} is malformed: {value!r} is not a port from 1 to 65535")
    return int(value)


def seconds(name: str, value: str) -> float:
    """Seconds from 0 to 600 (exclusive of 0), such as 10 or 2.5, in ASCII digits."""
    if not _DECIMAL.fullmatch(value) or not 0 < float(value) <= 600:
        raise ConfigError(
            f"{name} is malformed: {value!r} is not a number of seconds from 0 to 600"
        )
    return float(value)


def whole_seconds(name: str, value: str) -> int:
    return _integer(name, value, 1, 365 * 86400, "seconds")


def workers(value: str | None) -> int | None:
    """gunicorn's worker processes; None if unset (one per core, `config_sources`)."""
    if value is None:
        return None
    return _integer("WEB_CONCURRENCY", value, 1, 1024, "worker processes")


def threads(value: str) -> int:
    """Threads per gunicorn worker, which is also the size of its pool of ilert connections."""
    return _integer("GUNICORN_THREADS", value, 1, 256, "threads")


def rate_limit(value: str) -> tuple[int, int] | None:
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


def cache_seconds(value: str) -> int:
    """Seconds to keep a person's identical GET answers: 0 (off) to 60."""
    if not re.fullmatch(r"[0-9]{1,2}", value) or int(value) > 60:
        raise ConfigError(
            f"ILERT_CACHE_SECONDS is malformed: {value!r} is not a whole number of seconds "
            "from 0 (off) to 60"
        )
    return int(value)


def metrics_token(value: str | None) -> str | None:
    """A bearer token for /metrics, long enough not to be guessed (None: loopback only)."""
    if value is not None and (len(value) < 16 or not value.isprintable() or " " in value):
        raise ConfigError(
            "METRICS_TOKEN is malformed: it must be at least 16 characters without spaces, "
            'e.g. the output of python -c "import secrets; print(secrets.token_urlsafe(32))"'
        )
    return value


def session_lifetime(value: str) -> timedelta:
    """An idle lifetime no longer than an ilert refresh token lives (a year)."""
    lifetime = duration("SESSION_LIFETIME", value)
    if lifetime > timedelta(days=365):
        raise ConfigError(
            f"SESSION_LIFETIME is malformed: {value!r} is longer than a refresh token lives (365d)"
        )
    return lifetime


def duration(name: str, value: str) -> timedelta:
    """A duration such as `90s`, `30m`, `12h` or `7d` (a bare number means seconds)."""
    match = _DURATION.fullmatch(value.lower())
    if not match or int(match[1]) == 0:
        raise ConfigError(f"{name} is malformed: {value!r} is not a duration like 30m, 12h or 7d")
    total = int(match[1]) * _DURATION_UNITS[match[2]]
    if total > _LONGEST_DURATION:
        raise ConfigError(f"{name} is malformed: {value!r} is longer than 100 years")
    return timedelta(seconds=total)
