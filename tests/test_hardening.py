"""The edges an attacker or a mistaken operator reaches first (issue 11): HSTS, what
/healthz tells an anonymous caller, and token answers that are not Bearer.

Start-up refusals (plain-http ilert URLs, HOST beyond loopback) run real processes in
test_config.py and test_app_py.py."""

import json
import logging
import shutil
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from test_flow import real_tokens_without_refresh_token

from config import LOGOUT_NOTICE_COOKIE, SESSION_COOKIE, SIGN_IN_COOKIE_PREFIX
from ilert import oauth
from sandbox import CLIENT_ID, CLIENT_SECRET, DEFAULT_REDIRECT_URI

HSTS = "max-age=31536000"

# --- Strict-Transport-Security ----------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/login", "/healthz", "/static/style.css", "/nowhere"])
def test_hsts_is_sent_whenever_the_cookie_is_secure(live_app, path):
    served = live_app(SESSION_COOKIE_SECURE="true")
    response = requests.get(served.url + path, allow_redirects=False, timeout=5)
    assert response.headers["Strict-Transport-Security"] == HSTS


def test_hsts_comes_with_the_secure_cookie_it_protects(live_app):
    served = live_app(SESSION_COOKIE_SECURE="true")
    response = requests.get(served.url + "/login", allow_redirects=False, timeout=5)
    assert "; Secure" in response.headers["Set-Cookie"]
    assert response.headers["Strict-Transport-Security"] == HSTS


def test_an_https_redirect_uri_brings_hsts(make_app):
    app = make_app(ILERT_REDIRECT_URI="https://app.example.com/authorize-result")
    response = app.test_client().get("/", base_url="https://app.example.com")
    assert response.headers["Strict-Transport-Security"] == HSTS


@pytest.mark.parametrize("path", ["/", "/login", "/healthz"])
def test_no_hsts_over_plain_http(live_app, path):
    served = live_app()
    response = requests.get(served.url + path, allow_redirects=False, timeout=5)
    assert "Strict-Transport-Security" not in response.headers


# --- /healthz keeps the store's whereabouts to the log -------------------------------------


def store_failure_lines(caplog):
    """What the app logged about the store while answering /healthz."""
    return [
        record
        for record in caplog.records
        if record.name == "views.health" and "store" in record.message
    ]


def assert_says_only_unavailable(response):
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable", "session_store": "unavailable"}
    assert "Set-Cookie" not in response.headers


def test_healthz_with_redis_down_tells_the_caller_nothing_more(make_app, own_redis_server, caplog):
    redis_server = own_redis_server
    client = make_app(
        SESSION_TYPE="redis", REDIS_URL=redis_server.url, HTTP_TIMEOUT="2"
    ).test_client()
    assert client.get("/healthz").status_code == 200
    redis_server.stop()
    with caplog.at_level(logging.ERROR, logger="views.health"):
        response = client.get("/healthz")
    assert_says_only_unavailable(response)
    body = response.get_data(as_text=True)
    for detail in (str(redis_server.port), "127.0.0.1", "Connection refused", "Error"):
        assert detail not in body
    (line,) = store_failure_lines(caplog)
    assert f"127.0.0.1:{redis_server.port}" in line.message
    assert "refused" in line.message.lower()
    assert "\n" not in line.message and line.exc_info is None


def test_healthz_with_an_unwritable_folder_tells_the_caller_nothing_more(
    make_app, tmp_path, caplog
):
    folder = tmp_path / "store"
    client = make_app(SESSION_FILE_DIR=str(folder)).test_client()
    assert client.get("/healthz").status_code == 200
    shutil.rmtree(folder)
    folder.write_text("not a folder")
    with caplog.at_level(logging.ERROR, logger="views.health"):
        response = client.get("/healthz")
    assert_says_only_unavailable(response)
    body = response.get_data(as_text=True)
    for detail in (str(tmp_path), "not writable", "Not a directory"):
        assert detail not in body
    (line,) = store_failure_lines(caplog)
    assert str(folder) in line.message
    assert "\n" not in line.message and line.exc_info is None


# --- token answers must be Bearer (RFC 6749 §7.1) ------------------------------------------

FORGED_ACCESS_TOKEN = "sbx_at_never_shown"
MISSING = object()
NOT_BEARER = {"missing": MISSING, "mac": "mac", "dpop": "DPoP", "empty": "", "null": None, "1": 1}


def fault_token_type(sandbox, token_type):
    """Make the sandbox's next token answer a successful-looking one with `token_type`."""
    answer = {
        "access_token": FORGED_ACCESS_TOKEN,
        "refresh_token": "sbx_rt_never_shown",
        "expires_in": 3600,
        "scope": "profile source:w",
    }
    if token_type is not MISSING:
        answer["token_type"] = token_type
    sandbox.fault(endpoint="token", status=200, body=json.dumps(answer))


@pytest.mark.parametrize("token_type", NOT_BEARER)
def test_code_exchange_answer_that_is_not_bearer_is_refused(client, auth, sandbox, token_type):
    callback = auth.consent(auth.start())
    fault_token_type(sandbox, NOT_BEARER[token_type])
    response = client.get(callback)
    assert response.status_code == 502
    page = response.get_data(as_text=True)
    assert "ilert could not complete your sign-in" in page
    assert "not for a Bearer token" in page
    assert FORGED_ACCESS_TOKEN not in page
    assert sandbox.stats()["token"]["authorization_code"] == 1
    assert client.get("/me").status_code == 302
    assert auth.sign_in().status_code == 302
    assert client.get("/me").status_code == 200


@pytest.mark.parametrize("value", [[7], 0, False], ids=["list", "zero", "false"])
@pytest.mark.parametrize("key", oauth.TOKEN_TEXTS)
def test_a_token_answer_with_a_token_or_scope_that_is_not_text_is_refused(
    client, auth, sandbox, key, value
):
    callback = auth.consent(auth.start())
    answer = {
        "access_token": FORGED_ACCESS_TOKEN, "refresh_token": "sbx_rt_never_shown",
        "token_type": "Bearer", "expires_in": 3600, "scope": "profile",
    }  # fmt: skip
    sandbox.fault(endpoint="token", status=200, body=json.dumps({**answer, key: value}))
    response = client.get(callback)
    assert response.status_code == 502
    assert "token answer had" in response.get_data(as_text=True)  # no token, or not as text
    assert auth.sign_in().status_code == 302
    assert client.get("/me").status_code == 200


def test_a_token_answer_with_a_null_scope_is_one_that_does_not_say(client, auth, sandbox):
    """ilert then decides what a page may do (views.registry.lacks)."""
    answer = {**real_tokens_without_refresh_token(sandbox), "scope": None}
    sandbox.fault(endpoint="token", status=200, body=json.dumps(answer))
    assert auth.sign_in().status_code == 302
    assert auth.tokens()["scope"] == ""
    assert client.get("/me").status_code == 200


def test_code_exchange_answer_that_is_not_bearer_as_json(client, auth, sandbox):
    callback = auth.consent(auth.start())
    fault_token_type(sandbox, "mac")
    response = client.get(callback, headers={"Accept": "application/json"})
    assert response.status_code == 502
    assert response.get_json()["error"] == "bad_token_answer"


@pytest.mark.parametrize("token_type", NOT_BEARER)
def test_refresh_answer_that_is_not_bearer_ends_the_session(client, auth, sandbox, token_type):
    auth.sign_in()
    # ilert answers 401 to the access token, so the app refreshes, and gets a bad answer.
    sandbox.fault(endpoint="users_current", status=401, body='{"code": "UNAUTHORIZED"}')
    fault_token_type(sandbox, NOT_BEARER[token_type])
    response = client.get("/me")
    assert response.status_code == 502
    page = response.get_data(as_text=True)
    assert "Please sign in again" in page
    assert "not for a Bearer token" in page
    assert FORGED_ACCESS_TOKEN not in page
    assert sandbox.stats()["token"]["refresh_token"] == 1
    assert client.get("/me").status_code == 302


def real_token_answer(sandbox):
    """Sign in at the sandbox directly (no app): a genuine token answer."""
    authorize = requests.post(
        f"{sandbox.url}/api/developers/oauth2/authorize",
        params={
            "client_id": CLIENT_ID,
            "response_type": "code",
            "redirect_uri": DEFAULT_REDIRECT_URI,
            "scope": "profile source:r",
        },
        data={"user": "ada.lovelace", "decision": "allow"},
        allow_redirects=False,
        timeout=5,
    )
    code = parse_qs(urlsplit(authorize.headers["Location"]).query)["code"][0]
    answer = requests.post(
        f"{sandbox.url}/api/developers/oauth2/token",
        data={
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "code": code,
            "grant_type": "authorization_code",
            "redirect_uri": DEFAULT_REDIRECT_URI,
        },
        timeout=5,
    )
    answer.raise_for_status()
    return answer.json()


@pytest.mark.parametrize("token_type", ["bearer", "BEARER", "Bearer"])
def test_bearer_is_recognised_in_any_case(client, auth, sandbox, token_type):
    answer = {**real_token_answer(sandbox), "token_type": token_type}
    sandbox.fault(endpoint="authorization_code", status=200, body=json.dumps(answer))
    assert auth.sign_in().status_code == 302
    assert client.get("/me").status_code == 200


def still_refreshes(sandbox, refresh_token):
    """Whether ilert (the sandbox) still takes `refresh_token`."""
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    form |= {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    answer = requests.post(f"{sandbox.url}{oauth.TOKEN_PATH}", data=form, timeout=5)
    return answer.status_code == 200


@pytest.mark.parametrize("flaw", [{"token_type": "mac"}, {"expires_in": "soon"}, {"scope": 7}])
def test_a_refused_code_exchange_answer_has_its_refresh_token_revoked(client, auth, sandbox, flaw):
    """ilert issued the refresh token, and the app will never use it: it must not stay valid."""
    answer = {**real_token_answer(sandbox), **flaw}
    callback = auth.consent(auth.start())
    sandbox.fault(endpoint="authorization_code", status=200, body=json.dumps(answer))
    assert client.get(callback).status_code == 502
    assert sandbox.stats()["revoke"] == 1
    assert not still_refreshes(sandbox, answer["refresh_token"])


def test_a_refused_refresh_answer_has_its_refresh_token_revoked(client, auth, sandbox):
    auth.sign_in()
    answer = {**real_token_answer(sandbox), "token_type": "mac"}
    sandbox.fault(endpoint="users_current", status=401, body='{"code": "UNAUTHORIZED"}')
    sandbox.fault(endpoint="refresh_token", status=200, body=json.dumps(answer))
    assert client.get("/me").status_code == 502
    assert sandbox.stats()["revoke"] == 1
    assert not still_refreshes(sandbox, answer["refresh_token"])


def test_a_refused_token_answer_whose_revoke_fails_still_says_why(client, auth, sandbox, caplog):
    answer = {**real_token_answer(sandbox), "token_type": "mac"}
    callback = auth.consent(auth.start())
    sandbox.fault(endpoint="authorization_code", status=200, body=json.dumps(answer))
    sandbox.fault(endpoint="revoke", status=503, body='{"code": "UNAVAILABLE"}')
    with caplog.at_level(logging.WARNING, logger="ilert.oauth"):
        response = client.get(callback)
    assert response.status_code == 502
    assert "not for a Bearer token" in response.get_data(as_text=True)
    assert [r.getMessage() for r in caplog.records if "was not revoked" in r.getMessage()]
    assert answer["refresh_token"] not in caplog.text


# --- __Host- cookies (ASVS V3.4.4) ----------------------------------------------------------

HTTPS_REDIRECT_URI = "https://app.example.com/authorize-result"


def set_cookies(response):
    """The response's Set-Cookie headers by cookie name."""
    return {c.split("=", 1)[0]: c for c in response.headers.getlist("Set-Cookie")}


def assert_host_cookie(header):
    attributes = [part.strip().lower() for part in header.split(";")[1:]]
    assert header.startswith("__Host-")
    assert "secure" in attributes and "path=/" in attributes and "httponly" in attributes
    assert not any(a.startswith("domain=") for a in attributes)


def test_secure_cookies_carry_host_prefix(make_app, start_sandbox):
    sandbox = start_sandbox(redirect_uris=[HTTPS_REDIRECT_URI])
    app = make_app(sandbox=sandbox, ILERT_REDIRECT_URI=HTTPS_REDIRECT_URI)
    assert app.config["SESSION_COOKIE_NAME"] == f"__Host-{SESSION_COOKIE}"
    client = app.test_client()
    base = {"base_url": "https://app.example.com"}
    login = client.get("/login", **base)
    (sign_in,) = set_cookies(login).values()
    assert sign_in.startswith(f"__Host-{SIGN_IN_COOKIE_PREFIX}")
    assert_host_cookie(sign_in)
    granted = requests.post(
        login.headers["Location"],
        data={"user": "ada.lovelace", "decision": "allow"},
        allow_redirects=False,
        timeout=5,
    )
    callback = urlsplit(granted.headers["Location"])
    signed_in = client.get(f"{callback.path}?{callback.query}", **base)
    assert signed_in.status_code == 302
    cookies = set_cookies(signed_in)
    assert_host_cookie(cookies[app.config["SESSION_COOKIE_NAME"]])
    assert "samesite=lax" in cookies[app.config["SESSION_COOKIE_NAME"]].lower()
    assert client.get("/me", **base).status_code == 200
    with client.session_transaction(**base) as session:
        csrf_token = session["csrf_token"]
    logout = client.post("/logout", data={"csrf_token": csrf_token}, **base)
    assert_host_cookie(set_cookies(logout)[f"__Host-{LOGOUT_NOTICE_COOKIE}"])
    # a browser ignores the clearing cookie without Secure
    cleared = set_cookies(logout)[app.config["SESSION_COOKIE_NAME"]]
    assert_host_cookie(cleared)
    assert "Max-Age=0" in cleared
    assert all(name.startswith("__Host-") for name in set_cookies(logout))


def test_a_tossed_cookie_without_the_prefix_is_not_the_session(make_app, start_sandbox):
    sandbox = start_sandbox(redirect_uris=[HTTPS_REDIRECT_URI])
    app = make_app(sandbox=sandbox, ILERT_REDIRECT_URI=HTTPS_REDIRECT_URI)
    unprefixed = app.config["SESSION_COOKIE_NAME"].removeprefix("__Host-")
    assert unprefixed == SESSION_COOKIE  # the name a sibling subdomain could set
    victim = app.test_client()
    victim.set_cookie(unprefixed, "planted-by-a-sibling-subdomain", domain="app.example.com")
    answer = victim.get("/me", base_url="https://app.example.com")
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/login")


def test_plain_http_on_localhost_keeps_plain_cookie_names(client, auth):
    login = client.get("/login")
    assert all(name.startswith(SIGN_IN_COOKIE_PREFIX) for name in set_cookies(login))
    assert SESSION_COOKIE in set_cookies(auth.sign_in())
