"""Granting a scope on demand: a person signed in without a page's scope allows it from the
page, at ilert's consent, and comes back to the page in the same session under a new id, with
new tokens (the old refresh token revoked); denying, or allowing as someone else, changes
nothing.

The page and action are taken from the registry (the first action that a `profile`-only sign-in
may not do, and the page it returns to), and the scope and `next` from the grant form that page
offers: a fork that removes or renames the examples keeps these tests."""

import html
import threading
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import LANDING
from test_pages import forms_of, grant_offered, url_of

from ilert.oauth import REVOKE_PATH
from ilert.scopes import RESOURCES, describe_scope, includes
from tests.tools import hold_next_call
from views.registry import ACTIONS, declared_scopes

# The actions a `profile`-only sign-in may not do: each is a step-up.
STEP_UPS = [action for action in ACTIONS if not includes("profile", action.scope)]
STEP_UP = STEP_UPS[0]


@pytest.fixture
def profile_only(make_app, auth_for):
    """A client signed in with the scope `profile` only, and its SignIn."""
    client = make_app(ILERT_SCOPES="profile").test_client()
    signing = auth_for(client)
    signing.sign_in()
    return client, signing


def offered(client, action=STEP_UP):
    """The path of the page `action` returns to, and the scope and `next` that the Allow form
    of that page (a grant page, for a `profile`-only sign-in) posts to /grant."""
    path = url_of(client.application, action.back)
    answer = client.get(path)
    assert answer.status_code == 403
    grant = grant_offered(answer)
    assert grant is not None, f"{path} offers no grant form"
    return path, grant


def test_allowing_from_a_page_asks_for_what_the_person_has_plus_the_page_scope(profile_only):
    client, signing = profile_only
    _, (scope, next_path) = offered(client)
    started = client.post(
        "/grant", data={"scope": scope, "next": next_path, "csrf_token": signing.csrf_token()}
    )
    assert started.status_code == 303
    query = parse_qs(urlsplit(started.headers["Location"]).query)
    assert query["scope"] == [f"profile {scope}"]
    assert query["code_challenge_method"] == ["S256"]


def test_allowing_renews_the_session_id_replaces_the_tokens_and_revokes_the_old(
    profile_only, sandbox
):
    client, signing = profile_only
    path, (scope, next_path) = offered(client)
    sid, old = signing.session_id(), signing.tokens()
    copied = client.application.test_client()  # a copy of the cookie, taken before the grant
    copied.set_cookie(client.session_cookie, sid)
    assert copied.get("/me").status_code == 200
    answer = signing.grant(scope, next_path)
    assert answer.status_code == 302
    assert answer.headers["Location"] == next_path == path
    page = client.get(path)
    assert page.status_code == 200
    assert f"Allowed: {describe_scope(scope)}." in page.get_data(as_text=True)
    assert "Allowed:" not in client.get(path).get_data(as_text=True)  # once
    assert signing.session_id() != sid
    store = client.application.extensions["store"]
    assert store.get("tokens", sid) is None
    assert copied.get(path).status_code == 302  # signed out: to sign-in
    new = signing.tokens()
    assert new["scope"] == f"profile {scope}"
    assert new["refresh_token"] != old["refresh_token"]
    assert sandbox.state.tokens.access_token(old["access_token"]) is None  # revoked with it
    stats = sandbox.stats()
    assert stats["token"]["authorization_code"] == 2  # one sign-in, one extra consent
    assert stats["revoke"] == 1
    assert client.get("/me").status_code == 200


def test_a_request_with_the_old_cookie_while_the_old_token_is_revoked_ends_nothing(
    profile_only, sandbox
):
    """Another tab of the same browser, still with the old cookie: it finds no session (and
    sets no cookie) rather than a session without tokens, which it would end, with a cookie
    of its own that could land after the grant's and sign the person out."""
    client, signing = profile_only
    _, (scope, next_path) = offered(client)
    other_tab = client.application.test_client()
    other_tab.set_cookie(client.session_cookie, signing.session_id())
    reached, release = hold_next_call(sandbox.app, REVOKE_PATH)
    granted = []
    grant = threading.Thread(target=lambda: granted.append(signing.grant(scope, next_path)))
    grant.start()
    try:
        assert reached.wait(10), "the old refresh token was never revoked"
        during = other_tab.get("/me")
    finally:
        release.set()
        grant.join()
    assert during.status_code == 302
    assert during.headers.getlist("Set-Cookie") == []
    assert granted[0].status_code == 302
    assert client.get("/me").status_code == 200


def test_a_request_in_flight_across_the_grant_ends_nothing_and_sets_no_cookie(
    profile_only, sandbox
):
    """It opened the old session before the grant moved it, and reaches ilert with the old
    tokens after they were revoked: its session is gone, and the grant's cookie stands."""
    client, signing = profile_only
    _, (scope, next_path) = offered(client)
    other_tab = client.application.test_client()
    other_tab.set_cookie(client.session_cookie, signing.session_id())
    reached, release = hold_next_call(sandbox.app, "/api/users/current")
    answers = []
    in_flight = threading.Thread(target=lambda: answers.append(other_tab.get("/me")))
    in_flight.start()
    try:
        assert reached.wait(10), "the other tab's call never reached ilert"
        granted = signing.grant(scope, next_path)
    finally:
        release.set()
        in_flight.join()
    assert granted.status_code == 302
    (during,) = answers
    assert during.status_code == 302
    assert during.headers.getlist("Set-Cookie") == []
    assert client.get("/me").status_code == 200


def test_a_request_renewing_the_old_session_across_the_grant_sets_no_cookie(
    make_app, auth_for, sandbox, clock
):
    """It opened the old session when its renewal was due, and answers (with the old tokens,
    not yet revoked) after the grant moved the session: it must not set the old id again."""
    client = make_app(ILERT_SCOPES="profile", SESSION_LIFETIME="1h").test_client()
    signing = auth_for(client)
    signing.sign_in()
    _, (scope, next_path) = offered(client)
    clock.advance(7 * 60)  # past a tenth of the idle lifetime: the next request renews
    other_tab = client.application.test_client()
    other_tab.set_cookie(client.session_cookie, signing.session_id())
    in_ilert, release_other_tab = hold_next_call(sandbox.app, "/api/users/current")
    revoking, release_revoke = hold_next_call(sandbox.app, REVOKE_PATH)
    answers, granted = [], []
    other = threading.Thread(target=lambda: answers.append(other_tab.get("/me")))
    grant = threading.Thread(target=lambda: granted.append(signing.grant(scope, next_path)))
    other.start()
    try:
        assert in_ilert.wait(10), "the other tab's call never reached ilert"
        grant.start()
        assert revoking.wait(10), "the grant never revoked the old refresh token"
        release_other_tab.set()
        other.join()
    finally:
        release_other_tab.set()
        release_revoke.set()
        other.join()
        if grant.ident is not None:  # started
            grant.join()
    (during,) = answers
    assert during.status_code == 200  # the old tokens, not yet revoked
    assert during.headers.getlist("Set-Cookie") == []
    assert granted[0].status_code == 302
    assert client.get("/me").status_code == 200


def test_denying_at_ilert_keeps_the_session_as_it_was(profile_only, sandbox):
    client, signing = profile_only
    path, (scope, next_path) = offered(client)
    sid, old = signing.session_id(), signing.tokens()
    answer = signing.grant(scope, next_path, decision="deny")
    assert answer.status_code == 302
    assert answer.headers["Location"] == path
    page = client.get(path)
    assert page.status_code == 403  # still offered, since it is still missing
    assert "You did not allow the extra access at ilert" in page.get_data(as_text=True)
    assert (signing.session_id(), signing.tokens()) == (sid, old)
    assert client.get("/me").status_code == 200
    assert sandbox.stats()["revoke"] == 0


def test_allowing_as_another_person_changes_nothing_and_revokes_the_new_tokens(
    profile_only, sandbox
):
    client, signing = profile_only
    _, (scope, next_path) = offered(client)
    old = signing.tokens()
    answer = signing.grant(scope, next_path, user="grace.hopper")
    assert answer.status_code == 403
    assert "another ilert person" in answer.get_data(as_text=True)
    assert signing.tokens() == old
    assert sandbox.stats()["revoke"] == 1  # the tokens issued to grace.hopper
    assert client.get("/me").status_code == 200


UNDECLARED = [f"{resource}:d" for resource in RESOURCES if f"{resource}:d" not in declared_scopes()]


@pytest.mark.parametrize("scope", [*UNDECLARED[:2], "offline_access", "", "profile x"])
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
    _, (scope, next_path) = offered(client)
    form = {"scope": scope, "next": next_path}
    if token:
        form["csrf_token"] = token
    answer = client.post("/grant", data=form)
    assert answer.status_code == 400
    assert "Location" not in answer.headers


def test_grant_signed_out_sends_to_sign_in_and_get_is_405(client):
    scope, path = STEP_UP.scope, url_of(client.application, STEP_UP.back)
    answer = client.post("/grant", data={"scope": scope, "next": path})
    assert answer.status_code == 303
    assert urlsplit(answer.headers["Location"]).path == "/login"
    assert client.get("/grant").status_code == 405


@pytest.mark.parametrize("next_path", ["https://evil.example/", "//evil.example", "/\\evil"])
def test_grant_comes_back_only_to_a_local_path(profile_only, next_path):
    client, signing = profile_only
    _, (scope, _) = offered(client)
    answer = signing.grant(scope, next_path)
    assert answer.status_code == 302
    assert answer.headers["Location"] == LANDING


def test_pages_let_forms_go_on_to_ilerts_sign_in_and_nowhere_else(client, sandbox):
    """POST /grant answers with a redirect to ilert's authorize page, which browsers check
    against the page's form-action: it names this app and ILERT_AUTH_URL only."""
    policy = client.get("/").headers["Content-Security-Policy"]
    (form_action,) = [part.strip() for part in policy.split(";") if "form-action" in part]
    assert form_action == f"form-action 'self' {sandbox.url}"


def posted(client, action, path):
    """Post `action`'s first button on the page at `path`, as the page offers it."""
    forms = forms_of(client, action.endpoint, path)
    assert forms, f"{path} offers no {action.endpoint} button"
    url, fields = forms[0]
    return client.post(url, data={name: html.unescape(v) for name, v in fields.items()}), forms[0]


@pytest.mark.parametrize("action", STEP_UPS, ids=lambda action: action.endpoint)
def test_step_up_from_profile_only_to_an_action(profile_only, sandbox, action):
    client, signing = profile_only
    sid, old = signing.session_id(), signing.tokens()
    path, (scope, next_path) = offered(client, action)
    assert signing.grant(scope, next_path).headers["Location"] == path
    answer, form = posted(client, action, path)
    assert answer.status_code == 303, answer.get_data(as_text=True)[:500]
    assert answer.headers["Location"] == path
    page = client.get(path).get_data(as_text=True)
    assert page.count('<p class="flash flash-info" role="status">') == 1  # what was done
    assert form not in forms_of(client, action.endpoint, path)  # done: not offered again
    stats = sandbox.stats()
    assert stats["token"]["authorization_code"] == 2  # one extra consent
    assert stats["revoke"] == 1
    assert sandbox.state.tokens.access_token(old["access_token"]) is None
    assert signing.session_id() != sid


@pytest.mark.parametrize("action", STEP_UPS, ids=lambda action: action.endpoint)
def test_denying_the_step_up_keeps_the_first_session_working(profile_only, sandbox, action):
    client, signing = profile_only
    old = signing.tokens()
    path, (scope, next_path) = offered(client, action)
    signing.grant(scope, next_path, decision="deny")
    assert client.get("/me").status_code == 200
    before = sandbox.stats()
    answer = client.post(
        url_of(client.application, action.endpoint), data={"csrf_token": signing.csrf_token()}
    )
    assert answer.status_code == 403  # the grant page, offered again
    assert grant_offered(answer) == (scope, next_path)
    assert sandbox.stats() == before  # nothing sent to ilert
    assert signing.tokens() == old
