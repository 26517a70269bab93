"""SESSION_TYPE=redis against a real redis-server."""

import logging

import pytest
import redis

from ilert import budget_redis


@pytest.fixture
def redis_app(make_app, redis_server):
    return make_app(SESSION_TYPE="redis", REDIS_URL=redis_server.url, HTTP_TIMEOUT="2")


def test_sign_in_me_and_logout_with_redis_sessions(redis_app, auth_for, sandbox):
    client = redis_app.test_client()
    auth = auth_for(client)
    auth.sign_in()
    assert client.get("/me").status_code == 200
    assert auth.tokens()["refresh_token"]
    auth.log_out()
    assert sandbox.stats()["revoke"] == 1
    assert client.get("/me").status_code == 302


def test_two_instances_share_sessions_through_redis(make_app, redis_server, auth_for):
    first = make_app(SESSION_TYPE="redis", REDIS_URL=redis_server.url).test_client()
    second = make_app(SESSION_TYPE="redis", REDIS_URL=redis_server.url).test_client()
    auth_for(first).sign_in()
    name = first.application.config["SESSION_COOKIE_NAME"]
    second.set_cookie(name, first.get_cookie(name).value, domain="localhost")
    assert second.get("/me").status_code == 200


def test_redis_down_gives_503_and_recovers(make_app, auth_for, own_redis_server):
    redis_server = own_redis_server
    client = make_app(
        SESSION_TYPE="redis", REDIS_URL=redis_server.url, HTTP_TIMEOUT="2"
    ).test_client()
    auth_for(client).sign_in()
    redis_server.stop()
    response = client.get("/me")
    assert response.status_code == 503
    assert b"Sessions are unavailable" in response.data
    assert b"Traceback" not in response.data
    health = client.get("/healthz")
    assert health.status_code == 503
    assert health.get_json()["status"] != "ok"
    redis_server.start()
    assert client.get("/healthz").status_code == 200
    assert client.get("/me").status_code == 200


def entry_keys(app):
    """The keys of the app's entries in Redis (locks and the ilert budget aside)."""
    client = app.extensions["store"].backend.client
    return client, [
        key
        for key in client.keys("ilert-app:*")
        if not key.endswith(b":lock") and key != budget_redis.KEY.encode()
    ]


def test_sessions_and_tokens_expire_with_the_idle_lifetime(make_app, redis_server, auth_for):
    app = make_app(SESSION_TYPE="redis", REDIS_URL=redis_server.url, SESSION_LIFETIME="1h")
    client = app.test_client()
    auth_for(client).sign_in()
    redis, keys = entry_keys(app)
    # The session, its tokens; the finished sign-in (for a reload) and the session the
    # browser's other tabs would end (views/auth.py REPLACED_BY), until the sign-in would expire.
    assert len(keys) == 4
    ttls = sorted(redis.ttl(key) for key in keys)
    assert all(ttl <= 600 for ttl in ttls[:2])
    assert all(3500 < ttl <= 3600 for ttl in ttls[2:])


def test_each_request_renews_the_session_and_its_tokens(make_app, redis_server, auth_for):
    app = make_app(SESSION_TYPE="redis", REDIS_URL=redis_server.url, SESSION_LIFETIME="1h")
    client = app.test_client()
    auth_for(client).sign_in()
    redis, keys = entry_keys(app)
    for key in keys:
        redis.expire(key, 100)  # as if signed in long ago, active since
    assert client.get("/me").status_code == 200
    assert sorted(redis.ttl(key) > 3500 for key in keys) == [False, False, True, True]


@pytest.mark.parametrize("policy", ["noeviction", "allkeys-lru", "volatile-lru"])
def test_a_redis_that_may_evict_keys_is_warned_of_once(make_app, own_redis_server, caplog, policy):
    """A session evicted without its tokens leaves a refresh token nothing revokes: the health
    check's first answer says so in the log (docs/production.md asks for noeviction)."""
    with redis.Redis.from_url(own_redis_server.url) as admin:
        admin.config_set("maxmemory-policy", policy)
    client = make_app(SESSION_TYPE="redis", REDIS_URL=own_redis_server.url).test_client()
    with caplog.at_level(logging.WARNING, logger="store.redis_backend"):
        assert [client.get("/healthz").status_code for _ in range(3)] == [200] * 3
    warnings = [r.getMessage() for r in caplog.records if "evicts keys" in r.getMessage()]
    assert len(warnings) == (0 if policy == "noeviction" else 1)
    assert all(f"maxmemory-policy {policy}" in warning for warning in warnings)
