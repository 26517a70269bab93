"""A person's identical GETs answered from a short cache (`ILERT_CACHE_SECONDS`, off by
default), so that a reload storm costs one call to ilert.

The answers live in one sealed entry beside the session (purpose "api-cache"), replaced as a
whole: concurrent requests may each miss and call ilert, and the last one's answers stay,
which costs a call, never a wrong answer. Any other call of the person (a write) empties it,
so a page after an action never shows what the action changed. It is not renewed with the
session: it lives the seconds it was kept for, and is unreadable without the cookie.
"""

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from flask import current_app

import store
from store.flask_session import current_session

MOST_ANSWERS = 20  # answers kept per person


def through(method: str, path: str, params: dict | None, call: Callable[[], Any]) -> Any:
    """`call()`'s answer, or a GET's answer kept from less than ILERT_CACHE_SECONDS ago."""
    seconds = current_app.config["ILERT_CACHE_SECONDS"]
    if not seconds:
        return call()
    sid = current_session().sid
    if method != "GET":
        store.current().delete("api-cache", sid)
        return call()
    key = f"{path}?{urlencode(sorted((params or {}).items()))}"
    kept = store.current().get("api-cache", sid)
    kept = kept if isinstance(kept, dict) else {}
    now = store.now()
    if key in kept and kept[key][0] > now:
        return kept[key][1]
    answer = call()
    fresh = {k: v for k, v in kept.items() if v[0] > now}
    fresh[key] = [now + seconds, answer]
    newest = sorted(fresh.items(), key=lambda item: item[1][0])[-MOST_ANSWERS:]
    store.current().put("api-cache", sid, dict(newest), seconds)
    return answer
