"""Run history on SQLite: migrations, idempotent recording, flakiness across runs of one commit, trends."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from interlock import runspec
from interlock.errors import UsageError
from tests.sample import BROKEN_ITEM, sample_history, sample_record, sample_test_ids, write_sample
from interlock.store import ENV_VAR, engine_url, load_run, open_store, store_url
from interlock.store.migrate import current_revision, head_revision
from interlock.store.records import CheckResult, RunRecord, contract_key
from interlock.store.schema import VERSION_TABLE, metadata

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=timezone.utc)
BROKEN_KEY = contract_key("pact:orders->catalog", BROKEN_ITEM)


def _run(tmp: Path, name: str, minutes: int = 0, **kw: object) -> Path:
    return write_sample(tmp / name, run_id=name, started_at=T0 + timedelta(minutes=minutes), **kw)  # type: ignore[arg-type]


def test_default_store_is_sqlite_under_dot_interlock_and_migrated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    with open_store(None, tmp_path) as store:
        assert store.dialect == "sqlite"
        assert (tmp_path / ".interlock" / "history.db").is_file()
        assert current_revision(store.engine) == head_revision() is not None
        assert store.runs() == []
    with open_store(None, tmp_path) as again:  # a second open is a no-op upgrade
        assert current_revision(again.engine) == head_revision()


def test_url_precedence_and_mapping(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, f"sqlite:///{tmp_path / 'from-env.db'}")
    assert store_url(None, tmp_path).endswith("from-env.db")
    assert store_url("sqlite:///explicit.db", tmp_path) == "sqlite:///explicit.db"
    monkeypatch.delenv(ENV_VAR)
    assert store_url(None, tmp_path) == f"sqlite:///{(tmp_path / '.interlock' / 'history.db').resolve()}"
    assert engine_url("postgresql://u@h:5432/db").drivername == "postgresql+psycopg"
    assert engine_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    with pytest.raises(UsageError, match="only sqlite:// and postgresql://"):
        engine_url("mysql://root@localhost/x")
    with pytest.raises(UsageError, match="not a database URL"):
        engine_url("not a url")


def test_unreachable_postgres_is_a_usage_error_with_the_password_hidden() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(UsageError) as caught:
        open_store(f"postgresql://me:secret@127.0.0.1:{port}/history", None)
    assert "secret" not in str(caught.value) and "cannot open the history store" in str(caught.value)


def test_migrations_create_exactly_the_declared_schema(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'h.db'}", tmp_path) as store, store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}), metadata)
        assert diff == []
        assert VERSION_TABLE in sa.inspect(conn).get_table_names()


def test_a_newer_schema_than_this_interlock_knows_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    open_store(url, tmp_path).close()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = 'f00d'"))
    engine.dispose()
    with pytest.raises(UsageError, match="newer than this interlock knows"):
        open_store(url, tmp_path)


def test_concurrent_first_opens_of_one_sqlite_file_all_succeed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            open_store(url, tmp_path).close()
        except BaseException as exc:  # noqa: BLE001 - collected for the assert
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_record_run_reads_every_check_gate_and_defect(tmp_path: Path) -> None:
    folder = _run(tmp_path, "r1", tests=12, broken_contract=True, failing_tests=[sample_test_ids(12)[3]])
    with open_store(None, tmp_path) as store:
        record = store.record_run(folder, git_commit="c1")
        summary = store.run("r1")
    assert summary is not None
    assert (summary.tests_total, summary.tests_passed, summary.tests_failed) == (12, 11, 1)
    assert (summary.contracts_total, summary.contracts_failed) == (7, 1)
    assert summary.status == "fail" and dict(summary.gates) == {1: "pass", 2: "fail", 3: "fail", 4: "pass"}
    assert summary.environment == "integration" and summary.git_commit == "c1" and summary.project == "shop"
    assert summary.started_at == "2026-11-01T09:00:00Z" and summary.duration_s == 20.0
    assert summary.defects_open == 2 == len(record.defects)
    assert {r.category for r in record.results} == {"environment", "contract", "test"}
    with open_store(None, tmp_path) as store:
        failing = store.results("r1", failing_only=True)
        assert {(r.category, r.key) for r in failing} == {("contract", BROKEN_KEY), ("test", sample_test_ids(12)[3])}
        broken = next(r for r in failing if r.category == "contract")
        assert broken.message == "$: Actual map is missing the following keys: price_cents" and broken.duration_ms == 130.0
        assert [d.id for d in store.defects("r1")] == sorted(d.id for d in record.defects)


def test_recording_a_run_again_replaces_it(tmp_path: Path) -> None:
    first = _run(tmp_path, "same", tests=5, broken_contract=True)
    with open_store(None, tmp_path) as store:
        store.record_run(first, git_commit="c1")
        store.record_run(first, git_commit="c1")
        assert len(store.runs()) == 1 and len(store.results("same")) == 5 + 7 + 4
        fixed = _run(tmp_path / "again", "same", tests=6)
        store.record_run(fixed, git_commit="c2")
        [only] = store.runs()
        assert (only.tests_total, only.contracts_failed, only.git_commit, only.status) == (6, 0, "c2", "pass")
        assert len(store.results("same")) == 6 + 7 + 4
        with store.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM interlock_defects")).scalar() == 0


def test_arguments_override_the_run_state_and_missing_state_needs_a_run_id(tmp_path: Path) -> None:
    folder = _run(tmp_path, "r1", tests=3)
    record = load_run(folder, run_id="given", environment="staging", started_at="2026-11-02T10:00:00+01:00", finished_at=datetime(2026, 11, 2, 9, 1, tzinfo=timezone.utc))
    assert (record.run_id, record.environment, record.started_at, record.finished_at, record.duration_s) == ("given", "staging", "2026-11-02T09:00:00Z", "2026-11-02T09:01:00Z", 60.0)
    (folder / ".interlock-state.json").unlink()
    with pytest.raises(UsageError, match="no run id"):
        load_run(folder)


def test_duplicate_checks_in_one_run_keep_the_worst_outcome(tmp_path: Path) -> None:
    folder = _run(tmp_path, "dup", tests=2)
    report = json.loads((folder / "test-execution-report.json").read_text())
    twin = json.loads(json.dumps(report["tests"][0]))
    twin["outcome"] = "failed"
    report["tests"].append(twin)  # merged shards that both ran one test
    (folder / "test-execution-report.json").write_text(json.dumps(report))
    outcomes = {r.key: r.outcome for r in load_run(folder).results if r.category == "test"}
    assert outcomes == {sample_test_ids(2)[0]: "fail", sample_test_ids(2)[1]: "pass"}


def test_flaky_means_passed_and_failed_on_the_same_commit(tmp_path: Path) -> None:
    victim = sample_test_ids(6)[2]
    with open_store(None, tmp_path) as store:
        store.record_run(_run(tmp_path, "a", 0, tests=6), git_commit="c1")
        store.record_run(_run(tmp_path, "b", 10, tests=6, broken_contract=True, failing_tests=[victim]), git_commit="c1")
        store.record_run(_run(tmp_path, "c", 20, tests=6, failing_tests=[victim]), git_commit="c2")  # fails only: not flaky on c2
        store.record_run(_run(tmp_path, "d", 30, tests=6, broken_contract=True), git_commit=None)  # no commit: proves nothing
        flaky = store.flaky()
        assert {(f.category, f.key, f.git_commit) for f in flaky} == {("test", victim, "c1"), ("contract", BROKEN_KEY, "c1")}
        test_flaky = next(f for f in flaky if f.category == "test")
        assert (test_flaky.passed, test_flaky.failed, test_flaky.last_run_id, test_flaky.last_outcome) == (1, 1, "b", "fail")
        assert store.flaky(commit="c2") == [] and len(store.flaky(limit=1)) == 1
        store.record_run(_run(tmp_path, "e", 40, tests=6), git_commit="c2")  # now c2 has a pass too
        assert ("test", victim, "c2") in {(f.category, f.key, f.git_commit) for f in store.flaky()}
        assert store.flaky(last_runs=1) == []


def test_skipped_and_pending_do_not_make_a_check_flaky(tmp_path: Path) -> None:
    def record(run_id: str, outcome: str) -> RunRecord:
        return RunRecord(run_id, "integration", "c1", f"2026-11-01T09:0{len(run_id)}:00Z", None, "pass",
                         results=[CheckResult("test", "t::x", "x", "t", outcome, 1.0)])

    with open_store(None, tmp_path) as store:
        store.record(record("1", "pass"))
        store.record(record("22", "skip"))
        store.record(record("333", "pending"))
        assert store.flaky() == []
        store.record(record("4444", "error"))
        assert [f.key for f in store.flaky()] == ["t::x"]


def test_trend_is_oldest_first_by_start_with_rates_and_flaky_counts(tmp_path: Path) -> None:
    victim = sample_test_ids(4)[1]
    with open_store(None, tmp_path) as store:
        # recorded out of order: the trend follows the start times
        store.record_run(_run(tmp_path, "late", 20, tests=4), git_commit="c1")
        store.record_run(_run(tmp_path, "early", 0, tests=4, failing_tests=[victim]), git_commit="c1")
        store.record_run(_run(tmp_path, "middle", 10, tests=4, broken_contract=True), git_commit="c1")
        trend = store.trend()
        assert [p.run_id for p in trend] == ["early", "middle", "late"]
        assert [p.test_pass_rate for p in trend] == [0.75, 1.0, 1.0]
        assert [round(p.contract_pass_rate or 0, 3) for p in trend] == [1.0, round(6 / 7, 3), 1.0]
        assert [p.flaky for p in trend] == [0, 2, 2]  # at "middle" the victim passes again and the contract fails
        assert [p.defects_open for p in trend] == [1, 1, 0]
        assert [p.duration_s for p in trend] == [20.0, 20.0, 20.0]
        assert [r.run_id for r in store.runs(2)] == ["late", "middle"]
        hist = store.history(2, runs_listed=1, flaky_limit=None)
        assert [p.run_id for p in hist.trend] == ["middle", "late"] and [r.run_id for r in hist.runs] == ["late"]
        assert hist.flaky_total == len(hist.flaky) == 1 and hist.flaky[0].key == BROKEN_KEY


def test_recent_outcomes_oldest_first_with_gaps(tmp_path: Path) -> None:
    with open_store(None, tmp_path) as store:
        store.record_run(_run(tmp_path, "a", 0, tests=2), git_commit="c1")
        store.record_run(_run(tmp_path, "b", 10, tests=3, broken_contract=True), git_commit="c1")
        got = store.recent_outcomes([("contract", BROKEN_KEY), ("test", sample_test_ids(3)[2]), ("test", "nope")], runs=5)
    assert got == {("contract", BROKEN_KEY): ["pass", "fail"], ("test", sample_test_ids(3)[2]): [None, "pass"], ("test", "nope"): [None, None]}


def test_many_runs_and_checks_go_through_chunked_queries(tmp_path: Path) -> None:
    with open_store(None, tmp_path) as store:
        sample_history(store, runs=12, tests=2600, flaky=3)  # > 4 chunks of checks: the full-scan path
        assert len(store.runs(100)) == 12
        assert len(store.results("run-00011", category="test")) == 2600
        flaky = store.flaky(limit=None)
        assert len({f.key for f in flaky if f.category == "test"}) >= 3
        assert all(f.passed >= 1 and f.failed >= 1 for f in flaky)
        assert store.trend()[-1].flaky == len([f for f in flaky if f.git_commit == store.trend()[-1].git_commit])
        again = sample_record(11, tests=2600, commit=f"{11 // 2:040x}")
        store.record(again)  # the same run id once more, in a fresh transaction
        assert len(store.results("run-00011")) == 2601


def test_flaky_checks_become_stable_defects(tmp_path: Path) -> None:
    from interlock.defects import merge
    from interlock.store import flaky_failures

    victim = sample_test_ids(3)[0]
    with open_store(None, tmp_path) as store:
        store.record_run(_run(tmp_path, "a", 0, tests=3), git_commit="c1")
        store.record_run(_run(tmp_path, "b", 10, tests=3, failing_tests=[victim]), git_commit="c1")
        failures = flaky_failures(store.flaky())
    assert [(f.source, f.key, f.severity, f.rerun) for f in failures] == [("flaky", f"test:{victim}", "medium", f"interlock test -- '{victim}'")]
    rows = merge([], failures, run_id="b", now="t", owners={}, service_owners={})
    again = merge(rows, failures, run_id="c", now="t2", owners={}, service_owners={})
    assert len(again) == 1 and again[0]["occurrences"] == "2" and "passed 1 time(s) and failed 1 time(s) on commit c1" in again[0]["message"]


def test_commit_key_prefers_ci_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from interlock.identity import commit_key

    for var in ("INTERLOCK_GIT_COMMIT", "GITHUB_SHA", "CI_COMMIT_SHA", "GIT_COMMIT"):
        monkeypatch.delenv(var, raising=False)
    assert commit_key(tmp_path) is None  # not a git work tree
    monkeypatch.setenv("CI_COMMIT_SHA", "abc123")
    assert commit_key(tmp_path) == "abc123"
    assert commit_key(Path(__file__).parent) == "abc123"


def test_the_test_reports_commit_is_used_when_none_is_given(tmp_path: Path) -> None:
    folder = _run(tmp_path, "r1", tests=2)
    report = json.loads((folder / "test-execution-report.json").read_text())
    report["interlock"]["commit"] = "0123abcd"
    (folder / "test-execution-report.json").write_text(json.dumps(report))
    assert load_run(folder).git_commit == "0123abcd"
    assert load_run(folder, git_commit="given").git_commit == "given"


def test_a_hand_built_record_with_a_check_twice_keeps_the_worst(tmp_path: Path) -> None:
    twice = [CheckResult("test", "t::x", "x", "t", "pass", 1.0), CheckResult("test", "t::x", "x", "t", "error", 2.0, "boom")]
    with open_store(None, tmp_path) as store:
        store.record(RunRecord("r", "integration", "c1", "2026-11-01T09:00:00Z", None, "fail", results=twice))
        assert [(r.outcome, r.message) for r in store.results("r")] == [("error", "boom")]
        assert store.runs()[0].tests_failed == 1 and store.runs()[0].tests_total == 1


def test_flaky_with_counts_the_run_being_triaged(tmp_path: Path) -> None:
    victim, other = sample_test_ids(4)[1], sample_test_ids(4)[3]
    with open_store(None, tmp_path) as store:
        store.record_run(_run(tmp_path, "a", 0, tests=4), git_commit="c1")
        store.record_run(_run(tmp_path, "old1", -20, tests=4, failing_tests=[other]), git_commit="c0")
        store.record_run(_run(tmp_path, "old2", -10, tests=4), git_commit="c0")
        current = load_run(_run(tmp_path, "b", 10, tests=4, failing_tests=[victim])).results
        flaky = {(f.category, f.key): f for f in store.flaky_with(current, "b", "c1")}
        assert set(flaky) == {("test", victim), ("test", other)}  # this run's flip, and the history's flaky one
        assert (flaky[("test", victim)].passed, flaky[("test", victim)].failed, flaky[("test", victim)].last_run_id) == (1, 1, "b")
        assert {f.key for f in store.flaky_with(current, "b", "c9")} == {other}  # no earlier run of c9: a failure is just a failure


def test_uncommitted_changes_are_not_the_commit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    from interlock.identity import commit_key

    for var in ("INTERLOCK_GIT_COMMIT", "GITHUB_SHA", "CI_COMMIT_SHA", "GIT_COMMIT"):
        monkeypatch.delenv(var, raising=False)

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@e", *args], check=True, capture_output=True, text=True).stdout

    git("init", "-q")
    (tmp_path / "app.py").write_text("A = 1\n")
    git("add", "app.py")
    git("commit", "-q", "-m", "one")
    head = git("rev-parse", "HEAD").strip()
    assert commit_key(tmp_path) == head
    (tmp_path / "app.py").write_text("A = 2\n")
    first = commit_key(tmp_path)
    (tmp_path / "app.py").write_text("A = 3\n")
    second = commit_key(tmp_path)
    assert first and second and first.startswith(head + "+") and second.startswith(head + "+") and first != second
    (tmp_path / "app.py").write_text("A = 1\n")
    assert commit_key(tmp_path) == head


def test_triage_files_flaky_checks_as_defects_and_recommendations_name_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from interlock.artifacts import ArtifactDir
    from interlock.defects import read_log
    from interlock.phases import recommendations, triage
    from interlock.context import RunContext
    from tests.unit.test_phases_phase4 import System

    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setenv("INTERLOCK_GIT_COMMIT", "c1")
    system = System(tmp_path / "sys")
    victim = sample_test_ids(3)[2]
    with open_store(None, system.root) as store:
        store.record_run(_run(tmp_path, "a", 0, tests=3), git_commit="c1")
    folder = ArtifactDir(_run(tmp_path, "b", 10, tests=3, failing_tests=[victim]))
    ctx = RunContext(runspec.build(system.loaded, "integration"), folder, system.events.append, lambda kind: (True, "test"), "b")
    outcome = triage.run(ctx)
    assert outcome.status == "fail" and "1 flaky check(s) by the run history" in (outcome.reason or "")
    flaky = [r for r in read_log(folder.path("defect-log.csv")) if r["source"] == "flaky"]
    assert [(r["title"], r["severity"], r["status"]) for r in flaky] == [(f"flaky test {victim}", "medium", "open")]
    recommendations.run(ctx)
    text = folder.path("forward-recommendations.md").read_text("utf-8")
    assert f"`{flaky[0]['id']}` (flaky test {victim}) is flaky across runs: test {victim} passed 1 time(s) and failed 1 time(s) on commit c1" in text


def test_triage_without_a_commit_says_flakiness_was_not_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from interlock.artifacts import ArtifactDir
    from interlock.events import Notice
    from interlock.phases import triage
    from interlock.context import RunContext
    from tests.unit.test_phases_phase4 import System

    for var in ("INTERLOCK_GIT_COMMIT", "GITHUB_SHA", "CI_COMMIT_SHA", "GIT_COMMIT", ENV_VAR):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    system = System(tmp_path / "sys")
    folder = ArtifactDir(_run(tmp_path, "b", 0, tests=2))
    triage.run(RunContext(runspec.build(system.loaded, "integration"), folder, system.events.append, lambda kind: (True, "test"), "b"))
    assert any(isinstance(e, Notice) and "flakiness across runs not checked" in e.message for e in system.events)


def test_a_resolved_flaky_defect_stays_resolved_until_a_new_flaky_observation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """issue 15: the history keeps c1's flip for 200 runs; resolving its defect must hold until a run flips again."""
    from interlock.artifacts import ArtifactDir
    from interlock.context import RunContext
    from interlock.defects import DefectLog, read_log
    from interlock.phases import triage
    from tests.unit.test_phases_phase4 import System

    monkeypatch.delenv(ENV_VAR, raising=False)
    system = System(tmp_path / "sys")
    victim = sample_test_ids(3)[2]

    def triage_run(name: str, minutes: int, commit: str, failing: list[str], previous: list[dict[str, str]]) -> list[dict[str, str]]:
        monkeypatch.setenv("INTERLOCK_GIT_COMMIT", commit)
        folder = ArtifactDir(_run(tmp_path, name, minutes, tests=3, failing_tests=failing, previous_defects=previous))
        DefectLog(folder).write(previous)  # the log as the previous run left it (and as a person edited it)
        triage.run(RunContext(runspec.build(system.loaded, "integration"), folder, system.events.append, lambda kind: (True, "test"), name))
        with open_store(None, system.root) as store:
            store.record_run(folder.root, git_commit=commit)
        return read_log(folder.path("defect-log.csv"))

    rows = triage_run("a", 0, "c1", [], [])
    rows = triage_run("b", 10, "c1", [victim], rows)  # passed, then failed on c1: flaky
    flaky = [r for r in rows if r["source"] == "flaky"]
    assert [r["status"] for r in flaky] == ["open"]
    for row in rows:
        if row["source"] == "flaky":
            row["status"] = "resolved"  # as `interlock defects resolve` leaves it
    rows = triage_run("c", 20, "c2", [], rows)  # c1's flip is still in the history window: no new observation
    assert [(r["status"], r["occurrences"]) for r in rows if r["source"] == "flaky"] == [("resolved", "1")]
    rows = triage_run("d", 30, "c2", [], rows)
    assert [r["status"] for r in rows if r["source"] == "flaky"] == ["resolved"]
    rows = triage_run("e", 40, "c2", [victim], rows)  # passed on c2 in c and d, fails now: a new flaky observation
    assert [(r["status"], r["occurrences"]) for r in rows if r["source"] == "flaky"] == [("open", "2")]


def test_settled_flaky_keeps_only_what_is_unresolved_or_seen_anew() -> None:
    from interlock.defects import Failure
    from interlock.phases.triage import settled_flaky

    one, two, three = (Failure("flaky", f"test:t{i}", f"flaky test t{i}", "medium", "", "", "") for i in range(3))
    log = [{"fingerprint": one.fingerprint, "status": "resolved", "source": "flaky"}, {"fingerprint": two.fingerprint, "status": "open", "source": "flaky"}]
    assert settled_flaky(log, [one, two, three], set()) == [two, three]
    assert settled_flaky(log, [one, two, three], {one.fingerprint}) == [one, two, three]
