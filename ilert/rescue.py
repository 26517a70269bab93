"""Renewed tokens that the store would not take, kept where the session's next request finds them.

ilert rotates the refresh token as it answers a refresh: once it has answered, the old refresh
token is spent, and sending it again revokes the whole sign-in. So when the store refuses the
renewed tokens (a full disk, Redis out of memory) even after a few tries, they must not be lost:
they go into a cookie of the session's own (`<session cookie>-renewed`), sealed like a store
entry under the session id and SECRET_KEY, and into this worker's memory for requests already
waiting here. The session's next request finds them, uses them, and writes them to the store as
soon as it takes writes again; the cookie is then deleted.

A rescue names the refresh token it replaces (by its SHA-256): it is used only while the store
still holds that one, so a cookie that outlived its purpose changes nothing.
"""

import base64
import binascii
import hashlib
import logging
import threading
from typing import Any

from flask import Response, after_this_request, current_app, request

import store

PURPOSE = "renewed-tokens"
COOKIE_SUFFIX = "-renewed"

log = logging.getLogger(__name__)
_in_memory: dict[str, dict[str, Any]] = {}  # session id -> rescue, for this worker's waiters
_in_memory_lock = threading.Lock()


def cookie_name() -> str:
    """The rescue cookie's name: the session cookie's, and COOKIE_SUFFIX."""
    return current_app.config["SESSION_COOKIE_NAME"] + COOKIE_SUFFIX


def keep(sid: str, entry: dict, replaces: str, lifetime: float, error: Exception) -> None:
    """Keep `entry` (the renewed tokens of session `sid`, which replace refresh token
    `replaces`) in the answer's cookie and in this worker, since the store refused it."""
    rescue = {"replaces": _digest(replaces), "tokens": entry}
    with _in_memory_lock:
        _in_memory[sid] = rescue
    sealed = store.current().seal(PURPOSE, sid, rescue)
    value = base64.urlsafe_b64encode(sealed).decode()
    log.warning(
        "The session store refused a session's renewed tokens (%s): they are kept in its "
        "sealed %s cookie until the store takes writes again",
        error,
        cookie_name(),
    )

    @after_this_request
    def set_cookie(response: Response) -> Response:
        response.set_cookie(
            cookie_name(),
            value,
            max_age=int(lifetime),
            path="/",
            httponly=True,
            samesite="Lax",
            secure=current_app.config["SESSION_COOKIE_SECURE"],
        )
        return response


def newer(sid: str, entry: dict) -> dict | None:
    """The rescued tokens of session `sid` if they replace the refresh token of `entry` (the
    store's), else None. A rescue cookie that no longer applies is deleted."""
    with _in_memory_lock:
        rescue = _in_memory.get(sid)
    from_cookie = rescue is None and cookie_name() in request.cookies
    if from_cookie:
        rescue = _from_cookie(sid)
    if rescue is not None and rescue.get("replaces") == _digest(entry.get("refresh_token")):
        return rescue["tokens"]
    if rescue is not None or from_cookie:
        done(sid)
    return None


def done(sid: str) -> None:
    """The store holds session `sid`'s tokens again: forget the rescue, here and in the browser."""
    with _in_memory_lock:
        _in_memory.pop(sid, None)
    if cookie_name() not in request.cookies:
        return

    @after_this_request
    def delete_cookie(response: Response) -> Response:
        response.delete_cookie(
            cookie_name(),
            path="/",
            httponly=True,
            samesite="Lax",
            secure=current_app.config["SESSION_COOKIE_SECURE"],
        )
        return response


def _from_cookie(sid: str) -> dict | None:
    try:
        sealed = base64.urlsafe_b64decode(request.cookies[cookie_name()])
    except (binascii.Error, ValueError):
        return None
    rescue = store.current().unseal(PURPOSE, sid, sealed)
    if not isinstance(rescue, dict) or not isinstance(rescue.get("tokens"), dict):
        return None
    return rescue


def _digest(refresh_token: str | None) -> str | None:
    return hashlib.sha256(refresh_token.encode()).hexdigest() if refresh_token else None
