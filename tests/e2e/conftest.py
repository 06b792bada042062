"""End-to-end fixtures: a private copy of examples/shop on free ports, and the CLI."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import Result

REPO = Path(__file__).resolve().parents[2]
SHOP = REPO / "examples" / "shop"
INTERLOCK = [sys.executable, "-m", "interlock"]
#: `interlock`'s entry point run once per command of a JSON list on stdin, each with its own argv, stdout, stderr and exit code.
_MANY = """
import contextlib, io, json, sys, traceback
from interlock.cli import main
results = []
for args in json.load(sys.stdin):
    out, err, code = io.StringIO(), io.StringIO(), 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        sys.argv = ["interlock", *args]
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            traceback.print_exc()
            code = 1
    results.append([code, out.getvalue(), err.getvalue()])
json.dump(results, sys.__stdout__)
"""


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

    def interlock_many(self, *commands: tuple[str, ...], timeout: float = 400) -> list[Result]:
        """What `interlock` gives back for each command, all run by one process calling interlock's `main` once per command.

        For one cheap command over many inputs (`verify` on every tampered copy of a bundle):
        one interpreter start and import instead of one per input, each about a second of CPU.
        A command that raises past `main` shows its traceback in its own stderr.
        """
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
        done = subprocess.run([sys.executable, "-c", _MANY], cwd=self.root, input=json.dumps(commands), capture_output=True, text=True,
                              timeout=timeout, env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        return [Result(code, out, err) for code, out, err in json.loads(done.stdout)]


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


#: The first keyed shop of this process, kept untouched: later shops copy its key pair instead of running
#: `interlock keygen` again (a whole interpreter start, about a second of CPU per test).
_KEYED: list[Path] = []


@pytest.fixture(scope="session", autouse=True)
def _keyed_shop(tmp_path_factory: pytest.TempPathFactory) -> None:
    if not _KEYED:
        _KEYED.append(_keygen_shop(tmp_path_factory.mktemp("keyed")).root)


def _keygen_shop(base: Path) -> Shop:
    root = base / "shop"
    shutil.copytree(SHOP, root, ignore=shutil.ignore_patterns(".interlock", ".artifacts", ".run", "__pycache__"))
    made = Shop(root)
    # A copy under the test's temporary folder is in no git work tree unless the test commits it (`committed`):
    # its evidence is signed as of no commit by this explicit choice (the in-place example is in interlock's repository).
    made.edit("interlock.toml", "[signoff]\n", "[signoff]\nallow_no_commit = true\n")
    result = made.interlock("keygen", "--out", ".interlock/keys/signoff.key")
    assert result.code == 0, result.output
    return made


def new_shop(base: Path) -> Shop:
    """A private copy of examples/shop under `base` with a key pair (also for module-scoped runs).

    The shop's services have `port = "auto"`: each run gets free ports of its own,
    so copies run side by side as they are.
    """
    made = Shop(shutil.copytree(_KEYED[0], base / "shop", symlinks=True)) if _KEYED else _keygen_shop(base)
    assert "18081" not in made.config.read_text("utf-8"), "the demo's services must take auto ports"
    assert (made.root / ".interlock" / "keys" / "signoff.key").is_file()
    return made


def git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(root), "-c", "user.name=e2e", "-c", "user.email=e2e@example.com", "-c", "commit.gpgsign=false", *args],
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


def committed(shop: Shop) -> str:
    """Put the shop copy under git (its evidence and interlock's folder ignored) and return the commit."""
    (shop.root / ".gitignore").write_text(".artifacts/\n.interlock/\n.run/\n__pycache__/\n.pytest_cache/\n", "utf-8")
    git(shop.root, "init", "-q")
    git(shop.root, "add", "-A")
    git(shop.root, "commit", "-qm", "A")
    return git(shop.root, "rev-parse", "HEAD")


@dataclass(frozen=True)
class Finished:
    """A finished `interlock run` of a shop copy, made once per session: tests read it or take copies, never change it."""

    shop: Shop
    run: Result
    commit: str | None

    def copy(self, target: Path) -> Shop:
        """The finished shop, artifacts and git history included, at `target` (a copy is still whole evidence)."""
        return Shop(shutil.copytree(self.shop.root, target, symlinks=True))


def finished_run(factory: pytest.TempPathFactory, name: str, args: tuple[str, ...], code: int,
                 change: Callable[[Shop], None] = lambda shop: None, in_git: bool = True) -> Finished:
    """The run `name` of a new shop (`change`d, then committed to git unless not `in_git`), exiting with `code`.

    Made by the first xdist worker that asks, under a file lock in the session's
    folder both workers share; the other waits for it and reads the same run, so
    a module whose tests the two workers split runs it once, not twice.
    """
    base = factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    folder, saved = shared / f"finished-{name}", shared / f"finished-{name}.json"
    with (shared / f"finished-{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not saved.is_file():
            shutil.rmtree(folder, ignore_errors=True)  # what a failed attempt left
            shop = new_shop(folder)
            change(shop)
            commit = committed(shop) if in_git else None
            result = shop.interlock(*args)
            assert result.code == code, result.output
            saved.write_text(json.dumps({"code": result.code, "stdout": result.stdout, "stderr": result.stderr, "commit": commit}), "utf-8")
        data = json.loads(saved.read_text("utf-8"))
    return Finished(Shop(folder / "shop"), Result(data["code"], data["stdout"], data["stderr"]), data["commit"])


@pytest.fixture(scope="session")
def passed_run(tmp_path_factory: pytest.TempPathFactory) -> Finished:
    """`interlock run --env integration --yes` of the shop at a git commit: all four gates pass, the evidence is sealed and signed."""
    return finished_run(tmp_path_factory, "passed", ("run", "--env", "integration", "--yes"), 0)


def _break_place_order(shop: Shop) -> None:
    """The critical test tests/test_checkout.py::test_place_order now expects a status the service never answers."""
    shop.edit("tests/test_checkout.py", "assert response.status_code == 201", "assert response.status_code == 299")


@pytest.fixture(scope="session")
def halted_run(tmp_path_factory: pytest.TempPathFactory) -> Finished:
    """`interlock run --env integration` (no --yes) of the shop at a git commit whose critical test fails: halted at the defect review (exit 3)."""
    return finished_run(tmp_path_factory, "halted", ("run", "--env", "integration"), 3, change=_break_place_order)


def _expect_a_rating(shop: Shop) -> None:
    """The consumer now expects a field the provider does not serve: only this interaction can fail."""
    shop.edit("contracts/pacts/orders-catalog.json", '"currency": "EUR", "stock": 120}', '"currency": "EUR", "stock": 120, "rating": 5}')


@pytest.fixture(scope="session")
def rating_run(passed_run: Finished, tmp_path_factory: pytest.TempPathFactory) -> Finished:
    """`interlock run --env integration --yes` of the shop whose orders->catalog pact expects a `rating` the catalog never serves (exit 1).

    Made after `passed_run` (so a history holding both lists this one as the newer, as two runs in a row would).
    """
    return finished_run(tmp_path_factory, "rating", ("run", "--env", "integration", "--yes"), 1, change=_expect_a_rating, in_git=False)


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
