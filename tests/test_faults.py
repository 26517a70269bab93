"""Every upstream call under every fault: a clear page, a fitting status, nothing lost.

The sandbox's fault hook makes the next call of an endpoint fail; "refused" points the app
at a port that refuses every connection. HTTP_TIMEOUT is TIMEOUT, and a delay half a second
longer is a timeout.
"""

import json
import os
import socket
import subprocess
import sys

import pytest
from conftest import EVERY_SCOPE
from test_pages import url_of

from sandbox.server import API
from views.registry import PAGES

TIMEOUT = 2  # not less: on a loaded machine (CI) an answer can take most of a second
ACCESS_TOKEN_TTL = 2
SERVER_ERROR = '{"code": "server_error", "error": "Something broke"}'

FAULTS = {
    "http_500": ({"status": 500, "body": SERVER_ERROR}, 502),
    "http_502_html": ({"status": 502, "body": "<html><h1>502 Bad Gateway</h1></html>"}, 502),
    "invalid_json": ({"status": 200, "body": "{this is not json"}, 502),
    # JSON, but neither the object nor the list of objects any call of the app is answered with
    "json_of_another_shape": ({"status": 200, "body": "[1]"}, 502),
    "timeout": ({"delay": TIMEOUT + 0.5}, 504),
    "dropped": ({"drop": True}, 502),
    "refused": (None, 503),
}
# Faults after which ilert may have spent the refresh token we sent: the session must end.
ANSWER_LOST = {"invalid_json", "json_of_another_shape", "timeout", "dropped"}
# Faults that are a 200: for a revoke, that is all RFC 7009 asks of the answer.
ANSWERED_200 = {"invalid_json", "json_of_another_shape"}
# A value of another JSON type for each: what a field of ilert's answer is turned into.
OTHER_TYPE = {
    str: 7, int: "seven", float: "seven", bool: "yes", list: {"a": 1}, dict: [1, "b"],
    type(None): ["x"],
}  # fmt: skip


@pytest.fixture
def upstream(start_sandbox):
    return start_sandbox(access_token_ttl=ACCESS_TOKEN_TTL)


@pytest.fixture
def client(make_app, upstream):
    app = make_app(sandbox=upstream, HTTP_TIMEOUT=str(TIMEOUT), ILERT_SCOPES=EVERY_SCOPE)
    return app.test_client()


@pytest.fixture
def auth(client, auth_for, upstream):
    return auth_for(client, upstream)


@pytest.fixture
def refusing_url():
    """An origin whose connections are refused: a loopback port bound but not listening, held
    for the whole test, so that no other test (or xdist worker) can be given it meanwhile."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{held.getsockname()[1]}"


@pytest.fixture
def inject(client, upstream, refusing_url):
    """`inject(endpoint, fault)`: make the next call of `endpoint` fail; for "refused", ilert
    refuses every connection (the app calls `refusing_url`) until `recover()`."""

    def inject(endpoint, fault):
        fields, _ = FAULTS[fault]
        if fields is None:
            client.application.config["ILERT_API_URL"] = refusing_url
        else:
            upstream.fault(endpoint=endpoint, **fields)

    return inject


@pytest.fixture
def recover(client, upstream):
    """`recover()`: ilert answers again (a queued fault is spent by its one call)."""

    def recover():
        client.application.config["ILERT_API_URL"] = upstream.url

    return recover


def assert_clear_page(response, status):
    assert response.status_code == status
    assert b"<h1>" in response.data
    assert b"Traceback" not in response.data


def assert_never_retried(upstream, grant, fault):
    """A code exchange or refresh is never sent twice: the first may have been spent."""
    reached = 0 if fault == "refused" else 1
    assert upstream.stats()["token"][grant] == reached


def assert_signed_in(client):
    assert client.get("/me").status_code == 200


def assert_signed_out(client):
    response = client.get("/me")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


@pytest.mark.parametrize("fault", FAULTS)
def test_code_exchange_fault(client, auth, upstream, fault, inject, recover):
    callback = auth.consent(auth.start())
    inject("authorization_code", fault)
    response = client.get(callback)
    recover()
    assert_clear_page(response, FAULTS[fault][1])
    assert b"Sign in again" in response.data
    assert_never_retried(upstream, "authorization_code", fault)
    assert_signed_out(client)
    assert auth.sign_in().status_code == 302
    assert_signed_in(client)


@pytest.mark.parametrize("fault", FAULTS)
def test_refresh_fault(client, auth, upstream, fault, clock, inject, recover):
    auth.sign_in()
    clock.advance(ACCESS_TOKEN_TTL)
    inject("refresh_token", fault)
    response = client.get("/me")
    recover()
    assert_clear_page(response, FAULTS[fault][1])
    assert_never_retried(upstream, "refresh_token", fault)
    if fault in ANSWER_LOST:
        assert b"Please sign in again" in response.data
        assert_signed_out(client)
    else:
        assert_signed_in(client)  # by refreshing again: the failed refresh spent nothing
        reached = 0 if fault == "refused" else 1
        assert upstream.stats()["token"]["refresh_token"] == reached + 1


def sandbox_endpoint(call):
    """The sandbox's name (its stats key, its fault endpoint) of a page's `call`, such as
    "GET /api/users/current"."""
    method, path = call.split()
    (name,) = [row.name for row in API if method in row.method.split() and row.path == path]
    return name


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.endpoint)
def test_api_call_fault_keeps_the_session(client, auth, upstream, page, fault, inject, recover):
    auth.sign_in()
    path = url_of(client.application, page.endpoint)
    inject(sandbox_endpoint(page.call), fault)
    response = client.get(path)
    recover()
    assert_clear_page(response, FAULTS[fault][1])
    assert client.get(path).status_code == 200


def with_fields_of_other_types(answer):
    """ilert's `answer` (an object or a list of them) with each field of another JSON type."""
    if isinstance(answer, list):
        return [with_fields_of_other_types(item) for item in answer]
    return {key: OTHER_TYPE[type(value)] for key, value in answer.items()}


@pytest.mark.parametrize("accept", ["text/html", "application/json"])
@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.endpoint)
def test_a_page_shows_fields_of_unexpected_types(client, auth, upstream, page, accept):
    """Shown as none or as they are, without the buttons an entry without its number cannot
    have: a field of another type than ilert's is no reason for an error page."""
    auth.sign_in()
    path = url_of(client.application, page.endpoint)
    answer = client.get(path, headers={"Accept": "application/json"}).get_json()
    assert answer, f"the sandbox has nothing for {path}: the test would show nothing"
    strange = with_fields_of_other_types(answer)
    upstream.fault(endpoint=sandbox_endpoint(page.call), status=200, body=json.dumps(strange))
    response = client.get(path, headers={"Accept": accept})
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    if accept == "application/json":
        assert response.get_json() == strange
    assert_signed_in(client)


def test_sign_in_with_a_users_current_answer_of_another_shape(client, auth, upstream):
    callback = auth.consent(auth.start())
    upstream.fault(endpoint="users_current", status=200, body="[1]")
    assert client.get(callback).status_code == 302
    assert client.get("/").status_code == 200
    upstream.fault(endpoint="users_current", status=200, body=json.dumps({"firstName": 7}))
    assert client.get("/me").status_code == 200


@pytest.mark.parametrize("fault", FAULTS)
def test_api_call_fault_as_json(client, auth, upstream, fault, inject, recover):
    auth.sign_in()
    inject("users_current", fault)
    response = client.get("/me", headers={"Accept": "application/json"})
    recover()
    assert response.status_code == FAULTS[fault][1]
    body = response.get_json()
    assert set(body) == {"error", "message"}
    assert_signed_in(client)


@pytest.mark.parametrize("fault", FAULTS)
def test_revoke_fault_still_signs_out_and_says_so(client, auth, upstream, fault, inject, recover):
    auth.sign_in()
    inject("revoke", fault)
    response = auth.log_out()
    recover()
    assert response.status_code == 302
    home = client.get("/").data
    if fault in ANSWERED_200:
        # RFC 7009: a 200 means the token is revoked; the body does not matter.
        assert b"You are signed out." in home
    else:
        assert b"could not be reached" in home
        assert b"profile settings" in home
    assert_signed_out(client)


def test_rate_limit_answers_503_with_retry_after(client, auth, upstream):
    auth.sign_in()
    upstream.fault(endpoint="users_current", status=429, body='{"code": "rate_limited"}')
    response = client.get("/me")
    assert_clear_page(response, 503)
    assert response.headers["Retry-After"] == "2"
    assert_signed_in(client)


@pytest.mark.parametrize("flow_inspector", ["false", "true"])
def test_unwritable_session_store_answers_503(
    make_app, upstream, auth_for, tmp_path, flow_inspector
):
    folder = tmp_path / "store"
    client = make_app(
        sandbox=upstream, SESSION_FILE_DIR=str(folder), FLOW_INSPECTOR=flow_inspector
    ).test_client()
    auth = auth_for(client, upstream)
    callback = auth.consent(auth.start())  # /login writes nothing: the callback does
    for child in sorted(folder.rglob("*"), reverse=True):
        child.rmdir() if child.is_dir() else child.unlink()
    folder.rmdir()
    folder.write_text("a file where the session folder was")
    response = client.get(callback)
    assert_clear_page(response, 503)
    assert b"Sessions are unavailable" in response.data
    assert "Location" not in response.headers


def entry_file(client, purpose, tmp_path):
    """The file that holds this client's session entry of `purpose`."""
    app = client.application
    sid = client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
    name = app.extensions["store"].sealer.locate(purpose, sid)[0]
    return tmp_path / "sessions" / "entries" / name


@pytest.mark.parametrize("purpose", ["session", "tokens"])
def test_an_unreadable_session_or_token_file_answers_503(client, auth, tmp_path, purpose):
    auth.sign_in()
    entry = entry_file(client, purpose, tmp_path)
    entry.unlink()
    entry.mkdir()  # reading a folder fails as reading a broken file would
    response = client.get("/me")
    assert_clear_page(response, 503)
    assert b"Sessions are unavailable" in response.data


@pytest.mark.parametrize("purpose", ["session", "tokens"])
@pytest.mark.parametrize("damage", [b"", b"\1", b"\1" + bytes(40), b"\0\0\0\0not sealed"])
def test_a_damaged_session_or_token_file_asks_to_sign_in_again(
    client, auth, tmp_path, purpose, damage, caplog
):
    auth.sign_in()
    entry = entry_file(client, purpose, tmp_path)
    expiry = entry.stat().st_mtime
    entry.write_bytes(damage)
    os.utime(entry, (expiry, expiry))  # still live: only its contents are damaged
    response = client.get("/me")
    assert response.status_code == 302  # to sign in again, or home with a message saying so
    assert client.get("/me", headers={"Accept": "application/json"}).status_code == 401
    assert "did not open" in caplog.text


def test_upstream_503_answers_503_with_retry_after(client, auth, upstream):
    auth.sign_in()
    upstream.fault(endpoint="users_current", status=503, body='{"code": "unavailable"}')
    response = client.get("/me")
    assert_clear_page(response, 503)
    assert response.headers["Retry-After"] == "2"
    assert b"ilert is unavailable right now" in response.data
    assert_signed_in(client)


def test_rejected_client_credentials_say_which_settings_to_check(client, auth, upstream):
    callback = auth.consent(auth.start())
    body = '{"code": "invalid_client", "error": "Client authentication failed"}'
    upstream.fault(endpoint="authorization_code", status=401, body=body)
    response = client.get(callback)
    assert_clear_page(response, 502)
    assert b"ILERT_CLIENT_ID" in response.data and b"ILERT_CLIENT_SECRET" in response.data
    assert b"sandbox-client-secret" not in response.data


@pytest.mark.parametrize("accept", ["text/html", "application/json"])
def test_unknown_pages_get_a_clear_404(client, accept):
    response = client.get("/no/such/page", headers={"Accept": accept})
    assert response.status_code == 404
    if accept == "application/json":
        assert response.get_json() == {
            "error": "not_found",
            "message": "There is no page at this address.",
        }
    else:
        assert b"Page not found" in response.data


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "text/html"),
        ("*/*", "text/html"),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "text/html"),
        ("application/json", "application/json"),
        ("application/json, text/html;q=0.5", "application/json"),
        ("text/html;q=0.1, application/*", "application/json"),
        ("image/png", "text/html"),
    ],
)
def test_answers_follow_the_accept_header(client, accept, expected):
    headers = {"Accept": accept} if accept is not None else {}
    for _ in range(2):  # the decision is remembered per header: the second answer agrees
        response = client.get("/no/such/page", headers=headers)
        assert (response.status_code, response.mimetype) == (404, expected)


def test_a_redirect_from_ilert_is_not_taken_for_success(client, auth, upstream):
    auth.sign_in()
    upstream.fault(endpoint="users_current", status=302, body="")
    assert_clear_page(client.get("/me"), 502)
    upstream.fault(endpoint="revoke", status=302, body="")
    auth.log_out()
    assert b"could not be reached" in client.get("/").data


def test_a_rate_limited_code_exchange_passes_retry_after_on(client, auth, upstream):
    callback = auth.consent(auth.start())
    upstream.fault(endpoint="authorization_code", status=429, body='{"code": "slow_down"}')
    response = client.get(callback)
    assert_clear_page(response, 503)
    assert response.headers["Retry-After"] == "2"


@pytest.mark.parametrize("holder", ["gone", "alive"])
def test_a_refresh_marked_by_another_process_waits_only_while_it_may_live(
    make_app, start_sandbox, auth_for, clock, holder
):
    """A worker killed between marking the tokens as renewing and storing ilert's answer leaves
    the mark: a process of this host that is gone is not waited for; one that lives may still
    store the answer, or have sent it to the browser, so the refresh token is not sent again
    until the longest a refresh takes has passed."""
    upstream = start_sandbox(access_token_ttl=ACCESS_TOKEN_TTL)
    app = make_app(sandbox=upstream)
    client = app.test_client()
    auth = auth_for(client, upstream)
    auth.sign_in()
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    if holder == "gone":
        process.kill()
        process.wait()
    marker = {"renewing": clock(), "renewing_by": f"{socket.gethostname()} {process.pid}"}
    app.extensions["store"].put("tokens", auth.session_id(), {**auth.tokens(), **marker}, 3600)
    clock.advance(ACCESS_TOKEN_TTL)
    try:
        response = client.get("/me")
        if holder == "alive":
            assert response.status_code == 503 and b"try again" in response.data
            assert upstream.stats()["token"]["refresh_token"] == 0
            clock.advance(2 * app.config["HTTP_TIMEOUT"] + 5)
            response = client.get("/me")
        assert response.status_code == 200
        assert upstream.stats()["token"]["refresh_token"] == 1
    finally:
        process.kill()
        process.wait()
