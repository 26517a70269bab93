"""Instructions per request of `/me` (JSON and HTML) and of the limit, counted by valgrind.

Run from the repo root:

    python bench/instructions.py                 # about 90 s
    python bench/instructions.py --app-root DIR  # the app from another checkout, to compare

Requests per second on a shared virtual machine drift by a tenth from one second to the next
(see bench/run.py); instruction counts do not. Each target is called straight through its WSGI
interface, in a child process under `valgrind --tool=callgrind`, after a warm-up: once with 0
requests and once with 200, and the difference divided by 200 is what one request costs in
Python, Flask, the session and token stores, requests and the rest, user space only (the
kernel's work for sockets and files is not counted). The upstream is the sandbox under
gunicorn, outside valgrind, as in bench/run.py. Garbage collection is off while counting, so
that a collection falling into one run and not the other cannot move the figures (collections
cost a few microseconds per request here: bench/run.py measures them with everything else).

It needs Debian's `valgrind`: run as root it installs it (`apt-get install valgrind`) itself,
else it says so in one line.
"""

import argparse
import contextlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import harness
from harness import HTML, JSON, ROOT

REQUESTS = 200
WARM_UP_REQUESTS = 20
TARGETS = ("limit", "/me JSON", "/me HTML")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    harness.add_app_root_option(parser)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop what we started
    valgrind = harness.find_tool("valgrind")
    app_root = args.app_root.resolve()
    with (
        tempfile.TemporaryDirectory(prefix="ilert-instructions-") as work,
        contextlib.ExitStack() as stack,
    ):
        work = Path(work)
        print("Starting the upstream and signing in ...", flush=True)
        setup = prepare(work, stack, app_root)
        print(f"Counting instructions ({len(TARGETS)} targets x 2 runs under valgrind) ...")
        jobs = [(target, requests) for target in TARGETS for requests in (0, REQUESTS)]
        with ThreadPoolExecutor(max_workers=len(os.sched_getaffinity(0))) as pool:
            found = pool.map(lambda job: count_instructions(valgrind, setup, *job), jobs)
            counts = dict(zip(jobs, found, strict=True))
    per_request = {
        target: (counts[target, REQUESTS] - counts[target, 0]) / REQUESTS for target in TARGETS
    }
    print_table(per_request, app_root)


def prepare(work, stack, app_root):
    """Start the upstream, sign in once through the app under gunicorn (then stop it; its
    session and tokens stay in the session folder) and get the limit's access token."""
    app_port = harness.free_port()
    redirect_uri = harness.redirect_uri(app_port)
    upstream = harness.upstream_server(work, [redirect_uri])
    stack.callback(upstream.stop)
    upstream.start().wait_ready()
    session_dir = work / "sessions"
    app = harness.app_server(work, "app", app_port, upstream.url, session_dir, app_root=app_root)
    try:
        app.start().wait_ready()
        cookie = harness.sign_in(app.browser_url)
    finally:
        app.stop()
    return {
        "app_root": str(app_root),
        "app_environ": harness.app_environ(upstream.url, app_port, session_dir),
        "app_url": app.browser_url,
        "cookie": cookie,
        "upstream_url": upstream.url,
        "access_token": harness.access_token(upstream.url, redirect_uri),
    }


def count_instructions(valgrind, setup, target, requests):
    """Instructions valgrind counted for a child that serves `requests` requests."""
    command = [
        valgrind,
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        __file__,
        "--child",
        target,
        str(requests),
    ]
    done = subprocess.run(
        command, input=json.dumps(setup), capture_output=True, text=True, cwd=ROOT
    )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or not found:
        raise RuntimeError(f"{target} under valgrind failed:\n{done.stderr[-3000:]}")
    return int(found.group(1))


def child(target, requests):
    """In the child: build the target, warm it up, then serve `requests` requests."""
    setup = json.load(sys.stdin)
    if target == "limit":
        os.environ.update(
            BENCH_API_URL=setup["upstream_url"], BENCH_ACCESS_TOKEN=setup["access_token"]
        )
        from limit_app import create_app

        wsgi_app, path, base_url, headers = create_app(), "/limit", "http://127.0.0.1", JSON
    else:
        sys.path.insert(0, setup["app_root"])
        os.chdir(setup["app_root"])
        from app import create_app

        wsgi_app = create_app(setup["app_environ"])
        path, base_url = "/me", setup["app_url"]
        accept = JSON if target == "/me JSON" else HTML
        headers = {**accept, "Cookie": f"session={setup['cookie']}"}
    from werkzeug.test import EnvironBuilder

    environ = EnvironBuilder(path=path, base_url=base_url, headers=headers).get_environ()
    for _ in range(WARM_UP_REQUESTS):
        serve(wsgi_app, environ)
    import gc

    gc.collect()
    gc.disable()
    for _ in range(requests):
        serve(wsgi_app, environ)


def serve(wsgi_app, environ):
    """One request through the WSGI interface, as a server would make it."""
    statuses = []
    environ = {**environ, "wsgi.input": io.BytesIO(b"")}
    body = wsgi_app(environ, lambda status, headers, exc_info=None: statuses.append(status))
    try:
        b"".join(body)
    finally:
        body.close()
    if not statuses[0].startswith("200"):
        raise RuntimeError(f"{environ['PATH_INFO']} answered {statuses[0]}")


def print_table(per_request, app_root):
    from run import _git_state, table

    limit = per_request["limit"]
    print(
        f"\nInstructions per request (user space, valgrind callgrind, {REQUESTS} requests after "
        f"{WARM_UP_REQUESTS} to warm up; app from {app_root}{_git_state(app_root)})"
    )
    rows = [
        (
            target,
            f"{count / 1e6:.3f} M",
            f"{(count - limit) / 1e6:+.3f} M" if target != "limit" else "",
            f"{limit / count:.2f}" if target != "limit" else "",
        )
        for target, count in per_request.items()
    ]
    print(table(("target", "instructions", "beyond the limit", "limit / target"), rows))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], int(sys.argv[3]))
    else:
        main()
