"""The benchmark's load and its table: wrk (or, for one client, a small client of ours) on each
target in interleaved rounds, the CPU each target's processes used, medians and ratios."""

import contextlib
import json
import os
import socket
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import requests

BENCH = Path(__file__).resolve().parent
ONE_CLIENT_BLOCKS = 10  # one client's rounds per wrk round: its targets take turns 10x as often
ONE_CLIENT_BLOCK = 25  # requests one client sends a target per round and second of --seconds


@dataclass
class Target:
    """What one row loads: `url` with `headers`; `pids` are the processes whose CPU it costs
    (a gunicorn master, whose workers count too), `others` those it costs besides (Redis)."""

    name: str
    url: str
    headers: dict
    pids: list[int]
    others: list[int] = field(default_factory=list)
    runs: dict = field(default_factory=dict)  # clients: [run, ...]


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU seconds used so far by `pids` and their children, from /proc."""
    ticks, every = 0, list(pids)
    for pid in pids:
        with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{pid}/children") as children:
            every += map(int, children.read().split())
    for pid in every:
        with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def machine_jiffies() -> tuple[int, int]:
    """The idle and the total time of all cores so far, in clock ticks, from /proc/stat (idle
    includes waiting for I/O)."""
    with open("/proc/stat") as stat:
        ticks = [int(tick) for tick in stat.readline().split()[1:]]
    return ticks[3] + ticks[4], sum(ticks)


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


def one_client(url: str, headers: dict, count: int) -> dict:
    """`count` GET `url` one after another, each on a new connection (gunicorn's sync workers
    close every connection, as they do wrk's) and timed from connecting to the answer's last
    byte: requests, rps, errors (failed connections, answers other than 200) and the times."""
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


def rounds(targets: list[Target], clients: tuple[int, ...], count: int, seconds: float) -> None:
    """Check and warm up each target, then `count` rounds of each client count, every round
    starting with the next target (a shared machine's speed drifts from second to second).
    One client runs ONE_CLIENT_BLOCKS shorter rounds in the time of one. Fills `runs`."""
    for target in targets:
        answer = requests.get(target.url, headers=target.headers, allow_redirects=False)
        if answer.status_code != 200:
            raise RuntimeError(f"{target.name} answers {answer.status_code}, not 200")
        wrk(target.url, max(clients), 1, target.headers)
        target.runs = {number: [] for number in clients}
    for round_number in range(count):
        for number in clients:
            for block in range(ONE_CLIENT_BLOCKS if number == 1 else 1):
                first = (round_number + block) % len(targets)
                for target in targets[first:] + targets[:first]:
                    before = cpu_seconds(target.pids), cpu_seconds(target.others)
                    idle_before, total_before = machine_jiffies()
                    if number == 1:
                        run = one_client(target.url, target.headers, ONE_CLIENT_BLOCK * seconds)
                    else:
                        run = wrk(target.url, number, seconds, target.headers)
                    run["cpu"] = cpu_seconds(target.pids) - before[0]
                    run["others"] = cpu_seconds(target.others) - before[1]
                    idle, total = machine_jiffies()
                    run["idle"] = (idle - idle_before) / max(total - total_before, 1)
                    target.runs[number].append(run)


def print_table(targets: list[Target], limit: Target) -> None:
    """A Markdown table: medians of the rounds (one client's p50 and p99: of all its requests),
    each round's req/s over the limit's in the same round (median and range), the CPU per
    request of the target's processes (user + system; Redis's beside), and the limit's CPU per
    request over the target's: the ratio a CPU-bound machine would give, whatever else it ran;
    then how much of the machine's CPU stayed idle meanwhile (median of the rounds): a row
    whose cores were not all busy was bound by something else than CPU."""
    columns = "req/s | p50 ms | p99 ms | / limit, by round | CPU ms/req | limit's CPU / this"
    print(f"\n| target | clients | {columns} | idle |")
    print("|---" * 9 + "|")
    for number in limit.runs:
        for target in targets:
            results = target.runs[number]
            rps = statistics.median(r["rps"] for r in results)
            if "times" in results[0]:
                percentiles = statistics.quantiles([t for r in results for t in r["times"]], n=100)
                p50, p99 = percentiles[49] * 1000, percentiles[98] * 1000
            else:
                p50 = statistics.median(r["p50_ms"] for r in results)
                p99 = statistics.median(r["p99_ms"] for r in results)
            ratios = [
                mine["rps"] / theirs["rps"]
                for mine, theirs in zip(results, limit.runs[number], strict=True)
            ]
            ratio = "" if target is limit else median_and_range(ratios)
            cpu, others = cpu_per_request(results, "cpu"), cpu_per_request(results, "others")
            efficiency = cpu_per_request(limit.runs[number], "cpu") / cpu
            idle = statistics.median(r["idle"] for r in results)
            errors = sum(r["errors"] for r in results)
            print(
                f"| {target.name} | {number} | {rps:.0f} | {p50:.2f} | {p99:.2f} | {ratio} | "
                f"{cpu:.2f}{f' + Redis {others:.2f}' if target.others else ''} | "
                f"{'' if target is limit else f'{efficiency:.2f}'} | {idle:.0%} |"
                + (f" ! {errors} errors" if errors else "")
            )


def cpu_per_request(results: list[dict], key: str) -> float:
    """Milliseconds of CPU per request over all the rounds of `results`."""
    return 1000 * sum(r[key] for r in results) / sum(r["requests"] for r in results)


def median_and_range(values: list[float]) -> str:
    """`0.85 (0.80–0.91)`."""
    return f"{statistics.median(values):.2f} ({min(values):.2f}–{max(values):.2f})"
