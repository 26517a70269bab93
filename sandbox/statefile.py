"""The sandbox's state file: one JSON object of sections (`tokens`, `records`), each owned by
one store, written atomically whenever a section changes.

Each store hands in its section as JSON text made under its own lock, so writing the file
never reads another store's state while that store changes it.
"""

import json
import logging
import os
import tempfile
import threading
from typing import Any

log = logging.getLogger(__name__)


class StateFile:
    """The sections kept at `path`, or kept nowhere when `path` is None."""

    def __init__(self, path: str | None) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._sections: dict[str, str] = {}  # name -> the section as JSON text
        if path:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            self._sections = self._read()

    def section(self, name: str) -> Any:
        """The section as it was last saved, or None."""
        text = self._sections.get(name)
        return None if text is None else json.loads(text)

    def save(self, name: str, value: object) -> None:
        """Replace a section and write the file (temp file, fsync, rename; mode 0600)."""
        if not self._path:
            return
        text = json.dumps(value)
        with self._lock:
            self._sections[name] = text
            body = "{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in self._sections.items())
            folder = os.path.dirname(os.path.abspath(self._path))
            fd, temp_path = tempfile.mkstemp(dir=folder, prefix=".sandbox-state-")  # 0o600
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as file:
                    file.write(body + "}")
                    file.flush()
                    os.fsync(file.fileno())
                os.replace(temp_path, self._path)
            except BaseException:
                os.unlink(temp_path)
                raise

    def forget(self, name: str) -> None:
        """Drop a section a store found unusable, so it starts empty."""
        with self._lock:
            self._sections.pop(name, None)

    def _read(self) -> dict[str, str]:
        """The file's sections; a missing file is empty, a broken one too, with a warning."""
        assert self._path
        try:
            with open(self._path, encoding="utf-8") as file:
                state = json.load(file)
            if not isinstance(state, dict):
                raise ValueError("not a JSON object")
            return {name: json.dumps(value) for name, value in state.items()}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as error:
            log.warning(
                "sandbox state file %s is unreadable (%r): starting empty", self._path, error
            )
            return {}
