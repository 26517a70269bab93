"""The packaging: pyproject.toml's floors, the hashed locks compiled from it, and that the
suite runs with exactly what the locks pin."""

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from conftest import ROOT
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PROJECT = tomllib.loads(Path(ROOT, "pyproject.toml").read_text())["project"]
LOCKS = {
    "requirements.txt": [],
    "requirements-dev.txt": ["--extra", "dev"],
    "requirements-otel.txt": ["--extra", "otel"],  # requirements.txt and the otel extra
}


def pins(lock: str) -> dict[str, tuple[str, Marker | None, list[str]]]:
    """The lock's pins: name -> (version, environment marker, hashes)."""
    text = Path(ROOT, lock).read_text().replace("\\\n", " ")
    found = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        requirement_text, *hashes = line.split("--hash=")
        requirement = Requirement(requirement_text.strip())
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"{lock}: {line!r} is not an exact pin"
        found[canonicalize_name(requirement.name)] = (
            specifier.version,
            requirement.marker,
            [value.strip() for value in hashes],
        )
    return found


def declared(extra: str | None = None) -> list[Requirement]:
    lines = PROJECT["dependencies"] + (PROJECT["optional-dependencies"][extra] if extra else [])
    return [Requirement(line) for line in lines]


def test_the_project_declares_its_python_and_licence():
    assert PROJECT["requires-python"] == ">=3.11"
    assert PROJECT["license"] == "MIT"
    assert Path(ROOT, "LICENSE").read_text().startswith("MIT License")


@pytest.mark.parametrize("lock", LOCKS)
def test_every_pin_is_exact_and_hashed(lock):
    for name, (_version, _marker, hashes) in pins(lock).items():
        assert hashes and all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in hashes), name


@pytest.mark.parametrize(
    ("lock", "extra"),
    [(lock, options[-1] if options else None) for lock, options in LOCKS.items()],
)
def test_the_locks_satisfy_pyproject(lock, extra):
    locked = pins(lock)
    for requirement in declared(extra):
        version = locked[canonicalize_name(requirement.name)][0]
        assert requirement.specifier.contains(version), f"{lock}: {requirement.name} {version}"


@pytest.mark.parametrize("lock", LOCKS)
def test_the_locks_name_the_command_the_readme_gives(lock):
    """uv writes the command it was run with at the top: docs/dependencies.md gives it too."""
    words = ["uv", "pip", "compile", "pyproject.toml", *LOCKS[lock]]
    # The oldest Python the project supports: uv takes the running one's by default, and on a
    # newer one leaves out what only older ones need.
    command = " ".join(
        [*words, "--python-version", "3.11", "--universal", "--generate-hashes", "-o", lock]
    )
    assert f"#    {command}\n" in Path(ROOT, lock).read_text()
    assert f"\n{command}\n" in Path(ROOT, "docs", "dependencies.md").read_text()


@pytest.mark.parametrize("lock", ["requirements.txt", "requirements-otel.txt"])
def test_the_dev_lock_pins_the_others_alike(lock):
    """So that the suite tests what the runtime locks install (the otel one: the traces)."""
    other, dev = pins(lock), pins("requirements-dev.txt")
    assert {name: other[name][0] for name in other} == {name: dev[name][0] for name in other}


def test_the_suite_runs_with_exactly_what_the_dev_lock_pins():
    """So that what the README's commands install is what was tested."""
    for name, (version, marker, _hashes) in pins("requirements-dev.txt").items():
        if marker is None or marker.evaluate():
            assert metadata.version(name) == version, name


# The newest version of each with a published advisory (issue 23): no floor may allow it.
ADVISORY_AFFECTED = {"filelock": "3.20.2", "requests": "2.32.3", "flask": "3.1.2"}


@pytest.mark.parametrize(("name", "affected"), ADVISORY_AFFECTED.items())
def test_no_floor_allows_a_version_with_a_published_advisory(name, affected):
    (requirement,) = [r for r in declared() if canonicalize_name(r.name) == name]
    assert not requirement.specifier.contains(affected), requirement
    assert metadata.version(name) not in ("", affected)
