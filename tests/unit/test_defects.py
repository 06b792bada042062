"""Defect triage: stable identity, human edits kept, resolved-then-failing reopened, bad CSV is exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from interlock.artifacts import ArtifactDir
from interlock.defects import COLUMNS, Failure, merge, read_log, unmitigated_critical
from interlock.errors import UsageError

FAIL = Failure("test", "tests/test_a.py::test_x", "test tests/test_a.py::test_x failed", "critical", "report#x", "interlock test -- 'tests/test_a.py::test_x'", "boom", "orders")


def test_same_failure_twice_is_one_defect() -> None:
    rows = merge([], [FAIL], run_id="r1", now="t1", owners={}, service_owners={"orders": "team-orders"})
    rows = merge(rows, [FAIL], run_id="r2", now="t2", owners={}, service_owners={"orders": "team-orders"})
    assert len(rows) == 1
    assert rows[0]["occurrences"] == "2" and rows[0]["owner"] == "team-orders"
    assert rows[0]["id"] == f"DEF-{FAIL.fingerprint[:8]}"


def test_human_edits_survive_and_resolved_reopens(tmp_path: Path) -> None:
    rows = merge([], [FAIL], run_id="r1", now="t1", owners={"tests/test_a.py": "alice"}, service_owners={})
    rows[0].update(status="mitigated", mitigation="fix in PR 12", ticket="JIRA-1")
    rows = merge(rows, [FAIL], run_id="r2", now="t2", owners={}, service_owners={})
    assert (rows[0]["status"], rows[0]["mitigation"], rows[0]["ticket"], rows[0]["owner"]) == ("mitigated", "fix in PR 12", "JIRA-1", "alice")
    rows[0]["status"] = "resolved"
    rows = merge(rows, [FAIL], run_id="r3", now="t3", owners={}, service_owners={})
    assert (rows[0]["status"], rows[0]["regression"]) == ("open", "fail")


def test_unmitigated_critical() -> None:
    rows = merge([], [FAIL], run_id="r1", now="t1", owners={}, service_owners={})
    assert len(unmitigated_critical(rows, "r1")) == 1
    rows[0]["mitigation"] = "plan"
    assert unmitigated_critical(rows, "r1") == []


def test_csv_round_trip_and_bad_edit(tmp_path: Path) -> None:
    folder = ArtifactDir(tmp_path)
    rows = merge([], [FAIL], run_id="r1", now="t1", owners={}, service_owners={})
    folder.write_csv("defect-log.csv", COLUMNS, rows)
    assert read_log(tmp_path / "defect-log.csv") == rows
    text = (tmp_path / "defect-log.csv").read_text().replace('"critical"', '"urgent"')
    (tmp_path / "defect-log.csv").write_text(text)
    with pytest.raises(UsageError) as info:
        read_log(tmp_path / "defect-log.csv")
    assert info.value.problems[0].line == 2 and "urgent" in info.value.problems[0].message


def test_expired_defect_waiver_counts_as_absent() -> None:
    from datetime import datetime, timezone

    from interlock.metrics import waiver_active

    row = {"status": "waived", "waiver_approver": "qa", "waiver_reason": "vendor fix", "waiver_expires": "2026-01-01T00:00:00Z"}
    assert waiver_active(row, datetime(2025, 12, 31, tzinfo=timezone.utc))
    assert not waiver_active(row, datetime(2026, 1, 2, tzinfo=timezone.utc))
    assert not waiver_active({**row, "waiver_approver": ""}, datetime(2025, 1, 1, tzinfo=timezone.utc))
    assert not waiver_active({**row, "waiver_reason": " "}, datetime(2025, 1, 1, tzinfo=timezone.utc))
    assert not waiver_active({**row, "waiver_expires": "2026-01-01T00:00:00"}, datetime(2025, 1, 1, tzinfo=timezone.utc))


def test_the_defect_log_type_names_a_shards_own_file_and_starts_a_shard_from_the_full_log(tmp_path: Path) -> None:
    from interlock.defects import DefectLog
    from interlock.shards import Shard

    full = DefectLog.at(tmp_path)
    shard = DefectLog.at(tmp_path, Shard(2, 3))
    assert (full.name, shard.name) == ("defect-log.csv", "defect-log.shard-2-of-3.csv")
    assert not full.exists() and full.read() == [] and shard.full.path == full.path
    rows = full.record([FAIL], run_id="r1", now="t1", owners={}, service_owners={"orders": "team-orders"})
    assert full.exists() and full.read() == rows and rows[0]["owner"] == "team-orders"
    again = shard.record([FAIL], run_id="r2", now="t2", owners={}, service_owners={})
    assert shard.read() == again and again[0]["occurrences"] == "1"  # a shard's log is its own file
    assert full.read() == rows  # the full-suite log is untouched by a shard


def test_an_edit_reaches_every_staging_copy_that_holds_the_defect_and_no_other(tmp_path: Path) -> None:
    """`interlock run --resume` publishes a killed run's staging copy: an edit made only to the published log would be lost."""
    from interlock.defects import DefectLog
    from interlock.state import staging_folder

    published = tmp_path / "art"
    log = DefectLog.at(published)
    rows = log.record([FAIL], run_id="r1", now="t1", owners={}, service_owners={})
    holding, empty = DefectLog.at(staging_folder(published, "killed")), DefectLog.at(staging_folder(published, "fresh"))
    holding.write(rows)
    empty.write([])
    written: list[Path] = []

    def write(copy: DefectLog, edited: list[dict[str, str]]) -> None:
        written.append(copy.folder.root)
        copy.write(edited)

    edited = log.edit(rows[0]["id"], {"status": "mitigated", "mitigation": "fix in PR 12"}, write)
    assert (edited["status"], edited["mitigation"]) == ("mitigated", "fix in PR 12")
    assert written == [published, holding.folder.root]
    for copy in (log, holding):
        assert [(r["status"], r["mitigation"]) for r in copy.read()] == [("mitigated", "fix in PR 12")]
    assert empty.read() == []
    with pytest.raises(UsageError) as info:
        log.edit("DEF-nothere", {"status": "resolved"})
    assert "no defect 'DEF-nothere'" in info.value.problems[0].message
