"""Tokens under concurrency: real gunicorn workers, real Redis, one refresh at a time."""

import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from conftest import LANDING, free_port, process_environ, profiles_at_once, signed_in_browser

from config import CALLBACK_PATH, SESSION_COOKIE, redirect_uri_at
from tests.tools import hold_next_call

# gunicorn workers, Redis, and waits in real time: one xdist worker runs every test that waits
# for real time to pass (pyproject's --dist loadgroup), while the others keep the cores busy.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("waits in real time")]

ACCESS_TOKEN_TTL = 2  # real seconds: the workers are other processes
CONCURRENT_REQUESTS = 50
# 50 calls at once are more than the default budget lets through within its short wait.
ROOMY_BUDGET = {"ILERT_RATE_LIMIT": "6000/min"}


def gunicorn(start_server, sandbox, port, *options, workers=2, wait=True, **settings):
    """`gunicorn app:create_app()` with `workers` workers, pointed at `sandbox` (`wait`: as
    for `start_server`)."""
    environ = process_environ(
        ILERT_CLIENT_ID="sandbox-client-id",
        ILERT_CLIENT_SECRET="sandbox-client-secret",
        ILERT_AUTH_URL=sandbox.url,
        ILERT_API_URL=sandbox.url,
        ILERT_REDIRECT_URI=redirect_uri_at(port),
        SECRET_KEY="concurrency-test-secret-key-0123456789",
        **settings,
    )
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        str(workers),
        "--threads",
        "8",
        "--bind",
        f"127.0.0.1:{port}",
        # Nothing is in flight when a test stops it: past 5 s the master kills a worker that
        # is still winding down (a few full runs saw one take longer than the 15 s stop).
        "--graceful-timeout",
        "5",
        *options,
        "app:create_app()",
    ]
    return start_server(command, environ, port, wait=wait)


def redis_settings(redis_server):
    return {"SESSION_TYPE": "redis", "REDIS_URL": redis_server.url}


def sign_in(app_url):
    """Sign in over real HTTP; returns the session cookie."""
    return signed_in_browser(app_url).cookies.get(SESSION_COOKIE)


def wait_for_expiry():
    time.sleep(ACCESS_TOKEN_TTL)


@pytest.fixture
def short_lived_sandbox(start_sandbox):
    return start_sandbox(access_token_ttl=ACCESS_TOKEN_TTL)


def test_burst_at_expiry_refreshes_once_across_gunicorn_workers(
    start_server, short_lived_sandbox, tmp_path
):
    sandbox = short_lived_sandbox
    port = free_port()
    sandbox.state.redirect_uris.append(redirect_uri_at(port))
    app = gunicorn(
        start_server, sandbox, port, SESSION_FILE_DIR=tmp_path / "sessions", **ROOMY_BUDGET
    )
    cookie = sign_in(app.url)
    for expected_refreshes in (1, 2):
        wait_for_expiry()
        assert (
            profiles_at_once([app.url], cookie, CONCURRENT_REQUESTS) == [200] * CONCURRENT_REQUESTS
        )
        assert sandbox.stats()["token"]["refresh_token"] == expected_refreshes


def test_burst_at_expiry_refreshes_once_across_instances_sharing_redis(
    start_server, short_lived_sandbox, redis_server
):
    sandbox = short_lived_sandbox
    ports = [free_port(), free_port()]
    for port in ports:
        sandbox.state.redirect_uris.append(redirect_uri_at(port))
    instances = [
        gunicorn(  # one worker each: the instances are processes of their own
            start_server,
            sandbox,
            port,
            workers=1,
            wait=False,
            **redis_settings(redis_server),
            **ROOMY_BUDGET,
        )
        for port in ports
    ]
    for instance in instances:
        instance.wait_until_listening()
    cookie = sign_in(instances[0].url)
    urls = [instance.url for instance in instances]
    for expected_refreshes in (1, 2):
        wait_for_expiry()
        assert profiles_at_once(urls, cookie, CONCURRENT_REQUESTS) == [200] * CONCURRENT_REQUESTS
        assert sandbox.stats()["token"]["refresh_token"] == expected_refreshes


def test_logout_on_one_instance_signs_out_everywhere(start_server, sandbox, redis_server):
    ports = [free_port(), free_port()]
    for port in ports:
        sandbox.state.redirect_uris.append(redirect_uri_at(port))
    first, second = [
        gunicorn(  # one worker each: the instances are processes of their own
            start_server,
            sandbox,
            port,
            workers=1,
            wait=False,
            **redis_settings(redis_server),
            **ROOMY_BUDGET,
        )
        for port in ports
    ]
    first.wait_until_listening()
    second.wait_until_listening()
    cookie = sign_in(first.url)
    page = requests.get(f"{second.url}/me", cookies={SESSION_COOKIE: cookie}, timeout=10)
    assert page.status_code == 200
    csrf_token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    logout = requests.post(
        f"{second.url}/logout",
        data={"csrf_token": csrf_token},
        cookies={SESSION_COOKIE: cookie},
        allow_redirects=False,
        timeout=10,
    )
    assert logout.status_code == 302
    assert sandbox.stats()["revoke"] == 1
    after = requests.get(
        f"{first.url}/me", cookies={SESSION_COOKIE: cookie}, allow_redirects=False, timeout=10
    )
    assert after.status_code == 302
    assert after.headers["Location"].startswith("/login")


@pytest.mark.parametrize("store", ["filesystem", "redis"])
def test_waiting_too_long_for_another_refresh_answers_503(
    request, make_app, start_sandbox, auth_for, store, clock
):
    sandbox = start_sandbox(access_token_ttl=2)
    settings = {"HTTP_TIMEOUT": "0.5", "SESSION_TYPE": store}  # how long a request waits
    if store == "redis":
        settings["REDIS_URL"] = request.getfixturevalue("redis_server").url
    app = make_app(sandbox=sandbox, **settings)
    client = app.test_client()
    auth_for(client, sandbox).sign_in()
    clock.advance(2)
    sid = client.get_cookie(client.session_cookie).value
    with app.extensions["store"].lock("tokens", sid, wait=1):  # another request is refreshing
        response = client.get("/me")
    assert response.status_code == 503
    assert b"Please try again" in response.data
    assert response.headers["Retry-After"] == "1"
    assert sandbox.stats()["token"]["refresh_token"] == 0
    assert client.get("/me").status_code == 200


def test_gunicorn_access_log_redacts_the_callback_code_and_state(start_server, sandbox, tmp_path):
    port = free_port()
    log_format = "%(r)s | %(q)s | %(U)s | %({X-Forwarded-For}i)s"
    app = gunicorn(
        start_server,
        sandbox,
        port,
        "--access-logfile",
        "-",
        "--access-logformat",
        log_format,
        SESSION_FILE_DIR=tmp_path / "sessions",
    )
    requests.get(f"{app.url}{CALLBACK_PATH}?code=sbx_code_secret&state=secretstate", timeout=10)
    deadline = time.monotonic() + 5
    while CALLBACK_PATH not in app.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    log = app.log()
    assert f"{CALLBACK_PATH}?code=[redacted]&state=[redacted]" in log
    assert "| code=[redacted]&state=[redacted] |" in log
    assert "sbx_code_secret" not in log and "secretstate" not in log
    assert "Logging error" not in log and "| -" in log  # gunicorn's atoms survive redaction


def test_a_slow_api_call_does_not_lose_a_sign_in_started_meanwhile(live_app):
    """A slow /me that ends after a second tab started signing in must not undo that
    sign-in (e.g. by writing back its older copy of the session). The sandbox holds /me's
    profile call until the second tab has its code, so the overlap always happens."""
    served = live_app(FLOW_INSPECTOR="true")
    browser = requests.Session()
    consent = browser.get(f"{served.url}/login", timeout=10)
    browser.post(consent.url, data={"user": "ada.lovelace", "decision": "allow"}, timeout=10)
    cookie = browser.cookies.get(SESSION_COOKIE)
    reached, release = hold_next_call(served.sandbox.app, "/api/users/current")
    with ThreadPoolExecutor(1) as pool:
        slow_me = pool.submit(
            requests.get, f"{served.url}/me", cookies={SESSION_COOKIE: cookie}, timeout=10
        )
        try:
            assert reached.wait(10), "the slow /me never reached the sandbox"
            second_tab = browser.get(f"{served.url}/login", allow_redirects=False, timeout=10)
            granted = requests.post(
                second_tab.headers["Location"],
                data={"user": "ada.lovelace", "decision": "allow"},
                allow_redirects=False,
                timeout=10,
            )
            assert not slow_me.done()  # the second tab signed in while /me was under way
        finally:
            release.set()
        assert slow_me.result().status_code == 200
    callback = browser.get(granted.headers["Location"], allow_redirects=False, timeout=10)
    assert callback.status_code == 302
    assert callback.headers["Location"] == LANDING
