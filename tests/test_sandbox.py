"""The sandbox, tested over real HTTP: as strict as ilert, with working test hooks."""

import base64
import hashlib
import html
import json
import os
import re
import socket
import stat
import subprocess
import sys
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from sandbox import CLIENT_ID, CLIENT_SECRET, DEFAULT_REDIRECT_URI

AUTHORIZE = "/api/developers/oauth2/authorize"
TOKEN = "/api/developers/oauth2/token"
TOKEN_INFO = "/api/developers/oauth2/token_info"
REVOKE = "/api/developers/oauth2/revoke"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VERIFIER = "v" * 43 + "-verifier._~"
CREDENTIALS = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}


def challenge_of(verifier):
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize_url(sandbox, **overrides):
    """An authorization request URL; an override of None leaves that parameter out."""
    params = {
        "client_id": CLIENT_ID,
        "response_type": "code",
        "redirect_uri": DEFAULT_REDIRECT_URI,
        "scope": "profile source:w",
        "state": "the-state",
    }
    params.update(overrides)
    query = urlencode({name: value for name, value in params.items() if value is not None})
    return f"{sandbox.url}{AUTHORIZE}?{query}"


def consent(sandbox, decision="allow", user="ada.lovelace", **overrides):
    """POST the consent form; returns the response (a redirect when all is well)."""
    return requests.post(
        authorize_url(sandbox, **overrides),
        data={"user": user, "decision": decision},
        allow_redirects=False,
        timeout=5,
    )


def location_query(response):
    """The query of a redirect's Location, one value per name."""
    return {
        name: values[0]
        for name, values in parse_qs(urlsplit(response.headers["Location"]).query).items()
    }


def get_code(sandbox, **overrides):
    response = consent(sandbox, **overrides)
    assert response.status_code == 302
    return location_query(response)["code"]


def post_token(sandbox, form, auth=None):
    return requests.post(f"{sandbox.url}{TOKEN}", data=form, auth=auth, timeout=5)


def token_request(sandbox, **form):
    """POST to the token endpoint with the client's credentials in the body; a value of
    None leaves that parameter out."""
    form = CREDENTIALS | form
    return post_token(sandbox, {name: value for name, value in form.items() if value is not None})


def sign_in(sandbox, **overrides):
    """The token answer of a whole sign-in."""
    response = token_request(
        sandbox, grant_type="authorization_code", code=get_code(sandbox, **overrides)
    )
    assert response.status_code == 200, response.text
    return response.json()


def refresh(sandbox, refresh_token):
    return token_request(sandbox, grant_type="refresh_token", refresh_token=refresh_token)


def api(sandbox, path, access_token):
    headers = {"Authorization": f"Bearer {access_token}"}
    return requests.get(f"{sandbox.url}{path}", headers=headers, timeout=5)


def works(sandbox, access_token):
    """Whether the access token still opens the API."""
    return api(sandbox, "/api/users/current", access_token).status_code == 200


def assert_ilert_error(response, status, code):
    assert response.status_code == status
    body = response.json()
    assert body["code"] == code
    assert isinstance(body["error"], str) and body["error"]


# --- authorize -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {"client_id": "someone-else"},
        {"client_id": None},
        {"redirect_uri": "http://localhost:4597/authorize-result/"},
        {"redirect_uri": "http://127.0.0.1:4597/authorize-result"},
        {"redirect_uri": "https://evil.example/authorize-result"},
        {"redirect_uri": None},
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_unknown_client_or_redirect_uri_gets_error_page_never_redirect(sandbox, method, overrides):
    response = requests.request(
        method,
        authorize_url(sandbox, **overrides),
        data={"user": "ada.lovelace", "decision": "allow"},
        allow_redirects=False,
        timeout=5,
    )
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert response.headers["Content-Type"].startswith("text/html")
    assert "cannot go on" in response.text


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"scope": "profile admin"}, "invalid_scope"),
        ({"scope": "source:x"}, "invalid_scope"),
        ({"scope": "profile  source"}, "invalid_scope"),
        ({"scope": ""}, "invalid_scope"),
        ({"scope": None}, "invalid_scope"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": None}, "invalid_request"),
        (
            {"code_challenge": challenge_of(VERIFIER), "code_challenge_method": "plain"},
            "invalid_request",
        ),
        ({"code_challenge": challenge_of(VERIFIER)}, "invalid_request"),
        ({"code_challenge_method": "S256"}, "invalid_request"),
        ({"code_challenge": "too-short", "code_challenge_method": "S256"}, "invalid_request"),
        ({"code_challenge": "=" * 43, "code_challenge_method": "S256"}, "invalid_request"),
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_bad_authorization_request_redirects_back_with_error(sandbox, method, overrides, error):
    response = requests.request(
        method,
        authorize_url(sandbox, **overrides),
        data={"user": "ada.lovelace", "decision": "allow"},
        allow_redirects=False,
        timeout=5,
    )
    assert response.status_code == 302
    assert response.headers["Location"].startswith(DEFAULT_REDIRECT_URI + "?")
    query = location_query(response)
    assert query["error"] == error
    assert query["error_description"]
    assert query["state"] == "the-state"
    assert "code" not in query


def test_error_redirect_has_no_state_when_none_was_sent(sandbox):
    response = requests.get(
        authorize_url(sandbox, scope="nope", state=None), allow_redirects=False, timeout=5
    )
    assert response.status_code == 302
    assert set(location_query(response)) == {"error", "error_description"}


def test_repeated_parameter_is_invalid_request(sandbox):
    response = requests.get(
        authorize_url(sandbox) + "&scope=profile", allow_redirects=False, timeout=5
    )
    assert location_query(response)["error"] == "invalid_request"


@pytest.mark.parametrize(
    "scope",
    ["profile", "offline_access", "source", "source:r", "status_page:d", "alert:w incident"],
)
def test_known_scopes_get_the_consent_page(sandbox, scope):
    response = requests.get(authorize_url(sandbox, scope=scope), timeout=5)
    assert response.status_code == 200


def test_consent_page_offers_people_and_posts_back_to_itself(sandbox):
    url = authorize_url(
        sandbox, code_challenge=challenge_of(VERIFIER), code_challenge_method="S256"
    )
    response = requests.get(url, timeout=5)
    assert response.status_code == 200
    page = response.text
    assert "Sandbox OAuth2 app" in page
    assert "This is the local ilert sandbox, not ilert." in page
    assert "See your name, email address" in page  # profile, explained
    assert "See and change your alert sources" in page  # source:w, explained
    action = html.unescape(re.search(r'<form method="post" action="([^"]*)">', page)[1])
    assert urlsplit(action)[:3] == urlsplit(url)[:3]
    assert parse_qs(urlsplit(action).query) == parse_qs(urlsplit(url).query)
    assert '<input type="radio" name="user" value="ada.lovelace" checked>' in page
    assert '<input type="radio" name="user" value="grace.hopper">' in page
    assert "Grace Hopper" in page
    assert '<button name="decision" value="allow">' in page
    assert '<button name="decision" value="deny"' in page
    assert "Set-Cookie" not in response.headers
    assert "<script" not in page and "style=" not in page and "//" not in page.split("<main>")[0]
    css = requests.get(f"{sandbox.url}/static/sandbox.css", timeout=5)
    assert css.status_code == 200 and "text/css" in css.headers["Content-Type"]


def test_allow_redirects_with_code_and_state(sandbox):
    response = consent(sandbox, decision="allow")
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(DEFAULT_REDIRECT_URI + "?code=sbx_code_")
    assert location_query(response)["state"] == "the-state"
    assert "Set-Cookie" not in response.headers


def test_redirect_keeps_the_query_of_a_registered_uri(sandbox):
    sandbox.state.redirect_uris.append("http://localhost:4597/cb?tenant=a")
    response = consent(sandbox, redirect_uri="http://localhost:4597/cb?tenant=a", state=None)
    assert response.headers["Location"].startswith("http://localhost:4597/cb?tenant=a&code=")


def test_deny_redirects_with_access_denied(sandbox):
    response = consent(sandbox, decision="deny")
    assert response.status_code == 302
    query = location_query(response)
    assert query["error"] == "access_denied"
    assert query["error_description"]
    assert query["state"] == "the-state"
    assert "code" not in query


@pytest.mark.parametrize(
    ("user", "decision"), [("mallory", "allow"), ("", "allow"), ("ada.lovelace", "maybe")]
)
def test_consent_post_rejects_unknown_person_or_decision(sandbox, user, decision):
    response = consent(sandbox, user=user, decision=decision)
    assert response.status_code == 400
    assert "Location" not in response.headers


# --- token: authorization_code ---------------------------------------------------------


def test_code_exchange_answers_in_ilerts_shape(sandbox):
    response = token_request(sandbox, grant_type="authorization_code", code=get_code(sandbox))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert set(body) == {
        "token_type",
        "access_token",
        "expires_in",
        "scope",
        "refresh_token",
        "refresh_token_expires_in",
    }
    assert body["token_type"] == "Bearer"
    assert body["access_token"].startswith("sbx_at_")
    assert body["refresh_token"].startswith("sbx_rt_")
    assert body["expires_in"] == 3600
    assert body["refresh_token_expires_in"] == 31536000
    assert body["scope"] == "profile source:w"


def test_unknown_code_is_invalid_grant(sandbox):
    response = token_request(sandbox, grant_type="authorization_code", code="sbx_code_nope")
    assert response.status_code == 401
    assert response.json() == {"code": "invalid_grant", "error": "Provided code is unknown"}


def test_code_works_once_and_its_replay_revokes_the_tokens(sandbox):
    code = get_code(sandbox)
    tokens = token_request(sandbox, grant_type="authorization_code", code=code).json()
    replay = token_request(sandbox, grant_type="authorization_code", code=code)
    assert_ilert_error(replay, 401, "invalid_grant")
    assert not works(sandbox, tokens["access_token"])
    assert_ilert_error(refresh(sandbox, tokens["refresh_token"]), 401, "invalid_grant")


def test_expired_code_is_invalid_grant(start_sandbox):
    sandbox = start_sandbox(code_ttl=1)
    code = get_code(sandbox)
    time.sleep(1.1)
    assert_ilert_error(
        token_request(sandbox, grant_type="authorization_code", code=code), 401, "invalid_grant"
    )


@pytest.mark.parametrize(
    ("verifier", "status"),
    [(VERIFIER, 200), ("w" * 43, 401), (None, 401), ("short", 401)],
)
def test_pkce_verifier_must_match_the_challenge(sandbox, verifier, status):
    code = get_code(sandbox, code_challenge=challenge_of(VERIFIER), code_challenge_method="S256")
    response = token_request(
        sandbox, grant_type="authorization_code", code=code, code_verifier=verifier
    )
    assert response.status_code == status
    if status == 401:
        assert response.json()["code"] == "invalid_grant"


def test_verifier_for_a_code_without_challenge_is_refused(sandbox):
    response = token_request(
        sandbox, grant_type="authorization_code", code=get_code(sandbox), code_verifier=VERIFIER
    )
    assert_ilert_error(response, 401, "invalid_grant")


@pytest.mark.parametrize(
    ("redirect_uri", "status"),
    [(DEFAULT_REDIRECT_URI, 200), (None, 200), ("http://localhost:4597/other", 401)],
)
def test_redirect_uri_at_token_must_equal_the_authorized_one(sandbox, redirect_uri, status):
    response = token_request(
        sandbox, grant_type="authorization_code", code=get_code(sandbox), redirect_uri=redirect_uri
    )
    assert response.status_code == status


@pytest.mark.parametrize(
    ("auth", "credentials"),
    [
        (None, {"client_id": CLIENT_ID, "client_secret": "wrong"}),
        (None, {"client_id": "someone-else", "client_secret": CLIENT_SECRET}),
        (None, {"client_id": CLIENT_ID}),
        (None, {}),
        ((CLIENT_ID, "wrong"), {}),
        (("someone-else", CLIENT_SECRET), {}),
        ((CLIENT_ID, CLIENT_SECRET), {"client_secret": CLIENT_SECRET}),  # two methods at once
    ],
)
def test_bad_client_authentication_is_invalid_client(sandbox, auth, credentials):
    code = get_code(sandbox)
    form = {"grant_type": "authorization_code", "code": code} | credentials
    assert_ilert_error(post_token(sandbox, form, auth), 401, "invalid_client")
    # A refused client leaves the code usable.
    assert token_request(sandbox, grant_type="authorization_code", code=code).status_code == 200


def test_client_may_authenticate_with_http_basic(sandbox):
    form = {"grant_type": "authorization_code", "code": get_code(sandbox)}
    assert post_token(sandbox, form, auth=(CLIENT_ID, CLIENT_SECRET)).status_code == 200


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ([("grant_type", "password")], "unsupported_grant_type"),
        ([], "invalid_request"),
        ([("grant_type", "authorization_code")], "invalid_request"),
        ([("grant_type", "refresh_token")], "invalid_request"),
        ([("grant_type", "refresh_token")] * 2 + [("refresh_token", "x")], "invalid_request"),
    ],
)
def test_malformed_token_request_is_400(sandbox, form, code):
    assert_ilert_error(post_token(sandbox, [*CREDENTIALS.items(), *form]), 400, code)


def test_token_request_must_be_form_encoded(sandbox):
    body = CREDENTIALS | {"grant_type": "authorization_code", "code": get_code(sandbox)}
    response = requests.post(f"{sandbox.url}{TOKEN}", json=body, timeout=5)
    assert_ilert_error(response, 400, "invalid_request")
