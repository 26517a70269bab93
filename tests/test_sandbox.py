"""The sandbox, tested over real HTTP: as strict as ilert, with working test hooks."""

import base64
import hashlib
import html
import json
import logging
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from html.parser import HTMLParser
from types import SimpleNamespace
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from config_checks import is_loopback
from ilert import oauth as ilert_oauth
from ilert.scopes import grants
from sandbox import CLIENT_ID, CLIENT_SECRET, DEFAULT_REDIRECT_URI
from sandbox.description import BY_NAME
from sandbox.server import API, create_app
from sandbox.serving import bind
from sandbox.tokens import ACCESS_TOKEN_PREFIX, decode_claims

AUTHORIZE = "/api/developers/oauth2/authorize"
TOKEN = "/api/developers/oauth2/token"
TOKEN_INFO = "/api/developers/oauth2/token_info"
REVOKE = "/api/developers/oauth2/revoke"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VERIFIER = "v" * 43 + "-verifier._~"
CREDENTIALS = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
# ilert's main read endpoints: (path, the resource scope that reads it, stats key).
LISTS = [
    ("/api/alerts", "alert", "alerts"),
    ("/api/incidents", "incident", "incidents"),
    ("/api/services", "service", "services"),
    ("/api/schedules", "schedule", "schedules"),
    ("/api/escalation-policies", "policy", "escalation_policies"),
    ("/api/teams", "team", "teams"),
    ("/api/users", "user", "users"),
    ("/api/status-pages", "status_page", "status_pages"),
    ("/api/alert-sources", "source", "alert_sources"),
]
API_PATHS = ["/api/users/current", *(path for path, _, _ in LISTS)]


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
    """An answer of the OAuth2 endpoints in ilert's shape: {"code", "error"}."""
    assert response.status_code == status
    body = response.json()
    assert body["code"] == code
    assert isinstance(body["error"], str) and body["error"]


def assert_rest_error(response, status, code):
    """An answer of ilert's REST API in its shape (ilert-go client.go, GenericAPIError)."""
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"status", "message", "code"}
    assert (body["status"], body["code"]) == (status, code)
    assert isinstance(body["message"], str) and body["message"]


# --- authorize -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {"client_id": "someone-else"},
        {"client_id": None},
        {"redirect_uri": DEFAULT_REDIRECT_URI + "/"},
        {"redirect_uri": DEFAULT_REDIRECT_URI.replace("localhost", "127.0.0.1")},
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
    assert "<script" not in page and "style=" not in page
    assert re.findall(r'(?:href|src)="([^"]*)"', page) == ["/static/sandbox.css"]
    css = requests.get(f"{sandbox.url}/static/sandbox.css", timeout=5)
    assert css.status_code == 200 and "text/css" in css.headers["Content-Type"]


class _Landmarks(HTMLParser):
    """Collects the text of a page that is outside every landmark (axe rule `region`)."""

    LANDMARKS = {"header", "main", "footer", "nav", "aside"}

    def __init__(self):
        super().__init__()
        self.open, self.depth, self.outside = [], 0, []

    def handle_starttag(self, tag, attrs):
        if tag in ("meta", "link", "input", "br", "img"):
            return
        self.open.append(tag)
        self.depth += tag in self.LANDMARKS

    def handle_endtag(self, tag):
        if tag in self.open:
            while self.open.pop() != tag:
                pass
            self.depth = sum(name in self.LANDMARKS for name in self.open)

    def handle_data(self, text):
        if text.strip() and "body" in self.open and not self.depth:
            self.outside.append(text.strip())


@pytest.mark.parametrize("client_id", [CLIENT_ID, "unknown"])  # the consent and error pages
def test_every_piece_of_a_sandbox_page_is_in_a_landmark(sandbox, client_id):
    response = requests.get(authorize_url(sandbox, client_id=client_id), timeout=5)
    page = _Landmarks()
    page.feed(response.text)
    assert "sandbox" in response.text and page.open == []
    assert page.outside == []
    assert re.search(
        r"<header[^>]*>\s*<p>This is the local ilert sandbox, not ilert.</p>", response.text
    )


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
    assert body["access_token"].startswith(ACCESS_TOKEN_PREFIX)
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


def test_expired_code_is_invalid_grant(start_sandbox, clock):
    sandbox = start_sandbox(code_ttl=1)
    code = get_code(sandbox)
    clock.advance(1.1)
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


def test_failed_exchange_uses_the_code_up(sandbox):
    code = get_code(sandbox, code_challenge=challenge_of(VERIFIER), code_challenge_method="S256")
    wrong = token_request(
        sandbox, grant_type="authorization_code", code=code, code_verifier="w" * 43
    )
    assert_ilert_error(wrong, 401, "invalid_grant")
    right = token_request(
        sandbox, grant_type="authorization_code", code=code, code_verifier=VERIFIER
    )
    assert_ilert_error(right, 401, "invalid_grant")


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


# --- token: refresh_token --------------------------------------------------------------


def test_refresh_rotates_and_old_access_token_lives_on(sandbox):
    first = sign_in(sandbox)
    response = refresh(sandbox, first["refresh_token"])
    assert response.status_code == 200
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["scope"] == "profile source:w"
    assert works(sandbox, first["access_token"]) and works(sandbox, second["access_token"])
    assert refresh(sandbox, second["refresh_token"]).status_code == 200


def test_reusing_a_rotated_refresh_token_revokes_the_whole_sign_in(sandbox):
    first = sign_in(sandbox)
    second = refresh(sandbox, first["refresh_token"]).json()
    other = sign_in(sandbox)  # another sign-in of the same person stays
    assert_ilert_error(refresh(sandbox, first["refresh_token"]), 401, "invalid_grant")
    assert_ilert_error(refresh(sandbox, second["refresh_token"]), 401, "invalid_grant")
    assert not works(sandbox, first["access_token"])
    assert not works(sandbox, second["access_token"])
    assert works(sandbox, other["access_token"])
    assert refresh(sandbox, other["refresh_token"]).status_code == 200


def test_eleventh_sign_in_revokes_the_oldest(sandbox):
    sign_ins = [sign_in(sandbox) for _ in range(11)]
    assert_ilert_error(refresh(sandbox, sign_ins[0]["refresh_token"]), 401, "invalid_grant")
    assert not works(sandbox, sign_ins[0]["access_token"])
    assert refresh(sandbox, sign_ins[1]["refresh_token"]).status_code == 200
    # The limit is per person: another person's sign-in revokes none of Ada's.
    sign_in(sandbox, user="grace.hopper")
    assert works(sandbox, sign_ins[2]["access_token"])


def test_unknown_refresh_token_is_invalid_grant(sandbox):
    assert_ilert_error(refresh(sandbox, "sbx_rt_nope"), 401, "invalid_grant")


# --- token_info and revoke -------------------------------------------------------------


def post_form(sandbox, path, auth=None, **form):
    return requests.post(f"{sandbox.url}{path}", data=form, auth=auth, timeout=5)


def revoke(sandbox, **form):
    """POST to the revoke endpoint with the client's credentials in the body."""
    return post_form(sandbox, REVOKE, **CREDENTIALS, **form)


def test_token_info_describes_a_live_access_token(sandbox):
    tokens = sign_in(sandbox, user="grace.hopper")
    response = post_form(sandbox, TOKEN_INFO, token=tokens["access_token"])
    assert response.status_code == 200
    assert response.json() == {
        "active": True,
        "tenant_id": "sandbox",
        "username": "grace.hopper",
        "scope": "profile source:w",
        "app_id": 250,
    }


def test_access_tokens_are_jwts_whose_claims_are_what_token_info_reports(start_sandbox, clock):
    sandbox = start_sandbox(access_token_ttl=600)
    tokens = sign_in(sandbox, user="grace.hopper", scope="profile alert:w")
    header, payload, signature = tokens["access_token"].split(".")
    assert json.loads(base64.urlsafe_b64decode(header + "==")) == {"typ": "JWT", "alg": "HS256"}
    assert len(base64.urlsafe_b64decode(signature + "=")) == 32
    claims = decode_claims(tokens["access_token"])
    info = post_form(sandbox, TOKEN_INFO, token=tokens["access_token"]).json()
    assert (claims["il_u"], claims["il_s"], claims["il_a"], claims["il_n"]) == (
        info["username"], info["scope"], info["app_id"], info["tenant_id"],
    )  # fmt: skip
    assert (claims["iss"], claims["il_t"]) == ("ilert", "ACCESS")
    assert abs(claims["exp"] - (clock() + 600)) <= 2
    # The claims open nothing by themselves: a token with the same claims is unknown.
    forged = ".".join([header, payload, base64.urlsafe_b64encode(b"x" * 32).decode().rstrip("=")])
    assert not works(sandbox, forged)
    assert works(sandbox, tokens["access_token"])
    assert decode_claims(sign_in(sandbox)["access_token"])["jti"] != claims["jti"]


@pytest.mark.parametrize("which", ["refresh", "unknown", "missing", "revoked"])
def test_token_info_is_inactive_for_anything_but_a_live_access_token(sandbox, which):
    tokens = sign_in(sandbox)
    revoke(sandbox, token=tokens["access_token"])
    form = {
        "refresh": {"token": tokens["refresh_token"]},
        "unknown": {"token": "sbx_at_nope"},
        "missing": {},
        "revoked": {"token": tokens["access_token"]},
    }[which]
    response = post_form(sandbox, TOKEN_INFO, **form)
    assert response.status_code == 200
    assert response.json() == {"active": False}


def test_revoking_a_refresh_token_kills_its_sign_in(sandbox):
    first = sign_in(sandbox)
    second = refresh(sandbox, first["refresh_token"]).json()
    other = sign_in(sandbox)
    response = revoke(sandbox, token=second["refresh_token"], token_type_hint="refresh_token")
    assert response.status_code == 200 and response.json() == {}
    assert not works(sandbox, first["access_token"])
    assert not works(sandbox, second["access_token"])
    assert_ilert_error(refresh(sandbox, second["refresh_token"]), 401, "invalid_grant")
    assert works(sandbox, other["access_token"])


def test_revoking_an_access_token_kills_only_it(sandbox):
    first = sign_in(sandbox)
    second = refresh(sandbox, first["refresh_token"]).json()
    assert revoke(sandbox, token=first["access_token"]).status_code == 200
    assert not works(sandbox, first["access_token"])
    assert works(sandbox, second["access_token"])
    assert refresh(sandbox, second["refresh_token"]).status_code == 200


def test_revoking_an_unknown_token_is_fine(sandbox):
    response = revoke(sandbox, token="sbx_rt_never-issued", token_type_hint="refresh_token")
    assert response.status_code == 200
    assert response.json() == {}


def test_revoke_without_token_is_invalid_request(sandbox):
    assert_ilert_error(revoke(sandbox), 400, "invalid_request")


def test_revoke_with_an_unknown_token_type_hint_is_refused(sandbox):
    tokens = sign_in(sandbox)
    response = revoke(sandbox, token=tokens["refresh_token"], token_type_hint="id_token")
    assert_ilert_error(response, 400, "unsupported_token_type")
    assert refresh(sandbox, tokens["refresh_token"]).status_code == 200


def test_client_may_authenticate_a_revoke_with_http_basic(sandbox):
    tokens = sign_in(sandbox)
    response = post_form(
        sandbox, REVOKE, auth=(CLIENT_ID, CLIENT_SECRET), token=tokens["refresh_token"]
    )
    assert response.status_code == 200
    assert not works(sandbox, tokens["access_token"])


@pytest.mark.parametrize(
    ("auth", "credentials"),
    [
        (None, {}),
        (None, {"client_id": CLIENT_ID}),
        (None, {"client_id": CLIENT_ID, "client_secret": "wrong"}),
        (None, {"client_id": "someone-else", "client_secret": CLIENT_SECRET}),
        ((CLIENT_ID, "wrong"), {}),
        ((CLIENT_ID, CLIENT_SECRET), {"client_secret": CLIENT_SECRET}),  # two methods at once
    ],
)
@pytest.mark.parametrize("which", ["refresh_token", "access_token", "unknown"])
def test_revoke_without_client_authentication_is_invalid_client(sandbox, auth, credentials, which):
    tokens = sign_in(sandbox)
    token = tokens.get(which, "sbx_rt_never-issued")
    response = post_form(sandbox, REVOKE, auth=auth, token=token, **credentials)
    assert_ilert_error(response, 401, "invalid_client")
    assert response.headers["WWW-Authenticate"].startswith("Basic ")
    assert works(sandbox, tokens["access_token"])  # nothing was revoked
    assert refresh(sandbox, tokens["refresh_token"]).status_code == 200


def test_the_apps_revoke_authenticates_and_kills_the_sign_in(app, sandbox):
    """ilert.oauth.revoke, as logout calls it, against the sandbox that requires the client."""
    tokens = sign_in(sandbox)
    calls = []
    with (
        app.app_context(),
        ilert_oauth.ilert_called.connected_to(
            lambda sender, call, response=None: calls.append(call), app
        ),
    ):
        ilert_oauth.revoke(tokens["refresh_token"])
    (call,) = calls
    assert call["status"] == 200
    assert call["sent"] == {
        "token": tokens["refresh_token"],
        "token_type_hint": "refresh_token",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }
    assert sandbox.stats()["revoke"] == 1
    assert not works(sandbox, tokens["access_token"])
    assert_ilert_error(refresh(sandbox, tokens["refresh_token"]), 401, "invalid_grant")


# --- the API ---------------------------------------------------------------------------


def test_users_current_returns_the_person_in_ilerts_current_shape(sandbox):
    response = api(
        sandbox, "/api/users/current", sign_in(sandbox, user="lena.fischer")["access_token"]
    )
    assert response.status_code == 200
    person = response.json()
    assert person["id"] == 1003 and "username" not in person  # not in ilert's spec
    for field in ("firstName", "lastName", "email", "timezone", "language", "role"):
        assert isinstance(person[field], str) and person[field]
    for field in ("position", "department", "region", "avatarUrl", "shiftColor"):
        assert isinstance(person[field], str)
    assert person["email"].endswith("@example.com")
    assert (person["timezone"], person["language"]) == ("Europe/Berlin", "de")
    assert person["role"] == "STAKEHOLDER"


@pytest.mark.parametrize("user", ["ada.lovelace", "grace.hopper", "lena.fischer"])
def test_no_user_has_phone_numbers_or_a_language_ilert_does_not_know(sandbox, user):
    """Since ilert's 2023 user-preference migration, phones live under contacts; ilert-go
    knows the languages en and de, and the roles USER, ADMIN and STAKEHOLDER."""
    access_token = sign_in(sandbox, user=user, scope="profile user")["access_token"]
    current = api(sandbox, "/api/users/current", access_token).json()
    listed = api(sandbox, "/api/users", access_token).json()
    assert current in listed
    for person in listed:
        assert not {"mobile", "landline"} & set(person)
        assert person["language"] in ("en", "de")
        assert person["role"] in ("USER", "ADMIN", "STAKEHOLDER")


@pytest.mark.parametrize("scope", ["source:w", "offline_access", "user:d"])
def test_users_current_without_the_profile_scope_is_403(sandbox, scope):
    response = api(sandbox, "/api/users/current", sign_in(sandbox, scope=scope)["access_token"])
    assert_rest_error(response, 403, "FORBIDDEN")
    assert "profile" in response.json()["message"]


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic c2FuZGJveDpzZWNyZXQ=",
        "Bearer sbx_at_unknown",
        "refresh",
    ],
)
@pytest.mark.parametrize("path", API_PATHS)
def test_api_without_a_live_access_token_is_401(sandbox, path, authorization):
    if authorization == "refresh":
        authorization = "Bearer " + sign_in(sandbox)["refresh_token"]
    headers = {} if authorization is None else {"Authorization": authorization}
    response = requests.get(f"{sandbox.url}{path}", headers=headers, timeout=5)
    assert_rest_error(response, 401, "UNAUTHORIZED")


def test_expired_access_token_is_401_but_refreshes(start_sandbox, clock):
    sandbox = start_sandbox(access_token_ttl=1)
    tokens = sign_in(sandbox)
    assert tokens["expires_in"] == 1
    clock.advance(1.1)
    assert_rest_error(
        api(sandbox, "/api/users/current", tokens["access_token"]), 401, "UNAUTHORIZED"
    )
    assert post_form(sandbox, TOKEN_INFO, token=tokens["access_token"]).json() == {"active": False}
    assert works(sandbox, refresh(sandbox, tokens["refresh_token"]).json()["access_token"])


@pytest.mark.parametrize("access", ["", ":r", ":w", ":d"])
@pytest.mark.parametrize(("path", "resource", "stats_key"), LISTS)
def test_a_list_with_its_resource_scope_is_a_json_list(sandbox, path, resource, stats_key, access):
    response = api(sandbox, path, sign_in(sandbox, scope=resource + access)["access_token"])
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    entries = response.json()
    assert 1 <= len(entries) <= BY_NAME[stats_key].default_page
    assert all(isinstance(entry["id"], int) for entry in entries)
    assert len({entry["id"] for entry in entries}) == len(entries)
    assert sandbox.stats()[stats_key] == 1


@pytest.mark.parametrize(("path", "resource", "stats_key"), LISTS)
def test_a_list_without_its_resource_scope_is_403(sandbox, path, resource, stats_key):
    others = {other for _, other, _ in LISTS} - {resource}
    scope = " ".join(["profile", "offline_access", *(f"{other}:d" for other in sorted(others))])
    response = api(sandbox, path, sign_in(sandbox, scope=scope)["access_token"])
    assert_rest_error(response, 403, "FORBIDDEN")
    assert f"{resource}:r" in response.json()["message"]
    assert sandbox.stats()[stats_key] == 1


def test_alert_sources_in_ilerts_shape(sandbox):
    sources = api(sandbox, "/api/alert-sources", sign_in(sandbox)["access_token"]).json()
    statuses = {"PENDING", "ALL_ACCEPTED", "ALL_RESOLVED", "IN_MAINTENANCE", "DISABLED"}
    for source in sources:
        assert source["name"] and source["integrationType"]
        assert source["status"] in statuses and isinstance(source["active"], bool)
        assert source["alertPriorityRule"] in ("HIGH", "LOW")


@pytest.mark.parametrize(
    ("path", "field", "values"),
    [
        ("/api/alerts", "status", {"NEW", "PENDING", "ACCEPTED", "RESOLVED"}),
        ("/api/alerts", "priority", {"HIGH", "LOW"}),
        ("/api/incidents", "status", {"INVESTIGATING", "IDENTIFIED", "MONITORING", "RESOLVED"}),
        (
            "/api/services",
            "status",
            {"OPERATIONAL", "UNDER_MAINTENANCE", "DEGRADED", "PARTIAL_OUTAGE", "MAJOR_OUTAGE"},
        ),
        ("/api/schedules", "type", {"STATIC", "RECURRING"}),
        ("/api/teams", "visibility", {"PUBLIC", "PRIVATE"}),
        ("/api/status-pages", "visibility", {"PUBLIC", "PRIVATE"}),
    ],
)
def test_list_entries_use_ilerts_enums(sandbox, path, field, values):
    scope = " ".join(resource for _, resource, _ in LISTS)
    entries = api(sandbox, path, sign_in(sandbox, scope=scope)["access_token"]).json()
    assert {entry[field] for entry in entries} <= values


def paged(sandbox, path, **params):
    access_token = sign_in(sandbox, scope="alert")["access_token"]
    headers = {"Authorization": f"Bearer {access_token}"}
    return requests.get(f"{sandbox.url}{path}", params=params, headers=headers, timeout=5)


@pytest.mark.parametrize(
    ("params", "first", "last"),
    [
        ({}, 0, 14),
        ({"start-index": "1"}, 1, 14),
        ({"max-results": "2"}, 0, 2),
        ({"start-index": "1", "max-results": "2"}, 1, 3),
        ({"start-index": "13", "max-results": "100"}, 13, 14),
        ({"start-index": "14"}, 14, 14),
        ({"start-index": "999999999"}, 14, 14),
    ],
)
def test_lists_honour_start_index_and_max_results(sandbox, params, first, last):
    everything = paged(sandbox, "/api/alerts").json()
    assert len(everything) == 14
    response = paged(sandbox, "/api/alerts", **params)
    assert response.status_code == 200
    assert response.json() == everything[first:last]


@pytest.mark.parametrize(
    "params",
    [
        {"max-results": "101"},
        {"max-results": "0"},
        {"max-results": "-1"},
        {"max-results": ""},
        {"max-results": "ten"},
        {"start-index": "-1"},
        {"start-index": "1.5"},
        {"start-index": "+1"},
        {"start-index": "1" * 20},
    ],
)
def test_bad_paging_is_400_in_ilerts_shape(sandbox, params):
    assert_rest_error(paged(sandbox, "/api/alerts", **params), 400, "BAD_REQUEST")


def test_every_row_of_the_api_table_is_counted_and_can_be_faulted(sandbox):
    names = {endpoint.name for endpoint in API}
    assert set(sandbox.stats()) == names | {"token_other"}
    assert {name for *_, name in LISTS} | {"users_current"} <= names
    for name in names:
        assert sandbox.fault(endpoint=name, status=503) == {"endpoint": name, "queued": 1}


@pytest.mark.parametrize(("path", "resource", "stats_key"), LISTS)
def test_a_fault_on_a_list_answers_for_it_once(sandbox, path, resource, stats_key):
    access_token = sign_in(sandbox, scope=resource)["access_token"]
    sandbox.fault(endpoint=stats_key, status=429, body='{"code": "TOO_MANY_REQUESTS"}')
    assert api(sandbox, path, access_token).status_code == 429
    assert api(sandbox, path, access_token).status_code == 200
    assert sandbox.stats()[stats_key] == 2


@pytest.mark.parametrize(
    ("granted", "scope", "method", "allowed"),
    [
        ("source", "source", "GET", True),
        ("source:r", "source", "GET", True),
        ("source:r", "source", "POST", False),
        ("source:w", "source", "GET", True),
        ("source:w", "source", "PUT", True),
        ("source:w", "source", "DELETE", False),
        ("source:d", "source", "DELETE", True),
        ("source:d", "source", "GET", True),
        ("profile sources", "source", "GET", False),
        ("status_page:w", "status_page", "POST", True),
        ("alert:d incident", "incident", "POST", False),
        ("profile", "profile", "GET", True),
        ("user:d", "profile", "GET", False),
    ],
)
def test_ilerts_scope_rules(granted, scope, method, allowed):
    assert grants(granted, scope, method) is allowed


# --- test hooks ------------------------------------------------------------------------


def test_stats_count_every_call_failed_and_faulted_ones_too(sandbox):
    tokens = sign_in(sandbox)  # authorize POST, authorization_code
    requests.get(authorize_url(sandbox), timeout=5)
    requests.get(authorize_url(sandbox, client_id="nope"), timeout=5)
    token_request(sandbox, grant_type="authorization_code", code="sbx_code_nope")
    refresh(sandbox, tokens["refresh_token"])
    sandbox.fault(endpoint="refresh_token", status=503)
    refresh(sandbox, tokens["refresh_token"])
    token_request(sandbox, grant_type="password")
    post_form(sandbox, TOKEN_INFO, token="x")
    post_form(sandbox, REVOKE, token="x")  # refused: no client credentials
    api(sandbox, "/api/users/current", "nope")
    api(sandbox, "/api/alert-sources", tokens["access_token"])
    api(sandbox, "/api/alerts", tokens["access_token"])  # refused: no alert scope
    stats = sandbox.stats()
    assert stats["token"] == {"authorization_code": 2, "refresh_token": 2}
    assert (stats["token_other"], stats["token_info"], stats["revoke"]) == (1, 1, 1)
    assert (stats["users_current"], stats["alert_sources"], stats["alerts"]) == (1, 1, 1)
    assert (stats["authorize"], stats["incidents"]) == (3, 0)


def test_fault_answers_status_and_body_without_touching_state(sandbox):
    code = get_code(sandbox)
    assert sandbox.fault(endpoint="token", status=500, body='{"code": "server_error"}') == {
        "endpoint": "token",
        "queued": 1,
    }
    response = token_request(sandbox, grant_type="authorization_code", code=code)
    assert response.status_code == 500
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"code": "server_error"}
    tokens = token_request(sandbox, grant_type="authorization_code", code=code).json()  # unused

    sandbox.fault(endpoint="refresh_token", status=502, body="<h1>Bad gateway</h1>")
    response = refresh(sandbox, tokens["refresh_token"])
    assert response.status_code == 502
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.text == "<h1>Bad gateway</h1>"
    assert refresh(sandbox, tokens["refresh_token"]).status_code == 200  # did not rotate


def test_grant_fault_leaves_the_other_grant_alone(sandbox):
    sandbox.fault(endpoint="refresh_token", status=500)
    assert sign_in(sandbox)["access_token"]  # authorization_code passes
    assert sandbox.fault(endpoint="refresh_token", status=500)["queued"] == 2


def test_faults_queue_in_order_and_count_down(sandbox):
    sandbox.fault(endpoint="users_current", status=503, count=2)
    sandbox.fault(endpoint="users_current", status=429)
    access_token = sign_in(sandbox)["access_token"]
    statuses = [api(sandbox, "/api/users/current", access_token).status_code for _ in range(4)]
    assert statuses == [503, 503, 429, 200]


def test_delay_fault_waits_then_answers_normally(sandbox):
    sandbox.fault(endpoint="token_info", delay=0.3)
    started = time.monotonic()
    response = post_form(sandbox, TOKEN_INFO, token="x")
    assert time.monotonic() - started >= 0.3
    assert response.json() == {"active": False}


def test_drop_fault_closes_the_connection_without_answer(sandbox, caplog, capfd):
    access_token = sign_in(sandbox)["access_token"]
    sandbox.fault(endpoint="users_current", drop=True)
    with pytest.raises(requests.ConnectionError):
        api(sandbox, "/api/users/current", access_token)
    assert works(sandbox, access_token)
    assert sandbox.stats()["users_current"] == 2
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert capfd.readouterr().err == ""  # quietly, for werkzeug too


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"status": 500},
        {"endpoint": "nowhere", "status": 500},
        {"endpoint": "token", "status": "500"},
        {"endpoint": "token", "status": 99},
        {"endpoint": "token", "status": 500, "count": 0},
        {"endpoint": "token", "status": 500, "count": True},
        {"endpoint": "token", "delay": -1},
        {"endpoint": "token", "drop": "yes"},
        {"endpoint": "token", "drop": True, "status": 500},
        {"endpoint": "token", "body": "x"},
        {"endpoint": "token"},
        {"endpoint": "token", "status": 500, "colour": "red"},
    ],
)
def test_bad_fault_is_400(sandbox, body):
    response = requests.post(f"{sandbox.url}/_sandbox/faults", json=body, timeout=5)
    assert response.status_code == 400
    assert response.json()["error"]


def test_reset_clears_stats_and_faults_but_keeps_tokens(sandbox):
    access_token = sign_in(sandbox)["access_token"]
    sandbox.fault(endpoint="users_current", status=500)
    response = requests.post(f"{sandbox.url}/_sandbox/reset", timeout=5)
    assert response.status_code == 200
    assert works(sandbox, access_token)
    assert sandbox.stats()["users_current"] == 1
    assert sandbox.stats()["token"] == {"authorization_code": 0, "refresh_token": 0}


# --- state file ------------------------------------------------------------------------


def test_state_file_keeps_sign_ins_across_a_restart(start_sandbox, tmp_path):
    state_file = tmp_path / "instance" / "sandbox.json"
    before = start_sandbox(state_file=str(state_file))
    tokens = sign_in(before)
    code = get_code(before)
    before.stop()
    assert stat.S_IMODE(os.stat(state_file).st_mode) == 0o600
    assert "sbx_" not in state_file.read_text()  # digests only
    assert [path.name for path in state_file.parent.iterdir()] == ["sandbox.json"]

    after = start_sandbox(state_file=str(state_file))
    assert works(after, tokens["access_token"])
    assert refresh(after, tokens["refresh_token"]).status_code == 200
    assert token_request(after, grant_type="authorization_code", code=code).status_code == 200


def test_broken_state_file_starts_empty(start_sandbox, tmp_path, caplog):
    state_file = tmp_path / "sandbox.json"
    state_file.write_text('{"codes": []')
    sandbox = start_sandbox(state_file=str(state_file))
    assert "unreadable" in caplog.text
    assert sign_in(sandbox)["access_token"]
    assert json.loads(state_file.read_text())["tokens"]["chains"]


# --- python -m sandbox -----------------------------------------------------------------


def run_cli(*args, **popen_kwargs):
    return subprocess.Popen(
        [sys.executable, "-m", "sandbox", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen_kwargs,
    )


@pytest.mark.slow
def test_cli_on_a_busy_port_says_so_in_one_line():
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        with run_cli("--host", "127.0.0.1", "--port", str(port)) as process:
            stdout, stderr = process.communicate(timeout=10)
    assert process.returncode == 1
    assert stdout == ""
    assert stderr.startswith(f"port {port} is busy: ")
    assert stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("LOCALHOST", True),
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.1", False),
        ("localhost.example.com", False),
    ],
)
def test_the_sandbox_binds_to_loopback_only(host, loopback):
    assert is_loopback(host) is loopback
    if not loopback:
        with pytest.raises(ValueError, match="loopback only"):
            bind(create_app(), host, 0)


@pytest.mark.slow
@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "sandbox.example.com"])
def test_cli_refuses_a_host_beyond_loopback_in_one_line(host):
    with run_cli("--host", host, "--port", "0") as process:
        stdout, stderr = process.communicate(timeout=10)
    assert process.returncode == 3
    assert stdout == ""
    assert stderr.startswith(f"refusing --host {host}: ")
    assert "test hooks" in stderr and "client secret is public" in stderr
    assert "loopback only" in stderr
    assert stderr.count("\n") == 1


def ctrl_c_stops():
    """Ctrl-C's default action in the child, as from a terminal: a run started as a shell's
    background job ignores SIGINT, and so would everything it starts."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.slow
def test_cli_serves_prints_how_to_point_the_app_at_it_and_stops_on_ctrl_c():
    with socket.socket() as probe:  # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    uri = "http://localhost:5000/callback"
    args = ("--port", str(port), "--redirect-uri", uri, "--redirect-uri", DEFAULT_REDIRECT_URI)
    with run_cli(*args, preexec_fn=ctrl_c_stops) as process:
        try:
            lines = [process.stdout.readline() for _ in range(5)]
            assert f"http://127.0.0.1:{port}" in lines[0]
            assert CLIENT_ID in lines[1] and CLIENT_SECRET in lines[1]
            assert uri in lines[2] and DEFAULT_REDIRECT_URI in lines[2]
            assert lines[3] == (
                f"ILERT_CLIENT_ID={CLIENT_ID} ILERT_CLIENT_SECRET={CLIENT_SECRET} "
                f"ILERT_AUTH_URL=http://localhost:{port} ILERT_API_URL=http://localhost:{port}\n"
            )
            assert lines[4].startswith("rate limit: 700/min API calls per client address")
            cli = SimpleNamespace(url=f"http://127.0.0.1:{port}")
            assert consent(cli, redirect_uri=uri).status_code == 302
            limit = requests.get(f"{cli.url}/_sandbox/rate-limit", timeout=5).json()
            assert limit == {"rate_limit": "700/min"}  # ilert's, by default
            process.send_signal(signal.SIGINT)
            stdout, stderr = process.communicate(timeout=10)
        finally:
            process.kill()
    assert process.returncode == 0
    assert (stdout, stderr) == ("", "")


def test_fault_on_token_other_hits_only_unknown_grant_types(sandbox):
    sandbox.fault(endpoint="token_other", status=503, body='{"code": "busy"}')
    form = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    refresh = post_form(sandbox, TOKEN, grant_type="refresh_token", refresh_token="x", **form)
    assert refresh.status_code == 401
    other = post_form(sandbox, TOKEN, grant_type="password", **form)
    assert other.status_code == 503
    assert other.headers["Retry-After"] == "2"
    assert sandbox.stats()["token_other"] == 1
