"""The benchmark's upstream: the sandbox under gunicorn, counting the connections it serves.

`gunicorn --workers 1 "bench.upstream:create_app()"` (one process: the sandbox keeps its state
in memory) registers the redirect URIs in `BENCH_REDIRECT_URIS` (space-separated), with
ilert's rate limit switched off (the sandbox's default is ilert's 700 calls a minute).
`GET /_bench/counters` answers the sandbox's call counts (as `/_sandbox/stats`) plus
`connections`: how many TCP connections have carried any other request so far. A weak
reference to each socket tells a new connection from a reused one, however the server reuses
ports or file descriptors.
"""

import json
import os
import threading
import weakref

import sandbox


class ConnectionCounter:
    """WSGI middleware: count the distinct connections requests arrive on."""

    def __init__(self, app):
        self.app = app
        self.connections = 0
        self._seen = weakref.WeakSet()
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == "/_bench/counters":
            stats = self.app.extensions["sandbox"].hooks.stats()
            body = json.dumps({**stats, "connections": self.connections}).encode()
            headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
            start_response("200 OK", headers)
            return [body]
        sock = environ.get("gunicorn.socket")
        with self._lock:
            if sock is not None and sock not in self._seen:
                self._seen.add(sock)
                self.connections += 1
        return self.app(environ, start_response)


def create_app():
    """The sandbox for the redirect URIs in `BENCH_REDIRECT_URIS`, counting connections."""
    return ConnectionCounter(
        # ilert's rate limit (700/min per address) is off: the load comes from one address,
        # and the benchmark measures the app, not the limit.
        sandbox.create_app(redirect_uris=os.environ["BENCH_REDIRECT_URIS"].split(), rate_limit="0")
    )
