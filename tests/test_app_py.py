"""`python app.py` with a real ilert app: what it refuses, and where it listens. (Its sandbox
mode, with no ilert account, is tests/test_sandbox_mode.py.)"""

import ast
import glob
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from conftest import ROOT, free_port, process_environ

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("python app.py")]


def run_app_py(**variables):
    """`python app.py` with only `variables` set; it is expected to exit by itself."""
    return subprocess.run(
        [sys.executable, "app.py"],
        cwd=ROOT,
        env=process_environ(**{"PORT": free_port(), "SANDBOX_PORT": free_port(), **variables}),
        capture_output=True,
        text=True,
        timeout=30,
    )


def real_app_environ(sandbox, tmp_path, **variables):
    """A `python app.py` environment with a client id, pointed at a standalone sandbox."""
    return {
        "ILERT_CLIENT_ID": "sandbox-client-id",
        "ILERT_CLIENT_SECRET": "sandbox-client-secret",
        "ILERT_AUTH_URL": sandbox.url,
        "ILERT_API_URL": sandbox.url,
        "SECRET_KEY": "test-secret-key-that-is-long-enough",
        "SESSION_FILE_DIR": tmp_path / "sessions",
        **variables,
    }


def test_flask_debug_refuses_to_listen_beyond_loopback(sandbox, tmp_path):
    result = run_app_py(**real_app_environ(sandbox, tmp_path, HOST="0.0.0.0", FLASK_DEBUG="1"))
    assert result.returncode == 3
    assert result.stderr.strip().splitlines() == [
        "Configuration error: HOST '0.0.0.0' is beyond loopback, which FLASK_DEBUG refuses: "
        "Werkzeug's debugger runs any code it is sent; turn FLASK_DEBUG off, or keep "
        "HOST=127.0.0.1"
    ]


def test_a_real_client_id_without_the_debugger_listens_beyond_loopback(
    sandbox, start_server, tmp_path
):
    port = free_port()
    environ = process_environ(**real_app_environ(sandbox, tmp_path, HOST="0.0.0.0", PORT=port))
    server = start_server([sys.executable, "app.py"], environ, port)
    assert requests.get(server.url + "/healthz", timeout=5).json()["status"] == "ok"
    assert "Sandbox mode" not in server.log()


def older_python() -> list[str]:
    """A Python older than the project supports: 3.10 where the machine has it (PATH, pyenv),
    else this Python told it is 3.10, running app.py as `python app.py` would."""
    pyenv = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.10.*/bin/python")))
    for candidate in [*pyenv, shutil.which("python3.10")]:
        if candidate and subprocess.run([candidate, "-c", ""], capture_output=True).returncode == 0:
            return [candidate, "app.py"]  # (a pyenv shim of a version not selected fails)
    pretend = "import runpy, sys; sys.version_info = (3, 10, 0, 'final', 0); "
    return [sys.executable, "-c", pretend + "runpy.run_path('app.py', run_name='__main__')"]


def test_an_older_python_stops_with_one_line_naming_the_version_it_needs():
    # The check runs before anything else in app.py, and 3.10 must be able to parse it.
    ast.parse(Path(ROOT, "app.py").read_text(), feature_version=(3, 10))
    result = subprocess.run(
        older_python(), cwd=ROOT, env=process_environ(), capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert re.fullmatch(r"This app needs Python 3\.11 or newer; this is Python 3\.10\.\d+\.", line)


def test_a_busy_port_stops_with_one_line_before_saying_open(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "app.py"],
            cwd=ROOT,
            env=process_environ(PORT=port, SANDBOX_PORT=free_port(), SESSION_FILE_DIR=tmp_path),
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 3
    assert result.stderr.strip().splitlines() == [
        f"Configuration error: PORT {port} is busy on HOST 127.0.0.1: stop what uses it or set "
        "PORT to a free port"
    ]
    assert "Open" not in result.stdout and "Sandbox mode" not in result.stdout


def test_port_equal_to_sandbox_port_stops_with_one_line(tmp_path):
    port = free_port()
    result = run_app_py(PORT=port, SANDBOX_PORT=port, SESSION_FILE_DIR=tmp_path)
    assert result.returncode == 3
    assert result.stderr.strip().splitlines() == [
        f"Configuration error: PORT and SANDBOX_PORT are both {port}: the app and the sandbox "
        "need a port each"
    ]
    assert "Open" not in result.stdout
