"""The production command, `gunicorn "app:create_app()"`, with nothing but gunicorn.conf.py."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import unquote

import pytest
import requests
from conftest import LANDING, ROOT, free_port, process_environ, profiles_at_once, signed_in_browser

import app
import config
from config import CALLBACK_PATH, SESSION_COOKIE, redirect_uri_at
from ilert import oauth
from sandbox import CLIENT_ID, CLIENT_SECRET
from store import sign_ins
from tests.tools import hold_next_call
from views.auth import safe_next

# gunicorn processes, some waiting in real time (see test_concurrency.py for the group).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("waits in real time")]

AT_ONCE = 32  # more than urllib3's default pool of 10 connections
# Seconds of a refresh in flight at a SIGTERM: longer than the 25 s graceful_timeout was capped at.
REFRESH_AT_SIGTERM = 28
GUNICORN = [sys.executable, "-m", "gunicorn", "app:create_app()"]


class UpstreamWatch:
    """WSGI middleware on the sandbox: the most requests it has served at once."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app
        self.in_flight = self.most_in_flight = 0
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self._lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            return self.wsgi_app(environ, start_response)
        finally:
            with self._lock:
                self.in_flight -= 1


def environ_for(sandbox, port, tmp_path, **settings):
    """The settings of the app on `port`, pointed at `sandbox`: nothing for gunicorn itself
    but what the app also reads (`PORT`) and `WEB_CONCURRENCY`."""
    return process_environ(
        **{
            "ILERT_CLIENT_ID": CLIENT_ID,
            "ILERT_CLIENT_SECRET": CLIENT_SECRET,
            "ILERT_AUTH_URL": sandbox.url,
            "ILERT_API_URL": sandbox.url,
            "ILERT_REDIRECT_URI": redirect_uri_at(port),
            "SECRET_KEY": "production-test-secret-key-0123456789",
            "SESSION_FILE_DIR": tmp_path / "sessions",
            "PORT": port,
            **settings,
        }
    )


@pytest.fixture
def production(start_server, start_sandbox, tmp_path):
    """`production(**settings)`: `gunicorn "app:create_app()"` on a free port against a new
    sandbox watched by an UpstreamWatch; returns (server, sandbox, watch)."""

    def start(**settings):
        port = free_port()
        sandbox = start_sandbox(redirect_uris=[redirect_uri_at(port)])
        watch = UpstreamWatch(sandbox.app.wsgi_app)
        sandbox.app.wsgi_app = watch
        server = start_server(GUNICORN, environ_for(sandbox, port, tmp_path, **settings), port)
        return server, sandbox, watch

    return start


def wait_for_log(server, text, times=1, seconds=15):
    """The server's log once `text` appears in it `times` times (workers boot after the
    master listens)."""
    deadline = time.monotonic() + seconds
    while server.log().count(text) < times and time.monotonic() < deadline:
        time.sleep(0.05)
    return server.log()


def post_raw(port, framing, body, ended=True):
    """POST `body` to /logout over a socket of its own, chunked or with its length: the
    status line and the rest of the answer. A chunked body not `ended` lacks its last chunk,
    so that only a server that stops reading early answers."""
    if framing == "chunked":
        chunks = [body[start : start + 8192] for start in range(0, len(body), 8192)]
        framed = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks)
        header, payload = "Transfer-Encoding: chunked", framed + (b"0\r\n\r\n" if ended else b"")
    else:
        header, payload = f"Content-Length: {len(body)}", body
    head = (
        f"POST /logout HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{header}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(head.encode() + payload)
        answer = connection.makefile("rb").read()
    status_line, _, rest = answer.partition(b"\r\n")
    return status_line, rest


@pytest.mark.parametrize("framing", ["chunked", "length"])
def test_a_body_past_the_limit_is_refused(production, framing):
    """Also one whose length is not given up front: without the limit, a chunked body was read
    into a worker's memory whole, however large. This one never ends: the answer comes once
    the limit is reached."""
    server, _, _ = production()
    far_past_it = b"next=" + b"x" * (app.MAX_REQUEST_BODY + 3 * 8192)  # chunks past the limit
    status_line, rest = post_raw(server.port, framing, far_past_it, ended=False)
    assert status_line == b"HTTP/1.1 413 REQUEST ENTITY TOO LARGE"
    assert b"X-Request-ID: " in rest and b"<!doctype html>" in rest  # the app's own page
    at_it = b"csrf_token=forged&next=" + b"x" * (app.MAX_REQUEST_BODY - 23)
    status_line, _ = post_raw(server.port, framing, at_it + b"x")  # one byte too many
    assert status_line == b"HTTP/1.1 413 REQUEST ENTITY TOO LARGE"
    status_line, rest = post_raw(server.port, framing, at_it)
    assert status_line == b"HTTP/1.1 400 BAD REQUEST"  # taken (no 413): then its token fails
    assert b"form has expired" in rest


def test_the_conf_alone_sets_workers_threads_and_bind(production):
    server, _, _ = production(WEB_CONCURRENCY=3, GUNICORN_THREADS=5)
    log = wait_for_log(server, "Booting worker with pid", 3)
    assert f"Listening at: http://127.0.0.1:{server.port}" in log
    assert "Using worker: gthread" in log
    assert "Serving 15 requests at once: 3 gthread workers x 5 threads" in log
    assert log.count("Booting worker with pid") == 3


def test_a_worker_serves_32_requests_at_once_through_one_pool(production):
    # 32 calls at once are more than the default budget lets through within its short wait.
    server, sandbox, watch = production(
        WEB_CONCURRENCY=1, GUNICORN_THREADS=AT_ONCE, ILERT_RATE_LIMIT="6000/min"
    )
    cookie = signed_in_browser(server.url).cookies.get(SESSION_COOKIE)
    # Each call waits long enough for all 32 to arrive, even with the other test worker busy
    # (with 1 s, 24 of them once overlapped).
    sandbox.fault(endpoint="users_current", count=AT_ONCE, delay=3)
    assert profiles_at_once([server.url], cookie, AT_ONCE) == [200] * AT_ONCE
    assert watch.most_in_flight == AT_ONCE  # all 32 threads waited on the upstream together
    assert "Connection pool is full" not in server.log()


def test_the_access_log_redacts_the_callback_code_and_state(production):
    server, _, _ = production()
    referer = "https://app.ilert.com/api/developers/oauth2/authorize?client_id=x&state=refstate"
    answer = requests.get(
        f"{server.url}{CALLBACK_PATH}?code=sbx_code_secret&state=secretstate",
        headers={"Referer": referer},
        timeout=10,
    )
    log = wait_for_log(server, CALLBACK_PATH)
    assert f'"GET {CALLBACK_PATH}?code=[redacted]&state=[redacted] HTTP/1.1" 400' in log
    assert f"ms {answer.headers['X-Request-ID']}\n" in log  # the line's last atom
    assert "authorize?client_id=x&state=[redacted]" in log
    assert "sbx_code_secret" not in log and "secretstate" not in log and "refstate" not in log


@pytest.mark.parametrize(
    ("setting", "line"),
    [
        (
            {"GUNICORN_THREADS": "0"},
            "GUNICORN_THREADS is malformed: '0' is not a whole number of threads from 1 to 256",
        ),
        ({"PORT": "70000"}, "PORT is malformed: '70000' is not a port from 1 to 65535"),
        (
            {"WEB_CONCURRENCY": "0"},
            "WEB_CONCURRENCY is malformed: '0' is not a whole number of worker processes from 1 "
            "to 1024",
        ),
    ],
)
def test_a_bad_setting_stops_gunicorn_with_one_line(setting, line, sandbox, tmp_path):
    environ = environ_for(sandbox, free_port(), tmp_path, **setting)
    result = subprocess.run(
        GUNICORN, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 3
    assert result.stderr.strip().splitlines() == [f"Configuration error: {line}"]


def print_config(environ):
    """The settings gunicorn would run with (`gunicorn --print-config`), as strings by name."""
    result = subprocess.run(
        [*GUNICORN[:3], "--print-config", GUNICORN[3]],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    lines = (line.partition("=") for line in result.stdout.splitlines())
    return {name.strip(): value.strip() for name, _, value in lines}


def test_the_defaults_are_a_worker_per_core_with_64_threads(sandbox, tmp_path):
    port = free_port()
    settings = print_config(environ_for(sandbox, port, tmp_path))
    assert settings["workers"] == str(len(os.sched_getaffinity(0)))  # the cores it may use
    assert settings["worker_class"] == "gthread"
    assert settings["threads"] == "64"
    assert settings["bind"] == f"['127.0.0.1:{port}']"
    assert settings["timeout"] == "50"  # four calls of HTTP_TIMEOUT (10 s), and 10 s more
    assert settings["graceful_timeout"] == "25"
    assert settings["keepalive"] == "5"
    assert settings["accesslog"] == "-"


def test_timeouts_and_bind_follow_the_app_settings(sandbox, tmp_path):
    port = free_port()
    settings = print_config(environ_for(sandbox, port, tmp_path, HTTP_TIMEOUT="5", HOST="::1"))
    assert settings["timeout"] == "30"
    assert settings["graceful_timeout"] == "15"
    assert settings["bind"] == f"['[::1]:{port}']"
    slow = print_config(environ_for(sandbox, port, tmp_path, HTTP_TIMEOUT="30"))
    assert slow["graceful_timeout"] == "65"  # a refresh and its store write, never capped


def profile_in_flight(server, cookie):
    """GET /me (JSON) of session `cookie` in a thread; `.result()` gives its status."""
    pool = ThreadPoolExecutor(1)
    answer = pool.submit(
        lambda: (
            requests.get(
                f"{server.url}/me",
                cookies={SESSION_COOKIE: cookie},
                headers={"Accept": "application/json"},
                timeout=90,
            ).status_code
        )
    )
    pool.shutdown(wait=False)
    return answer


def test_a_refresh_in_flight_survives_a_sigterm(production, start_server, tmp_path):
    """A 28 s refresh under HTTP_TIMEOUT=30 finishes after the SIGTERM and its tokens are
    stored: graceful_timeout grows with HTTP_TIMEOUT, uncapped (the 25 s it was capped at cut
    this refresh off). About 30 s, the price of a refresh longer than that old cap."""
    server, sandbox, watch = production(WEB_CONCURRENCY=1, GUNICORN_THREADS=4, HTTP_TIMEOUT=30)
    sandbox.state.tokens.access_token_ttl = 1
    cookie = signed_in_browser(server.url).cookies.get(SESSION_COOKIE)
    sandbox.state.tokens.access_token_ttl = 3600
    time.sleep(1)  # the access token has expired
    sandbox.fault(endpoint="refresh_token", delay=REFRESH_AT_SIGTERM)
    answer = profile_in_flight(server, cookie)
    deadline = time.monotonic() + 10
    while watch.in_flight == 0 and time.monotonic() < deadline:
        time.sleep(0.02)  # until the refresh waits at ilert
    server.signal_stop()
    assert answer.result() == 200
    server.process.wait(timeout=15)
    assert "killed at graceful_timeout" not in server.log()
    # The renewed tokens were stored: a new gunicorn on the same store serves the session.
    again = start_server(GUNICORN, server.environ, server.port)
    assert profile_in_flight(again, cookie).result() == 200
    assert sandbox.stats()["token"]["refresh_token"] == 1


def test_a_worker_killed_at_graceful_timeout_says_so(production):
    server, sandbox, watch = production(
        WEB_CONCURRENCY=1, GUNICORN_THREADS=4, GUNICORN_CMD_ARGS="--graceful-timeout 1"
    )
    cookie = signed_in_browser(server.url).cookies.get(SESSION_COOKIE)
    sandbox.fault(endpoint="users_current", delay=4)
    answer = profile_in_flight(server, cookie)
    deadline = time.monotonic() + 10
    while watch.in_flight == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    server.signal_stop()
    server.process.wait(timeout=15)
    with pytest.raises(requests.ConnectionError):
        answer.result()
    line = "killed at graceful_timeout (1 s), cutting off requests in flight: 1"
    assert server.log().count(line) == 1


def test_a_worker_killed_mid_refresh_holds_back_no_session(production):
    """A worker SIGKILLed while session A's refresh waits at ilert: A's next request answers at
    once (renewed, or "sign in again" if ilert spent the token whose answer died with the
    worker), not "try again" for the longest a refresh takes; B, whose access token expired
    meanwhile, is served after one refresh."""
    server, sandbox, _ = production(WEB_CONCURRENCY=1, GUNICORN_THREADS=4)
    http_timeout = config.load(server.environ)["HTTP_TIMEOUT"]
    sandbox.state.tokens.access_token_ttl = 1
    a, b = (signed_in_browser(server.url).cookies.get(SESSION_COOKIE) for _ in range(2))
    sandbox.state.tokens.access_token_ttl = 3600
    time.sleep(1)  # both access tokens have expired
    reached, release = hold_next_call(sandbox.app, oauth.TOKEN_PATH)
    cut = profile_in_flight(server, a)
    try:
        assert reached.wait(10), "A's refresh never reached ilert"
        os.kill(workers_of(server), signal.SIGKILL)
    finally:
        release.set()  # ilert answers a worker that is gone
    with pytest.raises(requests.ConnectionError):
        cut.result()
    wait_for_log(server, "Booting worker with pid", 2)
    started = time.monotonic()
    assert profile_in_flight(server, a).result() in (200, 401)
    assert time.monotonic() - started < http_timeout / 2  # not 503s until the refresh's hold
    refreshes = sandbox.stats()["token"]["refresh_token"]
    assert profile_in_flight(server, b).result() == 200
    assert sandbox.stats()["token"]["refresh_token"] == refreshes + 1


def workers_of(server):
    """The process id of gunicorn's one worker."""
    (worker,) = server.children()
    return worker


def test_one_session_whose_refresh_hangs_does_not_starve_the_others(production, tmp_path):
    server, sandbox, _ = production(WEB_CONCURRENCY=1, GUNICORN_THREADS=8, HTTP_TIMEOUT=4)
    sandbox.state.tokens.access_token_ttl = 2  # A's access token expires in 2 s
    slow = signed_in_browser(server.url).cookies.get(SESSION_COOKIE)
    time.sleep(2.1)
    sandbox.state.tokens.access_token_ttl = 3600
    other = signed_in_browser(server.url)
    sandbox.fault(endpoint="refresh_token", count=1, delay=3)  # A's refresh hangs 3 s

    def slow_profile(_):
        started = time.monotonic()
        response = requests.get(
            f"{server.url}/me",
            cookies={SESSION_COOKIE: slow},
            headers={"Accept": "application/json"},
            timeout=30,
        )
        return response.status_code, time.monotonic() - started

    with ThreadPoolExecutor(12) as pool:
        slow_answers = pool.map(slow_profile, range(12))
        deadline = time.monotonic() + 5
        while sandbox.stats()["token"]["refresh_token"] == 0 and time.monotonic() < deadline:
            time.sleep(0.02)  # until A's refresh is hanging at the sandbox
        time.sleep(0.3)  # and A's other requests are in
        started = time.monotonic()
        assert other.get(f"{server.url}/me", timeout=10).status_code == 200
        assert requests.get(f"{server.url}/healthz", timeout=10).status_code == 200
        others_took = time.monotonic() - started
        slow_answers = list(slow_answers)
    assert others_took < 2, f"another person waited {others_took:.1f} s"
    statuses = sorted(status for status, _ in slow_answers)
    assert statuses.count(200) == 3  # the refresh and the two that waited for it
    assert statuses.count(503) == 9  # after a second: "try again"
    assert max(took for status, took in slow_answers if status == 503) < 3
    assert sandbox.stats()["token"]["refresh_token"] == 1


BOOTING_WORKER = """
import functools, os, queue, runpy, signal, sys, time, types

from gunicorn.arbiter import Arbiter

# The master: its queue and its handler, which queues a signal there; forking a worker as
# gunicorn's Arbiter.spawn_worker does (pre_fork, fork, then post_fork in the worker).
master = types.SimpleNamespace(SIG_QUEUE=queue.SimpleQueue())
signal.signal(signal.SIGTERM, functools.partial(Arbiter.signal, master))
conf = runpy.run_path("gunicorn.conf.py")
conf["pre_fork"](master, None)
pid = os.fork()
if pid == 0:  # the worker, slow to boot: the master's stop signal reaches it meanwhile
    held = signal.SIGTERM in signal.pthread_sigmask(signal.SIG_BLOCK, [])
    time.sleep(0.5)
    conf["post_fork"](master, None)
    print("worker still booting; held since the fork:", held, flush=True)
    os._exit(1)
held_in_master = signal.SIGTERM in signal.pthread_sigmask(signal.SIG_BLOCK, [])
os.kill(pid, signal.SIGTERM)
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status), held_in_master, master.SIG_QUEUE.qsize())
"""


def test_a_worker_told_to_stop_while_it_boots_stops(sandbox, tmp_path):
    """gunicorn #1910: a SIGTERM between a worker's fork and its own handlers was lost (it ran
    the master's handler, or landed before CPython's after-fork step, which drops it: that
    instant is in C, out of a test's reach, so the test checks the signal is held from the
    fork to post_fork), and gunicorn waited graceful_timeout for that worker (CI failed so)."""
    environ = environ_for(sandbox, free_port(), tmp_path)
    booting = subprocess.run(
        [sys.executable, "-c", BOOTING_WORKER],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=30,
    )
    # The worker ended with 0 at post_fork; the master holds nothing after the fork and
    # queued nothing of the worker's.
    assert (booting.stdout, booting.stderr) == ("0 False 0\n", "")


def test_the_most_pending_sign_ins_with_long_nexts_still_fit_gunicorns_header_limit(production):
    """Each pending sign-in is a cookie holding its `next`: the browser sends them all, and
    gunicorn refuses a Cookie header beyond its limit (431), which would lock the person out
    until the cookies expire. The longest `next` kept fits LIMIT times; a longer one, which
    safe_next still accepts, is dropped rather than kept."""
    server, _, _ = production()
    longest_kept = "/me?q=" + "é" * 80  # each é is 6 characters as sealed: \u00e9
    longest_kept += "a" * (sign_ins.NEXT_MAX_LENGTH - len(json.dumps(longest_kept)) + 2)
    too_long = "/me?q=" + "a" * (3 * sign_ins.NEXT_MAX_LENGTH)
    assert safe_next(too_long) == too_long
    for next_path, lands_on in ((longest_kept, longest_kept), (too_long, LANDING)):
        browser = requests.Session()
        for _ in range(sign_ins.LIMIT):
            started = browser.get(
                f"{server.url}/login", params={"next": next_path}, allow_redirects=False
            )
            assert started.status_code == 302
        assert browser.get(f"{server.url}/", timeout=10).status_code == 200
        signed_in = browser.post(
            started.headers["Location"],
            data={"user": "ada.lovelace", "decision": "allow"},
            timeout=10,
        )
        assert signed_in.status_code == 200
        assert unquote(signed_in.history[-1].headers["Location"]) == lands_on
