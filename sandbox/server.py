"""The sandbox's Flask app: ilert's OAuth2 endpoints and its main read API, served locally.

It answers on ilert's paths with ilert's shapes, and is as strict as ilert or stricter,
so that a client that works against it works against ilert. Its endpoints are one table,
`API`, at the end of the views: adding an ilert endpoint is adding a row there.
"""

import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from flask import Blueprint, Flask, current_app, jsonify, redirect, render_template, request
from werkzeug.exceptions import MethodNotAllowed, NotFound

from config import DEFAULT_REDIRECT_URI
from ilert.scopes import describe_scope, is_scope
from sandbox import api, data, hooks, ratelimit, writes
from sandbox.description import BY_NAME, RESOURCES
from sandbox.records import Records
from sandbox.statefile import StateFile
from sandbox.tokens import APP_ID, TENANT_ID, OAuthError, TokenStore

CLIENT_ID = "sandbox-client-id"
CLIENT_SECRET = "sandbox-client-secret"  # a public test value, never a real secret
APP_NAME = "Sandbox OAuth2 app"

_AUTHORIZE_PARAMS = (
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
)
_CHALLENGE_ALPHABET = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")

bp = Blueprint("sandbox", __name__)
bp.register_error_handler(api.ApiError, api.api_error)


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


def _state():
    return current_app.extensions["sandbox"]


def _secure_headers(response):
    """Nothing the sandbox says may be cached, framed, or pull in another resource."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    return response


# --- authorize: the consent page -------------------------------------------------------


class _Refused(Exception):
    """An authorization request answered with `response`: an error page or a redirect."""

    def __init__(self, response):
        super().__init__()
        self.response = response


@bp.errorhandler(_Refused)
def _refused(error):
    return error.response


def _error_page(message):
    """A 400 page for a request that cannot be answered with a redirect."""
    return render_template("error.html", message=message), 400


def _redirect_back(redirect_uri, **params):
    """302 to the client's redirect URI with `params` added (None values left out)."""
    query = urlencode({name: value for name, value in params.items() if value is not None})
    return redirect(redirect_uri + ("&" if "?" in redirect_uri else "?") + query)


def _authorization_request():
    """The checked query of an authorization request, else raise _Refused.

    The client and its redirect URI are checked first: until both are known, an error
    may not be sent anywhere, so it is a page. After that, errors go back to the client.
    """
    args = request.args
    if len(args.getlist("client_id")) > 1 or args.get("client_id") != CLIENT_ID:
        raise _Refused(_error_page("The client_id is unknown: no such app is registered."))
    redirect_uri = args.get("redirect_uri")
    if len(args.getlist("redirect_uri")) > 1 or redirect_uri not in _state().redirect_uris:
        raise _Refused(
            _error_page("The redirect_uri is not one registered for this app (exact match).")
        )
    state = args.get("state")

    def refuse(error, description):
        response = _redirect_back(
            redirect_uri, error=error, error_description=description, state=state
        )
        return _Refused(response)

    repeated = [name for name in _AUTHORIZE_PARAMS if len(args.getlist(name)) > 1]
    if repeated:
        raise refuse("invalid_request", f"Parameters given more than once: {', '.join(repeated)}")
    if not args.get("response_type"):
        raise refuse("invalid_request", "response_type is required")
    if args["response_type"] != "code":
        raise refuse("unsupported_response_type", "Only response_type=code is supported")
    scopes = args.get("scope", "").split(" ")
    if not all(is_scope(scope) for scope in scopes):
        raise refuse("invalid_scope", "scope must be space-separated ilert scopes")
    challenge, method = args.get("code_challenge"), args.get("code_challenge_method")
    if challenge is None and method is not None:
        raise refuse("invalid_request", "code_challenge_method given without code_challenge")
    if challenge is not None and method != "S256":
        raise refuse("invalid_request", "code_challenge_method must be S256 (plain is refused)")
    if challenge is not None and not (
        43 <= len(challenge) <= 128 and set(challenge) <= _CHALLENGE_ALPHABET
    ):
        raise refuse("invalid_request", "code_challenge must be 43-128 base64url characters")
    return {"redirect_uri": redirect_uri, "scopes": scopes, "state": state, "challenge": challenge}


def authorize():
    """Ask which person signs in and whether to grant the scopes (GET); answer the client
    with a code or `access_denied` (POST). POST checks the query again."""
    grant = _authorization_request()
    if request.method == "GET":
        return render_template(
            "consent.html",
            app_name=APP_NAME,
            scopes=[describe_scope(scope) for scope in grant["scopes"]],
            people=data.PEOPLE.items(),
            redirect_uri=grant["redirect_uri"],
        )
    user = request.form.get("user")
    if user not in data.PEOPLE:
        return _error_page("Choose one of the sandbox people to sign in as.")
    decision = request.form.get("decision")
    if decision == "allow":
        code = _state().tokens.issue_code(
            client_id=CLIENT_ID,
            redirect_uri=grant["redirect_uri"],
            scope=" ".join(grant["scopes"]),
            user=user,
            challenge=grant["challenge"],
        )
        return _redirect_back(grant["redirect_uri"], code=code, state=grant["state"])
    if decision == "deny":
        return _redirect_back(
            grant["redirect_uri"],
            error="access_denied",
            error_description="The person did not allow the app access",
            state=grant["state"],
        )
    return _error_page("The decision must be allow or deny.")


# --- token, token_info, revoke ---------------------------------------------------------


@bp.errorhandler(OAuthError)
def _oauth_error(error):
    """ilert's error shape: {"code": "invalid_grant", "error": "Provided code is unknown"}."""
    response = jsonify(code=error.code, error=error.description)
    if error.code == "invalid_client":
        response.headers["WWW-Authenticate"] = 'Basic realm="ilert sandbox"'
    return response, error.status


def _form():
    """The form-encoded body, each parameter at most once (RFC 6749 3.2)."""
    if request.mimetype != "application/x-www-form-urlencoded":
        raise OAuthError("invalid_request", "Send the body as application/x-www-form-urlencoded")
    repeated = [name for name in request.form if len(request.form.getlist(name)) > 1]
    if repeated:
        raise OAuthError(
            "invalid_request", f"Parameters given more than once: {', '.join(repeated)}"
        )
    return request.form


def _authenticate_client(form):
    """Check the client's id and secret, from the body or HTTP Basic but not both."""
    header = request.headers.get("Authorization")
    if header is not None:
        auth = request.authorization
        if auth is None or auth.type != "basic" or "client_secret" in form:
            raise OAuthError(
                "invalid_client", "Authenticate the client with HTTP Basic or the body"
            )
        client_id, secret = auth.username, auth.password
    else:
        client_id, secret = form.get("client_id"), form.get("client_secret")
    if client_id != CLIENT_ID or not hmac.compare_digest(
        (secret or "").encode(), CLIENT_SECRET.encode()
    ):
        raise OAuthError("invalid_client", "Client authentication failed")


def token():
    """Turn a code, or a refresh token, into an access token and a new refresh token."""
    form = _form()
    _authenticate_client(form)
    tokens = _state().tokens
    grant_type = form.get("grant_type")
    if grant_type == "authorization_code":
        if not form.get("code"):
            raise OAuthError("invalid_request", "code is required")
        return tokens.exchange_code(
            client_id=CLIENT_ID,
            code=form["code"],
            redirect_uri=form.get("redirect_uri"),
            verifier=form.get("code_verifier"),
        )
    if grant_type == "refresh_token":
        if not form.get("refresh_token"):
            raise OAuthError("invalid_request", "refresh_token is required")
        return tokens.refresh(client_id=CLIENT_ID, refresh_token=form["refresh_token"])
    if not grant_type:
        raise OAuthError("invalid_request", "grant_type is required")
    raise OAuthError(
        "unsupported_grant_type", "grant_type must be authorization_code or refresh_token"
    )


def token_info():
    """What a live access token grants; `{"active": false}` for anything else."""
    grant = _state().tokens.access_token(request.form.get("token", ""))
    if grant is None:
        return {"active": False}
    return {
        "active": True,
        "tenant_id": TENANT_ID,
        "username": grant["user"],
        "scope": grant["scope"],
        "app_id": APP_ID,
    }


def revoke():
    """Revoke a token for an authenticated client (RFC 7009 2.1, as at the token
    endpoint); unknown tokens too answer 200 (RFC 7009 2.2)."""
    form = _form()
    _authenticate_client(form)
    token = form.get("token")
    if not token:
        raise OAuthError("invalid_request", "token is required")
    if form.get("token_type_hint") not in (None, "access_token", "refresh_token"):
        raise OAuthError(
            "unsupported_token_type", "token_type_hint must be access_token or refresh_token"
        )
    _state().tokens.revoke(token)
    return {}


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
)  # fmt: skip

for _endpoint in API:
    bp.add_url_rule(
        _endpoint.path,
        endpoint=_endpoint.name,
        view_func=hooks.counted(_endpoint.name)(
            api.rate_limited(
                _endpoint.view
                if _endpoint.scope is None
                else api.guarded(_endpoint.scope, _endpoint.view)
            )
        ),
        methods=_endpoint.method.split(" "),
    )
