"""The sandbox's REST API against ilert's published one (`sandbox.description`), over real
HTTP: lists and single GETs, errors in ilert's shape, and writes with their scope rules and
their effect seen by a following GET."""

import pytest
import requests

from ilert import oauth
from sandbox.description import BY_NAME
from tests.test_sandbox import assert_rest_error, sign_in

ALERTS, SOURCES = BY_NAME["alerts"], BY_NAME["alert_sources"]


def call(sandbox, method, path, access_token, **kwargs):
    headers = {"Authorization": f"Bearer {access_token}"}
    return requests.request(method, f"{sandbox.url}{path}", headers=headers, timeout=5, **kwargs)


def token(sandbox, scope, user="ada.lovelace"):
    return sign_in(sandbox, scope=scope, user=user)["access_token"]


def alerts_in(sandbox, access_token, status):
    response = call(sandbox, "GET", ALERTS.path, access_token, params={"states": status})
    assert response.status_code == 200
    return response.json()


def whole_source(row, **changes):
    """An alert source update as ilert's PUT takes it: the whole object, changed."""
    return {key: value for key, value in row.items() if key != "status"} | changes


# --- errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/api/alerts/999", "/api/alert-sources/1", "/api/alerts/abc", "/api/nothing-here"]
)
def test_unknown_ids_and_paths_are_404_in_ilerts_shape(sandbox, path):
    access_token = token(sandbox, "alert source")
    assert_rest_error(call(sandbox, "GET", path, access_token), 404, "NOT_FOUND")


def test_a_method_a_path_does_not_take_is_405_in_ilerts_shape(sandbox):
    access_token = token(sandbox, "alert:d")
    response = call(sandbox, "POST", f"{ALERTS.path}/70013/accept", access_token)
    assert_rest_error(response, 405, "METHOD_NOT_ALLOWED")
    assert set(response.headers["Allow"].split(", ")) == {"PUT", "OPTIONS"}


def test_the_oauth2_endpoints_keep_their_own_error_shape_for_405(sandbox):
    response = requests.get(f"{sandbox.url}/api/developers/oauth2/token", timeout=5)
    assert response.status_code == 405
    assert set(response.json()) == {"code", "error"}


@pytest.mark.parametrize(
    ("body", "error", "description"),
    [
        ('{"code": "invalid_grant", "error": "Code unknown"}', "invalid_grant", "Code unknown"),
        ('{"error": "invalid_grant", "error_description": "Gone"}', "invalid_grant", "Gone"),
        ('{"status": 400, "message": "No such code", "code": "BAD_REQUEST"}', "BAD_REQUEST",
         "No such code"),
    ],
)  # fmt: skip
def test_the_app_reads_every_error_shape_of_ilert(app, sandbox, body, error, description):
    sandbox.fault(endpoint="token", status=400, body=body)
    with app.app_context(), pytest.raises(oauth.IlertError) as raised:
        oauth.exchange_code("any-code")
    assert (raised.value.error, raised.value.description) == (error, description)


def test_the_app_reads_a_rest_error_of_the_sandbox(app, sandbox):
    access_token = token(sandbox, "alert")
    with app.app_context(), pytest.raises(oauth.IlertError) as raised:
        oauth.call_api("GET", f"{ALERTS.path}/999", access_token)
    assert (raised.value.status, raised.value.error) == (404, "NOT_FOUND")
    assert "999" in raised.value.description


# --- the alerts list's filter ------------------------------------------------------------


def test_the_alerts_list_shows_open_alerts_by_state(sandbox):
    access_token = token(sandbox, "alert")
    response = call(
        sandbox,
        "GET",
        ALERTS.path,
        access_token,
        params=[("states", "PENDING"), ("states", "ACCEPTED")],
    )
    assert response.status_code == 200
    states = [alert["status"] for alert in response.json()]
    assert states and set(states) == {"PENDING", "ACCEPTED"}
    everything = call(sandbox, "GET", ALERTS.path, access_token).json()
    assert len(everything) > len(states)
    response = call(sandbox, "GET", ALERTS.path, access_token, params={"states": "OPEN"})
    assert_rest_error(response, 400, "BAD_REQUEST")


# --- writes ----------------------------------------------------------------------------


def test_accepting_an_alert_makes_the_person_its_accepting_responder(sandbox):
    pending = alerts_in(sandbox, token(sandbox, "alert"), "PENDING")[0]
    access_token = token(sandbox, "alert:w", user="grace.hopper")
    response = call(sandbox, "PUT", f"{ALERTS.path}/{pending['id']}/accept", access_token)
    assert response.status_code == 200
    alert = response.json()
    assert alert["status"] == "ACCEPTED" and alert["id"] == pending["id"]
    first = alert["responders"][0]
    assert (first["user"]["id"], first["status"]) == (1002, "ACCEPTED") and first["acceptedAt"]
    assert call(sandbox, "GET", f"{ALERTS.path}/{pending['id']}", access_token).json() == alert


@pytest.mark.parametrize("scope", ["alert", "alert:r", "profile source:d"])
def test_writing_an_alert_needs_alert_w(sandbox, scope):
    access_token = token(sandbox, scope)
    for action in ("accept", "resolve", "assign?user=1001"):
        response = call(sandbox, "PUT", f"{ALERTS.path}/70013/{action}", access_token)
        assert_rest_error(response, 403, "FORBIDDEN")
        assert "alert:w" in response.json()["message"]
    reader = token(sandbox, "alert")
    assert call(sandbox, "GET", f"{ALERTS.path}/70013", reader).json()["status"] == "PENDING"


def test_a_resolved_alert_stays_resolved(sandbox):
    access_token = token(sandbox, "alert:w")
    response = call(sandbox, "PUT", f"{ALERTS.path}/70013/resolve", access_token)
    assert response.status_code == 200
    assert response.json()["status"] == "RESOLVED" and response.json()["resolvedOn"]
    again = call(sandbox, "PUT", f"{ALERTS.path}/70013/resolve", access_token)
    assert again.json() == response.json()
    refused = call(sandbox, "PUT", f"{ALERTS.path}/70013/accept", access_token)
    assert_rest_error(refused, 400, "BAD_REQUEST")
    assert 70013 in [alert["id"] for alert in alerts_in(sandbox, access_token, "RESOLVED")]


def test_assigning_an_alert_gives_it_a_new_pending_responder(sandbox):
    access_token = token(sandbox, "alert:w")
    response = call(
        sandbox, "PUT", f"{ALERTS.path}/70012/assign", access_token, params={"user": 1003}
    )
    assert response.status_code == 200
    assert response.json()["status"] == "PENDING"
    assert [r["user"]["id"] for r in response.json()["responders"]] == [1003]
    for params in ({}, {"user": "lena"}, {"user": 99}, {"user": 1001, "policy": 601}):
        refused = call(sandbox, "PUT", f"{ALERTS.path}/70012/assign", access_token, params=params)
        assert_rest_error(refused, 400, "BAD_REQUEST")


def test_switching_an_alert_source_off_and_on(sandbox):
    access_token = token(sandbox, "source:w")
    path = f"{SOURCES.path}/4101"
    row = call(sandbox, "GET", path, access_token).json()
    assert (row["active"], row["status"]) == (True, "ALL_ACCEPTED")
    off = call(sandbox, "PUT", path, access_token, json=whole_source(row, active=False))
    assert off.status_code == 200
    assert (off.json()["active"], off.json()["status"]) == (False, "DISABLED")
    assert call(sandbox, "GET", path, access_token).json() == off.json()
    on = call(sandbox, "PUT", path, access_token, json=whole_source(row, active=True))
    assert (on.json()["active"], on.json()["status"]) == (True, "ALL_ACCEPTED")


@pytest.mark.parametrize(
    "body",
    [None, [], {"active": False}, {"name": "", "integrationType": "API"},
     {"name": "x", "integrationType": "API", "escalationPolicy": {"id": 9}},
     {"name": "x", "integrationType": "API", "escalationPolicy": {"id": 601}, "active": "no"}],
)  # fmt: skip
def test_a_bad_alert_source_update_is_400_and_changes_nothing(sandbox, body):
    access_token = token(sandbox, "source:w")
    before = call(sandbox, "GET", f"{SOURCES.path}/4101", access_token).json()
    response = call(sandbox, "PUT", f"{SOURCES.path}/4101", access_token, json=body)
    assert_rest_error(response, 400, "BAD_REQUEST")
    assert call(sandbox, "GET", f"{SOURCES.path}/4101", access_token).json() == before


def test_updating_an_alert_source_needs_source_w(sandbox):
    access_token = token(sandbox, "source")
    row = call(sandbox, "GET", f"{SOURCES.path}/4101", access_token).json()
    response = call(sandbox, "PUT", f"{SOURCES.path}/4101", access_token, json=whole_source(row))
    assert_rest_error(response, 403, "FORBIDDEN")


def test_deleting_an_alert_source_needs_source_d(sandbox):
    writer, deleter = token(sandbox, "source:w"), token(sandbox, "source:d")
    assert_rest_error(call(sandbox, "DELETE", f"{SOURCES.path}/4103", writer), 403, "FORBIDDEN")
    response = call(sandbox, "DELETE", f"{SOURCES.path}/4103", deleter)
    assert response.status_code == 204 and not response.content
    assert_rest_error(call(sandbox, "GET", f"{SOURCES.path}/4103", deleter), 404, "NOT_FOUND")
    listed = call(sandbox, "GET", SOURCES.path, deleter).json()
    assert 4103 not in [source["id"] for source in listed]
    again = call(sandbox, "DELETE", f"{SOURCES.path}/4103", deleter)
    assert_rest_error(again, 404, "NOT_FOUND")


def test_reset_undoes_the_writes(sandbox):
    access_token = token(sandbox, "alert:w source:d")
    call(sandbox, "PUT", f"{ALERTS.path}/70013/resolve", access_token)
    call(sandbox, "DELETE", f"{SOURCES.path}/4103", access_token)
    assert requests.post(f"{sandbox.url}/_sandbox/reset", timeout=5).status_code == 200
    assert call(sandbox, "GET", f"{ALERTS.path}/70013", access_token).json()["status"] == "PENDING"
    assert call(sandbox, "GET", f"{SOURCES.path}/4103", access_token).status_code == 200


def test_the_state_file_keeps_the_writes_across_a_restart(start_sandbox, tmp_path):
    state_file = str(tmp_path / "sandbox.json")
    before = start_sandbox(state_file=state_file)
    access_token = token(before, "alert:w")
    assert call(before, "PUT", f"{ALERTS.path}/70013/accept", access_token).status_code == 200
    before.stop()
    after = start_sandbox(state_file=state_file)
    assert call(after, "GET", f"{ALERTS.path}/70013", access_token).json()["status"] == "ACCEPTED"


# --- the rate limit ----------------------------------------------------------------------


def test_beyond_the_rate_limit_is_429_in_ilerts_shape_until_the_window_ends(sandbox, clock):
    access_token = token(sandbox, "alert")
    sandbox.limit_rate("2/min")
    for _ in range(2):
        assert call(sandbox, "GET", ALERTS.path, access_token).status_code == 200
    refused = call(sandbox, "GET", ALERTS.path, access_token)
    assert_rest_error(refused, 429, "TOO_MANY_REQUESTS")
    assert 55 <= int(refused.headers["Retry-After"]) <= 60
    assert_rest_error(call(sandbox, "GET", "/api/users/current", access_token), 429,
                      "TOO_MANY_REQUESTS")  # fmt: skip
    assert sandbox.stats()["alerts"] == 3  # a refused call reached the sandbox too
    clock.advance(60)
    assert call(sandbox, "GET", ALERTS.path, access_token).status_code == 200


def test_the_rate_limit_hook_changes_and_switches_it_off(sandbox):
    hook = f"{sandbox.url}/_sandbox/rate-limit"
    assert requests.get(hook, timeout=5).json() == {"rate_limit": "0"}
    access_token = token(sandbox, "alert")
    sandbox.limit_rate("1/h")
    assert requests.get(hook, timeout=5).json() == {"rate_limit": "1/h"}
    assert call(sandbox, "GET", ALERTS.path, access_token).status_code == 200
    assert call(sandbox, "GET", ALERTS.path, access_token).status_code == 429
    assert requests.post(f"{sandbox.url}/_sandbox/reset", timeout=5).status_code == 200
    assert call(sandbox, "GET", ALERTS.path, access_token).status_code == 200
    sandbox.limit_rate("0")
    for _ in range(5):
        assert call(sandbox, "GET", ALERTS.path, access_token).status_code == 200
    for bad in ({"rate_limit": "7/week"}, {"rate_limit": 700}, {}, {"rate_limit": "-1/min"}):
        response = requests.post(hook, json=bad, timeout=5)
        assert response.status_code == 400 and response.json()["error"]


def test_a_new_sandbox_has_ilerts_rate_limit():
    from sandbox import create_app

    assert create_app().extensions["sandbox"].rate_limit.text == "700/min"


def test_the_sandboxs_429_reaches_the_person_as_try_again_with_its_wait(client, auth, sandbox):
    auth.sign_in()
    sandbox.limit_rate("1/min")
    assert client.get("/me").status_code == 200
    response = client.get("/me")
    assert response.status_code == 503
    assert b"Try again" in response.data and b"Traceback" not in response.data
    assert 55 <= int(response.headers["Retry-After"]) <= 60
    assert client.get("/", headers={"Accept": "text/html"}).status_code == 200
