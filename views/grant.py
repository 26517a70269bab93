"""Granting a scope on demand (incremental authorization): `POST /grant`.

A page or action that needs a scope this sign-in was not granted offers to allow it
(`views.registry.grant_offer`): a form posting here with the `scope` and where to come back to
(`next`). This starts a sign-in as `/login` does, asking ilert for the scopes the person has
plus that one, and marks it as a grant. Its callback (`views.auth`) hands it back here:

- `finish`: for the same ilert person, the session moves to a new id with the new tokens
  (more access, as at sign-in: a cookie copied before the grant gets none of it), and the old
  tokens are deleted and their refresh token revoked (`ilert.session_tokens.replacing`).
- `denied`: the person said no at ilert; the session is as it was, with a notice saying so.

Only a scope that a page or action declares is ever asked for.
"""

import logging

from flask import (
    Blueprint,
    current_app,
    flash,
    make_response,
    redirect,
    request,
    session,
    url_for,
)
from werkzeug.wrappers import Response

from config import LANDING_PAGE
from errors import error_page
from ilert import scopes, session_tokens
from ilert.oauth import TokenAnswer
from store import sign_ins
from store.flask_session import current_session
from views import auth, registry

bp = Blueprint("grant", __name__)
log = logging.getLogger(__name__)


@bp.route("/grant", methods=["POST"])
def grant():
    """Send the person to ilert to allow `scope` on top of what this sign-in has."""
    back_to = auth.safe_next(request.form.get("next")) or url_for(LANDING_PAGE)
    refused = registry.refuse_form(back_to)
    if refused is not None:
        return refused
    scope = request.form.get("scope", "")
    if scope not in registry.declared_scopes():
        return error_page(
            400,
            "This app does not ask for that scope",
            "Only a scope that one of its pages or actions needs can be allowed here.",
            error="invalid_scope",
        )
    granted = session_tokens.granted_scopes() or current_app.config["ILERT_SCOPES"]
    response = auth.begin_sign_in(back_to, scopes.adding(granted, scope))
    response.status_code = 303
    return response


def finish(sign_in: sign_ins.PendingSignIn, code: str, tokens: TokenAnswer) -> Response:
    """The callback of a grant, with the tokens ilert issued for it: they replace the
    session's, if the session is still signed in as the same ilert person."""
    signed_in_as = session.get("user", {}).get("id")
    allowed_by = auth._fetch_user(tokens["access_token"])["id"]
    if signed_in_as is None or allowed_by != signed_in_as:
        session_tokens.revoke_quietly(tokens.get("refresh_token"))
        return make_response(_not_applied(signed_in_as, allowed_by))
    tokens.setdefault("scope", sign_in.scopes or "")
    had = session_tokens.granted_scopes()
    added = [s for s in tokens["scope"].split() if not (had and scopes.includes(had, s))]
    words = "; ".join(scopes.describe_scope(scope) for scope in added)
    with session_tokens.replacing(tokens):  # more access: a new session id
        flash(f"Allowed: {words}." if words else "ilert kept what you had allowed.", "info")
        sign_ins.keep_finished(sign_in, code, current_session().sid, dict(session))
    return redirect(sign_in.next or url_for(LANDING_PAGE))


def _not_applied(signed_in_as: str | None, allowed_by: str | None):
    """The page for a grant whose tokens were revoked at once, unused."""
    if signed_in_as is None:
        why, status = "You signed out here before ilert answered.", 400
    elif allowed_by is None:
        why, status = "ilert could not say who allowed it.", 502
    else:
        why, status = "You allowed it as another ilert person than the one signed in here.", 403
    return error_page(
        status, "Nothing was changed", why, error="grant_not_applied", retry=status == 400
    )


def denied(sign_in: sign_ins.PendingSignIn) -> Response:
    """The person did not allow the grant at ilert: nothing changes, and the notice says so."""
    log.info("A grant of more scopes was denied at ilert")
    flash("You did not allow the extra access at ilert: nothing was changed.", "warning")
    return redirect(sign_in.next or url_for(LANDING_PAGE))
