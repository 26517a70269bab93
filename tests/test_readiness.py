"""`/readyz`: ready when the session store takes a write, a read and a delete of its own;
`/healthz` stays liveness. The reasons for 503 go to the log only."""

import logging
import os
import shutil

import pytest
import redis

from store.redis_backend import RedisBackend
from views.health import READINESS_CHECKS


@pytest.fixture(params=["filesystem", "redis"])
def store_settings(request, tmp_path):
    if request.param == "redis":
        return {"SESSION_TYPE": "redis", "REDIS_URL": request.getfixturevalue("redis_server").url}
    return {"SESSION_TYPE": "filesystem", "SESSION_FILE_DIR": str(tmp_path / "store")}


def entries_in(app):
    backend = app.extensions["store"].backend
    if isinstance(backend, RedisBackend):
        return backend.client.keys("*")
    return os.listdir(backend.entries)


def test_readyz_is_ok_and_leaves_nothing_behind(make_app, store_settings):
    app = make_app(**store_settings)
    response = app.test_client().get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert "Set-Cookie" not in response.headers
    assert entries_in(app) == []


def test_a_redis_that_refuses_writes_is_not_ready_though_it_answers_ping(
    make_app, own_redis_server, caplog
):
    app = make_app(SESSION_TYPE="redis", REDIS_URL=own_redis_server.url, HTTP_TIMEOUT="2")
    client = app.test_client()
    assert client.get("/readyz").status_code == 200
    with redis.Redis.from_url(own_redis_server.url) as admin:
        admin.config_set("maxmemory-policy", "noeviction")
        admin.config_set("maxmemory", 1)  # full: as a flood of entries once left it
        with caplog.at_level(logging.ERROR, logger="views.health"):
            ready = client.get("/readyz")
        alive = client.get("/healthz")
        admin.config_set("maxmemory", 0)
    assert ready.status_code == 503
    assert ready.get_json() == {"status": "unavailable"}
    assert alive.status_code == 200  # liveness: the process and its Redis answer
    assert "maxmemory" in caplog.text and "maxmemory" not in ready.get_data(as_text=True)
    assert client.get("/readyz").status_code == 200


@pytest.mark.parametrize("part", ["entries", "locks"])
def test_a_session_folder_that_refuses_writes_is_not_ready(make_app, tmp_path, caplog, part):
    """The locks too: without them no sign-in, refresh or logout goes through, and /healthz
    says so; /readyz must not send such an instance traffic."""
    folder = tmp_path / "store"
    client = make_app(SESSION_FILE_DIR=str(folder)).test_client()
    assert client.get("/readyz").status_code == 200
    shutil.rmtree(folder / part)
    (folder / part).write_text("not a folder")
    assert client.get("/healthz").status_code == 503
    with caplog.at_level(logging.ERROR, logger="views.health"):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable"}
    assert str(folder) in caplog.text and str(folder) not in response.get_data(as_text=True)


def test_a_failing_check_of_a_fork_makes_the_app_not_ready(make_app, monkeypatch, caplog):
    """Forks (and ilert's budget) add checks to READINESS_CHECKS: each one counts."""
    client = make_app().test_client()
    monkeypatch.setattr(
        "views.health.READINESS_CHECKS", [*READINESS_CHECKS, lambda: "a check of the fork failed"]
    )
    with caplog.at_level(logging.ERROR, logger="views.health"):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert "a check of the fork failed" in caplog.text
