"""How the sandbox is served: a threaded werkzeug server on loopback only, in a thread.

`bind` listens at once (so a busy port is an OSError the caller sees, where werkzeug would
print and exit) and `serve_in_thread` serves in a daemon thread, for `python app.py` and the
tests; `python -m sandbox` serves in the foreground.
"""

import socket
import threading

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from config_checks import is_loopback


class _QuietRequestHandler(WSGIRequestHandler):
    """Logs errors but no request lines, so test output and the app's console stay clean."""

    def log_request(self, code="-", size="-"):
        pass


class _Server(ThreadedWSGIServer):
    """werkzeug's threaded server, whose `server_close` also ends the connections it keeps
    alive: a stopped sandbox then refuses every call, as a stopped ilert would, instead of
    answering a client's kept-alive connection from a thread that is still running."""

    def __init__(self, *args, **kwargs):
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request, client_address):
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def server_close(self):
        super().server_close()
        with self._connections_lock:
            for connection in self._connections:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def bind(app, host="127.0.0.1", port=0):
    """A threaded server for `app`, listening on host:port but not serving yet.

    Binding here (not in werkzeug, which prints and exits on a busy port) lets the
    OSError reach the caller. A host beyond loopback is a ValueError: the test hooks
    take no authentication and the client secret is public.
    """
    if not is_loopback(host):
        raise ValueError(f"the sandbox listens on loopback only, not on {host}")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.create_server((host, port), family=family) as listener:
        server = _Server(
            host, listener.getsockname()[1], app, _QuietRequestHandler, fd=listener.fileno()
        )
    server.server_port = server.port  # set by HTTPServer.server_bind, skipped for an fd
    return server


def serve_in_thread(app, host="127.0.0.1", port=0):
    """Listen now (an OSError for a busy port reaches the caller), then serve in a daemon
    thread. `server.server_port` is the port; `server.shutdown()` stops it."""
    server = bind(app, host, port)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},  # how long shutdown() may wait
        name=f"ilert-sandbox-{server.port}",
        daemon=True,
    )
    thread.start()
    return server
