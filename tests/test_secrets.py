"""Tokens, codes, verifiers and the client secret never leave the server; headers and
cookies are locked down."""

import html
import json
import logging
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from conftest import EVERY_SCOPE, free_port, path_of, tool_paths
from test_pages import post_forms, url_of
from test_production import GUNICORN, environ_for

import logs
from config import CALLBACK_PATH, SESSION_COOKIE, redirect_uri_at
from errors import RedactCallbackParameters
from ilert.oauth import TOKEN_PATH
from sandbox import CLIENT_SECRET
from sandbox.tokens import ACCESS_TOKEN_PREFIX
from tests.tools import pending_sign_in_secrets
from views.registry import ACTIONS, PAGES

TOKEN_PREFIXES = (ACCESS_TOKEN_PREFIX, "sbx_rt_", "sbx_code_")


@pytest.fixture
def served_app(live_app):
    """The app at DEBUG with JSON logs and the flow inspector, on a real werkzeug server (with
    its access log), against a sandbox with 2-second access tokens, signing in with every scope."""
    served = live_app(
        access_token_ttl=2,
        LOG_LEVEL="DEBUG",
        LOG_FORMAT="json",
        FLOW_INSPECTOR="true",
        ILERT_SCOPES=EVERY_SCOPE,
    )
    return served.app, served.url


def stored_session(app, browser):
    return app.session_interface.inner.cache.get("session:" + browser.cookies[SESSION_COOKIE])


def is_the_test_browsers_own(record):
    """urllib3's DEBUG line for a request the test's browser made to the app (localhost);
    the app's own upstream calls go to the sandbox at 127.0.0.1."""
    return record.name.startswith("urllib3") and "localhost" in record.args


def test_no_secret_reaches_a_response_or_a_log_line(served_app, caplog, clock):
    caplog.set_level(logging.DEBUG)
    app, url = served_app
    answers = []
    browser = requests.Session()
    browser.hooks["response"].append(
        lambda response, **_: answers.append(response) if response.url.startswith(url) else None
    )
    secrets = {CLIENT_SECRET}

    consent = browser.get(f"{url}/login", params={"next": path_of("pages.token_info")})
    secrets.update(pending_sign_in_secrets(app, browser.cookies.get_dict()))
    granted = browser.post(
        consent.url, data={"user": "ada.lovelace", "decision": "allow"}, allow_redirects=False
    )
    secrets.add(parse_qs(urlsplit(granted.headers["Location"]).query)["code"][0])
    assert browser.get(granted.headers["Location"]).status_code == 200

    def remember_tokens():
        tokens = app.extensions["store"].get("tokens", browser.cookies[SESSION_COOKIE])
        secrets.update((tokens["access_token"], tokens["refresh_token"]))

    remember_tokens()
    for path in ("/", *(url_of(app, page.endpoint) for page in PAGES), *tool_paths(app)):
        assert browser.get(url + path).status_code == 200, path
    routes = app.url_map.bind("localhost")
    for action in ACTIONS:  # each action's first button on its page, and the page it returns to
        back = url_of(app, action.back)
        offered = [
            (form_url, fields)
            for form_url, fields in post_forms(browser.get(url + back).text)
            if routes.match(form_url, method="POST")[0] == action.endpoint
        ]
        assert offered, f"{back} offers no {action.endpoint} button"
        form_url, fields = offered[0]
        done = browser.post(url + form_url, data={k: html.unescape(v) for k, v in fields.items()})
        assert (done.status_code, urlsplit(done.url).path) == (200, back), action.endpoint
    assert browser.get(f"{url}/me", headers={"Accept": "application/json"}).status_code == 200
    clock.advance(2)
    assert browser.get(f"{url}/me").status_code == 200  # refreshed
    remember_tokens()
    for path in tool_paths(app):  # the flow inspector's record of the refresh, among them
        assert browser.get(url + path, headers={"Accept": "application/json"}).status_code == 200
    assert len(secrets) == 8  # with the pending sign-in's nonce and verifier
    metrics_text = browser.get(f"{url}/metrics")  # on loopback: served
    assert "ilert_app_refreshes_total" in metrics_text.text
    csrf_token = stored_session(app, browser)["csrf_token"]
    assert browser.post(f"{url}/logout", data={"csrf_token": csrf_token}).status_code == 200

    # Everything the app said: bodies, headers (Location, Set-Cookie), and every log line.
    outputs = [response.text for response in answers]
    outputs += [str(response.headers) for response in answers]
    records = [record for record in caplog.records if not is_the_test_browsers_own(record)]
    outputs += [caplog.handler.format(record) for record in records]
    outputs += [logs.formatter("json").format(record) for record in records]  # LOG_FORMAT
    assert len(answers) >= 10
    assert f"{CALLBACK_PATH}?code=[redacted]&state=[redacted]" in caplog.text
    assert "POST http://127.0.0.1:" in caplog.text  # upstream calls are logged at DEBUG
    for output in outputs:
        for secret in secrets:
            assert secret not in output
        for prefix in TOKEN_PREFIXES:
            assert prefix not in output


def test_session_cookie_is_httponly_and_lax(client):
    cookie = client.get("/login").headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie


@pytest.mark.parametrize(
    ("settings", "secure"),
    [
        ({"ILERT_REDIRECT_URI": "https://localhost:4597/authorize-result"}, True),
        ({"SESSION_COOKIE_SECURE": "true"}, True),
        ({"SESSION_COOKIE_SECURE": "false"}, False),
    ],
)
def test_session_cookie_is_secure_with_https(make_app, settings, secure):
    client = make_app(**settings).test_client()
    cookie = client.get("/login").headers["Set-Cookie"]
    assert ("Secure" in cookie) is secure


@pytest.mark.parametrize(
    "path",
    ["/", "/me", path_of("pages.token_info"), CALLBACK_PATH, "/nowhere", "/static/nowhere.css"],
)
def test_pages_send_security_headers(client, auth, path):
    auth.sign_in()
    response = client.get(path)
    policy = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert "default-src 'none'" in policy
    assert response.headers.getlist("X-Content-Type-Options") == ["nosniff"]
    assert response.headers.getlist("Referrer-Policy") == ["no-referrer"]
    assert response.headers.getlist("Cache-Control") == ["no-store"]
    assert len(response.headers.getlist("Content-Security-Policy")) == 1


def test_static_files_may_be_cached(client):
    with client.get("/static/style.css") as response:
        assert response.status_code == 200
        assert response.headers.get("Cache-Control") != "no-store"
        assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    "log_format",
    [
        '"%(r)s" %(s)s "%(f)s"',  # gunicorn.conf.py's, in short
        "%(q)s",
        "query=%(q)s [%(q)s] (%(q)s) |%(q)s :%(q)s",
    ],
)
def test_access_log_lines_are_redacted_whatever_the_format(log_format):
    atoms = {
        "r": "GET /authorize-result?code=sbx_code&state=sbx_state HTTP/1.1",
        "q": "code=sbx_code&state=sbx_state",
        "s": "302",
        "f": "https://app.ilert.com/api/developers/oauth2/authorize?client_id=x&state=sbx_state",
    }
    record = logging.LogRecord("gunicorn.access", logging.INFO, "", 0, log_format, (atoms,), None)
    assert RedactCallbackParameters().filter(record)
    line = record.getMessage()
    assert "sbx_code" not in line and "sbx_state" not in line, line
    assert "code=[redacted]" in line and record.args == ()
    error_code = logging.LogRecord("x", logging.INFO, "", 0, "error_code=5", (), None)
    RedactCallbackParameters().filter(error_code)
    assert error_code.getMessage() == "error_code=5"  # only whole names are redacted


@pytest.mark.parametrize(
    "request_line",
    [
        "GET /authorize-result?%63ode=sbx_code_x&state=sbx_state HTTP/1.1",
        "GET /authorize-result?c%6Fde=sbx_code_x&%73t%61te=sbx_state HTTP/1.1",
        "GET /authorize-result?state=sbx_state&%63%6f%64%65=sbx_code_x HTTP/1.1",
    ],
)
def test_access_log_redaction_reads_names_as_the_app_decodes_them(request_line):
    """The app reads `%63ode` as `code`: a callback sent that way must not log its code."""
    record = logging.LogRecord("gunicorn.access", logging.INFO, "", 0, request_line, (), None)
    assert RedactCallbackParameters().filter(record)
    line = record.getMessage()
    assert "sbx_code_x" not in line and "sbx_state" not in line, line
    assert line.count("[redacted]") == 2


class TokenTap:
    """WSGI middleware on the sandbox: every token its token endpoint hands out, as sent."""

    def __init__(self, wsgi_app):
        self.wsgi_app, self.tokens = wsgi_app, set()

    def __call__(self, environ, start_response):
        body = b"".join(self.wsgi_app(environ, start_response))
        if environ["PATH_INFO"] == TOKEN_PATH and body.startswith(b"{"):
            answer = json.loads(body)
            self.tokens.update(answer.get(name) for name in ("access_token", "refresh_token"))
        return [body]


@pytest.mark.slow
@pytest.mark.xdist_group("waits in real time")
def test_no_secret_reaches_gunicorns_json_logs_or_the_metrics(
    start_server, start_sandbox, tmp_path
):
    port = free_port()
    sandbox = start_sandbox(redirect_uris=[redirect_uri_at(port)], access_token_ttl=2)
    tap = sandbox.app.wsgi_app = TokenTap(sandbox.app.wsgi_app)
    settings = {"LOG_FORMAT": "json", "LOG_LEVEL": "DEBUG", "WEB_CONCURRENCY": 2}
    server = start_server(GUNICORN, environ_for(sandbox, port, tmp_path, **settings), port)
    browser = requests.Session()
    consent = browser.get(f"{server.url}/login", timeout=10)
    granted = browser.post(
        consent.url, data={"user": "ada.lovelace", "decision": "allow"}, allow_redirects=False
    )
    callback = parse_qs(urlsplit(granted.headers["Location"]).query)
    secrets = {CLIENT_SECRET, callback["code"][0], callback["state"][0]}
    assert browser.get(granted.headers["Location"], timeout=10).status_code == 200
    time.sleep(2)  # the access token expires: the next /me refreshes it
    assert browser.get(f"{server.url}/me", timeout=10).status_code == 200
    metrics_text = browser.get(f"{server.url}/metrics", timeout=10).text
    assert "ilert_app_refreshes_total" in metrics_text
    server.stop()

    secrets |= tap.tokens - {None}
    assert len(secrets) == 7  # the secret, code, state, two access and two refresh tokens
    log = server.log()
    lines = [json.loads(line) for line in log.splitlines()]
    assert any(line["logger"].startswith("ilert") and line["level"] == "DEBUG" for line in lines)
    for output in (log, metrics_text):
        for secret in secrets:
            assert secret not in output
        for prefix in TOKEN_PREFIXES:
            assert prefix not in output
