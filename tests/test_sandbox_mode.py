"""`python app.py` with no ilert account: the built-in sandbox, clicked through over HTTP.
Running without sandbox mode (docs/forking.md) deletes this file."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from conftest import EVERY_SCOPE, LANDING, ROOT, ServerProcess, free_port, path_of, process_environ

from config import CALLBACK_PATH, redirect_uri_at
from tests.test_app_py import run_app_py

# Each test starts python app.py; one xdist worker runs them all, since the module's fixture
# removes the sandbox state files its processes leave in instance/.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("python app.py")]


@pytest.fixture(autouse=True, scope="module")
def remove_sandbox_state_files():
    """`python app.py` keeps the sandbox's state in instance/sandbox-<port>.json: remove
    the ones this module's tests made."""
    folder = Path(ROOT, "instance")
    before = set(folder.glob("sandbox-*.json"))
    yield
    for state_file in set(folder.glob("sandbox-*.json")) - before:
        state_file.unlink()


def app_py_environ(port, folder):
    """The environment of `python app.py` in sandbox mode on `port`, sessions in `folder`."""
    return process_environ(
        PORT=port,
        SANDBOX_PORT=free_port(),
        ILERT_REDIRECT_URI=redirect_uri_at(port),
        ILERT_SCOPES=EVERY_SCOPE,
        SESSION_FILE_DIR=folder / "sessions",
    )


@pytest.fixture(scope="module")
def shared_app_py(tmp_path_factory):
    """`python app.py` in sandbox mode on free ports, shared by the tests that neither stop
    it nor depend on what others did with it (each start costs most of a second)."""
    folder = tmp_path_factory.mktemp("app-py")
    port = free_port()
    server = ServerProcess(
        [sys.executable, "app.py"], app_py_environ(port, folder), port, folder / "app.log"
    )
    server.start()
    yield server
    server.stop()
    assert "Traceback" not in server.log(), "python app.py logged a traceback"


@pytest.fixture
def app_py(start_server, tmp_path):
    """`python app.py` in sandbox mode on free ports, for one test (which may stop it)."""
    port = free_port()
    return start_server([sys.executable, "app.py"], app_py_environ(port, tmp_path), port)


def click_through_sign_in(browser, app_url):
    """Home -> Sign in -> consent -> Allow, as a browser would (cookies, redirects)."""
    home = browser.get(app_url + "/")
    assert 'href="/login"' in home.text
    consent = browser.get(app_url + "/login")
    assert consent.status_code == 200
    assert 'name="decision"' in consent.text
    return browser.post(consent.url, data={"user": "ada.lovelace", "decision": "allow"})


def csrf_token(page):
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_sandbox_mode_can_be_clicked_through(shared_app_py):
    app_py = shared_app_py
    browser = requests.Session()
    landed = click_through_sign_in(browser, app_py.url)
    assert landed.status_code == 200 and landed.url == app_py.url + LANDING
    profile = browser.get(app_py.url + "/me")
    assert "Ada Lovelace" in profile.text
    assert "Sandbox mode" in profile.text
    assert "ada.lovelace" in browser.get(app_py.url + path_of("pages.token_info")).text
    assert "<table>" in browser.get(app_py.url + path_of("pages.alert_sources")).text
    signed_out = browser.post(app_py.url + "/logout", data={"csrf_token": csrf_token(profile.text)})
    assert signed_out.url == app_py.url + "/"
    assert "You are signed out." in signed_out.text
    log = app_py.log()
    assert f"Open {app_py.url} in your browser." in log
    assert "Sandbox mode" in log


def test_error_pages_show_the_sandbox_banner(shared_app_py):
    response = requests.get(f"{shared_app_py.url}{CALLBACK_PATH}?state=forged&code=x")
    assert response.status_code == 400
    assert "Sandbox mode" in response.text


def test_restarting_app_py_signs_nobody_out(app_py):
    browser = requests.Session()
    click_through_sign_in(browser, app_py.url)
    app_py.stop()
    app_py.start()
    profile = browser.get(app_py.url + "/me", allow_redirects=False)
    assert profile.status_code == 200
    assert "Ada Lovelace" in profile.text


def test_callback_code_and_state_are_redacted_in_the_access_log(shared_app_py):
    url = shared_app_py.url
    requests.get(f"{url}{CALLBACK_PATH}?code=sbx_code_secret&state=secretstate")
    log = shared_app_py.log()
    assert f"{CALLBACK_PATH}?code=[redacted]&state=[redacted]" in log
    assert "sbx_code_secret" not in log and "secretstate" not in log


def test_busy_sandbox_port_stops_with_one_line(shared_app_py):
    sandbox_port = shared_app_py.environ["SANDBOX_PORT"]
    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=ROOT,
        env=process_environ(PORT=free_port(), SANDBOX_PORT=sandbox_port),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 3
    assert result.stderr.strip().splitlines() == [
        f"Configuration error: SANDBOX_PORT {sandbox_port} is busy: stop what uses it "
        "or set SANDBOX_PORT to a free port"
    ]


def test_sandbox_mode_follows_port_alone(start_server, tmp_path):
    port = free_port()
    environ = process_environ(
        PORT=port, SANDBOX_PORT=free_port(), SESSION_FILE_DIR=tmp_path / "sessions"
    )
    server = start_server([sys.executable, "app.py"], environ, port)
    assert f"Open http://localhost:{port} in your browser." in server.log()
    assert "Warning" not in server.log()
    browser = requests.Session()
    click_through_sign_in(browser, server.url)
    assert browser.get(server.url + "/me", allow_redirects=False).status_code == 200


def test_a_redirect_uri_on_another_port_is_warned_about(start_server, tmp_path):
    port = free_port()
    other = port + 1 if port < 65535 else port - 1
    environ = process_environ(
        PORT=port,
        SANDBOX_PORT=free_port(),
        SESSION_FILE_DIR=tmp_path / "sessions",
        ILERT_REDIRECT_URI=redirect_uri_at(other),
    )
    server = start_server([sys.executable, "app.py"], environ, port)
    assert f"Warning: ILERT_REDIRECT_URI uses port {other}, but PORT is {port}" in server.log()
    assert f"Open http://localhost:{other} in your browser." in server.log()


def test_flask_debug_reloader_serves_the_sandbox_once(start_server, tmp_path):
    port, sandbox_port = free_port(), free_port()
    environ = process_environ(
        PORT=port,
        SANDBOX_PORT=sandbox_port,
        ILERT_REDIRECT_URI=redirect_uri_at(port),
        SESSION_FILE_DIR=tmp_path / "sessions",
        FLASK_DEBUG="1",
    )
    server = start_server([sys.executable, "app.py"], environ, port)
    browser = requests.Session()
    landed = click_through_sign_in(browser, server.url)
    assert landed.status_code == 200 and landed.url == server.url + LANDING
    assert "is busy" not in server.log()
    assert server.process.poll() is None


# Each host and each debugger setting once, as a process; tests/test_config.py checks the
# rule in-process for many more hosts and settings.
@pytest.mark.parametrize(("host", "debug"), [("0.0.0.0", None), ("::", "1")])
def test_sandbox_mode_refuses_to_listen_beyond_loopback(host, debug, tmp_path):
    debug = {"FLASK_DEBUG": debug} if debug else {}
    result = run_app_py(HOST=host, SESSION_FILE_DIR=tmp_path, **debug)
    assert result.returncode == 3
    assert result.stderr.strip().splitlines() == [
        f"Configuration error: HOST {host!r} is beyond loopback, which sandbox mode refuses: "
        "its sign-in is fake and its client secret public; keep HOST=127.0.0.1, or use a real "
        "ilert app (ILERT_CLIENT_ID, ILERT_CLIENT_SECRET) and gunicorn"
    ]
    assert "Sandbox mode" not in result.stdout
