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
from collections.abc import Iterator
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
    """Entries addressed by (purpose, cookie), sealed before they reach the backend."""

    def __init__(self, backend: Backend, secret_key: str, clock: Clock = time.time) -> None:
        self.backend = backend
        self.sealer = Sealer(secret_key)
        self.clock = clock

    def get(self, purpose: str, cookie: str) -> Any | None:
        """The value, or None if there is none, it expired, or it does not open."""
        found = self.get_expiring(purpose, cookie)
        return None if found is None else found[0]

    def get_expiring(self, purpose: str, cookie: str) -> tuple[Any, float] | None:
        """The value and when it expires (epoch seconds), or None."""
        name, cipher = self.sealer.locate(purpose, cookie)
        found = self.backend.get(name)
        if found is None:
            return None
        value = self.sealer.open(name, cipher, found[0])
        return None if value is None else (value, found[1])

    def put(self, purpose: str, cookie: str, value: Any, ttl: float) -> None:
        """Replace the value in one step; it lives `ttl` seconds."""
        name, cipher = self.sealer.locate(purpose, cookie)
        self.backend.put(name, self.sealer.seal(name, cipher, value), ttl)

    def take(self, purpose: str, cookie: str) -> Any | None:
        """Claim the value: of concurrent takers, one gets it and the entry is gone."""
        name, cipher = self.sealer.locate(purpose, cookie)
        sealed = self.backend.take(name)
        return None if sealed is None else self.sealer.open(name, cipher, sealed)

    def seal(self, purpose: str, cookie: str, value: Any) -> bytes:
        """`value` sealed as an entry of `purpose` would be, to keep outside the store."""
        name, cipher = self.sealer.locate(purpose, cookie)
        return self.sealer.seal(name, cipher, value)

    def unseal(self, purpose: str, cookie: str, sealed: bytes) -> Any | None:
        """What `seal` sealed, or None if it does not open."""
        name, cipher = self.sealer.locate(purpose, cookie)
        return self.sealer.open(name, cipher, sealed)

    def delete(self, purpose: str, cookie: str) -> None:
        self.backend.delete(self.sealer.locate(purpose, cookie)[0])

    def touch(self, purposes: list[str], cookie: str, ttl: float) -> None:
        """Let this cookie's entries of these purposes live `ttl` seconds from now."""
        self.backend.touch([self.sealer.locate(p, cookie)[0] for p in purposes], ttl)

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
    app.extensions["store"] = SealedStore(backend, app.config["SECRET_KEY"], clock)
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
