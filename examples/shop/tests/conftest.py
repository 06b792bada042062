"""Fixtures for the shop's integration suite: where the running services are.

Markers (integration, critical, interface) are registered by interlock's
pytest plugin and by this folder's pytest.ini; this file only provides
fixtures. The URLs come from the environment interlock sets for the run.
Every request of the `http` client carries the running test's W3C
`traceparent` (interlock's `traced_http` hook) while interlock's OTLP
receiver runs, so the services' spans join each test's trace.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest

from interlock.pytest_plugin import traced_http


def _url(service: str, port: int) -> str:
    return os.environ.get(f"INTERLOCK_SERVICE_{service.upper()}_URL") or f"http://127.0.0.1:{port}"


@pytest.fixture(scope="session")
def catalog_url() -> str:
    """Base URL of catalog (``INTERLOCK_SERVICE_CATALOG_URL``)."""
    return _url("catalog", 18081)


@pytest.fixture(scope="session")
def orders_url() -> str:
    """Base URL of orders (``INTERLOCK_SERVICE_ORDERS_URL``)."""
    return _url("orders", 18082)


@pytest.fixture(scope="session")
def shipping_url() -> str:
    """Base URL of shipping (``INTERLOCK_SERVICE_SHIPPING_URL``)."""
    return _url("shipping", 18083)


@pytest.fixture(scope="session")
def http() -> Iterator[httpx.Client]:
    """One HTTP client for the session; absolute URLs, 10 s timeout, each request in its test's trace."""
    with httpx.Client(timeout=10.0, event_hooks={"request": [traced_http]}) as client:
        yield client
