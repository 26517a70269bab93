"""The code is checked as CI checks it: ruff (rules and formatting) and mypy, configured in
pyproject.toml. Here, so that the README's one test command runs everything, and the quick
loop (`-m "not slow"`) too: they take seconds, and a fork meets their complaints at once."""

import subprocess
import sys

import pytest
from conftest import ROOT


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
