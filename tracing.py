"""Optional OpenTelemetry traces: with `OTEL_EXPORTER_OTLP_ENDPOINT` set, a server span for
each request and a client span for each call to ilert, exported over OTLP/HTTP to
`<endpoint>/v1/traces`. They need the `otel` extra (docs/production.md); app.py imports this
module only when the setting is set, so that without it nothing of OpenTelemetry is imported.

The spans are this module's own, not OpenTelemetry's Flask or WSGI instrumentation, which
exports the full URL with its query, the callback's `code` and `state` among it. They carry
fixed words only: a request's method, route template (`/alerts/<int:alert_id>`), status and
request id (logs.py); an ilert call's method, endpoint template (metrics.py's label) and
status. No URL, query, header or body, so no token, code, state, verifier or secret.

Each process makes its own exporter, with its thread, when it records its first span: gunicorn
builds the app in its master and forks the workers from it (`preload_app`), and a thread does
not survive a fork.
"""

import os
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, request

import config
import metrics
from ilert import oauth

try:
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
except ImportError as error:
    raise config.ConfigError(
        f"OTEL_EXPORTER_OTLP_ENDPOINT is set, but OpenTelemetry cannot be imported ({error}): "
        "install the app's otel extra (pip install -r requirements-otel.txt), or unset the setting"
    ) from None

TRACES_PATH = "/v1/traces"  # OTLP/HTTP's path for traces, under the endpoint
# Methods named as they are; any other is "_OTHER" (OpenTelemetry's HTTP conventions).
METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))
_ERROR = trace.Status(trace.StatusCode.ERROR)


def init_app(app: Flask) -> None:
    """Trace every request of `app` and every call it makes to ilert."""
    tracer = ProcessTracer(app.config["OTEL_EXPORTER_OTLP_ENDPOINT"])
    app.extensions["tracing"] = tracer
    app.before_request(_name_by_route)
    oauth.ilert_called.connect(tracer.ilert_call, sender=app, weak=False)
    app.wsgi_app = ServerSpans(app.wsgi_app, tracer)  # type: ignore[method-assign]


class ProcessTracer:
    """The app's tracer in this process, made at its first span in each process."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint.rstrip("/") + TRACES_PATH
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._tracer: trace.Tracer | None = None

    def get(self) -> trace.Tracer:
        if self._pid != os.getpid() or self._tracer is None:
            with self._lock:
                if self._pid != os.getpid() or self._tracer is None:
                    self._tracer = self._new()
                    self._pid = os.getpid()
        return self._tracer

    def _new(self) -> trace.Tracer:
        resource = Resource.create(
            {
                "service.name": config.APP_NAME,
                "service.version": config.APP_VERSION,
                "process.pid": os.getpid(),  # which gunicorn worker
            }
        )
        provider = TracerProvider(resource=resource)  # flushes its spans when the process exits
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=self.endpoint)))
        return provider.get_tracer(__name__)

    def ilert_call(self, app: Flask, call: dict, response: Any = None) -> None:
        """A client span for a call `ilert/oauth.py` made and announced (after its answer,
        so it starts at the call's `started` time), a child of the request's span."""
        if "started" not in call:
            return  # the sign-in link (step 1): the browser goes there, not the app
        method, outcome = _method(call["method"]), call["status"]
        endpoint = metrics.endpoint(urlsplit(call["url"]).path)
        attributes: dict[str, str | int] = {"http.request.method": method, "url.template": endpoint}
        if isinstance(outcome, int):
            attributes["http.response.status_code"] = outcome
        else:
            attributes["error.type"] = outcome  # "timeout", "unreachable", ...
        span = self.get().start_span(
            f"{method} {endpoint}",
            kind=trace.SpanKind.CLIENT,
            attributes=attributes,
            start_time=int(call["started"] * 1e9),
        )
        if not isinstance(outcome, int) or outcome >= 400:
            span.set_status(_ERROR)
        span.end()


class ServerSpans:
    """WSGI middleware: a server span around each request, current while the request is
    served, so that its ilert calls are its children; named by method and route
    (`_name_by_route`), with the status and the request id (logs.py) once answered."""

    def __init__(self, wsgi_app: Callable, tracer: ProcessTracer) -> None:
        self.wsgi_app, self.tracer = wsgi_app, tracer

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        method = _method(environ.get("REQUEST_METHOD", ""))
        statuses = []

        def start(status: str, headers: list, exc_info: Any = None) -> Callable:
            statuses.append(int(status.split(" ", 1)[0]))
            return start_response(status, headers, exc_info)

        with self.tracer.get().start_as_current_span(
            method,
            kind=trace.SpanKind.SERVER,
            attributes={"http.request.method": method},
            # Not the exception's text, which may quote what it failed on (Flask answers most
            # exceptions itself: this is for those of the WSGI layers around it).
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                answer = self.wsgi_app(environ, start)
            except BaseException:
                span.set_status(_ERROR)
                raise
            span.set_attribute("request_id", environ.get("REQUEST_ID", "-"))
            if statuses:
                span.set_attribute("http.response.status_code", statuses[-1])
                if statuses[-1] >= 500:
                    span.set_status(_ERROR)
            return answer


def _name_by_route() -> None:
    """Name the request's span by its route template (none for a path no route matches)."""
    if request.url_rule is not None:
        span = trace.get_current_span()
        span.update_name(f"{_method(request.method)} {request.url_rule.rule}")
        span.set_attribute("http.route", request.url_rule.rule)


def _method(method: str) -> str:
    return method if method in METHODS else "_OTHER"
