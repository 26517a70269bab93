"""The sandbox's Flask app: ilert's OAuth2 endpoints and its REST API, served locally.

It answers on ilert's paths with ilert's shapes, and is as strict as ilert or stricter,
so that a client that works against it works against ilert. Its endpoints are one table,
`API`, at the end: adding an ilert endpoint is adding a row there (and, for a resource,
a row of `sandbox.description`).
"""

import time
from collections.abc import Callable
from dataclasses import dataclass

from flask import Blueprint, Flask, jsonify, request
from werkzeug.exceptions import MethodNotAllowed, NotFound

from config import DEFAULT_REDIRECT_URI
from sandbox import api, data, hooks, ratelimit, writes
from sandbox.description import BY_NAME, RESOURCES
from sandbox.oauth import (
    CLIENT_ID,
    CLIENT_SECRET,
    OAuthError,
    Refused,
    authorize,
    oauth_error,
    refused,
    revoke,
    token,
    token_info,
)
from sandbox.records import Records
from sandbox.statefile import StateFile
from sandbox.tokens import TokenStore

__all__ = ["API", "CLIENT_ID", "CLIENT_SECRET", "DEFAULT_REDIRECT_URI", "create_app"]


bp = Blueprint("sandbox", __name__)
bp.register_error_handler(api.ApiError, api.api_error)
bp.register_error_handler(Refused, refused)
bp.register_error_handler(OAuthError, oauth_error)


@dataclass
class Sandbox:
    """The state behind one sandbox app, at `app.extensions["sandbox"]`."""

    redirect_uris: list
    tokens: TokenStore
    records: Records
    hooks: hooks.Hooks
    rate_limit: ratelimit.RateLimit
    clock: Callable[[], float]


def new_state(
    redirect_uris=None,
    access_token_ttl=3600,
    code_ttl=120,
    state_file=None,
    clock=time.time,
    rate_limit=ratelimit.DEFAULT,
) -> Sandbox:
    """The state of a new sandbox (see `create_app`)."""
    kept = StateFile(state_file)
    return Sandbox(
        redirect_uris=list(redirect_uris or [DEFAULT_REDIRECT_URI]),
        tokens=TokenStore(access_token_ttl, code_ttl, kept, clock),
        records=Records(kept),
        hooks=hooks.Hooks(endpoint.name for endpoint in API),
        rate_limit=ratelimit.RateLimit(rate_limit, clock),
        clock=clock,
    )


def create_app(
    redirect_uris=None,
    access_token_ttl=3600,
    code_ttl=120,
    state_file=None,
    clock=time.time,
    rate_limit=ratelimit.DEFAULT,
):
    """A sandbox app that accepts `redirect_uris` (default: the app's default one).

    `state_file`, if given, keeps codes, tokens and the account's records across restarts.
    `clock` is what code, access token and refresh token lifetimes are measured on (tests
    pass one they move), and what writes date their changes with. `rate_limit` is ilert's
    by default ("700/min" per client address; "0" switches it off).
    """
    app = Flask(__name__)
    app.extensions["sandbox"] = new_state(
        redirect_uris, access_token_ttl, code_ttl, state_file, clock, rate_limit
    )
    app.register_blueprint(bp)
    app.register_blueprint(hooks.bp)
    app.register_error_handler(NotFound, _not_found)
    app.register_error_handler(MethodNotAllowed, _method_not_allowed)
    app.after_request(_secure_headers)
    return app


def _is_rest(path):
    """Whether `path` is one of ilert's REST API (not its OAuth2 endpoints nor a page)."""
    return path.startswith("/api/") and not path.startswith(f"{_OAUTH}/")


def _not_found(error):
    """ilert's REST error body for an unknown API path, else werkzeug's page."""
    if _is_rest(request.path):
        return api.api_error(api.ApiError(404, f"No such API endpoint: {request.path}"))
    return error


def _method_not_allowed(error):
    """A method a path does not take: ilert's REST error body (or, at the OAuth2
    endpoints, their own shape), with the methods it does take."""
    allow = ", ".join(error.valid_methods or ())
    message = f"{request.method} is not allowed here; use {allow}"
    if _is_rest(request.path):
        response, status = api.api_error(api.ApiError(405, message))
    elif request.path.startswith(f"{_OAUTH}/"):
        response, status = jsonify(code="invalid_request", error=message), 405
    else:
        return error
    response.headers["Allow"] = allow
    return response, status


def _secure_headers(response):
    """Nothing the sandbox says may be cached, framed, or pull in another resource."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    return response


# --- the table of endpoints ------------------------------------------------------------


def users_current(grant):
    """The signed-in person, as `GET /api/users/{id}` has them."""
    person_id: int = data.PEOPLE[grant["user"]]["id"]
    return api.find(BY_NAME["users"], person_id)


@dataclass(frozen=True)
class Endpoint:
    """One row of the API table.

    `name` is the row's key in /_sandbox/stats and its `endpoint` in /_sandbox/faults.
    `scope` is what a bearer token needs: a resource of `ilert.scopes.RESOURCES` (whose
    `:r` lets GET through, `:w` also POST and PUT, `:d` also DELETE) or `profile`; its
    `view` is then called with the token's grant and the path's arguments. None for the
    OAuth endpoints, whose views authenticate the client themselves.
    """

    name: str
    method: str  # several are separated by spaces
    path: str
    scope: str | None
    view: Callable


_OAUTH = "/api/developers/oauth2"
_ALERT, _SOURCE = "/api/alerts/<int:item_id>", "/api/alert-sources/<int:item_id>"
_INCIDENTS = "/api/incidents"

API = (
    Endpoint("authorize", "GET POST", f"{_OAUTH}/authorize", None, authorize),
    Endpoint("token", "POST", f"{_OAUTH}/token", None, token),
    Endpoint("token_info", "POST", f"{_OAUTH}/token_info", None, token_info),
    Endpoint("revoke", "POST", f"{_OAUTH}/revoke", None, revoke),
    Endpoint("users_current", "GET", "/api/users/current", "profile", users_current),
    *(
        row
        for resource in RESOURCES
        for row in (
            Endpoint(resource.name, "GET", resource.path, resource.scope,
                     api.list_view(resource)),
            Endpoint(resource.item, "GET", f"{resource.path}/<int:item_id>", resource.scope,
                     api.item_view(resource)),
        )
    ),
    Endpoint("alert_accept", "PUT", f"{_ALERT}/accept", "alert", writes.accept_alert),
    Endpoint("alert_resolve", "PUT", f"{_ALERT}/resolve", "alert", writes.resolve_alert),
    Endpoint("alert_assign", "PUT", f"{_ALERT}/assign", "alert", writes.assign_alert),
    Endpoint("alert_source_update", "PUT", _SOURCE, "source", writes.update_alert_source),
    Endpoint("alert_source_delete", "DELETE", _SOURCE, "source", writes.delete_alert_source),
    Endpoint("incident_create", "POST", _INCIDENTS, "incident", writes.create_incident),
    Endpoint("incident_update", "PUT", f"{_INCIDENTS}/<int:item_id>", "incident",
             writes.update_incident),
)  # fmt: skip


def _view(endpoint: Endpoint) -> Callable:
    """A row's view as served: counted and faultable, under ilert's API rate limit (all but
    the consent page, which ilert serves on app.ilert.com under its UI limit), and behind
    the bearer token and scope check for rows with a scope."""
    view = endpoint.view if endpoint.scope is None else api.guarded(endpoint.scope, endpoint.view)
    if endpoint.name != "authorize":
        view = api.rate_limited(view)
    return hooks.counted(endpoint.name)(view)


for _endpoint in API:
    bp.add_url_rule(
        _endpoint.path,
        endpoint=_endpoint.name,
        view_func=_view(_endpoint),
        methods=_endpoint.method.split(" "),
    )
