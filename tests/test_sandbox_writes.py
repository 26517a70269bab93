"""The sandbox's writes and rate limit against ilert's published API, over real HTTP: every
write with its scope rule and its effect seen by a following GET, kept in the state file and
undone by the reset hook; ilert's rate limit and what the app makes of its 429."""

import signal
import socket
from types import SimpleNamespace

import pytest
import requests

from ilert.scopes import required_scope
from sandbox.description import BY_NAME
from tests.test_sandbox import assert_rest_error, authorize_url, ctrl_c_stops, run_cli, sign_in
from tests.test_sandbox_contract import (
    ALERTS,
    INCIDENTS,
    SOURCES,
    alerts_in,
    assert_fits,
    call,
    every,
    listed,
    token,
)


def fitting_get(sandbox, name, item_id, access_token):
    """The single GET of a row, held to ilert's schema."""
    response = call(sandbox, "GET", f"{BY_NAME[name].path}/{item_id}", access_token)
    assert response.status_code == 200, response.text
    assert_fits(name, response.json())
    return response.json()


def whole_source(row, **changes):
    """An alert source update as ilert's PUT takes it: the whole object, changed."""
    return {key: value for key, value in row.items() if key != "status"} | changes


# --- writes ----------------------------------------------------------------------------


def test_accepting_an_alert_makes_the_person_its_accepting_responder(sandbox):
    pending = alerts_in(sandbox, token(sandbox, "alert"), "PENDING")[0]
    access_token = token(sandbox, "alert:w", user="grace.hopper")
    response = call(sandbox, "PUT", f"{ALERTS.path}/{pending['id']}/accept", access_token)
    assert response.status_code == 200
    alert = response.json()
    assert_fits("alerts", alert)
    assert alert["status"] == "ACCEPTED" and alert["id"] == pending["id"]
    first = alert["responders"][0]
    assert (first["user"]["id"], first["status"]) == (1002, "ACCEPTED") and first["acceptedAt"]
    assert fitting_get(sandbox, "alerts", pending["id"], access_token) == alert


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
    assert_fits("alerts", response.json())
    assert response.json()["status"] == "RESOLVED" and response.json()["resolvedOn"]
    assert fitting_get(sandbox, "alerts", 70013, access_token) == response.json()
    again = call(sandbox, "PUT", f"{ALERTS.path}/70013/resolve", access_token)
    assert again.json() == response.json()
    refused = call(sandbox, "PUT", f"{ALERTS.path}/70013/accept", access_token)
    assert_rest_error(refused, 400, "BAD_REQUEST")
    assert 70013 in [alert["id"] for alert in alerts_in(sandbox, access_token, "RESOLVED")]


@pytest.mark.parametrize(
    ("params", "responders", "policy"),
    [({"user": 1003}, [1003], 601), ({"policy": 602}, [], 602), ({"schedule": 501}, [1002], 601),
     ({"schedule": 503}, [1001], 601)],
)  # fmt: skip
def test_assigning_an_alert_gives_it_a_new_pending_responder(sandbox, params, responders, policy):
    """By user: that person; by policy: the policy, nobody yet; by schedule: who is on call
    (its current shift, else its first shift)."""
    access_token = token(sandbox, "alert:w")
    before = fitting_get(sandbox, "alerts", 70012, access_token)
    assert before["status"] == "ACCEPTED" and before["escalationPolicy"]["id"] == 601
    response = call(sandbox, "PUT", f"{ALERTS.path}/70012/assign", access_token, params=params)
    assert response.status_code == 200
    alert = response.json()
    assert_fits("alerts", alert)
    assert alert["status"] == "PENDING" and alert["escalationPolicy"]["id"] == policy
    assert [(r["user"]["id"], r["status"]) for r in alert["responders"]] == [
        (person, "PENDING") for person in responders
    ]
    assert fitting_get(sandbox, "alerts", 70012, access_token) == alert


def test_a_bad_assign_is_400_and_changes_nothing(sandbox):
    access_token = token(sandbox, "alert:w")
    before = fitting_get(sandbox, "alerts", 70012, access_token)
    for params in ({}, {"user": "lena"}, {"user": 99}, {"policy": 9}, {"schedule": 9},
                   {"user": 1001, "policy": 601}):  # fmt: skip
        refused = call(sandbox, "PUT", f"{ALERTS.path}/70012/assign", access_token, params=params)
        assert_rest_error(refused, 400, "BAD_REQUEST")
    assert fitting_get(sandbox, "alerts", 70012, access_token) == before


def test_switching_an_alert_source_off_and_on(sandbox):
    access_token = token(sandbox, "source:w")
    path = f"{SOURCES.path}/4101"
    row = call(sandbox, "GET", path, access_token).json()
    assert (row["active"], row["status"]) == (True, "ALL_ACCEPTED")
    off = call(sandbox, "PUT", path, access_token, json=whole_source(row, active=False))
    assert off.status_code == 200
    assert_fits("alert_sources", off.json())
    assert (off.json()["active"], off.json()["status"]) == (False, "DISABLED")
    assert fitting_get(sandbox, "alert_sources", 4101, access_token) == off.json()
    on = call(sandbox, "PUT", path, access_token, json=whole_source(row, active=True))
    assert_fits("alert_sources", on.json())
    assert (on.json()["active"], on.json()["status"]) == (True, "ALL_ACCEPTED")
    assert fitting_get(sandbox, "alert_sources", 4101, access_token) == on.json()


def test_an_alert_source_update_takes_any_of_ilerts_integration_types(sandbox):
    access_token = token(sandbox, "source:w")
    row = call(sandbox, "GET", f"{SOURCES.path}/4101", access_token).json()
    changed = whole_source(row, integrationType="EMAIL2", alertPriorityRule="LOW")
    response = call(sandbox, "PUT", f"{SOURCES.path}/4101", access_token, json=changed)
    assert response.status_code == 200
    assert_fits("alert_sources", response.json())
    assert response.json()["integrationType"] == "EMAIL2"
    assert fitting_get(sandbox, "alert_sources", 4101, access_token) == response.json()


@pytest.mark.parametrize(
    "body",
    [None, [], {"active": False}, {"name": "", "integrationType": "API"},
     {"name": "x", "integrationType": "API", "escalationPolicy": {"id": 9}},
     {"name": "x", "integrationType": "API", "escalationPolicy": {"id": 601}, "active": "no"},
     {"name": "x", "integrationType": "EMAIL", "escalationPolicy": {"id": 601}},
     {"name": "x", "integrationType": "NOTATYPE", "escalationPolicy": {"id": 601}}],
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


# --- incidents: create, update, ETag / If-Match ---------------------------------------------

NEW_INCIDENT = {
    "summary": "Checkout errors for some customers",
    "status": "INVESTIGATING",
    "message": "We are looking into failed checkouts.",
    "sendNotification": False,
    "affectedServices": [{"impact": "DEGRADED", "service": {"id": 801}}],
}


def test_creating_an_incident_needs_incident_w_and_lists_it_first(sandbox):
    refused = call(sandbox, "POST", INCIDENTS.path, token(sandbox, "incident"), json=NEW_INCIDENT)
    assert_rest_error(refused, 403, "FORBIDDEN")
    access_token = token(sandbox, "incident:w")
    response = call(sandbox, "POST", INCIDENTS.path, access_token, json=NEW_INCIDENT)
    assert response.status_code == 200  # ilert-go incident.go CreateIncident expects 200
    incident = response.json()
    assert_fits("incidents", incident)
    assert {k: incident[k] for k in ("summary", "status", "message")} == {
        k: NEW_INCIDENT[k] for k in ("summary", "status", "message")
    }
    assert incident["affectedServices"][0]["service"]["name"] == "Checkout"
    assert listed(sandbox, INCIDENTS, access_token)[0] == incident
    single = call(sandbox, "GET", f"{INCIDENTS.path}/{incident['id']}", access_token)
    assert_fits("incidents", single.json())
    assert single.json() == incident and single.headers["ETag"] == response.headers["ETag"]


@pytest.mark.parametrize(
    "body",
    [None, [], {}, {"summary": ""}, {"summary": "x", "status": "OPEN"},
     {"summary": "x", "sendNotification": "yes"},
     {"summary": "x", "affectedServices": [{"impact": "DEGRADED", "service": {"id": 1}}]},
     {"summary": "x", "affectedServices": [{"impact": "BROKEN", "service": {"id": 801}}]}],
)  # fmt: skip
def test_a_bad_incident_is_400_and_creates_nothing(sandbox, body):
    access_token = token(sandbox, "incident:w")
    before = every(sandbox, INCIDENTS, access_token)
    response = call(sandbox, "POST", INCIDENTS.path, access_token, json=body)
    assert_rest_error(response, 400, "BAD_REQUEST")
    assert every(sandbox, INCIDENTS, access_token) == before


def test_updating_an_incident_with_its_etag_and_a_stale_one(sandbox):
    access_token = token(sandbox, "incident:w")
    path = f"{INCIDENTS.path}/9013"
    first = call(sandbox, "GET", path, access_token)
    tag = first.headers["ETag"]
    resolved = first.json() | {"status": "RESOLVED", "message": "Fixed."}
    response = call(sandbox, "PUT", path, access_token, json=resolved, headers={"If-Match": tag})
    assert response.status_code == 200
    assert_fits("incidents", response.json())
    assert response.json()["status"] == "RESOLVED" and response.json()["resolvedOn"]
    assert response.headers["ETag"] != tag
    after = call(sandbox, "GET", path, access_token)
    assert_fits("incidents", after.json())
    assert after.json() == response.json() and after.headers["ETag"] == response.headers["ETag"]
    stale = call(sandbox, "PUT", path, access_token, json=first.json(), headers={"If-Match": tag})
    assert_rest_error(stale, 412, "PRECONDITION_FAILED")
    assert call(sandbox, "GET", path, access_token).json() == after.json()
    reopened = call(sandbox, "PUT", path, access_token, json=first.json())  # If-Match optional
    assert reopened.status_code == 200 and reopened.json()["resolvedOn"] is None
    assert_fits("incidents", reopened.json())
    history = call(sandbox, "GET", path, access_token, params={"include": "history"}).json()
    assert_fits("incidents", history)
    assert [entry["incidentStatus"] for entry in history["history"]] == [
        "RESOLVED", "IDENTIFIED",
    ]  # fmt: skip


def test_updating_an_incident_needs_incident_w(sandbox):
    response = call(sandbox, "PUT", f"{INCIDENTS.path}/9013", token(sandbox, "incident"),
                    json=NEW_INCIDENT)  # fmt: skip
    assert_rest_error(response, 403, "FORBIDDEN")
    missing = call(sandbox, "PUT", f"{INCIDENTS.path}/1", token(sandbox, "incident:w"),
                   json=NEW_INCIDENT)  # fmt: skip
    assert_rest_error(missing, 404, "NOT_FOUND")


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


def test_the_consent_page_is_not_under_the_api_rate_limit(sandbox):
    """ilert serves it on app.ilert.com, under its UI limit (iLert/docs,
    developer-docs/rest-api/alertsource-throttle.md)."""
    sandbox.limit_rate("1/min")
    for _ in range(3):
        assert requests.get(authorize_url(sandbox), timeout=5).status_code == 200


@pytest.mark.slow
def test_the_command_lines_rate_limit_is_the_one_it_applies():
    with socket.socket() as probe:  # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with run_cli("--port", str(port), "--rate-limit", "2/min", preexec_fn=ctrl_c_stops) as cli:
        try:
            lines = [cli.stdout.readline() for _ in range(5)]
            assert lines[4].startswith("rate limit: 2/min API calls per client address"), lines
            standalone = SimpleNamespace(url=f"http://127.0.0.1:{port}")
            scope = required_scope(ALERTS.scope, "GET")
            access_token = sign_in(standalone, scope=scope)["access_token"]  # call 1: token
            assert call(standalone, "GET", ALERTS.path, access_token).status_code == 200
            refused = call(standalone, "GET", ALERTS.path, access_token)
            assert_rest_error(refused, 429, "TOO_MANY_REQUESTS")
            assert 55 <= int(refused.headers["Retry-After"]) <= 60
            cli.send_signal(signal.SIGINT)
            cli.communicate(timeout=10)
        finally:
            cli.kill()
    assert cli.returncode == 0


@pytest.mark.slow
@pytest.mark.parametrize(
    ("flag", "value", "hint"),
    [("--rate-limit", "7/week", "700/min"), ("--rate-limit", "-1/min", "700/min"),
     ("--rate-limit", "0/min", "700/min"), ("--rate-limit", "700", "700/min"),
     ("--rate-limit", "", "700/min"), ("--port", "x", "0 to 65535"),
     ("--port", "70000", "0 to 65535"), ("--code-ttl", "0", "at least 1"),
     ("--access-token-ttl", "1h", "at least 1")],
)  # fmt: skip
def test_a_bad_value_on_the_command_line_is_refused_in_one_line(flag, value, hint):
    with run_cli("--port", "0", f"{flag}={value}") as cli:
        stdout, stderr = cli.communicate(timeout=10)
    assert cli.returncode == 2 and stdout == ""
    assert stderr.startswith(f"python -m sandbox: argument {flag}: ") and hint in stderr
    assert stderr.count("\n") == 1


def test_a_new_sandbox_has_ilerts_rate_limit():
    from sandbox import create_app

    assert create_app().extensions["sandbox"].rate_limit.text == "700/min"


def test_the_sandboxs_429_reaches_the_person_as_try_again_with_its_wait(client, auth, sandbox):
    auth.sign_in()
    sandbox.limit_rate("1/min")
    assert client.get("/me").status_code == 200
    response = client.get("/me")
    assert response.status_code == 503
    wait = int(response.headers["Retry-After"])
    assert 55 <= wait <= 60
    assert f"Try again in {wait} s" in response.get_data(as_text=True)
    assert b"Traceback" not in response.data
    assert client.get("/", headers={"Accept": "text/html"}).status_code == 200
