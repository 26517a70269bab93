"""Logs that connect: each request's id on its log lines, its answer and its error page;
JSON lines for the app and gunicorn alike; a User-Agent on every call to ilert."""

import json
import logging
import os
import re
import subprocess
import sys

import pytest
from conftest import ROOT, free_port, path_of, signed_in_browser
from test_production import environ_for

import logs
from config import APP_NAME, APP_VERSION, CALLBACK_PATH, redirect_uri_at
from ilert.oauth import AUTHORIZE_PATH, REVOKE_PATH, TOKEN_INFO_PATH, TOKEN_PATH
from ilert.upstream import user_agent


def test_every_answer_has_a_request_id_of_its_own(client):
    first, second = client.get("/"), client.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{16}", first.headers["X-Request-ID"])
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


def test_request_ids_stay_distinct_across_their_batches():
    ids = [logs.new_request_id() for _ in range(3 * logs.ID_BATCH + 1)]
    assert all(re.fullmatch(r"[0-9a-f]{16}", rid) for rid in ids)
    assert len(set(ids)) == len(ids)


@pytest.mark.filterwarnings("ignore:.*fork:DeprecationWarning")  # the child only writes, then exits
def test_a_forked_worker_draws_request_ids_of_its_own():
    logs.new_request_id()  # the rest of its batch waits in this process
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        os.write(write_end, logs.new_request_id().encode())
        os._exit(0)
    os.waitpid(child, 0)
    assert os.read(read_end, 16).decode() != logs.new_request_id()


def test_request_ids_come_where_there_is_no_fork():
    """Windows has no os.fork nor os.register_at_fork: logs.py imports there all the same."""
    code = "import os; del os.fork, os.register_at_fork; import logs; print(logs.new_request_id())"
    made = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert re.fullmatch(r"[0-9a-f]{16}\n", made.stdout), made.stderr


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


@pytest.mark.parametrize("odd", ["\x85", "\u2028", "\u2029", "\x1b[31m", "\x9b", "\r\n"])
def test_a_json_line_stays_one_line_whatever_its_path_and_message_hold(odd):
    """A client chooses its path and its headers, which lines quote: every reader, whatever it
    takes as a line end, must read one line, and get back what was said."""
    record = logging.makeLogRecord(
        {"name": "errors", "levelname": "WARNING", "msg": f"said {odd}!", "path": f"/a{odd}b"}
    )
    line = logs.formatter("json").format(record)
    assert line.isascii() and len(line.splitlines()) == 1
    fields = json.loads(line)
    assert (fields["message"], fields["path"]) == (f"said {odd}!", f"/a{odd}b")


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
    assert client.get(path_of("pages.token_info")).status_code == 200
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


# gunicorn.conf.py's logger, built as gunicorn builds it, writes access lines for the answers
# in argv[1] (JSON) with its own atoms and with gunicorn's: it prints both, a pair a line.
ACCESS_LINES = """
import datetime, json, runpy, sys, types
from gunicorn.config import Config
from gunicorn.glogging import Logger

conf = runpy.run_path("gunicorn.conf.py")
for log_format in (conf["access_log_format"], "%(p)s %(U)s"):
    cfg = Config()
    cfg.set("access_log_format", log_format)
    logger = conf["AppLogger"](cfg)
    print(json.dumps([log_format, logger.prints_own_atoms_only]))
cfg = Config()
cfg.set("access_log_format", conf["access_log_format"])
logger = conf["AppLogger"](cfg)
logger.now = lambda: "[03/Dec/2026:13:15:17 +0000]"  # both read the clock: the same second
for case in json.loads(sys.argv[1]):
    resp = types.SimpleNamespace(status=case["status"], sent=case["sent"], headers=case["out"])
    req = types.SimpleNamespace(headers=case["in"])
    took = datetime.timedelta(microseconds=case["microseconds"])
    own = logger.own_format_atoms(resp, case["environ"], took)
    assert set(own) == conf["OWN_FORMAT_ATOMS"], set(own) ^ conf["OWN_FORMAT_ATOMS"]
    theirs = Logger.atoms(logger, resp, req, case["environ"], took)
    lines = [cfg.access_log_format % logger.atoms_wrapper_class(atoms) for atoms in (own, theirs)]
    print(json.dumps(lines))
"""


def test_gunicorn_conf_writes_the_access_lines_gunicorns_own_atoms_give(tmp_path, sandbox):
    """gunicorn.conf.py builds only the atoms its format prints; its lines are gunicorn's."""
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": "/me", "SERVER_PROTOCOL": "HTTP/1.1"}
    environ |= {"REMOTE_ADDR": "127.0.0.1", "PATH_INFO": "/me", "QUERY_STRING": ""}
    everything = {
        **environ,
        "HTTP_REFERER": 'http://localhost/"quoted"',
        "HTTP_USER_AGENT": 'agent "with" quotes',
        "HTTP_AUTHORIZATION": "Basic YWRhOnNlY3JldA==",  # ada:secret
    }
    cases = [
        {"status": "200 OK", "sent": 351, "microseconds": 1234, "environ": everything,
         "in": [["USER-AGENT", everything["HTTP_USER_AGENT"]]],
         "out": [["Content-Type", "application/json"], ["X-Request-ID", "bb86ae9313174413"]]},
        {"status": "404 NOT FOUND", "sent": 0, "microseconds": 2_500_000,
         "environ": {**environ, "RAW_URI": "/authorize-result?code=c&state=s"},
         "in": [], "out": [["x-request-id", "first"], ["X-REQUEST-ID", "last"]]},
        {"status": "502 Bad Gateway", "sent": None, "microseconds": 0,
         "environ": {k: v for k, v in environ.items() if k != "REMOTE_ADDR"},
         "in": [], "out": []},
    ]  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", ACCESS_LINES, json.dumps(cases)],
        cwd=ROOT,
        env=environ_for(sandbox, free_port(), tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    own_format, other_format, *pairs = [json.loads(line) for line in done.stdout.splitlines()]
    assert own_format[1] is True and other_format == ["%(p)s %(U)s", False]
    assert len(pairs) == len(cases)
    for own, theirs in pairs:
        assert own == theirs
    line = '127.0.0.1 - ada [03/Dec/2026:13:15:17 +0000] "GET /me HTTP/1.1" 200 351 '
    assert (
        pairs[0][0]
        == line + '"http://localhost/\\"quoted\\"" "agent \\"with\\" quotes" 1ms bb86ae9313174413'
    )
    assert pairs[1][0].endswith('?code=c&state=s HTTP/1.1" 404 0 "-" "-" 2500ms last')
    assert pairs[2][0].startswith("- - - ") and pairs[2][0].endswith(' 502 - "-" "-" 0ms -')
