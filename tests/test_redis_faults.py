"""Redis faults: a restart loses no session and leaves no stale connection to fail on, a pooled
connection that was dropped is tried again on a new one, and a lock whose holder died is free
within a lease (the app's HTTP_TIMEOUT, 3 s at the least), not the lock's whole hold time."""

import socket
import struct
import subprocess
import sys
import threading
import time

import pytest
import redis
from conftest import ROOT

from store import LockBusy
from store.redis_backend import RedisBackend
from tests.full_store import LOCK_HOLDER

# Own redis-servers, a killed process, and leases that pass in real time.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("waits in real time")]

LEASE = 1.0
HOLD = 60.0


def test_a_lock_whose_holder_was_killed_is_free_within_a_lease(redis_server):
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, redis_server.url, str(LEASE), str(HOLD)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "held\n"
        backend = RedisBackend(redis.Redis.from_url(redis_server.url), lease=LEASE)
        time.sleep(2 * LEASE)  # the holder renews its lease while it lives
        with pytest.raises(LockBusy):
            with backend.lock("tokens-of-someone", wait=0.1, hold=HOLD):
                pass
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    with backend.lock("tokens-of-someone", wait=3 * LEASE, hold=HOLD):
        pass  # within a lease or so of the kill, not after HOLD seconds


@pytest.mark.parametrize("http_timeout", ["1", "7"])
def test_the_apps_lock_lease_is_its_http_timeout_and_at_least_three_seconds(
    make_app, redis_server, http_timeout
):
    """A dead holder's lock is free within HTTP_TIMEOUT (3 s at the least, which leave a busy
    machine 2 s to renew it): the app's backend takes the lease from its HTTP_TIMEOUT."""
    app = make_app(SESSION_TYPE="redis", REDIS_URL=redis_server.url, HTTP_TIMEOUT=http_timeout)
    backend = app.extensions["store"].backend
    timeout = app.config["HTTP_TIMEOUT"]
    assert backend.client.connection_pool.connection_kwargs["socket_timeout"] == timeout
    assert backend.lease == max(3.0, timeout)
    key = f"{RedisBackend.PREFIX}a-name:lock"
    with backend.lock("a-name", wait=1, hold=HOLD):
        assert (backend.lease - 1) * 1000 < backend.client.pttl(key) <= backend.lease * 1000


def test_a_lock_is_renewed_for_its_hold_time_only(redis_server):
    backend = RedisBackend(redis.Redis.from_url(redis_server.url), lease=LEASE)
    key = f"{RedisBackend.PREFIX}a-name:lock"
    with backend.lock("a-name", wait=1, hold=2.5 * LEASE):
        time.sleep(2 * LEASE)
        assert 0 < backend.client.pttl(key) <= LEASE * 1000  # renewed, a lease at most
        time.sleep(1.5 * LEASE)
        assert backend.client.exists(key) == 0  # a holder that hangs loses it after `hold`


def test_a_redis_restart_loses_no_session_and_fails_no_request_after_it(
    make_app, auth_for, own_redis_server
):
    app = make_app(SESSION_TYPE="redis", REDIS_URL=own_redis_server.url, HTTP_TIMEOUT="2")
    people = [app.test_client() for _ in range(4)]
    for person in people:
        auth_for(person).sign_in()

    def browse(person, answers, until):
        while not until.is_set():
            answers.append((time.monotonic(), person.get("/me").status_code))

    stop = threading.Event()
    answers = [[] for _ in people]
    browsing = [
        threading.Thread(target=browse, args=(person, mine, stop))
        for person, mine in zip(people, answers, strict=True)
    ]
    for thread in browsing:
        thread.start()  # each keeps pooled connections that the restart drops
    time.sleep(0.3)
    own_redis_server.stop()  # saves its data, as a Redis with persistence does
    time.sleep(0.3)
    own_redis_server.start()
    back = time.monotonic()
    time.sleep(0.5)
    stop.set()
    for thread in browsing:
        thread.join()
    for mine in answers:
        statuses = {status for _, status in mine}
        assert statuses <= {200, 503}
        assert all(status == 200 for at, status in mine if at > back)
    assert sum(status == 503 for mine in answers for _, status in mine) > 0  # it was down
    for person in people:
        assert person.get("/me").status_code == 200  # 0 sessions lost


class ResettingProxy:
    """A loopback TCP proxy in front of a redis-server that, once armed (`reset_once`), resets
    the next connection that sends it a command instead of passing the command on: a pooled
    connection dropped as a restarted Redis or a proxy's idle timeout drops it."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"redis://127.0.0.1:{self.listener.getsockname()[1]}/0"
        self.armed = threading.Event()
        self.resets = 0
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def reset_once(self) -> None:
        self.armed.set()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            self.connections += 1
            server = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pipe, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, False), daemon=True).start()

    def _pipe(self, source: socket.socket, target: socket.socket, commands: bool) -> None:
        try:
            while data := source.recv(65536):
                if commands and self.armed.is_set():
                    self.armed.clear()
                    self.resets += 1
                    # SO_LINGER 0: close() sends a RST, as a peer that dropped the connection.
                    source.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    break
                target.sendall(data)
        except OSError:
            pass
        for end in (source, target):
            end.close()

    def close(self) -> None:
        self.listener.close()


def test_a_pooled_connection_reset_once_is_retried_on_a_new_one(make_app, auth_for, redis_server):
    proxy = ResettingProxy(redis_server.port)
    try:
        app = make_app(SESSION_TYPE="redis", REDIS_URL=proxy.url)
        person = app.test_client()
        auth_for(person).sign_in()
        assert person.get("/me").status_code == 200  # its connections are pooled
        pooled = proxy.connections
        proxy.reset_once()
        assert person.get("/me").status_code == 200
        assert proxy.resets == 1
        assert proxy.connections > pooled  # the command was sent again on a new connection
    finally:
        proxy.close()
