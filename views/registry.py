"""The app's pages and actions: the decorators that make them, and the lists that the
navigation, the home page, `/grant` and the tests walk (`PAGES`, `ACTIONS`).

- `@page(rule, title, summary, call, scope)`: a GET page for signed-in people.
- `@action(rule, scope, back)`: a POST-only, CSRF-protected change for signed-in people. Its
  view makes the change (`client.put(...)`) and returns a sentence saying what it did; the
  person is sent back to the page `back` (303) and sees that sentence once there.

Each declares the ilert scope it needs. When this sign-in was not granted it, the person gets
a page offering to allow it (a form posting to `/grant`) instead of ilert's refusal. A page
asks for the widest scope its own actions need too, so that one consent covers its buttons.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache, wraps
from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

import errors
from errors import error_page, json_error, wants_json
from ilert import scopes, session_tokens
from ilert.client import MissingScope
from views.auth import safe_next
from views.csrf import csrf_token_valid, form_expired

bp = Blueprint("pages", __name__)


@dataclass(frozen=True)
class Page:
    """A page in the navigation and on the home page."""

    endpoint: str  # e.g. "pages.me"
    title: str  # the link's text
    summary: str  # one sentence on the home page
    call: str  # what it asks ilert, as the home page shows it
    scope: str | None  # the scope its call needs (None: any sign-in may see it)
    listed: bool = True  # in the navigation and on the home page: its path takes no values


@dataclass(frozen=True)
class Action:
    """A change a signed-in person makes from a page (a button), at ilert."""

    endpoint: str  # e.g. "pages.accept_alert"
    scope: str  # the scope its call needs
    back: str  # the endpoint of the page it returns to


PAGES: list[Page] = []
ACTIONS: list[Action] = []


class FormError(Exception):
    """An action's form is not valid (the message says why); nothing was sent to ilert."""


def page(rule: str, title: str, summary: str, call: str, scope: str | None) -> Callable:
    """Make a view a page for signed-in people at `rule` that needs `scope`, listed in `PAGES`.
    A page whose rule takes values (`/incidents/<int:incident_id>`, a detail page) has no one
    address to link to: it stays out of the navigation and the home page (its list links to
    it), and is otherwise a page like any other."""

    def register(view: Callable) -> Callable:
        endpoint = f"{bp.name}.{view.__name__}"
        PAGES.append(Page(endpoint, title, summary, call, scope, listed="<" not in rule))

        @wraps(view)
        def guarded(**kwargs: Any):
            if scope is not None and lacks(scope):
                return grant_offer(scope_to_ask(endpoint, scope), request.full_path.rstrip("?"))
            return view(**kwargs)

        return bp.route(rule)(signed_in(guarded))

    return register


def refuse_form(back_to: str) -> Any:
    """The answer to a form posted by someone signed out (sign in first, then `back_to`) or
    without the session's CSRF token (400); None when the form may go ahead."""
    if "user" not in session:
        if wants_json():
            return json_error(401, "not_signed_in", "Sign in at /login first.")
        return redirect(url_for("auth.login", next=back_to), 303)
    if not csrf_token_valid():
        return form_expired()
    return None


def action(rule: str, scope: str, back: str) -> Callable:
    """Make a view an action at `rule` (POST only) that needs `scope` and returns to the page
    `back` (a view of this blueprint, or the form's `next` if it is a local path), listed in
    `ACTIONS`. The view returns the notice to show there; JSON callers get it as `message`."""

    def register(view: Callable) -> Callable:
        back_endpoint = f"{bp.name}.{back}"
        ACTIONS.append(Action(f"{bp.name}.{view.__name__}", scope, back_endpoint))

        @wraps(view)
        def guarded(**kwargs: Any):
            back_to = safe_next(request.form.get("next")) or url_for(back_endpoint)
            refused = refuse_form(back_to)
            if refused is not None:
                return refused
            if lacks(scope):
                return grant_offer(scope_to_ask(back_endpoint, scope), back_to)
            try:
                notice = view(**kwargs)
            except FormError as error:
                return error_page(400, "This form is not valid", str(error), error="invalid_form")
            if wants_json():
                return jsonify(message=notice)
            flash(notice, "info")
            return redirect(back_to, 303)

        return bp.route(rule, methods=["POST"])(guarded)

    return register


def signed_in(view: Callable) -> Callable:
    """Send signed-out people to sign in first (JSON callers get a 401)."""

    @wraps(view)
    def guarded(**kwargs: Any):
        if "user" not in session:
            if wants_json():
                return json_error(401, "not_signed_in", "Sign in at /login first.")
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(**kwargs)

    return guarded


def respond(data: Any, template: str, **context: Any):
    """`data` as JSON for JSON callers, else `template` rendered with `context`."""
    if wants_json():
        return jsonify(data)
    return render_template(template, **context)


# --- scopes: what is declared, what is missing, the offer to allow it ----------------------


def lacks(scope: str) -> bool:
    """Whether this sign-in was granted scopes that do not include `scope`. If ilert did not
    say what it granted, ilert decides (a 403 then brings the same offer)."""
    granted = session_tokens.granted_scopes()
    return bool(granted) and not scopes.includes(granted, scope)


def scope_to_ask(endpoint: str, scope: str) -> str:
    """The scope to ask for when the page `endpoint` needs `scope`: the widest of it and of
    what the actions returning to that page need of the same resource."""
    resource = scope.partition(":")[0]
    same = [a.scope for a in ACTIONS if a.back == endpoint and a.scope.split(":")[0] == resource]
    return scopes.widest([scope, *same])


def declared_scopes() -> set[str]:
    """Every scope a page or action declares, and what their pages ask for (`scope_to_ask`):
    `/grant` asks ilert for no other."""
    pages = {(p.endpoint, p.scope) for p in PAGES if p.scope is not None}
    needs = pages | {(a.back, a.scope) for a in ACTIONS}
    return {scope for _, scope in needs} | {scope_to_ask(*need) for need in needs}


def grant_offer(scope: str, next_path: str):
    """403: this needs `scope`; a page with a button to allow it and come back to `next_path`."""
    what = scopes.describe_scope(scope)
    if wants_json():
        return json_error(
            403,
            "missing_scope",
            f"This needs the scope {scope} ({what.lower()}), which this sign-in was not "
            f"granted: POST /grant with scope={scope} to ask for it.",
        )
    page = render_template(
        "grant.html",
        scope=scope,
        what=what,
        next_path=next_path,
        granted=session_tokens.granted_scopes().split(),
    )
    return page, 403


@bp.errorhandler(MissingScope)
def refused_for_scope(error: MissingScope):
    """ilert refused a page's or action's call for a scope: offer the declared one if it covers
    what ilert asks for and this sign-in lacks that; otherwise (a role that may not, say) say
    what to do (errors.py)."""
    declared = _declared_for(request.endpoint or "")
    if declared is not None and error.needed and scopes.includes(declared[0], error.needed):
        if not scopes.includes(session_tokens.granted_scopes(), error.needed):
            return grant_offer(*declared)
    return errors.missing_scope_page(error)


def _declared_for(endpoint: str) -> tuple[str, str] | None:
    """(the scope to ask for, where to come back to) for the page or action `endpoint`."""
    for found in PAGES:
        if found.endpoint == endpoint and found.scope is not None:
            return scope_to_ask(endpoint, found.scope), request.full_path.rstrip("?")
    for done in ACTIONS:
        if done.endpoint == endpoint:
            back_to = safe_next(request.form.get("next")) or url_for(done.back)
            return scope_to_ask(done.back, done.scope), back_to
    return None


# --- the layout's navigation ----------------------------------------------------------------


@dataclass(frozen=True)
class Link:
    """A link of the layout's navigation."""

    endpoint: str
    title: str
    url: str
    summary: str = ""
    call: str = ""


@dataclass(frozen=True)
class Layout:
    """The addresses the layout uses on every page."""

    style: str
    favicon: str
    home: str
    login: str
    logout: str
    pages: list[Link]  # for signed-in people: PAGES, those listed
    titles: dict[str, str]  # every page's title by its endpoint, base.html's default title
    tools: list[Link]  # for everyone: what `app.extensions["layout_tools"]` lists


@bp.app_context_processor
def layout() -> dict:
    """`layout`, for base.html and the home page."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    return {"layout": _layout(app, request.script_root)}


@lru_cache(maxsize=32)
def _layout(app: Any, script_root: str) -> Layout:
    """Built once per app and mount point (SCRIPT_NAME), which are what its addresses depend
    on: a dozen `url_for` calls on every page would cost more than reading the session."""
    return Layout(
        style=url_for("static", filename="style.css"),
        favicon=url_for("static", filename="favicon.svg"),
        home=url_for("pages.home"),
        login=url_for("auth.login"),
        logout=url_for("auth.logout"),
        pages=[
            Link(p.endpoint, p.title, url_for(p.endpoint), p.summary, p.call)
            for p in PAGES
            if p.listed
        ],
        titles={p.endpoint: p.title for p in PAGES},
        tools=[Link(e, t, url_for(e)) for e, t in app.extensions.get("layout_tools", [])],
    )
