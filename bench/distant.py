"""`/me` against a distant ilert: the upstream behind a proxy that adds latency.

    python bench/distant.py    # about 60 s; --latency-ms 50 --rounds 5 --seconds 2 --threads N

The app runs as in production, `gunicorn "app:create_app()"` with gunicorn.conf.py, and the
limit (bench/limit_app.py) under the same file; `--threads` sets GUNICORN_THREADS for both.
Their calls to the upstream (bench/upstream.py) pass this file's proxy, which delays the
connect and every request by the latency. wrk loads both at 8 and 64 clients in interleaved
rounds, each round starting with the other one. Everything listens on 127.0.0.1.
"""

import argparse
import asyncio
import contextlib
import re
import statistics
import sys
import tempfile
from pathlib import Path

import harness

CLIENTS = (8, 64)
DISCARDED = "Connection pool is full"
KEYS = ("rps", "p50_ms", "p99_ms")
GUNICORN = [sys.executable, "-m", "gunicorn"]


async def _pump(reader, writer, delay):
    """Copy `reader` to `writer`, each chunk `delay` seconds after it arrived."""
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


def serve_proxy(port, upstream_port, delay):
    """Listen on `port`; connect each client to `upstream_port` after `delay` seconds (the
    handshake's round trip), and delay what the client sends by as much."""

    async def relay(client_reader, client_writer):
        await asyncio.sleep(delay)
        reader, writer = await asyncio.open_connection("127.0.0.1", upstream_port)
        await asyncio.gather(_pump(client_reader, writer, delay), _pump(reader, client_writer, 0))

    async def main():
        server = await asyncio.start_server(relay, "127.0.0.1", port, backlog=1024)
        await server.serve_forever()

    asyncio.run(main())


def start_servers(stack, logs, args):
    """The upstream, the proxy, and the app and the limit under `gunicorn APP_SPEC` with
    nothing but gunicorn.conf.py (bind from PORT); returns (app, limit, upstream)."""
    app_port, limit_port, proxy_port = (harness.free_port() for _ in range(3))
    upstream = harness.upstream_server(logs, [harness.redirect_uri(app_port)])
    proxy_command = [sys.executable, __file__, "--proxy", str(proxy_port), str(upstream.port)]
    proxy_command.append(str(args.latency_ms / 1000))
    proxy = harness.Server("proxy", proxy_command, harness.clean_environ(), proxy_port, logs)
    start(stack, upstream, proxy)
    proxy_url = f"http://127.0.0.1:{proxy_port}"
    threads = {"GUNICORN_THREADS": args.threads} if args.threads else {}
    app_env = harness.app_environ(proxy_url, app_port, logs / "sessions", PORT=app_port, **threads)
    app_env["ILERT_AUTH_URL"] = upstream.url  # the browser's consent page: not delayed
    token = harness.access_token(upstream.url, harness.redirect_uri(app_port))
    limit_env = harness.clean_environ(
        BENCH_API_URL=proxy_url, BENCH_ACCESS_TOKEN=token, PORT=limit_port, **threads
    )
    servers = []
    for name, spec, environ in (("app", "app", app_env), ("limit", "bench.limit_app", limit_env)):
        command = [*GUNICORN, *harness.NO_CONTROL_SOCKET, f"{spec}:create_app()"]
        servers.append(harness.Server(name, command, environ, int(environ["PORT"]), logs))
    start(stack, *servers)
    return *servers, upstream


def start(stack, *servers):
    """Start `servers`, stopped when `stack` closes, and wait until each listens."""
    for server in servers:
        stack.callback(server.stop)
        server.start().wait_ready()


def measure(args, wrk_path, stack, logs):
    """A warm-up, then rounds of wrk at each client count on /me and on the limit; returns
    the runs by (target, clients) and a line per target on its upstream connections."""
    app, limit, upstream = start_servers(stack, logs, args)
    targets = {"/me": (app, "/me", harness.sign_in(app.browser_url)), "limit": (limit, "/limit")}
    runs = {(name, clients): [] for name in targets for clients in CLIENTS}
    totals = {name: {"requests": 0, "connections": 0} for name in targets}

    def run(name, clients, seconds):
        server, path, *cookie = targets[name]
        before = harness.counters(upstream.url)
        result = harness.wrk(wrk_path, server.url + path, clients, seconds, harness.JSON, *cookie)
        delta = harness.counter_delta(before, harness.counters(upstream.url))
        totals[name]["requests"] += result["requests"]
        totals[name]["connections"] += delta["connections"]
        return result

    for name in targets:
        run(name, max(CLIENTS), 1)
    for number in range(args.rounds):
        for clients in CLIENTS:
            for name in list(targets)[number % 2 :] + list(targets)[: number % 2]:
                runs[name, clients].append(run(name, clients, args.seconds))
    slots = re.search(r"Serving (\d+) requests at once", app.log())[1]
    return runs, [
        f"{name}: {total['connections']} new upstream connections in {total['requests']} "
        f"requests ({1000 * total['connections'] / total['requests']:.2f} per 1,000; "
        f"{slots} request slots), {targets[name][0].log().count(DISCARDED)} discarded"
        for name, total in totals.items()
    ]


def report(args, runs, lines):
    """A line per target and client count: medians of the rounds, and the median (range) of
    the per-round ratios to the limit."""
    print(f"\nupstream latency {args.latency_ms:g} ms, {args.rounds} rounds of {args.seconds} s")
    print("| target | clients | req/s | p50 ms | p99 ms | / limit | ceiling |")
    print("|---|---|---|---|---|---|---|")
    for (name, clients), results in runs.items():
        pairs = zip(results, runs["limit", clients], strict=True)
        ratios = [mine["rps"] / limit["rps"] for mine, limit in pairs]
        ratio = f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})"
        rps, p50, p99 = (statistics.median(r[key] for r in results) for key in KEYS)
        errors = sum(result["errors"] for result in results)
        print(
            f"| {name} | {clients} | {rps:.0f} | {p50:.1f} | {p99:.1f} | "
            f"{ratio if name != 'limit' else ''} | {clients * 1000 / args.latency_ms:.0f} |"
            + (f" {errors} errors" if errors else "")
        )
    print("\n".join(lines))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=2, help="per wrk run")
    parser.add_argument("--threads", type=int, help="GUNICORN_THREADS (default: the conf's)")
    parser.add_argument("--proxy", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.proxy:
        return serve_proxy(int(args.proxy[0]), int(args.proxy[1]), float(args.proxy[2]))
    with tempfile.TemporaryDirectory() as work, contextlib.ExitStack() as stack:
        report(args, *measure(args, harness.find_tool("wrk"), stack, Path(work)))


if __name__ == "__main__":
    main()
