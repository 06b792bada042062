"""URLs of this machine's real servers, and helpers for fault tests that leave them untouched.

Each server fixture first checks that something listens at the URL's host and
port: under ``CI=true`` a missing server fails the test, elsewhere it skips it
with the reason, as DESIGN.md asks.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

DEFAULTS = {
    "postgres": ("INTERLOCK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test", 5432),
    "mysql": ("INTERLOCK_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test", 3306),
    "redis": ("INTERLOCK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0", 6379),
    "amqp": ("INTERLOCK_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/", 5672),
    "nats": ("INTERLOCK_TEST_NATS_URL", "nats://127.0.0.1:4222", 4222),
    "mqtt": ("INTERLOCK_TEST_MQTT_URL", "mqtt://127.0.0.1:1883", 1883),
}


def _server_url(name: str) -> str:
    """The server's URL from its env var, after making sure it listens (fail under CI, else skip)."""
    var, default, default_port = DEFAULTS[name]
    url = os.environ.get(var) or default
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or default_port
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError as exc:
        reason = f"{name} server not reachable at {host}:{port} ({var}): {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return url


@pytest.fixture(scope="session")
def postgres_url() -> str:
    return _server_url("postgres")


@pytest.fixture(scope="session")
def mysql_url() -> str:
    return _server_url("mysql")


@pytest.fixture(scope="session")
def redis_url() -> str:
    return _server_url("redis")


@pytest.fixture(scope="session")
def amqp_url() -> str:
    return _server_url("amqp")


@pytest.fixture(scope="session")
def nats_url() -> str:
    return _server_url("nats")


@pytest.fixture(scope="session")
def mqtt_url() -> str:
    return _server_url("mqtt")


@pytest.fixture
def closed_port() -> int:
    """A local port with nothing listening: connections to it are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A local port that accepts connections and never says a word: a hung server."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()
    for conn in held:
        conn.close()
