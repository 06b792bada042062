"""The output handlers of a published run (history, report, JUnit, step summary): a finished run is recorded in the history store and its report, JUnit XML and step summary are written.

No services: the run is a synthetic, schema-valid artifact folder (tests/sample.py)
and the store is the default SQLite file under the system's `.interlock/`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from interlock.config import Loaded, parse
from interlock.events import Event, EventStream, FileWritten, RunPublished
from interlock.history import HistoryRecorder, Outputs
from interlock.junit import JUNIT_NAME, JUnitWriter
from interlock.report import REPORT_NAME, ReportWriter
from interlock.summary import StepSummaryWriter
from interlock.store import ENV_VAR, open_store
from tests.sample import BROKEN_ITEM, sample_test_ids, write_sample

from .test_config import MINIMAL


def publish(loaded: Loaded, artifacts: Path) -> list[Path]:
    """What `interlock report` does: the run's handlers, in a run's order, on `RunPublished`; the files they say they wrote."""
    seen: list[Event] = []
    with Outputs(loaded, tolerant=False) as outputs:
        handlers = [HistoryRecorder(outputs), ReportWriter(outputs), JUnitWriter(outputs), StepSummaryWriter(outputs)]
        EventStream(seen.append, handlers)(RunPublished(str(artifacts)))
    return [Path(e.path) for e in seen if isinstance(e, FileWritten)]


@pytest.fixture
def system(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Loaded:
    """A system under test in tmp_path whose history store is its own (no store URL from the environment)."""
    for var in (ENV_VAR, "GITHUB_STEP_SUMMARY", "INTERLOCK_GIT_COMMIT", "GITHUB_SHA", "CI_COMMIT_SHA", "GIT_COMMIT"):
        monkeypatch.delenv(var, raising=False)
    path = tmp_path / "interlock.toml"
    path.write_text(MINIMAL)
    return Loaded(config=parse(MINIMAL, path), path=path, root=tmp_path)


def test_publish_records_the_run_and_writes_report_and_junit_beside_it(system: Loaded, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERLOCK_GIT_COMMIT", "c0ffee")
    failing = sample_test_ids(4)[0]
    artifacts = write_sample(system.root / ".artifacts", run_id="run-7", tests=4, broken_contract=True, failing_tests=[failing])
    written = publish(system, artifacts)
    assert written == [artifacts / REPORT_NAME, artifacts / JUNIT_NAME]
    assert all(p.is_file() and p.stat().st_size > 0 for p in written)
    assert "run-7" in (artifacts / REPORT_NAME).read_text("utf-8")
    junit = (artifacts / JUNIT_NAME).read_text("utf-8")
    assert junit.startswith('<?xml version="1.0" encoding="UTF-8"?>') and failing.split("::")[-1] in junit
    with open_store(None, system.root) as store:
        [run] = store.runs()
        assert (run.run_id, run.git_commit) == ("run-7", "c0ffee")
        failed = {r.key for r in store.results("run-7", failing_only=True)}
    assert failing in failed and any(BROKEN_ITEM in key for key in failed)


def test_publishing_a_run_again_keeps_one_record_of_it(system: Loaded) -> None:
    artifacts = write_sample(system.root / ".artifacts", run_id="run-1", tests=2)
    publish(system, artifacts)
    publish(system, artifacts)
    with open_store(None, system.root) as store:
        assert [r.run_id for r in store.runs()] == ["run-1"]


def test_the_step_summary_is_appended_only_where_ci_asks_for_one(system: Loaded, monkeypatch: pytest.MonkeyPatch) -> None:
    artifacts = write_sample(system.root / ".artifacts", run_id="run-1", tests=2)
    publish(system, artifacts)
    assert not list(system.root.glob("*summary*"))
    summary = system.root / "step-summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    publish(system, artifacts)
    text = summary.read_text("utf-8")
    assert text.startswith("earlier step\n") and len(text) > len("earlier step\n")
