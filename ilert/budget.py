"""One budget of calls to ilert for the whole deployment: every worker and instance together.

ilert allows 700 API requests a minute per client address, and a backend app calls ilert from
one address for all its people. So every call first takes its turn from one budget
(`ILERT_RATE_LIMIT`, `600/min` by default) kept where the session store keeps its entries:
a small file under a lock file (`filelock`) on one machine, a Redis hash changed by a Lua
script across machines. A 429 from ilert pauses every worker and instance for ilert's
`Retry-After` (15 s without one), and calls then start again one turn at a time: ilert never
sees a retry storm.

The budget is a GCRA (generic cell rate algorithm), a token bucket kept as one number: the
time the next turn is due ("tat"). Turns come every `interval` seconds, and up to a second's
worth of them at once. A call whose turn is due within `MAX_WAIT` seconds waits for it; any
other answers "ilert is busy, try again in N s" without calling ilert.
"""

import logging
import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

import filelock
from flask import Flask, current_app

import metrics
import store
from ilert.oauth import IlertError
from store.backends import FileBackend

MAX_WAIT = 2.0  # seconds a page may wait for its turn before answering "ilert is busy"
PAUSE_WITHOUT_RETRY_AFTER = 15.0  # seconds, after a 429 that does not say how long
LONGEST_PAUSE = 300.0  # seconds: a Retry-After beyond this is taken as this
STATE_FILE = "ilert-budget"
BUSY_ERROR = "ilert_busy"  # the IlertError of a call the budget refused: ilert was not called

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rate:
    """`calls` per `per` seconds, as `ILERT_RATE_LIMIT` gives it."""

    calls: int
    per: float

    @property
    def interval(self) -> float:
        """Seconds between two turns."""
        return self.per / self.calls

    @property
    def burst(self) -> int:
        """Turns that may be taken at once: a second's worth (in any minute, ilert then sees
        at most the rate and one second more)."""
        return max(1, math.ceil(self.calls / self.per))


class State(Protocol):
    """Where a budget keeps its two times (epoch seconds): when the next turn is due, and
    until when ilert asked to pause."""

    def reserve(self, now: float, rate: Rate, max_wait: float) -> tuple[bool, float]:
        """Take the next turn if it is due within `max_wait` seconds. Returns whether it was
        taken, and the seconds until it is due."""

    def pause(self, now: float, rate: Rate, seconds: float) -> None:
        """Start no turn for `seconds`, then one turn at a time."""

    def paused_until(self) -> float:
        """Until when ilert asked to pause (0 if it never did)."""


class Budget:
    """The deployment's budget of calls to ilert."""

    def __init__(self, state: State, rate: Rate) -> None:
        self.state, self.rate = state, rate

    def take_turn(self) -> None:
        """Wait for this call's turn (at most MAX_WAIT seconds), or raise the 503 "ilert is
        busy, try again in N s" without calling ilert. A store that cannot keep the budget
        (a full disk, Redis out of memory) lets the call through: ilert's own limit still
        holds, and a refresh must not fail for want of a count. So does a budget whose lock
        another process held past MAX_WAIT (a stalled worker, a slow disk)."""
        try:
            taken, wait = self.state.reserve(store.now(), self.rate, MAX_WAIT)
        except store.StoreError as error:
            log.warning("The ilert budget could not be kept (%s): calling ilert anyway", error)
            return
        except store.LockBusy:
            log.warning(
                "The ilert budget's lock stayed busy for %g s: calling ilert anyway", MAX_WAIT
            )
            return
        if not taken:
            metrics.BUSY.labels("ilert_busy").inc()
            seconds = math.ceil(wait)
            raise IlertError(
                503, BUSY_ERROR, f"ilert is busy: try again in {seconds} s.", str(seconds)
            )
        if wait > 0:
            metrics.BUDGET_WAITS.inc()
            time.sleep(wait)

    def pause(self, retry_after: str | None) -> int:
        """ilert answered 429: pause every worker and instance for its `Retry-After` (whole
        seconds; 15 without one). Returns the seconds paused."""
        seconds = float(retry_after) if retry_after else PAUSE_WITHOUT_RETRY_AFTER
        seconds = min(max(seconds, 1.0), LONGEST_PAUSE)
        try:
            self.state.pause(store.now(), self.rate, seconds)
        except store.StoreError as error:
            log.warning("ilert's pause could not be kept for the deployment (%s)", error)
        return math.ceil(seconds)

    def paused_for(self) -> float:
        """Seconds the pause that ilert asked for still lasts (0 when there is none)."""
        return min(max(0.0, self.state.paused_until() - store.now()), LONGEST_PAUSE)


def init_app(app: Flask) -> None:
    """Give the app its budget (`ILERT_RATE_LIMIT`; none when it is `0`), kept by the
    session store's backend. Call after `store.init_app`."""
    rate = app.config["ILERT_RATE_LIMIT"]
    if rate is None:
        app.extensions["ilert_budget"] = None
        return
    backend = app.extensions["store"].backend
    state: State
    if isinstance(backend, FileBackend):
        state = FileState(os.path.dirname(backend.entries), backend.locks)
    else:
        from ilert.budget_redis import RedisState  # an app on files never imports redis-py

        state = RedisState(backend.client)
    app.extensions["ilert_budget"] = Budget(state, Rate(*rate))


def current() -> Budget | None:
    """The app's budget, or None when `ILERT_RATE_LIMIT` is 0."""
    return current_app.extensions["ilert_budget"]


def within_reach(tat: float, paused_until: float, now: float, rate: Rate) -> tuple[float, float]:
    """The two times no further ahead of `now` than they can be: a pause ends within
    LONGEST_PAUSE, and the tat is within a burst and MAX_WAIT of its end. A clock stepped back
    (or one instance's clock behind another's) would otherwise leave them that far in the
    future, and every call would be "ilert is busy" until the clock caught up."""
    paused_until = min(paused_until, now + LONGEST_PAUSE)
    reach = max(now, paused_until) + rate.burst * rate.interval + MAX_WAIT
    return min(tat, reach), paused_until


def reserve(
    tat: float, paused_until: float, now: float, rate: Rate, max_wait: float
) -> tuple[float, float, bool, float]:
    """GCRA: the tat and pause to keep, whether this call's turn is due within `max_wait`, and
    the seconds until it is. The Lua script of `budget_redis` is this function, line for line.
    A refused call changes nothing, unless the times were beyond reach (`within_reach`)."""
    tat, paused_until = within_reach(tat, paused_until, now, rate)
    due = max(paused_until, max(tat, now) + rate.interval - rate.burst * rate.interval)
    wait = max(0.0, due - now)
    if wait > max_wait:
        return tat, paused_until, False, wait
    return max(tat, now + wait) + rate.interval, paused_until, True, wait


def paused(
    tat: float, paused_until: float, now: float, rate: Rate, seconds: float
) -> tuple[float, float]:
    """(tat, paused_until) after a pause of `seconds`: no turn until it ends, and then no
    burst, one turn every interval (the tat as if a burst had just been taken then)."""
    tat, paused_until = within_reach(tat, paused_until, now, rate)
    paused_until = max(paused_until, now + seconds)
    return max(tat, paused_until + (rate.burst - 1) * rate.interval), paused_until


class FileState:
    """The two times as text in `folder/ilert-budget`, changed under a lock file: shared by
    the workers of one machine."""

    def __init__(self, folder: str, locks: str) -> None:
        self.path = os.path.join(folder, STATE_FILE)
        self.lock_file = os.path.join(locks, f"{STATE_FILE}.lock")

    def reserve(self, now: float, rate: Rate, max_wait: float) -> tuple[bool, float]:
        with self._changing() as (descriptor, tat, paused_until):
            *kept, taken, wait = reserve(tat, paused_until, now, rate, max_wait)
            if kept != [tat, paused_until]:
                _write(descriptor, *kept)
            return taken, wait

    def pause(self, now: float, rate: Rate, seconds: float) -> None:
        with self._changing() as (descriptor, tat, paused_until):
            _write(descriptor, *paused(tat, paused_until, now, rate, seconds))

    def paused_until(self) -> float:
        try:
            with open(self.path, "rb") as file:
                return _parse(file.read())[1]
        except FileNotFoundError:
            return 0.0
        except OSError as error:
            raise store.StoreError(f"could not read {self.path}: {error.strerror}") from None

    @contextmanager
    def _changing(self) -> Iterator[tuple[int, float, float]]:
        """The state file, open and locked, and the two times read from it."""
        # A lock of its own each time, as in FileBackend: one made before gunicorn forks its
        # workers would be shared with them.
        lock = filelock.FileLock(self.lock_file, mode=0o600)
        try:
            lock.acquire(timeout=MAX_WAIT, poll_interval=0.005)
        except filelock.Timeout:
            raise store.LockBusy() from None
        except OSError as error:
            raise store.StoreError(f"could not lock {self.lock_file}: {error.strerror}") from None
        try:
            descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                yield (descriptor, *_parse(os.pread(descriptor, 64, 0)))
            finally:
                os.close(descriptor)
        except OSError as error:
            raise store.StoreError(f"could not use {self.path}: {error.strerror}") from None
        finally:
            lock.release()


def _parse(text: bytes) -> tuple[float, float]:
    try:
        tat, paused_until = text.split()
        return float(tat), float(paused_until)
    except ValueError:  # new, or cut off by a crash: a full budget
        return 0.0, 0.0


def _write(descriptor: int, tat: float, paused_until: float) -> None:
    text = f"{tat:.6f} {paused_until:.6f}".encode()
    os.pwrite(descriptor, text.ljust(64), 0)
