"""The one list of pages: every page of the `pages` blueprint is in it, answers for a person
signed in with the default scopes, and is linked from the navigation and the home page; a
missing scope gets a page that says which one and what to do."""

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from config import DEFAULT_SCOPES
from ilert.scopes import missing_scope_hint, required_scope, scope_for
from views.pages import PAGES


def test_every_page_of_the_blueprint_is_listed(app):
    routes = {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("pages.") and rule.endpoint != "pages.home"
    }
    assert routes == {page.endpoint for page in PAGES}


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.endpoint)
def test_every_page_answers_with_the_default_scopes(client, auth, page, app):
    auth.sign_in()
    with app.test_request_context():
        from flask import url_for

        path = url_for(page.endpoint)
    html = client.get(path)
    assert html.status_code == 200, html.get_data(as_text=True)[:500]
    assert f"<title>{page.title}" in html.get_data(as_text=True)
    as_json = client.get(path, headers={"Accept": "application/json"})
    assert as_json.status_code == 200
    assert as_json.is_json


def test_navigation_and_home_cards_link_every_page_and_every_link_works(client, auth):
    auth.sign_in()
    home = client.get("/").get_data(as_text=True)
    cards = re.findall(r'<ul class="cards">(.*?)</ul>', home, re.S)[0]
    nav = re.findall(r'<nav aria-label="Account">(.*?)</nav>', home, re.S)[0]
    assert len(re.findall(r"<li>", cards)) == len(PAGES)
    for page in PAGES:
        assert f">{page.title}</a>" in cards and f">{page.title}</a>" in nav
    for href in set(re.findall(r'href="([^"]+)"', nav + cards)):
        assert href.startswith("/")
        assert client.get(href).status_code == 200, href


def test_default_scopes_are_the_ones_asked_for(client, sandbox):
    location = urlsplit(client.get("/login").headers["Location"])
    assert parse_qs(location.query)["scope"] == [DEFAULT_SCOPES]


def test_a_missing_scope_says_which_one_and_to_add_it(make_app, auth_for):
    client = make_app(ILERT_SCOPES="profile").test_client()
    auth_for(client).sign_in()
    response = client.get("/alert-sources")
    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert "This app may not read your alert sources" in page
    assert "it needs the scope source:r" in page
    assert "Add source:r to ILERT_SCOPES" in page
    as_json = client.get("/alert-sources", headers={"Accept": "application/json"})
    assert as_json.status_code == 403
    assert as_json.get_json()["error"] == "missing_scope"
    assert client.get("/me").status_code == 200  # still signed in


def test_a_scope_configured_after_sign_in_asks_to_sign_in_again(make_app, auth_for, tmp_path):
    folder = str(tmp_path / "shared-store")
    before = make_app(ILERT_SCOPES="profile", SESSION_FILE_DIR=folder)
    client = before.test_client()
    auth_for(client).sign_in()
    after = make_app(ILERT_SCOPES="profile source:r", SESSION_FILE_DIR=folder)
    again = after.test_client()
    cookie = before.config["SESSION_COOKIE_NAME"]
    again.set_cookie(cookie, client.get_cookie(cookie).value, domain="localhost")
    response = again.get("/alert-sources")
    assert response.status_code == 403
    assert "sign in again and allow source:r" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("path", "method", "scope"),
    [
        ("/api/alert-sources", "GET", "source:r"),
        ("/api/alert-sources/12", "DELETE", "source:d"),
        ("/api/incidents", "GET", "incident:r"),
        ("/api/escalation-policies", "POST", "policy:w"),
        ("/api/users/current", "GET", "profile"),
        ("/api/users/7", "GET", "user:r"),
        ("/api/something-new", "GET", None),
    ],
)
def test_scope_for_a_path_follows_ilerts_table(path, method, scope):
    assert scope_for(path, method) == scope


def test_the_hint_compares_what_was_granted_with_what_is_configured():
    assert "Add team:r to ILERT_SCOPES" in missing_scope_hint("team:r", "profile", "profile")
    assert "sign in again" in missing_scope_hint("team:r", "profile", "profile team:r")
    assert "role may not allow" in missing_scope_hint("team:r", "profile team:w", "profile team:w")


def test_the_sandbox_guards_each_path_with_the_scope_of_ilerts_table():
    from sandbox.server import API

    rows = [row for row in API if row.scope is not None]
    assert rows
    for row in rows:
        path = row.path.replace("<int:item_id>", "42")
        assert scope_for(path, "GET") == required_scope(row.scope, "GET"), row.path
