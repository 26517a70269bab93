"""ilert's rate limit under load (`python bench/run.py --only budget`): the sandbox with ilert's
limit on (700/min), the app under gunicorn.conf.py with its default budget (ILERT_RATE_LIMIT,
600/min), 64 clients asking for /me for 60 s; once as one instance on files, once as two
instances sharing one Redis (32 clients each). It counts what ilert got (calls, 429s), what
the clients got (pages, 503s with `Retry-After`, anything else) and the calls per minute."""

import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import requests

import config
import metrics
from sandbox import CLIENT_ID, CLIENT_SECRET
from tests.conftest import free_port, process_environ, signed_in_browser

CLIENTS, SECONDS, ILERT_LIMIT = 64, 60, "700/min"


def load(urls: list[str], cookie: dict, seconds: float) -> Counter:
    """CLIENTS clients, spread over `urls`, asking for /me as JSON in a loop: their answers."""

    def client(url: str) -> Counter:
        answers: Counter = Counter()
        deadline = time.monotonic() + seconds
        with requests.Session() as browser:
            while time.monotonic() < deadline:
                answer = browser.get(url, headers={"Accept": "application/json", **cookie})
                waits = answer.status_code == 503 and answer.headers.get("Retry-After", "")
                kind = "503 with Retry-After" if waits and waits.isdigit() else answer.status_code
                answers[kind] += 1
        return answers

    with ThreadPoolExecutor(CLIENTS) as pool:
        return sum(
            pool.map(client, [f"{urls[i % len(urls)]}/me" for i in range(CLIENTS)]), Counter()
        )


def rate_limited(url: str) -> int:
    """The 429s from ilert that the app at `url` counted (its /metrics, open on loopback)."""
    total = f"{metrics.PREFIX}_ilert_429s_total "
    lines = requests.get(f"{url}/metrics").text.splitlines()
    return sum(int(float(line.removeprefix(total))) for line in lines if line.startswith(total))


def run(bench, redis_url: str, gunicorn: list, app_environ) -> None:
    """Both deployments against a sandbox each, their figures side by side."""
    rows = []
    for name, instances, store in (
        ("1 instance, files", 1, "filesystem"),
        ("2 instances, Redis", 2, "redis"),
    ):
        ports = [free_port() for _ in range(instances)]
        sandbox_port = free_port()
        command = [sys.executable, "-m", "sandbox", "--port", str(sandbox_port)]
        command += ["--rate-limit", ILERT_LIMIT]
        command += [a for p in ports for a in ("--redirect-uri", config.redirect_uri_at(p))]
        sandbox = bench.serve(f"sandbox {name}", command, process_environ(), sandbox_port)
        urls = []
        for port in ports:
            environ = app_environ(sandbox.url, port, bench.logs, ILERT_CLIENT_ID=CLIENT_ID,
                                  ILERT_CLIENT_SECRET=CLIENT_SECRET, ILERT_RATE_LIMIT=None,
                                  SESSION_TYPE=store, REDIS_URL=redis_url)  # fmt: skip
            app = bench.serve(f"app {name} {port}", [*gunicorn, "app:create_app()"], environ, port)
            urls.append(app.url)
        cookie_name = config.SESSION_COOKIE
        cookie = {"Cookie": f"{cookie_name}={signed_in_browser(urls[0]).cookies[cookie_name]}"}
        before = requests.get(f"{sandbox.url}/_sandbox/stats").json()["users_current"]
        began = time.monotonic()
        answers = load(urls, cookie, SECONDS)
        minutes = (time.monotonic() - began) / 60
        calls = requests.get(f"{sandbox.url}/_sandbox/stats").json()["users_current"] - before
        rows.append((name, calls, calls / minutes, sum(map(rate_limited, urls)), answers))
    calls, per = config.load({})["ILERT_RATE_LIMIT"]
    print(f"{CLIENTS} clients, {SECONDS} s, ilert's limit {ILERT_LIMIT}, budget {calls}/{per} s:")
    print("| deployment | calls ilert got | per minute | 429s from ilert | answers |")
    print("|---|---|---|---|---|")
    for name, calls, per_minute, limited, answers in rows:
        shown = ", ".join(f"{count:,} {kind}" for kind, count in answers.most_common())
        print(f"| {name} | {calls:,} | {per_minute:.0f} | {limited} | {shown} |")
