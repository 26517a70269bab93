"""Every command in README.md and docs/*.md, in a fenced `sh` block or inline in backticks, is
one a test runs: as written, on free ports instead of 4597/4598, with placeholders filled in.
The benchmark's and the fault measurements' commands take minutes of load, so a test checks
their arguments instead; the few that only another system can run are listed with the reason."""

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from conftest import LANDING, NOT_COPIED, ROOT, free_port, process_environ, wait_for_port
from test_tracing import Collector

import config
from bench import cost as bench_cost
from bench import run as bench_run
from tests import faults

DOCUMENTS = [Path(ROOT, "README.md"), *sorted(Path(ROOT, "docs").glob("*.md"))]
SECRET_KEY = "docs-test-secret-key-long-enough-0123456789"
REAL = {"ILERT_CLIENT_ID": "id", "ILERT_CLIENT_SECRET": "secret", "SECRET_KEY": SECRET_KEY}
# An inline span is a command when it starts (after any NAME=value) with one of these and has
# arguments; `redis-server` alone names a program.
PROGRAMS = {
    "python", "python3", "py", "pip", "gunicorn", "flask", "sudo", "apt-get", "brew", "uv",
    "ruff", "mypy", "curl", "redis-server", "nginx", "wrk", "npm", "node", "bash", "git",
}  # fmt: skip


def documented_commands() -> list[str]:
    """Each command of each ```sh block (continuation lines joined, comments dropped), then
    each inline command."""
    commands = []
    for document in DOCUMENTS:
        text = document.read_text()
        for block in re.findall(r"^ *```sh\n(.*?)^ *```", text, re.M | re.S):
            block = re.sub(r"\\\n *", "", block)
            commands += [re.sub(r"\s+#.*", "", line).strip() for line in block.splitlines()]
        prose = re.sub(r"^ *```.*?^ *```", "", text, flags=re.M | re.S)
        for span in re.findall(r"`([^`\n]+)`", prose):
            words = span.split()
            while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
                words.pop(0)
            if len(words) > 1 and words[0] in PROGRAMS:
                commands.append(span)
        commands += re.findall(r"<(python [^>\n]*)>", text)  # a placeholder's own command
    return [command for command in commands if command]


def documented_settings() -> list[str]:
    """Each inline span that only sets variables (`SESSION_MAX_AGE=12h SESSION_LIFETIME=30m`),
    leaving out those with a value for the reader to fill in (`FLOW_INSPECTOR=...`)."""
    settings = []
    for document in DOCUMENTS:
        prose = re.sub(r"^ *```.*?^ *```", "", document.read_text(), flags=re.M | re.S)
        for span in re.findall(r"`([^`\n]+)`", prose):
            words = span.split()
            if words and all(re.fullmatch(r"[A-Z][A-Z0-9_]*=[^<.]\S*", word) for word in words):
                settings.append(span)
    return settings


def readme_section(title: str) -> str:
    """The text of the README's `## <title>`."""
    readme = Path(ROOT, "README.md").read_text()
    return readme.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


APP = "pip install -r requirements.txt && python app.py"
SUITE = "pip install -r requirements-dev.txt && python -m pytest"
LOCKS = [
    "uv pip compile pyproject.toml --python-version 3.11 --universal --generate-hashes "
    "-o requirements.txt",
    "uv pip compile pyproject.toml --extra dev --python-version 3.11 --universal "
    "--generate-hashes -o requirements-dev.txt",
    "uv pip compile pyproject.toml --extra otel --python-version 3.11 --universal "
    "--generate-hashes -o requirements-otel.txt",
]
GUNICORN = 'gunicorn "app:create_app()"'
ELSEWHERE = 'gunicorn -c /path/to/gunicorn.conf.py "app:create_app()"'
REDIS = (
    "SESSION_TYPE=redis REDIS_URL=redis://redis.internal:6379/0 SECRET_KEY=<the same "
    'everywhere> HOST=0.0.0.0 gunicorn "app:create_app()"'
)
SANDBOX = "python -m sandbox --port 4598 --redirect-uri http://localhost:4597/authorize-result"
SANDBOX_APP = (
    "ILERT_CLIENT_ID=sandbox-client-id ILERT_CLIENT_SECRET=sandbox-client-secret "
    "ILERT_AUTH_URL=http://localhost:4598 ILERT_API_URL=http://localhost:4598 "
    "ILERT_REDIRECT_URI=http://localhost:4597/authorize-result PORT=4597 "
    'SECRET_KEY=dev-only-secret-key-change-me-0123456789 gunicorn "app:create_app()"'
)
VENV = {  # the README's first table: the virtual environment, one line per system
    "debian": "sudo apt-get install python3-venv && python3 -m venv .venv && . .venv/bin/activate",
    "macos": "python3 -m venv .venv && . .venv/bin/activate",
    "windows": r"py -m venv .venv && .venv\Scripts\activate",
}
QUICK = 'python -m pytest -m "not slow"'
TIDY = "ruff check --fix . && ruff format ."
SANDBOX_HELP = "python -m sandbox --help"
BENCHMARK = [
    "python bench/run.py",
    "python bench/run.py --only local --stores files",
    "python bench/run.py --rounds 12",
    "python bench/run.py --env LOG_LEVEL=info",
    "python bench/run.py --with LOG_LEVEL=debug",
    "python bench/run.py --only local --stores files --rounds 8 "
    "--with 'GUNICORN_CMD_ARGS=--access-logfile -'",
    "python bench/run.py --only distant",
    "python bench/run.py --only budget",
]
COST = ["python bench/cost.py", "python bench/cost.py --functions 25"]
FAULTS = ["python -m tests.faults", "python -m tests.faults eviction"]
OTEL = "pip install -r requirements-otel.txt"
NEW_KEY = 'python -c "import secrets; print(secrets.token_hex(32))"'  # for SECRET_KEY=
# Each command, and the test that runs it.
RUN_BY = {
    VENV["macos"]: "test_the_readmes_first_section_serves_the_sign_in_page_from_a_fresh_copy",
    APP: "test_the_readmes_first_section_serves_the_sign_in_page_from_a_fresh_copy",
    "python app.py": "test_the_readmes_first_section_serves_the_sign_in_page_from_a_fresh_copy",
    "pip install uv": "test_the_locks_are_what_the_documented_commands_compile",
    **{lock: "test_the_locks_are_what_the_documented_commands_compile" for lock in LOCKS},
    GUNICORN: "test_the_production_commands_serve",
    ELSEWHERE: "test_the_production_commands_serve",
    REDIS: "test_the_production_commands_serve",
    SANDBOX: "test_the_sandbox_recipe_signs_in",
    SANDBOX_APP: "test_the_sandbox_recipe_signs_in",
    SANDBOX_HELP: "test_the_sandbox_explains_its_command_line",
    NEW_KEY: "test_the_secret_key_command_makes_a_key_the_app_takes",
    OTEL: "test_the_otel_lock_installs_what_traces_need",
    # tests/test_fork.py: the quick suite in a copy (-q, -n 2 and the tests it names added),
    # and the tidy-up of "Run without sandbox mode" (docs/forking.md) exactly.
    QUICK: "test_a_renamed_fork_with_the_readmes_page_and_action_and_no_flow_inspector",
    TIDY: "test_a_renamed_fork_without_sandbox_mode",
}
# What .ci/run runs, exactly (the suite cannot run itself).
RUN_BY_CI = [SUITE, "pip install -r requirements-dev.txt"]
# Minutes of load each: the benchmark is run by hand (docs/performance.md), the fault runs'
# cheap parts are tests of their own; here their arguments are checked.
ARGUMENTS_CHECKED = [*BENCHMARK, *COST, *FAULTS]
# What no test here can run, and why.
NOT_RUN = {
    VENV["debian"]: "installs a Debian package with sudo; the rest is the macOS line, run",
    VENV["windows"]: "Windows only",
    "sudo apt-get install redis-server chromium nginx": "installs Debian packages; .ci/run "
    "installs the same ones on a bare machine",
    "brew install redis nginx": "macOS only",
    "brew install --cask chromium": "macOS only",
    "apt-get install wrk redis-server": "installs Debian packages (wrk for the benchmark)",
    "apt-get install valgrind": "installs a Debian package (valgrind for bench/cost.py)",
}


def test_every_documented_command_is_run_by_a_test():
    documented = documented_commands()
    accounted = [*RUN_BY, *RUN_BY_CI, *ARGUMENTS_CHECKED, *NOT_RUN]
    assert len(accounted) == len(set(accounted))
    assert set(documented) == set(accounted)
    ci = Path(ROOT, ".ci/run").read_text()
    assert all(f"\n{command} " in ci or f"\n{command}\n" in ci for command in RUN_BY_CI)
    tests = "".join(path.read_text() for path in Path(ROOT, "tests").glob("test_*.py"))
    assert all(f"\ndef {name}(" in tests for name in RUN_BY.values())
    assert VENV["debian"].endswith(VENV["macos"])  # the Debian line runs the macOS one


def shell_environ(**variables) -> dict:
    """A clean environment whose `python`, `pip` and `gunicorn` are this test run's."""
    environ = process_environ(**variables)
    environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + environ["PATH"]
    return environ


def developer_environ(**variables) -> dict:
    """The developer's environment (pip's certificates and proxies) for a fresh virtual
    environment's pip, without the app's settings or `.env`."""
    example = Path(ROOT, ".env.example").read_text()
    names = set(re.findall(r"^# ?([A-Z][A-Z0-9_]*)=", example, re.M))
    environ = {name: value for name, value in os.environ.items() if name not in names}
    environ.update(PATH=shell_environ()["PATH"], PYTHON_DOTENV_DISABLED="1")
    return {**environ, **{name: str(value) for name, value in variables.items()}}


class Shell:
    """A documented command run by bash in the project folder, until the test ends."""

    def __init__(self, command: str, environ: dict, output: Path, cwd: Path | str = ROOT):
        with output.open("w") as file:
            self.process = subprocess.Popen(
                ["bash", "-c", command], cwd=cwd, env=environ, stdout=file,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        self.output = output

    def stop(self) -> str:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)
        return self.output.read_text()


@pytest.fixture
def shell(tmp_path):
    started = []

    def start(command, environ, cwd=ROOT):
        started.append(Shell(command, environ, tmp_path / f"output-{len(started)}.txt", cwd))
        return started[-1]

    yield start
    for each in started:
        assert "Traceback" not in each.stop()


# The tests that run the commands, on one xdist worker (they start servers and pip).
in_turn = pytest.mark.xdist_group("documented commands")


@pytest.mark.slow
@in_turn
def test_the_readmes_first_section_serves_the_sign_in_page_from_a_fresh_copy(shell, tmp_path):
    """ "Run it" as a newcomer follows it: the virtual environment (the macOS line, which the
    Debian line ends with), then the two commands, in a copy of the project with no venv."""
    section = readme_section("Run it")
    venv = re.search(r"^\| macOS \| `([^`]+)` \|$", section, re.M)[1]
    commands = re.findall(r"^```sh\n(.*?)^```", section, re.M | re.S)
    assert [venv, *commands] == [VENV["macos"], APP + "\n"]
    copy = tmp_path / "clone"
    shutil.copytree(ROOT, copy, ignore=NOT_COPIED)
    port = free_port()
    environ = developer_environ(PORT=port, SANDBOX_PORT=free_port())
    running = shell(f"{venv} && {APP}", environ, cwd=copy)
    wait_for_port(port, running.process, timeout=240)  # after pip has installed the lock
    home = requests.get(f"http://127.0.0.1:{port}/", timeout=10)
    assert home.status_code == 200 and 'href="/login"' in home.text
    assert (copy / ".venv" / "bin" / "flask").exists()  # what it runs came from the venv


@pytest.mark.slow
@in_turn
@pytest.mark.parametrize("command", [GUNICORN, ELSEWHERE, REDIS])
def test_the_production_commands_serve(command, shell, tmp_path, request):
    cwd = ROOT
    if command == ELSEWHERE:  # from another folder, as the line says
        command, cwd = command.replace("/path/to", ROOT), tmp_path
    if command == REDIS:
        redis_server = request.getfixturevalue("redis_server")
        command = command.replace("redis.internal:6379", f"127.0.0.1:{redis_server.port}")
        command = command.replace("<the same everywhere>", SECRET_KEY)
    port = free_port()
    environ = shell_environ(**REAL, PORT=port, SESSION_FILE_DIR=tmp_path / "s", WEB_CONCURRENCY=1)
    running = shell(command, environ, cwd)
    wait_for_port(port, running.process, timeout=60)
    health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
    assert health.json() == {"status": "ok", "session_store": "ok"}


@pytest.mark.slow
@in_turn
def test_the_sandbox_recipe_signs_in(shell, tmp_path):
    port, sandbox_port = free_port(), free_port()

    def on_free_ports(command):
        return command.replace("4597", str(port)).replace("4598", str(sandbox_port))

    environ = shell_environ(SESSION_FILE_DIR=tmp_path / "s", WEB_CONCURRENCY=1)
    sandbox = shell(on_free_ports(SANDBOX), environ)
    wait_for_port(sandbox_port, sandbox.process, timeout=60)
    app = shell(on_free_ports(SANDBOX_APP), environ)
    wait_for_port(port, app.process, timeout=60)
    browser = requests.Session()
    consent = browser.get(f"http://localhost:{port}/login", timeout=10)
    assert consent.status_code == 200 and 'name="decision"' in consent.text
    profile = browser.post(
        consent.url, data={"user": "ada.lovelace", "decision": "allow"}, timeout=10
    )
    assert profile.url == f"http://localhost:{port}{LANDING}"
    assert "Ada Lovelace" in browser.get(f"http://localhost:{port}/me", timeout=10).text


@pytest.mark.slow
@in_turn
def test_the_locks_are_what_the_documented_commands_compile(tmp_path):
    """Run where pyproject.toml and the locks are copied, so that the check changes nothing
    here: compiled again, each lock comes out as committed (uv keeps the pins it finds)."""
    # The developer's environment as it is: pip's and uv's certificates and proxies with it.
    environ = {
        **os.environ,
        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"],
    }
    subprocess.run(["bash", "-c", "pip install uv"], env=environ, check=True, timeout=300)
    for name in (
        "pyproject.toml",
        "README.md",
        "LICENSE",
        "requirements.txt",
        "requirements-dev.txt",
        "requirements-otel.txt",
    ):
        shutil.copy(Path(ROOT, name), tmp_path / name)
    for command in LOCKS:
        subprocess.run(
            ["bash", "-c", command], cwd=tmp_path, env=environ, check=True, timeout=300,
            capture_output=True,
        )  # fmt: skip
    for name in ("requirements.txt", "requirements-dev.txt", "requirements-otel.txt"):
        assert (tmp_path / name).read_text() == Path(ROOT, name).read_text(), name


@pytest.mark.slow
def test_the_sandbox_explains_its_command_line():
    finished = subprocess.run(
        ["bash", "-c", SANDBOX_HELP], cwd=ROOT, env=shell_environ(), capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.startswith("usage:")
    assert all(flag in finished.stdout for flag in ("--port", "--redirect-uri", "--rate-limit"))


def test_the_secret_key_command_makes_a_key_the_app_takes():
    made = subprocess.run(shlex.split(NEW_KEY), capture_output=True, text=True, check=True)
    key = made.stdout.strip()
    assert config.load({**REAL, "SECRET_KEY": key})["SECRET_KEY"] == key


def test_the_benchmark_and_fault_commands_are_valid():
    """Their arguments, as the documents give them; running them is the benchmark itself."""
    for command in BENCHMARK:
        assert command.startswith("python bench/run.py")
        bench_run.arguments(shlex.split(command)[2:])
    for command in COST:
        assert command.startswith("python bench/cost.py")
        bench_cost.arguments(shlex.split(command)[2:])
    for command in FAULTS:
        assert command.startswith("python -m tests.faults")
        faults.arguments(shlex.split(command)[3:])


def test_every_documented_setting_is_one_the_app_takes():
    settings = documented_settings()
    assert "SESSION_MAX_AGE=12h SESSION_LIFETIME=30m" in settings
    for span in settings:
        assignments = dict(word.split("=", 1) for word in span.split())
        config.load({**REAL, **assignments})  # a ConfigError names what is wrong


# `test_file.py::test_name`, or `::test_name` for a test of the file named last before it.
NAMED_TEST = re.compile(r"`(test_\w+\.py)?(?:::(test_\w+)(?:\[[^\]`]*\])?)?`")


def test_every_test_the_documents_name_is_there():
    """What SECURITY.md and the docs give as proof is a test that exists, in the file named
    (unless a fork deleted that file, with what it tested)."""
    missing = []
    for document in [*DOCUMENTS, Path(ROOT, "SECURITY.md")]:
        named_file = None
        for match in NAMED_TEST.finditer(document.read_text()):
            named_file = match.group(1) or named_file
            tests = Path(ROOT, "tests", named_file or "?")
            if match.group(2) is None or (named_file and not tests.exists()):
                continue
            if not tests.exists() or f"def {match.group(2)}(" not in tests.read_text():
                missing.append(f"{document.name}: {named_file}::{match.group(2)}")
    assert missing == []


# Builds the app with traces on, asks for /healthz, and exits (the span is sent at exit).
TRACED = (
    "import json, sys; from app import create_app; "
    "create_app(json.loads(sys.argv[1])).test_client().get('/healthz')"
)


@pytest.mark.slow
@in_turn
def test_the_otel_lock_installs_what_traces_need(tmp_path):
    """In a virtual environment of its own, the line of docs/production.md installs what
    OTEL_EXPORTER_OTLP_ENDPOINT needs: the app's span reaches the collector."""
    collector = Collector()
    venv = tmp_path / "venv"
    settings = {**REAL, "SESSION_FILE_DIR": str(tmp_path / "s")}
    settings["OTEL_EXPORTER_OTLP_ENDPOINT"] = collector.url
    command = (
        f"{shlex.quote(sys.executable)} -m venv {venv} && . {venv}/bin/activate && {OTEL} && "
        f"python -c {shlex.quote(TRACED)} {shlex.quote(json.dumps(settings))}"
    )
    environ = developer_environ()
    done = subprocess.run(
        ["bash", "-c", command], cwd=ROOT, env=environ, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    collector.server.shutdown()
    collector.server.server_close()
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert [span["name"] for span in collector.spans()] == ["GET /healthz"]
