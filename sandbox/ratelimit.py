"""ilert's API rate limit, as the sandbox applies it to every row of its API table.

iLert/docs, developer-docs/rest-api/alertsource-throttle.md: "API (IP): 700 (can be
increased) per 1 Minute"; "Exceeding a limit will cause a client to be rejected with 429
responses until a new window starts"; clients should back off 10-30 s. So: a budget per
client address for a fixed window that starts with the address's first request, and beyond
it a 429 whose `Retry-After` is the rest of the window.
"""

import math
import re
import threading
import time
from collections.abc import Callable

DEFAULT = "700/min"
_UNITS = {"s": 1, "sec": 1, "min": 60, "h": 3600}
_TEXT = re.compile(r"(?P<count>[0-9]{1,7})/(?P<unit>s|sec|min|h)")


def parse(text: str) -> tuple[int, int] | None:
    """(requests, window in seconds) from "700/min", "10/s" or "5/h"; None for "0" (no
    limit). ValueError says what a good value looks like."""
    if text == "0":
        return None
    match = _TEXT.fullmatch(text)
    if match is None or int(match["count"]) < 1:
        raise ValueError(f"rate limit {text!r}: give requests per s, min or h, e.g. 700/min, or 0")
    return int(match["count"]), _UNITS[match["unit"]]


class RateLimit:
    """How many requests each client address may still make in its current window."""

    def __init__(self, text: str = DEFAULT, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[float, int]] = {}  # address -> (window start, used)
        self.text = text
        self._limit = parse(text)

    def change(self, text: str) -> None:
        """Apply another limit (see `parse`), with every address's window started afresh."""
        limit = parse(text)
        with self._lock:
            self.text, self._limit = text, limit
            self._windows.clear()

    def reset(self) -> None:
        """Start every address's window afresh."""
        with self._lock:
            self._windows.clear()

    def wait(self, address: str) -> int | None:
        """Count a request from `address`: None if it is within the limit, else the whole
        seconds until the address's window ends (at least 1)."""
        with self._lock:
            if self._limit is None:
                return None
            count, window = self._limit
            now = self._clock()
            start, used = self._windows.get(address, (now, 0))
            if now >= start + window:
                start, used = now, 0
            if used >= count:
                return max(1, math.ceil(start + window - now))
            self._windows[address] = (start, used + 1)
            return None
