"""Logs that connect: a request id per request, on every log line, in the `X-Request-ID`
answer header and on every error page; `LOG_FORMAT=text` (the default) or `json`, one object
a line, for the app's lines and gunicorn's alike (gunicorn.conf.py uses the same formatters).

The id comes from `X-Request-ID` when a proxy on this machine sent it (the buffering proxy
gunicorn must run behind) and it is a short plain word; otherwise it is made here. The
formatters read it from the thread serving the request, so no call site passes it on.
"""

import json
import logging
import os
import re
import time
from collections import deque
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from flask import Flask

from config_checks import is_loopback

APP_LOGGERS = ("app", "errors", "ilert", "store", "views", "inspector", "logs", "metrics")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
_TRUSTED_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")  # nothing a log line could be forged with
# What an access line adds to a JSON object beside the request's own fields.
ACCESS_FIELDS = ("status", "duration_ms")


@dataclass(frozen=True)
class RequestInfo:
    """What every log line of a request says about it."""

    request_id: str
    method: str
    path: str


NO_REQUEST = RequestInfo("-", "", "")
_serving: ContextVar[RequestInfo] = ContextVar("serving", default=NO_REQUEST)


def init_app(app: Flask) -> None:
    """Log in `LOG_FORMAT` at `LOG_LEVEL`, and give every request its id."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler())
    for handler in root.handlers:
        if not isinstance(handler.formatter, (JsonFormatter, TextFormatter)):
            handler.setFormatter(formatter(app.config["LOG_FORMAT"]))
    for name in APP_LOGGERS:
        logging.getLogger(name).setLevel(app.config["LOG_LEVEL"])
    app.wsgi_app = RequestIds(app.wsgi_app)  # type: ignore[method-assign]


def formatter(log_format: str) -> logging.Formatter:
    """The formatter for `LOG_FORMAT`."""
    return JsonFormatter() if log_format == "json" else TextFormatter(TEXT_FORMAT)


def request_id() -> str:
    """The id of the request this thread serves ("-" outside one)."""
    return _serving.get().request_id


class RequestIds:
    """WSGI middleware: each request gets its id (`environ["REQUEST_ID"]`, the
    `X-Request-ID` answer header, and the log lines of the thread serving it)."""

    def __init__(self, wsgi_app: Callable) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        given = environ.get("HTTP_X_REQUEST_ID", "")
        trusted = given and _TRUSTED_ID.fullmatch(given) and _from_this_machine(environ)
        rid = given if trusted else new_request_id()
        environ["REQUEST_ID"] = rid
        # Not reset afterwards: the server writes its access line for this request after the
        # app has returned, in the same thread, and the thread's next request sets its own.
        _serving.set(RequestInfo(rid, environ.get("REQUEST_METHOD", ""), _path(environ)))

        def start(status: str, headers: list, exc_info: Any = None) -> Callable:
            return start_response(status, [*headers, ("X-Request-ID", rid)], exc_info)

        return self.wsgi_app(environ, start)


ID_BATCH = 64  # ids drawn from the system's random source at once
_drawn: deque[str] = deque()
if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(after_in_child=_drawn.clear)  # a forked worker never repeats its parent's


def new_request_id() -> str:
    """16 hex digits from the system's random source, not `random`: a person quotes their id
    to whoever reads the logs, and ids others could predict could be quoted as theirs. Drawn
    ID_BATCH at a time, since under gthread each system call hands Python's lock to another
    thread (docs/performance.md). Threads may share the batch: `popleft` is atomic."""
    try:
        return _drawn.popleft()
    except IndexError:
        digits = os.urandom(8 * ID_BATCH).hex()
        _drawn.extend(digits[start : start + 16] for start in range(16, len(digits), 16))
        return digits[:16]


def _from_this_machine(environ: dict) -> bool:
    """Whether the peer is on this machine (the proxy in front; before app.py's
    ForwardedByLocalProxy put the address the proxy forwarded in its place)."""
    peer = environ.get("werkzeug.proxy_fix.orig", {}).get("REMOTE_ADDR", environ.get("REMOTE_ADDR"))
    return is_loopback(peer or "")


def _path(environ: dict) -> str:
    """The path alone: a query string may hold the callback's code and state."""
    return "/" + environ.get("PATH_INFO", "").lstrip("/")


class TextFormatter(logging.Formatter):
    """The plain format, with the request id in brackets."""

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "request_id"):
            record.request_id = _serving.get().request_id
        return super().format(record)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, and the request's id, method and
    path; gunicorn's access lines add its status and duration."""

    def format(self, record: logging.LogRecord) -> str:
        serving = _serving.get()
        line: dict[str, Any] = {
            "time": _utc(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", serving.request_id),
            "method": getattr(record, "method", serving.method),
            "path": getattr(record, "path", serving.path),
        }
        for field in ACCESS_FIELDS:
            if hasattr(record, field):
                line[field] = getattr(record, field)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        # ASCII only: a path or header with U+0085 or U+2028 in it (both line ends to many
        # readers, Python's splitlines among them) must not split the line in two.
        return json.dumps(line)


def _utc(created: float) -> str:
    """An ISO 8601 time in UTC, to the millisecond."""
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{seconds}.{int(created % 1 * 1000):03d}Z"
