"""Sessions and the store (SPEC "Sessions and the store"), each test against the filesystem
store and a real Redis: a copy of the store gives nothing away, nothing planted in it runs,
concurrent sign-ins lose nothing, and sessions end when they should."""

import base64
import binascii
import logging
import os
import pickle
import re
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from conftest import LANDING, ROOT, path_of, process_environ, signed_in_browser, tool_paths
from test_pages import url_of

from ilert.budget_redis import KEY
from sandbox import CLIENT_ID, CLIENT_SECRET
from store import sign_ins
from store.flask_session import VISITOR_LIFETIME
from store.redis_backend import RedisBackend
from tests.tools import pending_sign_in_secrets
from views.registry import PAGES


@pytest.fixture(params=["filesystem", "redis"])
def store_settings(request, tmp_path):
    """The settings of one store kind."""
    if request.param == "redis":
        return {"SESSION_TYPE": "redis", "REDIS_URL": request.getfixturevalue("redis_server").url}
    return {"SESSION_TYPE": "filesystem", "SESSION_FILE_DIR": str(tmp_path / "store")}


@pytest.fixture
def app(make_app, store_settings):
    return make_app(FLOW_INSPECTOR="true", **store_settings)


def is_redis(app):
    return isinstance(app.extensions["store"].backend, RedisBackend)


def dump(app):
    """Every key or file name in the store, and every value, as bytes."""
    backend = app.extensions["store"].backend
    if is_redis(app):
        client = backend.client
        return {key: client.dump(key) or b"" for key in client.keys("*")}
    return {
        path.name.encode(): path.read_bytes()
        for path in Path(backend.entries).iterdir()
        if path.is_file()
    }


def encodings(secret):
    """`secret` as it could appear in a store: raw, base64, base64url, hex."""
    raw = secret.encode()
    return {
        raw,
        base64.b64encode(raw).rstrip(b"="),
        base64.urlsafe_b64encode(raw).rstrip(b"="),
        binascii.hexlify(raw),
    }


def pending_secrets(client):
    """The nonce and verifier of this client's pending sign-in (from its sign-in cookie)."""
    cookies = {c.key: c.value for c in client._cookies.values()}
    return pending_sign_in_secrets(client.application, cookies)


def test_a_copy_of_the_store_gives_nothing_away(app, auth_for, sandbox):
    secrets, cookies = set(), []
    for user in ("ada.lovelace", "grace.hopper", "ada.lovelace"):
        client = app.test_client()
        auth = auth_for(client)
        auth.sign_in(user=user)
        assert client.get("/me").status_code == 200
        tokens = auth.tokens()
        with client.session_transaction() as session:
            secrets |= {tokens["access_token"], tokens["refresh_token"], session["csrf_token"]}
        cookies.append(auth.session_id())
    for _ in range(3):  # pending sign-ins, never finished
        client = app.test_client()
        auth_for(client).start()
        secrets |= set(pending_secrets(client))
    secrets |= set(cookies)
    entries = dump(app)
    assert len(entries) >= 9
    everything = b"\n".join([*entries, *entries.values()])
    for secret in secrets:
        for encoded in encodings(secret):
            assert encoded not in everything
    for name in entries:
        text = name.decode()
        for candidate in {text, text.split(":", 1)[-1], text.rsplit(":", 1)[0]}:
            intruder = app.test_client()
            intruder.set_cookie(app.config["SESSION_COOKIE_NAME"], candidate, domain="localhost")
            assert intruder.get("/me").status_code == 302


class Planted:
    """A pickle that, if anything ever unpickled it, would create a file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickles_planted_in_the_store_run_nothing(app, auth_for, tmp_path):
    marker = tmp_path / "pickle-ran"
    payload = pickle.dumps(Planted(marker))
    client = app.test_client()
    auth_for(client).sign_in()
    backend = app.extensions["store"].backend
    attacker_id = "attacker-chosen-id"
    if is_redis(app):
        redis = backend.client
        for key in redis.keys("*"):
            redis.set(key, payload, keepttl=True)
        for key in (f"session:{attacker_id}", f"ilert-app:{attacker_id}", attacker_id):
            redis.set(key, payload)
    else:
        from cachelib.file import FileSystemCache

        entries = Path(backend.entries)
        for path in entries.iterdir():
            expiry = path.stat().st_mtime
            path.write_bytes(payload)
            os.utime(path, (expiry, expiry))
        cachelib_name = FileSystemCache(str(tmp_path / "x"))._get_filename(f"session:{attacker_id}")
        for name in (Path(cachelib_name).name, attacker_id, f"session:{attacker_id}"):
            (entries / name).write_bytes(b"\0\0\0\0" + payload)
    cookie = app.config["SESSION_COOKIE_NAME"]
    intruder = app.test_client()
    intruder.set_cookie(cookie, attacker_id, domain="localhost")
    for browser in (client, intruder):
        for path in ("/", *(url_of(app, page.endpoint) for page in PAGES), *tool_paths(app)):
            assert browser.get(path).status_code in (200, 302)
    assert not marker.exists()


def test_login_without_a_cookie_leaves_nothing_in_the_store(app):
    for _ in range(5):
        response = app.test_client().get("/login")
        assert response.status_code == 302
        assert not any(
            c.startswith(app.config["SESSION_COOKIE_NAME"] + "=")
            for c in response.headers.getlist("Set-Cookie")
        )
    assert dump(app) == {}  # the pending sign-in is sealed in its own cookie


OLD_KEY, NEW_KEY = "the-old-secret-key-of-this-deployment", "the-new-secret-key-of-this-deployment"


def test_rotating_the_secret_key_signs_nobody_out(make_app, store_settings, auth_for, sandbox):
    before = make_app(SECRET_KEY=OLD_KEY, **store_settings)
    browser = before.test_client()
    auth_for(browser).sign_in()
    started = before.test_client()  # a sign-in under way while the key changes
    callback = auth_for(started).consent(auth_for(started).start())

    during = make_app(SECRET_KEY=NEW_KEY, SECRET_KEY_FALLBACKS=f" {OLD_KEY}, ", **store_settings)
    cookie = before.config["SESSION_COOKIE_NAME"]
    moved = during.test_client()
    moved.set_cookie(cookie, browser.get_cookie(cookie).value, domain="localhost")
    assert moved.get("/me").status_code == 200
    finishing = during.test_client()
    for held in started._cookies.values():
        finishing.set_cookie(held.key, held.value, domain="localhost")
    assert finishing.get(callback).headers["Location"] == LANDING  # PKCE verifier and all

    after = make_app(SECRET_KEY=NEW_KEY, **store_settings)  # the old key dropped
    for client in (moved, finishing):
        back = after.test_client()
        back.set_cookie(cookie, client.get_cookie(cookie).value, domain="localhost")
        assert back.get("/me").status_code == 200
    assert sandbox.stats()["token"]["refresh_token"] == 0


def test_a_session_without_a_person_lives_ten_minutes(make_app, auth_for, clock):
    """Here one that carries only the notice that a sign-in reached its maximum age."""
    app = make_app(SESSION_MAX_AGE="15s")
    client = app.test_client()
    auth = auth_for(client)
    auth.sign_in()
    store = app.extensions["store"]
    _, signed_in_until = store.get_expiring("session", auth.session_id())
    assert signed_in_until > store.clock() + VISITOR_LIFETIME
    clock.advance(16)
    assert client.get("/me").status_code == 302
    notice, expires_at = store.get_expiring("session", auth.session_id())
    assert "user" not in notice
    assert expires_at <= store.clock() + VISITOR_LIFETIME
    assert b"maximum age" in client.get("/").data


def test_session_max_age_ends_a_session_in_use_and_revokes_its_token(
    make_app, store_settings, auth_for, sandbox, clock
):
    client = make_app(SESSION_MAX_AGE="15s", **store_settings).test_client()
    auth = auth_for(client)
    auth.sign_in()
    refresh_token = auth.tokens()["refresh_token"]
    for _ in range(7):  # used every 2 seconds, up to 14 s after sign-in
        clock.advance(2)
        assert client.get("/me").status_code == 200
    clock.advance(2)
    response = client.get("/me")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert b"maximum age" in client.get("/").data
    assert client.get("/me").status_code == 302
    assert sandbox.stats()["revoke"] == 1
    answer = requests.post(
        f"{sandbox.url}/api/developers/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
        timeout=5,
    )
    assert answer.status_code == 401


# --- concurrent sign-ins, over real HTTP -------------------------------------------------


@pytest.fixture
def served(live_app, store_settings):
    return live_app(**store_settings)


def consent(authorize_url):
    answer = requests.post(
        authorize_url,
        data={"user": "ada.lovelace", "decision": "allow"},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302
    return answer.headers["Location"]


def test_two_tabs_starting_sign_in_at_once_both_finish(served):
    for _ in range(20):
        browser = requests.Session()
        start = threading.Barrier(2)

        def begin(next_path, browser=browser, start=start):
            start.wait()
            answer = browser.get(
                f"{served.url}/login", params={"next": next_path}, allow_redirects=False
            )
            return answer.headers["Location"]

        with ThreadPoolExecutor(2) as pool:
            authorize_urls = list(
                pool.map(begin, [path_of("pages.token_info"), path_of("pages.alert_sources")])
            )
        callbacks = [consent(url) for url in authorize_urls]
        landed = [browser.get(cb, allow_redirects=False).headers["Location"] for cb in callbacks]
        assert landed == [path_of("pages.token_info"), path_of("pages.alert_sources")]
        assert browser.get(f"{served.url}/me", allow_redirects=False).status_code == 200


def test_a_double_clicked_callback_exchanges_once_and_signs_in(served):
    sandbox = served.sandbox
    for trial in range(10):
        browser = requests.Session()
        callback = consent(
            browser.get(f"{served.url}/login", allow_redirects=False).headers["Location"]
        )
        before = sandbox.stats()["token"]["authorization_code"]
        start = threading.Barrier(2)
        # Both clicks carry the cookies the browser held when it clicked: on a busy machine one
        # thread may otherwise send its copy after the other's answer has already come back
        # into a shared cookie jar, which makes it a reload, not a double click.
        held = browser.cookies.get_dict()

        def click(held=held, start=start, callback=callback):
            start.wait()
            return requests.get(callback, cookies=held, allow_redirects=False)

        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(lambda _: click(), range(2)))
        assert sandbox.stats()["token"]["authorization_code"] == before + 1
        assert [a.status_code for a in answers] == [302, 302], trial
        assert {a.headers["Location"] for a in answers} == {LANDING}
        cookie_name = served.app.config["SESSION_COOKIE_NAME"]
        cookies = [a.cookies.get(cookie_name) for a in answers]
        assert None not in cookies and len(set(cookies)) == 1  # both set the same session
        signed_in = requests.get(
            f"{served.url}/me", cookies={cookie_name: cookies[0]}, allow_redirects=False
        )
        assert signed_in.status_code == 200


def test_a_double_click_whose_first_exchange_failed_exchanges_once(served):
    """The code went to ilert with the first click: the second must not send it again (ilert
    may have spent it, or may revoke what it issued for it), whatever the first one got."""
    sandbox = served.sandbox
    browser = requests.Session()
    callback = consent(
        browser.get(f"{served.url}/login", allow_redirects=False).headers["Location"]
    )
    held = browser.cookies.get_dict()
    sandbox.fault(endpoint="authorization_code", count=1, status=502, delay=0.5)
    start = threading.Barrier(2)

    def click(_):
        start.wait()
        return requests.get(callback, cookies=held, allow_redirects=False, timeout=10)

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(click, range(2)))
    assert sandbox.stats()["token"]["authorization_code"] == 1
    assert sorted(a.status_code for a in answers) == [400, 502]
    assert any("This sign-in link is not valid" in a.text for a in answers)
    assert not any(served.app.config["SESSION_COOKIE_NAME"] in a.cookies for a in answers)


def test_a_callback_replayed_after_a_denial_is_not_valid(served):
    """ilert answered this sign-in with a denial: the same state later, even with a code
    ilert issued for it (the consent page opened again), is a used sign-in."""
    browser = requests.Session()
    authorize_url = browser.get(f"{served.url}/login", allow_redirects=False).headers["Location"]
    copy_of_the_cookies = browser.cookies.copy()
    denied = requests.post(
        authorize_url,
        data={"user": "ada.lovelace", "decision": "deny"},
        allow_redirects=False,
        timeout=10,
    ).headers["Location"]
    assert browser.get(denied, allow_redirects=False).status_code == 403
    replay = requests.get(consent(authorize_url), cookies=copy_of_the_cookies, timeout=10)
    assert replay.status_code == 400
    assert "This sign-in link is not valid" in replay.text
    assert served.app.config["SESSION_COOKIE_NAME"] not in replay.cookies
    assert served.sandbox.stats()["token"]["authorization_code"] == 0


def test_refusals_anyone_can_send_leave_a_bounded_number_of_entries(app, monkeypatch):
    """A denial callback needs no ilert: anyone with a sign-in cookie of their own can send
    one. Each is remembered in one of REFUSED_SLOTS entries, never one more."""
    monkeypatch.setattr(sign_ins, "REFUSED_SLOTS", 4)
    path = urlsplit(app.config["ILERT_REDIRECT_URI"]).path
    for _ in range(5 * sign_ins.REFUSED_SLOTS):
        client = app.test_client()
        authorize_url = client.get("/login").headers["Location"]
        state = parse_qs(urlsplit(authorize_url).query)["state"][0]
        refused = client.get(path, query_string={"state": state, "error": "access_denied"})
        assert refused.status_code == 403
    assert 0 < len(dump(app)) <= sign_ins.REFUSED_SLOTS


def test_a_used_callback_opened_again_later_changes_nothing(served):
    browser = requests.Session()
    login = browser.get(f"{served.url}/login", allow_redirects=False)
    callback = consent(login.headers["Location"])
    assert browser.get(callback, allow_redirects=False).status_code == 302
    reloaded = browser.get(callback, allow_redirects=False)
    assert reloaded.status_code == 400  # used: nothing is exchanged, nothing changes
    assert browser.get(f"{served.url}/me", allow_redirects=False).status_code == 200
    assert served.sandbox.stats()["token"]["authorization_code"] == 1


def callback_url(served, **query):
    """The app's callback (at ILERT_REDIRECT_URI's path) with `query`."""
    path = urlsplit(served.app.config["ILERT_REDIRECT_URI"]).path
    return f"{served.url}{path}?{urlencode(query)}"


def signed_in(served, browser):
    return browser.get(f"{served.url}/me", allow_redirects=False).status_code == 200


def test_a_tossed_sign_in_cookie_does_not_hand_the_victims_session_over(served):
    """The attack of issue 23: the attacker starts a sign-in, tosses its sign-in cookie into
    the victim's browser, the victim signs in from the attacker's link; then the attacker
    calls the callback with the same state and cookie but without the victim's code."""
    attacker = requests.Session()
    authorize_url = attacker.get(f"{served.url}/login", allow_redirects=False).headers["Location"]
    victim = requests.Session()
    victim.cookies.update(attacker.cookies)
    callback = consent(authorize_url)
    assert victim.get(callback, allow_redirects=False).headers["Location"] == LANDING
    state = parse_qs(urlsplit(callback).query)["state"][0]
    for query in ({"state": state}, {"state": state, "code": "a-guessed-code"}):
        answer = attacker.get(callback_url(served, **query), allow_redirects=False)
        assert answer.status_code == 400
        assert "This sign-in link is not valid" in answer.text
        assert served.app.config["SESSION_COOKIE_NAME"] not in answer.cookies
    assert not signed_in(served, attacker)
    assert signed_in(served, victim)
    assert served.sandbox.stats()["token"]["authorization_code"] == 1


def test_a_callback_replayed_after_logout_brings_no_session_back(served):
    browser = requests.Session()
    login = browser.get(f"{served.url}/login", allow_redirects=False)
    copy_of_the_cookies = browser.cookies.copy()  # what a replay of the callback would carry
    callback = consent(login.headers["Location"])
    assert browser.get(callback, allow_redirects=False).status_code == 302
    page = browser.get(f"{served.url}/me").text
    csrf_token = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]
    assert browser.post(f"{served.url}/logout", data={"csrf_token": csrf_token}).ok
    replay = requests.get(callback, cookies=copy_of_the_cookies, allow_redirects=False)
    assert replay.status_code == 400
    assert "This sign-in link is not valid" in replay.text
    assert served.sandbox.stats()["token"]["authorization_code"] == 1


@pytest.mark.slow
def test_ten_thousand_cookieless_logins_leave_nothing_while_another_person_signs_in(served):
    """SECURITY.md, "Anonymous traffic": /login writes no entry, so a flood from one client
    (all tests come from 127.0.0.1, so no per-address limit would tell them apart) grows
    nothing, and another person's sign-in meanwhile works."""
    flood = served.app.test_client(use_cookies=False)
    statuses = []

    def log_in_again_and_again():
        for _ in range(10_000):
            statuses.append(flood.get("/login", base_url=served.url).status_code)

    flooding = threading.Thread(target=log_in_again_and_again)
    flooding.start()
    while len(statuses) < 1000:
        time.sleep(0.05)
    person = signed_in_browser(served.url)  # meanwhile
    flooding.join()
    assert statuses == [302] * 10_000
    entries = set(dump(served.app)) - {KEY.encode()}  # the deployment's ilert budget aside
    # The person's session, tokens, finished sign-in, and the session their browser's other
    # tabs would end (views/auth.py REPLACED_BY).
    assert len(entries) == 4
    assert signed_in(served, person)


def test_two_callbacks_at_once_in_a_signed_in_browser_leave_one_session(served):
    """Two tabs of a signed-in browser finish signing in at the same moment: both start from
    the session it held; the browser keeps one new session, and the other's refresh token
    is revoked rather than left alive and unseen."""
    browser = signed_in_browser(served.url)
    held = browser.cookies[served.app.config["SESSION_COOKIE_NAME"]]
    logins = [browser.get(f"{served.url}/login", allow_redirects=False) for _ in range(2)]
    callbacks = [consent(login.headers["Location"]) for login in logins]
    # Each code exchange takes a second at ilert, so the callbacks overlap even when the
    # second thread starts late on a loaded machine (they once ran one after the other).
    served.sandbox.fault(endpoint="authorization_code", count=2, delay=1)
    start = threading.Barrier(2)

    def finish(callback):
        start.wait()
        return requests.get(
            callback, cookies=browser.cookies.get_dict(), allow_redirects=False, timeout=30
        )

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(finish, callbacks))
    assert [answer.status_code for answer in answers] == [302, 302]
    made = [answer.cookies[served.app.config["SESSION_COOKIE_NAME"]] for answer in answers]
    assert held not in made and len(set(made)) == 2
    alive = [
        requests.get(
            f"{served.url}/me",
            cookies={served.app.config["SESSION_COOKIE_NAME"]: sid},
            allow_redirects=False,
            timeout=10,
        ).status_code
        == 200
        for sid in made
    ]
    assert sorted(alive) == [False, True]
    assert served.sandbox.stats()["revoke"] == 2  # the session held, and the one not kept


def test_two_callbacks_at_once_in_a_signed_out_browser_leave_one_session(served):
    """The same, from a browser holding no session: each tab's callback carries both pending
    sign-in cookies, and the later one ends the session the earlier made."""
    name = served.app.config["SESSION_COOKIE_NAME"]
    logins = [requests.get(f"{served.url}/login", allow_redirects=False) for _ in range(2)]
    cookies = {key: value for login in logins for key, value in login.cookies.items()}
    assert name not in cookies and len(cookies) == 2
    callbacks = [consent(login.headers["Location"]) for login in logins]
    # Each code exchange takes a second at ilert, so the callbacks overlap even when the
    # second thread starts late on a loaded machine (they once ran one after the other).
    served.sandbox.fault(endpoint="authorization_code", count=2, delay=1)
    start = threading.Barrier(2)

    def finish(callback):
        start.wait()
        return requests.get(callback, cookies=cookies, allow_redirects=False, timeout=30)

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(finish, callbacks))
    assert [answer.status_code for answer in answers] == [302, 302]
    made = [answer.cookies[name] for answer in answers]
    alive = [
        requests.get(f"{served.url}/me", cookies={name: sid}, allow_redirects=False).status_code
        == 200
        for sid in made
    ]
    assert sorted(alive) == [False, True]
    assert served.sandbox.stats()["revoke"] == 1  # the session not kept


def test_a_tossed_session_cookie_signs_out_nobody_who_signs_in_with_it(served):
    """Someone tosses their session cookie into another person's browser, who then signs in
    there; their own next sign-in, with the same cookie, leaves that person signed in."""
    name = served.app.config["SESSION_COOKIE_NAME"]
    tosser = signed_in_browser(served.url)
    tossed = tosser.cookies[name]
    login = requests.get(
        f"{served.url}/login", cookies={name: tossed}, allow_redirects=False, timeout=10
    )
    callback = consent(login.headers["Location"])
    person = requests.get(
        callback, cookies={name: tossed, **login.cookies}, allow_redirects=False, timeout=10
    )
    assert person.status_code == 302
    persons_session = {name: person.cookies[name]}
    again = tosser.get(f"{served.url}/login", timeout=10)
    signed_in = tosser.post(again.url, data={"user": "ada.lovelace", "decision": "allow"})
    assert signed_in.status_code == 200 and signed_in.url == f"{served.url}{LANDING}"
    me = requests.get(f"{served.url}/me", cookies=persons_session, allow_redirects=False)
    assert me.status_code == 200


# --- folders ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o722])
def test_a_session_folder_others_can_write_is_refused(make_app, tmp_path, mode):
    folder = tmp_path / "shared"
    folder.mkdir()
    folder.chmod(mode)
    from config import ConfigError

    with pytest.raises(ConfigError, match="SESSION_FILE_DIR is not safe: others can write"):
        make_app(SESSION_FILE_DIR=str(folder))


def test_a_session_folder_of_another_user_is_refused(make_app, tmp_path):
    if os.geteuid() == 0:
        folder = tmp_path / "theirs"
        folder.mkdir(mode=0o700)
        os.chown(folder, 65534, 65534)
    else:
        folder = Path("/")  # root's
    from config import ConfigError

    with pytest.raises(ConfigError, match="belongs to another user"):
        make_app(SESSION_FILE_DIR=str(folder))


def test_the_file_store_is_created_private(make_app, auth_for, tmp_path):
    top = tmp_path / "store"
    client = make_app(SESSION_FILE_DIR=str(top)).test_client()
    auth_for(client).sign_in()
    for folder in (top, top / "entries", top / "locks"):
        assert folder.stat().st_mode & 0o777 == 0o700
    entries = list((top / "entries").iterdir())
    assert entries
    for entry in entries:
        assert entry.stat().st_mode & 0o777 == 0o600


def test_a_session_folder_deleted_while_the_app_runs_is_made_again_private(
    make_app, auth_for, tmp_path, caplog
):
    """Its sessions are gone with it; sign-ins work again at once (they answered 503 until a
    restart), and the folders are 0700 again (filelock made them as the umask said)."""
    top = tmp_path / "store"
    client = make_app(SESSION_FILE_DIR=str(top)).test_client()
    auth = auth_for(client)
    auth.sign_in()
    shutil.rmtree(top)
    assert client.get("/me").status_code == 302  # signed out: the session is gone
    old_umask = os.umask(0o022)
    try:
        with caplog.at_level(logging.WARNING, logger="store.backends"):
            assert auth.sign_in().status_code == 302
    finally:
        os.umask(old_umask)
    assert client.get("/me").status_code == 200
    for folder in (top, top / "entries", top / "locks"):
        assert folder.stat().st_mode & 0o777 == 0o700, folder
    assert "was gone: made again" in caplog.text


@pytest.mark.slow
def test_gunicorn_refuses_a_world_writable_session_folder(tmp_path, sandbox):
    folder = tmp_path / "shared"
    folder.mkdir()
    folder.chmod(0o777)
    environ = process_environ(
        ILERT_CLIENT_ID=CLIENT_ID,
        ILERT_CLIENT_SECRET=CLIENT_SECRET,
        ILERT_AUTH_URL=sandbox.url,
        ILERT_API_URL=sandbox.url,
        SECRET_KEY="a-long-enough-secret-key-for-the-test",
        SESSION_FILE_DIR=str(folder),
    )
    finished = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-b", "127.0.0.1:0", "app:create_app()"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 3
    assert "SESSION_FILE_DIR is not safe: others can write" in finished.stderr
    assert "Traceback" not in finished.stderr


def test_logout_waits_for_a_refresh_in_flight_and_leaves_no_tokens(app, auth_for):
    client = app.test_client()
    auth = auth_for(client)
    auth.sign_in()
    sid, store = auth.session_id(), app.extensions["store"]
    refreshing = threading.Event()

    def refresh():  # as a refresh does: under the lock, write the rotated tokens
        with app.app_context(), store.lock("tokens", sid, wait=5):
            refreshing.set()
            entry = store.get("tokens", sid)
            time.sleep(0.3)
            store.put("tokens", sid, {**entry, "refresh_token": "rotated"}, 600)

    other = threading.Thread(target=refresh)
    other.start()
    refreshing.wait(5)
    assert auth.log_out().status_code == 302
    other.join()
    assert store.get("tokens", sid) is None  # logout took what the refresh wrote
