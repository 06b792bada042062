"""verify_bundle: every kind of damage is found and named by entry."""

from __future__ import annotations

import hashlib
import json
import stat
import tracemalloc
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from securesystemslib.dsse import Envelope
from securesystemslib.signer import CryptoSigner

from interlock.errors import UsageError
from interlock.evidence import (
    SIGNOFF_NAME,
    KeyFileError,
    Problem,
    VerifyReport,
    build_manifest,
    bundle_subjects,
    envelope_bytes,
    make_statement,
    manifest_bytes,
    sign_statement,
    verify_bundle,
    write_bundle,
)

from ._support import (
    ARTIFACTS,
    BAG_INFO,
    BUNDLE_ENTRIES,
    META,
    PAYLOAD_FILES,
    KeyPair,
    flip,
    flip_raw,
    gate_summary,
    predicate,
    read_entries,
    rebuild,
    seal,
    write_evidence_manifest,
)

SIGNOFF = SIGNOFF_NAME
EVIDENCE = "data/integration-evidence-manifest.json"


def _verify(zip_path: Path, keys: KeyPair, **limits: int) -> VerifyReport:
    return verify_bundle(zip_path, keys.public, **limits)


def _has(report: VerifyReport, entry: str, message_start: str) -> bool:
    return any(p.entry == entry and p.message.startswith(message_start) for p in report.problems)


def _assert_problem(report: VerifyReport, entry: str, message_start: str) -> None:
    assert not report.ok
    assert _has(report, entry, message_start), "\n".join(map(str, report.problems))


def test_intact_bundle_verifies(signed_bundle: Path, keys: KeyPair) -> None:
    report = _verify(signed_bundle, keys)
    assert report.problems == []
    assert report.ok is True
    assert report.statement is not None
    assert report.statement["predicate"]["approver"] == "Quality Orchestrator"


def test_bundle_has_the_expected_entries(signed_bundle: Path) -> None:
    # The parametrized tests below cover exactly these entries.
    assert [info.filename for info, _ in read_entries(signed_bundle)] == BUNDLE_ENTRIES


# -- a flipped byte in any entry -------------------------------------------------

_CONTENT_FLIP_EXPECTED: dict[str, Callable[[VerifyReport], bool]] = {
    **{
        name: (lambda r, n=name: _has(r, n, "sha256 mismatch (manifest-sha256.txt says"))
        for name in BUNDLE_ENTRIES if name.startswith("data/")
    },
    **{
        name: (lambda r, n=name: _has(r, n, "sha256 mismatch (tagmanifest-sha256.txt says"))
        for name in ("bagit.txt", "bag-info.txt", "manifest-sha256.txt")
    },
    # A flip in the tag manifest breaks a digest, a name or a line of it.
    "tagmanifest-sha256.txt": lambda r: any(
        "tagmanifest-sha256.txt" in p.entry or "tagmanifest-sha256.txt" in p.message for p in r.problems
    ),
    SIGNOFF: lambda r: _has(r, SIGNOFF, "signature verification failed") or _has(r, SIGNOFF, "not valid JSON"),
}


@pytest.mark.parametrize("position", ["first", "middle", "last"])
@pytest.mark.parametrize("name", BUNDLE_ENTRIES)
def test_flipped_content_byte_is_found(
    signed_bundle: Path, keys: KeyPair, tmp_path: Path, name: str, position: str
) -> None:
    data = dict((info.filename, content) for info, content in read_entries(signed_bundle))[name]
    tampered = rebuild(signed_bundle, tmp_path / "tampered.zip", replace={name: flip(data, position)})
    report = _verify(tampered, keys)
    assert not report.ok
    assert _CONTENT_FLIP_EXPECTED[name](report), "\n".join(map(str, report.problems))


@pytest.mark.parametrize("name", BUNDLE_ENTRIES)
def test_flipped_stored_byte_is_found(signed_bundle: Path, keys: KeyPair, name: str) -> None:
    flip_raw(signed_bundle, name)
    report = _verify(signed_bundle, keys)
    assert not report.ok
    assert _has(report, name, "unreadable:") or _has(report, name, "decompressed size"), report.problems


def test_evidence_manifest_flip_also_breaks_the_signature_binding(
    signed_bundle: Path, keys: KeyPair, tmp_path: Path
) -> None:
    data = dict((i.filename, c) for i, c in read_entries(signed_bundle))[EVIDENCE]
    report = _verify(rebuild(signed_bundle, tmp_path / "t.zip", replace={EVIDENCE: flip(data, "middle")}), keys)
    _assert_problem(report, SIGNOFF, f"subject {EVIDENCE} was signed with sha256")


def test_problem_message_names_both_digests(signed_bundle: Path, keys: KeyPair, tmp_path: Path) -> None:
    name = "data/test-execution-report.json"
    original = ARTIFACTS["test-execution-report.json"]
    changed = original.replace(b"12", b"13")
    report = _verify(rebuild(signed_bundle, tmp_path / "t.zip", replace={name: changed}), keys)
    expected = (f"sha256 mismatch (manifest-sha256.txt says {hashlib.sha256(original).hexdigest()}, "
                f"content is {hashlib.sha256(changed).hexdigest()})")
    assert Problem(name, expected) in report.problems
    assert str(Problem(name, expected)) == f"{name}: {expected}"


# -- added and removed entries ---------------------------------------------------


def test_added_payload_entry(signed_bundle: Path, keys: KeyPair, tmp_path: Path) -> None:
    report = _verify(rebuild(signed_bundle, tmp_path / "t.zip", add=[("data/extra.json", b"{}")]), keys)
    _assert_problem(report, "data/extra.json", "not listed in manifest-sha256.txt")
    _assert_problem(report, "data/extra.json", "not listed in integration-evidence-manifest.json")
    _assert_problem(report, "bag-info.txt", "Payload-Oxum says")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("evil.sh", "unexpected entry: outside data/"),
        ("manifest-md5.txt", "unexpected manifest"),
        ("other/notes.txt", "unexpected entry: outside data/"),
    ],
)
def test_added_tag_entry(signed_bundle: Path, keys: KeyPair, tmp_path: Path, name: str, message: str) -> None:
    report = _verify(rebuild(signed_bundle, tmp_path / "t.zip", add=[(name, b"x")]), keys)
    _assert_problem(report, name, message)


_REMOVED_EXPECTED = {
    "bagit.txt": ("bagit.txt", "missing: the bundle is not a BagIt bag"),
    "bag-info.txt": ("bag-info.txt", "missing: it must carry the Payload-Oxum"),
    "manifest-sha256.txt": ("manifest-sha256.txt", "missing: the payload is not protected"),
    "tagmanifest-sha256.txt": ("tagmanifest-sha256.txt", "missing: the tag files are not protected"),
    SIGNOFF: (SIGNOFF, "missing: the bundle has no sign-off"),
    EVIDENCE: (EVIDENCE, "missing: the evidence manifest is required"),
}


@pytest.mark.parametrize("name", BUNDLE_ENTRIES)
def test_removed_entry(signed_bundle: Path, keys: KeyPair, tmp_path: Path, name: str) -> None:
    report = _verify(rebuild(signed_bundle, tmp_path / "t.zip", drop=[name]), keys)
    entry, message = _REMOVED_EXPECTED.get(name, (name, "listed in manifest-sha256.txt but missing"))
    _assert_problem(report, entry, message)


# -- the sign-off ----------------------------------------------------------------


def test_signoff_by_another_key(artifacts: Path, keys: KeyPair, other_keys: KeyPair) -> None:
    report = _verify(seal(artifacts, other_keys), keys)
    _assert_problem(report, SIGNOFF, "signature verification failed: no valid signature by the given public key")
    assert report.statement is None


def test_verifying_with_another_public_key(signed_bundle: Path, other_keys: KeyPair) -> None:
    _assert_problem(_verify(signed_bundle, other_keys), SIGNOFF, "signature verification failed")


def test_no_public_key_given(signed_bundle: Path) -> None:
    report = verify_bundle(signed_bundle, None)
    _assert_problem(report, SIGNOFF, "no public key given")
    assert report.statement is None


def test_missing_signoff(artifacts: Path, keys: KeyPair, tmp_path: Path) -> None:
    write_bundle(artifacts, PAYLOAD_FILES, tmp_path / "unsigned.zip", bag_info=BAG_INFO)
    report = _verify(tmp_path / "unsigned.zip", keys)
    assert report.problems == [Problem(SIGNOFF, "missing: the bundle has no sign-off")]


def test_wrong_payload_type(artifacts: Path, keys: KeyPair) -> None:
    def sign_as_plain_json(statement: dict, private: Path) -> dict:
        envelope = Envelope(json.dumps(statement).encode(), "application/json", {})
        envelope.sign(CryptoSigner(load_pem_private_key(private.read_bytes(), None)))
        return envelope.to_dict()

    report = _verify(seal(artifacts, keys, sign=sign_as_plain_json), keys)
    _assert_problem(report, SIGNOFF, "signature verification failed: payloadType is 'application/json'")


def test_wrong_predicate_type(artifacts: Path, keys: KeyPair) -> None:
    report = _verify(seal(artifacts, keys, edit_statement=lambda s: s.update(
        predicateType="https://slsa.dev/provenance/v1")), keys)
    _assert_problem(report, SIGNOFF, "predicateType is 'https://slsa.dev/provenance/v1'")
    assert report.statement is not None  # the signature itself was fine


@pytest.mark.parametrize(
    ("pred", "message"),
    [
        ({k: v for k, v in predicate().items() if k != "approver"}, "predicate is missing approver"),
        ({k: v for k, v in predicate().items() if k not in ("run_id", "gates")}, "predicate is missing gates, run_id"),
        (predicate(gates={"1": "pass"}), "predicate gates must be a non-empty list"),
        (predicate(gates=[]), "predicate gates must be a non-empty list"),
        (predicate(gates=[{"gate": 1, "status": "pass"}]), "predicate gates[0] is missing verifier, timeVerified, policy, verificationResult"),
        (predicate(gates=[gate_summary(1, verificationResult="FAILED")]), "predicate gates[0] (gate 1): verificationResult is FAILED; a sign-off approves passing gates only"),
        (predicate(gates=[gate_summary(1, verificationResult="pass")]), "predicate gates[0] (gate 1): verificationResult must be one of PASSED, FAILED"),
        (predicate(gates=[gate_summary(1, verifier="interlock")]), "predicate gates[0] (gate 1): verifier must be an object with a non-empty id"),
        (predicate(gates=[gate_summary(1, policy={"uri": "x"})]), "predicate gates[0] (gate 1): policy must have a uri and a sha256 digest"),
        (predicate(gates=[gate_summary(1, timeVerified="noon")]), "predicate gates[0] (gate 1): timeVerified must be an ISO 8601"),
        (predicate(gates=[gate_summary("1")]), "predicate gates[0] (gate '1'): gate must be an integer"),
        ({k: v for k, v in predicate().items() if k != "waivers"}, "predicate is missing waivers"),
        (predicate(waivers={"tests.ran": "ok"}), "predicate waivers must be a list"),
        (predicate(waivers=[{"target": "tests.ran", "approver": "QA lead", "justification": "moved"}]),
         "predicate waivers[0] needs a condition, an approver, a justification and an expires timestamp"),
        (predicate(waivers=[{"condition": "contracts.failed", "item": "x", "approver": " ", "justification": "j", "expires": "2099-01-01T00:00:00Z"}]),
         "predicate waivers[0] needs a condition, an approver, a justification and an expires timestamp"),
        (predicate(policy_relaxed=[{"condition": "regression.summary", "change": "blocking = false", "approver": "", "justification": "j",
                                    "ticket": "T", "expires": "2099-01-01T00:00:00Z"}]),
         "predicate policy_relaxed[0] needs a condition, a change, an approver, a justification, a ticket and an expires timestamp"),
        (predicate(policy_relaxed={"regression.summary": "off"}), "predicate policy_relaxed must be a list"),
        (predicate(signed_at="2025-06-01 12:05"), "predicate signed_at must be an ISO 8601"),
    ],
)
def test_malformed_predicate(artifacts: Path, keys: KeyPair, pred: dict, message: str) -> None:
    _assert_problem(_verify(seal(artifacts, keys, pred=pred), keys), SIGNOFF, message)


def test_wrong_statement_type(artifacts: Path, keys: KeyPair) -> None:
    report = _verify(seal(artifacts, keys, edit_statement=lambda s: s.update(_type="x")), keys)
    _assert_problem(report, SIGNOFF, "_type is 'x'")


@pytest.mark.parametrize("dropped", ["manifest-sha256.txt", "tagmanifest-sha256.txt", EVIDENCE])
def test_statement_missing_a_required_subject(artifacts: Path, keys: KeyPair, dropped: str) -> None:
    def drop(statement: dict) -> None:
        statement["subject"] = [s for s in statement["subject"] if s["name"] != dropped]

    report = _verify(seal(artifacts, keys, edit_statement=drop), keys)
    _assert_problem(report, SIGNOFF, f"the signed statement has no subject {dropped}")


def test_stale_signoff_after_the_evidence_changed(artifacts: Path, keys: KeyPair, tmp_path: Path) -> None:
    old = seal(artifacts, keys)
    signoff = dict((i.filename, c) for i, c in read_entries(old))[SIGNOFF]
    (artifacts / "defect-log.csv").write_bytes(b"id,severity,status\nD-1,critical,open\n")
    write_evidence_manifest(artifacts)
    write_bundle(artifacts, PAYLOAD_FILES, tmp_path / "restamped.zip", bag_info=BAG_INFO,
                 extra_tag_files={SIGNOFF: signoff})
    report = _verify(tmp_path / "restamped.zip", keys)
    _assert_problem(report, SIGNOFF, "subject manifest-sha256.txt was signed with sha256")
    _assert_problem(report, SIGNOFF, "subject tagmanifest-sha256.txt was signed with sha256")
    _assert_problem(report, SIGNOFF, f"subject {EVIDENCE} was signed with sha256")
    assert len(report.problems) == 3  # the bag itself is consistent: only the binding is broken


def test_signoff_not_json(signed_bundle: Path, keys: KeyPair, tmp_path: Path) -> None:
    report = _verify(rebuild(signed_bundle, tmp_path / "t.zip", replace={SIGNOFF: b"approved!"}), keys)
    _assert_problem(report, SIGNOFF, "not valid JSON")


# -- evidence manifest vs payload -------------------------------------------------


def test_evidence_manifest_out_of_date(artifacts: Path, keys: KeyPair) -> None:
    (artifacts / "defect-log.csv").write_bytes(b"id,severity,status\n")  # changed after the manifest was built
    report = _verify(seal(artifacts, keys), keys)
    _assert_problem(report, "data/defect-log.csv", "sha256 mismatch (integration-evidence-manifest.json says")
    _assert_problem(report, "data/defect-log.csv", "size mismatch (integration-evidence-manifest.json says")


def test_payload_file_not_in_evidence_manifest(artifacts: Path, keys: KeyPair) -> None:
    (artifacts / "late.md").write_text("added after the manifest\n")
    report = _verify(seal(artifacts, keys, files=[*PAYLOAD_FILES, "late.md"]), keys)
    assert report.problems == [Problem("data/late.md", "not listed in integration-evidence-manifest.json")]


# -- hostile zips ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("../evil", "unsafe name: contains a '..' component"),
        ("data/../../evil", "unsafe name: contains a '..' component"),
        ("/etc/evil", "unsafe name: absolute path"),
        ("C:/evil", "unsafe name: absolute path"),
        ("data\\evil.json", "unsafe name: contains a backslash"),
        ("data//evil.json", "unsafe name: contains an empty or '.' component"),
    ],
)
def test_unsafe_names(signed_bundle: Path, keys: KeyPair, tmp_path: Path, name: str, message: str) -> None:
    report = _verify(rebuild(signed_bundle, tmp_path / "t.zip", add=[(zipfile.ZipInfo(name), b"x")]), keys)
    _assert_problem(report, name, message)


def test_duplicate_names(signed_bundle: Path, keys: KeyPair, tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns about the duplicate we want
        tampered = rebuild(signed_bundle, tmp_path / "t.zip", add=[("data/defect-log.csv", b"forged\n")])
    _assert_problem(_verify(tampered, keys), "data/defect-log.csv", "duplicate entry name (2 entries)")


def test_names_differing_only_by_case(signed_bundle: Path, keys: KeyPair, tmp_path: Path) -> None:
    report = _verify(rebuild(signed_bundle, tmp_path / "t.zip", add=[("data/Defect-Log.csv", b"x")]), keys)
    _assert_problem(report, "data/Defect-Log.csv", "name collides with 'data/defect-log.csv'")


def test_symlink_entry(signed_bundle: Path, keys: KeyPair, tmp_path: Path) -> None:
    link = zipfile.ZipInfo("data/link.json")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    report = _verify(rebuild(signed_bundle, tmp_path / "t.zip", add=[(link, b"/etc/passwd")]), keys)
    _assert_problem(report, "data/link.json", "symlink entry")


def test_replaced_by_symlink(signed_bundle: Path, keys: KeyPair, tmp_path: Path) -> None:
    entries = read_entries(signed_bundle)
    with zipfile.ZipFile(tmp_path / "t.zip", "w", zipfile.ZIP_DEFLATED) as out:
        for info, data in entries:
            if info.filename == "data/defect-log.csv":
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
            out.writestr(info, data)
    _assert_problem(_verify(tmp_path / "t.zip", keys), "data/defect-log.csv", "symlink entry")


def test_directory_entries_are_tolerated(signed_bundle: Path, keys: KeyPair, tmp_path: Path) -> None:
    tampered = rebuild(signed_bundle, tmp_path / "t.zip", add=[("data/", b""), ("data/logs/", b"")])
    assert _verify(tampered, keys).problems == []


def test_entry_over_the_size_limit(signed_bundle: Path, keys: KeyPair) -> None:
    size = len(ARTIFACTS["logs/run.log"])
    report = _verify(signed_bundle, keys, max_entry_bytes=size - 1)
    _assert_problem(report, "data/logs/run.log",
                    f"declared size {size} bytes exceeds the per-entry limit of {size - 1} bytes")


def test_zip_bomb_is_not_inflated(signed_bundle: Path, keys: KeyPair, tmp_path: Path) -> None:
    bomb = rebuild(signed_bundle, tmp_path / "bomb.zip", add=[("data/bomb.bin", bytes(50 << 20))])
    assert bomb.stat().st_size < 1 << 20
    tracemalloc.start()
    try:
        report = _verify(bomb, keys, max_entry_bytes=1 << 20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    _assert_problem(report, "data/bomb.bin", f"declared size {50 << 20} bytes exceeds the per-entry limit")
    assert peak < 4 << 20


def test_total_size_limit(signed_bundle: Path, keys: KeyPair) -> None:
    report = _verify(signed_bundle, keys, max_total_bytes=1000)
    _assert_problem(report, signed_bundle.name, "declared total size")


def test_bomb_with_a_lying_size_is_stopped_at_the_declared_size(
    signed_bundle: Path, keys: KeyPair, tmp_path: Path
) -> None:
    bomb = rebuild(signed_bundle, tmp_path / "bomb.zip", add=[("data/bomb.bin", bytes(50 << 20))])
    raw = bytearray(bomb.read_bytes())
    with zipfile.ZipFile(bomb) as zf:
        info = zf.getinfo("data/bomb.bin")
    # Patch the central directory's uncompressed size (offset 24) to claim 100 bytes.
    central = raw.rindex(b"data/bomb.bin") - 46  # the name follows the 46-byte central header
    assert raw[central:central + 4] == b"PK\x01\x02"
    assert int.from_bytes(raw[central + 24:central + 28], "little") == info.file_size
    raw[central + 24:central + 28] = (100).to_bytes(4, "little")
    bomb.write_bytes(bytes(raw))
    report = _verify(bomb, keys, max_entry_bytes=1 << 20)
    _assert_problem(report, "data/bomb.bin", "unreadable: BadZipFile: Bad CRC-32")


def test_not_a_zip(tmp_path: Path, keys: KeyPair) -> None:
    (tmp_path / "x.zip").write_bytes(b"definitely not a zip")
    report = _verify(tmp_path / "x.zip", keys)
    assert report.ok is False
    assert report.problems[0].entry == "x.zip"
    assert report.problems[0].message.startswith("cannot be read as a zip archive")


def test_truncated_zip(signed_bundle: Path, keys: KeyPair) -> None:
    signed_bundle.write_bytes(signed_bundle.read_bytes()[:-200])
    report = _verify(signed_bundle, keys)
    assert [p.entry for p in report.problems] == [signed_bundle.name]
    assert report.problems[0].message.startswith("cannot be read as a zip archive: BadZipFile")


def test_archive_comment(signed_bundle: Path, keys: KeyPair) -> None:
    with zipfile.ZipFile(signed_bundle, "a") as zf:
        zf.comment = b"hello"
    _assert_problem(_verify(signed_bundle, keys), signed_bundle.name, "has an archive comment")


def test_bad_public_key_file_raises(signed_bundle: Path, tmp_path: Path) -> None:
    (tmp_path / "bad.pub").write_text("nope")
    with pytest.raises(ValueError, match="not a usable PEM public key"):
        verify_bundle(signed_bundle, tmp_path / "bad.pub")
    with pytest.raises(KeyFileError, match="cannot read the public key") as caught:
        verify_bundle(signed_bundle, tmp_path / "absent.pub")
    assert isinstance(caught.value, UsageError) and caught.value.exit_code == 2  # bad input, not a failed verification


def test_missing_zip_raises(tmp_path: Path, keys: KeyPair) -> None:
    with pytest.raises(FileNotFoundError):
        verify_bundle(tmp_path / "absent.zip", keys.public)


def test_large_bundle_is_verified_in_bounded_memory(tmp_path: Path, keys: KeyPair) -> None:
    artifacts = tmp_path / "art"
    artifacts.mkdir()
    chunk = bytes(range(256)) * 4096
    with (artifacts / "big.log").open("wb") as fp:
        for _ in range(24):
            fp.write(chunk)
    (artifacts / "integration-evidence-manifest.json").write_bytes(
        manifest_bytes(build_manifest(artifacts, ["big.log"], meta=META)))
    files = ["big.log", "integration-evidence-manifest.json"]
    zip_path = tmp_path / "big.zip"
    write_bundle(artifacts, files, zip_path, bag_info={})
    envelope = sign_statement(make_statement(bundle_subjects(zip_path), predicate()), keys.private)
    write_bundle(artifacts, files, zip_path, bag_info={}, extra_tag_files={SIGNOFF: envelope_bytes(envelope)})
    tracemalloc.start()
    try:
        report = _verify(zip_path, keys)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.problems == []
    assert peak < 8 << 20
