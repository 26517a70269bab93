"""Every command in README.md and docs/*.md (the fenced `sh` blocks) is one a test runs: as
written, on free ports instead of 4597/4598, with placeholders filled in."""

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from conftest import ROOT, free_port, process_environ, wait_for_port

DOCUMENTS = [Path(ROOT, "README.md"), *sorted(Path(ROOT, "docs").glob("*.md"))]
SECRET_KEY = "docs-test-secret-key-long-enough-0123456789"
REAL = {"ILERT_CLIENT_ID": "id", "ILERT_CLIENT_SECRET": "secret", "SECRET_KEY": SECRET_KEY}


def documented_commands() -> list[str]:
    """Each command of each ```sh block, its continuation lines joined."""
    commands = []
    for document in DOCUMENTS:
        for block in re.findall(r"^ *```sh\n(.*?)^ *```", document.read_text(), re.M | re.S):
            text = re.sub(r"\\\n *", "", block)
            commands += [line.strip() for line in text.splitlines() if line.strip()]
    return commands


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
# Each command, and the test below that runs it.
RUN_BY = {
    APP: "test_the_app_command_serves_the_sign_in_page",
    SUITE: ".ci/run, which runs it exactly (the suite cannot run itself)",
    "pip install uv": "test_the_locks_are_what_the_documented_commands_compile",
    **{lock: "test_the_locks_are_what_the_documented_commands_compile" for lock in LOCKS},
    GUNICORN: "test_the_production_commands_serve",
    REDIS: "test_the_production_commands_serve",
    SANDBOX: "test_the_sandbox_recipe_signs_in",
    SANDBOX_APP: "test_the_sandbox_recipe_signs_in",
}


def test_every_documented_command_is_run_by_a_test():
    assert set(documented_commands()) == set(RUN_BY)
    assert f"\n{SUITE}\n" in Path(ROOT, ".ci/run").read_text()


def shell_environ(**variables) -> dict:
    """A clean environment whose `python`, `pip` and `gunicorn` are this test run's."""
    environ = process_environ(**variables)
    environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + environ["PATH"]
    return environ


class Shell:
    """A documented command run by bash in the project folder, until the test ends."""

    def __init__(self, command: str, environ: dict, output: Path):
        with output.open("w") as file:
            self.process = subprocess.Popen(
                ["bash", "-c", command], cwd=ROOT, env=environ, stdout=file,
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

    def start(command, environ):
        started.append(Shell(command, environ, tmp_path / f"output-{len(started)}.txt"))
        return started[-1]

    yield start
    for each in started:
        assert "Traceback" not in each.stop()


# The tests that run the commands, on one xdist worker (they start servers and pip).
in_turn = pytest.mark.xdist_group("documented commands")


@pytest.mark.slow
@in_turn
def test_the_app_command_serves_the_sign_in_page(shell, tmp_path):
    port = free_port()
    environ = shell_environ(PORT=port, SANDBOX_PORT=free_port(), SESSION_FILE_DIR=tmp_path / "s")
    running = shell(APP, environ)
    wait_for_port(port, running.process, timeout=120)  # after pip has checked the lock
    home = requests.get(f"http://127.0.0.1:{port}/", timeout=10)
    assert home.status_code == 200 and 'href="/login"' in home.text


@pytest.mark.slow
@in_turn
@pytest.mark.parametrize("command", [GUNICORN, REDIS])
def test_the_production_commands_serve(command, shell, tmp_path, request):
    if command == REDIS:
        redis_server = request.getfixturevalue("redis_server")
        command = command.replace("redis.internal:6379", f"127.0.0.1:{redis_server.port}")
        command = command.replace("<the same everywhere>", SECRET_KEY)
    port = free_port()
    environ = shell_environ(**REAL, PORT=port, SESSION_FILE_DIR=tmp_path / "s", WEB_CONCURRENCY=1)
    running = shell(command, environ)
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
    assert profile.url == f"http://localhost:{port}/me" and "Ada Lovelace" in profile.text


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
