"""gunicorn's production settings, which it reads by itself from the project folder, so that
`gunicorn "app:create_app()"` is the whole command.

They come from the same environment and `.env` as the app's, checked by `config.py`: a bad
value stops gunicorn here with the app's one line and exit code 3. docs/production.md says how
to size them.
"""

import glob
import os
import re
import shutil
import signal
import sys
import tempfile
import threading

from gunicorn.glogging import Logger

# The project folder, wherever gunicorn starts (`gunicorn -c /path/to/gunicorn.conf.py`): for
# `import config` here, and for "app:create_app()".
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import config as _config
import config_checks as _config_checks
import config_sources as _config_sources
import logs as _logs

# gunicorn reads this file again in the same master on a HUP, while it listens: what is done
# once per master (the port's check, the metrics folder) is not done again then.
_MASTER = "ILERT_APP_GUNICORN_MASTER"  # "<pid of the master>:<own|given>"
_master, _, _metrics_folder_was = os.environ.get(_MASTER, "").partition(":")
_reloaded = _master == str(os.getpid())

try:
    _config_sources.load_dotenv()
    _settings = _config.require_client_id(_config.load(os.environ))
    # Not when handed a socket (USR2), nor on a HUP: the port is this master's own then.
    if not _reloaded and not {"GUNICORN_FD", "LISTEN_FDS"} & set(os.environ):
        _config_checks.check_can_listen(_settings["HOST"], _settings["PORT"])
except _config.ConfigError as _error:
    print(f"Configuration error: {_error}", file=sys.stderr, flush=True)
    sys.exit(3)  # as app.stop_on_config_error: gunicorn stops instead of starting workers

# Prometheus metrics of every worker, added up at /metrics (metrics.py): prometheus_client's
# multiprocess mode, in which each process counts in files of a folder of this run's own.
# Set here, before the app (and prometheus_client) is imported.
if _reloaded:  # a HUP: the counts so far are kept
    _own_metrics_folder = _metrics_folder_was == "own"
else:
    _own_metrics_folder = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if _own_metrics_folder:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="ilert-app-metrics-")
    for _old in glob.glob(os.path.join(os.environ["PROMETHEUS_MULTIPROC_DIR"], "*.db")):
        os.remove(_old)  # counts of an earlier run
    os.environ[_MASTER] = f"{os.getpid()}:{'own' if _own_metrics_folder else 'given'}"
_metrics_folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]

_host, _port = _settings["HOST"], _settings["PORT"]
bind = f"[{_host}]:{_port}" if ":" in _host else f"{_host}:{_port}"
# WEB_CONCURRENCY, else one per core this process may use (its CPU quota too): a worker runs
# Python on one core at a time, while its threads wait for ilert. gunicorn itself reads a
# WEB_CONCURRENCY of the real environment before this file, and stops on one that is no number.
workers = _settings["WEB_CONCURRENCY"]
worker_class = "gthread"
# The app is built once, in the master, before the workers fork from it: they start at once and
# share its memory, and an app that cannot be built stops gunicorn rather than every worker in
# turn. It holds no connection yet when they fork. New code or settings need a restart, not a
# HUP; and start gunicorn as the app's user (no --user/--group: the master builds the store).
preload_app = True
# Requests in flight per worker; the app's pool of ilert connections has as many.
threads = _settings["GUNICORN_THREADS"]

# A request may refresh, call ilert, and do both again after a 401: up to four calls of
# HTTP_TIMEOUT. A worker whose main loop stops for longer than `timeout` is restarted.
timeout = int(4 * _settings["HTTP_TIMEOUT"]) + 10
# On SIGTERM a request in flight gets `graceful_timeout` to finish: at least a refresh (a
# connect and a read timeout) and the tries to store its answer, so that a stop never cuts a
# refresh between ilert's answer and the store. Give the platform a few seconds more before it
# kills (docs/production.md: Kubernetes' terminationGracePeriodSeconds, Docker's stop timeout).
graceful_timeout = int(2 * _settings["HTTP_TIMEOUT"]) + 5
# Seconds an idle browser connection stays open for its next page (raise it above the idle
# timeout of a proxy in front that keeps connections to the app).
keepalive = 5

# gunicorn's control socket (gunicornc: worker counts, reloads, shutdown) stays off: nothing
# but the process manager that started gunicorn should steer it.
control_socket_disable = True

# To stdout, one line per request with its time in ms and its request id; the app redacts the
# callback's `code` and `state` from these lines (errors.RedactCallbackParameters).
accesslog = "-"
access_log_format = (
    '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)sms %({x-request-id}o)s'
)
OWN_FORMAT_ATOMS = {"h", "l", "u", "t", "r", "s", "b", "f", "a", "M", "{x-request-id}o"}


class AppLogger(Logger):
    """gunicorn's own lines and its access log in the app's `LOG_FORMAT` (logs.py); an access
    line also carries its request's id, method, path (never the query), status and time."""

    def setup(self, cfg):
        super().setup(cfg)
        if _settings["LOG_FORMAT"] == "json":
            for handler in (*self.error_log.handlers, *self.access_log.handlers):
                handler.setFormatter(_logs.formatter("json"))
        # Another format, such as one given on gunicorn's command line, gets gunicorn's atoms.
        printed = set(re.findall(r"%\(([^)]*)\)", cfg.access_log_format))
        self.prints_own_atoms_only = printed <= OWN_FORMAT_ATOMS

    def access(self, resp, req, environ, request_time):
        if not self.access_log_enabled:
            return
        if self.prints_own_atoms_only:
            atoms = self.own_format_atoms(resp, environ, request_time)
        else:
            atoms = self.atoms(resp, req, environ, request_time)
        atoms = self.atoms_wrapper_class(atoms)
        request = {
            "request_id": environ.get("REQUEST_ID", "-"),
            "method": environ.get("REQUEST_METHOD", ""),
            "path": "/" + environ.get("PATH_INFO", "").lstrip("/"),
            "status": resp.status_code,
            "duration_ms": round(request_time.total_seconds() * 1000, 1),
        }
        self.access_log.info(self.cfg.access_log_format, atoms, extra=request)

    def own_format_atoms(self, resp, environ, request_time):
        """The atoms `access_log_format` above prints (OWN_FORMAT_ATOMS), as gunicorn's `atoms`
        gives them. gunicorn's gathers every request header, answer header and WSGI environ
        entry for each line, whatever the format prints: most of what a line costs."""
        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        sent = getattr(resp, "sent", None)
        request_id = [value for name, value in resp.headers if name.lower() == "x-request-id"]
        return {
            "h": environ.get("REMOTE_ADDR", "-"),
            "l": "-",
            "u": self._get_user(environ) or "-",
            "t": self.now(),
            "r": f"{environ['REQUEST_METHOD']} {environ['RAW_URI']} {environ['SERVER_PROTOCOL']}",
            "s": status,
            "b": str(sent) if sent is not None else "-",
            "f": environ.get("HTTP_REFERER", "-"),
            "a": environ.get("HTTP_USER_AGENT", "-"),
            "M": request_time.seconds * 1000 + int(request_time.microseconds / 1000),
            "{x-request-id}o": request_id[-1] if request_id else "-",
        }


logger_class = AppLogger


def when_ready(server):
    """Say how many requests it serves at once, which gunicorn's own lines leave out."""
    cfg = server.cfg
    server.log.info(
        "Serving %d requests at once: %d %s workers x %d threads",
        cfg.workers * cfg.threads,
        cfg.workers,
        cfg.worker_class_str,
        cfg.threads,
    )


_in_flight = {"requests": 0}  # in this worker process, counted by the two hooks below
_in_flight_lock = threading.Lock()


def pre_request(worker, req):
    with _in_flight_lock:
        _in_flight["requests"] += 1


def post_request(worker, req, environ, resp):
    with _in_flight_lock:
        _in_flight["requests"] -= 1


_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)
_held = {"for a fork": False}  # in the master, then in the worker it forked


def pre_fork(server, worker):
    """The master holds stop signals while it forks a worker, and the worker until its own
    handlers are set (`post_fork`): a stop signal sent to a worker in the instant after its fork
    is otherwise lost (gunicorn #1910: it runs the master's handler, which only queues it in the
    worker's copy of the master; or it lands before CPython's after-fork step, which drops it),
    and the master then waits `graceful_timeout` for that worker. A held signal waits in the
    kernel and is delivered when released."""
    _held["for a fork"] = True
    signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)


def _release_after_a_fork():
    if _held["for a fork"]:
        _held["for a fork"] = False
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)


os.register_at_fork(after_in_parent=_release_after_a_fork)


def post_fork(server, worker):
    """A worker asked to stop while it boots stops: until gunicorn sets the worker's own
    handlers, a stop signal ends it at once, and one held since the fork is delivered now."""
    for each in _STOP_SIGNALS:
        signal.signal(each, lambda signum, frame: os._exit(0))
    _release_after_a_fork()


def post_worker_init(worker):
    """On SIGTERM, arm one line for a worker still serving requests when the master's grace
    runs out and kills it (gunicorn's own line for the kill suggests it ran out of memory)."""
    begin_stopping = signal.getsignal(signal.SIGTERM)
    armed = threading.Event()

    def stop(signum, frame):
        if callable(begin_stopping):
            begin_stopping(signum, frame)
        if not armed.is_set():
            armed.set()
            grace = max(0.0, worker.cfg.graceful_timeout - 0.5)
            timer = threading.Timer(grace, _log_cut_off, (worker,))
            timer.daemon = True  # a worker done before it exits at once
            timer.start()

    signal.signal(signal.SIGTERM, stop)


def _log_cut_off(worker):
    with _in_flight_lock:
        left = _in_flight["requests"]
    if left:
        worker.log.error(
            "Worker %s is killed at graceful_timeout (%d s), cutting off requests in flight: "
            "%d (docs/production.md: graceful_timeout)",
            worker.pid,
            worker.cfg.graceful_timeout,
            left,
        )


def child_exit(server, worker):
    """A worker is gone: its live gauges no longer count (prometheus_client's rule)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """Remove the metrics folder this run made."""
    if _own_metrics_folder:
        shutil.rmtree(_metrics_folder, ignore_errors=True)
