"""A store that refuses writes for a while (a full disk, Redis out of memory) and then recovers
signs nobody out: a refresh token is sent only once the store has taken a write, and renewed
tokens it refuses reach the session's next request in a sealed cookie, on any instance."""

import json
import threading
import time

import pytest

from ilert import oauth, rescue
from tests.full_store import FullDisk, FullRedis
from tests.tools import hold_next_call

# A redis-server of its own, a tmpfs, and a refresh that waits at ilert in real time.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("waits in real time")]

ACCESS_TOKEN_TTL = 600
PEOPLE = 4


@pytest.fixture(params=["filesystem", "redis"])
def full_store(request, tmp_path):
    """(settings for the app, the store's FullDisk or FullRedis)."""
    if request.param == "redis":
        server = request.getfixturevalue("own_redis_server")
        yield {"SESSION_TYPE": "redis", "REDIS_URL": server.url}, FullRedis(server.url)
        return
    disk = FullDisk(tmp_path / "disk")
    try:
        yield {"SESSION_FILE_DIR": str(disk.sessions)}, disk
    finally:
        disk.free()
        disk.unmount()


def rescue_cookie(app):
    return app.config["SESSION_COOKIE_NAME"] + rescue.COOKIE_SUFFIX


def move_cookies(source, target):
    """Give `target` (a client of another instance) the session's cookies of `source`."""
    app = source.application
    for key in (app.config["SESSION_COOKIE_NAME"], rescue_cookie(app)):
        cookie = source.get_cookie(key)
        if cookie is not None:
            target.set_cookie(key, cookie.value)


def wait_for_refreshes(upstream, count):
    deadline = time.monotonic() + 5
    while upstream.stats()["token"]["refresh_token"] < count and time.monotonic() < deadline:
        time.sleep(0.01)
    assert upstream.stats()["token"]["refresh_token"] == count


def test_a_store_that_refuses_writes_for_a_while_signs_nobody_out(
    full_store, make_app, start_sandbox, auth_for, clock, caplog
):
    settings, store = full_store
    upstream = start_sandbox(access_token_ttl=ACCESS_TOKEN_TTL)
    instance, other_instance = (make_app(sandbox=upstream, **settings) for _ in range(2))
    people = [instance.test_client() for _ in range(PEOPLE)]
    for person in people:
        auth_for(person, upstream).sign_in()
    clock.advance(ACCESS_TOKEN_TTL)  # every access token has expired

    # The first person's refresh is at ilert when the store fills up: ilert holds its answer
    # until the store is full.
    reached, release = hold_next_call(upstream.app, oauth.TOKEN_PATH)
    answers = []
    in_flight = threading.Thread(target=lambda: answers.append(people[0].get("/me")))
    in_flight.start()
    try:
        assert reached.wait(10), "the refresh never reached ilert"
        store.fill()
        assert in_flight.is_alive()  # ilert has not answered yet
    finally:
        release.set()
    in_flight.join()
    wait_for_refreshes(upstream, 1)
    assert answers[0].status_code == 200  # with the renewed tokens, which the store refused
    assert caplog.text.count("refused a session's renewed tokens") == 1

    # Its next request, at another instance, finds them in the cookie; the others' access
    # tokens expired meanwhile, and their refresh waits for the store.
    first = other_instance.test_client()
    move_cookies(people[0], first)
    kept = people[0].get_cookie(rescue_cookie(instance)).value
    assert first.get("/me").status_code == 200
    for person in people[1:]:
        response = person.get("/me")
        assert response.status_code == 503
        assert b"Sessions are unavailable" in response.data
    clock.advance(60)
    assert upstream.stats()["token"]["refresh_token"] == 1  # no refresh token sent in vain

    store.free()
    for person in [first, *people[1:]]:
        assert person.get("/me").status_code == 200
    assert first.get_cookie(rescue_cookie(instance)) is None  # back in the store
    renewed = auth_for(first, upstream).tokens()
    assert renewed["access_token"] not in kept and renewed["refresh_token"] not in kept
    assert upstream.stats()["token"]["refresh_token"] == PEOPLE
    clock.advance(ACCESS_TOKEN_TTL)  # the renewed tokens were stored: the next refresh works
    for person in [first, *people[1:]]:
        assert person.get("/me").status_code == 200
    assert upstream.stats()["token"]["refresh_token"] == 2 * PEOPLE


@pytest.fixture
def at_the_callback(full_store, make_app, start_sandbox, auth_for):
    """A person back from ilert's consent: (client, its SignIn, the sandbox, the store, the
    callback URL)."""
    settings, store = full_store
    upstream = start_sandbox()
    client = make_app(sandbox=upstream, **settings).test_client()
    auth = auth_for(client, upstream)
    return client, auth, upstream, store, auth.consent(auth.start())


def test_a_store_full_at_the_callback_sends_no_code_and_the_reload_signs_in(at_the_callback):
    client, _, upstream, store, callback = at_the_callback
    store.fill()
    response = client.get(callback)
    assert response.status_code == 503
    assert b"Sessions are unavailable" in response.data
    assert upstream.stats()["token"]["authorization_code"] == 0  # the code is unused
    store.free()
    assert client.get(callback).status_code == 302  # the reload, with that code
    assert client.get("/me").status_code == 200
    assert upstream.stats()["token"]["authorization_code"] == 1


def test_a_store_that_fills_during_the_exchange_leaves_no_token_alive(at_the_callback):
    client, auth, upstream, store, callback = at_the_callback
    issued = []
    inner = upstream.app.wsgi_app

    def note_tokens(environ, start_response):  # the tokens ilert issues, as the app gets them
        answer = b"".join(inner(environ, start_response))
        if environ["PATH_INFO"] == oauth.TOKEN_PATH:
            issued.append(json.loads(answer))
        return [answer]

    upstream.app.wsgi_app = note_tokens
    reached, release = hold_next_call(upstream.app, oauth.TOKEN_PATH)
    answers = []
    in_flight = threading.Thread(target=lambda: answers.append(client.get(callback)))
    in_flight.start()
    try:
        assert reached.wait(10), "the code exchange never reached ilert"
        store.fill()
    finally:
        release.set()
    in_flight.join()
    assert answers[0].status_code == 503
    assert client.get_cookie(client.application.config["SESSION_COOKIE_NAME"]) is None
    (tokens,) = issued
    assert upstream.state.tokens.access_token(tokens["access_token"]) is None  # revoked
    store.free()
    assert client.get(callback).status_code == 400  # the code went to ilert: never again
    assert upstream.stats()["token"]["authorization_code"] == 1
    assert auth.sign_in().status_code == 302
    assert client.get("/me").status_code == 200
