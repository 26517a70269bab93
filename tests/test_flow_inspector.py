"""The flow inspector: each step of the last sign-in and API calls, secrets hidden."""

import re

from conftest import EVERY_SCOPE, path_of
from test_grant import offered

from sandbox import CLIENT_SECRET
from store.flask_session import VISITOR_LIFETIME

JSON = {"Accept": "application/json"}


def test_inspector_is_off_unless_enabled(client):
    assert client.get("/flow-inspector").status_code == 404
    assert b"Flow inspector" not in client.get("/").data


def test_inspector_shows_a_sign_in_and_a_me_call_without_secrets(make_app, auth_for):
    client = make_app(FLOW_INSPECTOR="true").test_client()
    auth = auth_for(client)
    auth.sign_in()
    assert client.get("/me").status_code == 200
    tokens = auth.tokens()
    page = client.get("/flow-inspector")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    for step in (
        "1. Send the person to ilert",
        "2. Turn the code into tokens",
        "3. Call the ilert API",
    ):
        assert step in text
    assert "/api/users/current" in text
    assert "code_challenge_method" in text and "S256" in text
    assert "[hidden]" in text
    for secret in (CLIENT_SECRET, tokens["access_token"], tokens["refresh_token"]):
        assert secret not in text
    for prefix in ("sbx_at_", "sbx_rt_", "sbx_code_"):
        assert prefix not in text

    calls = client.get("/flow-inspector", headers={"Accept": "application/json"}).get_json()
    assert [call["step"][:2] for call in calls] == ["1.", "2.", "3.", "3."]
    exchange = calls[1]
    assert exchange["status"] == 200
    assert exchange["sent"]["client_secret"] == "[hidden]"
    assert exchange["sent"]["code"] == "[hidden]"
    assert exchange["sent"]["code_verifier"] == "[hidden]"
    assert exchange["sent"]["grant_type"] == "authorization_code"
    assert exchange["answer"]["access_token"] == "[hidden]"
    assert exchange["answer"]["refresh_token"] == "[hidden]"
    assert exchange["answer"]["expires_in"] == "3600"
    assert calls[0]["sent"]["state"].endswith("…") and len(calls[0]["sent"]["state"]) == 7


def test_inspector_shows_a_failed_exchange(make_app, auth_for, sandbox):
    client = make_app(FLOW_INSPECTOR="true").test_client()
    auth = auth_for(client)
    callback = auth.consent(auth.start())
    sandbox.fault(endpoint="authorization_code", status=502, body="<html>bad gateway</html>")
    assert client.get(callback).status_code == 502
    calls = client.get("/flow-inspector", headers={"Accept": "application/json"}).get_json()
    assert calls[-1]["status"] == 502
    assert calls[-1]["answer"].endswith("bytes")


def test_a_new_sign_in_starts_a_new_flow(make_app, auth_for):
    client = make_app(FLOW_INSPECTOR="true").test_client()
    auth = auth_for(client)
    auth.sign_in()
    client.get("/me")
    callback = auth.consent(auth.start())
    calls = client.get("/flow-inspector", headers={"Accept": "application/json"}).get_json()
    assert len(calls) == 4  # the pending sign-in does not touch the session's flow
    client.get(callback)
    calls = client.get("/flow-inspector", headers={"Accept": "application/json"}).get_json()
    assert [call["step"][:2] for call in calls] == ["1.", "2.", "3.", "6."]  # 6: the old token


def test_logout_clears_the_flow(make_app, auth_for):
    client = make_app(FLOW_INSPECTOR="true").test_client()
    auth = auth_for(client)
    auth.sign_in()
    client.get("/me")
    old_session_id = auth.session_id()
    auth.log_out()
    assert client.get("/flow-inspector", headers={"Accept": "application/json"}).get_json() == []
    assert client.application.extensions["store"].get("flow", old_session_id) is None


def test_the_flow_moves_with_the_new_session_id_at_sign_in(make_app, auth_for):
    client = make_app(FLOW_INSPECTOR="true").test_client()
    auth = auth_for(client)
    store = client.application.extensions["store"]
    auth.sign_in()
    first_session_id = auth.session_id()
    assert len(store.get("flow", first_session_id)) == 3
    auth.sign_in()
    assert store.get("flow", first_session_id) is None
    calls = store.get("flow", auth.session_id())
    assert [call["step"][:2] for call in calls] == ["1.", "2.", "3.", "6."]  # 6: the old token


def test_unknown_fields_of_a_token_answer_are_hidden(make_app, auth_for, sandbox):
    client = make_app(FLOW_INSPECTOR="true").test_client()
    auth = auth_for(client)
    callback = auth.consent(auth.start())
    answer = '{"access_token": "sbx_at_x", "expires_in": 3600, "id_token": "eyJ.secret.jwt"}'
    sandbox.fault(endpoint="authorization_code", status=200, body=answer)
    client.get(callback)
    calls = client.get("/flow-inspector", headers={"Accept": "application/json"}).get_json()
    exchange = calls[1]
    assert exchange["answer"] == {
        "access_token": "[hidden]",
        "expires_in": "3600",
        "id_token": "[hidden]",
    }
    assert "eyJ.secret.jwt" not in client.get("/flow-inspector").get_data(as_text=True)


def test_inspector_numbers_steps_in_order_and_shows_json_as_json(make_app, auth_for):
    client = make_app(FLOW_INSPECTOR="true").test_client()
    auth_for(client).sign_in()
    assert client.get("/me").status_code == 200
    assert client.get(path_of("pages.token_info")).status_code == 200
    text = client.get("/flow-inspector").get_data(as_text=True)
    calls = client.get("/flow-inspector", headers={"Accept": "application/json"}).get_json()
    headings = re.findall(r"<h2>(\d+)\. ([^<]+) <span[^>]*>\(step (\d) of ilert's guide\)", text)
    assert [int(number) for number, _, _ in headings] == list(range(1, len(calls) + 1))
    assert [f"{step}. {title}" for _, title, step in headings] == [c["step"] for c in calls]
    assert [step for _, _, step in headings].count("3") >= 2  # the API calls share a step
    token_info = next(call for call in calls if call["step"].startswith("5."))
    assert token_info["answer"]["active"] == "true"  # JSON's true, not Python's True
    assert "<code>true</code>" in text and ">True<" not in text


def test_a_failed_sign_in_keeps_its_steps_in_a_session_of_ten_minutes(make_app, auth_for, sandbox):
    app = make_app(FLOW_INSPECTOR="true")
    client = app.test_client()
    auth = auth_for(client)
    callback = auth.consent(auth.start())
    sandbox.fault(endpoint="authorization_code", status=400, body='{"error": "invalid_grant"}')
    assert client.get(callback).status_code == 400
    store = app.extensions["store"]
    for purpose in ("session", "flow"):  # the notes too: a stranger's forged callbacks
        _, expires_at = store.get_expiring(purpose, auth.session_id())  # leave nothing for long
        assert expires_at <= store.clock() + VISITOR_LIFETIME
    assert "2. Turn the code into tokens" in client.get("/flow-inspector").get_data(as_text=True)


def test_a_refresh_is_a_step_of_the_flow(make_app, auth_for, start_sandbox, clock):
    sandbox = start_sandbox(access_token_ttl=2)
    client = make_app(sandbox=sandbox, FLOW_INSPECTOR="true").test_client()
    auth_for(client, sandbox).sign_in()
    clock.advance(2)
    assert client.get("/me").status_code == 200
    calls = client.get("/flow-inspector", headers={"Accept": "application/json"}).get_json()
    assert "4. Refresh the access token" in [call["step"] for call in calls]


def test_a_grants_first_step_shows_the_scopes_it_asked_for(make_app, auth_for):
    client = make_app(FLOW_INSPECTOR="true", ILERT_SCOPES="profile").test_client()
    signing = auth_for(client)
    signing.sign_in()
    _, (scope, next_path) = offered(client)
    signing.grant(scope, next_path)
    (first, *_) = client.get("/flow-inspector", headers={"Accept": "application/json"}).get_json()
    assert first["step"].startswith("1.")
    assert first["sent"]["scope"] == f"profile {scope}"


def test_an_alert_sources_integration_key_is_hidden_in_what_was_sent_and_answered(
    make_app, auth_for
):
    """Whoever has an integration key can raise alerts with it: the inspector, made to be
    shown on screens, hides it in the GET's answer, the PUT's body and the PUT's answer."""
    client = make_app(FLOW_INSPECTOR="true", ILERT_SCOPES=EVERY_SCOPE).test_client()
    auth = auth_for(client)
    auth.sign_in()
    source = client.get(path_of("pages.alert_sources"), headers=JSON).get_json()[0]
    secrets = [source["integrationKey"], *filter(None, [source.get("integrationUrl")])]
    form = {"csrf_token": auth.csrf_token(), "active": "false"}
    assert client.post(f"/alert-sources/{source['id']}/active", data=form).status_code == 303
    calls = client.get("/flow-inspector", headers=JSON).get_json()
    get, put = calls[-2:]
    assert (get["method"], put["method"]) == ("GET", "PUT")
    for shown in (get["answer"], put["sent"], put["answer"]):
        assert shown["integrationKey"] == "[hidden]"
    nested = [name for name, value in source.items() if isinstance(value, dict)]
    assert nested and all(put["sent"][name] == "{…}" for name in nested)
    for page in (client.get("/flow-inspector").text, str(calls)):
        assert not any(secret in page for secret in secrets)
