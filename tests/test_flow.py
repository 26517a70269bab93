"""The sign-in flow end to end: the app talks to the sandbox over real HTTP."""

import json
import shutil
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from conftest import EVERY_SCOPE, LANDING, path_of

from config import CALLBACK_PATH, DEFAULT_SCOPES, SIGN_IN_COOKIE_PREFIX
from ilert import oauth
from sandbox import CLIENT_ID, CLIENT_SECRET, DEFAULT_REDIRECT_URI
from tests.test_pages import allow_button
from views.registry import scope_to_ask


def test_home_offers_sign_in_when_signed_out(client):
    response = client.get("/")
    assert response.status_code == 200
    assert b"Sign in with ilert" in response.data
    assert "Set-Cookie" not in response.headers


def test_layout_links_follow_the_path_the_app_is_mounted_under(client, auth):
    auth.sign_in()
    for mount in ("/ilert", "", "/other/prefix", "/ilert"):
        page = client.get("/me", base_url=f"{client.origin}{mount}").get_data(as_text=True)
        for path in (
            "/static/style.css",
            "/static/favicon.svg",
            "/",
            "/me",
            path_of("pages.token_info"),
        ):
            assert f'href="{mount}{path}"' in page
        assert f'action="{mount}/logout"' in page


def test_login_redirects_to_ilert_with_state_and_pkce(client, sandbox):
    response = client.get("/login")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}" == sandbox.url
    assert location.path == "/api/developers/oauth2/authorize"
    query = parse_qs(location.query)
    assert query["client_id"] == ["sandbox-client-id"]
    assert query["response_type"] == ["code"]
    assert query["redirect_uri"] == [DEFAULT_REDIRECT_URI]
    assert query["scope"] == [DEFAULT_SCOPES]
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["state"][0]) >= 32
    assert len(query["code_challenge"][0]) == 43
    assert "client_secret" not in query and "code_verifier" not in query


def test_login_without_pkce_sends_no_challenge(make_app, sandbox):
    client = make_app(ILERT_USE_PKCE="false").test_client()
    query = parse_qs(urlsplit(client.get("/login").headers["Location"]).query)
    assert "code_challenge" not in query and "code_challenge_method" not in query


def test_login_starts_at_the_tenant(make_app):
    client = make_app(ILERT_TENANT="acme", ILERT_AUTH_URL="").test_client()
    location = client.get("/login").headers["Location"]
    assert location.startswith("https://acme.ilert.com/api/developers/oauth2/authorize?")


def test_login_moves_to_the_redirect_uris_host_first(client):
    elsewhere = client.origin.replace("localhost", "127.0.0.1")
    response = client.get("/login?next=/me", base_url=elsewhere)
    assert response.status_code == 302
    assert response.headers["Location"] == f"{client.origin}/login?next=/me"


def test_allow_signs_in_and_shows_the_profile(client, auth, sandbox):
    response = auth.sign_in()
    assert response.status_code == 302
    assert response.headers["Location"] == LANDING
    profile = client.get("/me")
    assert profile.status_code == 200
    assert b"Ada Lovelace" in profile.data
    assert b"ada.lovelace@example.com" in profile.data
    home = client.get("/")
    assert b"Welcome, Ada Lovelace" in home.data
    stats = sandbox.stats()
    assert stats["token"]["authorization_code"] == 1
    assert stats["users_current"] == 2  # once at sign-in for the name, once for /me


def test_sign_in_as_another_sandbox_person(client, auth):
    auth.sign_in(user="grace.hopper")
    assert b"Grace Hopper" in client.get("/me").data


def test_login_starts_no_session(client, app):
    client.get("/login")
    assert client.get_cookie(app.config["SESSION_COOKIE_NAME"]) is None


def test_sign_in_gives_the_session_a_new_id(client, auth):
    auth.sign_in()
    before = auth.session_id()
    auth.sign_in()
    after = auth.session_id()
    assert None not in (before, after)
    assert before != after


def test_sign_in_returns_to_next(client, auth):
    response = auth.sign_in(next=f"{path_of('pages.alert_sources')}?page=2")
    assert response.headers["Location"] == f"{path_of('pages.alert_sources')}?page=2"


@pytest.mark.parametrize(
    "next_value",
    [
        "//evil.example",
        "https://evil.example",
        "/\\evil.example",
        "javascript:alert(1)",
        "/%2F/evil.example",
        "/%5Cevil.example",
        "%2F%2Fevil.example",
        "/ok\x00",
    ],
)
def test_sign_in_ignores_next_that_leaves_the_site(client, auth, next_value):
    response = auth.sign_in(next=next_value)
    assert response.headers["Location"] == LANDING


def test_deny_gives_a_page_offering_to_try_again(client, auth, sandbox):
    response = auth.sign_in(decision="deny")
    assert response.status_code == 403
    assert b"Access was denied" in response.data
    assert b'href="/login"' in response.data
    assert sandbox.stats()["token"]["authorization_code"] == 0
    assert client.get("/me").status_code == 302


def test_callback_without_state_is_refused(client, auth, sandbox):
    callback = auth.consent(auth.start())
    response = client.get(callback.replace("state=", "nostate="))
    assert response.status_code == 400
    assert sandbox.stats()["token"]["authorization_code"] == 0


def test_callback_with_a_wrong_state_is_refused(client, auth, sandbox):
    callback = auth.consent(auth.start())
    query = parse_qs(urlsplit(callback).query)
    response = client.get(CALLBACK_PATH, query_string={"code": query["code"][0], "state": "x" * 43})
    assert response.status_code == 400
    assert b"This sign-in link is not valid" in response.data
    assert sandbox.stats()["token"]["authorization_code"] == 0


def test_callback_with_a_replayed_state_is_refused(client, auth, sandbox):
    callback = auth.consent(auth.start())
    assert client.get(callback).status_code == 302
    replay = client.get(callback)
    assert replay.status_code == 400
    assert sandbox.stats()["token"]["authorization_code"] == 1


def test_callback_with_a_state_from_another_session_is_refused(app, auth, sandbox):
    callback = auth.consent(auth.start())
    other_browser = app.test_client()
    response = other_browser.get(callback)
    assert response.status_code == 400
    assert sandbox.stats()["token"]["authorization_code"] == 0


def test_callback_with_a_state_older_than_ten_minutes_is_refused(client, auth, sandbox, clock):
    callback = auth.consent(auth.start())
    clock.advance(601)
    response = client.get(callback)
    assert response.status_code == 400
    assert sandbox.stats()["token"]["authorization_code"] == 0


def test_two_tabs_can_sign_in_in_either_order(client, auth):
    first = auth.consent(auth.start(next=path_of("pages.token_info")))
    second = auth.consent(auth.start(next=path_of("pages.alert_sources")))
    assert client.get(second).headers["Location"] == path_of("pages.alert_sources")
    assert client.get(first).headers["Location"] == path_of("pages.token_info")


def test_unknown_code_explains_that_codes_live_two_minutes(client, auth, sandbox):
    callback = auth.consent(auth.start())
    query = parse_qs(urlsplit(callback).query)
    response = client.get(
        CALLBACK_PATH, query_string={"code": "sbx_code_unknown", "state": query["state"][0]}
    )
    assert response.status_code == 400
    assert b"live 2 minutes and work once" in response.data
    assert sandbox.stats()["token"]["authorization_code"] == 1


def test_me_as_json(client, auth):
    auth.sign_in()
    response = client.get("/me", headers={"Accept": "application/json"})
    assert response.status_code == 200
    user = response.get_json()
    assert (user["id"], user["email"]) == (1001, "ada.lovelace@example.com")


def test_token_info_shows_scopes_and_expiry_but_never_the_token(client, auth, app):
    auth.sign_in()
    response = client.get(path_of("pages.token_info"))
    assert response.status_code == 200
    for scope in DEFAULT_SCOPES.split():
        assert f'<span class="badge">{scope}</span>'.encode() in response.data
    assert b"UTC</time>" in response.data
    tokens = auth.tokens()
    assert tokens["access_token"].encode() not in response.data
    info = client.get(
        path_of("pages.token_info"), headers={"Accept": "application/json"}
    ).get_json()
    assert info["active"] is True
    assert info["username"] == "ada.lovelace"
    assert info["scope"] == DEFAULT_SCOPES


def test_alert_sources_are_listed(make_app, auth_for, sandbox):
    client = make_app(ILERT_SCOPES=EVERY_SCOPE).test_client()
    auth_for(client).sign_in()
    response = client.get(path_of("pages.alert_sources"))
    assert response.status_code == 200
    assert b"<table>" in response.data
    sources = client.get(
        path_of("pages.alert_sources"), headers={"Accept": "application/json"}
    ).get_json()
    assert sources and {"id", "name", "integrationType", "status"} <= set(sources[0])
    assert sandbox.stats()["alert_sources"] == 2


def test_alert_sources_without_the_scope_offer_to_allow_it_in_words(make_app, auth_for):
    app = make_app(ILERT_SCOPES="profile")
    client = app.test_client()
    auth_for(client).sign_in()
    response = client.get(path_of("pages.alert_sources"))
    assert response.status_code == 403
    page = response.get_data(as_text=True)
    asked = scope_to_ask("pages.alert_sources", "source:r")
    assert f"the ilert scope <code>{asked}</code>" in page
    assert f"{allow_button('pages.alert_sources', 'source:r')}</button>" in page
    assert client.get("/me").status_code == 200


def test_logout_revokes_the_refresh_token_and_destroys_the_session(app, client, auth, sandbox):
    auth.sign_in()
    tokens = auth.tokens()
    session_id = client.get_cookie(client.session_cookie).value
    response = auth.log_out()
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    cookies = response.headers.getlist("Set-Cookie")
    assert any(
        c.startswith(f"{client.session_cookie}=;") and "Expires=Thu, 01 Jan 1970" in c
        for c in cookies
    )
    assert client.get_cookie(client.session_cookie) is None
    assert app.session_interface.inner.cache.get("session:" + session_id) is None
    assert app.extensions["store"].get("tokens", session_id) is None
    assert sandbox.stats()["revoke"] == 1
    info = requests.post(
        f"{sandbox.url}/api/developers/oauth2/token_info",
        data={"token": tokens["access_token"]},
        timeout=5,
    ).json()
    assert info == {"active": False}
    assert b"You are signed out." in client.get("/").data
    assert b"You are signed out." not in client.get("/").data  # said once
    assert client.get("/me").status_code == 302


@pytest.mark.parametrize("csrf_token", [None, "", "wrong"])
def test_logout_without_the_csrf_token_changes_nothing(client, auth, sandbox, csrf_token):
    auth.sign_in()
    data = {} if csrf_token is None else {"csrf_token": csrf_token}
    response = client.post("/logout", data=data)
    assert response.status_code == 400
    assert sandbox.stats()["revoke"] == 0
    assert client.get("/me").status_code == 200


def test_get_logout_signs_nobody_out(client, auth):
    auth.sign_in()
    assert client.get("/logout").status_code == 405
    assert client.get("/me").status_code == 200


def test_logout_says_so_when_ilert_cannot_be_reached(client, auth, sandbox):
    auth.sign_in()
    sandbox.fault(endpoint="revoke", status=500, body="oops")
    auth.log_out()
    page = client.get("/").data
    assert b"could not be reached" in page
    assert b"profile settings" in page
    assert client.get("/me").status_code == 302


def test_signing_in_again_revokes_the_replaced_refresh_token(client, auth, sandbox):
    auth.sign_in()
    first = auth.tokens()
    auth.sign_in()
    assert sandbox.stats()["revoke"] == 1
    info = requests.post(
        f"{sandbox.url}/api/developers/oauth2/token_info",
        data={"token": first["access_token"]},
        timeout=5,
    ).json()
    assert info == {"active": False}
    assert client.get("/me").status_code == 200


def test_expired_access_token_is_refreshed_once_and_rotation_is_kept(
    make_app, start_sandbox, auth_for, clock
):
    sandbox = start_sandbox(access_token_ttl=2)
    client = make_app(sandbox=sandbox).test_client()
    auth_for(client, sandbox).sign_in()
    clock.advance(2.1)
    assert client.get("/me").status_code == 200
    assert client.get("/me").status_code == 200
    assert sandbox.stats()["token"]["refresh_token"] == 1
    clock.advance(2.1)
    assert client.get("/me").status_code == 200
    assert sandbox.stats()["token"]["refresh_token"] == 2


def test_refresh_refused_with_invalid_grant_ends_the_session(
    make_app, start_sandbox, auth_for, clock
):
    sandbox = start_sandbox(access_token_ttl=2)
    client = make_app(sandbox=sandbox).test_client()
    auth = auth_for(client, sandbox)
    auth.sign_in()
    requests.post(
        f"{sandbox.url}/api/developers/oauth2/revoke",
        data={
            "token": auth.tokens()["refresh_token"],
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
        timeout=5,
    ).raise_for_status()
    clock.advance(2.1)
    profile_calls = sandbox.stats()["users_current"]
    response = client.get("/me")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    # The refresh came first, for the expired token (not after the API's 401).
    assert sandbox.stats()["users_current"] == profile_calls
    assert sandbox.stats()["token"]["refresh_token"] == 1
    assert b"Please sign in again" in client.get("/").data
    assert client.get("/me").status_code == 302


def test_access_revoked_at_ilert_ends_that_persons_session_and_no_other(app, auth_for, sandbox):
    """SECURITY.md, "Ending one person's access": revoke the app at ilert (here: the sandbox's
    revoke of that person's refresh token); the app signs them out at their next request."""
    browsers = {user: app.test_client() for user in ("ada.lovelace", "grace.hopper")}
    signed_in = {user: auth_for(client) for user, client in browsers.items()}
    for user, auth in signed_in.items():
        auth.sign_in(user=user)
    requests.post(
        f"{sandbox.url}/api/developers/oauth2/revoke",
        data={
            "token": signed_in["ada.lovelace"].tokens()["refresh_token"],
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
        timeout=5,
    ).raise_for_status()
    ended = browsers["ada.lovelace"].get("/me")
    assert ended.status_code == 302 and ended.headers["Location"] == "/"
    assert b"ilert no longer accepts" in browsers["ada.lovelace"].get("/").data
    assert browsers["ada.lovelace"].get("/me").status_code == 302
    assert browsers["grace.hopper"].get("/me").status_code == 200


def test_api_401_after_a_refresh_means_access_was_removed(client, auth, sandbox):
    auth.sign_in()
    unauthorized = '{"code": "UNAUTHORIZED", "error": "token revoked"}'
    sandbox.fault(endpoint="users_current", status=401, body=unauthorized, count=2)
    response = client.get("/me", headers={"Accept": "application/json"})
    assert response.status_code == 401
    assert response.get_json()["error"] == "session_ended"
    assert sandbox.stats()["token"]["refresh_token"] == 1
    assert client.get("/me").status_code == 302


def test_api_401_is_refreshed_once_and_retried(client, auth, sandbox):
    auth.sign_in()
    unauthorized = '{"code": "UNAUTHORIZED", "error": "token expired"}'
    sandbox.fault(endpoint="users_current", status=401, body=unauthorized)
    assert client.get("/me").status_code == 200
    assert sandbox.stats()["token"]["refresh_token"] == 1


def test_failed_me_does_not_sign_the_person_out(client, auth, sandbox):
    auth.sign_in()
    sandbox.fault(endpoint="users_current", status=500, body="<html>down</html>")
    response = client.get("/me")
    assert response.status_code == 502
    assert b"Traceback" not in response.data
    assert client.get("/me").status_code == 200


def test_healthz_reports_ok_without_a_session(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "session_store": "ok"}
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize("broken", ["", "entries", "locks"])
def test_healthz_reports_an_unwritable_session_folder(make_app, tmp_path, broken, caplog):
    top = tmp_path / "store"
    client = make_app(SESSION_FILE_DIR=str(top)).test_client()
    assert client.get("/healthz").status_code == 200
    folder = top / broken
    shutil.rmtree(folder)
    folder.write_text("not a folder")
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable", "session_store": "unavailable"}
    assert str(folder) in caplog.text  # the details go to the log, not to the caller


def test_healthz_leaves_an_existing_session_alone(client, auth):
    auth.sign_in()
    response = client.get("/healthz")
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert "Vary" not in response.headers


def real_tokens_without_refresh_token(sandbox):
    """Sign in at the sandbox directly (no app) and drop the refresh token from the answer."""
    authorize = (
        requests.Request(
            "GET",
            f"{sandbox.url}/api/developers/oauth2/authorize",
            params={
                "client_id": "sandbox-client-id",
                "response_type": "code",
                "redirect_uri": DEFAULT_REDIRECT_URI,
                "scope": "profile source:r",
            },
        )
        .prepare()
        .url
    )
    granted = requests.post(
        authorize,
        data={"user": "ada.lovelace", "decision": "allow"},
        allow_redirects=False,
        timeout=5,
    )
    code = parse_qs(urlsplit(granted.headers["Location"]).query)["code"][0]
    tokens = requests.post(
        f"{sandbox.url}/api/developers/oauth2/token",
        data={
            "client_id": "sandbox-client-id",
            "client_secret": "sandbox-client-secret",
            "code": code,
            "grant_type": "authorization_code",
        },
        timeout=5,
    ).json()
    return {key: tokens[key] for key in ("token_type", "access_token", "scope")}


def test_token_answer_without_refresh_token_works_until_expiry(client, auth, sandbox, clock):
    answer = {**real_tokens_without_refresh_token(sandbox), "expires_in": 2}
    sandbox.fault(endpoint="authorization_code", status=200, body=json.dumps(answer))
    assert auth.sign_in().status_code == 302
    assert client.get("/me").status_code == 200
    clock.advance(2)
    response = client.get("/me")
    assert response.status_code == 302
    assert b"Please sign in again" in client.get("/").data
    assert sandbox.stats()["token"]["refresh_token"] == 0


@pytest.mark.parametrize("expires_in", [1e308, 10**30])
def test_a_token_lifetime_past_belief_is_cut_to_a_day(client, auth, sandbox, expires_in):
    answer = {**real_tokens_without_refresh_token(sandbox), "expires_in": expires_in}
    sandbox.fault(endpoint="authorization_code", status=200, body=json.dumps(answer))
    assert auth.sign_in().status_code == 302
    assert client.get(path_of("pages.token_info")).status_code == 200
    store = client.application.extensions["store"]
    assert auth.tokens()["expires_at"] <= store.clock() + oauth.MAX_TOKEN_LIFETIME


def test_logout_without_refresh_token_revokes_nothing(client, auth, sandbox):
    answer = {**real_tokens_without_refresh_token(sandbox), "expires_in": 3600}
    sandbox.fault(endpoint="authorization_code", status=200, body=json.dumps(answer))
    auth.sign_in()
    assert auth.log_out().status_code == 302
    assert sandbox.stats()["revoke"] == 0
    assert b"You are signed out." in client.get("/").data


def test_a_session_in_use_outlives_its_idle_lifetime(make_app, auth_for, clock):
    client = make_app(SESSION_LIFETIME="1h").test_client()
    auth = auth_for(client)
    auth.sign_in()
    for _ in range(3):
        clock.advance(50 * 60)
        response = client.get("/me")
        assert response.status_code == 200
        # The cookie is set again, with a new expiry and the same session id.
        renewed = f"{client.session_cookie}={auth.session_id()}; Expires="
        assert response.headers["Set-Cookie"].startswith(renewed)


def test_an_idle_session_ends_after_its_idle_lifetime(make_app, auth_for, clock):
    client = make_app(SESSION_LIFETIME="1h").test_client()
    auth_for(client).sign_in()
    clock.advance(3601)
    response = client.get("/me")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_sign_in_succeeds_when_the_name_cannot_be_read(client, auth, sandbox):
    callback = auth.consent(auth.start())
    sandbox.fault(endpoint="users_current", status=500, body="oops")
    assert client.get(callback).status_code == 302
    home = client.get("/").data
    assert b"Log out" in home
    assert b"Sign in with ilert</a>" not in home
    assert client.get("/me").status_code == 200


@pytest.mark.parametrize(
    ("redirect_uri", "host"),
    [
        ("https://app.example.com:443/authorize-result", "app.example.com"),
        ("http://localhost:4597/authorize-result", "LocalHost:4597"),
    ],
)
def test_login_stays_on_the_same_host_written_differently(make_app, redirect_uri, host):
    client = make_app(ILERT_REDIRECT_URI=redirect_uri).test_client()
    response = client.get("/login", base_url=f"http://{host}")
    assert "/api/developers/oauth2/authorize?" in response.headers["Location"]


def test_a_wrong_method_says_which_are_allowed(client):
    response = client.post("/me")
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}


def test_session_files_keep_their_own_folder(app, tmp_path):
    assert sorted(child.name for child in (tmp_path / "sessions").iterdir()) == [
        "entries",
        "locks",
    ]


def test_a_browser_keeps_a_handful_of_pending_sign_ins_the_oldest_go_first(client, auth, clock):
    callbacks = []
    for _ in range(7):
        callbacks.append(auth.consent(auth.start()))
        clock.advance(1)  # each newer than the one before
    held = [c for c in client._cookies.values() if c.key.startswith(SIGN_IN_COOKIE_PREFIX)]
    assert len(held) == 5
    assert client.get(callbacks[0]).status_code == 400
    assert client.get(callbacks[1]).status_code == 400
    assert client.get(callbacks[-1]).status_code == 302


@pytest.mark.parametrize(
    "value",
    ["²", "²." + "x" * 40, "9" * 5000 + ".abc", "1." + "A" * 5000, "", ".", "1.%%%", "1.²"],
)
def test_a_crafted_sign_in_cookie_is_ignored_never_a_500(client, auth, value):
    """A cookie tossed into the browser (issue 23: `²` or a 5,000-digit time once made /login
    answer 500 and so blocked that person's sign-in) is just not a pending sign-in."""
    from store.sign_ins import cookie_prefix

    with client.application.app_context():
        prefix = cookie_prefix()
    authorize_url = auth.start()
    state = parse_qs(urlsplit(authorize_url).query)["state"][0]
    (own,) = [c.key for c in client._cookies.values() if c.key.startswith(prefix)]
    # Sent as a raw header: a browser would refuse to keep a cookie this long, a script not.
    crafted_only = client.application.test_client(use_cookies=False)
    tossed = {"Cookie": f"{prefix}0123456789abcdef={value}"}
    assert crafted_only.get("/login", headers=tossed).status_code == 302  # sign-in starts
    callback = auth.consent(authorize_url)
    refused = crafted_only.get(callback, headers={"Cookie": f"{own}={value}"})  # a real one's name
    assert refused.status_code == 400
    assert b"This sign-in link is not valid" in refused.data
    assert state not in refused.get_data(as_text=True)
