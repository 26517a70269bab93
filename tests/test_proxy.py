"""Production behind the shipped nginx config (deploy/nginx.conf), with a real nginx and the
production command: slow clients cost nginx, never gunicorn, and the app believes
X-Forwarded-* only from the proxy on its own machine."""

import datetime
import http.client
import json
import math
import os
import re
import signal
import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import urllib3
from conftest import LANDING, ROOT, free_port
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from test_production import GUNICORN, environ_for

from app import ForwardedByLocalProxy
from config import CALLBACK_PATH
from tests.tools import nginx_executable

TRICKLING = 300
SHIPPED = os.path.join(ROOT, "deploy", "nginx.conf")


def self_signed_certificate(folder):
    """A certificate and key for localhost, as files in `folder`."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    (folder / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return folder / "cert.pem", folder / "key.pem"


def shipped_config_for(folder, app_port, http_port, https_port):
    """deploy/nginx.conf with this test's ports and certificate in place of the placeholders;
    every other line as shipped."""
    certificate, key = self_signed_certificate(folder)
    with open(SHIPPED) as shipped:
        config = shipped.read()
    replacements = {
        "server 127.0.0.1:<PORT>;": f"server 127.0.0.1:{app_port};",
        "location = <CALLBACK_PATH> {": f"location = {CALLBACK_PATH} {{",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen 443 ssl;": f"listen 127.0.0.1:{https_port} ssl;",
        "listen [::]:80;": "",
        "listen [::]:443 ssl;": "",
        "/etc/letsencrypt/live/app.example.com/fullchain.pem": str(certificate),
        "/etc/letsencrypt/live/app.example.com/privkey.pem": str(key),
    }
    for placeholder, value in replacements.items():
        assert config.count(placeholder) == 1, placeholder
        config = config.replace(placeholder, value)
    site = folder / "site.conf"
    site.write_text(config)
    main = folder / "nginx.conf"
    temporary = folder / "temp"
    temporary.mkdir()
    main.write_text(
        f"""daemon off;
worker_processes 1;
pid {folder}/nginx.pid;
error_log stderr warn;
{"user root;" if os.geteuid() == 0 else ""}
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {temporary}/body;
    proxy_temp_path {temporary}/proxy;
    fastcgi_temp_path {temporary}/fastcgi;
    uwsgi_temp_path {temporary}/uwsgi;
    scgi_temp_path {temporary}/scgi;
    include {site};
}}
"""
    )
    return main


@pytest.fixture
def behind_nginx(start_server, start_sandbox, tmp_path):
    """gunicorn (one worker of 4 threads: small on purpose) behind nginx with the shipped
    config; returns (gunicorn, nginx's https port)."""
    app_port, http_port, https_port = free_port(), free_port(), free_port()
    redirect_uri = f"https://localhost:{https_port}{CALLBACK_PATH}"
    sandbox = start_sandbox(redirect_uris=[redirect_uri])
    environ = environ_for(
        sandbox,
        app_port,
        tmp_path,
        ILERT_REDIRECT_URI=redirect_uri,
        WEB_CONCURRENCY=1,
        GUNICORN_THREADS=4,
        HOME=tmp_path,  # where gunicorn's control socket would be made
    )
    gunicorn = start_server(GUNICORN, environ, app_port)
    config = shipped_config_for(tmp_path, app_port, http_port, https_port)
    start_server(
        [nginx_executable(), "-c", str(config), "-p", str(tmp_path)],
        {"PATH": os.environ["PATH"]},
        https_port,
        stop_signal=signal.SIGQUIT,
    )
    # gunicorn's master listens before its worker has booted: the tests' bounds start once the
    # app answers.
    assert answers_within(f"http://127.0.0.1:{app_port}", seconds=30)
    return gunicorn, https_port


def client_tls():
    """TLS that takes the test's self-signed certificate (no CA certificates loaded: loading
    them for each of hundreds of connections took seconds)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class Trickle:
    """`count` connections that send a request head a byte at a time, never finishing it."""

    def __init__(self, port, count, tls):
        tls_context = client_tls()

        def connect(_):
            connection = socket.create_connection(("127.0.0.1", port), timeout=10)
            if tls:
                connection = tls_context.wrap_socket(connection, server_hostname="localhost")
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
            return connection

        with ThreadPoolExecutor(32) as pool:  # all open within a few seconds, even on 2 cores
            self.connections = list(pool.map(connect, range(count)))
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._drip, daemon=True)
        self.thread.start()

    def _drip(self):
        while not self.stopped.wait(0.5):
            for connection in self.connections:
                try:
                    connection.send(b"x")
                except OSError:
                    pass

    def still_open(self):
        """How many connections the server has not closed yet."""
        open_ = 0
        for connection in self.connections:
            connection.setblocking(False)
            try:
                connection.recv(1)  # an answer (408) or the end: the server let go of it
            except (BlockingIOError, ssl.SSLWantReadError):
                open_ += 1  # nothing to read: still waiting for the rest of the head
            except OSError:
                pass
            finally:
                connection.setblocking(True)
        return open_

    def stop(self):
        self.stopped.set()
        self.thread.join()
        for connection in self.connections:
            connection.close()


def healthz_within_a_second(url):
    """Whether /healthz answered ok within a second."""
    with urllib3.warnings.catch_warnings():
        urllib3.warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
        try:
            answer = requests.get(f"{url}/healthz", timeout=1, verify=False)
        except requests.RequestException:
            return False
    return answer.status_code == 200 and answer.json()["status"] == "ok"


def answers_within(url, seconds):
    """Whether /healthz answered ok within `seconds`, asked again until then."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if healthz_within_a_second(url):
            return True
        time.sleep(0.2)
    return False


@pytest.mark.slow
@pytest.mark.xdist_group("waits in real time")
def test_slow_clients_at_the_proxy_leave_healthz_answering(behind_nginx):
    gunicorn, https_port = behind_nginx
    proxied = f"https://localhost:{https_port}"
    assert healthz_within_a_second(proxied)
    trickle = Trickle(https_port, TRICKLING, tls=True)
    try:
        assert trickle.still_open() == TRICKLING
        answered = []
        for _ in range(5):
            answered.append(healthz_within_a_second(proxied))
            time.sleep(0.2)
        assert trickle.still_open() == TRICKLING  # they were all there while it answered
    finally:
        trickle.stop()
    assert answered == [True] * 5

    # The same trickle straight at gunicorn takes its threads: what the proxy is there for.
    trickle = Trickle(gunicorn.port, TRICKLING, tls=False)
    try:
        time.sleep(1)
        direct = [healthz_within_a_second(f"http://127.0.0.1:{gunicorn.port}") for _ in range(3)]
    finally:
        trickle.stop()
    assert direct != [True] * 3


@pytest.mark.slow
@pytest.mark.xdist_group("waits in real time")
def test_the_app_believes_the_proxys_forwarded_address(behind_nginx):
    gunicorn, https_port = behind_nginx
    connection = http.client.HTTPSConnection(
        "localhost", https_port, source_address=("127.0.0.2", 0), context=client_tls(), timeout=5
    )
    connection.request("GET", "/healthz", headers={"X-Forwarded-For": "203.0.113.7"})
    answer = connection.getresponse()
    body = json.loads(answer.read())
    connection.close()
    assert answer.status == 200 and body["status"] == "ok"
    deadline = time.monotonic() + 5
    while "127.0.0.2 " not in gunicorn.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = [line for line in gunicorn.log().splitlines() if "GET /healthz" in line]
    assert any(line.startswith("127.0.0.2 ") for line in lines)  # nginx's $remote_addr
    assert "203.0.113.7" not in gunicorn.log()  # what the client claimed was replaced


@pytest.mark.slow
@pytest.mark.xdist_group("waits in real time")
def test_a_clients_request_id_is_replaced_by_the_proxys(behind_nginx):
    """The app trusts X-Request-ID from the proxy on its machine (logs.RequestIds): nginx
    must set its own, or any client could choose the id of its log lines and error page."""
    gunicorn, https_port = behind_nginx
    chosen = "chosen-by-the-client-0123"
    connection = http.client.HTTPSConnection(
        "localhost", https_port, context=client_tls(), timeout=5
    )
    connection.request("GET", "/healthz", headers={"X-Request-ID": chosen})
    answer = connection.getresponse()
    answer.read()
    connection.close()
    assert answer.status == 200
    assert re.fullmatch("[0-9a-f]{32}", answer.getheader("X-Request-ID"))  # nginx's $request_id
    assert chosen not in gunicorn.log()


class FromAddress(requests.adapters.HTTPAdapter):
    """Connections from another loopback address: another client, to nginx's rate limit."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, source_address=("127.0.0.2", 0), **kwargs)


@pytest.mark.slow
@pytest.mark.xdist_group("waits in real time")
def test_a_flood_of_forged_callbacks_from_one_address_leaves_others_signing_in(behind_nginx):
    """Each callback costs a call to ilert from the deployment's one budget: the shipped config
    lets one address send a burst and then a few a minute, so a flood of forged ones (a sign-in
    cookie of the flooder's own and a made-up code) mostly never reaches the app, and someone
    else signs in meanwhile. How many get through depends on how long the flood took (a loaded
    machine sends it slower), so that is measured, not assumed."""
    gunicorn, https_port = behind_nginx
    with open(SHIPPED) as config:
        shipped = config.read()
    per_minute = int(re.search(r"zone=ilert_sign_ins:\S+ rate=(\d+)r/m;", shipped)[1])
    burst = int(re.search(r"limit_req zone=ilert_sign_ins burst=(\d+) nodelay;", shipped)[1])
    proxied = f"https://localhost:{https_port}"
    statuses = []
    started = time.monotonic()
    with urllib3.warnings.catch_warnings():
        urllib3.warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
        for _ in range(40):
            flooder = requests.Session()  # verify=False each time: REQUESTS_CA_BUNDLE would win
            login = flooder.get(f"{proxied}/login", allow_redirects=False, verify=False)
            state = parse_qs(urlsplit(login.headers["Location"]).query)["state"][0]
            forged = f"{proxied}{CALLBACK_PATH}?state={state}&code=made-up"
            statuses.append(flooder.get(forged, allow_redirects=False, verify=False).status_code)
        flooded_for = time.monotonic() - started
        person = requests.Session()
        person.mount(proxied, FromAddress())
        consent = person.get(f"{proxied}/login", verify=False, timeout=10)
        signed_in = person.post(
            consent.url, data={"user": "ada.lovelace", "decision": "allow"}, verify=False
        )
    # The first one, the burst, and one for each interval the flood lasted, begun or not.
    let_through = 1 + burst + math.ceil(flooded_for * per_minute / 60)
    reached = gunicorn.log().count(f"GET {CALLBACK_PATH}?")
    assert statuses.count(429) >= 40 - let_through, (statuses, flooded_for)
    assert reached <= let_through + 1, (reached, flooded_for)  # and the person's
    assert set(statuses) == {400, 429}  # the app's "not valid" page for the ones let through
    assert signed_in.status_code == 200 and signed_in.url == f"{proxied}{LANDING}"


@pytest.mark.slow
@pytest.mark.xdist_group("waits in real time")
def test_gunicorns_control_socket_is_off(behind_nginx, tmp_path):
    gunicorn, _ = behind_nginx
    assert healthz_within_a_second(f"http://127.0.0.1:{gunicorn.port}")
    assert not (tmp_path / ".gunicorn").exists()


def forwarded(remote_addr):
    """What the app sees of a request from `remote_addr` that claims to be forwarded."""
    seen = {}

    def wsgi_app(environ, start_response):
        seen.update(address=environ["REMOTE_ADDR"], scheme=environ["wsgi.url_scheme"])
        start_response("204 No Content", [])
        return []

    environ = {
        "REMOTE_ADDR": remote_addr,
        "wsgi.url_scheme": "http",
        "HTTP_HOST": "app.example.com",
        "HTTP_X_FORWARDED_FOR": "203.0.113.7",
        "HTTP_X_FORWARDED_PROTO": "https",
    }
    ForwardedByLocalProxy(wsgi_app)(environ, lambda status, headers: None)
    return seen


@pytest.mark.parametrize("remote_addr", ["127.0.0.1", "::1"])
def test_forwarded_headers_are_believed_from_a_proxy_on_this_machine(remote_addr):
    assert forwarded(remote_addr) == {"address": "203.0.113.7", "scheme": "https"}


@pytest.mark.parametrize("remote_addr", ["198.51.100.4", "10.0.0.8", ""])
def test_forwarded_headers_from_anywhere_else_are_ignored(remote_addr):
    assert forwarded(remote_addr) == {"address": remote_addr, "scheme": "http"}
