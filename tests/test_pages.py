"""The app's registries: every view of the `pages` blueprint is a page (`PAGES`) or an action
(`ACTIONS`), and each is checked here without being named. A page answers for a person with its
scope and offers to allow its scope to one without; an action takes POST only, with this
session's CSRF token, sends nothing to ilert otherwise, and offers the grant page for a missing
scope."""

import html
import json
import re
import subprocess
import sys
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import EVERY_SCOPE, ROOT, path_of, process_environ
from flask import url_for

from config import DEFAULT_SCOPES
from ilert import client as ilert_client
from ilert.oauth import TOKEN_PATH
from ilert.scopes import describe_scope, includes, missing_scope_hint, required_scope, scope_for
from sandbox import CLIENT_ID, CLIENT_SECRET
from sandbox.server import API
from views.registry import ACTIONS, PAGES, declared_scopes, scope_to_ask

OAUTH2_PATHS = TOKEN_PATH.rsplit("/", 1)[0] + "/"  # the sign-in's calls, not writes

SCOPED_PAGES = [page for page in PAGES if page.scope is not None]


def without(scope):
    """Every declared scope but those of `scope`'s resource (at least `profile`, to sign in)."""
    resource = scope.partition(":")[0]
    kept = [s for s in EVERY_SCOPE.split() if s.partition(":")[0] != resource]
    return " ".join(kept) or "profile"


def url_of(app, endpoint):
    """A URL of `endpoint`, with 1 for each of its URL's variables (an alert id, say)."""
    (rule,) = [rule for rule in app.url_map.iter_rules() if rule.endpoint == endpoint]
    with app.test_request_context():
        return url_for(endpoint, **dict.fromkeys(rule.arguments, 1))


def csrf_token(client):
    with client.session_transaction() as session:
        return session["csrf_token"]


def post_forms(page):
    """The post forms of an HTML page: [(action URL, {field: value})]."""
    forms = re.findall(r'<form method="post" action="([^"]+)"[^>]*>(.*?)</form>', page, re.S)
    return [
        (html.unescape(url), dict(re.findall(r'name="([^"]+)" value="([^"]*)"', body)))
        for url, body in forms
    ]


def allow_button(page_endpoint, scope):
    """The text of the Allow button that the page `page_endpoint` shows for `scope`."""
    words = describe_scope(scope_to_ask(page_endpoint, scope))
    return f"Allow this app to {words[0].lower()}{words[1:]}"


def grant_offered(response):
    """The scope and `next` that a grant page's Allow form posts to /grant, else None."""
    for url, fields in post_forms(response.get_data(as_text=True)):
        if url == "/grant":
            return html.unescape(fields["scope"]), html.unescape(fields["next"])
    return None


# --- the registries -----------------------------------------------------------------------


def test_every_view_of_the_blueprint_is_a_page_or_an_action(app):
    routes = {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("pages.") and rule.endpoint != "pages.home"
    }
    assert PAGES and ACTIONS
    assert routes == {page.endpoint for page in PAGES} | {action.endpoint for action in ACTIONS}


def test_every_action_returns_to_a_page():
    pages = {page.endpoint for page in PAGES}
    assert all(action.back in pages for action in ACTIONS)


def test_every_declared_scope_is_one_ilert_knows_and_asks_for_no_other():
    for page in SCOPED_PAGES:
        assert scope_to_ask(page.endpoint, page.scope) in declared_scopes()
    for action in ACTIONS:
        assert includes(scope_to_ask(action.back, action.scope), action.scope)


# --- pages --------------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.endpoint)
def test_every_page_answers_when_its_scope_is_granted(make_app, auth_for, page):
    app = make_app(ILERT_SCOPES=EVERY_SCOPE)
    client = app.test_client()
    auth_for(client).sign_in()
    path = url_of(app, page.endpoint)
    answer = client.get(path)
    assert answer.status_code == 200, answer.get_data(as_text=True)[:500]
    assert f"<title>{page.title}" in answer.get_data(as_text=True)
    as_json = client.get(path, headers={"Accept": "application/json"})
    assert as_json.status_code == 200
    assert as_json.is_json


@pytest.mark.parametrize("start", ["-3", "abc", "9" * 30, "1e9"])
@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.endpoint)
def test_every_page_takes_any_start(signed_in_with_every_scope, sandbox, page, start):
    """`?start=` pages a list (ilert/client.py keeps it in bounds); a page without a list
    ignores it. Either way, the page as at `start=0`."""
    client = signed_in_with_every_scope
    path = url_of(client.application, page.endpoint)
    first = client.get(path, headers={"Accept": "application/json"}).get_json()
    answer = client.get(f"{path}?start={start}", headers={"Accept": "application/json"})
    assert answer.status_code == 200, answer.get_data(as_text=True)[:500]
    if start in ("-3", "abc", "1e9"):  # below 0, or not a whole number: from the first entry
        assert answer.get_json() == first


@pytest.mark.parametrize("page", SCOPED_PAGES, ids=lambda page: page.endpoint)
def test_every_page_offers_to_allow_its_scope_and_calls_nothing_without(
    make_app, auth_for, sandbox, page
):
    app = make_app(ILERT_SCOPES=without(page.scope))
    client = app.test_client()
    auth_for(client).sign_in()
    path = url_of(app, page.endpoint)
    before = sandbox.stats()
    answer = client.get(path)
    assert answer.status_code == 403
    assert grant_offered(answer) == (scope_to_ask(page.endpoint, page.scope), path)
    as_json = client.get(path, headers={"Accept": "application/json"})
    assert as_json.status_code == 403
    assert as_json.get_json()["error"] == "missing_scope"
    assert sandbox.stats() == before


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.endpoint)
def test_every_page_sends_signed_out_people_to_sign_in(client, app, page):
    path = url_of(app, page.endpoint)
    answer = client.get(path)
    assert answer.status_code == 302
    assert answer.headers["Location"] == url_for_login(app, path)
    as_json = client.get(path, headers={"Accept": "application/json"})
    assert as_json.status_code == 401
    assert as_json.get_json()["error"] == "not_signed_in"
    assert as_json.get_json()["message"]


def url_for_login(app, next_path):
    with app.test_request_context():
        return url_for("auth.login", next=next_path)


def test_navigation_and_home_cards_link_every_page_and_every_link_works(make_app, auth_for):
    client = make_app(ILERT_SCOPES=EVERY_SCOPE).test_client()
    auth_for(client).sign_in()
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


# --- actions ------------------------------------------------------------------------------


@pytest.fixture
def signed_in_with_every_scope(make_app, auth_for):
    client = make_app(ILERT_SCOPES=EVERY_SCOPE).test_client()
    auth_for(client).sign_in()
    return client


@pytest.mark.parametrize("action", ACTIONS, ids=lambda action: action.endpoint)
def test_every_action_takes_post_only(signed_in_with_every_scope, action):
    client = signed_in_with_every_scope
    answer = client.get(url_of(client.application, action.endpoint))
    assert answer.status_code == 405
    assert answer.headers["Allow"].split(", ").count("POST") == 1


@pytest.mark.parametrize("token", [None, "", "forged"], ids=["none", "empty", "wrong"])
@pytest.mark.parametrize("action", ACTIONS, ids=lambda action: action.endpoint)
def test_every_action_without_this_sessions_csrf_token_is_400_and_sends_nothing(
    signed_in_with_every_scope, sandbox, action, token
):
    client = signed_in_with_every_scope
    form = {"active": "true"} if token is None else {"active": "true", "csrf_token": token}
    before = sandbox.stats()
    answer = client.post(url_of(client.application, action.endpoint), data=form)
    assert answer.status_code == 400
    assert b"Nothing was changed" in answer.data
    as_json = client.post(
        url_of(client.application, action.endpoint),
        data=form,
        headers={"Accept": "application/json"},
    )
    assert as_json.status_code == 400
    assert as_json.get_json()["error"] == "invalid_csrf_token"
    assert sandbox.stats() == before


@pytest.mark.parametrize("action", ACTIONS, ids=lambda action: action.endpoint)
def test_every_action_without_its_scope_offers_the_grant_page_and_sends_nothing(
    make_app, auth_for, sandbox, action
):
    app = make_app(ILERT_SCOPES=without(action.scope))
    client = app.test_client()
    auth_for(client).sign_in()
    before = sandbox.stats()
    answer = client.post(url_of(app, action.endpoint), data={"csrf_token": csrf_token(client)})
    assert answer.status_code == 403
    assert grant_offered(answer) == (
        scope_to_ask(action.back, action.scope),
        url_of(app, action.back),
    )
    assert sandbox.stats() == before


def forms_of(client, endpoint, path):
    """The forms on the page at `path` that post to the action `endpoint`."""
    return forms_posting_to(client.application, endpoint, client.get(path).get_data(as_text=True))


def forms_posting_to(app, endpoint, page):
    """The post forms of the HTML `page` that post to the action `endpoint`."""
    routes = app.url_map.bind("localhost")
    return [
        (url, fields)
        for url, fields in post_forms(page)
        if routes.match(url, method="POST")[0] == endpoint
    ]


@pytest.mark.parametrize("action", ACTIONS, ids=lambda action: action.endpoint)
def test_every_action_is_offered_on_its_page_and_does_what_it_says_once(
    signed_in_with_every_scope, sandbox, action
):
    client = signed_in_with_every_scope
    back = url_of(client.application, action.back)
    offered = forms_of(client, action.endpoint, back)
    assert offered, f"{back} offers no {action.endpoint} button"
    url, fields = offered[0]
    writes = writes_of(sandbox.stats())
    answer = client.post(url, data={name: html.unescape(v) for name, v in fields.items()})
    assert answer.status_code == 303, answer.get_data(as_text=True)[:500]
    assert writes_of(sandbox.stats()) == writes + 1  # one write sent, once
    assert urlsplit(answer.headers["Location"]).path == back
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert page.count('<p class="flash flash-info" role="status">') == 1
    assert (url, fields) not in forms_of(client, action.endpoint, back)  # done: not offered again
    assert '<p class="flash' not in client.get(back).get_data(as_text=True)  # the notice, once


def writes_of(stats):
    """How many writes (PUT, POST or DELETE of ilert's API beyond OAuth2) the sandbox had."""
    return sum(
        stats.get(row.name, 0)
        for row in API
        if row.method in ("PUT", "POST", "DELETE") and not row.path.startswith(OAUTH2_PATHS)
    )


@pytest.mark.parametrize("action", ACTIONS, ids=lambda action: action.endpoint)
def test_every_action_answers_json_callers_with_a_message(signed_in_with_every_scope, action):
    client = signed_in_with_every_scope
    url, fields = forms_of(client, action.endpoint, url_of(client.application, action.back))[0]
    answer = client.post(url, data=fields, headers={"Accept": "application/json"})
    assert answer.status_code == 200
    assert set(answer.get_json()) == {"message"}


@pytest.mark.parametrize("action", ACTIONS, ids=lambda action: action.endpoint)
def test_every_action_sends_signed_out_people_to_sign_in(client, app, action):
    answer = client.post(url_of(app, action.endpoint))
    assert answer.status_code == 303
    assert answer.headers["Location"] == url_for_login(app, url_of(app, action.back))
    as_json = client.post(url_of(app, action.endpoint), headers={"Accept": "application/json"})
    assert as_json.status_code == 401


# --- what ilert refuses -------------------------------------------------------------------


def test_ilert_refusing_a_granted_scope_says_the_role_may_not_allow_it(make_app, auth_for, sandbox):
    client = make_app(ILERT_SCOPES=EVERY_SCOPE).test_client()
    auth_for(client).sign_in()
    sandbox.fault(endpoint="alert_sources", status=403, body='{"code": "FORBIDDEN"}')
    response = client.get(path_of("pages.alert_sources"))
    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert "This app may not read your alert sources" in page
    assert "your ilert role may not allow it" in page
    assert client.get("/me").status_code == 200  # still signed in


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


# --- lists --------------------------------------------------------------------------------


def test_every_listed_page_pages_through_ilerts_list(signed_in_with_every_scope, monkeypatch):
    """Each page whose JSON answer is a list (ilert's list at `start-index`) shows it a page
    at a time: following its Next links visits every entry once, in order."""
    client = signed_in_with_every_scope
    json = {"Accept": "application/json"}
    listed = []
    for page in PAGES:
        path = url_of(client.application, page.endpoint)
        answer = client.get(path, headers=json)
        assert answer.status_code == 200, path
        if isinstance(answer.get_json(), list):
            listed.append((path, answer.get_json()))
    assert listed, "no page lists anything"
    monkeypatch.setattr(ilert_client, "PAGE_SIZE", 2)  # a setting, as a fork would change it
    for path, every in listed:
        assert len(every) > 2, f"{path}: the sandbox lists too few to page through"
        seen, here = [], path
        for _ in every:
            seen += client.get(here, headers=json).get_json()
            html_page = client.get(here).get_data(as_text=True)
            following = re.search(rf'href="({re.escape(path)}\?start=\d+)">Next page', html_page)
            if not following:
                break
            here = html.unescape(following[1])
        assert seen == every, path
        assert "Previous page" in html_page and "Next page" not in html_page, path


DETAIL_PAGE = """
import json, sys
sys.path.insert(0, "tests")
from types import SimpleNamespace
from ilert import client
from views.registry import page

@page("/alerts/<int:alert_id>", "Alert", "One alert.", "GET /api/alerts/{id}", scope="alert:r")
def alert(alert_id):
    return client.get(f"/api/alerts/{alert_id}")

from app import create_app
from conftest import LocalClient, SignIn

app = create_app(json.loads(sys.argv[1]))
app.test_client_class = LocalClient
browser = app.test_client()
home = browser.get("/")
SignIn(browser, SimpleNamespace(url=sys.argv[2])).sign_in()
answers = {path: browser.get(path) for path in ("/", "/alerts/70013", "/alerts/1")}
print(json.dumps({"signed out": home.status_code, **{
    path: [answer.status_code, answer.get_data(as_text=True)] for path, answer in answers.items()
}}))
"""


def test_a_page_whose_path_takes_a_value_is_a_page_out_of_the_navigation(sandbox, tmp_path):
    """A fork's detail page (`/alerts/<int:alert_id>`) has no one address to link to: every
    page answers as before, it is not in the navigation or on the home page, and ilert's 404
    for a record it lacks is the page's 404."""
    settings = {
        "ILERT_CLIENT_ID": CLIENT_ID, "ILERT_CLIENT_SECRET": CLIENT_SECRET,
        "ILERT_AUTH_URL": sandbox.url, "ILERT_API_URL": sandbox.url,
        "ILERT_SCOPES": f"{EVERY_SCOPE} alert:r",  # the detail page's, in any fork
        "SECRET_KEY": "test-secret-key-that-is-long-enough",
        "SESSION_FILE_DIR": str(tmp_path / "sessions"),
    }  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", DETAIL_PAGE, json.dumps(settings), sandbox.url],
        cwd=ROOT, env=process_environ(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    answers = json.loads(done.stdout.splitlines()[-1])
    assert answers["signed out"] == 200
    (home_status, home), (found, alert), (missing, _) = (
        answers[path] for path in ("/", "/alerts/70013", "/alerts/1")
    )
    assert (home_status, found, missing) == (200, 200, 404)
    assert not re.search(r'href="/alerts/[0-9]', home)  # listed pages only
    assert "<title>Alert · " in alert or json.loads(alert)["id"] == 70013
