"""What a signed-in person sees: the home page and the pages that call ilert for them.

`PAGES` is the one list of pages: the `@page` decorator that makes a page also lists it, and
the list drives the navigation and the home page's cards. To add a page of your own, write a
view with `@page(...)` that calls `client.get(...)` and `respond(...)`, and its template
(README, "Add a page of your own").
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache, wraps
from typing import Any

from flask import (
    Blueprint,
    current_app,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

import presentation
import store
from config import LOGOUT_NOTICE_COOKIE
from errors import json_error, wants_json
from ilert import client
from store.flask_session import cookie_name

LOGOUT_NOTICES = {
    "revoked": ("info", "You are signed out."),
    "not_revoked": (
        "warning",
        "You are signed out here, but ilert could not be reached to revoke this app's "
        "access. You can remove it in your ilert profile settings.",
    ),
}

bp = Blueprint("pages", __name__)


@dataclass(frozen=True)
class Page:
    """A page in the navigation and on the home page."""

    endpoint: str  # e.g. "pages.me"
    title: str  # the link's text
    summary: str  # one sentence on the home page
    call: str  # what it asks ilert, as the home page shows it


PAGES: list[Page] = []


def page(rule: str, title: str, summary: str, call: str) -> Callable:
    """Make a view a page for signed-in people at `rule`, listed in `PAGES`."""

    def register(view: Callable) -> Callable:
        PAGES.append(Page(f"{bp.name}.{view.__name__}", title, summary, call))
        return bp.route(rule)(signed_in(view))

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


@bp.route("/")
def home():
    """A sign-in button, or the signed-in person's name (remembered at sign-in) and cards."""
    notice_cookie = cookie_name(LOGOUT_NOTICE_COOKIE)
    notice = LOGOUT_NOTICES.get(request.cookies.get(notice_cookie, ""))
    response = make_response(
        render_template("home.html", user=session.get("user"), logout_notice=notice)
    )
    if notice:
        response.delete_cookie(
            notice_cookie, path="/", secure=current_app.config["SESSION_COOKIE_SECURE"]
        )
    return response


@page("/me", "Profile", "Who ilert says you are: name, email, role, timezone.",
      "GET /api/users/current")  # fmt: skip
def me():
    """The signed-in person's ilert profile."""
    user = client.get("/api/users/current")
    if wants_json():
        return jsonify(user)
    return render_template("me.html", profile=presentation.profile(user))


@page("/token-info", "Token info", "The scopes you granted and when the access token expires.",
      "POST /api/developers/oauth2/token_info")  # fmt: skip
def token_info():
    """What ilert knows about the current access token (never the token itself)."""
    info, tokens = client.token_info()
    return respond(
        info,
        "token_info.html",
        info=info,
        expires=datetime.fromtimestamp(tokens["expires_at"], UTC),
        expires_in_words=presentation.in_words(int(tokens["expires_at"] - store.now())),
        refreshes=bool(tokens.get("refresh_token")),
        scopes=presentation.scopes(info.get("scope")),
    )


@page("/alert-sources", "Alert sources", "A second API call with the same token.",
      "GET /api/alert-sources")  # fmt: skip
def alert_sources():
    """The person's alert sources: a second API call through the same client."""
    sources = client.get("/api/alert-sources")
    return respond(sources, "alert_sources.html", sources=sources)


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
    pages: list[Link]  # for signed-in people: PAGES
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
        pages=[Link(p.endpoint, p.title, url_for(p.endpoint), p.summary, p.call) for p in PAGES],
        tools=[Link(e, t, url_for(e)) for e, t in app.extensions.get("layout_tools", [])],
    )
