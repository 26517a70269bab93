"""Every setting, one line, always: each variable of `.env.example` (read from the file, so a
variable added there is covered at once) given hostile values, in-process (`config.load`,
`create_app`) and as processes (`python app.py`, gunicorn with gunicorn.conf.py from another
folder). Each either starts, or stops with exit code 3 and one line naming the variable."""

import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from conftest import ROOT, free_port, process_environ, wait_for_port
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import config
from app import create_app
from config import ConfigError

VARIABLES = sorted(
    set(re.findall(r"^# ?([A-Z][A-Z0-9_]*)=", Path(ROOT, ".env.example").read_text(), re.M))
)
# Unicode digits, huge numbers, empty, whitespace, wrong units, wrong case, and worse.
HOSTILE = [
    "",
    " ",
    "\t",
    "²",
    "٣",
    "１２",
    "9" * 30,
    "-1",
    "0",
    "99999999999999d",
    "1e309",
    "nan",
    "inf",
    "+5",
    "0x10",
    "5.5",
    " 7D ",
    "10ms",
    "1w",
    "TRUE",
    "Maybe",
    "off",
    "ON",
    "é",
    "ẞ",
    "x" * 5000,
    "http://",
    "https://[::1",
    "redis://",
    "../../etc",
    "a b",
    "'\"<>",
    "\u200b",
    "\ufeff1",
    "\udcff",  # an undecodable byte, as os.environ hands it on
    "\ud800",
]
# The processes get one value each, chosen so that none means a default port (4597 may be a
# developer's app).
PROCESS_VALUES = ["²", "99999999999999d", "Maybe", "٣", "1e309", "-1", "x" * 300, "0x10"]
SECRET_KEY = "hostile-settings-secret-key-long-enough"
REAL = {"ILERT_CLIENT_ID": "id", "ILERT_CLIENT_SECRET": "secret", "SECRET_KEY": SECRET_KEY}
# A client id makes its companions required: the line then names them instead.
COMPANIONS = {"ILERT_CLIENT_ID": ("ILERT_CLIENT_SECRET", "SECRET_KEY")}


def test_the_list_holds_every_variable_the_app_reads():
    assert {"PORT", "SESSION_LIFETIME", "FLASK_DEBUG", "WEB_CONCURRENCY"} <= set(VARIABLES)


def names_it(message: str, variable: str) -> bool:
    """The one line starts with the variable, or with a companion it made required."""
    return message.split()[0] in (variable, *COMPANIONS.get(variable, ()))


def check_in_process(base: dict, variable: str, value: str, folder: Path) -> None:
    environ = {**base, "SESSION_FILE_DIR": str(folder), variable: value}
    if variable == "SESSION_FILE_DIR" and value.strip():  # inside `folder`, whatever it says
        environ[variable] = f"{folder}/a/b/{value.replace('..', '__')}"
    try:
        settings_ = config.load(environ)
    except ConfigError as error:
        assert "\n" not in str(error) and names_it(str(error), variable), (variable, value)
        return
    assert isinstance(settings_, dict)
    if settings_["ILERT_CLIENT_ID"] is not None:
        try:
            create_app(environ)
        except ConfigError as error:
            assert "\n" not in str(error) and names_it(str(error), variable), (variable, value)


@pytest.mark.parametrize("variable", VARIABLES)
def test_every_hostile_value_loads_or_names_the_variable(variable, tmp_path):
    for base in ({}, REAL):
        for value in HOSTILE:
            check_in_process(base, variable, value, tmp_path)


@pytest.mark.slow
@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    variable=st.sampled_from(VARIABLES),
    value=st.one_of(st.sampled_from(HOSTILE), st.text(st.characters(exclude_characters="\0"))),
    real=st.booleans(),
)
def test_property_any_value_loads_or_names_the_variable(variable, value, real, tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    check_in_process(REAL if real else {}, variable, value, folder)


# --- the processes -------------------------------------------------------------------------


def run(command: list[str], environ: dict, port: int, cwd: Path) -> tuple[str, str]:
    """Start `command`; return ("started", output) once it serves /healthz on `port` (then
    stop it), or ("exited <code>", output)."""
    output = cwd / f"output-{port}.txt"
    with output.open("w") as file:
        process = subprocess.Popen(
            command, cwd=cwd, env=environ, stdout=file, stderr=subprocess.STDOUT, text=True
        )
    try:
        while process.poll() is None:
            if "Open " in output.read_text() or "Serving " in output.read_text():
                break  # app.py says "Open", gunicorn.conf.py's when_ready "Serving"
            try:
                process.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                pass
        if process.poll() is None:
            wait_for_port(port, process)
            assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10).ok
            process.terminate()
            process.wait(timeout=15)
            return "started", output.read_text()
        return f"exited {process.returncode}", output.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# gunicorn itself reads WEB_CONCURRENCY from the real environment, before gunicorn.conf.py,
# and fails with a traceback on one that int() refuses (docs/production.md): these it takes.
GUNICORN_WEB_CONCURRENCY = ["٣", "１２", "0", "99999"]


def process_cases():
    """(server, variable, value): every variable once per server, a value each."""
    for server in ("app.py", "gunicorn"):
        for index, variable in enumerate(VARIABLES):
            values = PROCESS_VALUES
            if (server, variable) == ("gunicorn", "WEB_CONCURRENCY"):
                values = GUNICORN_WEB_CONCURRENCY
            yield server, variable, values[(index + len(server)) % len(values)]


def check_process(server: str, variable: str, value: str, folder: Path) -> str | None:
    """None if the server started or stopped with exit 3 and one line naming `variable`,
    else what went wrong."""
    port = free_port()
    base = {"PORT": port, "SANDBOX_PORT": free_port(), "SESSION_FILE_DIR": folder / "sessions"}
    if server == "app.py":
        command = [sys.executable, str(Path(ROOT, "app.py"))]
    else:
        base.update(REAL, WEB_CONCURRENCY="1")
        command = [
            sys.executable, "-m", "gunicorn", "-c", str(Path(ROOT, "gunicorn.conf.py")),
            "app:create_app()",
        ]  # fmt: skip
    environ = process_environ(**{**base, variable: value})
    outcome, output = run(command, environ, port, folder)
    lines = [line for line in output.splitlines() if line.startswith("Configuration error")]
    if "Traceback" in output:
        return f"{server} {variable}={value!r}: a traceback\n{output[-2000:]}"
    if outcome == "started":
        return None
    if outcome == "exited 3" and len(lines) == 1:
        message = lines[0].removeprefix("Configuration error: ")
        if names_it(message, variable) or (variable in message.split(":")[0]):
            return None
    return f"{server} {variable}={value!r}: {outcome}\n{output[-2000:]}"


@pytest.mark.slow
@pytest.mark.xdist_group("hostile processes")
def test_every_variable_starts_or_stops_with_one_line_under_app_py_and_gunicorn(tmp_path):
    """From another folder than the project's, as `gunicorn -c <path>/gunicorn.conf.py`."""
    cases = list(process_cases())
    folders = [tmp_path / str(number) for number in range(len(cases))]
    for folder in folders:
        folder.mkdir()
    with ThreadPoolExecutor(4) as pool:
        failures = pool.map(lambda case, f: check_process(*case, f), cases, folders)
        failures = [failure for failure in failures if failure]
    assert not failures, "\n\n".join(failures)


@pytest.mark.slow
def test_gunicorn_serves_when_started_from_another_folder(tmp_path):
    port = free_port()
    environ = process_environ(**REAL, PORT=port, SESSION_FILE_DIR=tmp_path / "s", WEB_CONCURRENCY=1)
    conf = str(Path(ROOT, "gunicorn.conf.py"))
    command = [sys.executable, "-m", "gunicorn", "-c", conf, "app:create_app()"]
    assert run(command, environ, port, tmp_path)[0] == "started"
