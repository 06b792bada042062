"""After a run: record it in the history store and write the outputs people look at.

The history store, the HTML report, the JUnit XML and the CI step summary are
handlers of a finished run: they read the artifacts and never change a verdict.
"""

from __future__ import annotations

from pathlib import Path

from interlock.config import Loaded
from interlock.identity import commit_key
from interlock.junit import JUNIT_NAME, write_junit
from interlock.report import REPORT_NAME, write_report
from interlock.store import open_store
from interlock.summary import append_step_summary

def publish(loaded: Loaded, artifacts_dir: Path) -> list[Path]:
    """Record the run found in `artifacts_dir`, then write the report and JUnit XML beside it; return what was written."""
    with open_store(loaded.config.store.url, loaded.root) as store:
        store.record_run(artifacts_dir, git_commit=commit_key(loaded.root, artifacts_dir))
        written = [write_report(store, artifacts_dir, artifacts_dir / REPORT_NAME), write_junit(artifacts_dir, artifacts_dir / JUNIT_NAME)]
    append_step_summary(artifacts_dir)
    return written
