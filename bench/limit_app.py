"""The limit: the least a Flask app can do to answer like `/me`, under the same gunicorn.

`GET /limit` makes one call through one pooled `requests.Session` (a pool as large as the
app's, `GUNICORN_THREADS`), `GET {BENCH_API_URL}/api/users/current` with
`Authorization: Bearer {BENCH_ACCESS_TOKEN}` and the app's timeouts, and returns the JSON it
got: no session, no token store, no template.
"""

import os

import requests
from flask import Flask, jsonify

import config


def create_app():
    """A Flask app whose one route is one pooled upstream call."""
    app = Flask(__name__)
    settings = config.load(os.environ)
    url = f"{os.environ['BENCH_API_URL']}/api/users/current"
    headers = {"Authorization": f"Bearer {os.environ['BENCH_ACCESS_TOKEN']}"}
    timeout = settings["HTTP_TIMEOUT"]
    timeouts = (min(timeout, max(1.0, timeout - 3)), timeout)  # as ilert/oauth.py
    http = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_maxsize=settings["GUNICORN_THREADS"])
    http.mount("http://", adapter)

    @app.get("/limit")
    def limit():
        response = http.get(url, headers=headers, timeout=timeouts, allow_redirects=False)
        response.raise_for_status()
        return jsonify(response.json())

    return app
