"""Each session's tokens, kept beside the session rather than inside it.

Flask-Session writes the whole session back at the end of a request that changed
it, so a request that started before a refresh would write the old tokens back if
they lived in the session. Here they live in their own sealed entry (purpose
"tokens", under the session id), read fresh whenever they are needed and replaced
in one atomic write.

A refresh runs under a lock per session that holds across threads, worker
processes (a lock file) and instances (a Redis lock): concurrent requests that
all find the access token expiring send one refresh to ilert, and the others
wait and use its result. ilert rotates refresh tokens, so two refreshes racing
with the same refresh token would lose the session.

The flow inspector's notes live beside the session the same way (purpose "flow"),
so that writing them never writes the session.
"""

from typing import TypedDict

from flask import current_app

import ilert_oauth
import store
from store import LockBusy

RefreshBusy = LockBusy  # another request's refresh of this session took longer than we wait


class TokenSet(TypedDict):
    """A session's tokens as the store keeps them (times in epoch seconds)."""

    access_token: str
    refresh_token: str | None
    expires_at: float
    expires_in: int
    scope: str
    refresh_expires_at: float | None


class SessionEnded(Exception):
    """The person's tokens are gone or no longer accepted; they must sign in again.

    `status` is set when the cause was an upstream failure (502, 504) that the error
    page should report; otherwise the person is sent home with the message.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def keep(sid: str, tokens: dict) -> TokenSet:
    """Keep freshly issued tokens for this session, for as long as they or the session live."""
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
    store.current().put("tokens", sid, entry, _lifetime(entry))
    return entry


def _lifetime(entry: TokenSet) -> float:
    """Seconds to keep an entry: the session's idle lifetime, at most the refresh token's."""
    lifetime = current_app.config["SESSION_LIFETIME"].total_seconds()
    if entry.get("refresh_expires_at"):
        lifetime = min(lifetime, entry["refresh_expires_at"] - store.now())
    return max(1.0, lifetime)


def tokens_of(sid: str) -> TokenSet:
    """This session's current token entry; SessionEnded if there is none."""
    entry = store.current().get("tokens", sid)
    if not isinstance(entry, dict):
        raise SessionEnded("Your sign-in has expired. Please sign in again.")
    return entry  # type: ignore[return-value]


def fresh_tokens(sid: str) -> TokenSet:
    """This session's tokens, refreshed first if the access token is about to expire."""
    entry = tokens_of(sid)
    if _expiring(entry):
        return refreshed_tokens(sid, entry["access_token"])
    return entry


def refreshed_tokens(sid: str, stale_access_token: str) -> TokenSet:
    """Refresh once, under this session's lock, unless another request already did."""
    wait = current_app.config["HTTP_TIMEOUT"]
    with store.current().lock("tokens", sid, wait):
        entry = tokens_of(sid)
        if entry["access_token"] != stale_access_token:
            return entry
        refresh_token = entry.get("refresh_token")
        if not refresh_token:
            store.current().delete("tokens", sid)
            raise SessionEnded("Your access to ilert has expired. Please sign in again.")
        try:
            tokens = ilert_oauth.refresh(refresh_token)
        except ilert_oauth.IlertError as error:
            if error.error == "invalid_grant":
                store.current().delete("tokens", sid)
                raise SessionEnded(
                    "ilert no longer accepts this sign-in (it expired, was revoked, or was "
                    "replaced by newer sign-ins). Please sign in again."
                ) from None
            if error.answer_lost:
                # The refresh token may already be spent on ilert's side: never retry blindly.
                store.current().delete("tokens", sid)
                raise SessionEnded(
                    f"{error.description} It was renewing your access, so the sign-in "
                    "cannot be trusted any more. Please sign in again.",
                    status=error.status,
                ) from None
            raise
        tokens.setdefault("refresh_token", refresh_token)
        return keep(sid, tokens)


def call_api(sid: str, method: str, path: str):
    """Call the ilert API for this session.

    The access token is refreshed first if it is about to expire. If ilert still
    answers 401, refresh once more and retry once; a 401 with a token that was
    just refreshed means the person removed the app's access.
    """
    entry = tokens_of(sid)
    just_refreshed = _expiring(entry)
    if just_refreshed:
        entry = refreshed_tokens(sid, entry["access_token"])
    try:
        return ilert_oauth.call_api(method, path, entry["access_token"])
    except ilert_oauth.IlertError as error:
        if error.status != 401:
            raise
    if not just_refreshed:
        entry = refreshed_tokens(sid, entry["access_token"])
        try:
            return ilert_oauth.call_api(method, path, entry["access_token"])
        except ilert_oauth.IlertError as error:
            if error.status != 401:
                raise
    store.current().delete("tokens", sid)
    raise SessionEnded(
        "ilert no longer accepts this app's access for you (it may have been removed in "
        "your ilert profile). Please sign in again."
    )


def flow_of(key: str) -> list:
    """The flow inspector's notes under `key` (a session id, or a pending sign-in's nonce)."""
    notes = store.current().get("flow", key)
    return notes if isinstance(notes, list) else []


def keep_flow(key: str, calls: list, ttl: float | None = None) -> None:
    lifetime = current_app.config["SESSION_LIFETIME"].total_seconds()
    store.current().put("flow", key, calls, ttl or lifetime)


def forget_flow(key: str) -> None:
    store.current().delete("flow", key)


def forget(sid: str) -> str | None:
    """Delete this session's tokens and return the refresh token they held, if any."""
    entry = store.current().take("tokens", sid)
    return entry.get("refresh_token") if isinstance(entry, dict) else None


def _expiring(entry: TokenSet) -> bool:
    """True when less than min(60 s, 10 % of the token's lifetime) remains."""
    return entry["expires_at"] - store.now() < min(60, entry["expires_in"] / 10)
