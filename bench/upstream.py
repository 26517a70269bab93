"""The benchmark's upstream: the project's sandbox, served by gunicorn, that counts connections.

`gunicorn --workers 1 --threads 8 "bench.upstream:create_app()"` serves `sandbox.create_app()`
(its state lives in memory, so exactly one worker process) with these settings from the
environment:

- `BENCH_REDIRECT_URIS`: space-separated redirect URIs to register (the app's);
- `BENCH_ACCESS_TOKEN_TTL`: access-token lifetime in seconds (default 3600).

On top of the sandbox's own paths it answers `GET /_bench/counters` with the sandbox's call
counters (`/_sandbox/stats`) plus `connections`: how many TCP connections have carried a
request to this process so far. A connection is counted once, the first time a request arrives
on it, by keeping a weak reference to its socket; that is exact however the server reuses
ports or file descriptors, and needs nothing from gunicorn's internals but the documented
`gunicorn.socket` WSGI key.
"""

import json
import os
import threading
import weakref

import sandbox


class ConnectionCounter:
    """WSGI middleware: count the distinct connections requests arrive on."""

    def __init__(self, app):
        self.app = app  # the sandbox's Flask app: called as WSGI, and holds the counters
        self.connections = 0
        self._seen = weakref.WeakSet()
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        sock = environ.get("gunicorn.socket") or environ.get("werkzeug.socket")
        if sock is not None:
            with self._lock:
                if sock not in self._seen:
                    self._seen.add(sock)
                    self.connections += 1
        if environ.get("PATH_INFO") == "/_bench/counters":
            return self._counters(start_response)
        return self.app(environ, start_response)

    def _counters(self, start_response):
        hooks = self.app.extensions["sandbox"].hooks
        body = json.dumps({**hooks.stats(), "connections": self.connections}).encode()
        start_response(
            "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]


def create_app():
    """The sandbox for the redirect URIs in `BENCH_REDIRECT_URIS`, counting connections."""
    app = sandbox.create_app(
        redirect_uris=os.environ["BENCH_REDIRECT_URIS"].split(),
        access_token_ttl=int(os.environ.get("BENCH_ACCESS_TOKEN_TTL", "3600")),
    )
    return ConnectionCounter(app)
