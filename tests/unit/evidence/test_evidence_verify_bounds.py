"""verify_bundle stays bounded on hostile input, and names who approved an intact bundle and on what."""

from __future__ import annotations

import json
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pytest

from interlock.evidence import VerifyReport, statement_problems, verify_bundle
from interlock.evidence import _zipscan
from interlock.evidence._common import MAX_ENTRIES, MAX_JSON_VALUES, json_value_bound, loads_strict
from interlock.evidence._zipscan import TAG_FILE_LIMIT, central_directory_refusal
from interlock.evidence.approval import approval, describe
from interlock.evidence.verify import MAX_PROBLEM_CHARS, MAX_PROBLEMS

from ._support import ARTIFACTS, META, KeyPair, predicate, read_entries, rebuild, seal, write_evidence_manifest

EVIDENCE = "data/integration-evidence-manifest.json"
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
DIGEST = "ab" * 32


# -- problems are capped -------------------------------------------------------------


def test_problems_beyond_the_cap_are_counted_not_kept(signed_bundle: Path, tmp_path: Path, keys: KeyPair) -> None:
    entries = {info.filename: data for info, data in read_entries(signed_bundle)}
    missing = "".join(f"{DIGEST}  data/missing-{i}.log\n" for i in range(500)).encode()
    replaced = {"manifest-sha256.txt": entries["manifest-sha256.txt"] + missing}
    report = verify_bundle(rebuild(signed_bundle, tmp_path / "many.zip", replace=replaced), keys.public)
    assert not report.ok
    assert len(report.problems) == MAX_PROBLEMS
    # 500 listed-but-missing files, plus the damage they do to the tag manifest and the signed subjects
    assert report.problem_count >= 500 and report.omitted == report.problem_count - MAX_PROBLEMS


def test_a_problem_quoting_a_huge_name_is_cut_short(signed_bundle: Path, tmp_path: Path, keys: KeyPair) -> None:
    entries = {info.filename: data for info, data in read_entries(signed_bundle)}
    long_name = "data/" + "x" * 20_000
    replaced = {"manifest-sha256.txt": entries["manifest-sha256.txt"] + f"{DIGEST}  {long_name}\n".encode()}
    report = verify_bundle(rebuild(signed_bundle, tmp_path / "long.zip", replace=replaced), keys.public)
    cut = [p for p in report.problems if p.entry.startswith("data/xxx")]
    assert cut and all(len(p.entry) < MAX_PROBLEM_CHARS + 40 for p in cut)
    assert cut[0].entry.endswith(f"... ({len(long_name)} characters)")


# -- the zip's central directory is bounded before zipfile reads it ------------------------


def _zip_of(path: Path, count: int) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(count):
            zf.writestr(f"data/{i}", b"")
    return path


def test_a_zip_with_too_many_entries_is_refused_from_its_end_record(tmp_path: Path, keys: KeyPair) -> None:
    bundle = _zip_of(tmp_path / "many.zip", MAX_ENTRIES + 1)
    report = verify_bundle(bundle, keys.public)
    assert [str(p) for p in report.problems] == [
        f"many.zip: declares {MAX_ENTRIES + 1} entries, more than the {MAX_ENTRIES} a bundle may hold; not read"]


def test_a_huge_central_directory_is_refused(tmp_path: Path) -> None:
    bundle = _zip_of(tmp_path / "names.zip", 40)
    with bundle.open("rb") as raw:
        refusal = central_directory_refusal(raw, max_bytes=1000)
        assert refusal is not None and refusal.startswith("central directory of ") and "more than the 1000" in refusal
        assert central_directory_refusal(raw) is None  # the same zip within the real limits


def test_the_zip64_end_record_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 2)  # zipfile then writes a zip64 end record and 0xFFFF in the classic one
    bundle = _zip_of(tmp_path / "z64.zip", 5)
    assert bundle.read_bytes().find(b"PK\x06\x06") > 0
    with bundle.open("rb") as raw:
        assert central_directory_refusal(raw, max_entries=4) == "declares 5 entries, more than the 4 a bundle may hold; not read"
        assert central_directory_refusal(raw, max_entries=5) is None


def test_an_end_record_understating_the_entries_is_caught_after_parsing(
    tmp_path: Path, keys: KeyPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = _zip_of(tmp_path / "liar.zip", 5)
    raw = bytearray(bundle.read_bytes())
    at = raw.rfind(b"PK\x05\x06")
    raw[at + 8:at + 12] = (1).to_bytes(2, "little") * 2  # entries on this disk, entries in all: 1
    bundle.write_bytes(bytes(raw))
    monkeypatch.setattr(_zipscan, "MAX_ENTRIES", 3)
    report = verify_bundle(bundle, keys.public)
    assert str(report.problems[0]) == "liar.zip: has 5 entries, more than the 3 a bundle may hold; no entry was read"
    assert "bagit.txt: missing: the bundle is not a BagIt bag" in map(str, report.problems)  # nothing was read


# -- parsed entries are bounded -------------------------------------------------------------


def test_a_tag_file_beyond_its_small_cap_is_not_parsed(signed_bundle: Path, tmp_path: Path, keys: KeyPair) -> None:
    padded = b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n" + b"X: y\n" * (TAG_FILE_LIMIT // 5)
    report = verify_bundle(rebuild(signed_bundle, tmp_path / "big.zip", replace={"bagit.txt": padded}), keys.public)
    assert any(str(p) == f"bagit.txt: larger than {TAG_FILE_LIMIT} bytes, too large to parse" for p in report.problems)


def test_json_with_too_many_values_is_refused_before_parsing(signed_bundle: Path, tmp_path: Path, keys: KeyPair) -> None:
    flood = b'{"manifest_version": 1, "artifacts": [' + b",".join([b"[]"] * MAX_JSON_VALUES) + b"]}"
    report = verify_bundle(rebuild(signed_bundle, tmp_path / "flood.zip", replace={EVIDENCE: flood}), keys.public)
    bound = json_value_bound(flood)
    assert any(str(p) == f"{EVIDENCE}: not valid JSON: holds about {bound} JSON values, more than the {MAX_JSON_VALUES} "
               "an interlock document may hold" for p in report.problems), report.problems


@pytest.mark.parametrize("text", [b"1", b"[]", b"[1, 2, 3]", b'{"a": [1, {"b": 2}], "c": "x,[{"}', b'["\\"", ",", "{"]', b'[[], {}, [[]]]'])
def test_the_value_bound_is_never_below_the_values(text: bytes) -> None:
    def count(node: object) -> int:
        if isinstance(node, list):
            return 1 + sum(count(v) for v in node)
        if isinstance(node, dict):
            return 1 + sum(count(v) for v in node.values())
        return 1

    values = count(json.loads(text))
    assert values <= json_value_bound(text) <= 2 * values
    assert loads_strict(text, max_values=json_value_bound(text)) == json.loads(text)
    with pytest.raises(ValueError, match="JSON values, more than the"):
        loads_strict(text, max_values=json_value_bound(text) - 1)


def test_duplicate_keys_are_still_refused_among_many() -> None:
    keys = ",".join(f'"k{i}": {i}' for i in range(50_000))
    assert len(loads_strict(("{" + keys + "}").encode())) == 50_000
    with pytest.raises(ValueError, match="duplicate JSON key"):
        loads_strict(("{" + keys + ', "k7": 0}').encode())


# -- who approved, and on what ------------------------------------------------------------------


def _approval_lines(artifacts: Path, keys: KeyPair, **fields: object) -> list[str]:
    report = verify_bundle(seal(artifacts, keys, pred=predicate(**fields)), keys.public)
    assert report.ok, report.problems
    found = approval(report, NOW)
    assert found is not None
    return describe("b.zip", found)


def test_the_ok_line_names_key_approver_commit_and_dirty_flag(artifacts: Path, keys: KeyPair) -> None:
    report = verify_bundle(seal(artifacts, keys, pred=predicate(git_commit="0" * 40, git_dirty=True)), keys.public)
    assert report.ok, report.problems
    found = approval(report, NOW)
    assert found is not None and found.key_id == report.key_id and len(found.key_id or "") == 64
    assert describe("b.zip", found) == [
        f"OK: b.zip is intact and validly signed by key {report.key_id} ({keys.public}); approved by Quality Orchestrator "
        f"at 2025-06-01T12:05:00+00:00; commit {'0' * 40} (dirty)"]


def test_an_older_predicate_says_what_it_does_not_record(artifacts: Path, keys: KeyPair) -> None:
    assert _approval_lines(artifacts, keys)[0].endswith("; commit not recorded")
    assert _approval_lines(artifacts, keys, git_commit="0" * 40)[0].endswith(f"; commit {'0' * 40} (dirty flag not recorded)")
    outside_git = VerifyReport(ok=True, statement={"predicate": predicate(git_commit=None, git_dirty=False, no_commit_allowed=True)},
                               key_id="k", key_file="f")
    found = approval(outside_git, NOW)
    assert found is not None and found.no_commit_allowed and found.to_json()["no_commit_allowed"] is True
    assert describe("b.zip", found)[0].endswith("; no commit (signed with [signoff] allow_no_commit)")
    unchosen = approval(VerifyReport(ok=True, statement={"predicate": predicate(git_commit=None)}, key_id="k", key_file="f"), NOW)
    assert unchosen is not None and describe("b.zip", unchosen)[0].endswith("; no commit")


def test_a_signoff_of_no_commit_verifies_only_with_the_recorded_choice(tmp_path: Path, keys: KeyPair, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(META, "git_commit", None)  # evidence of code in no git work tree

    def evidence(name: str) -> Path:
        folder = tmp_path / name
        for rel, content in ARTIFACTS.items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_bytes(content)
        write_evidence_manifest(folder)
        return folder

    report = verify_bundle(seal(evidence("unchosen"), keys, pred=predicate(git_commit=None)), keys.public)
    assert not report.ok and any("certifies no git commit without recording the choice" in p.message for p in report.problems), report.problems
    report = verify_bundle(seal(evidence("chosen"), keys, pred=predicate(git_commit=None, no_commit_allowed=True)), keys.public)
    assert report.ok, report.problems


def test_relaxed_policies_and_waivers_are_listed_and_expired_ones_marked(artifacts: Path, keys: KeyPair) -> None:
    relaxed = [{"condition": "contracts.pending", "change": "blocking = false", "approver": "QA lead", "justification": "beta pacts",
                "ticket": "QA-7", "expires": "2025-12-31T00:00:00Z"}]
    waivers = [
        {"condition": "tests.unresolved_failures", "item": "DEF-1a2b", "justification": "flaky upstream", "approver": "QA lead",
         "ticket": "QA-8", "expires": "2026-06-30T00:00:00Z"},
        {"target": "environment.failed", "justification": "staging only", "approver": "Ops", "ticket": "",
         "expires": "2025-01-01T00:00:00Z"},  # the older shape, without condition and item
    ]
    lines = _approval_lines(artifacts, keys, policy_relaxed=relaxed, waivers=waivers)
    assert lines[1:] == [
        "policy relaxed: contracts.pending: blocking = false (approved by QA lead, expires 2025-12-31T00:00:00Z, ticket QA-7) EXPIRED",
        "waiver: tests.unresolved_failures DEF-1a2b: flaky upstream (approved by QA lead, expires 2026-06-30T00:00:00Z, ticket QA-8)",
        "waiver: environment.failed: staging only (approved by Ops, expires 2025-01-01T00:00:00Z) EXPIRED",
    ]


def test_a_failed_verification_carries_no_approval(signed_bundle: Path, other_keys: KeyPair) -> None:
    report = verify_bundle(signed_bundle, other_keys.public)
    assert not report.ok and approval(report, NOW) is None


@pytest.mark.parametrize(("fields", "message"), [
    ({"policy_relaxed": {"tests.ran": "x"}}, "predicate policy_relaxed must be a list"),
    ({"policy_relaxed": [{"condition": "contracts.pending", "change": "blocking = false", "approver": "",
                          "justification": "j", "expires": "2026-01-01T00:00:00Z"}]},
     "predicate policy_relaxed[0] needs a condition, a change, an approver, a justification, a ticket and an expires timestamp"),
    ({"waivers": [{"condition": "", "approver": "QA", "justification": "j", "expires": "2026-01-01T00:00:00Z"}]},
     "predicate waivers[0] needs a condition, an approver, a justification and an expires timestamp"),
])
def test_malformed_relaxations_are_problems(fields: dict, message: str) -> None:
    statement = {"_type": "https://in-toto.io/Statement/v1", "predicateType": "https://interlock.dev/signoff/v1",
                 "subject": [{"name": "x", "digest": {"sha256": DIGEST}}], "predicate": predicate(**fields)}
    assert message in statement_problems(statement)


def test_new_shape_waivers_and_relaxations_are_accepted() -> None:
    statement = {"_type": "https://in-toto.io/Statement/v1", "predicateType": "https://interlock.dev/signoff/v1",
                 "subject": [{"name": "x", "digest": {"sha256": DIGEST}}],
                 "predicate": predicate(waivers=[{"condition": "contracts.failed", "item": "orders-1", "justification": "j",
                                                  "approver": "QA", "ticket": "T", "expires": "2026-01-01T00:00:00Z"}],
                                        policy_relaxed=[{"condition": "contracts.pending", "change": "threshold 0 -> 2",
                                                         "approver": "QA", "justification": "j", "ticket": "T",
                                                         "expires": "2026-01-01T00:00:00Z"}])}
    assert statement_problems(statement) == []


def test_the_writer_refuses_a_bundle_the_verifier_would_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from interlock.evidence import bundle as bundle_module, write_bundle

    monkeypatch.setattr(bundle_module, "MAX_ENTRIES", 8)
    root = tmp_path / "many"
    root.mkdir()
    for i in range(5):
        (root / f"f{i}.txt").write_text("x")
    files = [f"f{i}.txt" for i in range(5)]
    with pytest.raises(ValueError, match="5 files make a bundle of 9 entries, more than the 8"):
        write_bundle(root, files, tmp_path / "b.zip", bag_info={})
    assert not (tmp_path / "b.zip").exists()
    write_bundle(root, files[:4], tmp_path / "b.zip", bag_info={})  # 8 entries: within the limit
