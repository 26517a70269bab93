"""The store's locks need no `fcntl` (Windows has none): sign-in and a burst of requests at
token expiry, in a process where `import fcntl` fails, still make exactly one refresh."""

import subprocess
import sys
import textwrap

import pytest
from conftest import ROOT

pytestmark = pytest.mark.slow  # a Python process of its own

SCRIPT = textwrap.dedent(
    """
    import sys, threading
    sys.modules["fcntl"] = None  # `import fcntl` now fails, as on Windows
    try:
        import fcntl
        raise SystemExit("fcntl could still be imported")
    except ImportError:
        pass
    import warnings
    warnings.filterwarnings("ignore", "only soft file lock is available")
    from urllib.parse import urlsplit
    import filelock, requests
    from app import create_app
    from sandbox import CLIENT_ID, CLIENT_SECRET, DEFAULT_REDIRECT_URI
    import sandbox

    upstream = sandbox.serve_in_thread(
        sandbox.create_app(redirect_uris=[DEFAULT_REDIRECT_URI], access_token_ttl=3600),
        "127.0.0.1", 0,
    )
    url = f"http://127.0.0.1:{upstream.server_port}"
    offset = [0.0]
    import time
    app = create_app(
        {
            "ILERT_CLIENT_ID": CLIENT_ID, "ILERT_CLIENT_SECRET": CLIENT_SECRET,
            "ILERT_AUTH_URL": url, "ILERT_API_URL": url,
            "SECRET_KEY": "a-long-enough-secret-key-for-the-test",
            "SESSION_FILE_DIR": sys.argv[1],
        },
        clock=lambda: time.time() + offset[0],
    )
    from config import SESSION_COOKIE
    base = {"base_url": urlsplit(DEFAULT_REDIRECT_URI)._replace(path="").geturl()}
    browser = app.test_client()
    login = browser.get("/login", **base)
    granted = requests.post(
        login.headers["Location"], data={"user": "ada.lovelace", "decision": "allow"},
        allow_redirects=False, timeout=5,
    )
    callback = urlsplit(granted.headers["Location"])
    assert browser.get(f"{callback.path}?{callback.query}", **base).status_code == 302
    cookie = browser.get_cookie(SESSION_COOKIE).value
    offset[0] = 3600  # every request now finds the access token expired
    statuses, start = [], threading.Barrier(8)

    def me():
        client = app.test_client()
        client.set_cookie(SESSION_COOKIE, cookie, domain="localhost")
        start.wait()
        statuses.append(client.get("/me", **base).status_code)

    threads = [threading.Thread(target=me) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = requests.get(f"{url}/_sandbox/stats", timeout=5).json()
    print("lock:", filelock.FileLock.__name__)
    print("statuses:", sorted(statuses))
    print("refreshes:", stats["token"]["refresh_token"])
    """
)


def test_sign_in_and_a_concurrent_refresh_work_without_fcntl(tmp_path):
    finished = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "store")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 0, finished.stderr
    assert "lock: SoftFileLock" in finished.stdout
    assert f"statuses: {[200] * 8}" in finished.stdout
    assert "refreshes: 1" in finished.stdout
