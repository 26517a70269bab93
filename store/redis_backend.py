"""Entries in Redis, shared by every instance that uses the same Redis; the same contract as
`FileBackend` (see `backends.py`). Its own module, so that redis-py is imported only by an app
configured for Redis."""

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from store.backends import LockBusy, StoreError

log = logging.getLogger(__name__)


class RedisBackend:
    """Entries as Redis keys `ilert-app:<name>`, with Redis's own TTLs, shared by every instance
    that uses the same Redis.

    A lock is a lease of `lease` seconds that a thread of its holder renews while the holder
    works (for `hold` seconds at most): a holder that dies frees it within a lease."""

    PREFIX = "ilert-app:"

    def __init__(self, client: redis.Redis, lease: float = 10.0) -> None:
        self.client = client
        self.lease = lease
        self._policy_checked = False  # whether `check` has looked at maxmemory-policy yet

    @classmethod
    def from_url(cls, url: str, timeout: float) -> "RedisBackend":
        """A backend on the Redis at `url`, waiting `timeout` seconds at most for an answer.

        A command that finds its pooled connection dropped (Redis restarted, a proxy's idle
        timeout) is sent once more on a new one. That is safe for every command here: a
        dropped connection sent nothing, `SET`/`PEXPIRE`/`DEL` do the same again, the lock's
        release checks its token, and a `GETDEL` whose answer was lost is lost either way.
        A timeout is not tried again: a Redis that hangs would hold the request twice as long.
        """
        retry = Retry(ExponentialBackoff(cap=0.5, base=0.05), 1, (redis.ConnectionError,))
        client = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=retry
        )
        # Renewed every third of it: at least 3 s leave a busy machine 2 s to renew in time
        # (with 1 s, a renewal 0.7 s late on a loaded machine let another request take it).
        return cls(client, lease=max(3.0, timeout))

    def get(self, name: str) -> tuple[bytes, float] | None:
        with redis_errors():
            pipeline = self.client.pipeline(transaction=False)
            pipeline.get(self.PREFIX + name)
            pipeline.pttl(self.PREFIX + name)
            value, milliseconds = pipeline.execute()
        if value is None:
            return None
        return cast(bytes, value), time.time() + max(0, milliseconds) / 1000

    def put(self, name: str, value: bytes, ttl: float) -> None:
        with redis_errors():
            self.client.set(self.PREFIX + name, value, px=max(1, int(ttl * 1000)))

    def add(self, name: str, value: bytes, ttl: float) -> bool:
        with redis_errors():
            added = self.client.set(self.PREFIX + name, value, px=max(1, int(ttl * 1000)), nx=True)
        return bool(added)

    def take(self, name: str) -> bytes | None:
        with redis_errors():
            return cast(bytes | None, self.client.getdel(self.PREFIX + name))

    def delete(self, name: str) -> None:
        with redis_errors():
            self.client.delete(self.PREFIX + name)

    def touch(self, names: list[str], ttl: float) -> None:
        with redis_errors():
            pipeline = self.client.pipeline(transaction=False)
            for name in names:
                pipeline.pexpire(self.PREFIX + name, max(1, int(ttl * 1000)))
            pipeline.execute()

    @contextmanager
    def lock(self, name: str, wait: float, hold: float) -> Iterator[None]:
        """The lock is leased for `lease` seconds and renewed while it is held, up to `hold`
        seconds (the longest a holder can need): should its holder die, it expires within a
        lease."""
        lease = min(hold, self.lease)
        lock = self.client.lock(
            f"{self.PREFIX}{name}:lock",
            timeout=lease,
            blocking_timeout=wait,
            sleep=0.02,
            thread_local=False,  # its renewer is another thread
        )
        with redis_errors():
            acquired = lock.acquire()
        if not acquired:
            raise LockBusy()
        renewer = _Renewer(lock, lease, hold)
        renewer.start()
        try:
            yield
        finally:
            renewer.stop()
            try:
                with redis_errors():
                    lock.release()
            except StoreError as error:
                # Its work is done; the lock frees itself within a lease.
                log.warning("A Redis lock was not released (%s)", error)

    def check(self) -> None:
        """PING; and, the first time it answers, a warning if Redis may evict keys: a session
        evicted without its tokens leaves a refresh token that nothing revokes, and tokens
        evicted without their session sign the person out (docs/production.md: noeviction)."""
        with redis_errors():
            self.client.ping()
        if not self._policy_checked:
            self._policy_checked = True
            try:
                policy = self.client.config_get("maxmemory-policy").get("maxmemory-policy")
            except redis.RedisError:  # CONFIG is often renamed away on managed Redis
                return
            if policy not in (None, "noeviction"):
                log.warning(
                    "Redis evicts keys (maxmemory-policy %s): set it to noeviction, or sessions "
                    "and their tokens may be evicted apart",
                    policy,
                )


class _Renewer(threading.Thread):
    """Renews a held lock's lease every third of it, for `hold` seconds at most."""

    def __init__(self, lock: redis.lock.Lock, lease: float, hold: float) -> None:
        super().__init__(name="redis-lock-renewer", daemon=True)
        self.lock = lock
        self.lease = lease
        self.until = time.monotonic() + hold
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.lease / 3):
            remaining = self.until - time.monotonic()
            if remaining <= 0:
                return
            try:
                self.lock.extend(min(self.lease, remaining), replace_ttl=True)
            except redis.RedisError as error:
                log.warning("A Redis lock's lease could not be renewed (%s)", error)
                return

    def stop(self) -> None:
        self.stopped.set()
        self.join()


@contextmanager
def redis_errors() -> Iterator[None]:
    try:
        yield
    except redis.exceptions.LockError as error:
        raise StoreError(f"Redis lock lost: {error}") from None
    except redis.RedisError as error:
        raise StoreError(f"Redis: {error}") from None
