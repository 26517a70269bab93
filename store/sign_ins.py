"""Pending sign-ins: each in a sealed entry of its own, bound to the browser by a cookie.

`/login` makes a state, a PKCE verifier and a nonce. The nonce goes into a cookie named after
the state (`sign-in-<hash of the state>`, so two tabs signing in at once set two cookies and
overwrite nothing); the state, verifier and `next` go into the store, sealed under the nonce.
The callback finds the cookie by its state and claims the entry atomically: a callback from
another browser has no nonce, one that arrives twice has nothing left to claim, and none of this
touches the session, so another tab's sign-in giving the session a new id loses nothing. A
visitor who never comes back leaves only an entry and a cookie that expire in 10 minutes.

The callback of a sign-in runs under the sign-in's lock. A second copy of it (a double click, a
reload while the first loads) waits for the first and then takes over the session it made
(`result`), so the person ends up signed in whichever answer the browser shows.
"""

import hashlib
import hmac
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass

from flask import current_app, request
from werkzeug.wrappers import Response

from config import SIGN_IN_COOKIE_PREFIX
from store import current, now
from store.flask_session import cookie_name

LIFETIME = 600  # seconds a pending sign-in lives
LIMIT = 5  # pending sign-ins per browser at once; the oldest goes first
RESULT_LIFETIME = 60  # seconds a finished sign-in can be taken over by a second callback


@dataclass
class PendingSignIn:
    """What `/login` keeps for its callback."""

    state: str
    verifier: str | None
    next: str | None
    created: float
    scopes: str | None = None  # set for a grant of more scopes to a signed-in session


def cookie_prefix() -> str:
    """`__Host-sign-in-` when cookies are Secure, else `sign-in-`."""
    return cookie_name(SIGN_IN_COOKIE_PREFIX)


def begin(
    response: Response,
    state: str,
    verifier: str | None,
    next_path: str | None,
    scopes: str | None = None,
) -> str:
    """Keep a new pending sign-in and set its cookie on `response`; returns its nonce.
    `scopes` marks a grant: the scopes asked for a session that is signed in already."""
    nonce = secrets.token_urlsafe(32)
    created = now()
    pending = PendingSignIn(state, verifier, next_path, created, scopes)
    current().put("sign-in", nonce, asdict(pending), LIFETIME)
    _set_cookie(response, _cookie_name(state), f"{int(created)}.{nonce}", LIFETIME)
    for name in _oldest_beyond_limit():
        response.delete_cookie(name, path="/", secure=current_app.config["SESSION_COOKIE_SECURE"])
    return nonce


def nonce_for(state: str) -> str | None:
    """The nonce this browser holds for `state`, if any."""
    value = request.cookies.get(_cookie_name(state), "")
    return value.partition(".")[2] or None


def claim(state: str, nonce: str) -> PendingSignIn | None:
    """Take the pending sign-in of `state` out of the store, if it is this browser's, live and
    unclaimed."""
    entry = current().take("sign-in", nonce)
    if not isinstance(entry, dict):
        return None
    try:
        pending = PendingSignIn(**entry)
    except TypeError:
        return None
    if not hmac.compare_digest(pending.state.encode(), state.encode("utf-8", "replace")):
        return None
    if now() - pending.created > LIFETIME:
        return None
    return pending


@contextmanager
def callback_lock(nonce: str) -> Iterator[None]:
    """Run one callback of a sign-in at a time (others wait: a code exchange, a user lookup
    and a revoke, each at most HTTP_TIMEOUT); LockBusy if it takes longer."""
    most = 3 * current_app.config["HTTP_TIMEOUT"]
    with current().lock("sign-in", nonce, wait=most, hold=most + 5):
        yield


def keep_result(nonce: str, session_id: str, data: dict, next_path: str | None) -> None:
    """Note which session this sign-in made (its id and what it holds: Flask-Session writes
    it only after the callback), for a second copy of the callback."""
    finished = {"sid": session_id, "data": data, "next": next_path}
    current().put("sign-in-result", nonce, finished, RESULT_LIFETIME)


def result(nonce: str) -> dict | None:
    """The session a finished sign-in made (`sid`, `data`, `next`), if it just finished."""
    entry = current().get("sign-in-result", nonce)
    return entry if isinstance(entry, dict) else None


def forget_cookie(response: Response, state: str) -> None:
    """Delete the sign-in's cookie from the browser."""
    response.delete_cookie(
        _cookie_name(state), path="/", secure=current_app.config["SESSION_COOKIE_SECURE"]
    )


def _cookie_name(state: str) -> str:
    return cookie_prefix() + hashlib.sha256(state.encode("utf-8", "replace")).hexdigest()[:16]


def _set_cookie(response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="Lax",
        secure=current_app.config["SESSION_COOKIE_SECURE"],
    )


def _oldest_beyond_limit() -> list[str]:
    """The names of this browser's sign-in cookies beyond the newest LIMIT - 1 (the request's
    own new one makes LIMIT)."""
    prefix = cookie_prefix()
    held = []
    for name, value in request.cookies.items():
        if name.startswith(prefix):
            created = value.partition(".")[0]
            held.append((int(created) if created.isdigit() else 0, name))
    held.sort()
    return [name for _, name in held[: max(0, len(held) - (LIMIT - 1))]]
