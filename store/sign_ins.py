"""Pending sign-ins: each sealed in a cookie of its own, written to the store only once ilert
has vouched for it.

`/login` makes a state and a nonce. Both, with `next` and the time, are sealed (AES-GCM under
`SECRET_KEY`) into a cookie named after the state (`sign-in-<hash of the state>`, so two tabs
signing in at once set two cookies and overwrite nothing). The PKCE verifier is derived from
the nonce and `SECRET_KEY` (`Sealer.secret`): it is never stored nor sent anywhere but to
ilert's token endpoint. So `/login` writes nothing to the store, and a visitor who never signs
in, however often they ask, leaves nothing there (SECURITY.md, "Anonymous traffic").

The callback finds the cookie by its state and opens it: a callback from another browser has
no cookie, a forged or tampered one does not open, one older than 10 minutes is refused. It
runs under the sign-in's lock, and a successful one keeps what it made (`finished`) under the
nonce until the pending sign-in would have expired: a second copy of the callback (a double
click, a reload while the first loads) waits for the first and then continues in its session,
but only if it carries the same authorization code (its hash is kept, never the code) and that
session is still signed in. Anything else is a used sign-in. None of this touches the session,
so another tab's sign-in giving the session a new id loses nothing.
"""

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from flask import current_app, request
from werkzeug.wrappers import Response

from config import SIGN_IN_COOKIE_PREFIX
from store import current, now
from store.flask_session import cookie_name

LIFETIME = 600  # seconds a pending sign-in lives
LIMIT = 5  # pending sign-ins per browser at once; the oldest goes first
# The longest `next` a sign-in cookie keeps, in characters as sealed (JSON, where a character
# beyond ASCII takes 6 or 12): LIMIT cookies must fit in one Cookie header with the session's
# (gunicorn refuses a header line beyond 8,190 bytes, nginx beyond 8 KB). A longer one is
# dropped: the person lands on the default page after signing in.
NEXT_MAX_LENGTH = 512
RESULT_LIFETIME = 60  # seconds a finished sign-in can be continued by a second callback
COOKIE_PURPOSE = "sign-in-cookie"  # what the cookie's seal is derived for
VERIFIER_PURPOSE = "pkce-verifier"
FINISHED_PURPOSE = "sign-in"  # the store entry of a finished or spent sign-in, under its nonce
REFUSED_PURPOSE = "refused-sign-in"  # the store entries of sign-ins ilert refused (REFUSED_SLOTS)
REFUSED_SLOTS = 1024  # the most sign-ins refused at ilert remembered at once (SECURITY.md)
_CREATED = re.compile(r"[0-9]{1,12}")  # the cookie's plain creation time, for LIMIT only


@dataclass
class PendingSignIn:
    """What `/login` starts and its callback continues."""

    state: str
    nonce: str
    next: str | None
    created: float
    verifier: str | None  # derived from the nonce, never stored
    scopes: str | None = None  # set for a grant of more scopes to a signed-in session


def cookie_prefix() -> str:
    """`__Host-sign-in-` when cookies are Secure, else `sign-in-`."""
    return cookie_name(SIGN_IN_COOKIE_PREFIX)


def start(next_path: str | None, use_pkce: bool, scopes: str | None = None) -> PendingSignIn:
    """A new pending sign-in (nothing is kept yet: see `set_cookie`). `scopes` marks a grant:
    the scopes asked for a session that is signed in already."""
    if next_path is not None and len(json.dumps(next_path)) - 2 > NEXT_MAX_LENGTH:
        next_path = None
    nonce = secrets.token_urlsafe(32)
    verifier = current().sealer.secret(VERIFIER_PURPOSE, nonce) if use_pkce else None
    return PendingSignIn(secrets.token_urlsafe(32), nonce, next_path, now(), verifier, scopes)


def set_cookie(response: Response, pending: PendingSignIn) -> None:
    """Seal `pending` into its cookie on `response`, and drop this browser's oldest sign-in
    cookies beyond LIMIT."""
    name = _cookie_name(pending.state)
    fields = {
        "state": pending.state,
        "nonce": pending.nonce,
        "next": pending.next,
        "created": pending.created,
        "pkce": pending.verifier is not None,
        "scopes": pending.scopes,
    }
    sealed = current().sealer.seal_text(COOKIE_PURPOSE, name, fields)
    secure = current_app.config["SESSION_COOKIE_SECURE"]
    response.set_cookie(
        name,
        f"{int(pending.created)}.{sealed}",
        max_age=LIFETIME,
        path="/",
        httponly=True,
        samesite="Lax",
        secure=secure,
    )
    for older in _oldest_beyond_limit():
        response.delete_cookie(older, path="/", secure=secure)


def pending_for(state: str) -> PendingSignIn | None:
    """This browser's pending sign-in of `state`, if its cookie opens, names this state and
    is younger than LIFETIME; else None (a forged or crafted cookie is just not one)."""
    name = _cookie_name(state)
    opened = current().sealer.open_text(
        COOKIE_PURPOSE, name, request.cookies.get(name, "").partition(".")[2]
    )
    if opened is None:
        return None
    fields, generation = opened
    if not _well_formed(fields) or not hmac.compare_digest(
        fields["state"].encode(), state.encode("utf-8", "replace")
    ):
        return None
    if now() - fields["created"] > LIFETIME:
        return None
    verifier = None
    if fields["pkce"]:
        verifier = current().sealer.secret(VERIFIER_PURPOSE, fields["nonce"], generation)
    return PendingSignIn(
        fields["state"],
        fields["nonce"],
        fields["next"],
        fields["created"],
        verifier,
        fields["scopes"],
    )


@contextmanager
def callback_lock(pending: PendingSignIn) -> Iterator[None]:
    """Run one callback of a sign-in at a time (others wait: a code exchange, a user lookup
    and a revoke, each at most HTTP_TIMEOUT); LockBusy if it takes longer."""
    most = 3 * current_app.config["HTTP_TIMEOUT"]
    with current().lock(FINISHED_PURPOSE, pending.nonce, wait=most, hold=most + 5):
        yield


def finished(pending: PendingSignIn) -> dict | None:
    """What an earlier callback of this sign-in left: what it made if it succeeded (`code`,
    `sid`, `data`, `next`, `at`), or only `at` if it spent the sign-in without signing anyone
    in (`claim`, `note_refused`); None if there was none. Call under `callback_lock`."""
    entry = current().get(FINISHED_PURPOSE, pending.nonce)
    if isinstance(entry, dict):
        return entry
    refused = current().get(REFUSED_PURPOSE, _refused_slot(pending))
    if isinstance(refused, str) and hmac.compare_digest(refused, _nonce_hash(pending)):
        return {"at": pending.created}
    return None


def claim(pending: PendingSignIn) -> None:
    """Note that this sign-in's code goes to ilert: until it has signed someone in
    (`keep_finished`), a later callback with its state is a used sign-in, and no code is
    exchanged twice. One entry per code exchange, which the ilert budget bounds. Under
    `callback_lock`."""
    current().put(FINISHED_PURPOSE, pending.nonce, {"at": now()}, _remaining(pending))


def unclaim(pending: PendingSignIn) -> None:
    """Take back a `claim` whose code never went to ilert (the app's budget held it back): a
    callback of the same sign-in waiting meanwhile (a double click) may send it. Under
    `callback_lock`."""
    current().delete(FINISHED_PURPOSE, pending.nonce)


def note_refused(pending: PendingSignIn) -> None:
    """Note that ilert answered this sign-in with an error (a denial): a later callback with
    its state is a used sign-in. Anyone can send such a callback for a sign-in of their own
    without ilert, so it is kept in one of REFUSED_SLOTS entries, chosen by the nonce: a flood
    of them never grows the store beyond that, and at worst makes it forget an older refusal."""
    current().put(
        REFUSED_PURPOSE, _refused_slot(pending), _nonce_hash(pending), _remaining(pending)
    )


def keep_finished(pending: PendingSignIn, code: str, session_id: str, data: dict[str, Any]) -> None:
    """Note which session this sign-in made (its id and what it holds: Flask-Session writes
    it only after the callback), bound to the code's hash, until the sign-in would expire."""
    entry = {
        "code": code_hash(code),
        "sid": session_id,
        "data": data,
        "next": pending.next,
        "at": now(),
    }
    current().put(FINISHED_PURPOSE, pending.nonce, entry, _remaining(pending))


def may_continue(entry: dict, code: str | None) -> bool:
    """Whether a second callback carrying `code` may continue in the session `entry` made:
    the same code (compared in constant time), within RESULT_LIFETIME."""
    if not code or not isinstance(entry.get("code"), str) or "sid" not in entry:
        return False
    if not hmac.compare_digest(entry["code"].encode(), code_hash(code).encode()):
        return False
    return now() - entry.get("at", 0) <= RESULT_LIFETIME


def code_hash(code: str) -> str:
    """A one-way hash of an authorization code: enough to recognise it, useless to redeem."""
    return hashlib.sha256(code.encode("utf-8", "replace")).hexdigest()


def forget_cookie(response: Response, state: str) -> None:
    """Delete the sign-in's cookie from the browser."""
    response.delete_cookie(
        _cookie_name(state), path="/", secure=current_app.config["SESSION_COOKIE_SECURE"]
    )


def _well_formed(fields: Any) -> bool:
    """Whether an opened cookie holds what `set_cookie` put there (it always does, unless
    SECRET_KEY leaked: still, nothing from a cookie is trusted before it is checked)."""
    return (
        isinstance(fields, dict)
        and isinstance(fields.get("state"), str)
        and isinstance(fields.get("nonce"), str)
        and isinstance(fields.get("next"), str | None)
        and isinstance(fields.get("created"), int | float)
        and isinstance(fields.get("pkce"), bool)
        and isinstance(fields.get("scopes"), str | None)
    )


def _remaining(pending: PendingSignIn) -> float:
    """Seconds until the pending sign-in expires (its cookie is refused after that anyway)."""
    return max(pending.created + LIFETIME - now(), 1)


def _nonce_hash(pending: PendingSignIn) -> str:
    return hashlib.sha256(pending.nonce.encode()).hexdigest()


def _refused_slot(pending: PendingSignIn) -> str:
    return str(int(_nonce_hash(pending)[:8], 16) % REFUSED_SLOTS)


def _cookie_name(state: str) -> str:
    return cookie_prefix() + hashlib.sha256(state.encode("utf-8", "replace")).hexdigest()[:16]


def _oldest_beyond_limit() -> list[str]:
    """The names of this browser's sign-in cookies beyond the newest LIMIT - 1 (the request's
    own new one makes LIMIT). A cookie whose time is not a plain number counts as oldest."""
    prefix = cookie_prefix()
    held = []
    for name, value in request.cookies.items():
        if name.startswith(prefix):
            created = value.partition(".")[0]
            held.append((int(created) if _CREATED.fullmatch(created) else 0, name))
    held.sort()
    return [name for _, name in held[: max(0, len(held) - (LIMIT - 1))]]
