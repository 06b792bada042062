"""Start the clinic's providers on free ports for the integration tests (a Redis at $REDIS_URL for appointments)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def redis_url() -> str:
    return os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def start(module: str, redis_url: str) -> Iterator[str]:
    """Run `clinic.<module>` unless $<MODULE>_URL names a running one; yield its URL."""
    given = os.environ.get(f"{module.upper()}_URL")
    if given:
        yield given.rstrip("/")
        return
    port = free_port()
    env = {**os.environ, "PORT": str(port), "REDIS_URL": redis_url, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-m", f"clinic.{module}"], env=env, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            pytest.fail(f"clinic.{module} did not become healthy at {url}")
        time.sleep(0.05)
    try:
        yield url
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="session")
def patients_url(redis_url: str) -> Iterator[str]:
    yield from start("patients", redis_url)


@pytest.fixture(scope="session")
def appointments_url(redis_url: str) -> Iterator[str]:
    yield from start("appointments", redis_url)
