"""The run ledger: its chain, its replay, and what Gate 4 and the sealing steps read from it."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from interlock import ledger
from interlock.artifacts import ArtifactDir, validation_errors
from interlock.evidence import verify_bundle
from interlock.identity import Identity
from interlock.metrics import read_metrics

A = Identity("a" * 40, False, None)
B = Identity("b" * 40, False, None)
A_DIRTY = Identity("a" * 40, True, "c" * 64)


def step(root: Path, step_id: str, on: Identity = A, kind: str = "step", before: dict[str, str] | None = None) -> None:
    """Append the line of a step that just wrote the folder's changes since `before` (the last line's state by default)."""
    if before is None:
        read = ledger.read(root)
        before = {rel: made.sha256 for rel, made in ledger.replay(read.entries).items()} if read else {}
    products, removed = ledger.changes(before, ledger.tracked(root))
    ledger.append(root, step=step_id, kind=kind, command=f"interlock step {step_id}", by="tester", reason="test", run_id="run-1",
                  identity=on, config=None, materials=before, products=products, removed=removed)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "artifacts"
    (root / "logs").mkdir(parents=True)
    (root / "matrix.json").write_text('{"a": 1}\n')
    step(root, "1.1")
    (root / "report.json").write_text('{"tests": [1, 2]}\n')
    (root / "logs" / "pytest.log").write_text("2 passed\n")
    step(root, "3.1")
    return root


def raw_lines(root: Path) -> list[bytes]:
    return (root / ledger.LEDGER).read_bytes().splitlines(keepends=True)


def test_an_untouched_folder_is_all_produced_on_one_identity(folder: Path) -> None:
    assert ledger.unproduced(ledger.tracked(folder), ledger.read(folder)) == []
    assert ledger.refusal(folder, A) is None
    metrics = read_metrics(ArtifactDir(folder), None, evidence=False)
    assert (metrics["unproduced_artifacts"].value, metrics["identity_mismatches"].value) == (0, 0)


def test_each_line_is_an_in_toto_style_link_chained_to_the_one_before(folder: Path) -> None:
    first, second = (json.loads(line) for line in raw_lines(folder))
    assert first["prev"] == ledger.GENESIS and second["prev"] == ledger.sha256_bytes(raw_lines(folder)[0].rstrip(b"\n"))
    assert (first["seq"], second["seq"]) == (1, 2)
    assert second["materials"] == first["products"] and set(second["products"]) == {"report.json", "logs/pytest.log"}
    assert second["identity"] == A.as_dict() and second["by"] == "tester" and second["command"] == "interlock step 3.1"
    assert validation_errors("run-ledger", second) == []


def test_a_hand_edit_is_named_with_the_step_that_wrote_the_file(folder: Path) -> None:
    (folder / "report.json").write_text('{"tests": []}\n')
    problems = ledger.unproduced(ledger.tracked(folder), ledger.read(folder))
    assert problems == ["report.json: changed after step 3.1 wrote it (ledger line 2): edited by hand, not through interlock"]
    assert ledger.refusal(folder, A) == f"refused: {problems[0]}"
    metric = read_metrics(ArtifactDir(folder), None, evidence=False)["unproduced_artifacts"]
    assert metric.value == 1 and "report.json" in str(metric.reason)


def test_a_file_no_step_wrote_and_a_file_removed_are_named(folder: Path) -> None:
    (folder / "forward-recommendations.md").write_text("")
    (folder / "logs" / "pytest.log").unlink()
    problems = ledger.unproduced(ledger.tracked(folder), ledger.read(folder))
    assert problems == ["forward-recommendations.md: no step or interlock command produced it (made or copied by hand)",
                        "logs/pytest.log: written by step 3.1 (ledger line 2) but removed since"]


def test_reverting_a_file_to_an_earlier_steps_content_is_still_an_edit(folder: Path) -> None:
    (folder / "report.json").write_text('{"tests": [1]}\n')
    step(folder, "3.1")  # the suite ran again
    (folder / "report.json").write_text('{"tests": [1, 2]}\n')  # the first run's bytes, put back by hand
    assert ledger.unproduced(ledger.tracked(folder), ledger.read(folder))[0].startswith("report.json: changed after step 3.1")


def test_hidden_files_and_derived_views_are_not_evidence(folder: Path) -> None:
    for name in (".interlock-state.json", "gate-results.json", "integration-report.html", "junit.xml", "logs/.pytest.log.tmp"):
        (folder / name).write_text("x")
    assert ledger.unproduced(ledger.tracked(folder), ledger.read(folder)) == []


def test_a_missing_ledger_refuses_every_artifact(folder: Path) -> None:
    (folder / ledger.LEDGER).unlink()
    assert ledger.refusal(folder, A) == ("refused: run-ledger.jsonl is missing: no step recorded what it wrote, "
                                         "so no artifact can be shown to be interlock's; rerun the protocol")


def test_a_removed_line_breaks_the_chain(folder: Path) -> None:
    (folder / "defect-log.csv").write_text("id\n")
    step(folder, "3.2")
    lines = raw_lines(folder)
    (folder / ledger.LEDGER).write_bytes(lines[0] + lines[2])
    read = ledger.read(folder)
    assert read is not None and len(read.entries) == 1
    removed, kept = (ledger.sha256_bytes(line.rstrip(b"\n"))[:12] for line in (lines[1], lines[0]))
    assert read.problems == [f"run-ledger.jsonl line 2: does not chain to the line before it (prev {removed}, expected {kept}): "
                             "a line was removed, reordered or edited"]
    assert ledger.refusal(folder, A).startswith("refused: run-ledger.jsonl line 2: does not chain")


def test_an_edited_line_breaks_the_chain_at_the_next_line(folder: Path) -> None:
    """Rewriting a product's digest in line 1 to cover a hand edit: line 2's `prev` no longer matches."""
    lines = raw_lines(folder)
    first = json.loads(lines[0])
    first["products"]["matrix.json"] = "f" * 64
    (folder / ledger.LEDGER).write_bytes(json.dumps(first, sort_keys=True, separators=(",", ":")).encode() + b"\n" + lines[1])
    assert ledger.read(folder).problems[0].startswith("run-ledger.jsonl line 2: does not chain to the line before it")


def test_the_last_line_removed_leaves_its_products_unproduced(folder: Path) -> None:
    (folder / ledger.LEDGER).write_bytes(raw_lines(folder)[0])
    problems = ledger.unproduced(ledger.tracked(folder), ledger.read(folder))
    assert problems == ["logs/pytest.log: no step or interlock command produced it (made or copied by hand)",
                        "report.json: no step or interlock command produced it (made or copied by hand)"]


@pytest.mark.parametrize("damage, problem", [
    (lambda line: b"not json\n", "not a JSON object"),
    (lambda line: line.replace(b'"seq":1', b'"seq":7'), "numbered 7, expected 1"),
    (lambda line: line.replace(b'"kind":"step"', b'"kind":"magic"'), "$.kind"),
])
def test_a_damaged_line_is_named(folder: Path, damage, problem: str) -> None:  # type: ignore[no-untyped-def]
    lines = raw_lines(folder)
    (folder / ledger.LEDGER).write_bytes(damage(lines[0]) + lines[1])
    read = ledger.read(folder)
    assert read.entries == [] and len(read.problems) == 1 and read.problems[0].startswith("run-ledger.jsonl line 1: ")
    assert problem in read.problems[0]


def test_a_cut_last_line_is_named(folder: Path) -> None:
    path = folder / ledger.LEDGER
    path.write_bytes(path.read_bytes()[:-1])
    assert ledger.read(folder).problems == ["run-ledger.jsonl line 2: cut short (no line end, or longer than a line may be): "
                                            "the ledger was truncated or edited"]


def test_artifacts_of_two_identities_are_named_by_identity(folder: Path) -> None:
    (folder / "report.json").write_text('{"tests": [3]}\n')
    step(folder, "3.1", on=B)  # `interlock test` rerun after a commit
    groups = ledger.identity_groups(ledger.tracked(folder), ledger.read(folder))
    assert groups == {A: ["logs/pytest.log", "matrix.json"], B: ["report.json"]}
    refusal = ledger.refusal(folder, B)
    assert refusal == ("refused: the evidence mixes runs on different code: report.json is of commit bbbbbbbbbbbb (clean); "
                       "logs/pytest.log, matrix.json are of commit aaaaaaaaaaaa (clean); rerun `interlock run` on one commit")
    metric = read_metrics(ArtifactDir(folder), None, evidence=False)["identity_mismatches"]
    assert metric.value == 2 and "logs/pytest.log, matrix.json are of commit aaaaaaaaaaaa" in str(metric.reason)


def test_evidence_of_a_dirty_tree_is_refused_on_the_clean_one(tmp_path: Path) -> None:
    root = tmp_path / "a"
    root.mkdir()
    (root / "report.json").write_text("{}")
    step(root, "3.1", on=A_DIRTY)
    assert ledger.refusal(root, A_DIRTY) is None
    assert ledger.refusal(root, A) == ("refused: the evidence was produced on commit aaaaaaaaaaaa + uncommitted changes cccccccccccc, "
                                       "but the work tree is now commit aaaaaaaaaaaa (clean): rerun `interlock run` on the code you mean to certify")


def test_an_edit_through_interlock_keeps_the_identity_of_the_evidence_it_edits(folder: Path) -> None:
    (folder / "defect-log.csv").write_text('"id","status"\n"D-1","open"\n')
    step(folder, "3.2")
    (folder / "defect-log.csv").write_text('"id","status"\n"D-1","waived"\n')
    step(folder, "3.2", on=B, kind="edit")  # `interlock defects waive` after a commit: who and why are recorded...
    assert ledger.unproduced(ledger.tracked(folder), ledger.read(folder)) == []
    assert set(ledger.identity_groups(ledger.tracked(folder), ledger.read(folder))) == {A}  # ...the evidence stays A's
    assert ledger.refusal(folder, B) is not None and ledger.refusal(folder, A) is None


def test_the_sealed_copy_is_a_prefix_without_the_sealing_steps_own_lines(folder: Path) -> None:
    path = folder / ledger.LEDGER
    sealed = path.stat().st_size
    assert ledger.sealable(path) == sealed
    digest = ledger.sha256_bytes(path.read_bytes())
    (folder / "integration-evidence-manifest.json").write_text("{}")
    step(folder, "4.1")
    step(folder, "4.2")
    assert ledger.sealable(path) == sealed and ledger.sealed_prefix(path, digest, sealed)
    (folder / "defect-log.csv").write_text("id\n")
    step(folder, "3.2", kind="edit")
    assert ledger.sealable(path) == path.stat().st_size  # an edit after the bundle is sealed by the next one
    path.write_bytes(path.read_bytes().replace(b'"by":"tester"', b'"by":"forger"', 1))
    assert not ledger.sealed_prefix(path, digest, sealed)


def test_secret_values_are_masked_before_a_line_is_written(tmp_path: Path) -> None:
    from interlock.secrets import Redactor

    redactor = Redactor({"s3cr3t-token-42": "API_TOKEN"})
    ledger.append(tmp_path, step="3.1", kind="step", command="interlock test -- -k s3cr3t-token-42", by="ci", reason="x", run_id="r",
                  identity=A, config=None, materials={}, products={}, redact=redactor.data)
    assert b"s3cr3t-token-42" not in (tmp_path / ledger.LEDGER).read_bytes()
    assert ledger.read(tmp_path).problems == []


def bag(tmp_path: Path, folder: Path) -> Path:
    """A bundle of the folder the way step 4.1 seals it (manifest with the ledger as its prefix)."""
    from interlock.evidence import build_manifest, write_bundle
    from interlock.evidence.manifest import manifest_bytes

    files = sorted(ledger.tracked(folder)) + [ledger.LEDGER]
    prefixes = {ledger.LEDGER: ledger.sealable(folder / ledger.LEDGER)}
    meta = {"generated_at": "2026-01-01T00:00:00Z", "run_id": "run-1", "environment": "integration", "interlock_version": "0"}
    manifest = build_manifest(folder, files, meta=meta, prefixes=prefixes)
    (folder / "integration-evidence-manifest.json").write_bytes(manifest_bytes(manifest))
    zip_path = tmp_path / "bundle.zip"
    write_bundle(folder, files + ["integration-evidence-manifest.json"], zip_path, bag_info={"Source-Organization": "t"}, prefixes=prefixes)
    return zip_path


def ledger_problems(zip_path: Path) -> list[str]:
    return [p.message for p in verify_bundle(zip_path, None).problems if p.entry == "data/run-ledger.jsonl"]


def test_verify_checks_the_sealed_ledger_offline(tmp_path: Path, folder: Path) -> None:
    assert ledger_problems(bag(tmp_path, folder)) == []


def test_verify_names_a_sealed_file_the_sealed_ledger_did_not_produce(tmp_path: Path, folder: Path) -> None:
    (folder / "report.json").write_text('{"tests": []}\n')  # sealed by a hand-made bundle, bypassing the refusal
    assert ledger_problems(bag(tmp_path, folder)) == ["report.json: differs from what step 3.1 wrote according to the sealed run-ledger.jsonl"]


def test_verify_names_a_broken_sealed_chain(tmp_path: Path, folder: Path) -> None:
    lines = raw_lines(folder)
    (folder / ledger.LEDGER).write_bytes(lines[1])
    problems = ledger_problems(bag(tmp_path, folder))
    assert len(problems) == 1 and problems[0].startswith("run-ledger.jsonl line 1: does not chain to the line before it")


def test_verify_caps_its_ledger_lines(tmp_path: Path, folder: Path) -> None:
    for i in range(20):
        (folder / f"by-hand-{i:02}.md").write_text("x")
    problems = ledger_problems(bag(tmp_path, folder))
    assert len(problems) == 6 and problems[-1] == "and 15 more ledger problems"


def test_verify_reads_a_bundle_without_a_ledger_as_before(tmp_path: Path, folder: Path) -> None:
    zip_path = bag(tmp_path, folder)
    stripped = tmp_path / "old.zip"
    with zipfile.ZipFile(zip_path) as src, zipfile.ZipFile(stripped, "w") as dst:
        for info in src.infolist():
            if info.filename != "data/run-ledger.jsonl":
                dst.writestr(info, src.read(info))
    problems = ledger_problems(stripped)  # only the bag's own finding that a listed entry is gone
    assert problems and all(p.startswith("listed in ") and p.endswith("but missing from the bundle") for p in problems)


def test_a_refused_step_that_wrote_nothing_does_not_move_the_evidence_to_its_identity(folder: Path) -> None:
    """After a commit, a refused `interlock signoff` still gets its line; a second attempt must not then pass."""
    step(folder, "4.2", on=B)  # wrote nothing
    assert ledger.evidence_identity(ledger.read(folder)) == A
    assert ledger.refusal(folder, B) is not None


def test_a_step_that_rewrites_a_leftover_with_the_same_bytes_produced_it(tmp_path: Path) -> None:
    """A killed step left logs/pact-workers.log (never ledgered); its rerun writes the same (empty) bytes again."""
    import os

    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "pact-workers.log").write_text("")
    (tmp_path / "matrix.json").write_text("{}")  # edited by hand before the step, untouched by it
    stamps: dict[str, tuple[int, int, int]] = {}
    before = ledger.tracked(tmp_path, stamps)
    (tmp_path / "logs" / "pact-workers.log").unlink()
    (tmp_path / "logs" / "pact-workers.log").write_text("")
    os.utime(tmp_path / "logs" / "pact-workers.log", ns=(1, 1))  # even on a coarse clock the new inode or time tells
    products, removed = ledger.step_changes(tmp_path, before, stamps)
    assert list(products) == ["logs/pact-workers.log"] and removed == []


def test_the_seals_are_left_to_the_manifest_and_signature_checks(folder: Path) -> None:
    """A 4.1 killed after writing the manifest and zip: its rerun must be able to replace them."""
    for name in ("integration-evidence-manifest.json", "INTEGRATION-EVIDENCE.zip", "integration-signoff.json"):
        (folder / name).write_text("left by a killed step")
    assert ledger.unproduced(ledger.tracked(folder), ledger.read(folder)) == []


def test_one_commit_with_changes_that_moved_during_the_run_is_explained() -> None:
    """A log redirected into the work tree changes its digest step by step: the refusal says so instead of leaving a puzzle."""
    commit = "a" * 40
    moved = {Identity(commit, True, "1" * 64): ["a.json"], Identity(commit, True, "2" * 64): ["b.json"]}
    assert "changed between steps" in ledger.describe_groups(moved, Identity(commit, True, "2" * 64))
    two_commits = {Identity(commit, False, None): ["a.json"], Identity("b" * 40, False, None): ["b.json"]}
    assert "changed between steps" not in ledger.describe_groups(two_commits, Identity("b" * 40, False, None))
