"""OpenTelemetry traces (tracing.py), received by a real OTLP/HTTP endpoint in the test and
decoded with opentelemetry-proto: a span per request and per ilert call, with the right names,
parents and statuses; from every gunicorn worker; never a token, code, state, verifier or the
client secret; and nothing of OpenTelemetry without the setting."""

import gzip
import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from conftest import (
    ROOT,
    free_port,
    process_environ,
    profiles_until_two_workers_served,
    signed_in_browser,
)
from google.protobuf.json_format import MessageToJson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from test_production import GUNICORN, environ_for
from test_secrets import TOKEN_PREFIXES, TokenTap, stored_session

from config import CALLBACK_PATH, SESSION_COOKIE, redirect_uri_at
from ilert.oauth import REVOKE_PATH, TOKEN_PATH
from sandbox import CLIENT_SECRET
from tests.tools import pending_sign_in_secrets

SERVER, CLIENT = "SPAN_KIND_SERVER", "SPAN_KIND_CLIENT"
# Where nothing listens (port 9, discard): for tests that export nothing.
ENDPOINT = "http://127.0.0.1:9"
REAL = {"ILERT_CLIENT_ID": "id", "ILERT_CLIENT_SECRET": "secret", "SECRET_KEY": "x" * 32}
ERROR = "STATUS_CODE_ERROR"


class Collector:
    """An OTLP/HTTP endpoint on a free port: every export request it receives, as sent (bytes)
    and decoded (JSON, as protobuf's json_format writes OTLP)."""

    def __init__(self) -> None:
        self.raw: list[bytes] = []
        self.exports: list[dict] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                message = ExportTraceServiceRequest.FromString(body)
                collector.raw.append(body)
                collector.exports.append(json.loads(MessageToJson(message)))
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200 if self.path == "/v1/traces" else 404)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def spans(self) -> list[dict]:
        """Every span received, with its process's `process.pid` as "pid"."""
        found = []
        for export in list(self.exports):
            for resource_spans in export["resourceSpans"]:
                resource = attributes_of(resource_spans["resource"])
                for scope_spans in resource_spans["scopeSpans"]:
                    for span in scope_spans["spans"]:
                        found.append({**span, "pid": resource["process.pid"]})
        return found

    def wait_for(self, names: set[str], timeout: float = 15) -> list[dict]:
        """The spans once spans of each of `names` have arrived."""
        deadline = time.monotonic() + timeout
        while not names <= {span["name"] for span in self.spans()}:
            assert time.monotonic() < deadline, sorted({span["name"] for span in self.spans()})
            time.sleep(0.05)
        return self.spans()


def attributes_of(item: dict) -> dict:
    """OTLP's attribute list as a mapping of plain values."""
    return {
        attribute["key"]: next(iter(attribute["value"].values()))
        for attribute in item.get("attributes", [])
    }


@pytest.fixture
def collector():
    running = Collector()
    yield running
    running.server.shutdown()
    running.server.server_close()


def named(spans: list[dict], name: str) -> list[dict]:
    return [span for span in spans if span["name"] == name]


def route(app, path: str, method: str = "GET") -> str:
    """The template of the app's route that serves `method` `path`."""
    rule, _arguments = app.url_map.bind("localhost").match(path, method, return_rule=True)
    return rule.rule


def request_id(answer: requests.Response) -> str:
    return answer.headers["X-Request-ID"]


def child_of(span: dict, parent: dict) -> bool:
    return span["traceId"] == parent["traceId"] and span.get("parentSpanId") == parent["spanId"]


@pytest.mark.slow
def test_a_sign_in_refresh_and_logout_are_traced_without_a_secret(
    live_app, collector, clock, monkeypatch
):
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")  # the SDK's own: export at once
    served = live_app(
        access_token_ttl=2, LOG_LEVEL="DEBUG", OTEL_EXPORTER_OTLP_ENDPOINT=collector.url
    )
    app, url, sandbox = served.app, served.url, served.sandbox
    tap = sandbox.app.wsgi_app = TokenTap(sandbox.app.wsgi_app)
    browser = requests.Session()
    consent = browser.get(f"{url}/login")
    nonce, verifier = pending_sign_in_secrets(app, browser.cookies.get_dict())
    granted = browser.post(
        consent.url, data={"user": "ada.lovelace", "decision": "allow"}, allow_redirects=False
    )
    callback = parse_qs(urlsplit(granted.headers["Location"]).query)
    signed_in = browser.get(granted.headers["Location"], allow_redirects=False)
    assert signed_in.status_code == 302
    assert browser.get(f"{url}/me", headers={"Accept": "application/json"}).status_code == 200
    clock.advance(2)
    refreshed = browser.get(f"{url}/me")
    assert refreshed.status_code == 200
    sandbox.fault(endpoint="users_current", status=500)
    failed = browser.get(f"{url}/me")
    assert failed.status_code == 502
    unrouted = browser.get(f"{url}/no-such-page?code=not-a-route")
    assert unrouted.status_code == 404
    csrf_token = stored_session(app, browser)["csrf_token"]
    logout = browser.post(f"{url}/logout", data={"csrf_token": csrf_token}, allow_redirects=False)
    assert logout.status_code == 302

    spans = collector.wait_for({f"POST {route(app, '/logout', 'POST')}", f"POST {REVOKE_PATH}"})
    secrets = {CLIENT_SECRET, nonce, verifier, callback["code"][0], callback["state"][0]}
    secrets |= tap.tokens - {None}
    assert len(secrets) == 9  # with two access and two refresh tokens
    for data in [*collector.raw, json.dumps(collector.exports).encode()]:
        for secret in secrets:
            assert secret.encode() not in data
        for prefix in TOKEN_PREFIXES:
            assert prefix.encode() not in data
        assert b"not-a-route" not in data  # no query
    assert "?" not in json.dumps(collector.exports)  # nor a URL with one

    def served(answer):
        """The server span of the request `answer` answered, and its children."""
        (span,) = [s for s in spans if attributes_of(s).get("request_id") == request_id(answer)]
        assert span["kind"] == SERVER
        assert attributes_of(span)["http.response.status_code"] == str(answer.status_code)
        return span, [child for child in spans if child_of(child, span)]

    sign_in, calls = served(signed_in)
    assert sign_in["name"] == f"GET {route(app, CALLBACK_PATH)}"
    assert attributes_of(sign_in)["http.route"] == route(app, CALLBACK_PATH)
    assert [call["name"] for call in calls] == [f"POST {TOKEN_PATH}", "GET /api/users/current"]
    assert all(call["kind"] == CLIENT for call in calls)
    profile, calls = served(refreshed)
    assert profile["name"] == f"GET {route(app, '/me')}"
    assert [call["name"] for call in calls] == [f"POST {TOKEN_PATH}", "GET /api/users/current"]
    assert all(span["status"].get("code") != ERROR for span in [profile, *calls])
    profile, calls = served(failed)
    assert [attributes_of(call)["http.response.status_code"] for call in calls] == ["500"]
    assert all(span["status"].get("code") == ERROR for span in [profile, *calls])
    span, calls = served(unrouted)
    assert span["name"] == "GET" and "http.route" not in attributes_of(span) and not calls
    span, calls = served(logout)
    assert span["name"] == f"POST {route(app, '/logout', 'POST')}"
    assert [call["name"] for call in calls] == [f"POST {REVOKE_PATH}"]


@pytest.mark.slow
@pytest.mark.xdist_group("waits in real time")
def test_every_gunicorn_worker_exports_its_own_spans(
    start_server, start_sandbox, collector, tmp_path
):
    """The app is built in gunicorn's master (preload_app) and each worker exports from a
    thread of its own. With a long export delay the spans leave when the workers stop."""
    port = free_port()
    sandbox = start_sandbox(redirect_uris=[redirect_uri_at(port)])
    tap = sandbox.app.wsgi_app = TokenTap(sandbox.app.wsgi_app)
    environ = environ_for(
        sandbox,
        port,
        tmp_path,
        WEB_CONCURRENCY=2,
        LOG_LEVEL="DEBUG",
        OTEL_EXPORTER_OTLP_ENDPOINT=collector.url,
        OTEL_BSP_SCHEDULE_DELAY=60000,
    )
    command = [*GUNICORN[:-1], "--access-logformat", "%(p)s %({x-request-id}o)s", GUNICORN[-1]]
    server = start_server(command, environ, port)
    browser = signed_in_browser(server.url)
    cookie = browser.cookies.get(SESSION_COOKIE)
    rounds = profiles_until_two_workers_served(server, cookie, workers_that_served)
    time.sleep(0.5)
    assert collector.spans() == []  # not before the workers stop (OTEL_BSP_SCHEDULE_DELAY)
    server.stop()

    spans = collector.wait_for({"GET /me", "GET /api/users/current"})
    served_by = dict(line.split()[::-1] for line in server.log().splitlines() if "<" in line)
    servers = [span for span in spans if span["kind"] == SERVER]
    assert len(servers) == len(served_by) == 3 + 16 * rounds  # /login, the callback, /me
    workers = {span["pid"] for span in servers}
    assert len(workers) == 2 and str(server.process.pid) not in workers
    for span in servers:  # each exported by the worker that served it
        assert f"<{span['pid']}>" == served_by[attributes_of(span)["request_id"]]
    secrets = {CLIENT_SECRET, *(tap.tokens - {None})}
    for data in collector.raw:
        assert not [secret for secret in secrets if secret.encode() in data]


def workers_that_served(log):
    """The worker of each request in a log of `--access-logformat "%(p)s %({x-request-id}o)s"`."""
    return [line.split()[0] for line in log.splitlines() if line.startswith("<")]


# Prints the opentelemetry modules imported once the app (its settings in argv[1]) is built
# and has answered a request.
IMPORTED = """
import json, sys
from app import create_app
app = create_app(json.loads(sys.argv[1]))
assert app.test_client().get('/healthz').status_code == 200
print(json.dumps([name for name in sys.modules if name.split('.')[0] == 'opentelemetry']))
"""


def imported_after_a_request(**settings) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", IMPORTED, json.dumps({**REAL, **settings})], cwd=ROOT,
        env=process_environ(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.slow
def test_without_the_setting_nothing_of_opentelemetry_is_imported(collector, tmp_path):
    assert imported_after_a_request(SESSION_FILE_DIR=str(tmp_path)) == []
    on = {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url, "SESSION_FILE_DIR": str(tmp_path)}
    assert "opentelemetry.sdk.trace" in imported_after_a_request(**on)
    assert [span["name"] for span in collector.spans()] == ["GET /healthz"]  # sent at exit


# Runs `python <argv[1:]>` without the otel extra: a None in sys.modules makes every
# `import opentelemetry...` fail, as it fails where the extra is not installed.
WITHOUT_THE_EXTRA = """
import runpy, sys
sys.modules['opentelemetry'] = None
sys.argv = sys.argv[1:]
if sys.argv[0] == '-m':
    sys.argv = sys.argv[1:]
    runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)
else:
    runpy.run_path(sys.argv[0], run_name='__main__')
"""


@pytest.mark.slow
@pytest.mark.parametrize("server", ["app.py", "gunicorn"])
def test_the_setting_without_the_extra_stops_with_one_line(server, tmp_path):
    port = free_port()
    settings = {"PORT": port, "SESSION_FILE_DIR": tmp_path, "OTEL_EXPORTER_OTLP_ENDPOINT": ENDPOINT}
    if server == "app.py":
        command = ["app.py"]
        settings["SANDBOX_PORT"] = free_port()
    else:
        command = GUNICORN[1:]  # -m gunicorn app:create_app()
        settings.update(REAL, WEB_CONCURRENCY=1)
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_THE_EXTRA, *command], cwd=ROOT,
        env=process_environ(**settings), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    lines = done.stderr.splitlines()
    assert done.returncode == 3, done.stderr
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("Configuration error: OTEL_EXPORTER_OTLP_ENDPOINT is set")
    assert "otel extra" in lines[0]
