"""One store contract, two backends: every test here runs against the filesystem store and
a real Redis, with a clock the test moves (Redis keeps time itself: there, expiry waits a
tenth of a second for real)."""

import os
import threading
import time
import zlib
from pathlib import Path

import pytest
import redis

from ilert import rescue
from store import LockBusy, SealedStore
from store.backends import LOCK_STRIPES, SWEEP_GRACE, TAKEN_INFIX, TEMPORARY_PREFIX, FileBackend
from store.redis_backend import RedisBackend


@pytest.fixture(params=["filesystem", "redis"])
def kind(request):
    return request.param


@pytest.fixture
def sealed(request, kind, tmp_path, clock):
    """A SealedStore on the backend `kind`."""
    if kind == "redis":
        server = request.getfixturevalue("redis_server")
        backend = RedisBackend(redis.Redis.from_url(server.url))
    else:
        backend = FileBackend(str(tmp_path / "store"), clock)
    return SealedStore(backend, "a-secret-key-for-the-tests", clock)


def let_expire(kind, clock, seconds):
    """Let `seconds` pass for the store: move the clock, or for Redis wait for real."""
    if kind == "redis":
        time.sleep(seconds + 0.05)
    else:
        clock.advance(seconds + 0.05)


def raw_values(sealed):
    """Every name and value the backend holds."""
    backend = sealed.backend
    if isinstance(backend, RedisBackend):
        return {key: backend.client.get(key) for key in backend.client.keys("*")}
    return {path.name: path.read_bytes() for path in Path(backend.entries).iterdir()}


def test_a_value_comes_back_as_it_was_put(sealed):
    value = {"access_token": "at-1", "expires_in": 3600, "scope": ["a", "b"], "none": None}
    sealed.put("tokens", "cookie-1", value, 60)
    assert sealed.get("tokens", "cookie-1") == value
    assert sealed.get("tokens", "cookie-2") is None
    assert sealed.get("session", "cookie-1") is None  # another purpose is another entry


def test_an_entry_says_when_it_expires(sealed, clock):
    sealed.put("session", "cookie", {"n": 1}, 60)
    value, expires_at = sealed.get_expiring("session", "cookie")
    assert value == {"n": 1}
    assert clock() + 59 < expires_at <= clock() + 60.5


def test_put_replaces_the_value(sealed):
    sealed.put("tokens", "cookie", {"n": 1}, 60)
    sealed.put("tokens", "cookie", {"n": 2}, 60)
    assert sealed.get("tokens", "cookie") == {"n": 2}


def test_an_entry_expires_after_its_time_to_live(sealed, kind, clock):
    sealed.put("tokens", "short", {"n": 1}, 0.1)
    sealed.put("tokens", "long", {"n": 2}, 60)
    let_expire(kind, clock, 0.1)
    assert sealed.get("tokens", "short") is None
    assert sealed.take("tokens", "short") is None
    assert sealed.get("tokens", "long") == {"n": 2}


def test_touch_renews_an_entry_in_place(sealed, kind, clock):
    sealed.put("tokens", "cookie", {"n": 1}, 0.1)
    sealed.touch(["tokens", "flow"], "cookie", 60)  # a missing entry is no error
    let_expire(kind, clock, 0.1)
    assert sealed.get("tokens", "cookie") == {"n": 1}
    assert sealed.get("flow", "cookie") is None


def test_delete_removes_an_entry(sealed):
    sealed.put("tokens", "cookie", {"n": 1}, 60)
    sealed.delete("tokens", "cookie")
    sealed.delete("tokens", "never-there")
    assert sealed.get("tokens", "cookie") is None


def test_of_concurrent_takers_exactly_one_gets_the_entry(sealed):
    for trial in range(10):
        sealed.put("sign-in", f"nonce-{trial}", {"trial": trial}, 60)
        results, start = [], threading.Barrier(6)

        def take(trial=trial, results=results, start=start):
            start.wait()
            results.append(sealed.take("sign-in", f"nonce-{trial}"))

        threads = [threading.Thread(target=take) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(results, key=str) == [None] * 5 + [{"trial": trial}]
        assert sealed.get("sign-in", f"nonce-{trial}") is None


def test_a_lock_admits_one_holder_and_times_out_the_others(sealed):
    inside, overlaps = [], []

    def hold():
        with sealed.lock("tokens", "cookie", wait=5):
            inside.append(1)
            overlaps.append(len(inside))
            time.sleep(0.02)
            inside.pop()

    threads = [threading.Thread(target=hold) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps == [1] * 5
    with sealed.lock("tokens", "cookie", wait=1):
        with pytest.raises(LockBusy):
            with sealed.lock("tokens", "cookie", wait=0.1):
                pass
        with sealed.lock("tokens", "another-cookie", wait=0.1):
            pass  # another session's lock is free


def locks_sharing_a_file(sealed):
    """A sign-in's cookie and a session's whose locks share a lock file of the filesystem
    store (which has LOCK_STRIPES of them); in Redis every lock is a key of its own."""
    stripes = {}
    for number in range(10_000):
        for purpose in ("sign-in", "tokens"):
            name = sealed.sealer.locate(purpose, f"cookie-{number}")[0]
            stripe = zlib.crc32(name.encode()) % LOCK_STRIPES
            other = stripes.setdefault(stripe, (purpose, f"cookie-{number}"))
            if other[0] != purpose:
                return (other, (purpose, f"cookie-{number}"))
    raise AssertionError("no two locks share a file")


def taken_elsewhere(sealed, purpose, cookie):
    """Whether another thread gets this lock within 0.2 s."""
    got = []

    def take():
        try:
            with sealed.lock(purpose, cookie, wait=0.2):
                got.append(True)
        except LockBusy:
            got.append(False)

    other = threading.Thread(target=take)
    other.start()
    other.join()
    return got == [True]


@pytest.mark.parametrize("last_out", ["second", "first"])
def test_a_thread_holding_a_lock_takes_another_that_shares_its_file(sealed, last_out):
    (first, first_cookie), (second, second_cookie) = sorted(locks_sharing_a_file(sealed))
    locks = {"first": sealed.lock(first, first_cookie, wait=1)}
    locks["second"] = sealed.lock(second, second_cookie, wait=1)
    started = time.monotonic()
    for lock in locks.values():
        lock.__enter__()
    try:
        assert time.monotonic() - started < 0.5  # it did not wait for itself
        assert not taken_elsewhere(sealed, second, second_cookie)
        first_out = "first" if last_out == "second" else "second"
        locks.pop(first_out).__exit__(None, None, None)
        still_held = (first, first_cookie) if last_out == "first" else (second, second_cookie)
        assert not taken_elsewhere(sealed, *still_held)  # held until both are let go
        started = time.monotonic()
        with pytest.raises(LockBusy):
            with sealed.lock(*still_held, wait=0.2):
                pass  # a thread asking again for a lock it holds waits, then is busy
        assert time.monotonic() - started >= 0.15
    finally:
        for lock in locks.values():
            lock.__exit__(None, None, None)
    assert taken_elsewhere(sealed, first, first_cookie)
    assert taken_elsewhere(sealed, second, second_cookie)


def test_the_backend_holds_neither_the_cookie_nor_the_value(sealed):
    sealed.put("tokens", "the-session-cookie", {"access_token": "at-secret-value"}, 60)
    ((name, value),) = raw_values(sealed).items()
    name = name.decode() if isinstance(name, bytes) else name
    assert "the-session-cookie" not in name
    assert b"at-secret-value" not in value and b"access_token" not in value


def test_a_changed_byte_makes_an_entry_missing_with_one_log_line(sealed, caplog):
    sealed.put("tokens", "cookie", {"n": 1}, 60)
    name = sealed.sealer.locate("tokens", "cookie")[0]
    value = bytearray(sealed.backend.get(name)[0])
    value[-1] ^= 1
    sealed.backend.put(name, bytes(value), 60)
    assert sealed.get("tokens", "cookie") is None
    assert [r.getMessage() for r in caplog.records if "did not open" in r.getMessage()]


def test_an_entry_moved_to_another_name_does_not_open(sealed):
    sealed.put("tokens", "victim", {"access_token": "victims"}, 60)
    victim, _ = sealed.backend.get(sealed.sealer.locate("tokens", "victim")[0])
    sealed.backend.put(sealed.sealer.locate("tokens", "attacker")[0], victim, 60)
    assert sealed.get("tokens", "attacker") is None


def test_another_secret_key_opens_nothing(sealed, clock):
    sealed.put("tokens", "cookie", {"n": 1}, 60)
    other = SealedStore(sealed.backend, "another-secret-key", clock)
    assert other.get("tokens", "cookie") is None


# --- key rotation (SECRET_KEY_FALLBACKS) ---------------------------------------------------


def rotated(sealed, clock):
    """The same backend under a new key, with the tests' key as its fallback."""
    return SealedStore(sealed.backend, "the-new-secret-key", clock, ["a-secret-key-for-the-tests"])


def test_an_entry_of_an_older_key_opens_and_is_sealed_again_under_the_new_one(sealed, clock):
    sealed.put("tokens", "cookie", {"n": 1}, 60)
    assert rotated(sealed, clock).get("tokens", "cookie") == {"n": 1}
    new_key_alone = SealedStore(sealed.backend, "the-new-secret-key", clock)
    assert new_key_alone.get("tokens", "cookie") == {"n": 1}
    assert sealed.get("tokens", "cookie") is None  # no copy is left under the old key
    assert len(raw_values(sealed)) == 1
    expires_at = new_key_alone.get_expiring("tokens", "cookie")[1]
    assert expires_at <= clock() + 60  # sealing again never extends an entry's life


def test_sealing_again_never_replaces_a_newer_value(sealed, clock):
    sealed.put("tokens", "cookie", {"n": 1}, 60)
    new = rotated(sealed, clock)
    old_name = sealed.sealer.locate("tokens", "cookie")[0]
    stale = sealed.backend.get(old_name)[0]
    new.put("tokens", "cookie", {"n": 2}, 60)  # a refresh, under the new key
    sealed.backend.put(old_name, stale, 60)  # a slower request still held the old copy
    assert new.get("tokens", "cookie") == {"n": 2}


def test_delete_and_take_reach_the_older_keys_copies_too(sealed, clock):
    new = rotated(sealed, clock)
    sealed.put("session", "one", {"n": 1}, 60)
    sealed.put("sign-in", "two", {"n": 2}, 60)
    new.delete("session", "one")
    assert new.get("session", "one") is None and sealed.get("session", "one") is None
    assert new.take("sign-in", "two") == {"n": 2}
    assert raw_values(sealed) == {}


def test_a_value_kept_outside_the_store_opens_under_an_older_key(sealed, clock):
    """Renewed tokens the store refused wait in a sealed cookie (ilert/rescue.py): rotating
    the key meanwhile must not lose them, or the session's spent refresh token is all it has."""
    kept = sealed.seal(rescue.PURPOSE, "cookie", {"n": 1})
    assert rotated(sealed, clock).unseal(rescue.PURPOSE, "cookie", kept) == {"n": 1}
    new_key_alone = SealedStore(sealed.backend, "the-new-secret-key", clock)
    assert new_key_alone.unseal(rescue.PURPOSE, "cookie", kept) is None


def test_touch_renews_the_older_keys_copies_too(sealed, kind, clock):
    sealed.put("tokens", "cookie", {"n": 1}, 1)
    rotated(sealed, clock).touch(["tokens"], "cookie", 60)
    let_expire(kind, clock, 1)
    assert sealed.get("tokens", "cookie") == {"n": 1}


def test_check_passes_on_a_working_store(sealed):
    sealed.check()


def test_expired_files_are_swept_a_few_per_write(tmp_path, clock):
    backend = FileBackend(str(tmp_path / "store"), clock)
    for index in range(50):
        backend.put(f"old-{index}", b"x", 1)
    backend.put("kept", b"live", 3600)
    clock.advance(120)  # expired, and for longer than the sweep's grace
    backend.put("new", b"y", 3600)  # one write looks at a few files, not all of them
    left = len(list((tmp_path / "store" / "entries").iterdir()))
    assert 30 < left < 52
    for _ in range(5):
        backend.put("new", b"y", 3600)
    assert sorted(p.name for p in (tmp_path / "store" / "entries").iterdir()) == ["kept", "new"]
    assert backend.get("kept")[0] == b"live"


def test_files_left_by_a_crashed_write_or_take_are_swept_within_the_grace(tmp_path, clock):
    backend = FileBackend(str(tmp_path / "store"), clock)
    entries = tmp_path / "store" / "entries"
    a_week_on = clock() + 7 * 24 * 3600
    # What a write that crashed between its utime and its rename leaves, and a take that
    # crashed between its rename and its delete: files that expire in a week.
    for left in (f"{TEMPORARY_PREFIX}crashed", f"an-entry{TAKEN_INFIX}crashed"):
        (entries / left).write_bytes(b"sealed")
        os.utime(entries / left, (a_week_on, a_week_on))
    backend.put("kept", b"live", 7 * 24 * 3600)
    backend.sweep()
    assert len(list(entries.iterdir())) == 3  # a write or take in progress is left alone
    clock.advance(SWEEP_GRACE + 1)
    backend.put("new", b"y", 3600)  # a write sweeps a few files
    assert sorted(p.name for p in entries.iterdir()) == ["kept", "new"]


# --- what a local user might plant in the file store (issue 23) -----------------------------


def test_a_symlink_planted_in_the_store_is_not_followed(tmp_path, clock, caplog):
    store = SealedStore(FileBackend(str(tmp_path / "store"), clock), "k" * 32, clock)
    store.put("tokens", "cookie", {"n": 1}, 60)
    name = store.sealer.locate("tokens", "cookie")[0]
    entry = tmp_path / "store" / "entries" / name
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_bytes(entry.read_bytes())  # the same sealed bytes, outside the store
    entry.unlink()
    entry.symlink_to(elsewhere)
    assert store.get("tokens", "cookie") is None
    assert "symlink in the session store was not followed" in caplog.text
    store.touch(["tokens"], "cookie", 3600)
    assert elsewhere.stat().st_mtime < clock() + 3600  # renewing touched the link, not its file


def test_a_fifo_planted_in_the_store_is_refused_without_hanging(tmp_path, clock, caplog):
    store = SealedStore(FileBackend(str(tmp_path / "store"), clock), "k" * 32, clock)
    store.put("session", "cookie", {"n": 1}, 60)
    entry = tmp_path / "store" / "entries" / store.sealer.locate("session", "cookie")[0]
    entry.unlink()
    os.mkfifo(entry)
    answers = []
    reader = threading.Thread(target=lambda: answers.append(store.get("session", "cookie")))
    reader.start()
    reader.join(5)
    assert not reader.is_alive(), "reading a FIFO hung"
    assert answers == [None]
    assert "not a regular file" in caplog.text


def test_a_store_folder_reached_through_a_symlink_stays_where_it_was(tmp_path, clock):
    real = tmp_path / "real"
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    store = SealedStore(FileBackend(str(link), clock), "k" * 32, clock)
    theirs = tmp_path / "theirs"
    (theirs / "entries").mkdir(parents=True)
    link.unlink()
    link.symlink_to(theirs, target_is_directory=True)  # swapped after start-up
    store.put("session", "cookie", {"n": 1}, 60)
    assert list((theirs / "entries").iterdir()) == []
    assert len(list((real / "entries").iterdir())) == 1
