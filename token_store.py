"""Each session's tokens, kept beside the session rather than inside it.

Flask-Session writes the whole session back at the end of a request that changed
it, so a request that started before a refresh would write the old tokens back if
they lived in the session. Here they live in their own entry, keyed by the session
id, read fresh whenever they are needed and replaced in one atomic write.

A refresh runs under a lock per session that holds across threads, worker
processes (a lock file) and instances (a Redis lock): concurrent requests that
all find the access token expiring send one refresh to ilert, and the others
wait and use its result. ilert rotates refresh tokens, so two refreshes racing
with the same refresh token would lose the session.

The flow inspector's notes live beside the session the same way, so that writing
them never writes the session (and never loses what another request put there).
"""

import fcntl
import hashlib
import json
import os
import random
import struct
import tempfile
import time
import zlib
from contextlib import contextmanager

from cachelib.file import FileSystemCache
from flask import current_app

import ilert_oauth

LOCK_STRIPES = 256
EXPIRED_FILE_SWEEP_CHANCE = 1 / 1000  # per write: a sweep reads every file's header


class SessionStoreError(Exception):
    """The session store could not be read or written."""


class SessionEnded(Exception):
    """The person's tokens are gone or no longer accepted; they must sign in again.

    `status` is set when the cause was an upstream failure (502, 504) that the error
    page should report; otherwise the person is sent home with the message.
    """

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status


class RefreshBusy(Exception):
    """Another request's refresh of this session took longer than we could wait."""


class StrictFileSystemCache(FileSystemCache):
    """A FileSystemCache whose failed reads and writes raise (cachelib's log a traceback and
    carry on), and which deletes expired files now and then (with `threshold=0`, cachelib
    never does: refresh tokens would stay on disk and the folder would grow for ever)."""

    def __init__(self, cache_dir, **options):
        super().__init__(cache_dir, **options)
        self.remove_expired()

    def get(self, key):
        """The entry, or None if there is none or its time is up.

        One unbuffered read of the whole file: two system calls fewer and a third less time
        than cachelib's buffered reads, for the two files every request reads (its session
        and its tokens). A file that cannot be read raises, where cachelib would log a
        traceback and answer None, which signs the person out."""
        try:
            with open(self._get_filename(key), "rb", buffering=0) as file:
                data = file.read()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise SessionStoreError(f"could not read from {self._path}: {error.strerror}") from None
        if len(data) <= 4:
            return None  # damaged: `set` replaces files whole, header and value
        expires = struct.unpack_from("I", data)[0]
        if expires != 0 and expires < time.time():
            return None
        return self.serializer.loads(data[4:])

    def set(self, key, value, timeout=None, mgmt_element=False):
        """Write the entry to a temporary file, then rename it into place (atomic)."""
        filename = self._get_filename(key)
        temporary = None
        try:
            descriptor, temporary = tempfile.mkstemp(
                suffix=self._fs_transaction_suffix, dir=self._path
            )
            with os.fdopen(descriptor, "wb") as file:
                file.write(struct.pack("I", self._normalize_timeout(timeout)))
                self.serializer.dump(value, file)
            os.replace(temporary, filename)
            os.chmod(filename, self._mode)
        except OSError as error:
            if temporary is not None and os.path.exists(temporary):
                os.remove(temporary)
            raise SessionStoreError(f"could not write to {self._path}: {error.strerror}") from None
        if random.random() < EXPIRED_FILE_SWEEP_CHANCE:
            self.remove_expired()
        return True

    def remove_expired(self):
        """Delete the files whose time is up."""
        self._remove_expired(time.time())


class FileTokenStore:
    """Entries beside the sessions, as files in a folder (one machine, any number of
    processes). Keys are session ids, or a session id with a prefix such as `flow:`."""

    def __init__(self, folder):
        self.folder = folder
        self.entries = StrictFileSystemCache(
            os.path.join(folder, "tokens"), threshold=0, mode=0o600
        )
        self.locks = os.path.join(folder, "locks")
        os.makedirs(self.locks, mode=0o700, exist_ok=True)

    def get(self, key):
        return self.entries.get(key)

    def put(self, key, value, ttl):
        self.entries.set(key, value, timeout=max(1, int(ttl)))

    def delete(self, key):
        self.entries.delete(key)

    @contextmanager
    def lock(self, sid, wait):
        """Hold this session's lock file; raise RefreshBusy after `wait` seconds.

        Sessions share a fixed set of lock files (a stripe each), so no lock file
        ever needs deleting, which could let two holders in at once.
        """
        stripe = zlib.crc32(sid.encode()) % LOCK_STRIPES
        with open(os.path.join(self.locks, f"{stripe}.lock"), "a") as handle:
            deadline = time.monotonic() + wait
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise RefreshBusy() from None
                    time.sleep(0.02)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def check(self):
        """Raise SessionStoreError unless each folder that sessions, tokens and locks are
        written to takes a write."""
        for name in ("sessions", "tokens", "locks"):
            path = os.path.join(self.folder, name)
            try:
                with tempfile.TemporaryFile(dir=path):
                    pass
            except OSError as error:
                raise SessionStoreError(f"{path} is not writable: {error.strerror}") from None


class RedisTokenStore:
    """Entries beside the sessions as Redis keys (`beside-session:<hash of the key>`),
    shared by every instance that uses the same Redis."""

    def __init__(self, client):
        self.client = client

    def get(self, key):
        value = self.client.get(self._key(key))
        return json.loads(value) if value is not None else None

    def put(self, key, value, ttl):
        self.client.set(self._key(key), json.dumps(value), ex=max(1, int(ttl)))

    def delete(self, key):
        self.client.delete(self._key(key))

    @contextmanager
    def lock(self, sid, wait):
        """Hold this session's Redis lock; raise RefreshBusy after `wait` seconds."""
        # The lock outlives the longest refresh: a connect timeout plus a read timeout.
        lock = self.client.lock(
            self._key(sid) + ":lock", timeout=2 * wait + 5, blocking_timeout=wait
        )
        if not lock.acquire():
            raise RefreshBusy()
        try:
            yield
        finally:
            lock.release()

    def check(self):
        self.client.ping()

    @staticmethod
    def _key(key):
        return "beside-session:" + hashlib.sha256(key.encode()).hexdigest()


def store():
    """The app's token store, made by `app.py` to match the session store."""
    return current_app.extensions["token_store"]


def keep(sid, tokens):
    """Keep freshly issued tokens for this session, for as long as they or the session live."""
    refresh_lifetime = tokens.get("refresh_token_expires_in")
    entry = {
        "access_token": tokens["access_token"],
        "refresh_token": tokens.get("refresh_token"),
        "expires_at": tokens["expires_at"],
        "expires_in": tokens["expires_in"],
        "scope": tokens.get("scope", ""),
        "refresh_expires_at": (
            time.time() + refresh_lifetime
            if tokens.get("refresh_token") and isinstance(refresh_lifetime, int)
            else None
        ),
    }
    store().put(sid, entry, _lifetime(entry))
    return entry


def touch(sid):
    """Renew the tokens' lifetime along with the session's (an idle timeout, not a fixed one).

    Under the session's lock, so that it never writes back tokens a refresh just replaced;
    if a refresh holds the lock, that refresh writes them with a fresh lifetime anyway.
    """
    try:
        with store().lock(sid, wait=0):
            entry = store().get(sid)
            if entry is not None:
                store().put(sid, entry, _lifetime(entry))
    except RefreshBusy:
        pass


def _lifetime(entry):
    """Seconds to keep an entry: the session's idle lifetime, at most the refresh token's."""
    lifetime = current_app.config["SESSION_LIFETIME"].total_seconds()
    if entry.get("refresh_expires_at"):
        lifetime = min(lifetime, entry["refresh_expires_at"] - time.time())
    return lifetime


def tokens_of(sid):
    """This session's current token entry; SessionEnded if there is none."""
    entry = store().get(sid)
    if entry is None:
        raise SessionEnded("Your sign-in has expired. Please sign in again.")
    return entry


def fresh_tokens(sid):
    """This session's tokens, refreshed first if the access token is about to expire."""
    entry = tokens_of(sid)
    if _expiring(entry):
        return refreshed_tokens(sid, entry["access_token"])
    return entry


def refreshed_tokens(sid, stale_access_token):
    """Refresh once, under this session's lock, unless another request already did."""
    wait = current_app.config["HTTP_TIMEOUT"]
    with store().lock(sid, wait):
        entry = tokens_of(sid)
        if entry["access_token"] != stale_access_token:
            return entry
        if not entry.get("refresh_token"):
            store().delete(sid)
            raise SessionEnded("Your access to ilert has expired. Please sign in again.")
        try:
            tokens = ilert_oauth.refresh(entry["refresh_token"])
        except ilert_oauth.IlertError as error:
            if error.error == "invalid_grant":
                store().delete(sid)
                raise SessionEnded(
                    "ilert no longer accepts this sign-in (it expired, was revoked, or was "
                    "replaced by newer sign-ins). Please sign in again."
                ) from None
            if error.answer_lost:
                # The refresh token may already be spent on ilert's side: never retry blindly.
                store().delete(sid)
                raise SessionEnded(
                    f"{error.description} It was renewing your access, so the sign-in "
                    "cannot be trusted any more. Please sign in again.",
                    status=error.status,
                ) from None
            raise
        tokens.setdefault("refresh_token", entry["refresh_token"])
        return keep(sid, tokens)


def call_api(sid, method, path):
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
    store().delete(sid)
    raise SessionEnded(
        "ilert no longer accepts this app's access for you (it may have been removed in "
        "your ilert profile). Please sign in again."
    )


def flow_of(sid):
    """The flow inspector's notes for this session (its last sign-in and API calls)."""
    return store().get("flow:" + sid) or []


def keep_flow(sid, calls):
    store().put("flow:" + sid, calls, current_app.config["SESSION_LIFETIME"].total_seconds())


def forget_flow(sid):
    store().delete("flow:" + sid)


def forget(sid):
    """Delete this session's tokens and return the refresh token they held, if any."""
    entry = store().get(sid)
    store().delete(sid)
    return entry.get("refresh_token") if entry else None


def _expiring(entry):
    """True when less than min(60 s, 10 % of the token's lifetime) remains."""
    return entry["expires_at"] - time.time() < min(60, entry["expires_in"] / 10)
