"""Where sealed entries live: a folder of files here, or Redis (`redis_backend.py`). Both keep
the same contract.

A backend stores opaque bytes under names it is given, each with a time to live, and knows
nothing about sessions, cookies or keys. `take` is the atomic claim (Redis `GETDEL`; a file
renamed away before it is read): of two requests taking one entry at once, exactly one gets it.
"""

import errno
import logging
import os
import stat
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Protocol

import filelock

from config_checks import ConfigError, check_private_folder

Clock = Callable[[], float]
# os.utime is told not to follow a symlink wherever the system lets it be told so.
UTIME_FOLLOWS_SYMLINKS = os.utime not in os.supports_follow_symlinks
LOCK_STRIPES = 4096  # lock files, made as needed: unrelated sessions rarely share one
SWEEP_STEP = 20  # expired files looked at per write: no request pays for a whole sweep
SWEEP_GRACE = 60  # seconds an entry stays expired before a sweep deletes its file
TEMPORARY_PREFIX = ".new-"  # a file being written, renamed into place when complete
TAKEN_INFIX = ".taken-"  # an entry taken (renamed away), being read before it is deleted
# Windows would translate line ends without O_BINARY. O_NOFOLLOW: a symlink planted in the
# store is never followed; O_NONBLOCK: a FIFO planted there opens at once instead of hanging.
READ_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_BINARY", 0)
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
)

log = logging.getLogger(__name__)


class StoreError(Exception):
    """The store could not be read or written (the message names where; it is only logged)."""


class LockBusy(Exception):
    """A lock was held by someone else for longer than we could wait."""


class Backend(Protocol):
    """What the sealed store needs from a place to keep bytes."""

    def get(self, name: str) -> tuple[bytes, float] | None:
        """The live value under `name` and when it expires (epoch seconds), or None."""

    def put(self, name: str, value: bytes, ttl: float) -> None:
        """Replace the value under `name` in one step; it expires after `ttl` seconds."""

    def add(self, name: str, value: bytes, ttl: float) -> bool:
        """Put the value under `name` only if none lives there; whether it did."""

    def take(self, name: str) -> bytes | None:
        """Remove and return the live value under `name`: one caller of many gets it."""

    def delete(self, name: str) -> None:
        """Remove the value under `name`, if any."""

    def touch(self, names: list[str], ttl: float) -> None:
        """Let the values that exist under `names` live `ttl` seconds from now."""

    def lock(self, name: str, wait: float, hold: float) -> AbstractContextManager[None]:
        """Hold the lock called `name` across threads, processes and instances; LockBusy after
        `wait` seconds (also for a thread asking again for a lock it holds; it may hold other
        locks meanwhile). Should its holder die, it frees itself after `hold` seconds at most
        (where the backend can tell: Redis)."""

    def check(self) -> None:
        """Raise StoreError unless the backend answers and takes writes."""


class FileBackend:
    """A file per entry in `folder/entries` (0600, in folders 0700 that this user owns), written
    to a temporary file and renamed into place. A file's modification time is its expiry, so
    renewing an entry never rewrites it, and expired files are removed a few per write."""

    def __init__(self, folder: str, clock: Clock) -> None:
        # Resolved once: swapping a symlink on the way to the folder later moves nothing.
        folder = os.path.realpath(folder)
        self.entries = os.path.join(folder, "entries")
        self.locks = os.path.join(folder, "locks")
        self.clock = clock
        for path in (folder, self.entries, self.locks):
            _private_folder(path)
        self._sweep: os._ScandirIterator[str] | None = None  # the pass over entries/ going on
        self._sweeping = threading.Lock()
        self._held_by_this_thread = threading.local()  # {stripe: _HeldStripe}

    def get(self, name: str) -> tuple[bytes, float] | None:
        try:
            value, expires_at = _read(self._path(name))
        except FileNotFoundError:
            return None
        except OSError as error:
            raise StoreError(f"could not read from {self.entries}: {error.strerror}") from None
        return None if expires_at <= self.clock() else (value, expires_at)

    def put(self, name: str, value: bytes, ttl: float) -> None:
        temporary = self._write_temporary(value, ttl)
        try:
            os.replace(temporary, self._path(name))
        except OSError as error:
            _remove_quietly(temporary)
            raise StoreError(f"could not write to {self.entries}: {error.strerror}") from None
        self._sweep_a_few()

    def add(self, name: str, value: bytes, ttl: float) -> bool:
        """A hard link is made only where no file is: the check and the write are one step."""
        temporary = self._write_temporary(value, ttl)
        try:
            os.link(temporary, self._path(name))
            return True
        except FileExistsError:
            if self.get(name) is not None:
                return False
            os.replace(temporary, self._path(name))  # an expired file is as good as none
            return True
        except OSError as error:
            raise StoreError(f"could not write to {self.entries}: {error.strerror}") from None
        finally:
            _remove_quietly(temporary)

    def _write_temporary(self, value: bytes, ttl: float) -> str:
        """A new file in entries/ holding `value`, its modification time its expiry."""
        temporary = None
        try:
            try:
                descriptor, temporary = tempfile.mkstemp(prefix=TEMPORARY_PREFIX, dir=self.entries)
            except FileNotFoundError:
                self._make_folders_again()
                descriptor, temporary = tempfile.mkstemp(prefix=TEMPORARY_PREFIX, dir=self.entries)
            with os.fdopen(descriptor, "wb") as file:
                file.write(value)
            expires = self.clock() + ttl
            os.utime(temporary, (expires, expires))
            return temporary
        except OSError as error:
            if temporary is not None:
                _remove_quietly(temporary)
            raise StoreError(f"could not write to {self.entries}: {error.strerror}") from None

    def take(self, name: str) -> bytes | None:
        taken = f"{self._path(name)}{TAKEN_INFIX}{os.urandom(8).hex()}"
        try:
            os.rename(self._path(name), taken)
        except FileNotFoundError:
            return None
        except OSError as error:
            raise StoreError(f"could not claim in {self.entries}: {error.strerror}") from None
        try:
            value, expires_at = _read(taken)
            os.remove(taken)
        except FileNotFoundError:
            return None  # expired long ago: the sweep took it first
        except OSError as error:
            raise StoreError(f"could not read from {self.entries}: {error.strerror}") from None
        return value if expires_at > self.clock() else None

    def delete(self, name: str) -> None:
        try:
            os.remove(self._path(name))
        except FileNotFoundError:
            pass
        except OSError as error:
            raise StoreError(f"could not delete in {self.entries}: {error.strerror}") from None

    def touch(self, names: list[str], ttl: float) -> None:
        now = self.clock()
        expires = now + ttl
        for name in names:
            try:
                if os.lstat(self._path(name)).st_mtime <= now:
                    continue  # expired: as good as gone, never brought back
                os.utime(
                    self._path(name), (expires, expires), follow_symlinks=UTIME_FOLLOWS_SYMLINKS
                )
            except FileNotFoundError:
                pass
            except OSError as error:
                raise StoreError(f"could not renew in {self.entries}: {error.strerror}") from None

    @contextmanager
    def lock(self, name: str, wait: float, hold: float) -> Iterator[None]:
        """Locks share a fixed set of lock files (a stripe each), so none is ever deleted,
        which could let two holders in at once. The system frees a dead holder's lock.

        A thread that holds a stripe may take another name of it (a callback holds its
        sign-in's lock while it takes the tokens' lock): it holds the file already, and a
        second acquisition would wait for itself. The file is let go when the last of the
        thread's names on it is. The same name twice waits and is busy, as in Redis."""
        stripe = zlib.crc32(name.encode()) % LOCK_STRIPES
        held = self._held_by_this_thread.__dict__.setdefault("stripes", {})
        record = held.get(stripe)
        if record is None:
            if not os.path.isdir(self.locks):  # else filelock makes it, as the umask says
                self._make_folders_again()
            lock = filelock.FileLock(os.path.join(self.locks, f"{stripe}.lock"), mode=0o600)
            try:
                lock.acquire(timeout=wait, poll_interval=0.02)
            except filelock.Timeout:
                raise LockBusy() from None
            except OSError as error:
                raise StoreError(f"could not lock in {self.locks}: {error.strerror}") from None
            record = held[stripe] = _HeldStripe(lock, set())
        elif name in record.names:
            time.sleep(wait)  # a thread never gets a lock it holds
            raise LockBusy()
        record.names.add(name)
        try:
            yield
        finally:
            record.names.discard(name)
            if not record.names:
                del held[stripe]
                record.lock.release()

    def check(self) -> None:
        for path in (self.entries, self.locks):
            try:
                with tempfile.TemporaryFile(dir=path):
                    pass
            except OSError as error:
                raise StoreError(f"{path} is not writable: {error.strerror}") from None

    def sweep(self) -> None:
        """Remove every expired file now (tests, or a cron job; requests remove a few each)."""
        while self._sweep_a_few(everything=True):
            pass

    def _sweep_a_few(self, everything: bool = False) -> bool:
        """Look at the next few files and delete those expired for a while; True while the
        pass over the folder goes on. One thread sweeps at a time; the others skip it."""
        if not self._sweeping.acquire(blocking=everything):
            return False
        try:
            if self._sweep is None:
                self._sweep = os.scandir(self.entries)
            sweep, cutoff = self._sweep, self.clock() - SWEEP_GRACE
            for _ in range(SWEEP_STEP):
                entry = next(sweep, None)
                if entry is None:
                    sweep.close()
                    self._sweep = None
                    return False
                try:
                    if _changed_or_expired(entry) < cutoff:
                        os.remove(entry.path)
                except FileNotFoundError:
                    pass
            return True
        except OSError:
            if self._sweep is not None:
                self._sweep.close()
            self._sweep = None  # the next write starts a new pass
            return False
        finally:
            self._sweeping.release()

    def _make_folders_again(self) -> None:
        """The folders as start-up made them, after someone deleted them while the app ran
        (every session in them is lost): else no sign-in would work again until a restart."""
        log.warning("The session folder %s was gone: made again, empty", self.entries)
        try:
            for path in (os.path.dirname(self.entries), self.entries, self.locks):
                _private_folder(path)
        except ConfigError as error:
            raise StoreError(str(error)) from None

    def _path(self, name: str) -> str:
        return f"{self.entries}/{name}"

    def __del__(self) -> None:
        sweep = getattr(self, "_sweep", None)
        if sweep is not None:
            sweep.close()


def _changed_or_expired(entry: os.DirEntry[str]) -> float:
    """When a file stops being worth keeping: an entry when it expires (its modification time);
    a temporary file (being written, or taken and being read) when it was last changed, since
    its modification time may already be the expiry of the entry it was to be. One left by a
    write or a take that crashed goes within SWEEP_GRACE, not when that entry would expire."""
    status = entry.stat(follow_symlinks=False)
    temporary = entry.name.startswith(TEMPORARY_PREFIX) or TAKEN_INFIX in entry.name
    return status.st_ctime if temporary else status.st_mtime


def _read(path: str) -> tuple[bytes, float]:
    """A file's bytes and modification time (an entry's expiry), by bare system calls: every
    request reads its session and tokens, and a Python file object around them took twice as
    long. OSError as the system gives it (also for a folder). A symlink, FIFO, device or socket
    is no entry of ours: it is not followed or read, but logged and treated as missing."""
    try:
        descriptor = os.open(path, READ_FLAGS)
    except OSError as error:
        if error.errno != errno.ELOOP:
            raise
        log.warning("A symlink in the session store was not followed: treated as missing")
        raise FileNotFoundError(path) from None
    try:
        status = os.fstat(descriptor)
        if stat.S_ISDIR(status.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
        if not stat.S_ISREG(status.st_mode):
            log.warning("A file in the session store is not a regular file: treated as missing")
            raise FileNotFoundError(path)
        value = os.read(descriptor, status.st_size)
        while len(value) < status.st_size and (more := os.read(descriptor, status.st_size)):
            value += more  # a network file system may answer in parts
    finally:
        os.close(descriptor)
    return value, status.st_mtime


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


@dataclass
class _HeldStripe:
    """A lock file a thread holds, and the names it holds it for."""

    lock: filelock.FileLock
    names: set[str]


def _private_folder(path: str) -> None:
    """Create `path` 0700, or refuse it if another user owns it or others can write to it."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
    except OSError as error:
        raise ConfigError(
            f"SESSION_FILE_DIR is not usable: {path} cannot be created ({error.strerror})"
        ) from None
    check_private_folder(path)
