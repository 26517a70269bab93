"""Benchmark `/me` against the least a Flask app could do, on this machine, in one command.

Run from the repo root, after `pip install -r requirements-dev.txt`:

    python bench/run.py        # about 95 s; options: --rounds 8 of --seconds 1 per load run

`--app-root DIR` runs the app from another checkout instead, to compare commits (for example
`git archive <commit> | tar -x -C DIR`); the upstream and the limit always come from this one.
`python bench/profile_me.py` profiles /me under the same load with py-spy, and
`python bench/instructions.py` counts its instructions per request, which do not drift.

It needs Debian's `wrk` load generator: run as root it installs it (`apt-get install wrk`)
itself, else it says so in one line. Everything it starts listens on free loopback ports and
is stopped at the end (also on Ctrl-C):

- the upstream: the project's sandbox under gunicorn (one gthread worker: its state is in
  memory), counting the TCP connections it serves (bench/upstream.py); a second one with
  3-second access tokens for the burst;
- the app: `gunicorn --workers 2 "app:create_app()"`, configured by environment variables as
  tests/test_concurrency.py does, filesystem sessions in a temporary folder;
- the limit: `gunicorn --workers 2 "bench.limit_app:create_app()"`, a bare Flask app whose one
  route makes the same upstream call through one pooled requests.Session;
- `python app.py` in sandbox mode, three times, for its start-up time.

It prints, measured side by side in the same run: requests per second and p50/p99 latency of
the upstream alone, the limit and `/me` (JSON and HTML) with 1 and 8 clients; upstream calls and
new upstream TCP connections per `/me`; sign-in flows per second; a 50-request burst at
access-token expiry; start-up time of `python app.py`; resident memory per worker; and any
error or warning the servers logged. The load generator, the upstream and the servers share
the machine's cores, so the tables also say how much CPU each used per request.
"""

import argparse
import contextlib
import http.client
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import harness
import requests
from harness import HTML, JSON, ROOT

CLIENT_COUNTS = (1, 8)
WARM_UP_SECONDS = 1
FLOW_CLIENTS = (1, 4)
FLOW_USER = "grace.hopper"  # not ada.lovelace: the sandbox keeps 10 sign-ins per person
BURST_REQUESTS = 50
BURST_TTL = 3  # seconds an access token lives at the burst's upstream
BURST_ROUNDS = 2
START_UP_RUNS = 3
LOG_PROBLEMS = ("Traceback", "ERROR", "WARNING", "CRITICAL", "Exception", "WORKER TIMEOUT")
LOG_EXPECTED = ("This is a development server",)  # python app.py says so at every start


@dataclass
class Target:
    """Something wrk loads: a URL, its headers, and the server whose CPU it costs."""

    name: str
    url: str
    headers: dict
    server: harness.Server | None = None
    cookie: str | None = None


@dataclass
class LoadRun:
    """One wrk run and what the upstream and the processes did meanwhile."""

    target: Target
    clients: int
    wrk: dict
    upstream: dict
    cpu: dict = field(default_factory=dict)
    probe: int = 200


class Bench:
    """The servers of one run and the measurements taken on them."""

    def __init__(self, work, stack, wrk_path, seconds, app_root=ROOT):
        self.work = work
        self.app_root = app_root
        self.logs = work / "logs"
        self.logs.mkdir()
        self.stack = stack
        self.wrk_path = wrk_path
        self.seconds = seconds
        self.servers = []

    # --- servers -------------------------------------------------------------------------

    def start(self, *servers):
        """Start `servers` together, stop them when the run ends, wait until they listen."""
        for server in servers:
            self.servers.append(server)
            self.stack.callback(server.stop)
            server.start()
        for server in servers:
            server.wait_ready()

    def start_all(self):
        """The upstreams, then the app, the limit and the two apps for the burst."""
        ports = {name: harness.free_port() for name in ("app", "limit", "sync", "threads")}
        self.upstream = harness.upstream_server(self.logs, [harness.redirect_uri(ports["app"])])
        self.short_upstream = harness.upstream_server(
            self.logs,
            [harness.redirect_uri(ports["sync"]), harness.redirect_uri(ports["threads"])],
            access_token_ttl=BURST_TTL,
            name="upstream-short-ttl",
        )
        self.start(self.upstream, self.short_upstream)
        token = harness.access_token(self.upstream.url, harness.redirect_uri(ports["app"]))
        self.app = harness.app_server(
            self.logs,
            "app",
            ports["app"],
            self.upstream.url,
            self.work / "sessions-app",
            app_root=self.app_root,
        )
        self.limit = harness.limit_server(self.logs, ports["limit"], self.upstream.url, token)
        self.burst_apps = [
            harness.app_server(
                self.logs,
                "app-burst-sync",
                ports["sync"],
                self.short_upstream.url,
                self.work / "sessions-burst-sync",
                app_root=self.app_root,
            ),
            harness.app_server(
                self.logs,
                "app-burst-threads",
                ports["threads"],
                self.short_upstream.url,
                self.work / "sessions-burst-threads",
                threads=8,
                app_root=self.app_root,
            ),
        ]
        self.start(self.app, self.limit, *self.burst_apps)
        cookie = harness.sign_in(self.app.browser_url)
        self.targets = [
            Target(
                "upstream alone",
                f"{self.upstream.url}/api/users/current",
                {"Authorization": f"Bearer {token}"},
            ),
            Target("limit (1 pooled call)", f"{self.limit.url}/limit", JSON, self.limit),
            Target("/me JSON", f"{self.app.url}/me", JSON, self.app, cookie),
            Target("/me HTML", f"{self.app.url}/me", HTML, self.app, cookie),
        ]

    # --- 1-3: throughput, latency, upstream calls ------------------------------------------

    def load(self, rounds):
        """Warm every target up, then `rounds` times run each target with 1 and with 8
        clients, interleaved, so that the app and the limit see the same conditions.

        Many short rounds rather than a few long ones: on a shared virtual machine the
        speed of everything drifts from second to second, and runs close together drift
        together. Each round starts with the next target, so that none always runs first
        or always right after the same one."""
        for target in self.targets:
            self._wrk(target, max(CLIENT_COUNTS), WARM_UP_SECONDS)
        runs = []
        for round_number in range(rounds):
            start = round_number % len(self.targets)
            order = self.targets[start:] + self.targets[:start]
            for clients in CLIENT_COUNTS:
                for target in order:
                    runs.append(self.measure(target, clients))
        return runs

    def measure(self, target, clients):
        """One wrk run of `target`, with the upstream's counters and CPU before and after."""
        probe = harness.status_of(target.url, target.headers, target.cookie)
        groups = {"upstream": self.upstream}
        if target.server is not None:
            groups["server"] = target.server
        pids = {name: server.pids() for name, server in groups.items()}
        before = harness.counters(self.upstream.url)
        cpu_before = {name: harness.cpu_seconds(group) for name, group in pids.items()}
        machine_before = harness.machine_busy_seconds()
        result = self._wrk(target, clients, self.seconds)
        machine = harness.machine_busy_seconds() - machine_before
        cpu = {name: harness.cpu_seconds(group) - cpu_before[name] for name, group in pids.items()}
        after = harness.counters(self.upstream.url)
        cpu["wrk"] = result["cpu"]
        cpu["other"] = max(0.0, machine - sum(cpu.values()))
        delta = harness.counter_delta(before, after)
        return LoadRun(target, clients, result, delta, cpu, probe)

    def _wrk(self, target, clients, seconds):
        return harness.wrk(
            self.wrk_path, target.url, clients, seconds, target.headers, target.cookie
        )

    def memory(self):
        """Resident memory of each gunicorn worker of the app and the limit, and the upstream."""
        rows = []
        for server in (self.app, self.limit, self.upstream):
            workers = server.workers()
            rows.append((server.name, [harness.rss_mib(pid) for pid in workers]))
        return rows

    def exact_calls(self, count=1000, clients=8):
        """Exactly `count` /me (JSON, then HTML) from `clients` threads, each waiting for its
        answer, and what the upstream saw meanwhile: wrk stops with requests in flight, so
        its runs cannot count upstream calls per request exactly."""
        results = []
        for target in self.targets:
            if target.server is not self.app:
                continue
            before = harness.counters(self.upstream.url)
            statuses = send(target, count, clients)
            delta = harness.counter_delta(before, harness.counters(self.upstream.url))
            results.append((target.name, count, clients, statuses, delta))
        return results

    # --- 4: sign-in flows --------------------------------------------------------------------

    def flows(self, clients):
        """Complete sign-ins (login, consent, callback, first /me) for `seconds`, by `clients`
        browsers at once; returns flows/s, times, failures and the upstream calls per flow."""
        deadline = time.monotonic() + self.seconds
        times, failures = [], []
        before = harness.counters(self.upstream.url)
        cpu_before = harness.cpu_seconds(self.app.pids())

        def browse():
            while time.monotonic() < deadline:
                started = time.perf_counter()
                try:
                    harness.sign_in(self.app.browser_url, FLOW_USER)
                    times.append(time.perf_counter() - started)
                except Exception as error:  # counted and reported, not raised
                    failures.append(f"{type(error).__name__}: {error}"[:160])

        started = time.perf_counter()
        threads = [threading.Thread(target=browse) for _ in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        cpu = harness.cpu_seconds(self.app.pids()) - cpu_before
        delta = harness.counter_delta(before, harness.counters(self.upstream.url))
        return {
            "clients": clients,
            "flows": len(times),
            "per_second": len(times) / elapsed,
            "p50_ms": _percentile(times, 50) * 1000,
            "p99_ms": _percentile(times, 99) * 1000,
            "failures": failures,
            "upstream": delta,
            "app_cpu_ms": cpu * 1000 / max(1, len(times)),
        }

    # --- 5: the burst at expiry ----------------------------------------------------------------

    def bursts(self):
        """BURST_ROUNDS bursts of BURST_REQUESTS concurrent /me of one session, each right
        when its access token expires, on each burst app."""
        results = []
        for app in self.burst_apps:
            cookie = harness.sign_in(app.browser_url)
            expires = time.monotonic() + BURST_TTL  # the token was issued just before
            for round_number in range(1, BURST_ROUNDS + 1):
                before = harness.counters(self.short_upstream.url)
                fired, answers = fire(f"{app.url}/me", cookie, BURST_REQUESTS, at=expires + 0.05)
                delta = harness.counter_delta(before, harness.counters(self.short_upstream.url))
                expires = fired + BURST_TTL  # the refreshed token was issued after `fired`
                done = [finished - fired for _, finished in answers]
                results.append(
                    {
                        "app": app.name,
                        "round": round_number,
                        "all_answered_ms": max(done) * 1000,
                        "p50_ms": _percentile(done, 50) * 1000,
                        "statuses": Counter(status for status, _ in answers),
                        "refreshes": delta["refresh_token"],
                        "users_current": delta["users_current"],
                    }
                )
        return results

    # --- 6: start-up ---------------------------------------------------------------------------

    def start_up(self):
        """Seconds from starting `python app.py` (sandbox mode) to its first /healthz answer,
        START_UP_RUNS times, and its resident memory then."""
        runs = []
        instance = self.app_root / "instance"
        instance_existed = instance.exists()
        for run in range(START_UP_RUNS):
            port, sandbox_port = harness.free_port(), harness.free_port()
            state_file = instance / f"sandbox-{sandbox_port}.json"
            state_existed = state_file.exists()
            environ = harness.clean_environ(
                PORT=port,
                SANDBOX_PORT=sandbox_port,
                ILERT_REDIRECT_URI=harness.redirect_uri(port),
                SESSION_FILE_DIR=self.work / f"sessions-app-py-{run}",
            )
            server = harness.Server(
                f"app-py-{run}",
                [sys.executable, "app.py"],
                environ,
                port,
                self.logs,
                cwd=self.app_root,
            )
            self.servers.append(server)
            started = time.perf_counter()
            server.start()
            try:
                status = _first_answer(server, "/healthz")
                seconds = time.perf_counter() - started
                runs.append((seconds, status, harness.rss_mib(server.process.pid)))
            finally:
                server.stop()
                if not state_existed:
                    state_file.unlink(missing_ok=True)  # app.py's sandbox state, if it made one
        if not instance_existed and instance.exists() and not any(instance.iterdir()):
            instance.rmdir()
        return runs

    # --- the logs ------------------------------------------------------------------------------

    def log_problems(self):
        """Lines of every server's log that report an error or a warning, counted."""
        found = {}
        for server in self.servers:
            lines = [
                line.strip()
                for line in server.log().splitlines()
                if any(word in line for word in LOG_PROBLEMS)
                and not any(expected in line for expected in LOG_EXPECTED)
            ]
            if lines:
                found[server.name] = Counter(_without_timestamp(line) for line in lines)
        return found


def send(target, count, clients):
    """`count` GET requests to `target` from `clients` threads; returns the statuses."""
    statuses = Counter()
    remaining = iter(range(count))
    lock = threading.Lock()

    def client():
        with requests.Session() as session:
            session.headers.update(target.headers)
            session.cookies.set("session", target.cookie)
            while True:
                with lock:
                    if next(remaining, None) is None:
                        return
                status = session.get(target.url, allow_redirects=False, timeout=30).status_code
                with lock:
                    statuses[status] += 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def fire(url, cookie, count, at):
    """`count` concurrent GET `url` (JSON, each on its own connection), released together at
    monotonic time `at`; returns the release time and (status, finish time) of each."""
    barrier = threading.Barrier(count + 1)
    answers = [None] * count

    def one(index):
        with requests.Session() as client:
            request = client.prepare_request(
                requests.Request("GET", url, headers=JSON, cookies={"session": cookie})
            )
            barrier.wait()
            try:
                status = client.send(request, timeout=30).status_code
            except requests.RequestException as error:
                status = type(error).__name__
            answers[index] = (status, time.monotonic())

    threads = [threading.Thread(target=one, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, at - time.monotonic()))
    fired = time.monotonic()
    barrier.wait()
    for thread in threads:
        thread.join()
    return fired, answers


def _first_answer(server, path, timeout=30):
    """Poll `path` every 5 ms until it answers; returns the status."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited:\n{server.log()[-2000:]}")
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        try:
            connection.request("GET", path)
            return connection.getresponse().status
        except OSError:
            time.sleep(0.005)
        finally:
            connection.close()
    raise RuntimeError(f"{server.name} did not answer {path} within {timeout} s")


def _median_and_range(values):
    """`0.85 (0.80-0.91)`."""
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def _percentile(values, percent):
    """The `percent` percentile of `values` (nearest rank), or nan for none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(percent / 100 * len(ordered)) - 1))]


def _without_timestamp(line):
    """A log line without gunicorn's or logging's leading timestamp and pid, for counting."""
    if line.startswith("["):
        parts = line.split("] ", 2)
        return parts[-1] if len(parts) == 3 else line
    if line[:4].isdigit() and len(line) > 24:
        return line[24:]
    return line


# --- printing -------------------------------------------------------------------------------


def table(headers, rows):
    """A plain text table: first column left-aligned, the rest right-aligned."""
    cells = [[str(cell) for cell in row] for row in [headers, *rows]]
    widths = [max(len(row[column]) for row in cells) for column in range(len(headers))]

    def line(row):
        first = row[0].ljust(widths[0])
        rest = (cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True))
        return "  ".join([first, *rest]).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(cells[0]), rule, *(line(row) for row in cells[1:])])


@dataclass
class LoadResult:
    """The runs of one target with one client count, added up over the rounds."""

    target: Target
    clients: int
    runs: list

    def total(self, key):
        return sum(run.wrk[key] for run in self.runs)

    @property
    def requests(self):
        return self.total("requests")

    @property
    def rps(self):
        return self.requests / self.total("seconds")

    @property
    def spread(self):
        """Half the range of the rounds' req/s, relative to their mean."""
        rates = [run.wrk["rps"] for run in self.runs]
        return (max(rates) - min(rates)) / 2 / statistics.mean(rates)

    def round_ratios(self, limit):
        """Each round's req/s over the limit's in the same round (close together in time)."""
        return [
            run.wrk["rps"] / limit_run.wrk["rps"]
            for run, limit_run in zip(self.runs, limit.runs, strict=True)
        ]

    def mean(self, key):
        return statistics.mean(run.wrk[key] for run in self.runs)

    def cpu_ms(self, name):
        """CPU milliseconds per request of a process group (server, upstream, wrk, other)."""
        if name not in self.runs[0].cpu:
            return "-"
        return f"{sum(run.cpu[name] for run in self.runs) * 1000 / self.requests:.2f}"

    def cores(self, *names):
        """Cores kept busy on average by these process groups."""
        busy = sum(run.cpu.get(name, 0) for run in self.runs for name in names)
        return busy / self.total("seconds")

    def upstream(self, key):
        return sum(run.upstream[key] for run in self.runs)

    @property
    def errors(self):
        return self.total("errors") + sum(run.probe != 200 for run in self.runs)


def combine(runs):
    """LoadResults in the order first measured, one per target and client count."""
    results = {}
    for run in runs:
        key = (run.target.name, run.clients)
        results.setdefault(key, LoadResult(run.target, run.clients, []))
        results[key].runs.append(run)
    return list(results.values())


def print_load(runs, seconds, rounds):
    results = combine(runs)
    limit = {r.clients: r for r in results if r.target.name.startswith("limit")}
    print(
        f"\n1-2. Throughput and latency: {rounds} rounds x {seconds} s per row, interleaved "
        "(req/s over all rounds, +-: half the spread between rounds; p50/p99: mean of rounds;\n"
        "/ limit: req/s over all rounds against the limit's; by round: median and range of "
        "each round against the limit's run in the same round)"
    )
    body = [
        (
            result.target.name,
            result.clients,
            f"{result.rps:.0f}",
            f"{result.spread * 100:.0f}%",
            f"{result.mean('p50_ms'):.2f}",
            f"{result.mean('p99_ms'):.2f}",
            result.errors,
            f"{result.rps / limit[result.clients].rps:.2f}"
            if result.target.name.startswith("/me")
            else "",
            _median_and_range(result.round_ratios(limit[result.clients]))
            if result.target.name.startswith("/me")
            else "",
            result.cpu_ms("server"),
            result.cpu_ms("upstream"),
            result.cpu_ms("wrk"),
            f"{result.cores('server', 'upstream', 'wrk'):.2f} / {result.cores('other'):.2f}",
        )
        for result in results
    ]
    headers = (
        "target",
        "clients",
        "req/s",
        "+-",
        "p50 ms",
        "p99 ms",
        "errors",
        "/ limit",
        "by round",
        "server CPU ms/req",
        "upstream CPU ms/req",
        "wrk CPU ms/req",
        "cores: these / other",
    )
    print(table(headers, body))
    for run in runs:
        if run.probe != 200:
            print(f"  ! {run.target.name}: a probe before a run answered {run.probe}, not 200")
    upstream = {r.clients: r.rps for r in results if r.target.server is None}
    me = {r.clients: r.rps for r in results if r.target.name == "/me JSON"}
    for clients in sorted(upstream):
        factor = upstream[clients] / me[clients]
        verdict = "it is not the bottleneck" if factor > 1.5 else "! it may be the bottleneck"
        print(f"  upstream alone: {factor:.1f}x the /me JSON rate, {clients} client(s): {verdict}")

    print("\n3. Upstream calls during those runs (from the upstream's own counters)")
    body = [
        (
            result.target.name,
            result.clients,
            result.requests,
            f"{result.upstream('users_current') / result.requests:.3f}",
            result.upstream("token"),
            result.upstream("token_info"),
            result.upstream("revoke"),
            result.upstream("connections"),
            f"{result.upstream('connections') * 1000 / result.requests:.2f}",
        )
        for result in results
    ]
    headers = (
        "target",
        "clients",
        "requests",
        "users/current per req",
        "token calls",
        "token_info",
        "revoke",
        "new upstream conns",
        "per 1,000 req",
    )
    print(table(headers, body))
    print(
        "  wrk counts answered requests only: the few in flight when it stops (at most one per "
        "client and round) also reached the upstream;"
    )


def print_exact_calls(results):
    print("  counted exactly, with no request left in flight:")
    for name, count, clients, statuses, delta in results:
        answers = " ".join(f"{status}x{number}" for status, number in sorted(statuses.items()))
        print(
            f"  {count:,} {name} from {clients} clients ({answers}): "
            f"{delta['users_current']:,} users/current calls "
            f"({delta['users_current'] / count:.3f} per request), {delta['token']} token calls, "
            f"{delta['token_info']} token_info, {delta['connections']} new upstream connections"
        )


def print_memory(rows):
    print("\n6b. Resident memory after the load (VmRSS)")
    body = [(name, len(sizes), "  ".join(f"{size:.1f}" for size in sizes)) for name, sizes in rows]
    print(table(("server", "workers", "MiB per worker"), body))


def print_flows(results):
    print("\n4. Full sign-in flows (login -> consent page -> allow -> callback -> first /me)")
    body = []
    for result in results:
        flows = max(1, result["flows"])
        delta = result["upstream"]
        body.append(
            (
                result["clients"],
                result["flows"],
                f"{result['per_second']:.1f}",
                f"{result['p50_ms']:.1f}",
                f"{result['p99_ms']:.1f}",
                len(result["failures"]),
                f"{delta['authorize'] / flows:.2f}",
                f"{delta['authorization_code'] / flows:.2f}",
                f"{delta['users_current'] / flows:.2f}",
                f"{delta['revoke'] / flows:.2f}",
                f"{result['app_cpu_ms']:.1f}",
            )
        )
    print(
        table(
            (
                "clients",
                "flows",
                "flows/s",
                "p50 ms",
                "p99 ms",
                "failed",
                "authorize/flow",
                "code exch./flow",
                "users/current/flow",
                "revoke/flow",
                "app CPU ms/flow",
            ),
            body,
        )
    )
    for result in results:
        for failure, count in Counter(result["failures"]).most_common(3):
            print(f"  ! {count}x {failure}")


def print_bursts(results):
    print(
        f"\n5. Burst: {BURST_REQUESTS} concurrent /me (JSON) of one session at access-token "
        f"expiry (upstream tokens live {BURST_TTL} s)"
    )
    body = [
        (
            result["app"],
            result["round"],
            f"{result['all_answered_ms']:.0f}",
            f"{result['p50_ms']:.0f}",
            " ".join(f"{status}x{count}" for status, count in sorted(result["statuses"].items())),
            result["refreshes"],
            result["users_current"],
        )
        for result in results
    ]
    print(
        table(
            (
                "app",
                "round",
                "all answered ms",
                "p50 answer ms",
                "statuses",
                "refreshes at upstream",
                "users/current calls",
            ),
            body,
        )
    )
    print(
        "  app-burst-sync: gunicorn --workers 2 (sync); app-burst-threads: --workers 2 "
        "--threads 8 (as tests/test_concurrency.py)"
    )


def print_start_up(runs):
    print("\n6a. Start-up of `python app.py` (sandbox mode) to the first GET /healthz answer")
    body = [
        (index + 1, f"{seconds * 1000:.0f}", status, f"{rss:.1f}")
        for index, (seconds, status, rss) in enumerate(runs)
    ]
    print(table(("run", "ms", "status", "RSS MiB at first answer"), body))
    median = statistics.median(seconds for seconds, _, _ in runs)
    print(f"  median {median * 1000:.0f} ms")


def print_log_problems(problems):
    print("\nErrors and warnings the servers logged")
    if not problems:
        print("  none")
    for name, lines in problems.items():
        for line, count in lines.most_common(5):
            print(f"  {name}: {count}x {line[:200]}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=1, help="length of each load run")
    parser.add_argument("--rounds", type=int, default=8, help="rounds of load runs")
    harness.add_app_root_option(parser)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop what we started
    wrk_path = harness.find_tool("wrk")
    began = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="ilert-bench-") as work,
        contextlib.ExitStack() as stack,
    ):
        bench = Bench(Path(work), stack, wrk_path, args.seconds, args.app_root.resolve())
        print("Starting the upstreams, the app, the limit and the burst apps ...", flush=True)
        bench.start_all()
        print("Measuring throughput and latency ...", flush=True)
        load = bench.load(args.rounds)
        memory = bench.memory()
        exact = bench.exact_calls()
        print("Measuring sign-in flows ...", flush=True)
        flows = [bench.flows(clients) for clients in FLOW_CLIENTS]
        print("Measuring bursts at token expiry ...", flush=True)
        bursts = bench.bursts()
        print("Measuring start-up of python app.py ...", flush=True)
        start_up = bench.start_up()
        stack.close()  # stop the servers, so that their logs are complete
        problems = bench.log_problems()

        print_header(wrk_path, args.app_root.resolve())
        print_load(load, args.seconds, args.rounds)
        print_exact_calls(exact)
        print_flows(flows)
        print_bursts(bursts)
        print_start_up(start_up)
        print_memory(memory)
        print_log_problems(problems)
    print(f"\nTotal {time.monotonic() - began:.0f} s; everything started here is stopped.")


def print_header(wrk_path, app_root):
    import gunicorn

    print(
        f"\nilert backend app benchmark, {time.strftime('%Y-%m-%d %H:%M')}, "
        f"Python {sys.version.split()[0]}, gunicorn {gunicorn.__version__}, "
        f"{_cores()} cores shared by everything below\n"
        f"- load: {wrk_path} (wrk, C, 1 thread), {WARM_UP_SECONDS} s warm-up per target\n"
        "- upstream: sandbox.create_app() under gunicorn, 1 gthread worker x 8 threads, "
        "keep-alive 30 s (bench/upstream.py)\n"
        f'- app: gunicorn --workers 2 "app:create_app()" (sync workers), filesystem sessions, '
        f"from {app_root}{_git_state(app_root)}\n"
        '- limit: gunicorn --workers 2 "bench.limit_app:create_app()": GET /limit = one '
        "pooled GET /api/users/current, JSON back\n"
        "- errors: wrk's socket errors + 4xx/5xx answers (+1 if a probe was not 200); "
        "server CPU includes the gunicorn master\n"
        "- cores: these = server + upstream + wrk; other = the rest of the machine (this script, "
        "idle servers, anything else running)\n"
        "- sign-in flows and the burst are driven by this script (Python requests, one thread "
        "per client)"
    )


def _git_state(root):
    """` at <commit>` (plus `, with uncommitted changes`) when `root` is a git checkout."""

    def git(*command):
        return subprocess.run(
            ["git", "--no-optional-locks", "-C", str(root), *command],
            capture_output=True,
            text=True,
        ).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") if (root / ".git").exists() else ""
    if not commit:
        return ""
    changed = git("status", "--porcelain", "--untracked-files=no")
    return f" at {commit}" + (", with uncommitted changes" if changed else "")


def _cores():
    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    main()
