"""The HTTP probe against a local `http.server` in a thread: status, latency, TLS expiry."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from interlock.checks import Check
from interlock.probes.http import probe_http


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/slow":
            time.sleep(0.3)
        status = 500 if self.path == "/error" else 200
        body = b'{"status": "ok"}'
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve(context: ssl.SSLContext | None = None) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    scheme = "https" if context else "http"
    yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    yield from serve()


@pytest.fixture(scope="module")
def tls_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An https server whose self-signed certificate expires in 5 days and an hour."""
    folder: Path = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=5, hours=1))
        .sign(key, hashes.SHA256())
    )
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    yield from serve(context)


def probe(url: str, **options: Any) -> Check:
    unverified = ssl.create_default_context()
    unverified.check_hostname, unverified.verify_mode = False, ssl.CERT_NONE  # the test's self-signed certificate
    return asyncio.run(probe_http("api", url, timeout=2.0, tls=unverified, **options))


def test_a_200_passes_with_its_latency(base_url: str) -> None:
    check = probe(f"{base_url}/health")
    assert (check.kind, check.status, check.target) == ("http", "pass", f"{base_url}/health")
    assert check.details["status_code"] == 200
    assert 0 < check.details["latency_ms"] < 1000
    assert "cert_days_left" not in check.details


def test_a_500_fails_naming_the_status(base_url: str) -> None:
    check = probe(f"{base_url}/error")
    assert check.status == "fail"
    assert check.reason == f"{base_url.removeprefix('http://')}: status 500, expected 200"
    assert probe(f"{base_url}/error", expect_status=(500, 503)).status == "pass"


def test_a_slow_answer_fails_on_latency(base_url: str) -> None:
    check = probe(f"{base_url}/slow", max_latency_ms=100)
    assert check.status == "fail"
    assert "latency " in check.reason and " ms exceeds 100 ms" in check.reason
    assert check.details["latency_ms"] >= 300
    assert probe(f"{base_url}/slow", max_latency_ms=5000).status == "pass"


def test_a_closed_port_fails_naming_it() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    check = probe(f"http://user:pw-123@127.0.0.1:{port}/health")
    assert check.reason == f"127.0.0.1:{port}: connection refused"
    assert check.target == f"http://user:***@127.0.0.1:{port}/health"


def test_a_certificate_close_to_expiry_fails(tls_url: str) -> None:
    check = probe(f"{tls_url}/health")
    assert check.status == "fail"
    assert check.reason.endswith(": TLS certificate expires in 5 days (fewer than 14)")
    assert check.details["cert_days_left"] == 5
    assert probe(f"{tls_url}/health", cert_min_days=3).status == "pass"
