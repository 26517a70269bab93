"""What the benchmarks share: free ports, child servers, signing in, counters, wrk, /proc.

Every server is a child process started from the repo root on a free loopback port with a
clean environment (no `.env`, no developer settings), its output in a log file; `Server.stop`
ends it (and its gunicorn workers) by process id. Nothing here sends traffic anywhere but
127.0.0.1/localhost.
"""

import base64
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
CLIENT_ID = "sandbox-client-id"
CLIENT_SECRET = "sandbox-client-secret"  # the sandbox's public test value
SECRET_KEY = "bench-only-secret-key-0123456789abcdef"
SCOPES = "profile source:w"
JSON = {"Accept": "application/json"}
HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port():
    """A loopback port that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def clean_environ(**variables):
    """A child's environment: no `.env`, no developer settings, only `variables`."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "PYTHON_DOTENV_DISABLED": "1",
        **{name: str(value) for name, value in variables.items()},
    }


class Server:
    """A child process that serves HTTP on 127.0.0.1:`port`, its output in `log_dir`."""

    def __init__(self, name, command, environ, port, log_dir, cwd=ROOT):
        self.name = name
        self.command = command
        self.environ = environ
        self.port = port
        self.cwd = cwd
        self.log_path = Path(log_dir) / f"{name}.log"
        self.process = None
        self._workers = []

    @property
    def url(self):
        """The address to reach it by IP (wrk, API calls)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def browser_url(self):
        """The address a browser uses: the host of the app's redirect URI."""
        return f"http://localhost:{self.port}"

    def start(self):
        """Start the process; `wait_ready` waits for it to listen."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command, cwd=self.cwd, env=self.environ, stdout=log, stderr=subprocess.STDOUT
            )
        return self

    def wait_ready(self, timeout=30):
        """Wait until the port accepts connections; fail with the log if the process exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode}:\n{self.log()[-2000:]}"
                )
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"{self.name} does not listen on {self.port} after {timeout} s")

    def workers(self):
        """Process ids of its gunicorn workers (its child processes)."""
        self._workers = children(self.process.pid)
        return self._workers

    def pids(self):
        """The process and its workers."""
        return [self.process.pid, *self.workers()]

    def stop(self):
        """SIGTERM, then SIGKILL after 10 s, to the process and any worker it left behind."""
        if self.process is None:
            return
        workers = children(self.process.pid) or self._workers
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        for pid in workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def add_app_root_option(parser):
    """`--app-root DIR`: run the app from another checkout, to compare commits."""
    parser.add_argument(
        "--app-root",
        type=Path,
        default=ROOT,
        help="run the app from this checkout instead (e.g. `git archive` of another commit)",
    )


def gunicorn_command(app_spec, port, workers=2, threads=None, extra=()):
    """`python -m gunicorn --workers N [--threads T] --bind 127.0.0.1:port app_spec`, set by
    this command line alone: its config file, bench/__init__.py, sets nothing, which keeps the
    production settings of gunicorn.conf.py out (bench/distant.py measures those)."""
    command = [sys.executable, "-m", "gunicorn", "--config", str(BENCH / "__init__.py")]
    command += ["--workers", str(workers)]
    if threads:
        command += ["--threads", str(threads)]
    command += ["--bind", f"127.0.0.1:{port}", "--graceful-timeout", "5", *extra]
    return [*command, *NO_CONTROL_SOCKET, app_spec]


def _no_control_socket():
    """gunicorn's flag against a control socket, which every instance would share
    (~/.gunicorn/), or nothing for a gunicorn that has none."""
    from gunicorn.config import KNOWN_SETTINGS

    names = {setting.name for setting in KNOWN_SETTINGS}
    return ["--no-control-socket"] if "control_socket_disable" in names else []


NO_CONTROL_SOCKET = _no_control_socket()


def upstream_server(log_dir, redirect_uris, access_token_ttl=3600, name="upstream"):
    """The sandbox under gunicorn: ONE worker process (its state is in memory), 8 threads,
    keep-alive 30 s, counting connections (bench/upstream.py)."""
    port = free_port()
    environ = clean_environ(
        BENCH_REDIRECT_URIS=" ".join(redirect_uris), BENCH_ACCESS_TOKEN_TTL=access_token_ttl
    )
    command = gunicorn_command(
        "bench.upstream:create_app()",
        port,
        workers=1,
        threads=8,
        extra=["--worker-class", "gthread", "--keep-alive", "30"],
    )
    return Server(name, command, environ, port, log_dir)


def app_environ(upstream_url, port, session_dir, **extra):
    """The app's settings, as tests/test_concurrency.py gives them."""
    return clean_environ(
        ILERT_CLIENT_ID=CLIENT_ID,
        ILERT_CLIENT_SECRET=CLIENT_SECRET,
        ILERT_AUTH_URL=upstream_url,
        ILERT_API_URL=upstream_url,
        ILERT_REDIRECT_URI=redirect_uri(port),
        SECRET_KEY=SECRET_KEY,
        SESSION_FILE_DIR=session_dir,
        **extra,
    )


def app_server(log_dir, name, port, upstream_url, session_dir, threads=None, app_root=ROOT):
    """`gunicorn --workers 2 "app:create_app()"` pointed at `upstream_url`, run in `app_root`
    (the repo root, or another checkout of the app to compare with)."""
    environ = app_environ(upstream_url, port, session_dir)
    command = gunicorn_command("app:create_app()", port, threads=threads)
    return Server(name, command, environ, port, log_dir, cwd=app_root)


def limit_server(log_dir, port, upstream_url, access_token):
    """`gunicorn --workers 2 "bench.limit_app:create_app()"`: one pooled upstream call."""
    environ = clean_environ(BENCH_API_URL=upstream_url, BENCH_ACCESS_TOKEN=access_token)
    command = gunicorn_command("bench.limit_app:create_app()", port)
    return Server("limit", command, environ, port, log_dir)


def redirect_uri(port):
    return f"http://localhost:{port}/authorize-result"


# --- talking to the servers ------------------------------------------------------------


def sign_in(app_url, user="ada.lovelace"):
    """Sign in through the sandbox's consent page, as a browser does; returns the `session`
    cookie. `app_url` must be the redirect URI's origin (`Server.browser_url`)."""
    with requests.Session() as browser:
        consent = browser.get(f"{app_url}/login", timeout=10)
        consent.raise_for_status()
        profile = browser.post(consent.url, data={"user": user, "decision": "allow"}, timeout=10)
        if profile.status_code != 200 or profile.url != f"{app_url}/me":
            raise RuntimeError(f"sign-in ended at {profile.url} with {profile.status_code}")
        return browser.cookies.get("session")


def access_token(upstream_url, app_redirect_uri, user="ada.lovelace"):
    """An access token straight from the upstream: authorize (consent allowed) with PKCE,
    then the code exchange, for the same client, person and scopes as the app's."""
    verifier = secrets.token_urlsafe(64)
    digest = hashlib.sha256(verifier.encode()).digest()
    challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    query = {
        "client_id": CLIENT_ID,
        "response_type": "code",
        "redirect_uri": app_redirect_uri,
        "scope": SCOPES,
        "state": secrets.token_urlsafe(16),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    consent = requests.post(
        f"{upstream_url}/api/developers/oauth2/authorize",
        params=query,
        data={"user": user, "decision": "allow"},
        allow_redirects=False,
        timeout=10,
    )
    code = parse_qs(urlsplit(consent.headers["Location"]).query)["code"][0]
    tokens = requests.post(
        f"{upstream_url}/api/developers/oauth2/token",
        data={
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "code": code,
            "grant_type": "authorization_code",
            "redirect_uri": app_redirect_uri,
            "code_verifier": verifier,
        },
        timeout=10,
    )
    tokens.raise_for_status()
    return tokens.json()["access_token"]


def counters(upstream_url):
    """The upstream's call counters and connection count (bench/upstream.py).

    Each read opens one connection of its own, which the count includes."""
    response = requests.get(f"{upstream_url}/_bench/counters", timeout=10)
    response.raise_for_status()
    return response.json()


def counter_delta(before, after):
    """What happened at the upstream between two `counters` reads, flattened:
    `users_current`, `token` (all grants), `refresh_token`, `token_info`, ..., and
    `connections` (new TCP connections, less the one the second read made)."""
    delta = {key: after[key] - before[key] for key in after if isinstance(after[key], int)}
    delta["refresh_token"] = after["token"]["refresh_token"] - before["token"]["refresh_token"]
    delta["authorization_code"] = (
        after["token"]["authorization_code"] - before["token"]["authorization_code"]
    )
    delta["token"] = delta["refresh_token"] + delta["authorization_code"] + delta["token_other"]
    delta["connections"] -= 1
    return delta


def status_of(url, headers, cookie=None):
    """The status of one GET (redirects not followed)."""
    cookies = {"session": cookie} if cookie else None
    return requests.get(
        url, headers=headers, cookies=cookies, allow_redirects=False, timeout=10
    ).status_code


# --- wrk ---------------------------------------------------------------------------------


def find_tool(name):
    """The path of Debian package `name`'s command of the same name (wrk, valgrind),
    installed with apt-get when missing and we are root on Debian."""
    found = shutil.which(name)
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print(
            f"{name} is missing: installing Debian's {name} (apt-get install {name}) ...",
            flush=True,
        )
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        install = ["apt-get", "install", "-y", "-qq", name]
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        if subprocess.run(install, env=env, **quiet).returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], env=env, **quiet)
            subprocess.run(install, env=env, **quiet)
        found = shutil.which(name)
    if not found:
        sys.exit(f"{name} is missing: install it with `apt-get install {name}` (Debian/Ubuntu)")
    return found


def wrk(wrk_path, url, clients, seconds, headers, cookie=None):
    """Run wrk with one thread and `clients` connections; returns its summary.

    Keys: requests, seconds, rps, p50_ms, p99_ms, errors (connect, read, write, timeout and
    4xx/5xx statuses added up), cpu (wrk's own CPU seconds, from wait4).
    """
    command = [wrk_path, "-t1", f"-c{clients}", f"-d{seconds}s", "--timeout", "10s"]
    command += ["--latency", "-s", str(BENCH / "wrk_report.lua")]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    if cookie:
        command += ["-H", f"Cookie: session={cookie}"]
    process = subprocess.Popen([*command, url], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        output = process.stdout.read().decode(errors="replace")
        _, status, usage = os.wait4(process.pid, 0)
    except BaseException:  # Ctrl-C or SIGTERM: stop wrk too
        process.kill()
        process.wait()
        raise
    finally:
        process.stdout.close()
    process.returncode = os.waitstatus_to_exitcode(status)
    lines = [line for line in output.splitlines() if line.startswith("BENCH_JSON ")]
    if process.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({process.returncode}):\n{output}")
    report = json.loads(lines[-1].removeprefix("BENCH_JSON "))
    elapsed = report["duration_us"] / 1e6
    return {
        "requests": report["requests"],
        "seconds": elapsed,
        "rps": report["requests"] / elapsed,
        "p50_ms": report["p50_us"] / 1000,
        "p99_ms": report["p99_us"] / 1000,
        "errors": sum(report[key] for key in ("connect", "read", "write", "timeout", "status")),
        "cpu": usage.ru_utime + usage.ru_stime,
    }


# --- /proc -------------------------------------------------------------------------------


def children(pid):
    """Process ids whose parent is `pid`."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _read(f"/proc/{entry}/stat")
            if stat and int(stat.rpartition(")")[2].split()[1]) == pid:
                found.append(int(entry))
    return sorted(found)


def cpu_seconds(pids):
    """User + system CPU seconds used so far by `pids` (exited ones count 0)."""
    total = 0
    for pid in pids:
        stat = _read(f"/proc/{pid}/stat")
        if stat:
            fields = stat.rpartition(")")[2].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / CLOCK_TICKS


def machine_busy_seconds():
    """CPU seconds the whole machine has been busy (all cores, from /proc/stat)."""
    fields = [int(value) for value in _read("/proc/stat").splitlines()[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def rss_mib(pid):
    """Resident memory (VmRSS) of `pid`, in MiB."""
    for line in (_read(f"/proc/{pid}/status") or "").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _read(path):
    try:
        with open(path) as file:
            return file.read()
    except OSError:
        return None


def _alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False
