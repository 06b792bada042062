"""End-to-end fixtures: a private copy of examples/shop on free ports, and the CLI."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import Result

REPO = Path(__file__).resolve().parents[2]
SHOP = REPO / "examples" / "shop"
INTERLOCK = [sys.executable, "-m", "interlock"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest tests first: started last, one of them would keep a worker busy while the other sits idle."""
    items.sort(key=lambda item: item.get_closest_marker("first") is None)


@dataclass
class Shop:
    root: Path

    @property
    def artifacts(self) -> Path:
        return self.root / ".artifacts" / "integration"

    @property
    def config(self) -> Path:
        return self.root / "interlock.toml"

    def edit(self, relative: str, old: str, new: str, count: int = 1) -> None:
        path = self.root / relative
        text = path.read_text("utf-8")
        assert old in text, f"{old!r} not in {relative}"
        path.write_text(text.replace(old, new, count), "utf-8")

    def interlock(self, *args: str, timeout: float = 400) -> Result:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
        done = subprocess.run([*INTERLOCK, *args], cwd=self.root, capture_output=True, text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL)
        return Result(done.returncode, done.stdout, done.stderr)


def require_server(host: str, port: int, name: str) -> None:
    """Under CI=true a missing shared server fails the test; elsewhere it is skipped with the reason."""
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError as exc:
        reason = f"{name} at {host}:{port} is not reachable ({exc})"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture
def shop(tmp_path: Path) -> Shop:
    """examples/shop copied to tmp, with a sign-off key."""
    return new_shop(tmp_path)


def new_shop(base: Path) -> Shop:
    """A private copy of examples/shop under `base` with a key pair (also for module-scoped runs).

    The shop's services have `port = "auto"`: each run gets free ports of its own,
    so copies run side by side as they are.
    """
    root = base / "shop"
    shutil.copytree(SHOP, root, ignore=shutil.ignore_patterns(".interlock", ".artifacts", ".run", "__pycache__"))
    assert "18081" not in (root / "interlock.toml").read_text("utf-8"), "the demo's services must take auto ports"
    made = Shop(root)
    result = made.interlock("keygen", "--out", ".interlock/keys/signoff.key")
    assert result.code == 0, result.output
    return made


PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


def _drop_exchange(exchange: str) -> None:
    """Remove a test run's exchange and the shop's queues on it from the shared RabbitMQ."""
    import asyncio

    import aio_pika

    async def drop() -> None:
        connection = await aio_pika.connect(AMQP_URL, timeout=5)
        async with connection:
            channel = await connection.channel()
            await channel.queue_delete(f"{exchange}.shipping.order-created")
            await channel.exchange_delete(exchange)

    asyncio.run(drop())


@pytest.fixture
def production_like(shop: Shop) -> Iterator[Shop]:
    """The shop copy's production-like environment on a private PostgreSQL database and a private RabbitMQ exchange.

    Other tests run at the same time (-n 2) on the same servers: the demo re-seeds
    `products` and its shipping service consumes `order.created`, so a shared
    database or exchange would let two runs see each other's data and messages.
    """
    require_server("127.0.0.1", 5432, "PostgreSQL")
    require_server("127.0.0.1", 5672, "RabbitMQ")
    import psycopg

    suffix = uuid.uuid4().hex[:12]
    database, exchange = f"interlock_e2e_{suffix}", f"shop.events.e2e-{suffix}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {database}")
    shop.edit("interlock.toml", "127.0.0.1:5432/test", f"127.0.0.1:5432/{database}", count=2)  # SHOP_DB_URL and the store
    shop.edit("interlock.toml", '"shop.events"', f'"{exchange}"', count=2)  # SHOP_EXCHANGE and the broker's exchange
    try:
        yield shop
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        _drop_exchange(exchange)


def as_if_a_step_wrote(shop: Shop, step: str, reason: str) -> dict[str, str]:
    """Append the run-ledger line a step writing the folder's new files would have (no demo step writes them); returns them.

    For tests that need evidence the demo never produces (large logs, a binary attachment holding a secret):
    without the line, `bundle` refuses such a file as made by hand before it looks any further.
    """
    from interlock import identity, ledger

    read = ledger.read(shop.artifacts)
    before = {rel: made.sha256 for rel, made in ledger.replay(read.entries if read else []).items()}
    products, removed = ledger.changes(before, ledger.tracked(shop.artifacts))
    ledger.append(shop.artifacts, step=step, kind="step", command="interlock test", by="e2e", reason=reason, run_id="e2e",
                  identity=identity.current(shop.root, shop.artifacts), config=None, materials=before, products=products, removed=removed)
    return products
