"""One ilert budget for the whole deployment (ILERT_RATE_LIMIT), a 429 that pauses every
worker and instance, and at most one refresh per session per 5 minutes."""

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from conftest import EVERY_SCOPE, free_port, path_of, signed_in_browser
from test_concurrency import gunicorn
from test_hardening import still_refreshes
from test_pages import url_of

from config import SESSION_COOKIE, redirect_uri_at
from ilert import cache
from ilert.budget import LONGEST_PAUSE, MAX_WAIT, FileState, Rate
from ilert.budget_redis import RedisState
from ilert.session_tokens import REFRESH_FLOOR
from sandbox import hooks
from sandbox.data import PEOPLE
from views.registry import PAGES

RATE = Rate(600, 60)  # a turn every 0.1 s, 10 at once
UNAUTHORIZED = '{"code": "UNAUTHORIZED", "error": "token expired"}'
TOO_MANY = '{"code": "TOO_MANY_REQUESTS", "error": "slow down"}'
OTHER_PERSON = list(PEOPLE)[1]
PAUSE = 30  # seconds of Retry-After the tests' sandbox sends with a 429


@pytest.fixture(params=["filesystem", "redis"])
def state(request, tmp_path):
    """A budget's state in a folder, or in a real Redis."""
    if request.param == "redis":
        import redis

        server = request.getfixturevalue("redis_server")
        return RedisState(redis.Redis.from_url(server.url))
    (tmp_path / "locks").mkdir()
    return FileState(str(tmp_path), str(tmp_path / "locks"))


def test_a_burst_of_a_second_then_one_turn_per_interval(state):
    now = 1_000_000.0
    assert [state.reserve(now, RATE, MAX_WAIT) for _ in range(RATE.burst)] == [(True, 0)] * 10
    waits = [state.reserve(now, RATE, MAX_WAIT) for _ in range(20)]
    assert [taken for taken, _ in waits] == [True] * 20
    assert [round(wait, 6) for _, wait in waits] == [round(0.1 * n, 6) for n in range(1, 21)]
    assert state.reserve(now, RATE, MAX_WAIT) == (False, pytest.approx(2.1))  # nothing taken
    assert state.reserve(now, RATE, MAX_WAIT) == (False, pytest.approx(2.1))
    assert state.reserve(now + 2.1, RATE, MAX_WAIT) == (True, pytest.approx(0))


@pytest.mark.parametrize("step_back", [120, 3600])
def test_a_clock_stepped_back_costs_a_burst_and_a_pause_at_most(state, step_back):
    """The times kept are the callers' clocks: after a step back (NTP, a VM restored) they lie
    that far ahead. A spent burst and a pause still hold; beyond them, the budget is not
    "busy" for as long as the step (it was, for every call of every instance)."""
    now = 1_000_000.0
    for _ in range(RATE.burst + 20):
        state.reserve(now, RATE, MAX_WAIT)
    earlier = now - step_back
    assert state.reserve(earlier, RATE, MAX_WAIT) == (False, pytest.approx(2.1))
    assert state.reserve(earlier + 2.1, RATE, MAX_WAIT)[0]
    state.pause(now, RATE, LONGEST_PAUSE)
    longest = LONGEST_PAUSE + RATE.burst * RATE.interval + MAX_WAIT
    taken, wait = state.reserve(earlier, RATE, MAX_WAIT)
    assert not taken and LONGEST_PAUSE <= wait <= longest
    assert state.reserve(earlier + longest, RATE, MAX_WAIT)[0]


def test_a_pause_stops_every_turn_then_lets_them_in_one_at_a_time(state):
    now = 1_000_000.0
    state.pause(now, RATE, 5)
    assert state.paused_until() == pytest.approx(now + 5)
    assert state.reserve(now, RATE, MAX_WAIT) == (False, pytest.approx(5))
    later = now + 4
    waits = [state.reserve(later, RATE, MAX_WAIT)[1] for _ in range(3)]
    assert waits == [pytest.approx(1), pytest.approx(1.1), pytest.approx(1.2)]  # no burst


@pytest.fixture
def busy_sandbox(start_sandbox, monkeypatch):
    """A sandbox whose 429s ask for a pause of PAUSE seconds."""
    monkeypatch.setattr(hooks, "FAULT_RETRY_AFTER", PAUSE)
    return start_sandbox()


def test_a_spent_budget_answers_busy_without_calling_ilert(make_app, auth_for, sandbox, clock):
    client = make_app(ILERT_RATE_LIMIT="6/min").test_client()  # a turn every 10 s
    auth_for(client).sign_in()  # the code exchange takes the turn
    calls = sandbox.stats()["users_current"]
    response = client.get("/me")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "10"
    page = response.get_data(as_text=True)
    assert "ilert is busy" in page and "try again in 10 s" in page
    json = client.get("/me", headers={"Accept": "application/json"})
    assert (json.status_code, json.get_json()["error"]) == (503, "ilert_busy")
    assert sandbox.stats()["users_current"] == calls
    clock.advance(10)
    assert client.get("/me").status_code == 200


@pytest.mark.parametrize("session_type", ["filesystem", "redis"])
def test_a_429_pauses_every_instance(
    make_app, auth_for, busy_sandbox, clock, session_type, request
):
    settings = {}
    if session_type == "redis":
        settings = {
            "SESSION_TYPE": "redis",
            "REDIS_URL": request.getfixturevalue("redis_server").url,
        }
    # Two instances: on files they share the folder (as workers of one machine), else Redis.
    first = make_app(sandbox=busy_sandbox, ILERT_SCOPES=EVERY_SCOPE, **settings).test_client()
    second = make_app(sandbox=busy_sandbox, ILERT_SCOPES=EVERY_SCOPE, **settings).test_client()
    auth_for(first, busy_sandbox).sign_in()
    auth_for(second, busy_sandbox).sign_in()
    busy_sandbox.fault(endpoint="users_current", status=429, body=TOO_MANY)
    answer = first.get("/me")
    assert (answer.status_code, answer.headers["Retry-After"]) == (503, str(PAUSE))
    stats = busy_sandbox.stats()
    for client in (first, second):
        for page in PAGES:
            paused = client.get(url_of(client.application, page.endpoint))
            assert paused.status_code == 503
            assert 0 < int(paused.headers["Retry-After"]) <= PAUSE
    assert busy_sandbox.stats() == stats  # nothing reached ilert during the pause
    clock.advance(PAUSE)
    assert first.get("/me").status_code == 200
    assert second.get(path_of("pages.token_info")).status_code == 200


def test_a_logout_during_a_pause_still_revokes(make_app, auth_for, busy_sandbox):
    """A revoke takes no turn: held back, it would leave the refresh token alive at ilert for
    as long as it lives (and counting against ilert's ten per person)."""
    client = make_app(sandbox=busy_sandbox).test_client()
    signing = auth_for(client, busy_sandbox)
    signing.sign_in()
    busy_sandbox.fault(endpoint="users_current", status=429, body=TOO_MANY)
    assert client.get("/me").status_code == 503  # every other call now waits PAUSE
    refresh_token = signing.tokens()["refresh_token"]
    signing.log_out()
    assert busy_sandbox.stats()["revoke"] == 1
    assert "You are signed out." in client.get("/").text
    assert not still_refreshes(busy_sandbox, refresh_token)


def test_a_budget_of_0_is_off(make_app, auth_for, busy_sandbox):
    first = make_app(sandbox=busy_sandbox, ILERT_RATE_LIMIT="0").test_client()
    auth_for(first, busy_sandbox).sign_in()
    assert first.application.extensions["ilert_budget"] is None
    busy_sandbox.fault(endpoint="users_current", status=429, body=TOO_MANY)
    assert first.get("/me").status_code == 503
    assert first.get("/me").status_code == 200  # each 429 is answered alone


def test_a_page_waits_a_moment_for_its_turn(make_app, auth_for, sandbox):
    client = make_app(ILERT_RATE_LIMIT="60/min").test_client()  # a turn a second, one at once
    auth_for(client).sign_in()  # two turns: the second waited a second
    assert client.get("/me").status_code == 200  # waits a second too
    assert sandbox.stats()["users_current"] == 2


def test_401s_after_a_refresh_refresh_no_more_for_5_minutes(make_app, auth_for, sandbox, clock):
    client = make_app().test_client()
    auth_for(client).sign_in()
    sandbox.fault(endpoint="users_current", status=401, body=UNAUTHORIZED)
    assert client.get("/me").status_code == 200
    assert sandbox.stats()["token"]["refresh_token"] == 1
    # Well within the floor: the clock also moves in real time, and a loaded machine took more
    # than the second that REFRESH_FLOOR - 1 left (the refresh was then allowed, rightly).
    clock.advance(REFRESH_FLOOR - 30)
    sandbox.fault(endpoint="users_current", status=401, body=UNAUTHORIZED)
    response = client.get("/me", headers={"Accept": "application/json"})
    assert (response.status_code, response.get_json()["error"]) == (401, "session_ended")
    assert sandbox.stats()["token"]["refresh_token"] == 1  # a live token, refreshed 5 min ago

    auth = auth_for(client)
    auth.sign_in()
    sandbox.fault(endpoint="users_current", status=401, body=UNAUTHORIZED)
    assert client.get("/me").status_code == 200
    clock.advance(REFRESH_FLOOR)
    sandbox.fault(endpoint="users_current", status=401, body=UNAUTHORIZED)
    assert client.get("/me").status_code == 200  # 5 minutes on, a refresh is allowed again
    assert sandbox.stats()["token"]["refresh_token"] == 3


def test_a_burst_of_401s_refreshes_once(live_app):
    served = live_app()
    browser = signed_in_browser(served.url)
    served.sandbox.fault(endpoint="users_current", status=401, body=UNAUTHORIZED, count=8)

    def me(_):
        return browser.get(f"{served.url}/me", headers={"Accept": "application/json"}).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(me, range(8)))
    assert served.sandbox.stats()["token"]["refresh_token"] == 1
    assert set(statuses) <= {200, 401}  # 401: a retry met one of the 401s, access removed


def test_an_expired_token_is_refreshed_within_5_minutes(make_app, auth_for, start_sandbox, clock):
    sandbox = start_sandbox(access_token_ttl=60)
    client = make_app(sandbox=sandbox).test_client()
    auth_for(client, sandbox).sign_in()
    for refreshes in (1, 2, 3):
        clock.advance(60)
        assert client.get("/me").status_code == 200
        assert sandbox.stats()["token"]["refresh_token"] == refreshes


@pytest.mark.slow
@pytest.mark.xdist_group("waits in real time")
def test_a_429_pauses_both_gunicorn_workers(start_server, busy_sandbox, tmp_path):
    port = free_port()
    busy_sandbox.state.redirect_uris.append(redirect_uri_at(port))
    access_log = ["--access-logformat", "%(p)s %({x-request-id}o)s"]
    server = gunicorn(
        start_server, busy_sandbox, port, *access_log, SESSION_FILE_DIR=tmp_path / "sessions"
    )
    browser = signed_in_browser(server.url)
    busy_sandbox.fault(endpoint="users_current", status=429, body=TOO_MANY)
    assert browser.get(f"{server.url}/me", timeout=10).status_code == 503
    stats = busy_sandbox.stats()
    cookie = browser.cookies.get(SESSION_COOKIE)

    def me(_):
        return requests.get(f"{server.url}/me", cookies={SESSION_COOKIE: cookie}, timeout=10)

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(me, range(64)))
    assert {answer.status_code for answer in answers} == {503}
    assert all(0 < int(answer.headers["Retry-After"]) <= PAUSE for answer in answers)
    assert busy_sandbox.stats() == stats  # no worker called ilert during the pause
    ids = {answer.headers["X-Request-ID"] for answer in answers}
    lines = [line.split() for line in server.log().splitlines()]
    workers = {words[0] for words in lines if len(words) == 2 and words[1] in ids}
    assert len(workers) == 2, server.log()[-2000:]


def test_identical_gets_may_be_answered_from_a_short_cache(make_app, auth_for, sandbox, clock):
    app = make_app(ILERT_CACHE_SECONDS="5")
    first, second = app.test_client(), app.test_client()
    auth_for(first).sign_in()
    auth_for(second).sign_in(user=OTHER_PERSON)
    calls = sandbox.stats()["users_current"]
    for _ in range(3):
        assert first.get("/me", headers={"Accept": "application/json"}).status_code == 200
    assert sandbox.stats()["users_current"] == calls + 1  # a reload storm costs one call
    other = second.get("/me", headers={"Accept": "application/json"}).get_json()
    assert other["id"] != first.get("/me", headers={"Accept": "application/json"}).json["id"]
    assert sandbox.stats()["users_current"] == calls + 2  # one each: the cache is per person
    clock.advance(5)
    assert first.get("/me").status_code == 200
    assert sandbox.stats()["users_current"] == calls + 3


def test_a_write_empties_the_persons_cache(make_app, auth_for, sandbox):
    app = make_app(ILERT_CACHE_SECONDS="5")
    client = app.test_client()
    auth = auth_for(client)
    auth.sign_in()
    assert client.get("/me").status_code == 200
    cookie = {"Cookie": f"{app.config['SESSION_COOKIE_NAME']}={auth.session_id()}"}
    with app.test_request_context("/me", headers=cookie):
        assert cache.through("GET", "/api/users/current", None, lambda: "not asked") != "not asked"
        assert cache.through("PUT", "/api/alerts/1/accept", None, lambda: "written") == "written"
        assert cache.through("GET", "/api/users/current", None, lambda: "asked") == "asked"


@pytest.mark.parametrize("session_type", ["filesystem", "redis"])
def test_readyz_answers_503_while_ilert_asks_for_a_pause(
    request, make_app, auth_for, busy_sandbox, clock, caplog, session_type
):
    settings = {}
    if session_type == "redis":
        settings = {
            "SESSION_TYPE": "redis",
            "REDIS_URL": request.getfixturevalue("redis_server").url,
        }
    client = make_app(sandbox=busy_sandbox, **settings).test_client()
    other_instance = make_app(sandbox=busy_sandbox, **settings).test_client()
    auth_for(client, busy_sandbox).sign_in()
    assert other_instance.get("/readyz").status_code == 200
    busy_sandbox.fault(endpoint="users_current", status=429, body=TOO_MANY)
    assert client.get("/me").status_code == 503
    ready = other_instance.get("/readyz")
    assert (ready.status_code, ready.get_json()) == (503, {"status": "unavailable"})
    assert "ilert asked for a pause (429)" in caplog.text  # the reason, in the log only
    assert other_instance.get("/healthz").status_code == 200  # liveness is another matter
    clock.advance(PAUSE)
    assert other_instance.get("/readyz").status_code == 200


# A process holding the budget's lock file (`python -c HOLD_THE_LOCK <path>`), to be killed.
HOLD_THE_LOCK = """
import sys, time, filelock
held = filelock.FileLock(sys.argv[1])
held.acquire()
print("held", flush=True)
time.sleep(3600)
"""


def test_a_budget_lock_another_process_holds_lets_a_refresh_through(
    make_app, auth_for, start_sandbox, clock
):
    """A stalled worker holding the budget's lock costs each call MAX_WAIT, never the refresh
    (it was a 503, and the session then stayed locked out while its refresh mark lived)."""
    sandbox = start_sandbox(access_token_ttl=60)  # outlives the waits, which are real time
    app = make_app(sandbox=sandbox)
    client = app.test_client()
    auth_for(client, sandbox).sign_in()
    lock_file = os.path.join(app.extensions["store"].backend.locks, "ilert-budget.lock")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_LOCK, lock_file], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline() == "held\n"
        clock.advance(60)
        assert client.get("/me").status_code == 200
    finally:
        holder.kill()
        holder.communicate()
    assert sandbox.stats()["token"]["refresh_token"] == 1
    assert client.get("/me").status_code == 200
