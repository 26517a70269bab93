"""The session store: sealed entries in files or Redis, and Flask-Session on top of them.

`SealedStore` is what the app uses: it names and encrypts every entry by the cookie it belongs
to (see `sealed.py`) and keeps it in a backend (`backends.py`, `redis_backend.py`).
Flask-Session stays in charge of the session cookie and lifecycle; it reads and writes the
session itself through `SessionCache`, a cachelib-style cache of ours (see `flask_session.py`).
Beside the session, in entries of their own, live what concurrent requests change: the tokens,
the flow inspector's notes, and the pending sign-ins.
"""

import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from flask import Flask, current_app

from store.backends import Backend, Clock, FileBackend, LockBusy, StoreError
from store.sealed import Sealer

BESIDE_SESSION = ["tokens", "flow"]  # entries under a session's id, beside the session itself
__all__ = [
    "LockBusy",
    "SealedStore",
    "StoreError",
    "current",
    "forget_beside_session",
    "init_app",
    "now",
]


class SealedStore:
    """Entries addressed by (purpose, cookie), sealed before they reach the backend.

    With fallback keys (`SECRET_KEY_FALLBACKS`), an entry is looked for under each key
    generation in turn; one found under an older key is sealed again under `SECRET_KEY` as it
    is read (never over a newer value: `Backend.add`), and deleting or renewing an entry does
    so under every generation, so that no older copy outlives it."""

    def __init__(
        self,
        backend: Backend,
        secret_key: str,
        clock: Clock = time.time,
        fallbacks: Sequence[str] = (),
    ) -> None:
        self.backend = backend
        self.sealer = Sealer(secret_key, fallbacks)
        self.clock = clock

    def get(self, purpose: str, cookie: str) -> Any | None:
        """The value, or None if there is none, it expired, or it does not open."""
        found = self.get_expiring(purpose, cookie)
        return None if found is None else found[0]

    def get_expiring(self, purpose: str, cookie: str) -> tuple[Any, float] | None:
        """The value and when it expires (epoch seconds), or None."""
        for generation in self.sealer.generations:
            name, cipher = self.sealer.locate(purpose, cookie, generation)
            found = self.backend.get(name)
            if found is None:
                continue
            value = self.sealer.open(name, cipher, found[0])
            if value is not None and generation:
                self._seal_again(purpose, cookie, value, found[1], name)
            return None if value is None else (value, found[1])
        return None

    def put(self, purpose: str, cookie: str, value: Any, ttl: float) -> None:
        """Replace the value in one step; it lives `ttl` seconds."""
        name, cipher = self.sealer.locate(purpose, cookie)
        self.backend.put(name, self.sealer.seal(name, cipher, value), ttl)
        self._delete_older(purpose, cookie)

    def take(self, purpose: str, cookie: str) -> Any | None:
        """Claim the value: of concurrent takers, one gets it and the entry is gone."""
        for generation in self.sealer.generations:
            name, cipher = self.sealer.locate(purpose, cookie, generation)
            sealed = self.backend.take(name)
            if sealed is not None:
                return self.sealer.open(name, cipher, sealed)
        return None

    def seal(self, purpose: str, cookie: str, value: Any) -> bytes:
        """`value` sealed as an entry of `purpose` would be, to keep outside the store."""
        name, cipher = self.sealer.locate(purpose, cookie)
        return self.sealer.seal(name, cipher, value)

    def unseal(self, purpose: str, cookie: str, sealed: bytes) -> Any | None:
        """What `seal` sealed, under `SECRET_KEY` or a fallback key, or None if it does not
        open."""
        opened = self.sealer.open_kept(purpose, cookie, sealed)
        return None if opened is None else opened[0]

    def delete(self, purpose: str, cookie: str) -> None:
        self.backend.delete(self.sealer.locate(purpose, cookie)[0])
        self._delete_older(purpose, cookie)

    def touch(self, purposes: list[str], cookie: str, ttl: float) -> None:
        """Let this cookie's entries of these purposes live `ttl` seconds from now."""
        self.backend.touch(
            [
                self.sealer.locate(purpose, cookie, generation)[0]
                for purpose in purposes
                for generation in self.sealer.generations
            ],
            ttl,
        )

    def _seal_again(
        self, purpose: str, cookie: str, value: Any, expires_at: float, older_name: str
    ) -> None:
        """Move an entry found under an older key to `SECRET_KEY`, keeping its expiry. `add`
        never replaces a value another request has written meanwhile (fresher tokens)."""
        name, cipher = self.sealer.locate(purpose, cookie)
        ttl = expires_at - self.clock()
        if ttl > 0:
            self.backend.add(name, self.sealer.seal(name, cipher, value), ttl)
        self.backend.delete(older_name)

    def _delete_older(self, purpose: str, cookie: str) -> None:
        for generation in self.sealer.generations[1:]:
            self.backend.delete(self.sealer.locate(purpose, cookie, generation)[0])

    @contextmanager
    def lock(
        self, purpose: str, cookie: str, wait: float, hold: float | None = None
    ) -> Iterator[None]:
        """Hold the lock of this cookie's entry of `purpose`; LockBusy after `wait` seconds.
        `hold` is the longest its holder may need it (by default, twice `wait` and 5 s)."""
        name = self.sealer.locate(purpose, cookie)[0]
        with self.backend.lock(name, wait, hold if hold is not None else 2 * wait + 5):
            yield

    def check(self) -> None:
        self.backend.check()


def init_app(app: Flask, clock: Clock = time.time) -> None:
    """Give `app` its sealed store (`SESSION_TYPE`) and Flask-Session on top of it."""
    from store import flask_session

    if app.config["SESSION_TYPE"] == "redis":
        # Here, not at the top: an app on files never pays for importing redis-py.
        from store.redis_backend import RedisBackend

        url, timeout = app.config["REDIS_URL"], app.config["HTTP_TIMEOUT"]
        backend: Backend = RedisBackend.from_url(url, timeout)
    else:
        folder = app.config["SESSION_FILE_DIR"] or os.path.join(app.instance_path, "sessions")
        backend = FileBackend(folder, clock)
    app.extensions["store"] = SealedStore(
        backend, app.config["SECRET_KEY"], clock, app.config["SECRET_KEY_FALLBACKS"]
    )
    flask_session.init_app(app)


def forget_beside_session(sid: str) -> None:
    """Delete what lives beside session `sid` (its tokens, its flow notes)."""
    for purpose in BESIDE_SESSION:
        current().delete(purpose, sid)


def current() -> SealedStore:
    """The app's sealed store."""
    return current_app.extensions["store"]


def now() -> float:
    """The time by the store's clock (tests move it; everything else reads `time.time`)."""
    return current().clock()
