"""How the app copes with odd HTTP from upstream: answers cut off mid-body, cookies.

A small HTTP server in the test stands between the app and the sandbox (or stands in for
ilert), so the odd answer travels over a real socket.
"""

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
import requests
from conftest import serve_in_thread

from ilert import budget
from ilert import oauth as ilert_oauth


class Upstream(ThreadingHTTPServer):
    """Serves `handler` on a free loopback port in a thread."""

    def __init__(self, handler):
        super().__init__(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server_port}"
        serve_in_thread(self)


@pytest.fixture
def upstream_servers():
    started = []

    def start(handler):
        started.append(Upstream(handler))
        return started[-1]

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


def cutting_proxy(sandbox_url):
    """Forwards to the sandbox, but cuts every refresh answer off halfway through its body
    (after the sandbox has rotated the refresh token)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.forward(requests.get(sandbox_url + self.path, headers=self.headers, timeout=5))

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            answer = requests.post(
                sandbox_url + self.path, data=body, headers=self.headers, timeout=5
            )
            cut = parse_qs(body.decode()).get("grant_type") == ["refresh_token"]
            self.forward(answer, cut=cut)

        def forward(self, answer, cut=False):
            self.send_response(answer.status_code)
            for name in ("Content-Type", "Location", "Set-Cookie"):
                if name in answer.headers:
                    self.send_header(name, answer.headers[name])
            self.send_header("Content-Length", str(len(answer.content)))
            self.end_headers()
            self.wfile.write(answer.content[: len(answer.content) // 2] if cut else answer.content)
            if cut:
                self.close_connection = True

        def log_message(self, *args):
            pass

    return Handler


def test_a_refresh_answer_cut_off_ends_the_session_and_is_never_retried(
    make_app, start_sandbox, auth_for, upstream_servers, clock
):
    sandbox = start_sandbox(access_token_ttl=2)
    proxy = upstream_servers(cutting_proxy(sandbox.url))
    client = make_app(sandbox=sandbox, ILERT_API_URL=proxy.url).test_client()
    auth_for(client, sandbox).sign_in()
    clock.advance(2)
    response = client.get("/me")
    assert response.status_code == 502
    assert b"Please sign in again" in response.data
    assert client.get("/me").status_code == 302
    assert sandbox.stats()["token"]["refresh_token"] == 1


def test_upstream_cookies_are_never_sent_along(make_app, upstream_servers):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"cookie": self.headers.get("Cookie")}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Set-Cookie", "upstream_session=for-the-first-person; Path=/")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    upstream = upstream_servers(Handler)
    app = make_app(ILERT_API_URL=upstream.url)
    with app.app_context():
        ilert_oauth.call_api("GET", "/api/users/current", "first-person-token")
        second = ilert_oauth.call_api("GET", "/api/users/current", "second-person-token")
    assert second == {"cookie": None}


def test_upstream_calls_take_the_environments_proxy_but_never_netrc(
    make_app, sandbox, auth_for, upstream_servers, monkeypatch, tmp_path
):
    """HTTP_PROXY is how a deployment reaches ilert from behind a firewall: it is followed.
    ~/.netrc would add someone's login to the token call beside the client secret: never."""
    relayed = []
    direct = requests.Session()
    direct.trust_env = False  # the proxy itself goes straight to the sandbox

    class Proxy(BaseHTTPRequestHandler):
        def relay(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            relayed.append((self.command, self.path, dict(self.headers)))
            headers = {k: v for k, v in self.headers.items() if k.lower() != "proxy-connection"}
            answer = direct.request(
                self.command, self.path, data=body, headers=headers, allow_redirects=False
            )
            self.send_response(answer.status_code)
            for name in ("Content-Type", "Location", "Set-Cookie"):
                if name in answer.headers:
                    self.send_header(name, answer.headers[name])
            self.send_header("Content-Length", str(len(answer.content)))
            self.end_headers()
            self.wfile.write(answer.content)

        do_GET = do_POST = do_PUT = relay

        def log_message(self, *args):
            pass

    proxy = upstream_servers(Proxy)
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine 127.0.0.1 login someone password netrc-password\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    for name in ("HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, proxy.url)
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    client = make_app(sandbox=sandbox).test_client()
    auth_for(client, sandbox).sign_in()
    assert client.get("/me").status_code == 200
    from_the_app = [  # the test's own consent, as a browser's, is not the app's
        (m, p, h)
        for m, p, h in relayed
        if p.startswith(f"{sandbox.url}/api/") and ilert_oauth.AUTHORIZE_PATH not in p
    ]
    paths = [path for _, path, _ in from_the_app]
    assert f"{sandbox.url}{ilert_oauth.TOKEN_PATH}" in paths  # the code exchange, proxied
    assert f"{sandbox.url}/api/users/current" in paths
    for _, _, headers in from_the_app:
        assert "netrc-password" not in json.dumps(headers)
        assert not headers.get("Authorization", "").startswith("Basic")


def busy_upstream(sandbox_url, status, retry_after):
    """Forwards to the sandbox until its `busy` is set, then answers every GET with `status`
    and `retry_after` as its Retry-After."""

    class Handler(BaseHTTPRequestHandler):
        busy = False

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            answer = requests.post(
                sandbox_url + self.path, data=body, headers=self.headers, timeout=5
            )
            self.answer(answer.status_code, answer.content)

        def do_GET(self):
            if self.busy:
                self.answer(status, b'{"code": "BUSY"}', retry_after)
            else:
                answer = requests.get(sandbox_url + self.path, headers=self.headers, timeout=5)
                self.answer(answer.status_code, answer.content)

        def answer(self, code, body, retry_after=None):
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            if retry_after is not None:
                self.send_header("Retry-After", retry_after)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    return Handler


ODD_RETRY_AFTER = ["²", "-5", "1.5", "Wed, 21 Oct 2026 07:28:00 GMT", "9" * 20, "0x10", ""]


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize("retry_after", ODD_RETRY_AFTER)
def test_an_odd_retry_after_from_ilert_counts_as_none(
    make_app, sandbox, auth_for, upstream_servers, status, retry_after
):
    """Only whole seconds in ASCII digits are believed; anything else is no Retry-After: the
    page is the app's 503, never a traceback, and names no wait it cannot stand behind."""
    handler = busy_upstream(sandbox.url, status, retry_after)
    upstream = upstream_servers(handler)
    client = make_app(sandbox=sandbox, ILERT_API_URL=upstream.url).test_client()
    auth_for(client, sandbox).sign_in()
    handler.busy = True
    response = client.get("/me", headers={"Accept": "application/json"})
    assert response.status_code == 503
    assert response.get_json()["error"] == ("rate_limited" if status == 429 else "BUSY")
    waits = response.headers.get_all("Retry-After")
    if status == 429:  # the budget's pause when ilert does not say how long
        assert waits == [f"{budget.PAUSE_WITHOUT_RETRY_AFTER:.0f}"]
    else:
        assert waits == []
