"""The sandbox's API rows: a bearer token with the row's scope gets the row's data, in pages
as ilert serves lists; anything else is refused in ilert's `{"code", "error"}` shape."""

import re

from flask import current_app, jsonify, request

from ilert.scopes import grants, required_scope

MAX_RESULTS = 100  # ilert's most entries per page of a list
DEFAULT_MAX_RESULTS = 50  # ilert-go's default for `max-results`
_WHOLE_NUMBER = re.compile(r"[0-9]{1,9}")


class ApiError(Exception):
    """An API call refused in ilert's shape, e.g. 401 {"code": "UNAUTHORIZED", ...}."""

    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def api_error(error: "ApiError"):
    """ilert's shape of a refused API call: `{"code": ..., "error": ...}`."""
    response = jsonify(code=error.code, error=error.message)
    if error.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="ilert sandbox"'
    return response, error.status


def bearer_grant():
    """The grant behind the request's `Authorization: Bearer` token, else 401."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ApiError(
            401, "UNAUTHORIZED", "An Authorization: Bearer <access token> header is required"
        )
    grant = current_app.extensions["sandbox"].tokens.access_token(token)
    if grant is None:
        raise ApiError(401, "UNAUTHORIZED", "The access token is unknown, expired or revoked")
    return grant


def page(items):
    """The entries of a list that ilert's paging parameters ask for (`start-index` from 0,
    `max-results` from 1 to 100, default 50); 400 for a value out of range."""
    start = paging("start-index", 0, 0, None)
    size = paging("max-results", DEFAULT_MAX_RESULTS, 1, MAX_RESULTS)
    return items[start : start + size]


def paging(name, default, lowest, highest):
    """A paging parameter: a whole number from `lowest` up to `highest` (None: no
    limit), else 400 in ilert's shape."""
    text = request.args.get(name)
    if text is None:
        return default
    value = int(text) if _WHOLE_NUMBER.fullmatch(text) else -1
    if value < lowest or (highest is not None and value > highest):
        limit = f"from {lowest}" + (f" to {highest}" if highest is not None else "")
        raise ApiError(400, "BAD_REQUEST", f"{name} must be a whole number {limit}")
    return value


def resource_view(endpoint):
    """The view of an API row: a live bearer token with the row's scope gets its data."""

    def view():
        grant = bearer_grant()
        if not grants(grant["scope"], endpoint.scope, request.method):
            needed = required_scope(endpoint.scope, request.method)
            raise ApiError(
                403,
                "FORBIDDEN",
                f"The scope {needed} (or one that includes it) is required for "
                f"{request.method} {endpoint.path}: this token has '{grant['scope']}'",
            )
        if isinstance(endpoint.data, dict):
            return endpoint.data[grant["user"]]
        return jsonify(page(endpoint.data))

    view.__doc__ = f"{endpoint.method} {endpoint.path}, for a token with {endpoint.scope}."
    return view
