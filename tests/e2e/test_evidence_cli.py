"""Issue 7's must-shows through the CLI: a deterministic bundle, tamper-evident verification, a valid BagIt bag.

One full `interlock run` of a private copy of the demo shop (in a git repository,
so the manifest records a commit), the session's `passed_run`, is shared by the
module through a copy; each test that changes anything works on its own copy of
that shop, or on zips written beside it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from interlock.metrics import UNBUNDLED

from .conftest import Finished, Result, Shop, as_if_a_step_wrote

pytestmark = pytest.mark.e2e

ZIP, SIGNOFF, MANIFEST = "INTEGRATION-EVIDENCE.zip", "integration-signoff.json", "integration-evidence-manifest.json"
COMPLETE = "[PROTOCOL COMPLETE] - Integration validation approved. Ready for Protocol 4 (Quality Audit)."
BAGIT = Path(sys.executable).parent / "bagit.py"


@dataclass
class Sealed:
    shop: Shop
    run: Result
    commit: str

    @property
    def zip(self) -> Path:
        return self.shop.artifacts / ZIP

    @property
    def pubkey(self) -> Path:
        return self.shop.root / ".interlock/keys/signoff.pub"

    def verify(self, zip_path: Path, *extra: str) -> Result:
        return self.shop.interlock("verify", str(zip_path), "--pubkey", str(self.pubkey), *extra)

    def verify_many(self, zip_paths: Iterable[Path]) -> list[Result]:
        """`verify` of each zip, all in one process (see Shop.interlock_many)."""
        return self.shop.interlock_many(*(("verify", str(path), "--pubkey", str(self.pubkey)) for path in zip_paths))


@pytest.fixture(scope="module")
def sealed(passed_run: Finished, tmp_path_factory: pytest.TempPathFactory) -> Sealed:
    """One full run, all four gates passing, of a shop committed to git (its evidence folders ignored)."""
    assert passed_run.commit is not None
    return Sealed(passed_run.copy(tmp_path_factory.mktemp("sealed") / "shop"), passed_run.run, passed_run.commit)


def _copy(shop: Shop, target: Path) -> Shop:
    shutil.copytree(shop.root, target, symlinks=True)
    return Shop(target)


def _predicate(sealed: Sealed) -> dict:
    """The signed predicate of the sealed run's sign-off, read without verifying (the tests verify through the CLI)."""
    import base64

    envelope = json.loads((sealed.shop.artifacts / SIGNOFF).read_text())
    return json.loads(base64.b64decode(envelope["payload"]))["predicate"]


def _entries(zip_path: Path) -> list[tuple[zipfile.ZipInfo, bytes]]:
    with zipfile.ZipFile(zip_path) as zf:
        return [(info, zf.read(info)) for info in zf.infolist()]


def _rewrite(
    src: Path, dst: Path, *, replace: Mapping[str, bytes] | None = None, drop: Iterable[str] = (),
    add: Iterable[tuple[str, bytes]] = (),
) -> Path:
    """The same zip (order, compression, times, modes) with entries replaced, dropped or added; CRCs stay valid."""
    replace, drop = dict(replace or {}), set(drop)
    with zipfile.ZipFile(dst, "w") as out:
        for info, data in _entries(src):
            if info.filename in drop:
                continue
            clone = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            clone.compress_type, clone.external_attr, clone.create_system = info.compress_type, info.external_attr, info.create_system
            out.writestr(clone, replace.get(info.filename, data))
        for name, data in add:
            out.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)
    return dst


def _flip_middle(data: bytes) -> bytes:
    i = len(data) // 2
    return data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:]


def _failures(result: Result) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.startswith("FAIL: ")]


def _assert_rejected(result: Result, *names: str) -> None:
    """`interlock verify` exited 1, without a traceback, naming each of `names` in a FAIL line."""
    assert result.code == 1, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    failures = _failures(result)
    assert failures, result.output
    for name in names:
        assert any(name in line for line in failures), f"{name} not named in:\n{result.stdout}"


# -- the run ---------------------------------------------------------------------


def test_the_run_prints_protocol_complete_and_its_bundle_verifies(sealed: Sealed) -> None:
    lines = sealed.run.stdout.splitlines()
    assert COMPLETE in lines
    assert lines.index(COMPLETE) > max(i for i, line in enumerate(lines) if line.startswith("Gate 4 Sign-Off: PASS"))
    gates = json.loads((sealed.shop.artifacts / "gate-results.json").read_text())
    assert [g["status"] for g in gates["gates"]] == ["pass"] * 4
    verified = sealed.verify(sealed.zip)
    assert verified.code == 0, verified.output
    keyid = json.loads((sealed.shop.artifacts / SIGNOFF).read_text())["signatures"][0]["keyid"]
    assert verified.stdout.splitlines()[0] == (
        f"OK: {sealed.zip} is intact and validly signed by key {keyid} ({sealed.pubkey}); approved by Demo Quality Orchestrator "
        f"at {_predicate(sealed)['signed_at']}; commit {sealed.commit} (clean)")
    assert sealed.shop.interlock("verify", str(sealed.zip)).code == 0  # the pubkey of [signoff] in interlock.toml


def test_the_manifest_says_where_every_artifact_came_from(sealed: Sealed) -> None:
    manifest = json.loads((sealed.shop.artifacts / MANIFEST).read_text())
    assert manifest["environment"] == "integration"
    assert manifest["source"] == {"git_commit": sealed.commit, "git_dirty": False, "changes_digest": None}
    assert manifest["started_at"] <= manifest["finished_at"]
    assert {"interlock", "pytest", "pact-python", "securesystemslib", "python"} <= set(manifest["tools"])
    on_disk = sorted(rel for p in sealed.shop.artifacts.rglob("*") if p.is_file() and not p.name.startswith(".")
                     and (rel := p.relative_to(sealed.shop.artifacts).as_posix()) not in UNBUNDLED)  # made after sealing
    assert [a["path"] for a in manifest["artifacts"]] == on_disk
    for artifact in manifest["artifacts"]:
        assert artifact["phase"] and artifact["command"], artifact  # every file: the step and command that produced it
        assert re.fullmatch(r"[0-9a-f]{64}", artifact["sha256"]) and artifact["size"] >= 0 and artifact["media_type"]
    by_path = {a["path"]: a for a in manifest["artifacts"]}
    assert by_path["logs/service-orders.log"]["phase"] == "1.2" and "shop" in by_path["logs/service-orders.log"]["command"]
    assert by_path["forward-recommendations.md"]["command"] == "interlock recommend"
    with zipfile.ZipFile(sealed.zip) as zf:
        assert "data/forward-recommendations.md" in zf.namelist()  # written before the bundle was sealed


def test_the_signoff_records_the_protocols_approval(sealed: Sealed) -> None:
    assert "[SIGN-OFF REQUEST] Integration evidence bundle assembled. Approve transfer to Protocol 4? (yes/no)" in sealed.run.stdout
    import base64

    envelope = json.loads((sealed.shop.artifacts / SIGNOFF).read_text())
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    statement = json.loads(base64.b64decode(envelope["payload"]))
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert sorted(s["name"] for s in statement["subject"]) == [
        "data/integration-evidence-manifest.json", "manifest-sha256.txt", "tagmanifest-sha256.txt"]
    predicate = statement["predicate"]
    assert predicate["approver"] == "Demo Quality Orchestrator" and predicate["environment"] == "integration"
    assert [(g["gate"], g["verificationResult"]) for g in predicate["gates"]] == [(1, "PASSED"), (2, "PASSED"), (3, "PASSED")]
    assert predicate["waivers"] == []


# -- Must show: the same artifacts give the same zip --------------------------------


def _add_large_evidence(shop: Shop) -> None:
    """A 3 MiB log and a 1 MiB binary blob, the same bytes every time: both are STORED, not deflated."""
    line = b"2025-06-01T12:00:00Z INFO orders request id=%08d status=200\n"
    (shop.artifacts / "logs/load-test.log").write_bytes(b"".join(line % i for i in range(3 * (1 << 20) // len(line))))
    (shop.artifacts / "logs/orders-heap.bin").write_bytes(b"".join(hashlib.sha256(b"%d" % i).digest() for i in range(1 << 15)))
    products = as_if_a_step_wrote(shop, "3.1", "a load test's logs")  # no step of the demo writes logs this large
    assert set(products) == {"logs/load-test.log", "logs/orders-heap.bin"}


def test_bundling_twice_gives_byte_identical_zips(sealed: Sealed, tmp_path: Path) -> None:
    shop = _copy(sealed.shop, tmp_path / "one")
    _add_large_evidence(shop)
    first = shop.interlock("bundle", "--env", "integration")
    assert first.code == 0, first.output
    zip_one = (shop.artifacts / ZIP).read_bytes()
    for path in shop.artifacts.rglob("*"):
        os.utime(path, (1_700_000_000, 1_700_000_000))  # file times must not reach the zip
    second = shop.interlock("bundle", "--env", "integration")
    assert second.code == 0, second.output
    assert (shop.artifacts / ZIP).read_bytes() == zip_one
    # The same artifacts (the manifest, with its clock fields, is one of them) in another folder, later:
    elsewhere = _copy(shop, tmp_path / "two")
    (elsewhere.artifacts / ZIP).unlink()
    assert elsewhere.interlock("bundle", "--env", "integration").code == 0
    assert (elsewhere.artifacts / ZIP).read_bytes() == zip_one
    with zipfile.ZipFile(shop.artifacts / ZIP) as zf:
        types = {i.filename: i.compress_type for i in zf.infolist()}
        assert zf.testzip() is None
    assert types["data/logs/load-test.log"] == types["data/logs/orders-heap.bin"] == zipfile.ZIP_STORED
    assert types["data/test-execution-report.json"] == zipfile.ZIP_DEFLATED


# -- Must show: any change makes verify exit 1 and name it -----------------------------


def _verify_each(sealed: Sealed, tampered: dict[str, Path]) -> None:
    """`interlock verify` on each tampered zip (one after another in one process) must name its entry."""
    results = dict(zip(tampered, sealed.verify_many(tampered.values()), strict=True))
    for name, result in results.items():
        _assert_rejected(result, name)


def test_a_flipped_byte_in_any_entry_is_named(sealed: Sealed, tmp_path: Path) -> None:
    entries = [(info, data) for info, data in _entries(sealed.zip) if data]  # an empty log has no byte to flip
    assert len(entries) >= 20
    _verify_each(sealed, {
        info.filename: _rewrite(sealed.zip, tmp_path / f"flip-{i}.zip", replace={info.filename: _flip_middle(data)})
        for i, (info, data) in enumerate(entries)
    })


def test_a_flipped_byte_on_disk_is_named(sealed: Sealed, tmp_path: Path) -> None:
    """The same, flipping the stored bytes in place, as bit rot would: a STORED and a deflated payload entry and
    every tag file (the unit tests flip every entry this way)."""
    infos = [info for info, _ in _entries(sealed.zip) if info.compress_size]
    payload = [i for i in infos if i.filename.startswith("data/")]
    stored = max((i for i in payload if i.compress_type == zipfile.ZIP_STORED), key=lambda i: i.file_size, default=None)
    deflated = next(i for i in payload if i.compress_type == zipfile.ZIP_DEFLATED)
    picked = [i for i in (stored, deflated) if i is not None] + [i for i in infos if not i.filename.startswith("data/")]
    tampered = {}
    for i, info in enumerate(picked):
        raw = bytearray(sealed.zip.read_bytes())
        offset = info.header_offset
        name_len, extra_len = (int.from_bytes(raw[offset + k:offset + k + 2], "little") for k in (26, 28))
        raw[offset + 30 + name_len + extra_len + info.compress_size // 2] ^= 0x01
        tampered[info.filename] = tmp_path / f"rot-{i}.zip"
        tampered[info.filename].write_bytes(bytes(raw))
    _verify_each(sealed, tampered)


def test_an_added_entry_is_named(sealed: Sealed, tmp_path: Path) -> None:
    added = _rewrite(sealed.zip, tmp_path / "added.zip", add=[("data/logs/extra.log", b"slipped in later\n")])
    result = sealed.verify(added)
    _assert_rejected(result, "data/logs/extra.log")
    assert "FAIL: data/logs/extra.log: not listed in manifest-sha256.txt" in result.stdout
    tag = _rewrite(sealed.zip, tmp_path / "tag.zip", add=[("approval-note.txt", b"approved by phone\n")])
    _assert_rejected(sealed.verify(tag), "approval-note.txt")


def test_a_removed_entry_is_named(sealed: Sealed, tmp_path: Path) -> None:
    names = [info.filename for info, _ in _entries(sealed.zip)]
    _verify_each(sealed, {name: _rewrite(sealed.zip, tmp_path / f"drop-{i}.zip", drop=[name]) for i, name in enumerate(names)})


def test_a_signoff_by_another_key_is_named(sealed: Sealed, tmp_path: Path) -> None:
    shop = _copy(sealed.shop, tmp_path / "mallory")
    made = shop.interlock("keygen", "--out", ".interlock/keys/other.key")  # beside the keys: a key file in the tree would be a change of the code
    assert made.code == 0, made.output
    signed = shop.interlock("signoff", "--approver", "Mallory", "--key", ".interlock/keys/other.key", "--env", "integration", "--yes")
    assert signed.code == 1, signed.output  # signed, but the bundle does not verify with the configured key
    assert "does not verify" in signed.output
    result = shop.interlock("verify", str(shop.artifacts / ZIP))
    _assert_rejected(result, SIGNOFF)
    assert "signature verification failed" in result.stdout
    assert shop.interlock("verify", str(shop.artifacts / ZIP), "--pubkey", ".interlock/keys/other.pub").code == 0  # it is Mallory's signature
    gates = shop.interlock("gates")
    assert gates.code == 1 and "Gate 4" in gates.output
    # the other key's sign-off swapped into the approver's bundle
    swapped = _rewrite(sealed.zip, tmp_path / "swapped.zip", replace={SIGNOFF: (shop.artifacts / SIGNOFF).read_bytes()})
    result = sealed.verify(swapped)
    _assert_rejected(result, SIGNOFF)
    assert "signature verification failed" in result.stdout


def test_a_bad_public_key_is_a_usage_error(sealed: Sealed, tmp_path: Path) -> None:
    (tmp_path / "not-a-key.pub").write_text("hello\n")
    result = sealed.shop.interlock("verify", str(sealed.zip), "--pubkey", str(tmp_path / "not-a-key.pub"))
    assert result.code == 2, result.output
    assert "not a usable PEM public key" in result.output and "Traceback" not in result.output


# -- Must show: standard BagIt tools validate the unzipped bundle -------------------------


def test_the_unzipped_bundle_passes_bagit_validate(sealed: Sealed, tmp_path: Path) -> None:
    assert BAGIT.is_file(), f"{BAGIT}: the bagit package's command line is missing"
    bag = tmp_path / "bag"
    with zipfile.ZipFile(sealed.zip) as zf:
        zf.extractall(bag)
    done = subprocess.run([str(BAGIT), "--validate", str(bag)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "is valid" in done.stderr
    target = bag / "data" / "defect-log.csv"
    target.write_bytes(_flip_middle(target.read_bytes()))
    done = subprocess.run([str(BAGIT), "--validate", str(bag)], capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "defect-log.csv" in done.stdout + done.stderr


# -- [PROTOCOL COMPLETE] only when all four gates pass ---------------------------------


def test_no_protocol_complete_when_gate_4_fails(sealed: Sealed, tmp_path: Path) -> None:
    """Gates 1-3 pass, but the sign-off is made with a key whose public half is not the configured one."""
    shop = _copy(sealed.shop, tmp_path / "shop")
    assert shop.interlock("keygen", "--out", ".interlock/keys/wrong.key").code == 0
    shop.edit("interlock.toml", 'key = ".interlock/keys/signoff.key"', 'key = ".interlock/keys/wrong.key"')
    result = shop.interlock("run", "--env", "integration", "--yes")
    assert result.code == 1, result.output
    assert "[PROTOCOL COMPLETE]" not in result.stdout
    gates = json.loads((shop.artifacts / "gate-results.json").read_text())
    assert [g["status"] for g in gates["gates"]] == ["pass", "pass", "pass", "fail"]
    assert shop.interlock("verify", str(shop.artifacts / ZIP)).code == 1


def test_no_signoff_without_an_answer(sealed: Sealed, tmp_path: Path) -> None:
    """Without a terminal and without --yes, the sign-off request is declined: a halt, nothing signed."""
    shop = _copy(sealed.shop, tmp_path / "shop")
    (shop.artifacts / SIGNOFF).unlink()
    assert shop.interlock("bundle", "--env", "integration").code == 0
    result = shop.interlock("signoff", "--env", "integration")
    assert result.code == 3, result.output
    assert "[SIGN-OFF REQUEST] Integration evidence bundle assembled. Approve transfer to Protocol 4? (yes/no)" in result.stdout
    assert not (shop.artifacts / SIGNOFF).exists()
    with zipfile.ZipFile(shop.artifacts / ZIP) as zf:
        assert SIGNOFF not in zf.namelist()


# -- issue 15 item 8: evidence that survives a bad day ----------------------------------

CHECKOUT = Path(__file__).resolve().parents[2]  # this interlock checkout (its venv and its code)


def test_no_artifact_nor_bundle_entry_holds_an_absolute_machine_path(sealed: Sealed) -> None:
    """grep the run's artifacts (every file, the derived report and JUnit too) and every bundle entry for the machine's paths."""
    machine = {str(sealed.shop.root), str(sealed.shop.root.resolve()), str(CHECKOUT), sys.prefix, sys.base_prefix}
    hits = []
    for path in sorted(sealed.shop.artifacts.rglob("*")):
        if path.is_file() and not path.name.startswith(".") and path.suffix != ".zip":
            data = path.read_bytes()
            hits += [f"{path.relative_to(sealed.shop.artifacts)}: {m}" for m in machine if m.encode() in data]
    with zipfile.ZipFile(sealed.zip) as bundle:
        for name in bundle.namelist():
            data = bundle.read(name)
            hits += [f"{ZIP}!{name}: {m}" for m in machine if m.encode() in data]
    assert hits == []


def test_a_halted_run_keeps_the_last_sealed_bundle_verifiable_and_says_which_gates_never_ran(sealed: Sealed, tmp_path: Path) -> None:
    shop = _copy(sealed.shop, tmp_path / "shop")
    before = shop.artifacts.joinpath(ZIP).read_bytes()
    (shop.root / "docs" / "features.json").unlink()  # a missing prerequisite: step 1.1 halts the run
    halted = shop.interlock("run", "--env", "integration", "--yes")
    assert halted.code == 3, halted.output
    result = next(line for line in halted.stdout.splitlines() if line.startswith("Result: "))
    assert result.endswith("Gate 1: NOT RUN  Gate 2: NOT RUN  Gate 3: NOT RUN  Gate 4: NOT RUN"), result  # halted in 1.1: no gate was reached
    run_id = json.loads((sealed.shop.artifacts / MANIFEST).read_text())["run_id"]
    assert f"Last sealed evidence bundle (of run {run_id}; this run sealed none): " in halted.stdout
    kept = shop.artifacts / ZIP
    assert kept.read_bytes() == before  # the same bytes, still where the last sealed run left them
    verified = shop.interlock("verify", str(kept), "--pubkey", str(shop.root / ".interlock/keys/signoff.pub"))
    assert verified.code == 0, verified.output
    gates = json.loads((shop.artifacts / "gate-results.json").read_text())
    assert [g["status"] for g in gates["gates"]] == ["fail"] * 4  # the artifact keeps its schema: a gate without evidence fails there
    machine = {str(shop.root), str(shop.root.resolve()), str(CHECKOUT), sys.prefix, sys.base_prefix}
    leaked = [f"{p.relative_to(shop.artifacts)}: {m}" for p in shop.artifacts.rglob("*") if p.is_file() and p.name != ZIP
              for m in machine if m.encode() in p.read_bytes()]
    assert leaked == []  # the halted run's own artifacts and logs (the interpreter in pytest-collect.log) hold no machine path either
