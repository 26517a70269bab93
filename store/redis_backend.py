"""Entries in Redis, shared by every instance that uses the same Redis; the same contract as
`FileBackend` (see `backends.py`). Its own module, so that redis-py is imported only by an app
configured for Redis."""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast

import redis

from store.backends import LockBusy, StoreError


class RedisBackend:
    """Entries as Redis keys `ilert-app:<name>`, with Redis's own TTLs, shared by every instance
    that uses the same Redis."""

    PREFIX = "ilert-app:"

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

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
        """The lock expires by itself after `hold` seconds, the longest a holder can need,
        should its holder die."""
        lock = self.client.lock(
            f"{self.PREFIX}{name}:lock", timeout=hold, blocking_timeout=wait, sleep=0.02
        )
        with redis_errors():
            acquired = lock.acquire()
        if not acquired:
            raise LockBusy()
        try:
            yield
        finally:
            with redis_errors():
                lock.release()

    def check(self) -> None:
        with redis_errors():
            self.client.ping()


@contextmanager
def redis_errors() -> Iterator[None]:
    try:
        yield
    except redis.exceptions.LockError as error:
        raise StoreError(f"Redis lock lost: {error}") from None
    except redis.RedisError as error:
        raise StoreError(f"Redis: {error}") from None
