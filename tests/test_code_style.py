"""The code is checked as CI checks it: ruff (rules and formatting) and mypy, configured in
pyproject.toml, and the size of every module. Here, so that the README's one test command runs
everything, and the quick loop (`-m "not slow"`) too: they take seconds, and a fork meets their
complaints at once."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

MAX_LINES = 400  # a module stays under it: past it, it holds more than one thing to look for
# Data, not code: rows read as a table, however long. Most of such a file is its assignments.
DATA_ONLY = {"sandbox/data.py"}


@pytest.mark.parametrize(
    "command",
    [["ruff", "check", "."], ["ruff", "format", "--check", "."], ["mypy"]],
    ids=" ".join,
)
def test_the_code_passes(command):
    finished = subprocess.run(
        [sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr


def app_modules() -> list[str]:
    """The project's Python files outside tests/, as paths from the project folder (no
    virtualenv, cache or instance folder, whatever its name)."""
    found = []
    for folder, folders, files in os.walk(ROOT):
        folders[:] = [
            name
            for name in folders
            if not name.startswith((".", "__"))
            and name not in ("tests", "instance")
            and not os.path.exists(os.path.join(folder, name, "pyvenv.cfg"))
        ]
        found += [
            os.path.relpath(os.path.join(folder, f), ROOT) for f in files if f.endswith(".py")
        ]
    return sorted(path.replace(os.sep, "/") for path in found)


def test_every_module_stays_under_the_line_limit():
    modules = app_modules()
    assert {"app.py", "config.py", "ilert/client.py", "sandbox/server.py"} <= set(modules)
    too_long = {
        path: lines
        for path in modules
        if path not in DATA_ONLY
        and (lines := len(Path(ROOT, path).read_text(encoding="utf-8").splitlines())) >= MAX_LINES
    }
    assert not too_long, f"modules stay under {MAX_LINES} lines; split these: {too_long}"


@pytest.mark.parametrize("path", sorted(DATA_ONLY))
def test_a_module_let_past_the_limit_is_data(path):
    source = Path(ROOT, path).read_text(encoding="utf-8")
    tree = ast.parse(source)
    data = (ast.Assign, ast.AnnAssign)
    assigned = sum(n.end_lineno - n.lineno + 1 for n in tree.body if isinstance(n, data))
    assert assigned >= 2 / 3 * len(source.splitlines()), f"{path} is more code than data"
