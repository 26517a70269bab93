"""The one way views call ilert for the signed-in person: `get`, `get_page` (one page of a
list), the writes `post`, `put` and `delete`, and `token_info`.

Reads are checked for their shape, an object (`get`, `token_info`) or a list of objects
(`get_page`): any other answer is a 502, as one that is not JSON is. What the fields hold is
for the page to check (presentation.py, the templates).

Writes are sent once: a write whose answer is lost (a timeout, a dropped connection) is never
sent again, since ilert may have done it (`OutcomeUnknown`), and a write ilert refuses (400,
409, 412) is `Refused` with ilert's reason, for the person to read.

Before a call, the access token is refreshed if it is about to expire; if ilert still answers
401, it is refreshed once more and the call retried once (`ilert.session_tokens` keeps the
tokens and runs each refresh once per session).
"""

from dataclasses import dataclass
from typing import Any

from ilert import cache, oauth, scopes, session_tokens
from ilert.oauth import IlertError
from ilert.session_tokens import TokenSet
from store.flask_session import current_session

# Entries per page of a list: ilert's smallest page (schedules: 20; incidents and services 25
# with `include`, else 100), so that every list of ilert's API takes it as it is.
PAGE_SIZE = 20
MAX_START = 1_000_000  # the furthest a list is paged into
REFUSED_STATUSES = (400, 409, 412)  # a write ilert refused: a bad value, a conflict, stale


class MissingScope(IlertError):
    """ilert answered 403: this sign-in may not make the call. `needed` is the scope the
    path needs by ilert's scope table (None if the table does not know the path)."""

    def __init__(self, error: IlertError, needed: str | None) -> None:
        super().__init__(403, error.error, error.description)
        self.needed = needed


class Refused(IlertError):
    """ilert refused a write (400, 409 or 412); `description` is ilert's reason."""


class OutcomeUnknown(IlertError):
    """A write was sent but its answer was lost: ilert may or may not have done it."""


@dataclass(frozen=True)
class ListPage:
    """One page of an ilert list: `items` from index `start`, and whether more follow."""

    items: list
    start: int
    size: int
    more: bool

    @property
    def previous_start(self) -> int | None:
        return max(0, self.start - self.size) if self.start > 0 else None

    @property
    def next_start(self) -> int | None:
        return self.start + self.size if self.more else None


def get(path: str, params: dict | None = None) -> dict:
    """`GET {API}{path}` for the signed-in person: ilert's JSON object."""
    answer = call("GET", path, params)
    if not isinstance(answer, dict):
        raise _not_in_shape(path, "an object")
    return answer


def get_page(
    path: str, start: int = 0, size: int | None = None, params: dict | None = None
) -> ListPage:
    """`size` (default PAGE_SIZE) entries of the list at `path` from index `start`, by ilert's
    `start-index` and `max-results`. A full page may have more after it; asking for one more
    to know would go beyond ilert's largest page for some lists, so a list whose length is a
    multiple of `size` ends on an empty page. `start` may come straight from the query
    string: it is kept from 0 to MAX_START."""
    size = size or PAGE_SIZE
    start = min(max(start, 0), MAX_START)
    paging = {"start-index": start, "max-results": size}
    items = call("GET", path, {**(params or {}), **paging})
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise _not_in_shape(path, "a list of objects")
    return ListPage(items[:size], start, size, more=len(items) >= size)


def _not_in_shape(path: str, shape: str) -> IlertError:
    return IlertError(502, "bad_upstream_answer", f"ilert's answer to {path} was not {shape}.")


def post(path: str, body: dict | None = None) -> Any:
    """`POST {API}{path}` with `body` as JSON, sent once (see `write`)."""
    return write("POST", path, body)


def put(path: str, body: dict | None = None) -> Any:
    """`PUT {API}{path}` with `body` as JSON, sent once (see `write`)."""
    return write("PUT", path, body)


def delete(path: str) -> Any:
    """`DELETE {API}{path}`, sent once (see `write`)."""
    return write("DELETE", path)


def write(method: str, path: str, body: dict | None = None) -> Any:
    """A write for the signed-in person; ilert's answer, or None if it had no JSON body.

    Never sent twice after it may have reached ilert: a lost answer is `OutcomeUnknown`.
    (A 401 is sent again after a refresh: ilert did nothing with an access token it refused.)
    """
    try:
        return call(method, path, body=body)
    except MissingScope:
        raise
    except IlertError as error:
        if error.answer_lost:
            raise OutcomeUnknown(error.status, error.error, error.description) from None
        if error.status in REFUSED_STATUSES:
            raise Refused(error.status, error.error, error.description) from None
        raise


def call(method: str, path: str, params: dict | None = None, body: dict | None = None) -> Any:
    """Call the ilert API for the signed-in person (identical GETs may be answered from a
    short cache, `ilert/cache.py`, when ILERT_CACHE_SECONDS is set)."""
    return cache.through(method, path, params, lambda: _call(method, path, params, body))


def _call(method: str, path: str, params: dict | None, body: dict | None) -> Any:
    """Call the ilert API for the signed-in person.

    The access token is refreshed first if it is about to expire. If ilert still answers
    401, refresh once more and retry once; a 401 with a token that was just refreshed means
    the person removed the app's access. A 403 is a `MissingScope`.
    """
    sid = current_session().sid
    entry = session_tokens.of(sid)
    just_refreshed = session_tokens.needs_refresh(entry)
    if just_refreshed:
        entry = session_tokens.refresh(sid, entry["access_token"])
    try:
        return _call_api(method, path, entry, params, body)
    except _Unauthorized:
        pass
    if not just_refreshed:
        entry = session_tokens.refresh(sid, entry["access_token"])
        try:
            return _call_api(method, path, entry, params, body)
        except _Unauthorized:
            pass
    raise session_tokens.ended(sid, session_tokens.ACCESS_REMOVED)


class _Unauthorized(Exception):
    """ilert answered 401 to an API call."""


def _call_api(
    method: str, path: str, entry: TokenSet, params: dict | None, body: dict | None
) -> Any:
    try:
        return oauth.call_api(method, path, entry["access_token"], params, body)
    except IlertError as error:
        if error.status == 401:
            raise _Unauthorized() from None
        if error.status == 403:
            raise MissingScope(error, scopes.scope_for(path, method)) from None
        raise


def token_info() -> tuple[dict, TokenSet]:
    """What ilert knows about the signed-in person's access token, and the tokens' entry
    (for its expiry; never show the tokens themselves)."""
    entry = session_tokens.fresh(current_session().sid)
    info = oauth.token_info(entry["access_token"])
    if not isinstance(info, dict):
        raise _not_in_shape(oauth.TOKEN_INFO_PATH, "an object")
    return info, entry
