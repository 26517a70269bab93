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
            self.send_header("Content-Type", answer.headers.get("Content-Type", "text/plain"))
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
