"""Where settings come from besides the environment, for `config.py`: the `.env` file of the
project folder, and the machine, whose cores give gunicorn's default worker count."""

import math
import os
from pathlib import Path

import dotenv
import dotenv.parser

from config_checks import ConfigError


def load_dotenv(path: str | None = None) -> None:
    """Read `.env` (by default the project folder's) into the environment, which wins over it,
    as python-dotenv does, but stop on a line it cannot parse, which python-dotenv skips."""
    if os.environ.get("PYTHON_DOTENV_DISABLED", "").lower() in ("1", "true", "t", "yes", "y"):
        return
    path = path or os.path.join(os.path.dirname(os.path.abspath(__file__)), ".env")
    try:
        with open(path, encoding="utf-8") as file:
            bindings = list(dotenv.parser.parse_stream(file))
    except FileNotFoundError:
        return
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path} cannot be read: {error}") from None
    for binding in bindings:
        if binding.error:
            text = binding.original.string  # with the blank lines before it
            line = binding.original.line + len(text) - len(text.lstrip("\n"))
            raise ConfigError(
                f"{path} line {line} is malformed: {text.strip()[:60]!r} is not NAME=value"
            )
    dotenv.load_dotenv(path)


def available_cores(cgroup: str = "/sys/fs/cgroup") -> int:
    """The cores this process may use: those it may run on, fewer under a cgroup CPU quota
    (a container's --cpus), rounded up. gunicorn's default worker count."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    quota = _cgroup_quota(cgroup)
    if quota is not None:
        cores = min(cores or 1, math.ceil(quota))
    return max(cores or 1, 1)


def _cgroup_quota(cgroup: str) -> float | None:
    """The smallest CPU quota, in cores, of this process's cgroup and those above it: cgroup
    v2's cpu.max ("400000 100000"), or v1's cpu.cfs_quota_us over cpu.cfs_period_us. None
    without one ("max", -1, no such files: not Linux)."""
    try:
        with open("/proc/self/cgroup") as file:
            own = next((line.split(":", 2)[2].strip() for line in file if line[:3] == "0::"), "")
    except OSError:
        own = ""
    folders = [os.path.join(cgroup, "cpu")]  # v1
    parts = [part for part in own.split("/") if part]
    folders += [os.path.join(cgroup, *parts[:depth]) for depth in range(len(parts), -1, -1)]
    quotas = [q for folder in folders if (q := _quota_in(folder)) is not None]
    return min(quotas, default=None)


def _quota_in(folder: str) -> float | None:
    names = [("cpu.max",), ("cpu.cfs_quota_us", "cpu.cfs_period_us")]
    for files in names:
        try:
            text = " ".join(Path(folder, name).read_text() for name in files)
            quota, period = (int(number) for number in text.split()[:2])
        except (OSError, ValueError):
            continue  # no such file, or "max": no quota
        if quota > 0 and period > 0:
            return quota / period
    return None
