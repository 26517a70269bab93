"""`GET /metrics`: Prometheus text, never public, counting what an operator asks about."""

import signal
import sys
import time

import pytest
import requests
from conftest import free_port, profiles_until_two_workers_served, signed_in_browser
from prometheus_client.parser import text_string_to_metric_families
from test_production import environ_for

from config import SESSION_COOKIE, redirect_uri_at
from ilert.upstream import user_agent

TOKEN = "metrics-token-for-the-tests-0123"
OUTSIDE = {"REMOTE_ADDR": "203.0.113.9"}


def samples(text):
    """{(name, frozenset(labels)): value} of a Prometheus text."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found, name, **labels):
    return found.get((name, frozenset(labels.items())), 0)


def total(found, name):
    return sum(count for (sample, _), count in found.items() if sample == name)


def test_metrics_without_a_token_are_served_on_loopback_only(client):
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert "ilert_app_ilert_calls_total" in response.get_data(as_text=True)
    assert "Set-Cookie" not in response.headers
    assert client.get("/metrics", environ_base=OUTSIDE).status_code == 404
    # A proxy on this machine passes on requests from anywhere.
    for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
        assert client.get("/metrics", headers={header: "203.0.113.9"}).status_code == 404


def test_metrics_with_a_token_answer_only_its_bearer(make_app):
    client = make_app(METRICS_TOKEN=TOKEN).test_client()
    assert client.get("/metrics").status_code == 401  # loopback is not enough then
    wrong = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}x"})
    assert wrong.status_code == 401
    assert wrong.headers["WWW-Authenticate"].startswith("Bearer")
    right = {"Authorization": f"Bearer {TOKEN}"}
    assert client.get("/metrics", headers=right, environ_base=OUTSIDE).status_code == 200


def test_what_a_sign_in_and_a_refresh_count(make_app, auth_for, start_sandbox, clock):
    sandbox = start_sandbox(access_token_ttl=60)
    client = make_app(sandbox=sandbox).test_client()
    before = samples(client.get("/metrics").get_data(as_text=True))
    auth = auth_for(client, sandbox)
    auth.sign_in()
    clock.advance(60)
    assert client.get("/me").status_code == 200  # refreshed first
    sandbox.fault(endpoint="users_current", status=500, body="<html>down</html>")
    assert client.get("/me").status_code == 502
    auth.log_out()
    after = samples(client.get("/metrics").get_data(as_text=True))

    def grew(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("ilert_app_sign_ins_total", outcome="signed_in") == 1
    assert grew("ilert_app_refreshes_total", outcome="refreshed") == 1
    assert grew("ilert_app_revokes_total", outcome="revoked") == 1
    calls = {"method": "GET", "endpoint": "/api/users/current"}
    assert grew("ilert_app_ilert_calls_total", **calls, status="200") == 2  # sign-in, /me
    assert grew("ilert_app_ilert_calls_total", **calls, status="500") == 1
    assert grew("ilert_app_ilert_call_seconds_count", **calls) == 3


@pytest.mark.slow
@pytest.mark.xdist_group("waits in real time")
def test_metrics_add_up_every_gunicorn_worker(start_server, start_sandbox, tmp_path):
    port = free_port()
    sandbox = start_sandbox(redirect_uris=[redirect_uri_at(port)])
    agents = []
    inner = sandbox.app.wsgi_app

    def watch(environ, start_response):
        agents.append(environ.get("HTTP_USER_AGENT"))
        return inner(environ, start_response)

    sandbox.app.wsgi_app = watch
    environ = environ_for(sandbox, port, tmp_path, WEB_CONCURRENCY=2)
    command = [sys.executable, "-m", "gunicorn", "--access-logformat", "%(p)s %(U)s"]
    server = start_server([*command, "app:create_app()"], environ, port)
    browser = signed_in_browser(server.url)
    cookie = browser.cookies.get(SESSION_COOKIE)
    rounds = profiles_until_two_workers_served(server, cookie, workers_that_served_me)
    unauthorized = '{"code": "UNAUTHORIZED", "error": "token expired"}'
    sandbox.fault(endpoint="users_current", status=401, body=unauthorized)
    assert browser.get(f"{server.url}/me", timeout=10).status_code == 200  # refreshed, retried
    found = samples(requests.get(f"{server.url}/metrics", timeout=10).text)

    assert total(found, "ilert_app_sign_ins_total") == 1
    assert value(found, "ilert_app_sign_ins_total", outcome="signed_in") == 1
    assert value(found, "ilert_app_refreshes_total", outcome="refreshed") == 1
    ilert_calls = agents.count(user_agent())
    # exchange, sign-in's user, the sign-in's /me, the rounds, a 401, refresh, retry
    assert ilert_calls == 2 + 1 + 16 * rounds + 3
    assert total(found, "ilert_app_ilert_calls_total") == ilert_calls
    assert len(set(workers_that_served_me(server.log()))) == 2  # both workers counted


def workers_that_served_me(log):
    """The worker of each `/me` in a log of `--access-logformat "%(p)s %(U)s"`."""
    return [line.split()[0] for line in log.splitlines() if line.endswith(" /me")]


def test_a_hup_reloads_gunicorn_and_keeps_the_counts(start_server, start_sandbox, tmp_path):
    """gunicorn reads gunicorn.conf.py again on a HUP, in the master that holds the port: it
    starts new workers, keeps serving (once it stopped: "PORT is busy"), and the metrics
    counted so far stay."""
    port = free_port()
    sandbox = start_sandbox(redirect_uris=[redirect_uri_at(port)])
    environ = environ_for(sandbox, port, tmp_path, WEB_CONCURRENCY=2)
    server = start_server([sys.executable, "-m", "gunicorn", "app:create_app()"], environ, port)
    browser = signed_in_browser(server.url)
    first_workers = set(server.children())
    server.process.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        workers = set(server.children())
        if len(workers) == 2 and not workers & first_workers:
            break
        time.sleep(0.2)
    else:
        raise AssertionError(server.log()[-3000:])
    assert server.process.poll() is None
    assert browser.get(f"{server.url}/me", timeout=10).status_code == 200
    found = samples(requests.get(f"{server.url}/metrics", timeout=10).text)
    assert value(found, "ilert_app_sign_ins_total", outcome="signed_in") == 1
    assert "Configuration error" not in server.log()
