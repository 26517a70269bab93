"""Faults under the production command, with their figures printed: `python -m tests.faults`.

    python -m tests.faults                 # every run, about four minutes
    python -m tests.faults kills disk      # some of them: soak kills disk redis eviction
    python -m tests.faults --seconds 60    # each fault (and the soak) lasts a minute

Each run serves `gunicorn "app:create_app()"` (gunicorn.conf.py, 2 workers x 16 threads) against
an in-process sandbox whose access tokens live ten seconds, so that people refresh all the
time; each person is a thread asking for /me (JSON) every 0.1 s. A person is signed out when
the app answers 401. The runs:

- soak: requests, refreshes against the expected number, sign-outs, the workers' memory and the
  store's files at the start and the end;
- kills: a worker killed (SIGKILL) once a second, at random, while refreshes take 0.3 s at
  ilert; sign-outs beside the refreshes that the killed workers had at ilert when they died
  (ilert spends those refresh tokens, and their answers are lost): more fails the command;
- disk: the store on a 1 MiB tmpfs (Linux, root) filled for a while, then freed;
- redis: Redis out of memory under `noeviction` for a while; then a restart with persistence;
  then a lock whose holder was killed;
- eviction: under each `maxmemory-policy`, newcomers signing in beyond Redis's `maxmemory`
  beside idle and active people: how many of each are lost, and how many sign-ins fail.

The cheap ones are tests in the suite too (test_full_store, test_redis_faults, test_production).
"""

import argparse
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import redis
import requests

import sandbox.tokens
from config import CALLBACK_PATH, SESSION_COOKIE
from sandbox import CLIENT_ID, CLIENT_SECRET
from sandbox.data import PEOPLE
from store import SealedStore
from store.backends import FileBackend
from tests.conftest import (
    LANDING,
    ROOT,
    RedisServer,
    RunningSandbox,
    ServerProcess,
    free_port,
    process_environ,
)
from tests.full_store import LOCK_HOLDER, FullDisk, FullRedis

GUNICORN = [sys.executable, "-m", "gunicorn", "app:create_app()"]
# Seconds: everybody refreshes every few seconds. (Shorter, and a token can expire at ilert
# on its way there, before the app would refresh it: that ends the session as a 401 would.)
ACCESS_TOKEN_TTL = 10
HTTP_TIMEOUT = 3
THINK = 0.1  # seconds between a person's requests
JSON = {"Accept": "application/json"}


class Run:
    """A sandbox, the app under gunicorn on it, and people using it."""

    def __init__(self, folder: Path, sessions: Path | None = None, **settings):
        self.port = free_port()
        self.url = f"http://localhost:{self.port}"
        self.secret_key = os.urandom(24).hex()
        self.sessions = sessions or folder / "sessions"
        redirect = f"{self.url}{CALLBACK_PATH}"
        # No rate limit at ilert nor in the app: the load is many times what ilert allows.
        self.sandbox = RunningSandbox(
            redirect_uris=[redirect], access_token_ttl=ACCESS_TOKEN_TTL, rate_limit="0"
        )
        environ = process_environ(
            ILERT_CLIENT_ID=CLIENT_ID,
            ILERT_CLIENT_SECRET=CLIENT_SECRET,
            ILERT_AUTH_URL=self.sandbox.url,
            ILERT_API_URL=self.sandbox.url,
            ILERT_REDIRECT_URI=redirect,
            SECRET_KEY=self.secret_key,
            SESSION_FILE_DIR=self.sessions,
            PORT=self.port,
            WEB_CONCURRENCY=2,
            GUNICORN_THREADS=16,
            HTTP_TIMEOUT=HTTP_TIMEOUT,
            ILERT_RATE_LIMIT="10000/s",
            **settings,
        )
        self.server = ServerProcess(GUNICORN, environ, self.port, folder / "gunicorn.log")
        self.server.start()
        self.statuses: Counter = Counter()
        self.signed_out: set = set()
        self.reasons: Counter = Counter()  # the messages of the 401s
        self.stopping = threading.Event()
        self.threads: list = []

    def sign_in(self, count: int, strict: bool = True) -> list:
        """`count` people signed in (as the sandbox's people in turn: ilert keeps ten refresh
        tokens per person); unless `strict`, None for each sign-in that failed."""
        users = list(PEOPLE)
        with ThreadPoolExecutor(8) as pool:
            return list(
                pool.map(lambda i: self._sign_in(users[i % len(users)], strict), range(count))
            )

    def _sign_in(self, user: str, strict: bool) -> requests.Session | None:
        browser = requests.Session()
        consent = browser.get(f"{self.url}/login", timeout=30)
        answer = browser.post(consent.url, data={"user": user, "decision": "allow"}, timeout=30)
        if answer.url != f"{self.url}{LANDING}":
            assert not strict, answer.status_code
            return None
        return browser

    def browse(self, people: list) -> None:
        """Each person asks for /me every THINK seconds until `stop`."""
        for index, person in enumerate(people):
            thread = threading.Thread(target=self._browse, args=(index, person), daemon=True)
            thread.start()
            self.threads.append(thread)

    def _browse(self, index: int, person: requests.Session) -> None:
        while not self.stopping.is_set() and index not in self.signed_out:
            self.profile(index, person)
            time.sleep(THINK)

    def profile(self, index: int, person: requests.Session) -> int:
        try:
            answer = person.get(f"{self.url}/me", headers=JSON, timeout=60)
        except requests.RequestException:
            self.statuses[0] += 1  # a connection cut by a killed worker
            return 0
        self.statuses[answer.status_code] += 1
        if answer.status_code == 401 and index not in self.signed_out:
            self.signed_out.add(index)
            self.reasons[answer.json()["message"][:60]] += 1
        return answer.status_code

    def stop_browsing(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join()
        self.stopping.clear()
        self.threads = []

    def settle(self, people: list) -> None:
        """Ask for each person's /me until it is no longer "try again" (a refresh cut by a kill
        holds its session back for the longest a refresh takes)."""
        deadline = time.monotonic() + 2 * HTTP_TIMEOUT + 15
        for index, person in enumerate(people):
            while (
                index not in self.signed_out
                and self.profile(index, person) in (0, 503)
                and time.monotonic() < deadline
            ):
                time.sleep(0.5)

    def refreshes(self) -> int:
        return self.sandbox.stats()["token"]["refresh_token"]

    def workers(self) -> list:
        return self.server.children()

    def close(self) -> None:
        self.stop_browsing()
        self.server.stop()
        self.sandbox.stop()

    def line(self, name: str, people: int, **figures) -> None:
        shown = "  ".join(f"{key.replace('_', ' ')}: {value}" for key, value in figures.items())
        statuses = " ".join(f"{status or 'cut'}:{n}" for status, n in sorted(self.statuses.items()))
        print(f"{name:<22} people: {people}  signed out: {len(self.signed_out)}  {shown}")
        print(f"{'':<22} answers {statuses}", flush=True)
        for reason, times in self.reasons.most_common():
            print(f"{'':<22} {times} x 401 {reason}...", flush=True)


def rss_kib(pids: list) -> int:
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/status") as status:
            total += next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))
    return total


def soak(folder: Path, seconds: float, people_count: int = 24) -> None:
    run = Run(folder)
    try:
        people = run.sign_in(people_count)
        files, memory, before = _files(folder), rss_kib(run.workers()), run.refreshes()
        run.browse(people)
        time.sleep(seconds)
        run.stop_browsing()
        most = people_count * seconds / (ACCESS_TOKEN_TTL * 0.9)
        run.line(
            "soak",
            people_count,
            seconds=seconds,
            refreshes=f"{run.refreshes() - before} (at most {most:.0f}: one per person per token)",
            worker_rss_kib=f"{memory} -> {rss_kib(run.workers())}",
            store_files=f"{files} -> {_files(folder)}",
        )
    finally:
        run.close()


def _new_folder(folder: Path, name: str) -> Path:
    (folder / name).mkdir()
    return folder / name


def _files(folder: Path) -> int:
    return sum(1 for _ in (folder / "sessions" / "entries").iterdir())


def kills(folder: Path, count: int = 10, people_count: int = 24) -> bool:
    """Whether the kills signed out at most the sessions whose refresh they cut."""
    run = Run(folder)
    try:
        people = run.sign_in(people_count)
        run.sandbox.fault(endpoint="refresh_token", count=100_000, delay=0.3)
        run.browse(people)
        begun = 0
        for _ in range(count):
            time.sleep(1)  # the master starts a new worker meanwhile
            begun += _kill_a_worker(run, people)
        time.sleep(1)
        run.stop_browsing()
        run.settle(people)
        run.line(
            "kills", people_count, kills=count, refreshes_begun_and_not_stored_at_the_kills=begun
        )
        ok = len(run.signed_out) <= begun
        verdict = "ok" if ok else "FAILED"
        print(f"{'':<22} signed out {len(run.signed_out)} <= in flight {begun}: {verdict}")
        return ok
    finally:
        run.close()


def _kill_a_worker(run: Run, people: list) -> int:
    """SIGKILL one of the workers, at random; the refreshes it had begun and not stored."""
    victim = random.choice(run.workers())
    os.kill(victim, signal.SIGSTOP)  # its locks stay held while we look at its refreshes
    store = SealedStore(FileBackend(str(run.sessions), time.time), run.secret_key)
    marker = f"{socket.gethostname()} {victim}"
    begun = 0
    for person in people:
        entry = store.get("tokens", person.cookies.get(SESSION_COOKIE, ""))
        begun += isinstance(entry, dict) and entry.get("renewing_by") == marker
    os.kill(victim, signal.SIGKILL)
    return begun


def disk(folder: Path, seconds: float, people_count: int = 12) -> None:
    full = FullDisk(folder / "disk", size_kib=1024)
    if not full.tmpfs:
        print("disk: skipped (mounting a tmpfs needs root on Linux)")
        return
    try:
        run = Run(folder, sessions=full.sessions)
        try:
            _full_for(run, full, seconds, people_count, "disk full")
        finally:
            run.close()
    finally:
        full.free()
        full.unmount()


def _full_for(run: Run, full, seconds: float, people_count: int, name: str) -> None:
    people = run.sign_in(people_count)
    run.browse(people)
    time.sleep(1)
    full.fill()
    time.sleep(seconds)
    refused = Counter(run.statuses)
    full.free()
    time.sleep(2)
    run.stop_browsing()
    run.settle(people)
    run.line(name, people_count, full_for_seconds=seconds, answers_503_while_full=refused[503])


def redis_faults(folder: Path, seconds: float, people_count: int = 12) -> None:
    server = RedisServer(_new_folder(folder, "redis"))
    server.start()
    run = Run(folder, SESSION_TYPE="redis", REDIS_URL=server.url)
    try:
        _full_for(run, FullRedis(server.url), seconds, people_count, "redis out of memory")
        run.statuses.clear()
        people = run.sign_in(people_count)
        run.browse(people)
        time.sleep(1)
        server.stop()  # saves its data
        down = time.monotonic()
        server.start()
        down = time.monotonic() - down
        time.sleep(2)
        run.stop_browsing()
        run.line("redis restart", people_count, down_for_seconds=f"{down:.2f}")
    finally:
        run.close()
        server.stop()
    _dead_holder(folder)


def _dead_holder(folder: Path) -> None:
    server = RedisServer(_new_folder(folder, "redis-lock"))
    server.start()
    hold = 2 * HTTP_TIMEOUT + 5
    try:
        holder = subprocess.Popen(
            [sys.executable, "-c", LOCK_HOLDER, server.url, str(HTTP_TIMEOUT), str(hold)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        holder.stdout.readline()
        holder.kill()
        holder.wait()
        holder.stdout.close()
        killed = time.monotonic()
        lock = redis.Redis.from_url(server.url).lock("ilert-app:tokens-of-someone:lock")
        while not lock.acquire(blocking=False):
            time.sleep(0.01)
        freed = time.monotonic() - killed
        print(f"{'redis dead holder':<22} lock free after {freed:.1f} s (lease {HTTP_TIMEOUT} s,")
        print(f"{'':<22} hold {hold} s)", flush=True)
    finally:
        server.stop()


def eviction(folder: Path, newcomers: int = 200) -> None:
    """Under each policy: 10 idle and 5 active people, then `newcomers` sign in beyond a
    `maxmemory` that holds about 100 more sessions. Anonymous visitors write nothing (pending
    sign-ins live in their cookie): only sessions fill Redis."""
    sandbox.tokens.MAX_CHAINS = 1000  # here, ilert's ten sign-ins per person would revoke some
    for policy in ("noeviction", "allkeys-lru", "volatile-lru", "volatile-ttl"):
        server = RedisServer(_new_folder(folder, f"redis-{policy}"))
        server.start()
        client = redis.Redis.from_url(server.url)
        run = Run(folder, SESSION_TYPE="redis", REDIS_URL=server.url)
        try:
            idle, active = run.sign_in(10), run.sign_in(5)
            used = client.info("memory")["used_memory"]
            keys = client.keys("ilert-app:*")
            per_session = sum(client.memory_usage(key) or 0 for key in keys) / 15
            # Room for about 100 sessions more (less what connections' buffers come to take).
            client.config_set("maxmemory", int(used + 100 * per_session))
            client.config_set("maxmemory-policy", policy)
            run.browse(active)
            signed_in = sum(person is not None for person in run.sign_in(newcomers, strict=False))
            run.stop_browsing()
            idle_answers = Counter(
                person.get(f"{run.url}/me", headers=JSON).status_code for person in idle
            )
            run.line(
                f"eviction {policy}",
                len(idle) + len(active),
                bytes_per_session=f"{per_session:.0f}",
                newcomers_signed_in=f"{signed_in} of {newcomers}",
                idle_signed_in=idle_answers[200],
                idle_waiting_for_the_store=idle_answers[503],
                idle_signed_out=idle_answers[401],
            )
        finally:
            client.close()
            run.close()
            server.stop()


RUNS = ("soak", "kills", "disk", "redis", "eviction")


def arguments(argv: list | None = None) -> argparse.Namespace:
    """The command line, checked (so are docs/production.md's commands, by tests/test_docs)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", help=f"any of {', '.join(RUNS)} (default: all)")
    parser.add_argument("--seconds", type=float, default=10, help="soak and store faults")
    args = parser.parse_args(argv)
    unknown = set(args.runs) - set(RUNS)
    if unknown:
        parser.error(f"no such run: {', '.join(sorted(unknown))}")
    return args


def main(argv: list | None = None) -> None:
    args = arguments(argv)
    ok = True
    for name in args.runs or RUNS:
        with tempfile.TemporaryDirectory() as scratch:
            folder = Path(scratch)
            if name == "soak":
                soak(folder, args.seconds)
            elif name == "kills":
                ok = kills(folder) and ok
            elif name == "disk":
                disk(folder, args.seconds)
            elif name == "redis":
                redis_faults(folder, args.seconds)
            else:
                eviction(folder)
    if not ok:
        sys.exit(1)  # a verdict above says FAILED


if __name__ == "__main__":
    main()
