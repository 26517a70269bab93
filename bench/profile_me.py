"""Profile `/me` under load with py-spy: what a gunicorn worker spends per request, and where.

Run from the repo root (as root: py-spy attaches to the workers with ptrace):

    pip install -r bench/requirements.txt && python bench/profile_me.py     # about 40 s

It starts the upstream and the app as bench/run.py does (`gunicorn --workers 2`, sync workers,
filesystem sessions in a temporary folder), signs in, and for `/me` JSON, `/me` HTML and the
limit (bench/limit_app.py) runs wrk with 8 clients while `py-spy record --nonblocking` samples
both workers at 250 Hz (active samples only: a worker waiting for a connection costs nothing).
It prints, for each, the microseconds per request and the share of the workers' active time of
the frames that matter (inclusive), and the same split by the package the time is spent in
(self time). py-spy slows the workers a little, so the absolute numbers run high; compare the
columns, and the shares.
"""

import argparse
import contextlib
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import harness
from harness import HTML, JSON
from run import table

RATE = 250  # samples per second and worker

# (label, paths): a sample counts for a label when its stack holds one of the paths, a path
# being substrings that frames hold in this order, outermost first (py-spy's frames read
# "function (package/file.py:line)").
FRAMES = [
    ("whole request in the worker (gunicorn handle_request)", [("SyncWorker.handle_request (",)]),
    ("  Flask: wsgi_app (all but gunicorn's HTTP handling)", [("Flask.wsgi_app (flask/",)]),
    ("upstream call, all of it", [("_send (ilert_oauth.py",), ("limit (bench/limit_app.py",)]),
    (
        "  requests: prepare the request, merge env/proxy settings",
        [("Session.prepare_request (requests/",), ("merge_environment_settings (requests/",)],
    ),
    ("  send the request (socket sendall)", [("HTTPConnection.send (http/client.py",)]),
    ("  wait for and parse the answer", [("HTTPConnection.getresponse (http/client.py",)]),
    ("  decode the answer's JSON", [("Response.json (requests/models.py",)]),
    ("Flask-Session save_session: write the session", [("ServerSideSessionInterface.save_",)]),
    (
        "  os.replace + os.chmod of the session file",
        [("ServerSideSessionInterface.save_", "_run_safely (cachelib/")],
    ),
    (
        "  mkstemp + pickle + write of the session file",
        [("ServerSideSessionInterface.save_", "mkstemp ("), ("save_", "Serializer.dump (")],
    ),
    ("  Set-Cookie with a new expiry", [("ServerSideSessionInterface.save_", ".set_cookie (")]),
    ("Flask-Session open_session: read the session", [("ServerSideSessionInterface.open_",)]),
    ("token store read (token_store.tokens_of)", [("tokens_of (token_store.py",)]),
    ("template rendering (render_template)", [("render_template (flask/templating.py",)]),
    ("jsonify", [("jsonify (flask/json/",)]),
    ("wants_json: Accept header parsing", [("wants_json (app.py",)]),
    ("security headers (after_request)", [("security_headers (app.py",)]),
    ("logging", [("(logging/__init__.py",)]),
    ("context-local proxies (current_app, request, session)", [("(werkzeug/local.py",)]),
    ("request context push/pop", [("RequestContext.push (",), ("RequestContext.pop (",)]),
    ("gunicorn: read and parse the HTTP request", [("Parser.__next__ (gunicorn/",)]),
    ("gunicorn: close the connection (waits for the client)", [("close_graceful (gunicorn/",)]),
]

# (label, patterns): where a sample's innermost frame is, by file.
PACKAGES = [
    ("app code", [r"\((app|token_store|ilert_oauth|session_store|config)\.py:"]),
    ("limit app", [r"\(bench/limit_app\.py:"]),
    ("flask_session", [r"\(flask_session/"]),
    ("cachelib (session and token files)", [r"\(cachelib/"]),
    ("files: tempfile, os, genericpath", [r"\(tempfile\.py:", r"<frozen (os|genericpath)>"]),
    ("flask", [r"\(flask/"]),
    ("werkzeug", [r"\(werkzeug/"]),
    ("jinja2, markupsafe", [r"\((jinja2|markupsafe)/", r"\(<template>", r"\.html:"]),
    ("requests", [r"\(requests/"]),
    ("urllib3", [r"\(urllib3/"]),
    ("stdlib HTTP: http.client, socket, email", [r"\(http/", r"\(socket\.py:", r"\(email/"]),
    ("json", [r"\(json/"]),
    ("logging", [r"\(logging/"]),
    ("gunicorn", [r"\(gunicorn/"]),
]


def profile(folder, name, wrk_path, target, headers, cookie, workers, seconds, clients):
    """Sample `workers` with py-spy while wrk loads `target`; returns (samples, wrk result).

    py-spy's raw output (collapsed stacks, for flamegraph.pl or speedscope) stays in `folder`
    as `<name>-<pid>.txt`."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    outputs = [folder / f"{slug}-{pid}.txt" for pid in workers]
    spies = [
        subprocess.Popen(
            ["py-spy", "record", "--pid", str(pid), "--rate", str(RATE), "--nonblocking"]
            + ["--format", "raw", "--output", str(output)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for pid, output in zip(workers, outputs, strict=True)
    ]
    time.sleep(1)  # attached; idle workers give no samples
    result = harness.wrk(wrk_path, target, clients, seconds, headers, cookie)
    for spy in spies:
        spy.send_signal(signal.SIGINT)  # py-spy writes its output and ends
    for spy in spies:
        spy.wait(timeout=30)
    samples = Counter()
    for output in outputs:
        for line in output.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if count.isdigit():  # py-spy may leave a line unfinished when it is stopped
                samples[stack] += int(count)
    return samples, result


def by_frames(samples):
    """Samples per FRAMES label (inclusive)."""
    counts = Counter()
    for stack, count in samples.items():
        frames = stack.split(";")
        for label, paths in FRAMES:
            if any(_holds(frames, path) for path in paths):
                counts[label] += count
    return counts


def _holds(frames, path):
    """True if frames, outermost first, hold each substring of `path` in this order."""
    position = 0
    for part in path:
        position = next(
            (index + 1 for index in range(position, len(frames)) if part in frames[index]), None
        )
        if position is None:
            return False
    return True


def by_package(samples):
    """Samples per PACKAGES label, by the innermost frame (self time)."""
    counts = Counter()
    for stack, count in samples.items():
        leaf = stack.rsplit(";", 1)[-1]
        label = next(
            (name for name, patterns in PACKAGES if any(re.search(p, leaf) for p in patterns)),
            "other (stdlib, C calls)",
        )
        counts[label] += count
    return counts


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=8, help="length of each profile")
    parser.add_argument("--clients", type=int, default=8, help="wrk connections")
    parser.add_argument(
        "--output", type=Path, help="keep py-spy's raw stacks (flamegraph input) in this folder"
    )
    harness.add_app_root_option(parser)
    args = parser.parse_args(argv)
    if not shutil.which("py-spy"):
        sys.exit("py-spy is missing: pip install -r bench/requirements.txt")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    wrk_path = harness.find_tool("wrk")
    with (
        tempfile.TemporaryDirectory(prefix="ilert-profile-") as work,
        contextlib.ExitStack() as stack,
    ):
        work = Path(work)
        logs = work / "logs"
        logs.mkdir()
        output = args.output or work
        output.mkdir(parents=True, exist_ok=True)
        app_port, limit_port = harness.free_port(), harness.free_port()
        upstream = harness.upstream_server(logs, [harness.redirect_uri(app_port)])
        stack.callback(upstream.stop)
        upstream.start().wait_ready()
        token = harness.access_token(upstream.url, harness.redirect_uri(app_port))
        app = harness.app_server(
            logs, "app", app_port, upstream.url, work / "sessions", app_root=args.app_root
        )
        limit = harness.limit_server(logs, limit_port, upstream.url, token)
        for server in (app, limit):
            stack.callback(server.stop)
            server.start()
        for server in (app, limit):
            server.wait_ready()
        cookie = harness.sign_in(app.browser_url)
        targets = [
            ("/me JSON", f"{app.url}/me", JSON, cookie, app),
            ("/me HTML", f"{app.url}/me", HTML, cookie, app),
            ("limit", f"{limit.url}/limit", JSON, None, limit),
        ]
        profiles = []
        for name, url, headers, target_cookie, server in targets:
            print(f"Profiling {name} ...", flush=True)
            harness.wrk(wrk_path, url, args.clients, 1, headers, target_cookie)  # warm up
            pids = server.pids()
            cpu_before = harness.cpu_seconds(pids)
            samples, result = profile(
                output,
                name,
                wrk_path,
                url,
                headers,
                target_cookie,
                server.workers(),
                args.seconds,
                args.clients,
            )
            cpu = harness.cpu_seconds(pids) - cpu_before
            profiles.append((name, samples, result, cpu))
        print_profiles(profiles, args.seconds, args.clients)
        if args.output:
            print(f"\npy-spy's raw stacks are in {args.output}")


def print_profiles(profiles, seconds, clients):
    """A summary, then frames (inclusive) and packages (self): one column per profile."""
    print(
        f"\nwrk with {clients} clients for {seconds} s per profile; py-spy at {RATE} Hz on "
        "both workers; us/req = samples / rate / requests"
    )
    summary = [
        (
            name,
            f"{result['rps']:.0f}",
            result["requests"],
            f"{sum(samples.values()) / RATE / result['requests'] * 1e6:.0f}",
            f"{cpu / result['requests'] * 1e6:.0f}",
            result["errors"],
        )
        for name, samples, result, cpu in profiles
    ]
    headers = ("profile", "req/s", "requests", "active us/req", "CPU us/req (/proc)", "errors")
    print(table(headers, summary))
    for title, counter in (
        ("Frames (inclusive)", by_frames),
        ("Packages (self time of the innermost frame)", by_package),
    ):
        columns = [
            (counter(samples), sum(samples.values()), result["requests"])
            for _, samples, result, _ in profiles
        ]
        if counter is by_frames:
            labels = [label for label, _ in FRAMES]
        else:
            everything = Counter()
            for counts, _, _ in columns:
                everything.update(counts)
            labels = [label for label, _ in everything.most_common()]
        rows = [(label, *(_cell(label, *column) for column in columns)) for label in labels]
        print(f"\n{title}: us per request (share of the workers' active samples)")
        print(table(("", *(name for name, *_ in profiles)), rows))


def _cell(label, counts, total, requests):
    """`us/req (share)` of one label in one profile."""
    if not total:
        return "-"
    count = counts[label]
    return f"{count / RATE / requests * 1e6:.0f} ({count * 100 / total:.1f}%)"


if __name__ == "__main__":
    main()
