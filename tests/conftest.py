"""Shared fixtures. The sandbox runs for real on a free loopback port and is reached
over HTTP, as the app reaches ilert."""

import functools
import itertools
import os
import random
import shutil
import signal
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest
import redis
import requests
from flask import Flask, url_for
from flask.testing import FlaskClient
from jinja2 import MemcachedBytecodeCache
from werkzeug.serving import make_server

from app import create_app as create_flask_app
from config import DEFAULT_SCOPES, LANDING_PAGE, SESSION_COOKIE, redirect_uri_at
from sandbox import CLIENT_ID, CLIENT_SECRET, DEFAULT_REDIRECT_URI, create_app
from sandbox.server import new_state
from sandbox.serving import bind
from tests.tools import redis_server_executable
from views import registry
from views.registry import declared_scopes

# Sign-in's scopes (ILERT_SCOPES) for a test whose person must be allowed every page and
# action: a fork's DEFAULT_SCOPES may leave some out, to be granted on demand.
EVERY_SCOPE = " ".join(sorted(declared_scopes() | set(DEFAULT_SCOPES.split())))


@functools.cache
def path_of(endpoint):
    """The path of a view of the pages blueprint (`pages.token_info`), by its rule: a fork may
    move any page, and a test that needs one asks for it here, never by its path."""
    probe = Flask(__name__)
    probe.register_blueprint(registry.bp)
    with probe.test_request_context():
        return url_for(endpoint)


LANDING = path_of(LANDING_PAGE)  # where a sign-in without `next` ends


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_auto_num_workers(config):
    """`-n auto`: a worker per core the run may use, and one more. The tests that wait in real
    time (xdist group "waits in real time") keep one worker for a minute and more, mostly
    asleep: with only a worker per core, a core idled meanwhile. PYTEST_XDIST_AUTO_NUM_WORKERS
    still decides where it is set."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # pytest-xdist's own hook reads it
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (cores or 1) + 1


# How long a server thread of the tests may take to notice `shutdown()`: every test stops
# one or more, so the 0.05 s of `serve_in_thread` and the 0.5 s of werkzeug's default add up.
POLL_INTERVAL = 0.005


def serve_in_thread(server):
    """Serve a bound server in a daemon thread that stops soon after `server.shutdown()`."""
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": POLL_INTERVAL}, daemon=True
    )
    thread.start()
    return server


class CompiledTemplates(dict):
    """Compiled Jinja templates kept across the apps of a run (a `MemcachedBytecodeCache`
    client): each test builds its own apps, and compiling their templates again and again
    was a fifth of the suite's time. Keyed by file and source, so an edit still shows."""

    def set(self, key, value, timeout=None):
        self[key] = value

    def keep_for(self, app):
        app.jinja_env.bytecode_cache = MemcachedBytecodeCache(self)
        return app


APP_TEMPLATES, SANDBOX_TEMPLATES = CompiledTemplates(), CompiledTemplates()


class RunningSandbox:
    """A sandbox served on a free port, with shortcuts to its test hooks."""

    def __init__(self, **create_app_kwargs):
        create_app_kwargs.setdefault("rate_limit", "0")  # one address makes all the calls
        self.app = SANDBOX_TEMPLATES.keep_for(create_app(**create_app_kwargs))
        self.server = serve_in_thread(bind(self.app, "127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.serving = True
        self.renewable = "state_file" not in create_app_kwargs

    def renew(
        self, redirect_uris, access_token_ttl=3600, code_ttl=120, clock=time.time, rate_limit="0"
    ):
        """Start over with the state `create_app` gives a new sandbox: no codes, tokens,
        counts or faults, the account as `sandbox.data` has it (building the app again costs
        more than a test's own work)."""
        self.app.extensions["sandbox"] = new_state(
            redirect_uris, access_token_ttl, code_ttl, None, clock, rate_limit
        )

    def reusable(self):
        """Whether the next test may have this sandbox: still served, its state in memory,
        and its app as `create_app` made it (no WSGI wrapper put in by a test)."""
        return self.serving and self.renewable and "wsgi_app" not in vars(self.app)

    @property
    def state(self):
        """The sandbox's state object; tests may append to its `redirect_uris`."""
        return self.app.extensions["sandbox"]

    def stats(self):
        """What the sandbox was asked so far (GET /_sandbox/stats)."""
        response = requests.get(f"{self.url}/_sandbox/stats", timeout=5)
        response.raise_for_status()
        return response.json()

    def limit_rate(self, rate_limit):
        """Give the sandbox another rate limit (POST /_sandbox/rate-limit), e.g. "2/min"."""
        response = requests.post(
            f"{self.url}/_sandbox/rate-limit", json={"rate_limit": rate_limit}, timeout=5
        )
        response.raise_for_status()

    def fault(self, **fields):
        """Queue a fault (POST /_sandbox/faults), e.g. `fault(endpoint="token", status=500)`."""
        response = requests.post(f"{self.url}/_sandbox/faults", json=fields, timeout=5)
        response.raise_for_status()
        return response.json()

    def stop(self):
        """Stop serving and close the port (which another test may then be given: to refuse
        connections, see tests/test_faults.py's `refusing_url`)."""
        self.server.shutdown()
        self.server.server_close()
        self.serving = False


@pytest.fixture(scope="session")
def idle_sandboxes():
    """Sandboxes that earlier tests are done with, served still, for `start_sandbox`."""
    idle = []
    yield idle
    for running in idle:
        running.stop()


@pytest.fixture
def start_sandbox(clock, idle_sandboxes):
    """Start sandboxes with `create_app` keyword arguments (e.g. `code_ttl=1`), on the
    test's `clock` like the app, and without ilert's rate limit unless a test gives one
    (`rate_limit="5/min"`): the suite makes all its calls from one address. Each is new to
    the test: a fresh one, or one an earlier test used, renewed. After the test they stop or
    wait, renewable, for the next."""
    started = []

    def start(**create_app_kwargs):
        create_app_kwargs.setdefault("redirect_uris", [DEFAULT_REDIRECT_URI])
        create_app_kwargs.setdefault("clock", clock)
        create_app_kwargs.setdefault("rate_limit", "0")
        if idle_sandboxes and "state_file" not in create_app_kwargs:
            running = idle_sandboxes.pop()
            running.renew(**create_app_kwargs)
        else:
            running = RunningSandbox(**create_app_kwargs)
        started.append(running)
        return running

    yield start
    for running in started:
        if running.reusable():
            idle_sandboxes.append(running)
        elif running.serving:
            running.stop()


@pytest.fixture
def sandbox(start_sandbox):
    """A sandbox with the default redirect URI and hour-long access tokens."""
    return start_sandbox(redirect_uris=[DEFAULT_REDIRECT_URI], access_token_ttl=3600)


# --- the app under test, pointed at a sandbox -------------------------------------------


def origin_of(url):
    """`scheme://host:port` of a URL."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class LocalClient(FlaskClient):
    """A test client whose requests come to the redirect URI's host, as a browser's would."""

    def open(self, *args, **kwargs):
        if not args or isinstance(args[0], str):
            kwargs.setdefault("base_url", self.origin)
        return super().open(*args, **kwargs)

    @property
    def origin(self):
        """The redirect URI's origin: where ilert sends the person back to."""
        return origin_of(self.application.config["ILERT_REDIRECT_URI"])

    @property
    def session_cookie(self):
        """The name of the app's session cookie (with `__Host-` when it is Secure)."""
        return self.application.config["SESSION_COOKIE_NAME"]


class TestClock:
    """The clock of a test's apps and sandboxes: real time, plus however far the test
    moved it on."""

    def __init__(self):
        self.offset = 0.0

    def __call__(self):
        return time.time() + self.offset

    def advance(self, seconds):
        """Move the time of the apps and sandboxes forward, as if `seconds` had passed."""
        self.offset += seconds


@pytest.fixture
def clock():
    """The clock every app and sandbox a test makes reads (`clock.advance(seconds)`)."""
    return TestClock()


@pytest.fixture
def make_app(request, tmp_path, clock):
    """Build the app with environment-style settings, pointed at `sandbox` (by default
    the `sandbox` fixture), with its sessions in a temporary folder and `clock` as its
    clock. Its ilert budget is kept but roomy unless a test gives `ILERT_RATE_LIMIT`: at the
    default 600/min, a test that signs in twenty times waited ten seconds for its turns
    (tests/test_budget.py tests the budget's rates)."""

    def make(sandbox=None, sandbox_mode=False, **environ):
        sandbox = sandbox or request.getfixturevalue("sandbox")
        settings = {
            "ILERT_CLIENT_ID": CLIENT_ID,
            "ILERT_CLIENT_SECRET": CLIENT_SECRET,
            "ILERT_AUTH_URL": sandbox.url,
            "ILERT_API_URL": sandbox.url,
            "SECRET_KEY": "test-secret-key-that-is-long-enough",
            "SESSION_FILE_DIR": str(tmp_path / "sessions"),
            "ILERT_RATE_LIMIT": "10000/s",
            **environ,
        }
        settings = {key: value for key, value in settings.items() if value}
        app = APP_TEMPLATES.keep_for(
            create_flask_app(settings, sandbox_mode=sandbox_mode, clock=clock)
        )
        app.test_client_class = LocalClient
        return app

    return make


class LiveApp:
    """The app served on a real port, with the sandbox it talks to."""

    def __init__(self, app, url, sandbox):
        self.app, self.url, self.sandbox = app, url, sandbox

    def forget_tokens(self, sid):
        """End a session's sign-in on the server, as an expired session would."""
        self.app.extensions["store"].delete("tokens", sid)


@pytest.fixture
def live_app(make_app, start_sandbox):
    """`live_app(access_token_ttl=3600, sandbox_mode=False, **environ)`: serve the app on a
    free port (werkzeug, threaded, with its access log) against a new sandbox that knows
    `http://localhost:<port>/authorize-result`; browsers use `http://localhost:<port>`."""
    servers = []

    def serve(access_token_ttl=3600, sandbox_mode=False, **environ):
        port = free_port()
        redirect_uri = redirect_uri_at(port)
        sandbox = start_sandbox(redirect_uris=[redirect_uri], access_token_ttl=access_token_ttl)
        app = make_app(
            sandbox=sandbox, sandbox_mode=sandbox_mode, ILERT_REDIRECT_URI=redirect_uri, **environ
        )
        servers.append(serve_in_thread(make_server("127.0.0.1", port, app, threaded=True)))
        return LiveApp(app, f"http://localhost:{port}", sandbox)

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


class SignIn:
    """Walks a test client through sign-in the way a browser would, consent included."""

    def __init__(self, client, sandbox):
        self.client = client
        self.sandbox = sandbox

    def start(self, next=None):
        """GET /login; returns the authorize URL at the sandbox."""
        response = self.client.get("/login", query_string={"next": next} if next else None)
        assert response.status_code == 302
        return response.headers["Location"]

    def consent(self, authorize_url, decision="allow", user="ada.lovelace"):
        """Answer the sandbox's consent page; returns the callback's path and query."""
        response = requests.post(
            authorize_url,
            data={"user": user, "decision": decision},
            allow_redirects=False,
            timeout=5,
        )
        assert response.status_code == 302, response.text
        location = urlsplit(response.headers["Location"])
        return f"{location.path}?{location.query}"

    def sign_in(self, next=None, decision="allow", user="ada.lovelace"):
        """The whole round trip; returns the app's answer to the callback."""
        return self.client.get(self.consent(self.start(next), decision, user))

    def session_id(self):
        """This client's session cookie (None without one)."""
        cookie = self.client.get_cookie(self.client.session_cookie)
        return cookie.value if cookie else None

    def tokens(self):
        """The tokens the app keeps for this client's session (read from its store)."""
        return self.client.application.extensions["store"].get("tokens", self.session_id())

    def csrf_token(self):
        """This client's session's CSRF token, as its forms carry it."""
        with self.client.session_transaction() as session:
            return session["csrf_token"]

    def log_out(self):
        return self.client.post("/logout", data={"csrf_token": self.csrf_token()})

    def grant(self, scope, next, decision="allow", user="ada.lovelace"):
        """Allow `scope` on demand (POST /grant, the sandbox's consent page, the callback);
        returns the app's answer to the callback."""
        started = self.client.post(
            "/grant", data={"scope": scope, "next": next, "csrf_token": self.csrf_token()}
        )
        assert started.status_code == 303, started.get_data(as_text=True)[:500]
        return self.client.get(self.consent(started.headers["Location"], decision, user))


@pytest.fixture
def auth_for(request):
    """`auth_for(client, sandbox=None)`: a SignIn for another client or sandbox."""

    def make(client, sandbox=None):
        return SignIn(client, sandbox or request.getfixturevalue("sandbox"))

    return make


@pytest.fixture
def auth(client, auth_for):
    return auth_for(client)


def tool_paths(app):
    """The paths of the app's optional tools (the flow inspector, when it is on): what the
    layout links for everyone, by `app.extensions["layout_tools"]`."""
    with app.test_request_context():
        return [url_for(endpoint) for endpoint, _ in app.extensions.get("layout_tools", [])]


def profiles_at_once(urls, cookie, count):
    """`count` concurrent GET /me (JSON) of the session `cookie`, spread over the app `urls`,
    each on its own connection; returns the statuses."""

    def get(index):
        response = requests.get(
            f"{urls[index % len(urls)]}/me",
            cookies={SESSION_COOKIE: cookie},
            headers={"Accept": "application/json"},
            timeout=30,
        )
        return response.status_code

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(get, range(count)))


def profiles_until_two_workers_served(server, cookie, workers_in_log) -> int:
    """Rounds of 16 concurrent GET /me (`profiles_at_once`) against a gunicorn `server` of
    two workers until its access log shows both: the kernel may hand a whole round to one.
    `workers_in_log(log)` lists the worker of each logged request. Returns the rounds sent."""
    logged_before = len(workers_in_log(server.log()))
    rounds = 0
    while len(set(workers_in_log(server.log()))) < 2 and rounds < 20:
        assert profiles_at_once([server.url], cookie, 16) == [200] * 16
        rounds += 1
        logged_by = time.monotonic() + 5  # gunicorn logs a request after answering it
        while len(workers_in_log(server.log())) < logged_before + 16 * rounds:
            if time.monotonic() > logged_by:
                break
            time.sleep(0.05)
    return rounds


def signed_in_browser(app_url):
    """/login, the sandbox's consent page (allow), the callback, over real HTTP against a
    served app: a signed-in `requests.Session`."""
    browser = requests.Session()
    consent = browser.get(f"{app_url}/login", timeout=10)
    profile = browser.post(
        consent.url, data={"user": "ada.lovelace", "decision": "allow"}, timeout=10
    )
    assert profile.status_code == 200 and profile.url == f"{app_url}{LANDING}"
    return browser


# --- real processes: free ports, Redis ---------------------------------------------------


def free_port():
    """A loopback port that nothing uses right now, for a server a test starts.

    Taken below the kernel's range of ephemeral ports, which it gives every outgoing
    connection: a port from that range (what binding port 0 gives) can be handed to one of the
    suite's many connections before the server binds it, and the server then finds it busy.
    Each test process takes its ports from a block of its own (`_port_blocks`), in turn: no
    other process hands out the same ones, and this one only once it has gone round its block."""
    for _ in range(len(OWN_PORTS)):
        port = next(_next_ports)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError(f"no free port in {OWN_PORTS}")


def _ports_for_servers() -> range:
    """10000 up to the first ephemeral port (Linux says which; 32768 is its default)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as ranges:
            first_ephemeral = int(ranges.read().split()[0])
    except (OSError, ValueError, IndexError):
        first_ephemeral = 32768
    return range(10000, max(first_ephemeral, 12000))


PORTS_VARIABLE = "TESTS_PORTS"


def _port_blocks() -> tuple[range, range]:
    """This process's ports, and the ports it leaves to a suite it runs (a copy's, in
    `test_fork`), which gets them as `TESTS_PORTS`.

    pytest-xdist's workers share their suite's ports out, one block each; each block's lower
    half is the worker's, its upper half its children's. Without blocks, a worker and a copy's
    suite picked ports from the same range at random, and now and then the same one."""
    given = os.environ.get(PORTS_VARIABLE)
    if given:
        first, _, end = given.partition("-")
        ports = range(int(first), int(end))
    else:
        ports = _ports_for_servers()
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if worker.startswith("gw"):
        size = len(ports) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])
        index = int(worker[2:])
        ports = ports[index * size : (index + 1) * size]
    half = len(ports) // 2
    return ports[:half], ports[half:]


OWN_PORTS, CHILDRENS_PORTS = _port_blocks()
_first = random.randrange(len(OWN_PORTS))
_next_ports = itertools.cycle([*OWN_PORTS[_first:], *OWN_PORTS[:_first]])


def wait_for_port(port, process=None, timeout=15):
    """Wait until something accepts connections on `port` (fail if `process` exits)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"process exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.01)
    raise AssertionError(f"nothing listens on port {port} after {timeout} s")


class RedisServer:
    """A real redis-server on a free port, which tests may stop and start again (it saves
    its data to `folder` when stopped, as a Redis with persistence does)."""

    def __init__(self, folder):
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            [
                redis_server_executable(),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "3600 1",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
        )
        wait_for_port(self.port, self.process)

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture
def own_redis_server(tmp_path):
    """A running redis-server of this test's own, which it may stop and start again."""
    server = RedisServer(tmp_path)
    server.start()
    yield server
    if server.process.poll() is None:
        server.stop()


@pytest.fixture(scope="session")
def shared_redis_server(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_server(shared_redis_server):
    """A running redis-server, emptied for this test: one serves the whole run, since
    starting and stopping one per test cost a tenth of a second each. A test that stops
    Redis asks for `own_redis_server` instead."""
    with redis.Redis.from_url(shared_redis_server.url) as client:
        client.flushall()
    yield shared_redis_server
    assert shared_redis_server.process.poll() is None, "stop only an own_redis_server"


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# What a copy of the project (tests/test_fork.py, test_docs.py) leaves out: a developer's
# settings and caches, which another test worker may be writing while it is copied.
NOT_COPIED = shutil.ignore_patterns(
    ".git", ".env", "instance", "__pycache__", ".*_cache", ".venv", "venv", "*.pyc", "screenshots"
)


def process_environ(**variables):
    """A clean environment for a child process: no `.env`, no developer settings."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "PYTHON_DOTENV_DISABLED": "1",
        PORTS_VARIABLE: f"{CHILDRENS_PORTS.start}-{CHILDRENS_PORTS.stop}",
        **{name: str(value) for name, value in variables.items()},
    }


class ServerProcess:
    """A server started as a child process in the project folder, its output in a file."""

    def __init__(self, command, environ, port, output, stop_signal=signal.SIGTERM):
        self.command = command
        self.stop_signal = stop_signal
        self.environ = environ
        self.port = port
        self.url = f"http://localhost:{port}"
        self.output = output
        self.process = None
        self.stop_signalled = False

    def start(self, wait=True):
        """Start the process; unless `wait` is false, wait until it listens (else call
        `wait_until_listening`, e.g. after starting several servers at once)."""
        self.stop_signalled = False
        with self.output.open("a") as output:
            self.process = subprocess.Popen(
                self.command, cwd=ROOT, env=self.environ, stdout=output, stderr=subprocess.STDOUT
            )
        if wait:
            self.wait_until_listening()

    def wait_until_listening(self):
        wait_for_port(self.port, self.process)

    def signal_stop(self):
        """Ask the process to stop, once, without waiting for it (see `stop`). A second
        signal could land inside the first one's handling: werkzeug's reloader, stopping,
        kills its child, and a second SIGTERM that came just before that kill left the child
        running and the reloader waiting for it."""
        if self.process.poll() is None and not self.stop_signalled:
            self.process.send_signal(self.stop_signal)
            self.stop_signalled = True

    def stop(self):
        """Stop the process: it gets 15 s to stop by itself, then it is killed (the test then
        fails: a server that does not stop when asked is a bug)."""
        self.signal_stop()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            stacks = self.stacks()
            self.process.kill()
            self.process.wait()
            raise AssertionError(
                f"{self.command} did not stop within 15 s. Its output ends:\n"
                f"{self.log()[-3000:]}\n{stacks}"
            ) from None

    def stacks(self):
        """What the process and its children (gunicorn's workers) are doing, by py-spy where
        it is installed: the clue to a server that does not stop."""
        py_spy = shutil.which("py-spy")
        if py_spy is None:
            return "(install py-spy to see where it hangs)"
        pid = self.process.pid
        try:
            pids = [pid, *self.children()]
        except OSError:
            pids = [pid]
        dumps = [
            subprocess.run(
                [py_spy, "dump", "--pid", str(each)], capture_output=True, text=True, timeout=20
            )
            for each in pids
        ]
        return "\n".join(
            f"py-spy dump {each}:\n{d.stdout}{d.stderr}"
            for each, d in zip(pids, dumps, strict=True)
        )

    def children(self):
        """The process ids of the server's children (gunicorn's workers), as Linux lists them."""
        pid = self.process.pid
        with open(f"/proc/{pid}/task/{pid}/children") as children:
            return [int(child) for child in children.read().split()]

    def log(self):
        return self.output.read_text()


@pytest.fixture
def start_server(tmp_path):
    """Start `ServerProcess`es (`start_server(command, environ, port, stop_signal=SIGTERM,
    wait=True)`); all stop after the test."""
    started = []

    def start(command, environ, port, stop_signal=signal.SIGTERM, wait=True):
        output = tmp_path / f"server-{len(started)}.log"
        server = ServerProcess(command, environ, port, output, stop_signal)
        started.append(server)
        server.start(wait)
        return server

    yield start
    for server in started:  # all at once: each may take a moment
        server.signal_stop()
    failures = []
    for server in started:  # every one is waited for, even after one fails
        try:
            server.stop()
        except AssertionError as error:
            failures.append(str(error))
    for server in started:
        log = server.log()
        if "Traceback" in log:
            failures.append(
                f"{server.command} logged a traceback:\n{log[log.index('Traceback') :]}"
            )
    assert not failures, "\n".join(failures)


@pytest.fixture(autouse=True)
def no_traceback_is_logged(caplog):
    """Expected faults log one line each, never a traceback: a test in which anything in
    this process logged one fails."""
    yield
    records = [*caplog.get_records("setup"), *caplog.get_records("call")]
    tracebacks = [f"{record.name}: {record.getMessage()}" for record in records if record.exc_info]
    assert not tracebacks, f"logged with a traceback: {tracebacks}"
