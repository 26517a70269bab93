"""Benchmark `/me` against the least a Flask app could do, on this machine, in one command.

    python bench/run.py                              # 4-7 minutes: both modes, both stores
    python bench/run.py --only local --stores files  # one mode, one store
    python bench/run.py --with LOG_LEVEL=debug       # each app also with these settings, beside
    python bench/run.py --only budget                # ilert's rate limit under load (budget.py)

What it starts, what it measures and how to read it: docs/performance.md.
"""

import argparse
import contextlib
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project, the tests

import config
from bench import budget
from bench.load import Target, cpu_seconds, print_table, rounds
from ilert.oauth import TOKEN_PATH
from store.flask_session import cookie_name
from tests.conftest import ServerProcess, free_port, process_environ
from tests.tools import redis_server_executable

BENCH = Path(__file__).resolve().parent
SECRET_KEY = "bench-only-secret-key-0123456789abcdef"
JSON = {"Accept": "application/json"}
HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
STORES = {"files": "filesystem", "Redis": "redis"}
# gunicorn's time and pid, Python's logging's time; and a request's id (logs.py)
LOG_PREFIX = re.compile(r"^\[[^]]*\] |^\S+ \S+ | \[[0-9a-f]{16}\]")
PROBLEMS = ("Traceback", "ERROR", "WARNING", "CRITICAL", "Connection pool is full")
GUNICORN = [sys.executable, "-m", "gunicorn"]
with contextlib.suppress(ImportError):  # a gunicorn with a control socket shares it (~/.gunicorn)
    from gunicorn.config import KNOWN_SETTINGS

    if any(setting.name == "control_socket_disable" for setting in KNOWN_SETTINGS):
        GUNICORN.append("--no-control-socket")


class Bench:
    """The servers of one mode, stopped when `stack` closes, their logs in `logs`."""

    def __init__(self, stack: contextlib.ExitStack, logs: Path, mode: str) -> None:
        self.stack, self.logs, self.mode = stack, logs, mode
        self.servers: dict[str, ServerProcess] = {}

    def serve(self, name: str, command: list, environ: dict, port: int) -> ServerProcess:
        """Start `command` and wait until it listens on `port`."""
        server = ServerProcess(command, environ, port, self.logs / f"{self.mode}-{name}.log")
        self.servers[name] = server
        self.stack.callback(lambda: server.process and server.stop())
        try:
            server.start()
        except AssertionError as error:
            raise RuntimeError(f"{name}: {error}\n{server.log()[-2000:]}") from None
        return server

    def problems(self) -> None:
        """Print the errors and warnings the servers logged (run after they stopped)."""
        found = Counter()
        for name, server in self.servers.items():
            for line in server.log().splitlines():
                if any(p in line for p in PROBLEMS) and "Memory overcommit" not in line:
                    found[f"{name}: {re.sub(LOG_PREFIX, '', line)[:160]}"] += 1
        print(f"Errors and warnings the servers logged ({self.mode}):")
        for line, count in found.most_common(5) or [("none", 1)]:
            print(f"  {count}x {line}" if count > 1 or line != "none" else "  none")


def gunicorn(spec: str, port: int, production: bool) -> list:
    """`gunicorn spec` on 127.0.0.1:`port`: under gunicorn.conf.py (given `PORT`) when
    `production`, else with 2 sync workers and nothing else (its config file is
    bench/__init__.py, which sets nothing)."""
    if production:
        return [*GUNICORN, spec]
    bind = ["--config", str(BENCH / "__init__.py"), "--bind", f"127.0.0.1:{port}"]
    return [*GUNICORN, *bind, "--workers", "2", "--graceful-timeout", "5", spec]


def start_redis(bench: Bench) -> str:
    """A redis-server that saves nothing: its URL."""
    port = free_port()
    command = [redis_server_executable(), "--port", str(port), "--bind", "127.0.0.1"]
    command += ["--save", "", "--appendonly", "no", "--dir", str(bench.logs)]
    bench.serve("redis", command, process_environ(), port)
    return f"redis://127.0.0.1:{port}/0"


def sign_in(port: int, environ: dict) -> dict:
    """Sign in at the app on `port` (the upstream redirects straight back with a code); the
    Cookie header, the cookie named as the app's settings `environ` name it."""
    settings = config.load(environ)
    name = cookie_name(settings["SESSION_COOKIE_NAME"], app_config=settings)
    with requests.Session() as browser:
        answer = browser.get(  # workers booting; /me, the page measured, whatever LANDING_PAGE
            f"http://localhost:{port}/login", params={"next": "/me"}, timeout=60
        )
        if (
            answer.status_code != 200
            or not answer.url.endswith("/me")
            or name not in browser.cookies
        ):
            raise RuntimeError(f"sign-in ended at {answer.url} with {answer.status_code}")
        return {"Cookie": f"{name}={browser.cookies[name]}"}


def exact_calls(target: Target, upstream: str, count: int = 1000, clients: int = 8) -> str:
    """`count` requests of `target` from `clients` threads, each waiting for its answer (wrk
    stops with requests in flight), and the upstream calls they made."""

    def client(each: int) -> list:
        with requests.Session() as browser:
            return [
                browser.get(target.url, headers=target.headers).status_code for _ in range(each)
            ]

    count -= count % clients
    before = settled_counters(upstream)
    with ThreadPoolExecutor(clients) as pool:
        statuses = Counter(
            s for part in pool.map(client, [count // clients] * clients) for s in part
        )
    calls = Counter(requests.get(f"{upstream}/_bench/counters").json()) - before
    calls["connections"] -= 1  # the one that fetched the counters
    answers = " ".join(f"{status}x{number}" for status, number in sorted(statuses.items()))
    return (
        f"  {target.name}: {count:,} requests ({answers}), {calls['current'] / count:.3f} "
        f"users/current calls each, {calls['token']} token calls, "
        f"{calls['connections']} new upstream connections"
    )


def app_environ(upstream: str, port: int, logs: Path, **settings) -> dict:
    """The settings of an app (or the limit) on `port` against `upstream` (a setting given as
    None: the app's default)."""
    default = {"ILERT_CLIENT_ID": "bench-client", "ILERT_CLIENT_SECRET": "bench-secret"}
    # The limit has no budget of calls to ilert: neither has the app, unless asked.
    default |= {"ILERT_AUTH_URL": upstream, "ILERT_API_URL": upstream, "ILERT_RATE_LIMIT": "0"}
    default |= {"ILERT_REDIRECT_URI": config.redirect_uri_at(port), "SECRET_KEY": SECRET_KEY}
    default |= {"SESSION_FILE_DIR": logs / f"sessions-{port}", "PORT": port}
    return process_environ(**{k: v for k, v in (default | settings).items() if v is not None})


def start_limit(bench: Bench, upstream: str, production: bool) -> Target:
    """The limit, with a token from the upstream."""
    grant = {"grant_type": "authorization_code", "code": "bench"}
    token = requests.post(f"{upstream}{TOKEN_PATH}", data=grant).json()["access_token"]
    port = free_port()
    environ = app_environ(upstream, port, bench.logs, BENCH_API_URL=upstream)
    environ["BENCH_ACCESS_TOKEN"] = token
    command = gunicorn("bench.limit_app:create_app()", port, production)
    server = bench.serve("limit", command, environ, port)
    return Target("limit", f"http://127.0.0.1:{port}/limit", JSON, [server.process.pid])


def start_app(bench: Bench, name: str, upstream: str, production: bool, **settings) -> list:
    """The app with `settings`, signed in: its /me JSON and HTML targets."""
    port = free_port()
    environ = app_environ(upstream, port, bench.logs, **settings)
    command = gunicorn("app:create_app()", port, production)
    pids = [bench.serve(f"app {name}", command, environ, port).process.pid]
    others = [bench.servers["redis"].process.pid] if settings["SESSION_TYPE"] == "redis" else []
    url, cookie = f"http://127.0.0.1:{port}/me", sign_in(port, environ)
    return [
        Target(f"/me {kind} {name}", url, accept | cookie, pids, others)
        for kind, accept in (("JSON", JSON), ("HTML", HTML))
    ]


def settled_counters(upstream: str) -> Counter:
    """The upstream's counters once they stay still for half a second: requests that wrk
    left in flight may still be reaching the upstream."""
    counts = Counter(requests.get(f"{upstream}/_bench/counters").json())
    while True:
        time.sleep(0.5)
        again = Counter(requests.get(f"{upstream}/_bench/counters").json())
        if all(again[key] == counts[key] for key in ("current", "token")):
            return again
        counts = again


def measure(bench: Bench, args, production: bool, latency_ms: float, clients: tuple) -> None:
    """Start the upstream, the limit and an app for each store (and each with `--with` too),
    load them in interleaved rounds and print the table."""
    port = free_port()
    command = [sys.executable, BENCH / "upstream.py", str(port), str(latency_ms / 1000)]
    upstream = bench.serve("upstream", command, process_environ(), port)
    url = f"http://127.0.0.1:{port}"
    redis_url = start_redis(bench) if "Redis" in args.stores else "redis://localhost:6379/0"
    limit = start_limit(bench, url, production)
    targets = [limit]
    settings = dict(setting.split("=", 1) for setting in args.env)
    variants = {"": {}}
    if args.with_:
        variants[f" +{' '.join(args.with_)}"] = dict(v.split("=", 1) for v in args.with_)
    for store in args.stores:
        for suffix, extra in variants.items():
            store_settings = {"SESSION_TYPE": STORES[store], "REDIS_URL": redis_url}
            targets += start_app(
                bench, store + suffix, url, production, **store_settings, **settings, **extra
            )
    count, seconds = args.rounds, args.seconds
    print(f"Load: {count} rounds of {seconds} s, interleaved ...", flush=True)
    upstream_cpu = cpu_seconds([upstream.process.pid])
    rounds(targets, clients, count, seconds)
    upstream_cpu = cpu_seconds([upstream.process.pid]) - upstream_cpu
    print_table(targets, limit)
    served = sum(r["requests"] for t in targets for runs in t.runs.values() for r in runs)
    print(f"\nThe upstream used {1000 * upstream_cpu / served:.2f} ms of CPU per request served.")
    print("Upstream calls of exact counts of requests:")
    for target in targets[1::2]:
        print(exact_calls(target, url, clients=max(clients)))


def arguments(argv: list | None = None) -> argparse.Namespace:
    """The command line, checked (so are docs/performance.md's commands, by tests/test_docs)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only", choices=("local", "distant", "budget"), help="one mode (default local, distant)"
    )
    parser.add_argument("--stores", default="files,Redis", help="files,Redis (the default)")
    parser.add_argument("--latency-ms", type=float, default=50, help="of distant (50)")
    parser.add_argument("--rounds", type=int, default=6, help="rounds of load runs (6)")
    parser.add_argument("--seconds", type=int, default=1, help="length of each load run (1)")
    setting = {"action": "append", "default": [], "metavar": "NAME=VALUE"}
    parser.add_argument("--env", **setting, help="a setting for every app under test")
    parser.add_argument(
        "--with", dest="with_", **setting, help="run each app also with this, beside"
    )
    args = parser.parse_args(argv)
    args.stores = args.stores.split(",")
    if not set(args.stores) <= set(STORES):
        parser.error(f"--stores: one or more of {', '.join(STORES)}")
    return args


def main(argv: list | None = None) -> None:
    args = arguments(argv)
    if not shutil.which("wrk") and args.only != "budget":
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
    modes = {
        "local": (False, 0, (1, 8)),
        "distant": (True, args.latency_ms, (64,)),
    }
    with tempfile.TemporaryDirectory(prefix="ilert-bench-") as work:
        for mode, (production, latency_ms, clients) in modes.items():
            if args.only not in (None, mode):
                continue
            where = f"{latency_ms:g} ms away" if latency_ms else "on this machine"
            settings = "gunicorn.conf.py" if production else "2 sync workers"
            print(f"\n## {mode}: the upstream {where}, the app and the limit under {settings}")
            with contextlib.ExitStack() as stack:
                bench = Bench(stack, Path(work), mode)
                measure(bench, args, production, latency_ms, clients)
                stack.close()  # stop the servers, so that their logs are complete
                bench.problems()
        if args.only == "budget":
            print("\n## budget: the app under gunicorn.conf.py against the sandbox's rate limit")
            with contextlib.ExitStack() as stack:
                bench = Bench(stack, Path(work), "budget")
                budget.run(bench, start_redis(bench), GUNICORN, app_environ)
                stack.close()
                bench.problems()
    print(f"\n{time.monotonic() - began:.0f} s; everything started here is stopped.")


if __name__ == "__main__":
    main()
