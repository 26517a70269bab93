"""A signed-in session's tokens: kept in the store beside the session, and refreshed there
one refresh at a time. `ilert.client` takes them from here for every call.

The person's tokens live in a sealed entry of their own (purpose "tokens", under the session
id), never in the session: Flask-Session writes the whole session back at the end of a
request, so a request that started before a refresh would write the old tokens back. They are
read fresh whenever they are needed and replaced in one atomic write.

ilert asks for at most one refresh per 5 minutes: within 5 minutes of a refresh, only an
expired token is refreshed, and a 401 to a live one means the access was removed. A refresh
runs under a lock per session that holds across threads, worker processes (a lock file) and
instances (a Redis lock): concurrent requests that all find the access token expiring send one
refresh to ilert, and the others wait and use its result. ilert rotates refresh tokens, so two
refreshes racing with the same refresh token would lose the session.

A sign-in over a session, and a grant of more scopes, move the session to a new id with new
tokens (`replacing`): the old ones are taken under the lock, and their refresh token revoked.
"""

import logging
import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NotRequired, TypedDict

from flask import current_app, g

import metrics
import store
from ilert import oauth, rescue
from ilert.oauth import IlertError, TokenAnswer
from store import LockBusy, StoreError
from store.flask_session import current_session, regenerate

log = logging.getLogger(__name__)

REFRESH_FLOOR = 300  # seconds: ilert asks for at most one refresh per 5 minutes
EXPIRY_SKEW = 5.0  # seconds by which ilert may see a token expire before we do
REFRESH_WAITERS = 2  # requests of one session that may wait out its refresh, per worker
SHORT_WAIT = 1.0  # seconds any more of them wait before answering "try again"
STORE_RETRIES = (0.1, 0.4, 1.0)  # seconds between the tries to store tokens ilert just issued

_HOST = socket.gethostname()

ACCESS_REMOVED = (
    "ilert no longer accepts this app's access for you (it may have been removed in your ilert "
    "profile). Please sign in again."
)

_waiting: Counter[str] = Counter()  # requests of each session in _refresh_lock, this process
_waiting_lock = threading.Lock()


class TokenSet(TypedDict):
    """A session's tokens as the store keeps them (times in epoch seconds)."""

    access_token: str
    refresh_token: str | None
    expires_at: float
    expires_in: int
    scope: str
    refresh_expires_at: float | None
    renewing: NotRequired[float]  # when a refresh began that has not stored its answer yet
    renewing_by: NotRequired[str]  # the process that sent it: "<host name> <process id>"
    refreshed_at: NotRequired[float]  # when a refresh made these tokens (none at sign-in)


class SessionEnded(Exception):
    """The person's tokens are gone or no longer accepted; they must sign in again.

    `status` is set when the cause was an upstream failure (502, 504) that the error
    page should report; otherwise the person is sent home with the message.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def fresh(sid: str) -> TokenSet:
    """Session `sid`'s tokens, refreshed first if the access token is about to expire."""
    entry = of(sid)
    if needs_refresh(entry):
        return refresh(sid, entry["access_token"])
    return entry


def granted_scopes() -> str:
    """The scopes this sign-in was granted ("" if none are known)."""
    sid = current_session().sid
    entry = store.current().get("tokens", sid)
    g.tokens_read = (sid, entry)  # for the call to ilert that a page makes next (`of`)
    return entry.get("scope") or "" if isinstance(entry, dict) else ""


def _read(sid: str) -> object:
    """Session `sid`'s entry in the store. A page checks its scopes (`granted_scopes`) just
    before its call to ilert reads the entry: that call takes the same read, once, rather than
    open and unseal the entry twice. Any other read, and a refresh under its lock, reads anew;
    a write drops it."""
    read = g.pop("tokens_read", None)
    if read is not None and read[0] == sid:
        return read[1]
    return store.current().get("tokens", sid)


def keep(sid: str, tokens: TokenAnswer) -> TokenSet:
    """Keep freshly issued tokens for session `sid`, for as long as they or the session live.
    A store that refuses them is tried again a few times (STORE_RETRIES) before StoreError."""
    return _stored(sid, _entry_of(tokens))


def _stored(sid: str, entry: TokenSet) -> TokenSet:
    g.pop("tokens_read", None)
    for pause in STORE_RETRIES:
        try:
            store.current().put("tokens", sid, entry, _lifetime(entry))
            return entry
        except StoreError:
            time.sleep(pause)
    store.current().put("tokens", sid, entry, _lifetime(entry))
    return entry


def _entry_of(tokens: TokenAnswer, refreshed: bool = False) -> TokenSet:
    """The entry that keeps a token answer, its lifetimes turned into times (`refreshed`: a
    refresh made them, and when is kept for REFRESH_FLOOR)."""
    refresh_lifetime = tokens.get("refresh_token_expires_in")
    entry: TokenSet = {
        "access_token": tokens["access_token"],
        "refresh_token": tokens.get("refresh_token"),
        "expires_at": store.now() + tokens["expires_in"],
        "expires_in": tokens["expires_in"],
        "scope": tokens.get("scope", ""),
        "refresh_expires_at": (
            store.now() + refresh_lifetime
            if tokens.get("refresh_token") and isinstance(refresh_lifetime, int)
            else None
        ),
    }
    if refreshed:
        entry["refreshed_at"] = store.now()
    return entry


def forget(sid: str) -> str | None:
    """Delete session `sid`'s tokens and return the refresh token they held, if any. Under
    the refresh lock: a refresh running meanwhile would write its new tokens back after."""
    timeout = current_app.config["HTTP_TIMEOUT"]
    with store.current().lock("tokens", sid, timeout, hold=_refresh_hold()):
        entry = store.current().take("tokens", sid)
    if not isinstance(entry, dict):
        return None
    entry = rescue.newer(sid, entry) or entry
    rescue.done(sid)
    return entry.get("refresh_token")


def revoke_quietly(refresh_token: str | None) -> bool:
    """Revoke a refresh token; True if it worked (or there was none)."""
    if not refresh_token:
        return True
    try:
        oauth.revoke(refresh_token)
        return True
    except IlertError as error:
        log.warning("Could not revoke a refresh token: %s", error.error)
        return False


@contextmanager
def replacing(tokens: TokenAnswer) -> Iterator[None]:
    """Move the current session to a new id with `tokens` (a sign-in over it, a grant of more
    scopes; OWASP ASVS V3.2.1), then run the block. The old session entry goes first: a request
    with the old cookie then finds none and sets no cookie (`errors`' SessionEnded handler),
    even if its tokens go next. They are taken under the refresh lock, and their refresh
    token revoked last (it waits for ilert), also if something after failed."""
    old_sid = current_session().sid
    regenerate()
    old_refresh_token = forget(old_sid)
    try:
        keep(current_session().sid, tokens)
        yield
    finally:
        if old_refresh_token != tokens.get("refresh_token"):
            revoke_quietly(old_refresh_token)


def _lifetime(entry: TokenSet) -> float:
    """Seconds to keep an entry: the session's idle lifetime, at most the refresh token's."""
    lifetime = current_app.config["SESSION_LIFETIME"].total_seconds()
    refresh_expires_at = entry.get("refresh_expires_at")
    if refresh_expires_at:
        lifetime = min(lifetime, refresh_expires_at - store.now())
    return max(1.0, lifetime)


def _refresh_hold() -> float:
    """The longest a refresh may take: a connect timeout, then a read timeout, then the tries
    to store its answer."""
    return 2 * current_app.config["HTTP_TIMEOUT"] + 5


def of(sid: str) -> TokenSet:
    """Session `sid`'s current token entry; SessionEnded if there is none. Renewed tokens that
    the store refused (`rescue`) win over those it holds, and are written back when it can."""
    entry = _read(sid)
    if not isinstance(entry, dict):
        raise SessionEnded("Your sign-in has expired. Please sign in again.")
    renewed = rescue.newer(sid, entry)
    if renewed is None:
        return entry  # type: ignore[return-value]
    try:
        store.current().put("tokens", sid, renewed, _lifetime(renewed))  # type: ignore[arg-type]
    except StoreError:
        return renewed  # type: ignore[return-value]
    rescue.done(sid)
    return renewed  # type: ignore[return-value]


@contextmanager
def _refresh_lock(sid: str) -> Iterator[None]:
    """This session's refresh lock. While one request refreshes, REFRESH_WAITERS others of
    the same session may wait for it in this worker up to HTTP_TIMEOUT; any more wait at most
    SHORT_WAIT and then answer "try again". A burst at expiry is served once the refresh is
    back, as ever, but one session whose refresh hangs cannot hold every thread of the worker
    for HTTP_TIMEOUT, away from everybody else."""
    with _waiting_lock:
        patient = _waiting[sid] <= REFRESH_WAITERS  # the refresher, then its first waiters
        _waiting[sid] += 1
    timeout = current_app.config["HTTP_TIMEOUT"]
    try:
        wait = timeout if patient else min(timeout, SHORT_WAIT)
        # A refresh may take two calls' time: a connect timeout, then a read timeout.
        with store.current().lock("tokens", sid, wait, hold=_refresh_hold()):
            yield
    finally:
        with _waiting_lock:
            _waiting[sid] -= 1
            if not _waiting[sid]:
                del _waiting[sid]


def refresh(sid: str, stale_access_token: str) -> TokenSet:
    """Refresh once, under this session's lock, unless another request already did.

    The refresh token is spent the moment ilert answers, so it is sent only once the store has
    shown that it takes the tokens entry (`_write_ahead`); renewed tokens that it refuses even
    so are kept by `rescue` for the session's next request."""
    with _refresh_lock(sid):
        g.pop("tokens_read", None)  # what the store holds now, under the lock
        entry = of(sid)
        if entry["access_token"] != stale_access_token:
            metrics.LOCK_WAITS.inc()  # another request refreshed meanwhile
            return entry
        if not _may_refresh(entry):  # ilert refuses a token refreshed minutes ago
            raise ended(sid, ACCESS_REMOVED)
        refresh_token = entry.get("refresh_token")
        if not refresh_token:
            raise ended(sid, "Your access to ilert has expired. Please sign in again.")
        _write_ahead(sid, entry)
        try:
            tokens = oauth.refresh(refresh_token)
        except IlertError as error:
            if error.error == "invalid_grant":
                raise ended(
                    sid,
                    "ilert no longer accepts this sign-in (it expired, was revoked, or was "
                    "replaced by newer sign-ins). Please sign in again.",
                ) from None
            if error.answer_lost:
                # The refresh token may already be spent on ilert's side: never retry blindly.
                raise ended(
                    sid,
                    f"{error.description} It was renewing your access, so the sign-in "
                    "cannot be trusted any more. Please sign in again.",
                    status=error.status,
                ) from None
            _unmark(sid, entry)  # ilert refused or never got it: the refresh token is good
            raise
        tokens.setdefault("refresh_token", refresh_token)
        renewed = _entry_of(tokens, refreshed=True)
        try:
            return _stored(sid, renewed)
        except StoreError as error:
            rescue.keep(sid, dict(renewed), refresh_token, _lifetime(renewed), error)
            return renewed


def ended(sid: str, message: str, status: int | None = None) -> SessionEnded:
    """Delete session `sid`'s tokens; the SessionEnded that says why, for the caller to raise."""
    g.pop("tokens_read", None)
    store.current().delete("tokens", sid)
    return SessionEnded(message, status)


def _unmark(sid: str, entry: TokenSet) -> None:
    """Put the entry back as it was before `_write_ahead`, for the next request to refresh."""
    unmarked = {key: value for key, value in entry.items() if not key.startswith("renewing")}
    store.current().put("tokens", sid, unmarked, _lifetime(entry))


def _write_ahead(sid: str, entry: TokenSet) -> None:
    """Mark the entry as renewing before its refresh token is sent: a store that refuses this
    write answers 503 while the refresh token is still good.

    An entry already marked was marked by a refresh that is still running elsewhere, or that
    got ilert's answer but could not store it (its answer carries the tokens to the person's
    next request), or whose process died. The first two answer "try again" instead of sending
    the refresh token a second time, until the longest a refresh takes has passed; a process of
    this host that is gone is waited for no longer."""
    began, by = entry.get("renewing"), entry.get("renewing_by", "")
    if began is not None and store.now() - began < _refresh_hold() and not _gone(by):
        raise LockBusy()
    marked = {**entry, "renewing": store.now(), "renewing_by": f"{_HOST} {os.getpid()}"}
    store.current().put("tokens", sid, marked, _lifetime(entry))


def _gone(process: str) -> bool:
    """Whether `process` ("<host name> <process id>") ran on this host and is gone."""
    host, _, pid = process.rpartition(" ")
    if host != _HOST or not pid.isdigit() or os.name == "nt":
        return False  # (Windows' os.kill would send its signal 0, a Ctrl-C)
    try:
        os.kill(int(pid), 0)  # signal 0 sends nothing: it only asks whether the process exists
    except ProcessLookupError:
        return True
    except OSError:
        return False  # it exists, as another user's
    return False


def needs_refresh(entry: TokenSet) -> bool:
    """True when less than min(60 s, 10 % of the token's lifetime) remains and a refresh is
    allowed (a token that lives less than 5 minutes is used until it expires)."""
    expiring = entry["expires_at"] - store.now() < min(60, entry["expires_in"] / 10)
    return expiring and _may_refresh(entry)


def _may_refresh(entry: TokenSet) -> bool:
    """At most one refresh per session per REFRESH_FLOOR, unless the access token expired.

    Expired by ilert's reckoning, that is: its clock runs a little ahead of ours, since we count
    a token's lifetime from when its answer arrived, so within EXPIRY_SKEW of the end a 401
    means expiry, not access removed."""
    refreshed_at = entry.get("refreshed_at")
    return (
        refreshed_at is None
        or store.now() - refreshed_at >= REFRESH_FLOOR
        or entry["expires_at"] - store.now() < EXPIRY_SKEW
    )
