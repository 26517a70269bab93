"""The programs the suite drives, found on any system: a Chromium for the browser tests and
a redis-server for the Redis tests. A missing one fails the run with one line saying what
to install, never a skip: a suite that skips its browser quietly tests less than it says."""

import os
import shutil
import threading

import pytest
from playwright.sync_api import Browser, Error, Playwright, sync_playwright

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
INSTALL_CHROMIUM = (
    "install Chromium (Debian: apt-get install chromium; macOS: brew install --cask chromium, "
    "or Google Chrome; Windows: use WSL and the Debian line), set CHROMIUM_PATH to a Chromium "
    "or Chrome executable, or run python -m playwright install chromium"
)
INSTALL_REDIS = (
    "install redis-server (Debian: apt-get install redis-server; macOS: brew install redis; "
    "Windows: use WSL and the Debian line) or set REDIS_SERVER to a redis-server executable"
)
INSTALL_NGINX = (
    "install nginx (Debian: apt-get install nginx; macOS: brew install nginx; Windows: use WSL "
    "and the Debian line) or set NGINX to an nginx executable"
)


class MissingTool(pytest.fail.Exception):
    """A program the tests need is not there. It is pytest's own failure without a
    traceback, so the run fails and shows just the one line; scripts catch it by name."""

    def __init__(self, message: str) -> None:
        super().__init__(message, pytrace=False)


def _configured(variable: str, install: str) -> str | None:
    """The executable named by environment `variable`, None if it is unset."""
    path = os.environ.get(variable)
    if not path:
        return None
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise MissingTool(f"{variable}={path} is not an executable file: {install}")
    return path


def chromium_executable(playwright: Playwright | None = None) -> str | None:
    """The browser to launch: `CHROMIUM_PATH`, else chromium, chromium-browser or
    google-chrome on PATH, else None when Playwright's own Chromium is installed (it then
    launches that one). `playwright` is the running Playwright, if there is one."""
    configured = _configured("CHROMIUM_PATH", INSTALL_CHROMIUM)
    if configured:
        return configured
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    if playwright is None:
        with sync_playwright() as started:
            bundled = started.chromium.executable_path
    else:
        bundled = playwright.chromium.executable_path
    if os.path.isfile(bundled):
        return None
    raise MissingTool(f"No Chromium found (nor {', '.join(CHROMIUM_NAMES)}): {INSTALL_CHROMIUM}")


def launch_chromium(playwright: Playwright) -> Browser:
    """A headless Chromium from `chromium_executable`, set up the same way everywhere."""
    executable = chromium_executable(playwright)
    try:
        return playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
    except Error as error:
        # Playwright's headless shell is a download of its own, apart from its Chromium.
        if executable is None and "Executable doesn't exist" in error.message:
            raise MissingTool(f"Playwright's Chromium is incomplete: {INSTALL_CHROMIUM}") from None
        raise


def redis_server_executable() -> str:
    """The redis-server to start: `REDIS_SERVER`, else redis-server on PATH."""
    configured = _configured("REDIS_SERVER", INSTALL_REDIS)
    if configured:
        return configured
    found = shutil.which("redis-server")
    if found:
        return found
    raise MissingTool(f"No redis-server on PATH: {INSTALL_REDIS}")


def nginx_executable() -> str:
    """The nginx to start: `NGINX`, else nginx on PATH or in /usr/sbin (Debian puts it there,
    off the PATH of most users)."""
    configured = _configured("NGINX", INSTALL_NGINX)
    if configured:
        return configured
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if found:
        return found
    raise MissingTool(f"No nginx on PATH: {INSTALL_NGINX}")


def pending_sign_in_secrets(app, cookies):
    """The nonce and PKCE verifier of the one pending sign-in among `cookies` (a name to
    value mapping), opened as the app opens its sign-in cookie."""
    from config import SIGN_IN_COOKIE_PREFIX
    from store import sign_ins

    (name,) = [name for name in cookies if SIGN_IN_COOKIE_PREFIX in name]
    sealer = app.extensions["store"].sealer
    fields, generation = sealer.open_text(
        sign_ins.COOKIE_PURPOSE, name, cookies[name].partition(".")[2]
    )
    verifier = sealer.secret(sign_ins.VERIFIER_PURPOSE, fields["nonce"], generation)
    return fields["nonce"], verifier


def hold_next_call(sandbox_app, path):
    """Hold the sandbox's next request for `path` until the test lets it go: returns the
    events (reached, release). A WSGI wrapper, so it can be put in after the first request."""
    reached, release = threading.Event(), threading.Event()
    inner = sandbox_app.wsgi_app

    def wsgi_app(environ, start_response):
        if environ["PATH_INFO"] == path and not reached.is_set():
            reached.set()
            release.wait(10)
        return inner(environ, start_response)

    sandbox_app.wsgi_app = wsgi_app
    return reached, release
