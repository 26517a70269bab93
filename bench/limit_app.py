"""The limit: the least a Flask app can do to answer like `/me`, under the same gunicorn.

Its only route, `GET /limit`, makes one upstream call through one pooled `requests.Session`,
`GET {BENCH_API_URL}/api/users/current` with `Authorization: Bearer {BENCH_ACCESS_TOKEN}` and
the app's timeouts (`HTTP_TIMEOUT`, default 10 s; connect a few seconds less), and returns the
JSON it got. No session, no token store, no template: the app's `/me` is measured against it.

    BENCH_API_URL=http://127.0.0.1:PORT BENCH_ACCESS_TOKEN=... \
        gunicorn --workers 2 "bench.limit_app:create_app()"
"""

import os

import requests
from flask import Flask, jsonify

import config


def create_app():
    """A Flask app whose one route is one pooled upstream call."""
    app = Flask(__name__)
    api_url = os.environ["BENCH_API_URL"]
    headers = {"Authorization": f"Bearer {os.environ['BENCH_ACCESS_TOKEN']}"}
    timeout = float(os.environ.get("HTTP_TIMEOUT", "10"))
    timeouts = (min(timeout, max(1.0, timeout - 3)), timeout)  # as ilert_oauth._send
    http = requests.Session()
    adapter = requests.adapters.HTTPAdapter(
        pool_maxsize=config.load(os.environ)["GUNICORN_THREADS"]
    )
    http.mount("http://", adapter)
    http.mount("https://", adapter)

    @app.get("/limit")
    def limit():
        response = http.get(
            f"{api_url}/api/users/current",
            headers=headers,
            timeout=timeouts,
            allow_redirects=False,
        )
        response.raise_for_status()
        return jsonify(response.json())

    return app
