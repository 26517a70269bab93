"""Logs that connect: each request's id on its log lines, its answer and its error page;
JSON lines for the app and gunicorn alike; a User-Agent on every call to ilert."""

import json
import logging
import re
import sys

import pytest
from conftest import free_port, signed_in_browser
from test_production import environ_for

import logs
from config import APP_NAME, APP_VERSION, CALLBACK_PATH, redirect_uri_at
from ilert.oauth import AUTHORIZE_PATH, REVOKE_PATH, TOKEN_INFO_PATH, TOKEN_PATH, user_agent


def test_every_answer_has_a_request_id_of_its_own(client):
    first, second = client.get("/"), client.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{16}", first.headers["X-Request-ID"])
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


def test_an_error_page_quotes_its_request_id(client):
    response = client.get("/nowhere")
    assert response.status_code == 404
    request_id = response.headers["X-Request-ID"]
    assert f"quote this id: <code>{request_id}</code>" in response.get_data(as_text=True)


def test_a_proxy_on_this_machine_may_give_the_id(client):
    response = client.get("/nowhere", headers={"X-Request-ID": "proxy-7f3a.1"})
    assert response.headers["X-Request-ID"] == "proxy-7f3a.1"
    assert "<code>proxy-7f3a.1</code>" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("given", "peer"),
    [
        ("forged ERROR admin signed in", "127.0.0.1"),  # a forged line in a text log
        ("x" * 129, "127.0.0.1"),
        ("looks-fine", "203.0.113.9"),  # not from this machine: anyone could send it
    ],
)
def test_an_untrusted_or_malformed_id_is_replaced(client, given, peer):
    response = client.get("/", headers={"X-Request-ID": given}, environ_base={"REMOTE_ADDR": peer})
    assert re.fullmatch(r"[0-9a-f]{16}", response.headers["X-Request-ID"])


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_requests_log_lines_carry_its_id(make_app, auth_for, sandbox, caplog, log_format):
    client = make_app(LOG_FORMAT=log_format).test_client()
    auth_for(client).sign_in()
    sandbox.fault(endpoint="users_current", status=500, body="<html>down</html>")
    caplog.set_level(logging.INFO)
    response = client.get("/me")
    assert response.status_code == 502
    request_id = response.headers["X-Request-ID"]
    (record,) = [r for r in caplog.records if r.getMessage().startswith("ilert call failed")]
    line = logs.formatter(log_format).format(record)
    if log_format == "json":
        fields = json.loads(line)
        assert fields["request_id"] == request_id
        assert (fields["method"], fields["path"]) == ("GET", "/me")
        assert fields["level"] == "WARNING" and fields["logger"] == "errors"
        assert fields["message"] == "ilert call failed: http_500 (502)"
    else:
        assert f"WARNING errors [{request_id}]: ilert call failed" in line


def test_every_call_to_ilert_names_the_app(make_app, auth_for, start_sandbox):
    sandbox = start_sandbox()
    agents = []
    inner = sandbox.app.wsgi_app

    def watch(environ, start_response):
        if environ["PATH_INFO"] != AUTHORIZE_PATH:  # the test's browser at the consent page
            agents.append((environ["PATH_INFO"], environ.get("HTTP_USER_AGENT")))
        return inner(environ, start_response)

    sandbox.app.wsgi_app = watch
    client = make_app(sandbox=sandbox).test_client()
    auth = auth_for(client, sandbox)
    auth.sign_in()
    assert client.get("/token-info").status_code == 200
    auth.log_out()
    assert user_agent() == "-".join(re.findall("[A-Za-z0-9]+", APP_NAME)) + f"/{APP_VERSION}"
    api_paths = {TOKEN_PATH, "/api/users/current", TOKEN_INFO_PATH, REVOKE_PATH}
    assert {path for path, _ in agents} == api_paths
    assert {agent for _, agent in agents} == {user_agent()}


@pytest.mark.slow
@pytest.mark.xdist_group("waits in real time")
def test_gunicorn_logs_json_lines_that_share_the_request_id(start_server, start_sandbox, tmp_path):
    port = free_port()
    sandbox = start_sandbox(redirect_uris=[redirect_uri_at(port)])
    environ = environ_for(sandbox, port, tmp_path, LOG_FORMAT="json", WEB_CONCURRENCY=2)
    server = start_server([sys.executable, "-m", "gunicorn", "app:create_app()"], environ, port)
    browser = signed_in_browser(server.url)
    sandbox.fault(endpoint="users_current", status=500, body="<html>down</html>")
    failed = browser.get(f"{server.url}/me", timeout=10)
    assert failed.status_code == 502
    browser.get(f"{server.url}{CALLBACK_PATH}?code=sbx_code_x&state=sbx_state_y", timeout=10)
    server.stop()

    lines = [json.loads(line) for line in server.log().splitlines()]
    request_id = failed.headers["X-Request-ID"]
    of_the_request = [line for line in lines if line["request_id"] == request_id]
    assert {line["logger"] for line in of_the_request} == {"errors", "gunicorn.access"}
    (access,) = [line for line in of_the_request if line["logger"] == "gunicorn.access"]
    assert (access["method"], access["path"], access["status"]) == ("GET", "/me", 502)
    assert access["duration_ms"] >= 0
    assert {"time", "level", "message"} <= set(access)
    assert any(line["logger"] == "gunicorn.error" for line in lines)  # gunicorn's own lines
    (callback,) = [
        line
        for line in lines
        if line["logger"] == "gunicorn.access"
        and line["path"] == CALLBACK_PATH
        and line["status"] == 400
    ]
    assert f"{CALLBACK_PATH}?code=[redacted]&state=[redacted]" in callback["message"]
    assert "sbx_code_x" not in server.log() and "sbx_state_y" not in server.log()
