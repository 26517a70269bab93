"""The sandbox's REST API against ilert's published one, over real HTTP: for every resource
of `sandbox.description` the list and the single GET against the schema fragments of
`sandbox.schemas`, page sizes, `include=`, filters, errors in ilert's shape, and ilert's
scope table (the writes are in test_sandbox_writes.py)."""

import zoneinfo

import pytest
import requests

from ilert import oauth
from ilert.scopes import RESOURCES as SCOPE_RESOURCES
from ilert.scopes import required_scope
from sandbox import data
from sandbox.description import BY_NAME, RESOURCES, Resource, parse_time
from sandbox.schemas import DATE_TIME, NESTED, OPTIONAL, SCHEMAS, TIMEZONE, Nullable
from tests.test_sandbox import assert_rest_error, authorize_url, sign_in

ALERTS, SOURCES, INCIDENTS = BY_NAME["alerts"], BY_NAME["alert_sources"], BY_NAME["incidents"]
NAMES = [resource.name for resource in RESOURCES]


def call(sandbox, method, path, access_token, headers=None, **kwargs):
    headers = {"Authorization": f"Bearer {access_token}", **(headers or {})}
    return requests.request(method, f"{sandbox.url}{path}", headers=headers, timeout=5, **kwargs)


def token(sandbox, scope, user="ada.lovelace"):
    return sign_in(sandbox, scope=scope, user=user)["access_token"]


def alerts_in(sandbox, access_token, status):
    response = call(sandbox, "GET", ALERTS.path, access_token, params={"states": status})
    assert response.status_code == 200
    return response.json()


# --- every resource: list, single GET, fields, paging, include, filters -----------------------


def reader(sandbox, resource: Resource) -> str:
    """An access token that reads `resource` (and nothing more)."""
    return token(sandbox, required_scope(resource.scope, "GET"))


def listed(sandbox, resource, access_token, **params):
    response = call(sandbox, "GET", resource.path, access_token, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/json"
    return response.json()


def every(sandbox, resource, access_token):
    """Every row of a list, page by page at the largest page size."""
    rows: list = []
    while True:
        more = listed(sandbox, resource, access_token, **{"start-index": len(rows),
                      "max-results": resource.max_page})  # fmt: skip
        rows += more
        if len(more) < resource.max_page:
            return rows


def kind_error(value, kind) -> str | None:
    """Why `value` is not of the schema `kind`, or None."""
    if isinstance(kind, Nullable):
        return None if value is None else kind_error(value, kind.kind)
    if kind == DATE_TIME:
        ok = isinstance(value, str) and parse_time(value) is not None
    elif kind == TIMEZONE:
        ok = isinstance(value, str) and value in zoneinfo.available_timezones()
    elif isinstance(kind, tuple):
        ok = value in kind
    elif kind is float:
        ok = type(value) in (int, float)
    else:
        ok = type(value) is kind
    return None if ok else f"{value!r} is not {kind}"


def assert_fits(name, row):
    """Every field of `row` is one of the schema's, of its kind; nested entries too."""
    schema = SCHEMAS[name]
    assert set(row) <= set(schema), f"fields ilert does not send: {set(row) - set(schema)}"
    for field, value in row.items():
        assert kind_error(value, schema[field]) is None, f"{name}.{field}: {value!r}"
        for entry in value if (name, field) in NESTED else ():
            fragment = NESTED[name, field]
            assert set(entry) <= set(fragment), f"{name}.{field}[]: {set(entry) - set(fragment)}"
            for key, item in entry.items():
                problem = kind_error(item, fragment[key])
                assert problem is None, f"{name}.{field}[].{key}: {problem}"


@pytest.mark.parametrize("name", NAMES)
def test_the_list_and_each_single_get_fit_ilerts_schema(sandbox, name):
    resource = BY_NAME[name]
    access_token = reader(sandbox, resource)
    rows = every(sandbox, resource, access_token)
    assert len(rows) == len(data.ROWS[name]) and len({row["id"] for row in rows}) == len(rows)
    hidden = set(resource.include) | set(resource.list_omits)
    for row in rows:
        assert_fits(name, row)
        assert not hidden & set(row), f"{name} list sends {hidden & set(row)}"
        single = call(sandbox, "GET", f"{resource.path}/{row['id']}", access_token)
        assert single.status_code == 200
        assert_fits(name, single.json())
        assert not set(resource.include) & set(single.json())
        assert {k: v for k, v in single.json().items() if k not in resource.list_omits} == row
    for field in resource.list_omits:
        assert any(field in call(sandbox, "GET", f"{resource.path}/{row['id']}",
                                 access_token).json() for row in rows)  # fmt: skip
    sent = {field for row in rows for field in row}
    optional = OPTIONAL.get(name, set())
    assert optional <= set(SCHEMAS[name]) and not optional & sent, "OPTIONAL is out of date"
    missing = set(SCHEMAS[name]) - hidden - optional - sent
    assert not missing, f"{name}: no row sends {sorted(missing)} (add it, or to OPTIONAL)"


@pytest.mark.parametrize("name", NAMES)
def test_default_and_largest_page_as_ilert_pages(sandbox, name):
    resource = BY_NAME[name]
    access_token = reader(sandbox, resource)
    total = len(data.ROWS[name])
    assert len(listed(sandbox, resource, access_token)) == min(total, resource.default_page)
    assert len(listed(sandbox, resource, access_token, **{"max-results": resource.max_page})) == (
        min(total, resource.max_page)
    )
    second = listed(sandbox, resource, access_token, **{"start-index": 1, "max-results": 1})
    assert second == listed(sandbox, resource, access_token)[1:2]
    too_many = call(sandbox, "GET", resource.path, access_token,
                    params={"max-results": resource.max_page + 1})  # fmt: skip
    assert_rest_error(too_many, 400, "BAD_REQUEST")


def test_some_list_has_more_rows_than_its_default_page():
    assert any(len(data.ROWS[r.name]) > r.default_page for r in RESOURCES)


INCLUDES = [(r.name, f) for r in RESOURCES for f in r.include if f not in r.options]


@pytest.mark.parametrize(("name", "field"), INCLUDES)
def test_include_only_fields_come_when_asked_for(sandbox, name, field):
    resource = BY_NAME[name]
    access_token = reader(sandbox, resource)
    ids = [row["id"] for row in listed(sandbox, resource, access_token)]
    asked = [call(sandbox, "GET", f"{resource.path}/{item}", access_token,
                  params={"include": field}).json() for item in ids]  # fmt: skip
    assert any(field in row for row in asked)
    for row in asked:
        assert_fits(name, row)
    in_list = (
        listed(sandbox, resource, access_token, include=field)
        if (field in resource.list_include)
        else None
    )
    if in_list is None:
        refused = call(sandbox, "GET", resource.path, access_token, params={"include": field})
        assert_rest_error(refused, 400, "BAD_REQUEST")
    else:
        assert any(field in row for row in in_list)
        for row in in_list:
            assert_fits(name, row)
    if resource.max_page_with_include and field in resource.list_include:
        params = {"include": field, "max-results": resource.max_page_with_include + 1}
        refused = call(sandbox, "GET", resource.path, access_token, params=params)
        assert_rest_error(refused, 400, "BAD_REQUEST")


@pytest.mark.parametrize("name", NAMES)
def test_an_include_ilert_does_not_know_is_400(sandbox, name):
    resource = BY_NAME[name]
    response = call(sandbox, "GET", f"{resource.path}/{data.ROWS[name][0]['id']}",
                    reader(sandbox, resource), params={"include": "everything"})  # fmt: skip
    assert_rest_error(response, 400, "BAD_REQUEST")


FILTERS = [(r.name, f.param) for r in RESOURCES for f in r.filters]


@pytest.mark.parametrize(("name", "param"), FILTERS)
def test_each_filter_narrows_its_list(sandbox, name, param):
    resource = BY_NAME[name]
    rule = next(f for f in resource.filters if f.param == param)
    access_token = reader(sandbox, resource)
    rows = every(sandbox, resource, access_token)

    def values(row):
        found = [row]
        for key in rule.path:
            found = [v for f in found for v in (f if isinstance(f, list) else [f])]
            found = [f.get(key) for f in found if isinstance(f, dict) and f.get(key) is not None]
        return [v for f in found for v in (f if isinstance(f, list) else [f])]

    value = next(v for row in rows for v in values(row))
    if rule.compare == "in":
        expected = [row for row in rows if value in values(row)]
    else:
        bound = parse_time(value)
        after = rule.compare == "from"
        expected = [row for row in rows if any(
            (parse_time(v) >= bound) if after else (parse_time(v) < bound) for v in values(row)
        )]  # fmt: skip
    narrowed = listed(sandbox, resource, access_token, **{param: value, "max-results":
                      resource.max_page})  # fmt: skip
    assert narrowed == expected[: resource.max_page] and 0 < len(narrowed) <= len(rows)
    if rule.compare == "in":
        refused = call(sandbox, "GET", resource.path, access_token, params={param: "?"})
        assert_rest_error(refused, 400, "BAD_REQUEST")


# --- every resource: errors in ilert's shape -------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_errors_of_each_resource_are_in_ilerts_shape(sandbox, name):
    resource = BY_NAME[name]
    single = f"{resource.path}/{data.ROWS[name][0]['id']}"
    for path in (resource.path, single):
        assert_rest_error(call(sandbox, "GET", path, "not-a-token"), 401, "UNAUTHORIZED")
        refused = call(sandbox, "GET", path, token(sandbox, "profile"))
        assert_rest_error(refused, 403, "FORBIDDEN")
        assert required_scope(resource.scope, "GET") in refused.json()["message"]
    access_token = reader(sandbox, resource)
    assert_rest_error(call(sandbox, "GET", f"{resource.path}/987654", access_token), 404,
                      "NOT_FOUND")  # fmt: skip
    assert_rest_error(call(sandbox, "PATCH", single, access_token), 405, "METHOD_NOT_ALLOWED")
    bad = call(sandbox, "GET", resource.path, access_token, params={"start-index": "-1"})
    assert_rest_error(bad, 400, "BAD_REQUEST")


@pytest.mark.parametrize("resource", sorted(SCOPE_RESOURCES))
def test_every_scope_of_ilerts_table_is_accepted(sandbox, resource):
    scopes = " ".join(f"{resource}{access}" for access in ("", ":r", ":w", ":d"))
    response = requests.get(authorize_url(sandbox, scope=f"profile {scopes}"), timeout=5)
    assert response.status_code == 200, response.text


def test_ilerts_documented_scopes_include_metrics():
    assert {"metric", "metric_source"} <= set(SCOPE_RESOURCES)


def test_alert_source_statuses_follow_their_alerts():
    """The seed's alert sources say what their alerts are (writes keep it so)."""
    for source in data.ALERT_SOURCES:
        states = {a["status"] for a in data.ALERTS if a["alertSource"]["id"] == source["id"]}
        assert source["status"] == (
            "DISABLED" if not source["active"] else "PENDING" if states & {"NEW", "PENDING"}
            else "ALL_ACCEPTED" if "ACCEPTED" in states else "ALL_RESOLVED"
        )  # fmt: skip


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
