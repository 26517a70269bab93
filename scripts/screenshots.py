"""Regenerate the README's screenshots: `python scripts/screenshots.py`.

Starts `python app.py` in sandbox mode on free ports (nothing here talks to ilert),
drives Chromium (the one the tests use, found by `tests.tools`) through the pages as a
person would, and writes PNGs to docs/screenshots/. `--all DIR` also writes every page,
error pages included, at a desktop and a phone width to DIR, for a look before a release.
"""

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `python scripts/screenshots.py` puts only scripts/ on the path
from config import CALLBACK_PATH, redirect_uri_at  # noqa: E402
from tests.tools import MissingTool, launch_chromium  # noqa: E402

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
# The README's set: (shot, viewport).
README_SHOTS = {
    ("home", "desktop"),
    ("consent", "desktop"),
    ("profile", "desktop"),
    ("profile", "phone"),
    ("token-info", "desktop"),
    ("alert-sources", "desktop"),
    ("flow-inspector", "desktop"),
    ("signed-out", "desktop"),
    ("access-denied", "desktop"),
}


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port, process, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"python app.py exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"python app.py did not listen on port {port}")


def start_app(session_dir):
    """`python app.py` in sandbox mode on free ports; returns (process, app URL, sandbox URL)."""
    port, sandbox_port = free_port(), free_port()
    environ = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "PYTHON_DOTENV_DISABLED": "1",
        "PORT": str(port),
        "SANDBOX_PORT": str(sandbox_port),
        "ILERT_REDIRECT_URI": redirect_uri_at(port),
        "SESSION_FILE_DIR": session_dir,
    }
    process = subprocess.Popen(
        [sys.executable, "app.py"],
        cwd=ROOT,
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port, process)
    wait_for_port(sandbox_port, process)
    return process, f"http://localhost:{port}", f"http://127.0.0.1:{sandbox_port}", sandbox_port


class Tour:
    """One browser context at one viewport, walking through every page."""

    def __init__(self, browser, viewport, app_url, sandbox_url, save):
        self.page = browser.new_context(viewport=VIEWPORTS[viewport]).new_page()
        self.viewport = viewport
        self.app_url = app_url
        self.sandbox_url = sandbox_url
        self.save = save

    def shoot(self, name):
        self.page.wait_for_load_state("networkidle")
        self.save(name, self.viewport, self.page.screenshot(full_page=True))

    def fault(self, **fields):
        """Make the sandbox answer the next call of an endpoint differently."""
        requests.post(f"{self.sandbox_url}/_sandbox/faults", json=fields, timeout=5)

    def go(self, path):
        return self.page.goto(self.app_url + path)

    def sign_in(self):
        self.page.get_by_role("link", name="Sign in with ilert", exact=True).first.click()
        self.page.get_by_role("button", name="Allow").wait_for()

    def walk(self):
        page = self.page
        self.go("/")
        self.shoot("home")
        self.sign_in()
        self.shoot("consent")
        page.get_by_role("button", name="Allow").click()
        page.wait_for_url(self.app_url + "/me")
        self.shoot("profile")
        page.get_by_role("link", name="Token info", exact=True).click()
        self.shoot("token-info")
        page.get_by_role("link", name="Alert sources", exact=True).first.click()
        self.shoot("alert-sources")
        if self.go("/flow-inspector").status != 404:
            self.shoot("flow-inspector")

        self.fault(endpoint="alert_sources", status=200, body="[]")
        self.go("/alert-sources")
        self.shoot("alert-sources-empty")
        self.fault(endpoint="alert_sources", status=403, body='{"error": "Forbidden"}')
        self.go("/alert-sources")
        self.shoot("error-missing-scope")
        self.fault(endpoint="users_current", status=503, body='{"error": "Unavailable"}')
        self.go("/me")
        self.shoot("error-ilert-unavailable")
        self.go("/nowhere")
        self.shoot("error-not-found")

        self.go("/me")
        page.get_by_role("button", name="Log out").click()
        page.wait_for_url(self.app_url + "/")
        self.shoot("signed-out")

        self.go(f"{CALLBACK_PATH}?state=forged&code=x")
        self.shoot("error-forged-callback")
        self.go("/")
        self.sign_in()
        page.get_by_role("button", name="Deny").click()
        page.wait_for_url(f"{self.app_url}{CALLBACK_PATH}*")
        self.shoot("access-denied")

        page.get_by_role("link", name="Sign in again").click()
        page.get_by_role("button", name="Allow").click()
        page.wait_for_url(self.app_url + "/me")
        self.fault(endpoint="users_current", status=401, body='{"error": "Unauthorized"}', count=2)
        self.go("/me")
        self.shoot("session-ended")
        page.context.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    parser.add_argument("--all", metavar="DIR", help="also write every page at both widths here")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    every = Path(args.all) if args.all else None
    if every:
        every.mkdir(parents=True, exist_ok=True)

    def save(name, viewport, png):
        if (name, viewport) in README_SHOTS:
            filename = name if viewport == "desktop" else f"{name}-{viewport}"
            (out / f"{filename}.png").write_bytes(png)
            print(f"wrote {out / filename}.png")
        if every:
            (every / f"{name}-{viewport}.png").write_bytes(png)

    with tempfile.TemporaryDirectory() as session_dir:
        process, app_url, sandbox_url, sandbox_port = start_app(session_dir)
        try:
            with sync_playwright() as playwright:
                browser = launch_chromium(playwright)
                for viewport in VIEWPORTS:
                    Tour(browser, viewport, app_url, sandbox_url, save).walk()
                browser.close()
        finally:
            process.terminate()
            process.wait(timeout=10)
            (ROOT / "instance" / f"sandbox-{sandbox_port}.json").unlink(missing_ok=True)


if __name__ == "__main__":
    try:
        main()
    except MissingTool as missing:
        sys.exit(str(missing))
