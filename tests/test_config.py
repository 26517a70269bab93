"""Configuration: defaults, parsing, and one clear line for every bad value."""

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from conftest import ROOT, process_environ

import config
import config_sources
from app import create_app
from config import DEFAULT_SCOPES, ConfigError
from ilert.scopes import describe_scope

REAL = {
    "ILERT_CLIENT_ID": "client-id",
    "ILERT_CLIENT_SECRET": "client-secret",
    "SECRET_KEY": "x" * 32,
}


def test_defaults_follow_the_spec():
    settings = config.load({})
    assert settings["ILERT_CLIENT_ID"] is None
    assert settings["ILERT_REDIRECT_URI"] == config.DEFAULT_REDIRECT_URI
    assert settings["ILERT_SCOPES"] == DEFAULT_SCOPES
    assert settings["ILERT_AUTH_URL"] == "https://app.ilert.com"
    assert settings["ILERT_API_URL"] == "https://api.ilert.com"
    assert settings["ILERT_USE_PKCE"] is True
    assert settings["SESSION_TYPE"] == "filesystem"
    assert settings["REDIS_URL"] == "redis://localhost:6379/0"
    assert settings["SESSION_LIFETIME"] == timedelta(days=7)
    assert settings["SESSION_COOKIE_SECURE"] is False
    assert settings["HTTP_TIMEOUT"] == 10
    assert (settings["HOST"], settings["PORT"]) == ("127.0.0.1", config.DEFAULT_PORT)
    assert settings["LOG_LEVEL"] == "INFO"
    assert settings["LOG_FORMAT"] == "text"
    assert settings["ILERT_RATE_LIMIT"] == (600, 60)
    assert settings["ILERT_CACHE_SECONDS"] == 0
    assert settings["METRICS_TOKEN"] is None
    assert settings["ILERT_SANDBOX_ACCESS_TOKEN_TTL"] == 3600
    assert settings["SANDBOX_PORT"] == config.DEFAULT_SANDBOX_PORT
    assert settings["SESSION_COOKIE_NAME"] == config.SESSION_COOKIE


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0", None), ("10/s", (10, 1)), ("700/min", (700, 60)), ("1/h", (1, 3600))],
)
def test_the_rate_limit_takes_calls_per_second_minute_or_hour(value, expected):
    assert config.load({"ILERT_RATE_LIMIT": value})["ILERT_RATE_LIMIT"] == expected


def test_tenant_wins_over_auth_url():
    settings = config.load({**REAL, "ILERT_TENANT": "acme", "ILERT_AUTH_URL": "https://x.test"})
    assert settings["ILERT_AUTH_URL"] == "https://acme.ilert.com"


def test_https_redirect_uri_makes_the_cookie_secure():
    settings = config.load({**REAL, "ILERT_REDIRECT_URI": "https://app.example.com/cb"})
    assert settings["SESSION_COOKIE_SECURE"] is True
    settings = config.load({**REAL, "SESSION_COOKIE_SECURE": "true"})
    assert settings["SESSION_COOKIE_SECURE"] is True


@pytest.mark.parametrize(
    ("value", "expected"),
    [("90s", 90), ("30m", 1800), ("12h", 43200), ("7d", 604800), ("3600", 3600)],
)
def test_session_lifetime_takes_durations(value, expected):
    settings = config.load({"SESSION_LIFETIME": value})
    assert settings["SESSION_LIFETIME"].total_seconds() == expected


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"ILERT_CLIENT_ID": "id"}, "ILERT_CLIENT_SECRET"),
        ({"ILERT_CLIENT_ID": "id", "ILERT_CLIENT_SECRET": "s"}, "SECRET_KEY"),
        ({"ILERT_AUTH_URL": "https://app.ilert.com"}, "ILERT_AUTH_URL"),
        ({"ILERT_API_URL": "https://api.ilert.com"}, "ILERT_API_URL"),
        ({**REAL, "ILERT_REDIRECT_URI": "localhost:4597/cb"}, "ILERT_REDIRECT_URI"),
        ({**REAL, "ILERT_REDIRECT_URI": "ftp://localhost/cb"}, "ILERT_REDIRECT_URI"),
        ({**REAL, "ILERT_REDIRECT_URI": "http://localhost:99999/cb"}, "ILERT_REDIRECT_URI"),
        ({**REAL, "ILERT_REDIRECT_URI": "http://localhost:0/cb"}, "ILERT_REDIRECT_URI"),
        ({**REAL, "ILERT_API_URL": "https://api.ilert.com/api"}, "ILERT_API_URL"),
        ({**REAL, "ILERT_AUTH_URL": "http://"}, "ILERT_AUTH_URL"),
        ({**REAL, "ILERT_TENANT": "acme.ilert.com"}, "ILERT_TENANT"),
        ({**REAL, "ILERT_SCOPES": "profile source:x"}, "ILERT_SCOPES"),
        ({**REAL, "ILERT_USE_PKCE": "maybe"}, "ILERT_USE_PKCE"),
        ({**REAL, "SESSION_TYPE": "memcached"}, "SESSION_TYPE"),
        ({**REAL, "REDIS_URL": "http://localhost:6379"}, "REDIS_URL"),
        ({**REAL, "SESSION_LIFETIME": "a week"}, "SESSION_LIFETIME"),
        ({**REAL, "SESSION_LIFETIME": "0d"}, "SESSION_LIFETIME"),
        ({**REAL, "SESSION_LIFETIME": "366d"}, "SESSION_LIFETIME"),
        ({**REAL, "HTTP_TIMEOUT": "ten"}, "HTTP_TIMEOUT"),
        ({**REAL, "HTTP_TIMEOUT": "-1"}, "HTTP_TIMEOUT"),
        ({**REAL, "PORT": "0"}, "PORT"),
        ({**REAL, "PORT": "65536"}, "PORT"),
        ({**REAL, "SANDBOX_PORT": "http"}, "SANDBOX_PORT"),
        ({**REAL, "LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({**REAL, "LOG_FORMAT": "xml"}, "LOG_FORMAT"),
        ({**REAL, "ILERT_RATE_LIMIT": "600"}, "ILERT_RATE_LIMIT"),
        ({**REAL, "ILERT_RATE_LIMIT": "600/day"}, "ILERT_RATE_LIMIT"),
        ({**REAL, "ILERT_RATE_LIMIT": "0/min"}, "ILERT_RATE_LIMIT"),
        ({**REAL, "ILERT_RATE_LIMIT": "٦٠٠/min"}, "ILERT_RATE_LIMIT"),
        ({**REAL, "ILERT_CACHE_SECONDS": "61"}, "ILERT_CACHE_SECONDS"),
        ({**REAL, "METRICS_TOKEN": "short"}, "METRICS_TOKEN"),
        ({**REAL, "METRICS_TOKEN": "sixteen chars and spaces"}, "METRICS_TOKEN"),
        ({**REAL, "ILERT_CACHE_SECONDS": "1.5"}, "ILERT_CACHE_SECONDS"),
        ({**REAL, "ILERT_SANDBOX_ACCESS_TOKEN_TTL": "1.5"}, "ILERT_SANDBOX_ACCESS_TOKEN_TTL"),
        ({**REAL, "ILERT_API_URL": "http://api.ilert.com"}, "ILERT_API_URL"),
        ({**REAL, "ILERT_AUTH_URL": "http://app.ilert.com"}, "ILERT_AUTH_URL"),
        ({**REAL, "HOST": "0.0.0.0", "FLASK_DEBUG": "1"}, "HOST"),
        ({"HOST": "0.0.0.0"}, "HOST"),
    ],
)
def test_bad_values_name_the_variable(environ, variable):
    with pytest.raises(ConfigError) as raised:
        config.load(environ)
    message = str(raised.value)
    assert message.startswith(variable + " ")
    assert "\n" not in message


@pytest.mark.parametrize(
    "url",
    [
        "http://api.ilert.com",
        "http://10.0.0.5:4598",
        "http://[2001:db8::1]",
        "http://localhost.example.com",
        "http://127.0.0.1.nip.io",
        "http://0.0.0.0:4598",
    ],
)
@pytest.mark.parametrize("variable", ["ILERT_AUTH_URL", "ILERT_API_URL"])
def test_plain_http_ilert_urls_are_refused_with_a_real_client_id(variable, url):
    with pytest.raises(ConfigError) as raised:
        config.load({**REAL, variable: url})
    message = str(raised.value)
    assert message.startswith(f"{variable} must be https: with {url!r} ")
    assert "in clear" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "url",
    [
        "https://api.eu.ilert.example",
        "http://localhost:4598",
        "http://LOCALHOST:4598",
        "http://127.0.0.1:4598",
        "http://127.5.6.7",
        "http://[::1]:4598",
    ],
)
@pytest.mark.parametrize("variable", ["ILERT_AUTH_URL", "ILERT_API_URL"])
def test_https_or_loopback_ilert_urls_are_accepted(variable, url):
    assert config.load({**REAL, variable: url})[variable] == url


def test_tenant_gives_https_whatever_the_auth_url():
    settings = config.load({**REAL, "ILERT_TENANT": "acme", "ILERT_AUTH_URL": "http://x.test"})
    assert settings["ILERT_AUTH_URL"] == "https://acme.ilert.com"


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "my-laptop"])
def test_sandbox_mode_refuses_a_host_beyond_loopback(host):
    with pytest.raises(ConfigError) as raised:
        config.load({"HOST": host})
    message = str(raised.value)
    assert message.startswith(f"HOST {host!r} is beyond loopback, which sandbox mode refuses")
    assert "use a real ilert app" in message and "gunicorn" in message


@pytest.mark.parametrize("debug", ["1", "true", "yes", "on", "ON"])
def test_flask_debug_refuses_a_host_beyond_loopback(debug):
    with pytest.raises(ConfigError) as raised:
        config.load({**REAL, "HOST": "0.0.0.0", "FLASK_DEBUG": debug})
    message = str(raised.value)
    assert message.startswith("HOST '0.0.0.0' is beyond loopback, which FLASK_DEBUG refuses")
    assert "turn FLASK_DEBUG off" in message


@pytest.mark.parametrize("debug", ["", "0", "false", "No"])
def test_a_real_client_id_without_the_debugger_may_listen_anywhere(debug):
    assert config.load({**REAL, "HOST": "0.0.0.0", "FLASK_DEBUG": debug})["HOST"] == "0.0.0.0"


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.1.1", "localhost", "LocalHost", "::1"])
def test_loopback_hosts_are_fine_in_sandbox_mode_and_with_the_debugger(host):
    assert config.load({"HOST": host, "FLASK_DEBUG": "1"})["HOST"] == host
    assert config.load({**REAL, "HOST": host, "FLASK_DEBUG": "1"})["HOST"] == host


def _run(command, **environ):
    return subprocess.run(
        command,
        cwd=ROOT,
        env=process_environ(**environ),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.slow
def test_python_app_py_stops_with_one_line_on_a_bad_value():
    result = _run([sys.executable, "app.py"], PORT="70000")
    assert result.returncode == 3
    assert result.stderr.strip().splitlines() == [
        "Configuration error: PORT is malformed: '70000' is not a port from 1 to 65535"
    ]


@pytest.mark.slow
def test_gunicorn_without_a_client_id_stops_for_good(tmp_path):
    result = _run(
        [sys.executable, "-m", "gunicorn", "--bind", "127.0.0.1:0", "app:create_app()"],
        SESSION_FILE_DIR=str(tmp_path),
    )
    assert result.returncode == 3
    assert "ILERT_CLIENT_ID is not set" in result.stderr
    assert "Traceback" not in result.stderr


PLAIN_HTTP_API = {**REAL, "ILERT_API_URL": "http://api.ilert.test"}
PLAIN_HTTP_API_LINE = (
    "Configuration error: ILERT_API_URL must be https: with 'http://api.ilert.test' the client "
    "secret and every token would travel in clear; use https (plain http is only for a "
    "loopback host such as localhost)"
)


@pytest.mark.slow
def test_python_app_py_refuses_a_plain_http_api_url(tmp_path):
    result = _run([sys.executable, "app.py"], SESSION_FILE_DIR=str(tmp_path), **PLAIN_HTTP_API)
    assert result.returncode == 3
    assert result.stderr.strip().splitlines() == [PLAIN_HTTP_API_LINE]


@pytest.mark.slow
def test_gunicorn_refuses_a_plain_http_api_url_for_good(tmp_path):
    result = _run(
        [sys.executable, "-m", "gunicorn", "--bind", "127.0.0.1:0", "app:create_app()"],
        SESSION_FILE_DIR=str(tmp_path),
        **PLAIN_HTTP_API,
    )
    assert result.returncode == 3
    assert PLAIN_HTTP_API_LINE in result.stderr.splitlines()
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("scope", "words"),
    [
        ("profile", "See your name, email address, role and other profile details"),
        ("source", "See your alert sources"),
        ("source:w", "See and change your alert sources"),
        ("status_page:d", "See, change and delete your status pages"),
        ("source:x", "A scope this app does not know"),
        ("sources", "A scope this app does not know"),
    ],
)
def test_scopes_are_described_in_plain_words(scope, words):
    assert describe_scope(scope) == words


def test_redirect_uri_needs_a_path_of_its_own(tmp_path):
    settings = {**REAL, "FLOW_INSPECTOR": "true", "SESSION_FILE_DIR": str(tmp_path)}
    taken = [
        rule.rule
        for rule in create_app(settings).url_map.iter_rules()
        if not rule.arguments and rule.endpoint != "auth.authorize_result"
    ]
    assert "/login" in taken and "/healthz" in taken
    origin = config.redirect_uri_at(config.DEFAULT_PORT).removesuffix(config.CALLBACK_PATH)
    for path in ["", "/", *taken]:
        with pytest.raises(ConfigError) as raised:
            create_app({**settings, "ILERT_REDIRECT_URI": origin + path})
        assert str(raised.value).startswith("ILERT_REDIRECT_URI is malformed: its path"), path


def test_redirect_uri_path_becomes_the_callback_route(tmp_path):
    app = create_app(
        {
            **REAL,
            "ILERT_REDIRECT_URI": "http://localhost:4597/oauth/ilert",
            "SESSION_FILE_DIR": str(tmp_path),
        }
    )
    response = app.test_client().get("/oauth/ilert?state=x&code=y")
    assert response.status_code == 400
    assert b"This sign-in link is not valid" in response.data


def test_a_malformed_env_line_stops_naming_the_file_and_line(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "environ", dict(os.environ))  # load_dotenv writes into it
    monkeypatch.delenv("PYTHON_DOTENV_DISABLED", raising=False)
    path = tmp_path / ".env"
    path.write_text("HTTP_TIMEOUT=5\n# a comment\n\nthis line is wrong\nPORT=4600\n")
    with pytest.raises(ConfigError) as raised:
        config_sources.load_dotenv(str(path))
    assert str(raised.value) == (
        f"{path} line 4 is malformed: 'this line is wrong' is not NAME=value"
    )
    assert "PORT" not in os.environ or os.environ["PORT"] != "4600"  # nothing half-loaded


def test_a_good_env_file_loads_and_the_environment_wins(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "environ", dict(os.environ))
    monkeypatch.delenv("PYTHON_DOTENV_DISABLED", raising=False)
    monkeypatch.setenv("LOG_LEVEL", "debug")
    path = tmp_path / ".env"
    path.write_text('export HTTP_TIMEOUT=5\nLOG_LEVEL=error\nILERT_SCOPES="profile alert:r"\n')
    config_sources.load_dotenv(str(path))
    settings = config.load(os.environ)
    assert (settings["HTTP_TIMEOUT"], settings["LOG_LEVEL"]) == (5, "DEBUG")
    assert settings["ILERT_SCOPES"] == "profile alert:r"


def test_python_dotenv_disabled_reads_no_env_file(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "environ", dict(os.environ))
    monkeypatch.setenv("PYTHON_DOTENV_DISABLED", "1")
    path = tmp_path / ".env"
    path.write_text("this line is wrong\n")
    config_sources.load_dotenv(str(path))


@pytest.mark.parametrize(
    ("files", "cores"),
    [
        ({"cpu.max": "50000 100000\n"}, 1),  # --cpus 0.5
        ({"cpu.max": "100000 100000\n"}, 1),
        ({"cpu/cpu.cfs_quota_us": "50000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 1),  # v1
    ],
)
def test_default_workers_follow_a_cgroup_cpu_quota(files, cores, tmp_path):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    assert config_sources.available_cores(str(tmp_path)) == cores
    assert config.load({})["WEB_CONCURRENCY"] == config_sources.available_cores()


@pytest.mark.parametrize(
    "files", [{}, {"cpu.max": "max 100000\n"}, {"cpu/cpu.cfs_quota_us": "-1\n"}]
)
def test_without_a_quota_workers_are_the_cores_it_may_run_on(files, tmp_path):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    assert config_sources.available_cores(str(tmp_path)) == len(os.sched_getaffinity(0))


def test_port_and_sandbox_port_must_differ_in_sandbox_mode():
    with pytest.raises(ConfigError) as raised:
        config.load({"PORT": "4700", "SANDBOX_PORT": "4700"})
    assert str(raised.value).startswith("PORT and SANDBOX_PORT are both 4700")
    assert config.load({**REAL, "PORT": "4700", "SANDBOX_PORT": "4700"})["PORT"] == 4700


@pytest.mark.parametrize("value", ["maybe", "off-ish", "2", "enabled"])
def test_flask_debug_takes_only_the_documented_words(value):
    with pytest.raises(ConfigError) as raised:
        config.load({"FLASK_DEBUG": value})
    assert str(raised.value).startswith(f"FLASK_DEBUG is malformed: {value!r} is not one of")


# --- refusals that keep a deployment from being weaker than it looks (issue 23) ----------


@pytest.mark.parametrize(
    "redirect_uri", ["http://app.example.com/authorize-result", "http://10.0.0.5:4597/cb"]
)
def test_a_plain_http_redirect_uri_off_loopback_is_refused(redirect_uri):
    with pytest.raises(ConfigError, match="^ILERT_REDIRECT_URI must be https: "):
        config.load({**REAL, "ILERT_REDIRECT_URI": redirect_uri})


@pytest.mark.parametrize(
    "redirect_uri", ["http://localhost:4597/cb", "http://127.0.0.2/cb", "http://[::1]:80/cb"]
)
def test_a_plain_http_redirect_uri_on_loopback_is_fine(redirect_uri):
    assert config.load({**REAL, "ILERT_REDIRECT_URI": redirect_uri})["ILERT_REDIRECT_URI"]


def test_an_https_redirect_uri_with_an_insecure_cookie_is_refused():
    with pytest.raises(ConfigError, match="^SESSION_COOKIE_SECURE=false is refused with an https"):
        config.load(
            {
                **REAL,
                "ILERT_REDIRECT_URI": "https://app.example.com/cb",
                "SESSION_COOKIE_SECURE": "0",
            }
        )


@pytest.mark.parametrize("key", ["k3y", "a" * 31, "ü" * 15])
def test_a_secret_key_shorter_than_32_bytes_is_refused(key):
    with pytest.raises(ConfigError, match="^SECRET_KEY is too short: "):
        config.load({**REAL, "SECRET_KEY": key})
    assert key not in str(pytest.raises(ConfigError, config.load, {**REAL, "SECRET_KEY": key}))


def test_sandbox_mode_makes_a_long_enough_secret_key_of_its_own():
    assert config.load({})["SECRET_KEY"] is None  # app.py makes one (instance/, 64 hex digits)


def test_secret_key_fallbacks_take_spaces_and_commas():
    settings = config.load({**REAL, "SECRET_KEY_FALLBACKS": " old-one,older-one  oldest "})
    assert settings["SECRET_KEY_FALLBACKS"] == ["old-one", "older-one", "oldest"]
    assert config.load(REAL)["SECRET_KEY_FALLBACKS"] == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("REDIS_URL", "redis://:s3cret-pass@[::1"),
        ("REDIS_URL", "redis://user:s3cret-pass@localhost:99999/0"),
        ("REDIS_URL", "http://user:s3cret-pass@localhost/0"),
        ("REDIS_URL", "mysql://localhost/0?password=s3cret-pass"),
        ("ILERT_API_URL", "https://user:s3cret-pass@api.ilert.com/path"),
        ("ILERT_REDIRECT_URI", "ftp://user:s3cret-pass@app.example.com/cb"),
    ],
)
def test_a_malformed_url_is_named_without_its_password(name, value):
    with pytest.raises(ConfigError) as raised:
        config.load({**REAL, name: value})
    message = str(raised.value)
    assert message.startswith(f"{name} is malformed: ")
    assert "s3cret-pass" not in message and "[hidden]" in message
