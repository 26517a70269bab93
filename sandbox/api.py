"""How the sandbox answers ilert's REST API: bearer tokens, scopes, errors, lists and single GETs.

A bearer token with the row's scope gets the row's data; anything else is refused in ilert's
REST error shape, `{"status": 404, "message": "...", "code": "NOT_FOUND"}` (ilert-go client.go,
GenericAPIError), JSON for every status. Lists are paged as ilert pages them (`start-index`
from 0, `max-results` up to the resource's maximum), narrowed by its filters, and leave out
the fields ilert sends only on `include=`.
"""

import hashlib
import json
import re
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import current_app, jsonify, request

from ilert.scopes import grants, required_scope
from sandbox.description import Filter, Resource, parse_time

_WHOLE_NUMBER = re.compile(r"[0-9]{1,9}")
# The `code` of each error status: ilert-go names the statuses, not the codes, so these
# are the HTTP reason phrases in ilert's upper-case style.
CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    412: "PRECONDITION_FAILED",
    429: "TOO_MANY_REQUESTS",
}


class ApiError(Exception):
    """An API call refused in ilert's shape, e.g. 404 {"code": "NOT_FOUND", ...}."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


def api_error(error: ApiError):
    """ilert's REST error body: `{"status", "message", "code"}`."""
    response = jsonify(status=error.status, message=error.message, code=CODES[error.status])
    if error.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="ilert sandbox"'
    response.headers.update(error.headers)
    return response, error.status


def bearer_grant() -> dict:
    """The grant behind the request's `Authorization: Bearer` token, else 401."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "An Authorization: Bearer <access token> header is required")
    grant = current_app.extensions["sandbox"].tokens.access_token(token)
    if grant is None:
        raise ApiError(401, "The access token is unknown, expired or revoked")
    return grant


def guarded(scope: str, view: Callable[..., Any]) -> Callable[..., Any]:
    """`view(grant, **path arguments)` for requests with a live bearer token whose scopes
    let the request's method through to an endpoint guarded by `scope`; 401 or 403 before
    anything else otherwise."""

    @wraps(view)
    def checked(**kwargs):
        grant = bearer_grant()
        if not grants(grant["scope"], scope, request.method):
            needed = required_scope(scope, request.method)
            raise ApiError(
                403,
                f"The scope {needed} (or one that includes it) is required for "
                f"{request.method} {request.path}: this token has '{grant['scope']}'",
            )
        return view(grant, **kwargs)

    return checked


def rate_limited(view: Callable[..., Any]) -> Callable[..., Any]:
    """`view`, unless the client's address has used up ilert's rate limit for now: then
    429 in ilert's shape, with `Retry-After` the seconds until its window ends."""

    @wraps(view)
    def limited(**kwargs):
        limit = current_app.extensions["sandbox"].rate_limit
        wait = limit.wait(request.remote_addr or "")
        if wait is not None:
            raise ApiError(
                429,
                f"Too many requests: ilert allows {limit.text} from one address; "
                f"try again in {wait} s",
                headers={"Retry-After": str(wait)},
            )
        return view(**kwargs)

    return limited


def paging(name: str, default: int, lowest: int, highest: int | None) -> int:
    """A paging parameter: a whole number from `lowest` up to `highest` (None: no
    limit), else 400 in ilert's shape."""
    text = request.args.get(name)
    if text is None:
        return default
    value = int(text) if _WHOLE_NUMBER.fullmatch(text) else -1
    if value < lowest or (highest is not None and value > highest):
        limit = f"from {lowest}" + (f" to {highest}" if highest is not None else "")
        raise ApiError(400, f"{name} must be a whole number {limit}")
    return value


def page(resource: Resource, rows: list, include: set[str]) -> list:
    """The rows that ilert's paging parameters ask for."""
    highest = resource.max_page
    if include and resource.max_page_with_include is not None:
        highest = resource.max_page_with_include
    start = paging("start-index", 0, 0, None)
    size = paging("max-results", min(resource.default_page, highest), 1, highest)
    return rows[start : start + size]


def included(allowed: tuple[str, ...]) -> set[str]:
    """The fields `include=` asks for (repeated or comma-separated); 400 for others."""
    asked = {name for value in request.args.getlist("include") for name in value.split(",")}
    unknown = sorted(asked - set(allowed))
    if unknown:
        known = ", ".join(allowed) or "none"
        raise ApiError(400, f"include does not know {', '.join(unknown)} here (known: {known})")
    return asked


def shown(resource: Resource, row: dict, include: set[str], single: bool) -> dict:
    """A row as the list or the single GET sends it: without the include-only fields not
    asked for, and (in a list) without the fields only the single GET has."""
    hidden = set(resource.include) - include - set(resource.options)
    if not single:
        hidden |= set(resource.list_omits)
    return {key: value for key, value in row.items() if key not in hidden}


def _values_at(row: Any, path: tuple[str, ...]) -> list:
    """The values at `path` in a row, looking into every entry of a list on the way."""
    if not path:
        return [row]
    if isinstance(row, list):
        return [value for entry in row for value in _values_at(entry, path)]
    if not isinstance(row, dict) or row.get(path[0]) is None:
        return []
    return _values_at(row[path[0]], path[1:])


def _matcher(rule: Filter):
    """A test of one row for one filter, from the request's values; 400 for bad ones."""
    given = request.args.getlist(rule.param)
    if rule.single and len(given) > 1:
        raise ApiError(400, f"{rule.param} may be given once only")
    texts = [text for value in given for text in value.split(",")]
    if rule.compare != "in":
        bound = parse_time(texts[0]) if len(texts) == 1 else None
        if bound is None:
            raise ApiError(
                400, f"{rule.param} must be one ISO-8601 date-time, e.g. 2021-05-25T21:24:56.771Z"
            )

        def in_time(row):
            moments = [parse_time(value) for value in _values_at(row, rule.path) if value]
            return any(
                moment is not None
                and (moment >= bound if rule.compare == "from" else moment < bound)
                for moment in moments
            )

        return in_time
    if rule.kind is int:
        if not all(_WHOLE_NUMBER.fullmatch(text) for text in texts):
            raise ApiError(400, f"{rule.param} must be numeric ids")
        wanted: set = {int(text) for text in texts}
    else:
        wanted = set(texts)
        if rule.values and not wanted <= set(rule.values):
            raise ApiError(400, f"{rule.param} must be among {', '.join(rule.values)}")
    return lambda row: bool(wanted & set(_values_at(row, rule.path)))


def narrowed(resource: Resource, rows: list) -> list:
    """The rows every filter given in the query lets through."""
    tests = [_matcher(rule) for rule in resource.filters if rule.param in request.args]
    return [row for row in rows if all(test(row) for test in tests)]


def list_view(resource: Resource):
    """GET of a resource's list: narrowed, paged, include-only fields left out."""

    def view(grant: dict):
        include = included(resource.list_include)
        rows = current_app.extensions["sandbox"].records.rows(resource.name)
        rows = page(resource, narrowed(resource, rows), include)
        return jsonify([shown(resource, row, include, single=False) for row in rows])

    view.__doc__ = f"GET {resource.path}, for a token with {resource.scope}."
    return view


def item_view(resource: Resource):
    """GET of one entry of a resource by id: 404 in ilert's shape for an unknown one."""

    def view(grant: dict, item_id: int):
        include = included(resource.include + resource.options)
        row = find(resource, item_id)
        response = jsonify(shown(resource, row, include, single=True))
        if resource.etag:
            response.headers["ETag"] = etag(row)
        return response

    view.__doc__ = f"GET {resource.path}/<id>, for a token with {resource.scope}."
    return view


def etag(row: dict) -> str:
    """The entity tag of a row as it is now (a strong one: any change changes it)."""
    digest = hashlib.sha256(json.dumps(row, sort_keys=True).encode()).hexdigest()
    return f'"{digest[:24]}"'


def find(resource: Resource, item_id: int) -> dict:
    """The row with this id, else 404."""
    row = current_app.extensions["sandbox"].records.get(resource.name, item_id)
    if row is None:
        raise ApiError(404, f"No {resource.item.replace('_', ' ')} with id {item_id}")
    return row
