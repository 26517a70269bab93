"""The one pooled HTTP session every call to ilert goes through (`ilert/oauth.py` sends them)."""

import os
import re
from http.cookiejar import DefaultCookiePolicy
from urllib.parse import urlsplit

import requests
from flask import Flask

import config


def init_app(app: Flask) -> None:
    """Give the app the one pooled HTTP session every upstream call goes through.

    It keeps no cookies: it serves everybody, and one person's upstream cookies must not
    ride along on another person's calls. Its pool keeps one connection per thread of a
    gunicorn worker (`GUNICORN_THREADS`): with urllib3's default of 10, every call beyond
    the tenth at once would open a new connection (a TLS handshake at ilert) and throw it
    away afterwards. No retries: a token call must never be sent twice.
    """
    http = UpstreamSession()
    http.headers["User-Agent"] = user_agent()
    http.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    adapter = requests.adapters.HTTPAdapter(pool_maxsize=app.config["GUNICORN_THREADS"])
    http.mount("https://", adapter)
    http.mount("http://", adapter)
    app.extensions["ilert_http"] = http


class UpstreamSession(requests.Session):
    """A `requests.Session` that takes the environment's proxies (HTTPS_PROXY, NO_PROXY) and
    CA bundle (REQUESTS_CA_BUNDLE) but never `~/.netrc`: with `trust_env`, requests adds a
    .netrc login for ilert's host to every call that has no credentials of its own, so the
    token and revoke calls would carry someone's password beside the client secret.

    It reads them once per origin (ilert's API has one), when the first call goes there:
    requests would read the whole environment twice on every call, for settings that do not
    change while the app runs."""

    def __init__(self) -> None:
        super().__init__()
        self.trust_env = False  # requests reads no .netrc, nor proxies: added back below
        self.environment: dict[str, tuple[dict[str, str], str | None]] = {}  # by origin

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in self.environment:
            ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
            self.environment[origin] = (requests.utils.get_environ_proxies(url), ca_bundle)
        environ_proxies, ca_bundle = self.environment[origin]
        proxies = {**environ_proxies, **(proxies or {})}
        if (verify is True or verify is None) and ca_bundle:
            verify = ca_bundle
        return super().merge_environment_settings(url, proxies, stream, verify, cert)


def user_agent() -> str:
    """`<app name>/<version>`, the User-Agent of every call to ilert: its logs can tell this
    app's calls from others'."""
    return f"{re.sub(r'[^A-Za-z0-9]+', '-', config.APP_NAME).strip('-')}/{config.APP_VERSION}"
