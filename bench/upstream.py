"""The benchmark's upstream: ilert's paths that sign-in and `/me` call, answered as cheaply as
an asyncio server in one process can, so that the two cores go to the app and the limit.

    python bench/upstream.py PORT [DELAY_SECONDS]

It is no sandbox: the authorize URL redirects at once with a code (no consent page), any code
or refresh token gets fresh tokens, and `GET /api/users/current` answers the sandbox's
ada.lovelace to a token it issued (401 otherwise, also once the token expired: they live
`BENCH_TOKEN_TTL` seconds, 3600 by default). `GET /_bench/counters` counts the calls by path
and grant, and the connections. With a delay, every answer leaves that late, and the first on
a connection twice as late (the connect's round trip): an upstream that far away.
"""

import asyncio
import json
import os
import secrets
import sys
import time
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project

import config
from ilert.oauth import AUTHORIZE_PATH, REVOKE_PATH, TOKEN_PATH
from sandbox.data import PEOPLE

USER = json.dumps(PEOPLE["ada.lovelace"]).encode()
TOKEN_TTL = int(os.environ.get("BENCH_TOKEN_TTL", "3600"))
counts: Counter[str] = Counter()
access_tokens: dict[str, float] = {}  # token: when it expires (monotonic)


def answer(method: str, target: str, headers: dict, body: bytes) -> tuple[str, dict, bytes]:
    """The status, extra headers and JSON body of one request."""
    path, _, query = target.partition("?")
    counts[path.rpartition("/")[2]] += 1
    if path == "/api/users/current":
        token = headers.get("authorization", "").removeprefix("Bearer ")
        if access_tokens.get(token, 0) > time.monotonic():
            return "200 OK", {}, USER
        return "401 Unauthorized", {}, b'{"code":"UNAUTHORIZED","error":"unknown token"}'
    if path == TOKEN_PATH and method == "POST":
        grant = dict(parse_qsl(body.decode())).get("grant_type", "other")
        counts[grant] += 1
        token = secrets.token_urlsafe(32)
        access_tokens[token] = time.monotonic() + TOKEN_TTL
        tokens = {"token_type": "Bearer", "access_token": token, "expires_in": TOKEN_TTL}
        tokens |= {"scope": config.DEFAULT_SCOPES, "refresh_token": secrets.token_urlsafe(32)}
        return "200 OK", {}, json.dumps(tokens).encode()
    if path == AUTHORIZE_PATH:
        asked = dict(parse_qsl(query))
        code = {"code": secrets.token_urlsafe(16), "state": asked.get("state", "")}
        return "302 Found", {"Location": f"{asked['redirect_uri']}?{urlencode(code)}"}, b"{}"
    if path == REVOKE_PATH:
        return "200 OK", {}, b"{}"
    if path == "/_bench/counters":
        return "200 OK", {}, json.dumps(counts).encode()
    return "404 Not Found", {}, b'{"code":"NOT_FOUND","error":"not a path of this upstream"}'


class Connection(asyncio.Protocol):
    """HTTP/1.1 with keep-alive, one request at a time (as requests and urllib3 send them)."""

    def __init__(self, delay: float) -> None:
        self.delay, self.first = delay, True
        self.buffer = b""

    def connection_made(self, transport) -> None:
        self.transport = transport
        counts["connections"] += 1

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            lines = self.buffer[:end].decode("latin-1").split("\r\n")
            fields = (line.partition(": ") for line in lines[1:])
            headers = {name.lower(): value for name, _, value in fields}
            length = int(headers.get("content-length", 0))
            if len(self.buffer) < end + 4 + length:
                return  # the rest of the body is on its way
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            method, target, _ = lines[0].split(" ", 2)
            status, extra, content = answer(method, target, headers, body)
            close = headers.get("connection") == "close"
            extra |= {"Content-Type": "application/json", "Content-Length": len(content)}
            if close:
                extra["Connection"] = "close"
            head = "".join(f"{name}: {value}\r\n" for name, value in extra.items())
            self.send(f"HTTP/1.1 {status}\r\n{head}\r\n".encode("latin-1") + content, close)

    def send(self, data: bytes, close: bool) -> None:
        delay = self.delay * (2 if self.first else 1)
        self.first = False
        if delay:
            asyncio.get_running_loop().call_later(delay, self.write, data, close)
        else:
            self.write(data, close)

    def write(self, data: bytes, close: bool) -> None:
        if not self.transport.is_closing():
            self.transport.write(data)
            if close:
                self.transport.close()


async def serve(port: int, delay: float) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Connection(delay), "127.0.0.1", port, backlog=1024)
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 0.0))
