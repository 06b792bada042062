"""build_manifest: content, determinism, refusals (the run identity it records: tests/unit/test_identity.py)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

import interlock
from interlock.evidence import BUNDLE_NAME, EVIDENCE_MANIFEST_NAME, SIGNOFF_NAME, build_manifest
from interlock.evidence.manifest import manifest_bytes, media_type

from ._support import ARTIFACTS, META


def test_manifest_lists_every_file_sorted_with_its_digest(artifacts: Path) -> None:
    provenance = {"defect-log.csv": {"phase": "3.2", "command": "interlock defects"}}
    manifest = build_manifest(artifacts, list(reversed(sorted(ARTIFACTS))), meta=META, provenance=provenance)

    assert [a["path"] for a in manifest["artifacts"]] == sorted(ARTIFACTS)
    for entry in manifest["artifacts"]:
        content = ARTIFACTS[entry["path"]]
        assert entry["sha256"] == hashlib.sha256(content).hexdigest()
        assert entry["size"] == len(content)
    by_path = {a["path"]: a for a in manifest["artifacts"]}
    assert by_path["defect-log.csv"]["phase"] == "3.2"
    assert by_path["defect-log.csv"]["command"] == "interlock defects"
    assert by_path["logs/run.log"]["phase"] is None and by_path["logs/run.log"]["command"] is None
    assert by_path["defect-log.csv"]["media_type"] == "text/csv"
    assert by_path["test-execution-report.json"]["media_type"] == "application/json"
    assert by_path["logs/run.log"]["media_type"] == "text/plain"


def test_manifest_top_level_fields_come_from_meta_only(artifacts: Path) -> None:
    manifest = build_manifest(artifacts, sorted(ARTIFACTS), meta=META)
    assert manifest["manifest_version"] == 1
    assert manifest["generated_at"] == META["generated_at"]
    assert manifest["run_id"] == "run-0001"
    assert manifest["environment"] == "integration"
    assert manifest["interlock_version"] == "0.1.0"
    assert manifest["tools"] == {"pact-python": "2.2.0", "pytest": "8.3.0"}
    assert manifest["source"] == {"git_commit": "0" * 40, "git_dirty": False, "changes_digest": None}
    assert (manifest["started_at"], manifest["finished_at"]) == (META["started_at"], META["finished_at"])


def test_manifest_is_deterministic(artifacts: Path) -> None:
    first = manifest_bytes(build_manifest(artifacts, sorted(ARTIFACTS), meta=META))
    os.utime(artifacts / "defect-log.csv", (0, 0))
    second = manifest_bytes(build_manifest(artifacts, list(reversed(sorted(ARTIFACTS))), meta=dict(META)))
    assert first == second


def test_manifest_skips_files_made_from_it(artifacts: Path) -> None:
    (artifacts / SIGNOFF_NAME).write_text("{}")
    (artifacts / BUNDLE_NAME).write_bytes(b"PK")
    files = [*ARTIFACTS, EVIDENCE_MANIFEST_NAME, SIGNOFF_NAME, BUNDLE_NAME]
    manifest = build_manifest(artifacts, files, meta=META)
    assert [a["path"] for a in manifest["artifacts"]] == sorted(ARTIFACTS)


def test_large_file_is_hashed_across_chunks(tmp_path: Path) -> None:
    content = bytes(range(256)) * (3 * 4096 + 1)  # > 3 MiB, not a multiple of the chunk
    (tmp_path / "big.bin").write_bytes(content)
    manifest = build_manifest(tmp_path, ["big.bin"], meta=META)
    assert manifest["artifacts"][0]["sha256"] == hashlib.sha256(content).hexdigest()
    assert manifest["artifacts"][0]["size"] == len(content)
    assert manifest["artifacts"][0]["media_type"] == "application/octet-stream"


def test_missing_metadata_is_refused(artifacts: Path) -> None:
    meta = {k: v for k, v in META.items() if k != "run_id"}
    with pytest.raises(ValueError, match="missing: run_id"):
        build_manifest(artifacts, sorted(ARTIFACTS), meta=meta)


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("../escape.json", "'..' component"),
        ("/etc/passwd", "absolute path"),
        ("logs\\run.log", "backslash"),
        ("logs//run.log", "empty or '.' component"),
    ],
)
def test_unsafe_paths_are_refused(artifacts: Path, path: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        build_manifest(artifacts, [path], meta=META)


def test_duplicate_paths_are_refused(artifacts: Path) -> None:
    with pytest.raises(ValueError, match="listed twice"):
        build_manifest(artifacts, ["defect-log.csv", "defect-log.csv"], meta=META)


def test_symlinked_artifact_is_refused(artifacts: Path, tmp_path: Path) -> None:
    (tmp_path / "outside.txt").write_text("not evidence")
    (artifacts / "link.txt").symlink_to(tmp_path / "outside.txt")
    with pytest.raises(ValueError, match="symlink"):
        build_manifest(artifacts, ["link.txt"], meta=META)


def test_symlinked_folder_escaping_the_artifacts_is_refused(artifacts: Path, tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "x.log").write_text("x")
    (artifacts / "more").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ValueError, match="resolves outside"):
        build_manifest(artifacts, ["more/x.log"], meta=META)


def test_provenance_for_unlisted_file_is_refused(artifacts: Path) -> None:
    with pytest.raises(ValueError, match="not listed: ghost.json"):
        build_manifest(artifacts, sorted(ARTIFACTS), meta=META, provenance={"ghost.json": {"phase": "1.1"}})


def test_media_type_does_not_depend_on_the_machine() -> None:
    assert media_type("integration-test-plan.md") == "text/markdown"
    assert media_type("REPORT.HTML") == "text/html"
    assert media_type("no-suffix") == "application/octet-stream"


def test_manifest_matches_the_project_schema(artifacts: Path) -> None:
    schema_path = Path(interlock.__file__).parent / "schemas" / "integration-evidence-manifest.schema.json"
    if not schema_path.exists():
        pytest.skip("the artifact schema is not in this checkout")
    from jsonschema import Draft202012Validator

    manifest = build_manifest(artifacts, sorted(ARTIFACTS), meta=META)
    errors = list(Draft202012Validator(json.loads(schema_path.read_text())).iter_errors(manifest))
    assert errors == []
