"""ilert's OAuth2 "backend app" flow, one function per step of ilert's guide.

1. `authorize_url`: where to send the person to sign in and grant scopes.
2. `exchange_code`: turn the returned code into tokens, with the client secret.
3. `call_api`: call the ilert API with `Authorization: Bearer <access token>`.
4. `refresh`: get a new access token (and a new refresh token) before it expires.
5. `token_info`: what ilert knows about an access token.
6. `revoke`: revoke the refresh token, at logout (and one in a token answer refused here).

Settings come from `current_app.config`; nothing here touches `flask.session` (views call
ilert through `ilert.client`, which keeps the tokens fresh). Every upstream call but a revoke
takes its turn from the deployment's budget (`ilert/budget.py`) and goes through one pooled
`requests.Session` (`ilert/upstream.py`) with `HTTP_TIMEOUT`; a 429 pauses the budget.
Whatever goes wrong becomes an `IlertError` that says which HTTP status our own answer should
have.

Each step is announced on the `ilert_called` signal (the flow inspector and tracing.py listen),
with what was sent and the answer: receivers must hide the secrets in them.
"""

import base64
import hashlib
import logging
import re
import time
from typing import Any, NotRequired, TypedDict
from urllib.parse import urlencode

import requests
from blinker import Namespace
from flask import current_app
from urllib3.exceptions import NewConnectionError

import metrics

AUTHORIZE_PATH = "/api/developers/oauth2/authorize"
TOKEN_PATH = "/api/developers/oauth2/token"
TOKEN_INFO_PATH = "/api/developers/oauth2/token_info"
REVOKE_PATH = "/api/developers/oauth2/revoke"
MAX_TOKEN_LIFETIME = 24 * 3600  # the longest expires_in believed: ilert's tokens live an hour
TOKEN_TEXTS = ("access_token", "refresh_token", "scope")  # what a token answer has as text
# Retry-After as whole seconds (RFC 9110 10.2.3), ASCII digits only: str.isdigit takes "²".
# An HTTP date, or anything else, counts as no Retry-After.
RETRY_AFTER = re.compile(r"[0-9]{1,9}")

ilert_called = Namespace().signal("ilert-called")

log = logging.getLogger(__name__)


class TokenAnswer(TypedDict):
    """A checked answer of the token endpoint."""

    access_token: str
    token_type: str
    expires_in: int
    refresh_token: NotRequired[str]
    refresh_token_expires_in: NotRequired[int]
    scope: NotRequired[str]


class IlertError(Exception):
    """An upstream call failed.

    `status` is the status our own answer should have (400 a refused request,
    401 a dead token, 403 a missing scope or consent, 502 a bad answer, 503
    unreachable or rate limited, 504 a timeout); `error` a short machine code;
    `description` a sentence for people. `answer_lost` is true when the request
    may have reached ilert but its answer never came back, so a refresh token
    sent with it may already be spent.
    """

    def __init__(self, status, error, description, retry_after=None, answer_lost=False):
        super().__init__(f"{error}: {description}")
        self.status = status
        self.error = error
        self.description = description
        self.retry_after = retry_after
        self.answer_lost = answer_lost


def pkce_challenge(verifier: str) -> str:
    """The S256 challenge of a PKCE code verifier (RFC 7636 4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorize_url(state: str, code_challenge: str | None = None, scope: str | None = None) -> str:
    """Step 1: the URL that sends the person to ilert to sign in and grant scopes
    (`scope`, space-separated; by default ILERT_SCOPES)."""
    call = authorize_call(state, code_challenge, scope)
    _announce(call)
    return f"{call['url']}?{urlencode(call['sent'])}"


def authorize_call(state: str, code_challenge: str | None = None, scope: str | None = None) -> dict:
    """Step 1 as the `ilert_called` signal describes a call: where, and what is sent."""
    config = current_app.config
    params = {
        "client_id": config["ILERT_CLIENT_ID"],
        "response_type": "code",
        "redirect_uri": config["ILERT_REDIRECT_URI"],
        "scope": scope or config["ILERT_SCOPES"],
        "state": state,
    }
    if code_challenge is not None:
        params["code_challenge"] = code_challenge
        params["code_challenge_method"] = "S256"
    url = f"{config['ILERT_AUTH_URL']}{AUTHORIZE_PATH}"
    return {"step": "1. Send the person to ilert", "method": "GET", "url": url, "sent": params}


def exchange_code(code: str, code_verifier: str | None = None) -> TokenAnswer:
    """Step 2: turn the authorization code into tokens, with the client secret."""
    config = current_app.config
    form = {
        "client_id": config["ILERT_CLIENT_ID"],
        "client_secret": config["ILERT_CLIENT_SECRET"],
        "code": code,
        "grant_type": "authorization_code",
        "redirect_uri": config["ILERT_REDIRECT_URI"],
    }
    if code_verifier is not None:
        form["code_verifier"] = code_verifier
    return _token_answer(_send("POST", TOKEN_PATH, "2. Turn the code into tokens", data=form))


def call_api(
    method: str,
    path: str,
    access_token: str,
    params: dict | None = None,
    body: dict | None = None,
) -> Any:
    """Step 3: call the ilert API on the person's behalf, with `body` as JSON; returns the
    decoded JSON answer. A write's 2xx is success whatever its body (None if it is not JSON):
    what was asked is done."""
    headers = {"Authorization": f"Bearer {access_token}"}
    response = _send(
        method, path, "3. Call the ilert API", headers=headers, params=params, body=body
    )
    if method == "GET":
        return _json(response)
    try:
        return response.json()
    except ValueError:
        return None


def refresh(refresh_token: str) -> TokenAnswer:
    """Step 4: a new access token (and a new refresh token, which replaces the old one)."""
    config = current_app.config
    form = {
        "client_id": config["ILERT_CLIENT_ID"],
        "client_secret": config["ILERT_CLIENT_SECRET"],
        "refresh_token": refresh_token,
        "grant_type": "refresh_token",
    }
    try:
        tokens = _token_answer(_send("POST", TOKEN_PATH, "4. Refresh the access token", data=form))
    except IlertError as error:
        metrics.REFRESHES.labels(error.error if error.error == "invalid_grant" else "failed").inc()
        raise
    metrics.REFRESHES.labels("refreshed").inc()
    return tokens


def token_info(access_token: str) -> dict:
    """Step 5: what ilert knows about an access token (active, tenant, user, scope, app)."""
    form = {"token": access_token}
    return _json(_send("POST", TOKEN_INFO_PATH, "5. Ask about the access token", data=form))


def revoke(refresh_token: str) -> None:
    """Step 6: revoke a refresh token (and the access tokens made with it), authenticated
    with the client secret as at the token endpoint (RFC 7009 2.1)."""
    config = current_app.config
    form = {
        "token": refresh_token,
        "token_type_hint": "refresh_token",
        "client_id": config["ILERT_CLIENT_ID"],
        "client_secret": config["ILERT_CLIENT_SECRET"],
    }
    try:
        _send("POST", REVOKE_PATH, "6. Revoke the refresh token", data=form, budgeted=False)
    except IlertError:
        metrics.REVOKES.labels("failed").inc()
        raise
    metrics.REVOKES.labels("revoked").inc()


def _token_answer(response):
    """A token answer, checked, with `expires_in` as a whole number of seconds. One this app
    cannot use counts as lost: the refresh token sent for it may be spent. A refresh token in
    it is revoked: ilert issued it, and nothing here will ever use it or revoke it later."""
    tokens = _json(response)
    try:
        return _checked(tokens)
    except IlertError:
        refresh_token = tokens.get("refresh_token") if isinstance(tokens, dict) else None
        if isinstance(refresh_token, str) and refresh_token:
            try:
                revoke(refresh_token)
            except IlertError as error:
                log.warning(
                    "The refresh token of a refused token answer was not revoked: %s", error
                )
        raise


def _checked(tokens):
    """`tokens` if this app can use them (RFC 6749 5.1), else a `bad_token_answer`."""
    if not isinstance(tokens, dict) or not tokens.get("access_token"):
        raise _bad_token_answer("had no access token")
    if any(not isinstance(tokens.get(key), str | None) for key in TOKEN_TEXTS):
        raise _bad_token_answer("had a token or scope that was not text")
    for key in TOKEN_TEXTS:  # null as if not said: no refresh token, ilert decides the scope
        if tokens.get(key) is None:
            tokens.pop(key, None)
    token_type = tokens.get("token_type")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        # RFC 6749 §7.1: a client must not use a token whose type it does not understand.
        raise _bad_token_answer("was not for a Bearer token, the only kind this app can use")
    try:
        lifetime = int(tokens.get("expires_in", 3600))
    except (TypeError, ValueError, OverflowError):  # OverflowError: JSON's Infinity
        raise _bad_token_answer("had a malformed expires_in") from None
    tokens["expires_in"] = min(lifetime, MAX_TOKEN_LIFETIME)
    return tokens


def _bad_token_answer(what: str) -> IlertError:
    return IlertError(502, "bad_token_answer", f"ilert's token answer {what}.", answer_lost=True)


def _send(method, path, step, data=None, headers=None, params=None, body=None, budgeted=True):
    """Send one request to ilert's API origin (a form in `data`, or JSON in `body`);
    non-2xx answers raise IlertError. Unless `budgeted` is false (a revoke: rare, and one
    held back leaves a refresh token alive for as long as it lives), it takes its turn."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    url = app.config["ILERT_API_URL"] + path
    timeout = app.config["HTTP_TIMEOUT"]
    connect_timeout = min(timeout, max(1.0, timeout - 3))
    budget = app.extensions["ilert_budget"]  # ilert/budget.py; None when off
    if budget is not None and budgeted:
        budget.take_turn()
    call = {"step": step, "method": method, "url": url, "sent": data or {}, "started": time.time()}
    if headers:
        call["sent"] = {"Authorization": "Bearer [hidden]", **(params or {}), **(body or {})}
    try:
        response = app.extensions["ilert_http"].request(
            method,
            url,
            data=data,
            json=body,
            params=params,
            headers=headers,
            timeout=(connect_timeout, timeout),
            allow_redirects=False,
        )
    except requests.ConnectTimeout:
        _finish(call, "connect timeout")
        unreached = f"ilert could not be reached within {connect_timeout:g} seconds."
        raise IlertError(504, "upstream_timeout", unreached) from None
    except requests.Timeout:
        _finish(call, "timeout")
        raise IlertError(
            504,
            "upstream_timeout",
            f"ilert did not answer within {timeout:g} seconds.",
            answer_lost=True,
        ) from None
    except requests.ConnectionError as error:
        _finish(call, "unreachable")
        if _never_connected(error):
            raise IlertError(503, "upstream_unreachable", "ilert could not be reached.") from None
        dropped = "ilert closed the connection without an answer."
        raise IlertError(502, "upstream_dropped", dropped, answer_lost=True) from None
    except requests.RequestException:  # for example an answer cut off in its body
        _finish(call, "broken answer")
        raise IlertError(
            502, "upstream_dropped", "ilert's answer broke off.", answer_lost=True
        ) from None
    _finish(call, response.status_code, response)
    if not 200 <= response.status_code < 300:
        failure = _error_from(response)
        if response.status_code == 429:
            metrics.RATE_LIMITED.inc()
        if response.status_code == 429 and budget is not None:
            failure.retry_after = str(budget.pause(failure.retry_after))
            log.warning("ilert answered 429: no calls to ilert for %s s", failure.retry_after)
        raise failure
    return response


def _never_connected(error):
    """True if the request never reached the server (refused, DNS), so nothing was spent."""
    reason = error.args[0] if error.args else None
    reason = getattr(reason, "reason", reason)
    return isinstance(reason, NewConnectionError)


def _finish(call, outcome, response=None):
    """Log the call at DEBUG (URLs we build never carry a secret) and announce it."""
    seconds = time.time() - call["started"]
    call["ms"] = round(seconds * 1000)
    call["status"] = outcome
    calls, latency = metrics.ilert_call_series(call["method"], call["url"], str(outcome))
    calls.inc()
    latency.observe(seconds)
    log.debug("%s %s -> %s in %d ms", call["method"], call["url"], outcome, call["ms"])
    _announce(call, response)


def _announce(call, response=None):
    if ilert_called.receivers:
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        ilert_called.send(app, call=call, response=response)


def _json(response):
    """The answer's JSON. A 2xx answer we cannot read counts as lost: for a refresh, ilert
    may already have replaced the refresh token we sent."""
    try:
        return response.json()
    except ValueError:
        raise IlertError(
            502,
            "bad_upstream_answer",
            f"ilert answered {response.status_code} without valid JSON.",
            answer_lost=True,
        ) from None


def _error_from(response):
    """Map an error answer, in ilert's or the standard OAuth shape, to an IlertError."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {}
    if "code" in body:
        # ilert's OAuth2 endpoints: {"code": "invalid_grant", "error": "Provided code is
        # unknown"}; its REST API: {"status": 404, "message": "...", "code": "NOT_FOUND"}
        error, description = body.get("code"), body.get("error") or body.get("message")
    else:  # RFC 6749: {"error": "invalid_grant", "error_description": "..."}, or REST's
        error, description = body.get("error"), body.get("error_description") or body.get("message")
    error = str(error or f"http_{response.status_code}")
    description = str(description or f"ilert answered with HTTP {response.status_code}.")
    status = response.status_code
    retry_after = response.headers.get("Retry-After", "")
    retry_after = retry_after if RETRY_AFTER.fullmatch(retry_after) else None
    if status == 429:
        return IlertError(503, "rate_limited", "ilert asks us to slow down.", retry_after)
    if status == 503:
        return IlertError(503, error, "ilert is temporarily unavailable.", retry_after)
    if status < 400:
        return IlertError(502, "unexpected_answer", f"ilert answered with HTTP {status}.")
    if status >= 500:
        return IlertError(502, error, description)
    if error in ("invalid_grant", "invalid_token", "UNAUTHORIZED") or status == 401:
        return IlertError(401 if status == 401 else 400, error, description)
    return IlertError(status if status in (400, 403, 404, 409, 412) else 400, error, description)
