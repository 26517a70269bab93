"""A person clicks through the app in a real browser (Chromium or Chrome, found by
`tests.tools`, driven by Playwright), on a desktop and on a phone, against the sandbox over
real HTTP, and axe-core finds no accessibility violation on any page.

Every test fails on a browser console error, a failed request, or a page asset
(stylesheet, image, font, favicon) answered with an error status. Chromium logs a
deliberate error page's own 4xx as a console error; a test that expects one says so
with `expect_error_page`, and only that message for that document is let through.
"""

import functools

import pytest
import requests
from axe_playwright_python.sync_playwright import Axe
from conftest import EVERY_SCOPE, LANDING, path_of, tool_paths
from playwright.sync_api import expect, sync_playwright

from config import APP_NAME, CALLBACK_PATH, SESSION_COOKIE
from ilert.scopes import describe_scope
from tests.test_pages import allow_button, forms_posting_to, url_of, without
from tests.tools import launch_chromium
from views.registry import ACTIONS, PAGES, scope_to_ask

pytestmark = pytest.mark.slow

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
VIEWPORTS = {"on_a_desktop": DESKTOP, "on_a_phone": PHONE}
ASSETS = ("stylesheet", "image", "font")
# The first action whose page needs a scope: the step-up tests sign in without that scope,
# ask for it on the page, and then use the action.
STEP_UP = next(a for a in ACTIONS if any(p.endpoint == a.back and p.scope for p in PAGES))
STEP_UP_PAGE = next(page for page in PAGES if page.endpoint == STEP_UP.back)


@pytest.fixture(scope="module")
def chromium():
    """One headless Chromium for the whole module; a missing browser fails, never skips."""
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture
def live_app(live_app):
    """The app in sandbox mode, as `python app.py` serves it."""
    return functools.partial(live_app, sandbox_mode=True)


class Person:
    """A person at a browser tab, and everything that went wrong in it."""

    def __init__(self, page, viewport):
        self.page = page
        self.viewport = viewport
        self.console_errors = []
        self.failed_requests = []
        self.error_documents = []
        self.expected_error_pages = []
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.console_errors.append((str(error), "")))
        page.on("requestfailed", self._on_request_failed)
        page.on("response", self._on_response)

    def _on_console(self, message):
        if message.type == "error":
            self.console_errors.append((message.text, message.location.get("url", "")))

    def _on_request_failed(self, request):
        if request.failure == "net::ERR_ABORTED":
            return  # the next navigation cancelled it (Chromium loads the favicon late)
        self.failed_requests.append(f"{request.resource_type} {request.url}: {request.failure}")

    def _on_response(self, response):
        request = response.request
        if response.status < 400:
            return
        if request.resource_type == "document" and request.frame == self.page.main_frame:
            self.error_documents.append((response.status, response.url))
        elif request.resource_type in ASSETS or "favicon" in request.url:
            self.failed_requests.append(f"{response.status} {request.resource_type} {request.url}")

    def expect_error_page(self, status):
        """The next page is a deliberate error page with this status."""
        self.expected_error_pages.append(status)

    def problems(self):
        """What went wrong that the test did not ask for."""
        errors = list(self.console_errors)
        for status, url in self.error_documents:
            own = f"Failed to load resource: the server responded with a status of {status} "
            mine = [error for error in errors if error[0].startswith(own) and error[1] == url]
            if mine and status in self.expected_error_pages:
                errors.remove(mine[0])
        problems = [f"console: {text} ({url})" for text, url in errors]
        problems += [f"request: {failure}" for failure in self.failed_requests]
        error_pages = [status for status, _ in self.error_documents]
        if error_pages != self.expected_error_pages:
            problems.append(f"error pages: got {error_pages}, expected {self.expected_error_pages}")
        return problems

    # --- what a person does and sees --------------------------------------------------

    def open(self, url):
        self.page.goto(url)

    def click_link(self, name):
        self.page.get_by_role("link", name=name, exact=True).first.click()

    def click_button(self, name):
        self.page.get_by_role("button", name=name, exact=True).click()

    def sees_page(self, heading=None):
        """The page has one h1 (reading `heading`, if given), it fits a desktop and a phone
        (resized in place, then back), and its images have alt text."""
        expect(self.page.locator("h1")).to_have_count(1)
        if heading is not None:
            expect(self.page.locator("h1")).to_have_text(heading)
        for viewport in VIEWPORTS.values():
            self.page.set_viewport_size(viewport)
            page_width = self.page.evaluate("document.documentElement.scrollWidth")
            assert page_width <= viewport["width"], f"{self.page.url} scrolls sideways"
        self.page.set_viewport_size(self.viewport)
        assert self.page.locator("img:not([alt])").count() == 0

    def sees(self, text):
        expect(self.page.get_by_text(text, exact=False).first).to_be_visible()

    def sign_in(self, decision="Allow"):
        """From the home page through the sandbox's consent page."""
        self.click_link("Sign in with ilert")
        expect(self.page.locator("h1")).to_contain_text("wants to access your ilert account")
        self.click_button(decision)

    def session_id(self):
        cookies = self.page.context.cookies()
        return next(cookie["value"] for cookie in cookies if cookie["name"] == SESSION_COOKIE)


def browsing(chromium, viewport):
    """A fresh browser context at `viewport`; checked for problems once it is closed."""
    context = chromium.new_context(viewport=viewport)
    context.set_default_timeout(10_000)
    someone = Person(context.new_page(), viewport)
    yield someone
    context.close()
    assert not someone.problems(), "\n".join(someone.problems())


# Both ask for `live_app` only so that the browser closes before the app's server stops:
# Chromium fetches the favicon late, and a stopped server would fail that request.
@pytest.fixture
def person(chromium, live_app):
    """A person at a desktop (`sees_page` checks each page at phone width too)."""
    yield from browsing(chromium, DESKTOP)


@pytest.fixture(params=list(VIEWPORTS.values()), ids=list(VIEWPORTS))
def person_at_either_width(request, chromium, live_app):
    """A person at a desktop or a phone, for the flow a person clicks through on both."""
    yield from browsing(chromium, request.param)


# --- the tests --------------------------------------------------------------------------


def test_sign_in_browse_and_log_out(person_at_either_width, live_app):
    person = person_at_either_width
    served = live_app(ILERT_SCOPES=EVERY_SCOPE)
    person.open(served.url)
    person.sees_page("Sign in with ilert")
    person.sees("Sandbox mode")
    assert person.page.evaluate("getComputedStyle(document.body).display") == "flex"  # CSS on

    person.sign_in()
    person.page.wait_for_url(f"{served.url}{LANDING}")
    person.open(f"{served.url}/me")
    person.sees_page("Ada Lovelace")
    person.sees("ada.lovelace@example.com")
    person.sees("Europe/London")
    expect(person.page.locator(".avatar")).to_have_text("AL")
    expect(person.page.get_by_role("link", name="Profile")).to_have_attribute(
        "aria-current", "page"
    )

    person.click_link("Token info")
    person.sees_page("Token info")
    expect(person.page.locator(".scopes .badge")).to_have_text(EVERY_SCOPE.split())
    person.sees(describe_scope(scope_to_ask("pages.alert_sources", "source:r")))
    expect(person.page.locator("time")).to_contain_text("UTC")
    person.sees("Expires in 60 minutes")

    person.click_link("Alert sources")
    person.sees_page("Alert sources")
    rows = person.page.locator("tbody tr")
    expect(rows).to_have_count(4)
    expect(rows.first).to_contain_text("Payments API")
    expect(rows.first.locator(".badge")).to_have_text("All accepted")
    expect(person.page.get_by_text("Pending alerts")).to_be_visible()

    session_id = person.session_id()
    person.click_button("Log out")
    person.page.wait_for_url(f"{served.url}/")
    person.sees_page("Sign in with ilert")
    person.sees("You are signed out.")
    expect(person.page.get_by_role("button", name="Log out")).to_have_count(0)
    assert served.app.extensions["store"].get("tokens", session_id) is None
    assert not [c for c in person.page.context.cookies() if c["name"] == SESSION_COOKIE]


def test_deny_shows_access_denied_with_a_way_to_try_again(person, live_app):
    served = live_app()
    person.open(served.url)
    person.expect_error_page(403)
    person.sign_in(decision="Deny")
    person.sees_page("Access was denied")
    person.sees("You did not allow this app")

    person.click_link("Sign in again")
    person.click_button("Allow")
    person.page.wait_for_url(f"{served.url}{LANDING}")
    person.open(f"{served.url}/me")
    person.sees_page("Ada Lovelace")


def test_forged_callback_shows_a_clear_400_page(person, live_app):
    served = live_app()
    person.expect_error_page(400)
    response = person.page.goto(f"{served.url}{CALLBACK_PATH}?state=forged&code=x")
    assert response.status == 400
    person.sees_page("This sign-in link is not valid")
    person.sees("Nothing was exchanged")
    expect(person.page.get_by_role("link", name="Sign in again")).to_be_visible()
    assert served.sandbox.stats()["token"]["authorization_code"] == 0


def test_expired_session_asks_to_sign_in_again(person, live_app):
    served = live_app()
    person.open(served.url)
    person.sign_in()
    person.page.wait_for_url(f"{served.url}{LANDING}")
    served.forget_tokens(person.session_id())

    person.open(f"{served.url}/me")
    person.page.wait_for_url(f"{served.url}/")
    person.sees_page("Sign in with ilert")
    person.sees("Your sign-in has expired. Please sign in again.")
    expect(person.page.get_by_role("link", name="Profile")).to_have_count(0)


def test_keyboard_alone_signs_in_and_out_with_visible_focus(person, live_app):
    served = live_app()
    page = person.page
    person.open(served.url)

    def tab_to(name):
        for _ in range(15):
            page.keyboard.press("Tab")
            focused = page.evaluate("document.activeElement.textContent.trim()")
            if focused == name:
                outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
                assert outline not in ("", "none"), f"{name} has no visible focus"
                return
        raise AssertionError(f"Tab never reached {name!r}")

    tab_to("Skip to content")
    tab_to("Sign in with ilert")
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_contain_text("wants to access your ilert account")
    tab_to("Allow")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{served.url}{LANDING}")
    tab_to("Log out")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{served.url}/")
    person.sees("You are signed out.")


def test_no_alert_sources_show_an_empty_state(person, live_app):
    served = live_app(ILERT_SCOPES=EVERY_SCOPE)
    served.sandbox.fault(endpoint="alert_sources", status=200, body="[]")
    person.open(f"{served.url}{path_of('pages.alert_sources')}")
    person.click_button("Allow")
    person.page.wait_for_url(f"{served.url}{path_of('pages.alert_sources')}")
    person.sees_page("Alert sources")
    person.sees("No alert sources yet")
    expect(person.page.get_by_role("link", name="Check again")).to_be_visible()


def test_every_page_of_the_navigation_opens(person, live_app):
    served = live_app(ILERT_SCOPES=EVERY_SCOPE)
    person.open(served.url)
    person.sign_in()
    person.page.wait_for_url(f"{served.url}{LANDING}")
    for page in PAGES:
        person.click_link(page.title)
        person.page.wait_for_url(served.url + url_of(served.app, page.endpoint))
        expect(person.page).to_have_title(f"{page.title} · {APP_NAME}")
        person.sees_page()
        expect(person.page.get_by_role("link", name=page.title).first).to_have_attribute(
            "aria-current", "page"
        )


def test_step_up_to_a_page_and_its_action_keeps_the_session_under_a_new_id(person, live_app):
    page = STEP_UP_PAGE
    granted = without(page.scope)
    served = live_app(ILERT_SCOPES=granted)
    person.open(served.url)
    person.sign_in()
    person.page.wait_for_url(f"{served.url}{LANDING}")
    session_id = person.session_id()
    person.expect_error_page(403)
    person.click_link(page.title)
    person.sees_page("This needs more access at ilert")
    shown = person.page.locator("p", has_text="This sign-in was granted:").locator("code")
    assert set(shown.all_inner_texts()) == set(granted.split())
    person.click_button(allow_button(page.endpoint, page.scope))
    expect(person.page.locator("h1")).to_contain_text("wants to access your ilert account")
    person.click_button("Allow")
    back = served.url + url_of(served.app, page.endpoint)
    person.page.wait_for_url(back)
    person.sees_page(page.title)
    person.sees(f"Allowed: {describe_scope(scope_to_ask(page.endpoint, page.scope))}.")

    form = forms_posting_to(served.app, STEP_UP.endpoint, person.page.content())[0]
    person.page.locator(f'form[action="{form[0]}"] button').first.click()
    person.page.wait_for_url(back)
    expect(person.page.locator(".flash-info")).to_have_count(1)
    # done: not offered again
    assert form not in forms_posting_to(served.app, STEP_UP.endpoint, person.page.content())
    assert person.session_id() not in (session_id, None)  # more access, a new id
    stats = served.sandbox.stats()
    assert (stats["token"]["authorization_code"], stats["revoke"]) == (2, 1)


def test_denying_a_missing_scope_keeps_the_session(person, live_app):
    page = STEP_UP_PAGE
    granted = without(page.scope)
    served = live_app(ILERT_SCOPES=granted)
    person.open(served.url)
    person.sign_in()
    person.page.wait_for_url(f"{served.url}{LANDING}")
    session_id = person.session_id()
    person.expect_error_page(403)
    person.click_link(page.title)
    person.click_button(allow_button(page.endpoint, page.scope))
    person.expect_error_page(403)
    person.click_button("Deny")
    person.page.wait_for_url(served.url + url_of(served.app, page.endpoint))
    person.sees("You did not allow the extra access at ilert: nothing was changed.")
    assert person.session_id() == session_id
    other = next(p for p in PAGES if p.scope is None or p.scope in granted.split())
    person.click_link(other.title)
    person.page.wait_for_url(served.url + url_of(served.app, other.endpoint))
    expect(person.page).to_have_title(f"{other.title} · {APP_NAME}")
    person.sees_page()


def test_favicon_and_stylesheet_are_served(person, live_app):
    served = live_app()
    person.open(served.url)
    for selector in ('link[rel="icon"]', 'link[rel="stylesheet"]'):
        href = person.page.locator(selector).get_attribute("href")
        answer = requests.get(served.url + href, timeout=5)
        assert answer.status_code == 200, href


# --- accessibility ----------------------------------------------------------------------

AXE = Axe()  # axe-core as shipped by axe-playwright-python
AXE_OPTIONS = {
    "runOnly": {
        "type": "tag",
        "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"],
    },
    "resultTypes": ["violations"],
}


def axe_violations(page):
    """axe-core's WCAG 2.2 A/AA and best-practice violations on the page, one per node
    (axe-core is put into the page once, for both widths)."""
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.evaluate(AXE.axe_script)
    violations = page.evaluate("options => axe.run(document, options)", AXE_OPTIONS)["violations"]
    return [
        f"{violation['id']} ({violation['impact']}): {' '.join(node['target'])}: {node['html']}"
        for violation in violations
        for node in violation["nodes"]
    ]


def test_axe_finds_no_violation_on_any_page_on_a_desktop_or_a_phone(person, live_app):
    """One walk through every page; each is checked at both widths, resized in place."""
    served = live_app(ILERT_SCOPES=EVERY_SCOPE)
    page = person.page
    found = {}

    def check(name):
        page.wait_for_load_state("load")
        for width, viewport in VIEWPORTS.items():
            page.set_viewport_size(viewport)
            found[f"{name} {width}"] = axe_violations(page)
        page.set_viewport_size(DESKTOP)

    person.open(served.url)
    check("home, signed out")
    person.click_link("Sign in with ilert")
    expect(page.locator("h1")).to_contain_text("wants to access your ilert account")
    check("sandbox consent page")
    person.click_button("Allow")
    page.wait_for_url(f"{served.url}{LANDING}")
    check(LANDING)
    for path in [url_of(served.app, page.endpoint) for page in PAGES] + tool_paths(served.app):
        person.open(served.url + path)
        check(path)
    person.open(served.url)
    check("home, signed in")

    served.sandbox.fault(endpoint="alert_sources", status=403, body='{"error": "Forbidden"}')
    person.expect_error_page(403)
    person.open(f"{served.url}{path_of('pages.alert_sources')}")
    check("missing scope (403)")
    person.expect_error_page(404)
    person.open(f"{served.url}/nowhere")
    check("not found (404)")

    person.open(f"{served.url}/me")
    person.click_button("Log out")
    page.wait_for_url(f"{served.url}/")
    check("home, just signed out")
    person.expect_error_page(400)
    person.open(f"{served.url}{CALLBACK_PATH}?state=forged&code=x")
    check("bad callback (400)")
    person.open(served.url)
    person.expect_error_page(403)
    person.sign_in(decision="Deny")
    page.wait_for_url(f"{served.url}{CALLBACK_PATH}*")
    check("access denied (403)")

    lacking = live_app(ILERT_SCOPES=without(STEP_UP_PAGE.scope))
    person.open(lacking.url)
    person.sign_in()
    page.wait_for_url(f"{lacking.url}{LANDING}")
    person.expect_error_page(403)
    step_up_url = lacking.url + url_of(lacking.app, STEP_UP_PAGE.endpoint)
    person.open(step_up_url)
    check("grant page (403)")
    person.click_button(allow_button(STEP_UP_PAGE.endpoint, STEP_UP_PAGE.scope))
    person.click_button("Allow")
    page.wait_for_url(step_up_url)
    check("a page with a notice")

    report = [f"{name}: {line}" for name, lines in found.items() for line in lines]
    assert not report, f"axe-core, {len(report)} violations:\n" + "\n".join(report)
