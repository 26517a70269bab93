"""What a signed-in person sees and does: the home page, the pages that call ilert for them,
and the actions (buttons) that change something at ilert.

To add a page of your own, write a view with `@page(...)` that calls `client.get(...)` and
`respond(...)`, and its template; to add an action, a view with `@action(...)` that calls
`client.put(...)` (or `post`, `delete`) and returns what it did, and a `post_form` button on
its page (README, "Add a page of your own"). `views.registry` lists both for the navigation,
`/grant` and the tests.
"""

from datetime import UTC, datetime

from flask import current_app, jsonify, make_response, render_template, request, session

import presentation
import store
from config import LOGOUT_NOTICE_COOKIE
from errors import wants_json
from ilert import client
from store.flask_session import cookie_name
from views.registry import FormError, action, bp, page, respond

LOGOUT_NOTICES = {
    "revoked": ("info", "You are signed out."),
    "not_revoked": (
        "warning",
        "You are signed out here, but ilert could not be reached to revoke this app's "
        "access. You can remove it in your ilert profile settings.",
    ),
}
OPEN_ALERTS = ["PENDING", "ACCEPTED"]  # ilert's alert states that are not RESOLVED


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
      "GET /api/users/current", scope="profile")  # fmt: skip
def me():
    """The signed-in person's ilert profile."""
    user = client.get("/api/users/current")
    if wants_json():
        return jsonify(user)
    return render_template("me.html", profile=presentation.profile(user))


@page("/token-info", "Token info", "The scopes you granted and when the access token expires.",
      "POST /api/developers/oauth2/token_info", scope=None)  # fmt: skip
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


@page("/alert-sources", "Alert sources", "Your alert sources, each to switch off and on.",
      "GET /api/alert-sources", scope="source:r")  # fmt: skip
def alert_sources():
    """The person's alert sources, a page at a time (`?start=`): a second API call through the
    same client."""
    listing = client.get_page("/api/alert-sources", request.args.get("start", 0, type=int))
    return respond(listing.items, "alert_sources.html", listing=listing)


@action("/alert-sources/<int:source_id>/active", scope="source:w", back="alert_sources")
def switch_alert_source(source_id: int) -> str:
    """Switch an alert source on (`active=true`) or off (`active=false`) at ilert."""
    active = {"true": True, "false": False}.get(request.form.get("active", ""))
    if active is None:
        raise FormError("The field active must be true or false.")
    source = client.get(f"/api/alert-sources/{source_id}")
    client.put(f"/api/alert-sources/{source_id}", {**source, "active": active})
    return f"{source.get('name', 'The alert source')} is switched {'on' if active else 'off'}."


@page("/alerts", "Alerts", "Your open alerts, each to accept or resolve.",
      "GET /api/alerts", scope="alert:r")  # fmt: skip
def alerts():
    """The person's open alerts, a page at a time (`?start=`)."""
    listing = client.get_page(
        "/api/alerts", request.args.get("start", 0, type=int), params={"states": OPEN_ALERTS}
    )
    return respond(listing.items, "alerts.html", listing=listing)


@action("/alerts/<int:alert_id>/accept", scope="alert:w", back="alerts")
def accept_alert(alert_id: int) -> str:
    """Accept an alert at ilert: the person is on it."""
    return f"Accepted: {_summary(client.put(f'/api/alerts/{alert_id}/accept'), alert_id)}."


@action("/alerts/<int:alert_id>/resolve", scope="alert:w", back="alerts")
def resolve_alert(alert_id: int) -> str:
    """Resolve an alert at ilert: it is over."""
    return f"Resolved: {_summary(client.put(f'/api/alerts/{alert_id}/resolve'), alert_id)}."


def _summary(alert: object, alert_id: int) -> str:
    """An alert's summary from ilert's answer, or its id if the answer had none."""
    summary = alert.get("summary") if isinstance(alert, dict) else None
    return str(summary) if summary else f"alert {alert_id}"
