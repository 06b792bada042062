"""Issue 9's secrets must-show through the CLI: a secret a failing test prints appears nowhere in the evidence.

One full `interlock run` of a private shop copy is shared by the module. Its
suite gains a failing test that prints three secrets, on stdout and in its
assertion message: one found by its variable's name (SHOP_API_TOKEN), one
marked in the config (`secrets = ["SHOP_LICENCE"]`) and one found by its
shape (a JWT in SHOP_SESSION). The refusal test works on its own copy.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import INTERLOCK, Result, Shop, as_if_a_step_wrote, new_shop

pytestmark = pytest.mark.e2e

SECRETS = {
    "SHOP_API_TOKEN": "tok-7d1e5a09c3b24f68",
    "SHOP_LICENCE": "licence-Zq81-Wm30-Xe77",
    "SHOP_SESSION": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJlMmUtc2VjcmV0cyJ9.bm90LWEtcmVhbC1zaWduYXR1cmU",
}
LEAKY_TEST = '''"""A careless test: prints the credentials it was given, then fails with them in its message."""

import os

import pytest

pytestmark = pytest.mark.integration


def test_prints_its_credentials() -> None:
    token, licence, session = (os.environ[n] for n in ("SHOP_API_TOKEN", "SHOP_LICENCE", "SHOP_SESSION"))
    print(f"calling the partner API with token={token} licence={licence} session={session}")
    assert token == "the partner's token", f"partner rejected token {token!r} (licence {licence}, session {session})"
'''
NODEID = "tests/test_leaky.py::test_prints_its_credentials"


def run_with_secrets(shop: Shop, *args: str) -> Result:
    """The CLI in `shop` with the secrets in its environment, as a CI job would pass them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")} | SECRETS
    done = subprocess.run([*INTERLOCK, *args], cwd=shop.root, capture_output=True, text=True, timeout=400, env=env, stdin=subprocess.DEVNULL)
    return Result(done.returncode, done.stdout, done.stderr)


def leaks(data: bytes) -> list[str]:
    return [name for name, value in SECRETS.items() if value.encode() in data]


@dataclass
class Leaky:
    shop: Shop
    run: Result


@pytest.fixture(scope="module")
def leaky(tmp_path_factory: pytest.TempPathFactory) -> Leaky:
    shop = new_shop(tmp_path_factory.mktemp("secrets"))
    shop.edit("interlock.toml", "probe_timeout = 5.0\n", 'probe_timeout = 5.0\nsecrets = ["SHOP_LICENCE"]\n')
    (shop.root / "tests" / "test_leaky.py").write_text(LEAKY_TEST, "utf-8")
    return Leaky(shop, run_with_secrets(shop, "run", "--env", "integration", "--yes"))


def test_a_secret_printed_by_a_failing_test_appears_nowhere_in_the_evidence(leaky: Leaky) -> None:
    shop, run = leaky.shop, leaky.run
    assert run.code in (0, 1), run.output
    report = json.loads((shop.artifacts / "test-execution-report.json").read_text("utf-8"))
    failure = next(f for f in report["interlock"]["failures"] if f["nodeid"] == NODEID)
    assert failure["outcome"] == "failed" and "***" in failure["message"]  # still reported, only masked
    assert "token=*** licence=*** session=***" in (shop.artifacts / "logs" / "pytest.log").read_text("utf-8")

    files = [p for p in shop.artifacts.rglob("*") if p.is_file()]
    assert shop.artifacts / "INTEGRATION-EVIDENCE.zip" in files, run.output
    found = {str(p.relative_to(shop.artifacts)): leaks(p.read_bytes()) for p in files}
    assert {k: v for k, v in found.items() if v} == {}
    with zipfile.ZipFile(shop.artifacts / "INTEGRATION-EVIDENCE.zip") as bundle:
        in_zip = {info.filename: leaks(bundle.read(info)) for info in bundle.infolist()}
    assert {k: v for k, v in in_zip.items() if v} == {}
    assert leaks(run.output.encode()) == []


def test_a_secret_that_cannot_be_redacted_refuses_sealing_and_fails_gate_4(leaky: Leaky, tmp_path: Path) -> None:
    shop = Shop(tmp_path / "shop")
    shutil.copytree(leaky.shop.root, shop.root, symlinks=True)
    attachments = shop.artifacts / "logs" / "attachments"
    attachments.mkdir(parents=True)
    trace = b"\x89TRACE\x00" + SECRETS["SHOP_API_TOKEN"].encode() + b"\x00\xff"  # binary: cannot be rewritten safely
    (attachments / "trace.bin").write_bytes(trace)
    as_if_a_step_wrote(shop, "3.1", "a test's binary attachment")  # a file made by hand would be refused before the scan

    sealed = run_with_secrets(shop, "bundle", "--env", "integration")
    gates = run_with_secrets(shop, "gates")

    assert sealed.code == 1 and "sealing refused" in sealed.output and "logs/attachments/trace.bin" in sealed.output, sealed.output
    assert not (shop.artifacts / "INTEGRATION-EVIDENCE.zip").exists()  # the earlier bundle no longer stands for the folder
    gate4 = json.loads((shop.artifacts / "gate-results.json").read_text("utf-8"))["gates"][3]
    problem = next(c for c in gate4["conditions"] if c["id"] == "bundle.problems")
    assert gate4["status"] == "fail" and "logs/attachments/trace.bin holds the value of SHOP_API_TOKEN" in problem["reason"]
    assert gates.code == 1 and "logs/attachments/trace.bin" in gates.output
    assert leaks(sealed.output.encode() + gates.output.encode()) == []
    assert [p for p in shop.artifacts.rglob("*") if p.is_file() and leaks(p.read_bytes()) and p.name != "trace.bin"] == []
