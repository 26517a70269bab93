"""The suite finds its browser and redis-server on any system, and where one is missing
the run fails with the one line that says what to install. That run is a real
`python -m pytest` on one browser test and one Redis test, with PATH stripped of the
programs, as on a machine that lacks them; the finder's other answers are checked here, in
this process's environment made to look like such a machine."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from conftest import RedisServer
from playwright.sync_api import Error, sync_playwright

from tests.tools import (
    CHROMIUM_NAMES,
    INSTALL_CHROMIUM,
    INSTALL_REDIS,
    MissingTool,
    chromium_executable,
    launch_chromium,
    redis_server_executable,
)

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
BROWSER_TEST = "tests/test_browser.py::test_favicon_and_stylesheet_are_served"
REDIS_TEST = "tests/test_redis.py::test_two_instances_share_sessions_through_redis"
PROGRAMS = (*CHROMIUM_NAMES, "redis-server")
NO_CHROMIUM = f"No Chromium found (nor {', '.join(CHROMIUM_NAMES)}): {INSTALL_CHROMIUM}"
NO_REDIS = f"No redis-server on PATH: {INSTALL_REDIS}"


def path_without(programs, folder):
    """PATH as it is, less `programs`: a folder that holds one of them is replaced by a
    folder of links to its other entries."""
    entries, copies = [], {}
    for directory in os.environ["PATH"].split(os.pathsep):
        if not any(os.path.exists(os.path.join(directory, name)) for name in programs):
            entries.append(directory)
            continue
        real = os.path.realpath(directory)  # /bin and /usr/bin are often one folder
        if real not in copies:
            copies[real] = folder / f"bin-{len(copies)}"
            copies[real].mkdir(parents=True)
            for name in os.listdir(real):
                if name not in programs:
                    (copies[real] / name).symlink_to(os.path.join(real, name))
        entries.append(str(copies[real]))
    return os.pathsep.join(entries)


def run_pytest(tmp_path, *tests):
    """`python -m pytest tests` in the project, on a PATH without the browser and
    redis-server, with no CHROMIUM_PATH or REDIS_SERVER, and no Playwright browsers."""
    variables = {
        name: value
        for name, value in os.environ.items()
        if name not in ("CHROMIUM_PATH", "REDIS_SERVER", "PYTEST_ADDOPTS")
    }
    variables["PATH"] = path_without(PROGRAMS, tmp_path / "path")
    variables["PLAYWRIGHT_BROWSERS_PATH"] = str(tmp_path / "no-playwright-browsers")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0", *tests],
        cwd=ROOT,
        env=variables,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def real_redis_server():
    """The redis-server this run uses (module-scoped: found before `bare_machine` hides it)."""
    return redis_server_executable()


@pytest.fixture(scope="module")
def real_chromium():
    """The browser this run uses, as a file: the bundled one if that is what it uses."""
    found = chromium_executable()
    if found is None:
        with sync_playwright() as playwright:
            found = playwright.chromium.executable_path
    return found


def test_without_browser_or_redis_server_the_run_fails_with_what_to_install(tmp_path):
    result = run_pytest(tmp_path, BROWSER_TEST, REDIS_TEST)
    lines = result.stdout.splitlines()
    assert result.returncode == 1, result.stdout
    assert NO_CHROMIUM in lines, result.stdout
    assert NO_REDIS in lines, result.stdout
    assert "2 errors" in lines[-1] and "skipped" not in result.stdout


def test_chromium_path_and_redis_server_are_honoured(
    bare_machine, monkeypatch, tmp_path, real_chromium, real_redis_server
):
    # Under names no search would find, on a PATH without either program, so that only the
    # variables can lead to them; then launched as the tests' fixtures launch them.
    browser, redis_server = tmp_path / "my-browser", tmp_path / "my-redis"
    browser.symlink_to(real_chromium)
    redis_server.symlink_to(real_redis_server)
    monkeypatch.setenv("CHROMIUM_PATH", str(browser))
    monkeypatch.setenv("REDIS_SERVER", str(redis_server))
    with sync_playwright() as playwright:
        assert chromium_executable(playwright) == str(browser)
        launched = launch_chromium(playwright)
        assert launched.new_page().evaluate("1 + 1") == 2
        launched.close()
    assert redis_server_executable() == str(redis_server)
    server = RedisServer(tmp_path)
    server.start()
    try:
        with redis.Redis.from_url(server.url) as client:
            assert client.ping()
    finally:
        server.stop()


@pytest.fixture
def bare_machine(monkeypatch, tmp_path):
    """This process's environment as on a machine without the programs or Playwright's
    browsers; returns the empty PLAYWRIGHT_BROWSERS_PATH folder."""
    monkeypatch.delenv("CHROMIUM_PATH", raising=False)
    monkeypatch.delenv("REDIS_SERVER", raising=False)
    monkeypatch.setenv("PATH", path_without(PROGRAMS, tmp_path / "path"))
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path / "playwright-browsers"))
    return tmp_path / "playwright-browsers"


@pytest.mark.parametrize("variable", ["CHROMIUM_PATH", "REDIS_SERVER"])
def test_a_variable_naming_a_missing_file_fails_naming_it(tmp_path, monkeypatch, variable):
    missing = tmp_path / "missing"
    monkeypatch.setenv(variable, str(missing))
    finder = chromium_executable if variable == "CHROMIUM_PATH" else redis_server_executable
    install = INSTALL_CHROMIUM if variable == "CHROMIUM_PATH" else INSTALL_REDIS
    with pytest.raises(MissingTool) as missing_tool:
        finder()
    assert str(missing_tool.value) == f"{variable}={missing} is not an executable file: {install}"


def test_playwrights_own_chromium_is_launched_when_none_is_on_path(bare_machine, real_chromium):
    with sync_playwright() as playwright:
        with pytest.raises(MissingTool, match="^No Chromium found"):
            chromium_executable(playwright)
        # Playwright cannot download here, so its two executables become the real browser.
        executables = [playwright.chromium.executable_path]
        with pytest.raises(Error) as no_shell:
            playwright.chromium.launch()
        executables += re.findall(r"Executable doesn't exist at (\S+)", no_shell.value.message)
        assert len(executables) == 2, no_shell.value.message
        for executable in executables:
            Path(executable).parent.mkdir(parents=True)
            Path(executable).symlink_to(real_chromium)

        assert chromium_executable(playwright) is None
        browser = launch_chromium(playwright)
        assert browser.new_page().evaluate("1 + 1") == 2
        browser.close()

        Path(executables[1]).unlink()  # the headless shell, a download of its own
        with pytest.raises(MissingTool, match="^Playwright's Chromium is incomplete: install"):
            launch_chromium(playwright)
