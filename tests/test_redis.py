"""SESSION_TYPE=redis against a real redis-server."""

import pytest


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
    second.set_cookie("session", first.get_cookie("session").value, domain="localhost")
    assert second.get("/me").status_code == 200


def test_redis_down_gives_503_and_recovers(redis_app, auth_for, redis_server):
    client = redis_app.test_client()
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


def test_sessions_and_tokens_expire_with_the_idle_lifetime(make_app, redis_server, auth_for):
    app = make_app(SESSION_TYPE="redis", REDIS_URL=redis_server.url, SESSION_LIFETIME="1h")
    client = app.test_client()
    auth_for(client).sign_in()
    redis = app.config["SESSION_REDIS"]
    session_keys = redis.keys("session:*")
    token_keys = [key for key in redis.keys("beside-session:*") if not key.endswith(b":lock")]
    assert len(session_keys) == 1 and len(token_keys) == 1
    assert 3500 < redis.ttl(session_keys[0]) <= 3600
    assert 3500 < redis.ttl(token_keys[0]) <= 3600


def test_renewing_an_idle_session_renews_its_tokens_too(make_app, redis_server, auth_for):
    app = make_app(SESSION_TYPE="redis", REDIS_URL=redis_server.url, SESSION_LIFETIME="1h")
    client = app.test_client()
    auth_for(client).sign_in()
    redis = app.config["SESSION_REDIS"]
    (token_key,) = [key for key in redis.keys("beside-session:*") if not key.endswith(b":lock")]
    redis.expire(token_key, 100)  # as if signed in long ago, active since
    assert client.get("/me").status_code == 200
    assert redis.ttl(token_key) <= 100  # not renewed on every request
    with client.session_transaction() as session:
        session["renewed_at"] -= 3601
    assert client.get("/me").status_code == 200
    assert redis.ttl(token_key) > 3500
