"""The two example features from ilert's guide, over real HTTP against the sandbox's writes:
accept and resolve alerts on the Alerts page, switch an alert source off and on; and the write
path under them: a write is sent once, whatever happens to its answer, 2xx is success with or
without a body, and what ilert refuses is said on a page. `test_pages` checks every action's
CSRF, method, scope and success without naming it, and test_grant the step-up to one of them;
these check what each one does."""

import re

import pytest
from conftest import EVERY_SCOPE, path_of

TIMEOUT = 2  # HTTP_TIMEOUT of the app that sees a lost answer (not less: a loaded CI machine)


@pytest.fixture
def person(make_app, auth_for):
    """A test client signed in with the scopes the example features need, and its SignIn."""
    client = make_app(ILERT_SCOPES=EVERY_SCOPE).test_client()
    signing = auth_for(client)
    signing.sign_in()
    return client, signing


@pytest.fixture
def impatient_person(make_app, auth_for):
    """As `person`, with an app that waits TIMEOUT for ilert's answers."""
    client = make_app(ILERT_SCOPES=EVERY_SCOPE, HTTP_TIMEOUT=str(TIMEOUT)).test_client()
    signing = auth_for(client)
    signing.sign_in()
    return client, signing


def open_alerts(client):
    return {
        alert["id"]: alert for alert in client.get(path_of("pages.alerts"), headers=JSON).get_json()
    }


def sources(client):
    return {s["id"]: s for s in client.get(path_of("pages.alert_sources"), headers=JSON).get_json()}


JSON = {"Accept": "application/json"}
PENDING = 70013  # a pending alert of the sandbox's seed


def act(client, signing, path, **fields):
    return client.post(path, data={"csrf_token": signing.csrf_token(), **fields})


def test_the_alerts_page_lists_the_open_alerts_with_their_buttons(person):
    client, _ = person
    alerts = open_alerts(client)
    assert alerts and {a["status"] for a in alerts.values()} == {"PENDING", "ACCEPTED"}
    page = client.get(path_of("pages.alerts")).get_data(as_text=True)
    for alert_id, alert in alerts.items():
        assert f'action="/alerts/{alert_id}/resolve"' in page
        assert (f'action="/alerts/{alert_id}/accept"' in page) is (alert["status"] == "PENDING")


def test_accepting_an_alert_accepts_it_at_ilert_and_says_so_once(person, sandbox):
    client, signing = person
    answer = act(client, signing, f"/alerts/{PENDING}/accept", next=path_of("pages.alerts"))
    assert answer.status_code == 303
    assert answer.headers["Location"] == path_of("pages.alerts")
    page = client.get(path_of("pages.alerts")).get_data(as_text=True)
    summary = open_alerts(client)[PENDING]["summary"]
    assert f"Accepted: {summary}." in page
    assert open_alerts(client)[PENDING]["status"] == "ACCEPTED"
    assert f'action="/alerts/{PENDING}/accept"' not in page
    assert sandbox.stats()["alert_accept"] == 1


def test_resolving_an_alert_takes_it_off_the_list(person):
    client, signing = person
    assert act(client, signing, f"/alerts/{PENDING}/resolve").status_code == 303
    assert PENDING not in open_alerts(client)
    assert "Resolved: " in client.get(path_of("pages.alerts")).get_data(as_text=True)


def test_what_ilert_refuses_is_said_on_a_page_and_the_person_stays_signed_in(person):
    client, signing = person
    act(client, signing, f"/alerts/{PENDING}/resolve")
    answer = act(client, signing, f"/alerts/{PENDING}/accept")
    assert answer.status_code == 400
    page = answer.get_data(as_text=True)
    assert "ilert refused this change" in page
    assert re.search(r"ilert answered: \w", page)  # ilert's own reason
    as_json = client.post(
        f"/alerts/{PENDING}/accept", data={"csrf_token": signing.csrf_token()}, headers=JSON
    )
    assert as_json.status_code == 400 and set(as_json.get_json()) == {"error", "message"}
    assert client.get("/me").status_code == 200


@pytest.mark.parametrize("status", [400, 409, 412])
def test_a_refusal_keeps_ilerts_status_and_reason(person, sandbox, status):
    client, signing = person
    reason = f"Refused with {status} for the test"
    body = f'{{"status": {status}, "message": "{reason}", "code": "REFUSED"}}'
    sandbox.fault(endpoint="alert_accept", status=status, body=body)
    answer = act(client, signing, f"/alerts/{PENDING}/accept")
    assert answer.status_code == status
    assert f"ilert answered: {reason}" in answer.get_data(as_text=True)
    assert open_alerts(client)[PENDING]["status"] == "PENDING"


@pytest.mark.parametrize(
    ("fault", "status"),
    [({"delay": TIMEOUT + 1}, 504), ({"drop": True}, 502)],
    ids=["timeout", "dropped"],
)
def test_a_lost_answer_says_the_outcome_is_unknown_and_is_never_sent_again(
    impatient_person, sandbox, fault, status
):
    client, signing = impatient_person
    sandbox.fault(endpoint="alert_accept", **fault)
    answer = act(client, signing, f"/alerts/{PENDING}/accept")
    assert answer.status_code == status
    assert "It is not known whether this change was made" in answer.get_data(as_text=True)
    assert "it was not sent again" in answer.get_data(as_text=True)
    assert sandbox.stats()["alert_accept"] == 1
    assert client.get("/me").status_code == 200


def test_a_refusal_without_a_code_still_says_ilerts_reason(person, sandbox):
    client, signing = person
    body = '{"status": 412, "message": "The alert changed meanwhile"}'
    sandbox.fault(endpoint="alert_accept", status=412, body=body)
    answer = act(client, signing, f"/alerts/{PENDING}/accept")
    assert answer.status_code == 412
    assert "ilert answered: The alert changed meanwhile" in answer.get_data(as_text=True)


@pytest.mark.parametrize("body", ["", "OK", "{}"], ids=["empty", "text", "json"])
def test_a_2xx_answer_with_or_without_a_body_is_success(person, sandbox, body):
    client, signing = person
    sandbox.fault(endpoint="alert_accept", status=204 if not body else 200, body=body)
    answer = act(client, signing, f"/alerts/{PENDING}/accept")
    assert answer.status_code == 303
    assert f"Accepted: alert {PENDING}." in client.get(path_of("pages.alerts")).get_data(
        as_text=True
    )


def test_switching_an_alert_source_off_and_on(person, sandbox):
    client, signing = person
    (source_id,) = [i for i, s in sources(client).items() if s["active"]][:1]
    answer = act(client, signing, f"/alert-sources/{source_id}/active", active="false")
    assert answer.status_code == 303
    assert answer.headers["Location"] == path_of("pages.alert_sources")
    switched = sources(client)[source_id]
    assert (switched["active"], switched["status"]) == (False, "DISABLED")
    assert f"{switched['name']} is switched off." in client.get(path_of("pages.alert_sources")).text
    act(client, signing, f"/alert-sources/{source_id}/active", active="true")
    assert sources(client)[source_id]["active"] is True
    assert sandbox.stats()["alert_source_update"] == 2


def test_a_switch_whose_alert_source_ilert_answers_in_another_shape_writes_nothing(person, sandbox):
    client, signing = person
    (source_id,) = list(sources(client))[:1]
    sandbox.fault(endpoint="alert_source", status=200, body="[1]")
    answer = act(client, signing, f"/alert-sources/{source_id}/active", active="false")
    assert answer.status_code == 502
    assert "was not an object" in answer.get_data(as_text=True)
    assert sandbox.stats()["alert_source_update"] == 0


@pytest.mark.parametrize("value", ["", "yes", "TRUE", "1"])
def test_a_switch_other_than_true_or_false_is_400_and_sends_nothing(person, sandbox, value):
    client, signing = person
    before = sandbox.stats()
    answer = act(client, signing, "/alert-sources/4101/active", active=value)
    assert answer.status_code == 400
    assert "active must be true or false" in answer.get_data(as_text=True)
    assert sandbox.stats() == before


def test_an_unknown_alert_is_ilerts_404(person):
    client, signing = person
    answer = act(client, signing, "/alerts/999999/accept")
    assert answer.status_code == 404  # ilert's: it has no such alert (any more)
    assert "ilert has no such record" in answer.get_data(as_text=True)
    assert client.get("/me").status_code == 200
