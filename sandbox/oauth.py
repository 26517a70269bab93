"""ilert's OAuth2 endpoints as the sandbox serves them: the consent page (authorize), token,
token_info and revoke, in the shapes of ilert's guide (its errors are `{"code", "error"}`).

The sandbox is stricter than ilert in one deliberate way: revoke requires the client's
authentication, as RFC 7009 2.1 asks of a confidential client.
"""

import hmac
from urllib.parse import urlencode

from flask import current_app, jsonify, redirect, render_template, request

from ilert.scopes import describe_scope, is_scope
from sandbox import data
from sandbox.tokens import APP_ID, TENANT_ID, OAuthError

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


def _state():
    return current_app.extensions["sandbox"]


# --- authorize: the consent page -------------------------------------------------------


class Refused(Exception):
    """An authorization request answered with `response`: an error page or a redirect."""

    def __init__(self, response):
        super().__init__()
        self.response = response


def refused(error):
    return error.response


def _error_page(message):
    """A 400 page for a request that cannot be answered with a redirect."""
    return render_template("error.html", message=message), 400


def _redirect_back(redirect_uri, **params):
    """302 to the client's redirect URI with `params` added (None values left out)."""
    query = urlencode({name: value for name, value in params.items() if value is not None})
    return redirect(redirect_uri + ("&" if "?" in redirect_uri else "?") + query)


def _authorization_request():
    """The checked query of an authorization request, else raise Refused.

    The client and its redirect URI are checked first: until both are known, an error
    may not be sent anywhere, so it is a page. After that, errors go back to the client.
    """
    args = request.args
    if len(args.getlist("client_id")) > 1 or args.get("client_id") != CLIENT_ID:
        raise Refused(_error_page("The client_id is unknown: no such app is registered."))
    redirect_uri = args.get("redirect_uri")
    if len(args.getlist("redirect_uri")) > 1 or redirect_uri not in _state().redirect_uris:
        raise Refused(
            _error_page("The redirect_uri is not one registered for this app (exact match).")
        )
    state = args.get("state")

    def refuse(error, description):
        response = _redirect_back(
            redirect_uri, error=error, error_description=description, state=state
        )
        return Refused(response)

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


def oauth_error(error):
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
