"""Benchmark `/me` against the least a Flask app could do, on this machine, in one command.

    python bench/run.py             # about 95 s; --rounds 8 --seconds 1
    python bench/run.py --distant   # about 50 s; --latency-ms 50 --rounds 5 --seconds 2 --threads N

It needs `wrk` (Debian: `apt-get install wrk`) and installs nothing. What it starts listens on
free loopback ports and stops at the end (also on Ctrl-C):

- the upstream: the sandbox under gunicorn, counting the connections it serves (upstream.py);
- the app, `gunicorn --workers 2 "app:create_app()"`, and the limit,
  `gunicorn --workers 2 "bench.limit_app:create_app()"`: a bare Flask app whose one route makes
  the same upstream call through one pooled requests.Session.

wrk loads each target in interleaved rounds, each round starting with the next target, since a
shared machine's speed drifts from second to second; a row gives the medians of its rounds and
the median (range) of each round's req/s over the limit's in the same round. One client is a
small client here instead, sending each target 25 requests one after another in ten times as
many rounds: in rounds of a second, one client's ratio swung by a tenth from run to run of the
same code, as the machine's speed drifts within a second too. Then: upstream
calls over exactly 1,000 `/me`, a burst of 50 `/me` of one session at access-token expiry
(exactly one refresh), and what sealing the store's entries adds to a `/me`.

`--distant` runs the app and the limit under gunicorn.conf.py (the production settings) and puts
a proxy between them and the upstream that delays every connect and request by the latency.
"""

import argparse
import asyncio
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project, the tests

import config
from ilert.oauth import new_pkce_pair
from sandbox import CLIENT_ID, CLIENT_SECRET
from store import SealedStore
from store.backends import FileBackend
from store.flask_session import cookie_name
from tests.conftest import RunningSandbox, ServerProcess, free_port, process_environ

BENCH = Path(__file__).resolve().parent
SECRET_KEY = "bench-only-secret-key-0123456789abcdef"
JSON = {"Accept": "application/json"}
HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
BURST_REQUESTS = 50
BURST_TTL = 3  # seconds an access token lives at the burst's sandbox
ONE_CLIENT_BLOCKS = 10  # one client's rounds per wrk round: its targets take turns 10x as often
ONE_CLIENT_BLOCK = 25  # requests one client sends a target per round and second of --seconds
PROBLEMS = ("Traceback", "ERROR", "WARNING", "CRITICAL", "Connection pool is full")


class Bench:
    """The servers of one run, stopped when `stack` closes, their logs in `logs`."""

    def __init__(self, stack: contextlib.ExitStack, logs: Path) -> None:
        self.stack, self.logs, self.servers = stack, logs, {}

    def serve(self, name: str, command: list, environ: dict, port: int) -> ServerProcess:
        """Start `command` and wait until it listens on `port`."""
        server = ServerProcess(command, environ, port, self.logs / f"{name}.log")
        self.servers[name] = server
        self.stack.callback(lambda: server.process and server.stop())
        try:
            server.start()
        except AssertionError as error:
            raise RuntimeError(f"{name}: {error}\n{server.log()[-2000:]}") from None
        return server

    def upstream(self, redirect_uris: list) -> str:
        """The sandbox under gunicorn: one gthread worker (its state is in memory), 8 threads,
        connections kept alive 30 s. Returns its URL."""
        port = free_port()
        options = ("--workers", "1", "--threads", "8", "--keep-alive", "30")
        command = gunicorn("bench.upstream:create_app()", port, *options)
        self.serve(
            "upstream", command, process_environ(BENCH_REDIRECT_URIS=" ".join(redirect_uris)), port
        )
        return f"http://127.0.0.1:{port}"

    def problems(self) -> None:
        """Print the errors and warnings the servers logged (run after they stopped)."""
        print("\nErrors and warnings the servers logged:")
        found = False
        for name, server in self.servers.items():
            lines = [line for line in server.log().splitlines() if any(p in line for p in PROBLEMS)]
            for line, count in Counter(
                re.sub(r"^\[[^]]*\] |^\S+ \S+ ", "", line) for line in lines
            ).most_common(3):
                print(f"  {name}: {count}x {line[:160]}")
                found = True
        if not found:
            print("  none")


GUNICORN = [sys.executable, "-m", "gunicorn"]
with contextlib.suppress(ImportError):  # a gunicorn with a control socket shares it (~/.gunicorn)
    from gunicorn.config import KNOWN_SETTINGS

    if any(setting.name == "control_socket_disable" for setting in KNOWN_SETTINGS):
        GUNICORN.append("--no-control-socket")


def gunicorn(spec: str, port: int, *options: str) -> list:
    """`gunicorn spec` on 127.0.0.1:`port`, set by `options` alone: its config file is
    bench/__init__.py, which sets nothing and keeps gunicorn.conf.py out."""
    config_file = ["--config", str(BENCH / "__init__.py"), "--bind", f"127.0.0.1:{port}"]
    return [*GUNICORN, *config_file, "--graceful-timeout", "5", *options, spec]


def redirect_uri(port: int) -> str:
    return config.redirect_uri_at(port)


def app_environ(upstream: str, port: int, logs: Path, **extra) -> dict:
    """The app's settings for a run against `upstream`, as tests/test_concurrency.py gives them."""
    return process_environ(
        ILERT_CLIENT_ID=CLIENT_ID,
        ILERT_CLIENT_SECRET=CLIENT_SECRET,
        ILERT_AUTH_URL=upstream,
        ILERT_API_URL=upstream,
        ILERT_REDIRECT_URI=redirect_uri(port),
        SECRET_KEY=SECRET_KEY,
        SESSION_FILE_DIR=logs / f"sessions-{port}",
        # The limit app has no budget of calls to ilert: neither has the app, unless asked.
        **{"ILERT_RATE_LIMIT": "0", **extra},
    )


def sign_in(port: int, environ: dict) -> dict:
    """Sign in at the app on `port` through the sandbox's consent page, as a browser does;
    returns the Cookie header, the cookie named as the app's settings `environ` name it."""
    settings = config.load(environ)
    name = cookie_name(settings["SESSION_COOKIE_NAME"], app_config=settings)
    app_url = f"http://localhost:{port}"
    with requests.Session() as browser:
        consent = browser.get(f"{app_url}/login", timeout=10)
        person = {"user": "ada.lovelace", "decision": "allow"}
        answer = browser.post(consent.url, data=person, timeout=10)
        if (
            answer.status_code != 200
            or answer.url != f"{app_url}/me"
            or name not in browser.cookies
        ):
            raise RuntimeError(f"sign-in ended at {answer.url} with {answer.status_code}")
        return {"Cookie": f"{name}={browser.cookies[name]}"}


def access_token(upstream: str, redirect: str) -> str:
    """A token for the limit, straight from the upstream: the app's client, person and scopes,
    consent allowed, PKCE and the code exchange."""
    verifier, challenge = new_pkce_pair()
    query = {
        "client_id": CLIENT_ID,
        "response_type": "code",
        "redirect_uri": redirect,
        "scope": config.DEFAULT_SCOPES,
        "state": secrets.token_urlsafe(16),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    consent = requests.post(
        f"{upstream}/api/developers/oauth2/authorize",
        params=query,
        data={"user": "ada.lovelace", "decision": "allow"},
        allow_redirects=False,
        timeout=10,
    )
    code = parse_qs(urlsplit(consent.headers["Location"]).query)["code"][0]
    grant = {"grant_type": "authorization_code", "code": code, "code_verifier": verifier}
    client = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uri": redirect}
    tokens = requests.post(
        f"{upstream}/api/developers/oauth2/token", data=grant | client, timeout=10
    )
    tokens.raise_for_status()
    return tokens.json()["access_token"]


def counters(upstream: str) -> Counter:
    """The upstream's calls (token calls by grant) and new connections so far."""
    stats = requests.get(f"{upstream}/_bench/counters", timeout=10).json()
    return Counter({k: v for k, v in stats.items() if isinstance(v, int)} | stats["token"])


def cpu_seconds(server: ServerProcess | None) -> float:
    """CPU seconds used so far by `server` and its children (gunicorn's workers), from /proc."""
    if server is None:
        return 0.0
    pid, ticks = server.process.pid, 0
    with open(f"/proc/{pid}/task/{pid}/children") as children:
        for each in [pid, *map(int, children.read().split())]:
            with contextlib.suppress(OSError), open(f"/proc/{each}/stat") as stat:
                fields = stat.read().rpartition(")")[2].split()
                ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


# --- load --------------------------------------------------------------------------------


def wrk(url: str, clients: int, seconds: float, headers: dict) -> dict:
    """One wrk run (1 thread, `clients` connections): requests, rps, p50_ms, p99_ms, errors
    (socket errors and 4xx/5xx answers)."""
    command = ["wrk", "-t1", f"-c{clients}", f"-d{seconds}s", "--timeout", "10s"]
    command += ["-s", str(BENCH / "wrk_report.lua")]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    done = subprocess.run([*command, url], capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("BENCH_JSON ")]
    if done.returncode or not lines:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout}{done.stderr}")
    report = json.loads(lines[-1].removeprefix("BENCH_JSON "))
    return {
        "requests": report["requests"],
        "rps": report["requests"] / (report["duration_us"] / 1e6),
        "p50_ms": report["p50_us"] / 1000,
        "p99_ms": report["p99_us"] / 1000,
        "errors": sum(report[key] for key in ("connect", "read", "write", "timeout", "status")),
    }


def rounds(targets: dict, clients: tuple, count: int, seconds: float, upstream: str):
    """Warm each target (name: (url, headers, server or None)) up, then `count` rounds of each
    client count and target (for one client, ONE_CLIENT_BLOCKS times as many, shorter ones);
    returns the runs by (name, clients), each with the new upstream connections and the
    server's CPU seconds, and the new connections of the whole run."""
    whole = Counter()
    for name, (url, headers, _) in targets.items():
        status = requests.get(url, headers=headers, allow_redirects=False, timeout=10).status_code
        if status != 200:
            raise RuntimeError(f"{name} answers {status}, not 200")
        before = counters(upstream)
        wrk(url, max(clients), 1, headers)
        whole[name] += (counters(upstream) - before)["connections"]
    runs = {(name, number): [] for number in clients for name in targets}
    names = list(targets)
    for round_number in range(count):
        for number in clients:
            # One client: ONE_CLIENT_BLOCKS short rounds in the time of one wrk round.
            for block in range(ONE_CLIENT_BLOCKS if number == 1 else 1):
                first = (round_number + block) % len(names)
                for name in names[first:] + names[:first]:
                    url, headers, server = targets[name]
                    before, cpu = counters(upstream), cpu_seconds(server)
                    if number == 1:
                        run = one_client(url, headers, round(ONE_CLIENT_BLOCK * seconds))
                    else:
                        run = wrk(url, number, seconds, headers)
                    run["cpu"] = cpu_seconds(server) - cpu
                    run["connections"] = (counters(upstream) - before)["connections"]
                    whole[name] += run["connections"]
                    runs[name, number].append(run)
    return runs, whole


def one_client(url: str, headers: dict, count: int) -> dict:
    """`count` GET `url` one after another, each on a new connection and timed from connecting
    to the answer's last byte: requests, rps, errors (failed connections and answers other
    than 200) and the times, for `print_rounds`' percentiles. gunicorn's sync workers close
    every connection, as they do wrk's, so the app and the limit see what wrk gives them; the
    upstream alone, which would keep it open, pays for connecting here too."""
    parts = urlsplit(url)
    family, kind, _, _, address = socket.getaddrinfo(
        parts.hostname, parts.port, type=socket.SOCK_STREAM
    )[0]
    head = f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n"
    request = (head + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode()
    times, errors = [], 0
    for _ in range(count):
        started = time.perf_counter()
        try:
            with socket.socket(family, kind) as connection:
                connection.settimeout(10)
                connection.connect(address)
                connection.sendall(request)
                answer = b"".join(iter(lambda: connection.recv(65536), b""))
        except OSError:
            answer = b""
        times.append(time.perf_counter() - started)
        errors += not answer.startswith(b"HTTP/1.1 200 ")
    return {"requests": count, "rps": count / sum(times), "errors": errors, "times": times}


def print_rounds(runs: dict, latency_ms: float | None = None) -> None:
    """A Markdown table: medians of the rounds (one client's p50 and p99: of all its requests),
    the ratio to the limit by round, and the new upstream connections per 1,000 requests (plus
    the ceiling, clients ÷ latency)."""
    columns = "target | clients | req/s | p50 ms | p99 ms | / limit, by round | CPU ms/req"
    print(f"\n| {columns} | conns/1,000 |" + (" ceiling |" if latency_ms else ""))
    print("|---" * (8 + bool(latency_ms)) + "|")
    for (name, clients), results in runs.items():
        ratios = [
            mine["rps"] / limit["rps"]
            for mine, limit in zip(results, runs["limit", clients], strict=True)
        ]
        ratio = median_and_range(ratios) if name.startswith("/me") else ""
        rps = statistics.median(r["rps"] for r in results)
        if "times" in results[0]:  # one client's short rounds: percentiles of all its requests
            percentiles = statistics.quantiles([t for r in results for t in r["times"]], n=100)
            p50, p99 = percentiles[49] * 1000, percentiles[98] * 1000
        else:
            p50, p99 = (statistics.median(r[key] for r in results) for key in ("p50_ms", "p99_ms"))
        total = sum(r["requests"] for r in results)
        conns = f"{1000 * sum(r['connections'] for r in results) / max(1, total):.2f}"
        cpu = f"{1000 * sum(r['cpu'] for r in results) / max(1, total):.2f}"
        if name == "upstream alone":
            cpu = conns = ""  # wrk's connections; the upstream's CPU
        row = f"| {name} | {clients} | {rps:.0f} | {p50:.2f} | {p99:.2f} | {ratio} | {cpu} |"
        row += f" {conns} |"
        errors = sum(r["errors"] for r in results)
        print(
            row
            + (f" {clients * 1000 / latency_ms:,.0f} |" if latency_ms else "")
            + (f" ! {errors} errors" if errors else "")
        )


def median_and_range(values: list) -> str:
    """`0.85 (0.80–0.91)`."""
    return f"{statistics.median(values):.2f} ({min(values):.2f}–{max(values):.2f})"


def exact_calls(url: str, headers: dict, upstream: str, count: int = 1000, clients: int = 8) -> str:
    """`count` /me from `clients` threads, each waiting for its answer (wrk stops with requests
    in flight), and the upstream calls they made."""

    def client(each: int) -> list:
        with requests.Session() as browser:
            return [browser.get(url, headers=headers, timeout=30).status_code for _ in range(each)]

    before = counters(upstream)
    with ThreadPoolExecutor(clients) as pool:
        statuses = Counter(
            s for part in pool.map(client, [count // clients] * clients) for s in part
        )
    calls = counters(upstream) - before
    answers = " ".join(f"{status}x{number}" for status, number in sorted(statuses.items()))
    tokens = calls["refresh_token"] + calls["authorization_code"] + calls["token_other"]
    return (
        f"{count:,} /me ({headers['Accept'].split(',')[0]}; {answers}): "
        f"{calls['users_current'] / count:.3f} users/current calls each, {tokens} token calls, "
        f"{calls['token_info']} token_info, {calls['connections']} new upstream connections"
    )


# --- the burst at expiry ----------------------------------------------------------------


def burst(bench: Bench) -> None:
    """Twice, BURST_REQUESTS concurrent /me of one session right after its access token
    expired, at an app with 2 workers x 8 threads: each burst must make exactly one refresh."""
    port = free_port()
    sandbox = RunningSandbox(redirect_uris=[redirect_uri(port)], access_token_ttl=BURST_TTL)
    bench.stack.callback(sandbox.stop)
    environ = app_environ(sandbox.url, port, bench.logs)
    options = ("--workers", "2", "--threads", "8")
    bench.serve("app-burst", gunicorn("app:create_app()", port, *options), environ, port)
    headers = JSON | sign_in(port, environ)
    expires = time.monotonic() + BURST_TTL  # the token was issued just before
    print(f"\nBurst: {BURST_REQUESTS} concurrent /me of one session at access-token expiry")
    for _ in range(2):
        before = sandbox.stats()["token"]["refresh_token"]
        fired, answers = fire(f"http://127.0.0.1:{port}/me", headers, at=expires + 0.05)
        refreshes = sandbox.stats()["token"]["refresh_token"] - before
        expires = fired + BURST_TTL  # the new token was issued after `fired`
        statuses = Counter(status for status, _ in answers)
        print(
            f"  {' '.join(f'{s}x{n}' for s, n in sorted(statuses.items(), key=str))}, all answered "
            f"in {(max(done for _, done in answers) - fired) * 1000:.0f} ms, "
            f"{refreshes} refresh{'' if refreshes == 1 else 'es ! (not 1)'}"
        )


def fire(url: str, headers: dict, at: float) -> tuple:
    """BURST_REQUESTS GET `url`, each on its own connection, released together at monotonic
    time `at`; returns the release time and each answer's (status, finish time)."""
    barrier = threading.Barrier(BURST_REQUESTS + 1)

    def one(_: int) -> tuple:
        with requests.Session() as client:
            prepared = client.prepare_request(requests.Request("GET", url, headers=headers))
            barrier.wait()
            try:
                status = client.send(prepared, timeout=30).status_code
            except requests.RequestException as error:
                status = type(error).__name__
            return status, time.monotonic()

    with ThreadPoolExecutor(BURST_REQUESTS) as pool:
        futures = [pool.submit(one, index) for index in range(BURST_REQUESTS)]
        time.sleep(max(0.0, at - time.monotonic()))
        fired = time.monotonic()
        barrier.wait()
        return fired, [future.result() for future in futures]


# --- what sealing costs -------------------------------------------------------------------


def sealing(session_dir: Path, headers: dict, request_us: float) -> None:
    """What sealing adds to a /me: two sealed reads (session, tokens) and the renewal of the
    session's three entries, each against the same backend call on unsealed entries (a raw read
    plus JSON; a touch of names known beforehand), on copies of the app's real entries."""
    sid = headers["Cookie"].partition("=")[2]
    real = SealedStore(FileBackend(str(session_dir), time.time), SECRET_KEY)
    with tempfile.TemporaryDirectory() as folder:
        store = SealedStore(FileBackend(folder, time.time), SECRET_KEY)
        backend, cost = store.backend, []
        for purpose in ("session", "tokens"):
            value = real.get(purpose, sid)
            plain = json.dumps(value, separators=(",", ":")).encode()
            store.put(purpose, sid, value, 3600)
            backend.put(f"plain-{purpose}", plain, 3600)
            sealed = per_call_us(lambda p=purpose: store.get(p, sid))
            raw = per_call_us(lambda p=purpose: json.loads(backend.get(f"plain-{p}")[0]))
            cost.append(sealed - raw)
            print(
                f"  read the {purpose} ({len(plain)} bytes of JSON): sealed {sealed:.1f} µs, "
                f"raw + JSON {raw:.1f} µs"
            )
        purposes = ["session", "tokens", "flow"]
        names = [store.sealer.locate(purpose, sid)[0] for purpose in purposes]
        sealed = per_call_us(lambda: store.touch(purposes, sid, 3600))
        raw = per_call_us(lambda: backend.touch(names, 3600))
        cost.append(sealed - raw)
        print(f"  renew the session's 3 entries: sealed {sealed:.1f} µs, raw {raw:.1f} µs")
    total = sum(cost)
    print(
        f"  sealing per /me: {' + '.join(f'{part:.1f}' for part in cost)} = {total:.0f} µs, "
        f"{100 * total / request_us:.1f}% of a /me JSON at 1 client ({request_us / 1000:.2f} "
        "ms: 1 / its median req/s)"
    )


def per_call_us(call, iterations: int = 5000) -> float:
    """Microseconds per call, the best of three runs of `iterations` calls."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(iterations):
            call()
        best = min(best, (time.perf_counter() - started) / iterations)
    return best * 1e6


# --- the distant upstream's proxy ---------------------------------------------------------


def serve_proxy(port: int, upstream_port: int, delay: float) -> None:
    """Listen on `port`; connect each client to `upstream_port` after `delay` seconds (the
    handshake's round trip), and pass on what the client sends `delay` seconds late."""

    async def pump(reader, writer, delay):
        loop, queue = asyncio.get_running_loop(), asyncio.Queue()

        async def send():
            while True:
                due, data = await queue.get()
                await asyncio.sleep(due - loop.time())
                if not data:
                    return
                writer.write(data)
                await writer.drain()

        sender = asyncio.create_task(send())
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                queue.put_nowait((loop.time() + delay, data))
        queue.put_nowait((loop.time() + delay, b""))
        with contextlib.suppress(OSError):
            await sender
        writer.close()

    async def relay(client_reader, client_writer):
        await asyncio.sleep(delay)
        reader, writer = await asyncio.open_connection("127.0.0.1", upstream_port)
        await asyncio.gather(pump(client_reader, writer, delay), pump(reader, client_writer, 0))

    async def main():
        server = await asyncio.start_server(relay, "127.0.0.1", port, backlog=1024)
        await server.serve_forever()

    asyncio.run(main())


# --- the two modes --------------------------------------------------------------------------


@dataclass
class Servers:
    """The URLs of a run's upstream, app and limit, and what it takes to call them."""

    upstream: str
    app: str
    limit: str
    cookie: dict  # the Cookie header of a signed-in session
    token: str  # the limit's access token
    session_dir: Path


def start_servers(bench: Bench, production: bool, latency_ms: float = 0, **extra) -> Servers:
    """The upstream (its API behind the delaying proxy when `latency_ms`), then the app and the
    limit, under bench settings (2 sync workers) or the production ones (gunicorn.conf.py)."""
    app_port, limit_port = free_port(), free_port()
    upstream = api = bench.upstream([redirect_uri(app_port)])
    if latency_ms:
        port, upstream_port = free_port(), upstream.rpartition(":")[2]
        command = [sys.executable, __file__, "--proxy", str(port), upstream_port]
        bench.serve("proxy", [*command, str(latency_ms / 1000)], process_environ(), port)
        api = f"http://127.0.0.1:{port}"  # the consent page and token calls are not delayed
    environ = app_environ(upstream, app_port, bench.logs, **extra) | {"ILERT_API_URL": api}
    token = access_token(upstream, redirect_uri(app_port))
    # The app's settings too: gunicorn.conf.py checks them (a client id among them) for both.
    limit_environ = environ | {"BENCH_API_URL": api, "BENCH_ACCESS_TOKEN": token}
    for name, spec, port, env in (
        ("app", "app:create_app()", app_port, environ),
        ("limit", "bench.limit_app:create_app()", limit_port, limit_environ),
    ):
        if production:
            bench.serve(name, [*GUNICORN, spec], env | {"PORT": str(port)}, port)
        else:
            bench.serve(name, gunicorn(spec, port, "--workers", "2"), env, port)
    return Servers(
        upstream,
        f"http://127.0.0.1:{app_port}",
        f"http://127.0.0.1:{limit_port}",
        sign_in(app_port, environ),
        token,
        Path(environ["SESSION_FILE_DIR"]),
    )


def local(bench: Bench, args) -> None:
    """/me (JSON and HTML), the limit and the upstream alone with 1 and 8 clients; upstream
    calls; the burst; sealing."""
    count, seconds = args.rounds or 8, args.seconds or 1
    print("Starting the upstream, the app and the limit ...", flush=True)
    servers = start_servers(bench, production=False)
    targets = {
        "upstream alone": (
            f"{servers.upstream}/api/users/current",
            {"Authorization": f"Bearer {servers.token}"},
            None,
        ),
        "limit": (f"{servers.limit}/limit", JSON, bench.servers["limit"]),
        "/me JSON": (f"{servers.app}/me", JSON | servers.cookie, bench.servers["app"]),
        "/me HTML": (f"{servers.app}/me", HTML | servers.cookie, bench.servers["app"]),
    }
    print(f"Load: {count} rounds of {seconds} s, interleaved ...", flush=True)
    runs, _ = rounds(targets, (1, 8), count, seconds, servers.upstream)
    print_rounds(runs)
    print()
    time.sleep(0.5)  # what wrk left in flight reaches the upstream before the count
    for accept in (JSON, HTML):
        print(exact_calls(f"{servers.app}/me", accept | servers.cookie, servers.upstream))
    burst(bench)
    print("\nSealing, in this process (best of 3 x 5,000 calls):")
    request_us = 1e6 / statistics.median(run["rps"] for run in runs["/me JSON", 1])
    sealing(servers.session_dir, servers.cookie, request_us)


def distant(bench: Bench, args) -> None:
    """/me and the limit under the production settings, the upstream `--latency-ms` away,
    with 8 and 64 clients."""
    count, seconds = args.rounds or 5, args.seconds or 2
    threads = {"GUNICORN_THREADS": args.threads} if args.threads else {}
    print("Starting the upstream, the proxy, the app and the limit ...", flush=True)
    servers = start_servers(bench, production=True, latency_ms=args.latency_ms, **threads)
    targets = {
        "/me": (f"{servers.app}/me", JSON | servers.cookie, bench.servers["app"]),
        "limit": (f"{servers.limit}/limit", JSON, bench.servers["limit"]),
    }
    print(f"Load: {count} rounds of {seconds} s, interleaved ...", flush=True)
    runs, whole = rounds(targets, (8, 64), count, seconds, servers.upstream)
    print(f"\nUpstream latency {args.latency_ms:g} ms; the ceiling is clients / latency")
    print_rounds(runs, args.latency_ms)
    for name, server in (("/me", "app"), ("limit", "limit")):
        log = bench.servers[server].log()
        slots = re.search(r"Serving (\d+) requests at once", log)
        print(
            f"  {name}: {whole[name]} new upstream connections over the whole run "
            f"({slots[1] if slots else '?'} request slots), "
            f"{log.count('Connection pool is full')} discarded"
        )


def main(argv: list | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--distant", action="store_true", help="the upstream behind a delaying proxy"
    )
    parser.add_argument("--latency-ms", type=float, default=50, help="with --distant")
    parser.add_argument("--threads", type=int, help="with --distant: GUNICORN_THREADS")
    parser.add_argument("--rounds", type=int, help="rounds of load runs (8; --distant 5)")
    parser.add_argument("--seconds", type=int, help="length of each load run (1; --distant 2)")
    parser.add_argument("--proxy", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.proxy:
        return serve_proxy(int(args.proxy[0]), int(args.proxy[1]), float(args.proxy[2]))
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: install it (Debian/Ubuntu: apt-get install wrk)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop what we started
    import gunicorn as gunicorn_package

    print(
        f"{time.strftime('%Y-%m-%d %H:%M')}, Python {sys.version.split()[0]}, gunicorn "
        f"{gunicorn_package.__version__}, {len(os.sched_getaffinity(0))} cores shared by all "
        f"of it, load average {' '.join(f'{load:.2f}' for load in os.getloadavg())}",
        flush=True,
    )
    began = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="ilert-bench-") as work,
        contextlib.ExitStack() as stack,
    ):
        bench = Bench(stack, Path(work))
        (distant if args.distant else local)(bench, args)
        stack.close()  # stop the servers, so that their logs are complete
        bench.problems()
    print(f"\n{time.monotonic() - began:.0f} s; everything started here is stopped.")


if __name__ == "__main__":
    main()
