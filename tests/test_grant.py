"""Granting a scope on demand: a person signed in without a page's scope allows it from the
page, at ilert's consent, and comes back to the page in the same session, with new tokens
(the old refresh token revoked); denying, or allowing as someone else, changes nothing."""

from urllib.parse import parse_qs, urlsplit

import pytest

from views.registry import declared_scopes


@pytest.fixture
def profile_only(make_app, auth_for):
    """A client signed in with the scope `profile` only, and its SignIn."""
    client = make_app(ILERT_SCOPES="profile").test_client()
    signing = auth_for(client)
    signing.sign_in()
    return client, signing


def test_allowing_from_a_page_asks_for_what_the_person_has_plus_the_page_scope(profile_only):
    client, signing = profile_only
    started = client.post(
        "/grant", data={"scope": "alert:w", "next": "/alerts", "csrf_token": signing.csrf_token()}
    )
    assert started.status_code == 303
    query = parse_qs(urlsplit(started.headers["Location"]).query)
    assert query["scope"] == ["profile alert:w"]
    assert query["code_challenge_method"] == ["S256"]


def test_allowing_keeps_the_session_replaces_the_tokens_and_revokes_the_old(profile_only, sandbox):
    client, signing = profile_only
    assert client.get("/alerts").status_code == 403
    sid, old = signing.session_id(), signing.tokens()
    answer = signing.grant("alert:w", "/alerts")
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/alerts"
    alerts = client.get("/alerts")
    assert alerts.status_code == 200
    assert "Allowed: See and change your alerts." in alerts.get_data(as_text=True)
    assert "Allowed:" not in client.get("/alerts").get_data(as_text=True)  # once
    assert signing.session_id() == sid  # no second session
    new = signing.tokens()
    assert new["scope"] == "profile alert:w"
    assert new["refresh_token"] != old["refresh_token"]
    assert sandbox.state.tokens.access_token(old["access_token"]) is None  # revoked with it
    stats = sandbox.stats()
    assert stats["token"]["authorization_code"] == 2  # one sign-in, one extra consent
    assert stats["revoke"] == 1
    assert client.get("/me").status_code == 200


def test_denying_at_ilert_keeps_the_session_as_it_was(profile_only, sandbox):
    client, signing = profile_only
    sid, old = signing.session_id(), signing.tokens()
    answer = signing.grant("alert:w", "/alerts", decision="deny")
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/alerts"
    page = client.get("/alerts")
    assert page.status_code == 403  # still offered, since it is still missing
    assert "You did not allow the extra access at ilert" in page.get_data(as_text=True)
    assert (signing.session_id(), signing.tokens()) == (sid, old)
    assert client.get("/me").status_code == 200
    assert sandbox.stats()["revoke"] == 0


def test_allowing_as_another_person_changes_nothing_and_revokes_the_new_tokens(
    profile_only, sandbox
):
    client, signing = profile_only
    old = signing.tokens()
    answer = signing.grant("alert:w", "/alerts", user="grace.hopper")
    assert answer.status_code == 403
    assert "another ilert person" in answer.get_data(as_text=True)
    assert signing.tokens() == old
    assert sandbox.stats()["revoke"] == 1  # the tokens issued to grace.hopper
    assert client.get("/me").status_code == 200


@pytest.mark.parametrize("scope", ["incident:w", "alert:d", "offline_access", "", "profile x"])
def test_a_scope_no_page_or_action_declares_is_never_asked_for(profile_only, sandbox, scope):
    assert scope not in declared_scopes()
    client, signing = profile_only
    before = sandbox.stats()
    answer = client.post(
        "/grant", data={"scope": scope, "next": "/me", "csrf_token": signing.csrf_token()}
    )
    assert answer.status_code == 400
    assert "Location" not in answer.headers
    assert sandbox.stats() == before


@pytest.mark.parametrize("token", [None, "forged"])
def test_grant_without_this_sessions_csrf_token_is_400(profile_only, token):
    client, _ = profile_only
    form = {"scope": "alert:w", "next": "/alerts"}
    if token:
        form["csrf_token"] = token
    answer = client.post("/grant", data=form)
    assert answer.status_code == 400
    assert "Location" not in answer.headers


def test_grant_signed_out_sends_to_sign_in_and_get_is_405(client):
    answer = client.post("/grant", data={"scope": "alert:w", "next": "/alerts"})
    assert answer.status_code == 303
    assert urlsplit(answer.headers["Location"]).path == "/login"
    assert client.get("/grant").status_code == 405


@pytest.mark.parametrize("next_path", ["https://evil.example/", "//evil.example", "/\\evil"])
def test_grant_comes_back_only_to_a_local_path(profile_only, next_path):
    client, signing = profile_only
    answer = signing.grant("alert:w", next_path)
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/me"


def test_pages_let_forms_go_on_to_ilerts_sign_in_and_nowhere_else(client, sandbox):
    """POST /grant answers with a redirect to ilert's authorize page, which browsers check
    against the page's form-action: it names this app and ILERT_AUTH_URL only."""
    policy = client.get("/").headers["Content-Security-Policy"]
    (form_action,) = [part.strip() for part in policy.split(";") if "form-action" in part]
    assert form_action == f"form-action 'self' {sandbox.url}"
