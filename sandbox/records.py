"""The sandbox account's rows as they are now: the made-up account of `sandbox.data`, changed
by the writes a client made, kept in the `records` section of the state file (so a restart
keeps an accepted alert accepted) and set back to `sandbox.data` by `reset`."""

import copy
import hashlib
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from sandbox import data
from sandbox.statefile import StateFile

log = logging.getLogger(__name__)

Row = dict[str, Any]


def seed() -> dict[str, list[Row]]:
    """A fresh copy of the made-up account, by resource name."""
    return copy.deepcopy(data.ROWS)


# Which made-up account saved rows were changed from: after an edit of `sandbox.data`, rows
# saved by an older sandbox are dropped rather than served in their older shapes.
SEED_DIGEST = hashlib.sha256(json.dumps(data.ROWS, sort_keys=True).encode()).hexdigest()[:16]


class Records:
    """Rows by resource name, read and changed under one lock."""

    def __init__(self, state_file: StateFile | None = None) -> None:
        self._file = state_file or StateFile(None)
        self._lock = threading.Lock()
        self._rows = self._load()

    def rows(self, resource: str) -> list[Row]:
        """A copy of a resource's rows, in the order ilert lists them."""
        with self._lock:
            return copy.deepcopy(self._rows[resource])

    def get(self, resource: str, item_id: int | str) -> Row | None:
        """A copy of one row, or None."""
        with self._lock:
            row = self._find(resource, item_id)
            return None if row is None else copy.deepcopy(row)

    def change(self, resource: str, item_id: int | str, edit: Callable[[Row], Row]) -> Row | None:
        """Replace a row by `edit(copy of the row)` (which may raise to change nothing);
        the new row, or None for an unknown id."""
        with self._lock:
            rows = self._rows[resource]
            for index, row in enumerate(rows):
                if row["id"] == item_id:
                    rows[index] = edit(copy.deepcopy(row))
                    self._save()
                    return copy.deepcopy(rows[index])
            return None

    def add(self, resource: str, make: Callable[[int], Row]) -> Row:
        """Add `make(new id)` in front (ilert lists the newest first); the new row."""
        with self._lock:
            rows = self._rows[resource]
            row = make(max((r["id"] for r in rows), default=0) + 1)
            rows.insert(0, row)
            self._save()
            return copy.deepcopy(row)

    def delete(self, resource: str, item_id: int | str) -> bool:
        """Remove a row; whether it was there."""
        with self._lock:
            row = self._find(resource, item_id)
            if row is None:
                return False
            self._rows[resource].remove(row)
            self._save()
            return True

    def reset(self) -> None:
        """Back to the made-up account as `sandbox.data` has it."""
        with self._lock:
            self._rows = seed()
            self._save()

    def _find(self, resource: str, item_id: int | str) -> Row | None:
        return next((row for row in self._rows[resource] if row["id"] == item_id), None)

    def _load(self) -> dict[str, list[Row]]:
        """The saved rows, if the state file has them for every resource, else the seed."""
        saved = self._file.section("records")
        if not isinstance(saved, dict) or saved.get("seed") != SEED_DIGEST:
            if saved is not None:
                log.info("sandbox state file's records are from another sandbox: starting over")
            return seed()
        return saved["rows"]

    def _save(self) -> None:
        self._file.save("records", {"seed": SEED_DIGEST, "rows": self._rows})
