"""gunicorn's production settings, which it reads by itself from the project folder, so that
`gunicorn "app:create_app()"` is the whole command.

They come from the same environment and `.env` as the app's, checked by `config.py`: a bad
value stops gunicorn here with the app's one line and exit code 3. docs/production.md says how
to size them.
"""

import os
import signal
import sys
import threading

from dotenv import load_dotenv

import config as _config

load_dotenv()
try:
    _settings = _config.require_client_id(_config.load(os.environ))
except _config.ConfigError as _error:
    print(f"Configuration error: {_error}", file=sys.stderr, flush=True)
    sys.exit(3)  # as app.stop_on_config_error: gunicorn stops instead of starting workers


def _workers():
    """`WEB_CONCURRENCY`, else one per core this process may run on: a worker runs Python on
    one core at a time, while its threads wait for ilert."""
    value = os.environ.get("WEB_CONCURRENCY", "").strip()
    if not value:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if not value.isdigit() or int(value) < 1:
        print(
            f"Configuration error: WEB_CONCURRENCY is malformed: {value!r} is not a whole "
            "number of worker processes from 1",
            file=sys.stderr,
            flush=True,
        )
        sys.exit(3)
    return int(value)


_host, _port = _settings["HOST"], _settings["PORT"]
bind = f"[{_host}]:{_port}" if ":" in _host else f"{_host}:{_port}"
workers = _workers()
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

# To stdout, one line per request with its time in ms; the app redacts the callback's
# `code` and `state` from these lines (errors.RedactCallbackParameters).
accesslog = "-"
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)sms'


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
