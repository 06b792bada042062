"""The run history behind one SQLAlchemy engine: write runs, answer the report's questions.

Every query returns plain dataclasses ordered in Python or by integer keys, so
SQLite and PostgreSQL (whose text collations differ) give the same answers.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from interlock.store import schema as t
from interlock.store.records import (
    FAILING, PASS, CheckResult, DefectRecord, FlakyCheck, RunRecord, RunSummary, TrendPoint, dedupe, load_run, utc_text,
)

if TYPE_CHECKING:
    from interlock.runfolder import RunFolder

_CHUNK = 500  # bound parameters per IN (...), well under SQLite's and psycopg's limits
_INT_CHUNK = 5000  # our own integer keys, written inline: no parameter limit, no binding cost


def _ints(values: Iterable[int]) -> str:
    """A literal list of integer keys for IN (...); only ever our own pks (int() refuses anything else)."""
    return ",".join(str(int(v)) for v in values)


def digest(category: str, key: str) -> str:
    return hashlib.sha256(f"{category}\0{key}".encode()).hexdigest()[:32]


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _insert(engine: sa.Engine, table: sa.Table) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING in the engine's dialect (both backends have it)."""
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


class Store:
    """The history of runs. Open it with `interlock.store.open_store`."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._pks: dict[str, int] = {}  # check digest → pk; a check's pk never changes once written
        self._digests: dict[tuple[str, str], str] = {}

    @property
    def url(self) -> str:
        """The store's URL with any password hidden (for messages)."""
        return self.engine.url.render_as_string(hide_password=True)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # ------------------------------------------------------------------ writing

    def record_run(
        self,
        artifacts_dir: Path | RunFolder,
        *,
        run_id: str | None = None,
        environment: str | None = None,
        git_commit: str | None = None,
        started_at: datetime | str | None = None,
        finished_at: datetime | str | None = None,
    ) -> RunRecord:
        """Record the run whose artifacts are in `artifacts_dir`; recording a run id again replaces it.

        Arguments left out come from the folder's run state (`.interlock-state.json`)
        and the artifacts; the git commit is never guessed here (see `identity.commit_key`).
        Returns the record written.
        """
        record = load_run(artifacts_dir, run_id=run_id, environment=environment, git_commit=git_commit, started_at=started_at, finished_at=finished_at)
        self.record(record)
        return record

    def record(self, run: RunRecord, *, recorded_at: datetime | str | None = None) -> None:
        """Write one run in one transaction, idempotently per run id (a second write replaces the first)."""
        recorded = utc_text(recorded_at) or utc_text(datetime.now(timezone.utc))
        try:
            self._record(run, recorded)
        except IntegrityError:
            self._pks.clear()  # checks inserted by the rolled-back transaction are gone
            self._record(run, recorded)  # another writer inserted the same run id or check first: now it is an update
        except BaseException:
            self._pks.clear()
            raise

    def _record(self, run: RunRecord, recorded: str | None) -> None:
        if len({(r.category, r.key) for r in run.results}) != len(run.results):
            run = replace(run, results=dedupe(run.results))
        row = {
            "run_id": run.run_id, "environment": run.environment, "git_commit": run.git_commit or None, "project": run.project,
            "started_at": run.started_at, "finished_at": run.finished_at, "recorded_at": recorded,
            "duration_s": run.duration_s, "status": run.status, **run.counts(),
        }
        known = self._digests
        digests = [known.get((r.category, r.key)) or known.setdefault((r.category, r.key), digest(r.category, r.key)) for r in run.results]
        with self.engine.begin() as conn:
            pks = self._check_pks(conn, run.results, digests)
            run_pk = conn.execute(sa.select(t.runs.c.pk).where(t.runs.c.run_id == run.run_id)).scalar()
            if run_pk is None:
                inserted = conn.execute(t.runs.insert().values(**row)).inserted_primary_key
                assert inserted is not None  # an INSERT of one row always reports its key
                run_pk = inserted[0]
            else:
                for child in t.CHILD_TABLES:
                    conn.execute(child.delete().where(child.c.run_pk == run_pk))
                conn.execute(t.runs.update().where(t.runs.c.pk == run_pk).values(**row))
            if run.results:
                # The one big insert (10,000 rows for 10,000 tests) goes straight to the driver's
                # executemany: SQLAlchemy's per-row parameter processing would triple its cost.
                mark = "?" if self.engine.dialect.paramstyle == "qmark" else "%s"
                sql = f"INSERT INTO {t.results.name} (run_pk, check_pk, outcome, duration_ms, message) VALUES ({', '.join([mark] * 5)})"
                conn.exec_driver_sql(sql, [(run_pk, pks[d], r.outcome, r.duration_ms, r.message) for d, r in zip(digests, run.results)])
            if run.gates:
                conn.execute(t.gates.insert(), [{"run_pk": run_pk, "gate_id": g.id, "name": g.name, "status": g.status} for g in run.gates])
            if run.conditions:
                conn.execute(t.conditions.insert(), [
                    {"run_pk": run_pk, "condition_id": c.id, "gate_id": c.gate_id, "metric": c.metric, "operator": c.operator,
                     "threshold": c.threshold, "actual": c.actual, "blocking": c.blocking, "raw_status": c.raw_status,
                     "status": c.status, "artifact": c.artifact, "reason": c.reason, "waived": c.waived}
                    for c in {c.id: c for c in run.conditions}.values()
                ])
            if run.defects:
                conn.execute(t.defects.insert(), [
                    {"run_pk": run_pk, "defect_id": d.id, "fingerprint": d.fingerprint, "source": d.source, "title": d.title,
                     "severity": d.severity, "owner": d.owner, "status": d.status, "ticket": d.ticket,
                     "occurrences": d.occurrences, "message": d.message}
                    for d in {d.id: d for d in run.defects}.values()
                ])

    def _check_pks(self, conn: sa.Connection, results: Sequence[CheckResult], digests: Sequence[str]) -> dict[str, int]:
        """The pk of every check in `results`, inserting the checks seen for the first time."""
        wanted = dict(zip(digests, results))
        unknown = [d for d in wanted if d not in self._pks]
        if len(unknown) > 4 * _CHUNK:  # many: one scan of the checks table beats many IN (...) lookups
            self._pks.update((d, pk) for d, pk in conn.execute(sa.select(t.checks.c.digest, t.checks.c.pk)))
        else:
            self._pks.update(self._lookup(conn, unknown))
        missing = [d for d in wanted if d not in self._pks]
        if missing:
            stmt = _insert(self.engine, t.checks).on_conflict_do_nothing(index_elements=["digest"])
            conn.execute(stmt, [{"digest": d, "category": wanted[d].category, "key": wanted[d].key, "name": wanted[d].name, "group": wanted[d].group} for d in missing])
            self._pks.update(self._lookup(conn, missing))
        return self._pks

    @staticmethod
    def _lookup(conn: sa.Connection, digests: Sequence[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for chunk in _chunks(digests):
            found.update((d, pk) for d, pk in conn.execute(sa.select(t.checks.c.digest, t.checks.c.pk).where(t.checks.c.digest.in_(chunk))))
        return found

    # ------------------------------------------------------------------ forgetting

    def forget(self, run_ids: Iterable[str]) -> list[str]:
        """Remove runs (their results, gates, conditions and defects) in one transaction; returns the ids that were there.

        Checks stay: they are shared by every run and cost one row each.
        """
        wanted = list(dict.fromkeys(run_ids))
        with self.engine.begin() as conn:
            found = {rid: pk for rid, pk in conn.execute(sa.select(t.runs.c.run_id, t.runs.c.pk).where(t.runs.c.run_id.in_(wanted)))} if wanted else {}
            for chunk in _chunks(sorted(found.values())):
                for child in t.CHILD_TABLES:
                    conn.execute(child.delete().where(child.c.run_pk.in_(chunk)))
                conn.execute(t.runs.delete().where(t.runs.c.pk.in_(chunk)))
        return [rid for rid in wanted if rid in found]

    def prunable(self, *, older_than: datetime | None = None, keep_last: int | None = None, environment: str | None = None) -> list[str]:
        """The runs `prune` would remove, newest first: started (or recorded) before `older_than`, or beyond the newest `keep_last`."""
        cutoff = utc_text(older_than) if older_than is not None else None
        with self.engine.connect() as conn:
            rows = self._run_rows(conn, environment=environment)
        doomed = []
        for i, r in enumerate(rows):
            when = r.started_at or r.recorded_at
            if (keep_last is not None and i >= keep_last) or (cutoff is not None and when is not None and when < cutoff):
                doomed.append(r.run_id)
        return doomed

    def prune(self, *, older_than: datetime | None = None, keep_last: int | None = None, environment: str | None = None) -> list[str]:
        """Remove the runs `prunable` names; returns their ids."""
        return self.forget(self.prunable(older_than=older_than, keep_last=keep_last, environment=environment))

    # ------------------------------------------------------------------ reading

    def _run_rows(self, conn: sa.Connection, *, environment: str | None = None, limit: int | None = None) -> list[sa.Row[Any]]:
        """Runs newest first (by start, then by the order they were recorded)."""
        order = sa.func.coalesce(t.runs.c.started_at, t.runs.c.recorded_at)
        query = sa.select(t.runs).order_by(order.desc(), t.runs.c.pk.desc())
        if environment is not None:
            query = query.where(t.runs.c.environment == environment)
        if limit is not None:
            query = query.limit(limit)
        return list(conn.execute(query))

    def runs(self, limit: int = 50, *, environment: str | None = None) -> list[RunSummary]:
        """The latest `limit` runs, newest first."""
        with self.engine.connect() as conn:
            rows = self._run_rows(conn, environment=environment, limit=limit)
            gates: dict[int, list[tuple[int, str]]] = defaultdict(list)
            for chunk in _chunks([r.pk for r in rows]):
                for g in conn.execute(sa.select(t.gates.c.run_pk, t.gates.c.gate_id, t.gates.c.status).where(t.gates.c.run_pk.in_(chunk)).order_by(t.gates.c.run_pk, t.gates.c.gate_id)):
                    gates[g.run_pk].append((g.gate_id, g.status))
        return [_summary(r, tuple(gates[r.pk])) for r in rows]

    def run(self, run_id: str) -> RunSummary | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t.runs).where(t.runs.c.run_id == run_id)).first()
            if row is None:
                return None
            gates = tuple((g, s) for g, s in conn.execute(sa.select(t.gates.c.gate_id, t.gates.c.status).where(t.gates.c.run_pk == row.pk).order_by(t.gates.c.gate_id)))
        return _summary(row, gates)

    def results(self, run_id: str, *, category: str | None = None, failing_only: bool = False) -> list[CheckResult]:
        """One run's results, in check order (the order checks were first seen)."""
        query = (
            sa.select(t.checks.c.category, t.checks.c.key, t.checks.c.name, t.checks.c.group, t.results.c.outcome, t.results.c.duration_ms, t.results.c.message)
            .select_from(t.results.join(t.runs, t.runs.c.pk == t.results.c.run_pk).join(t.checks, t.checks.c.pk == t.results.c.check_pk))
            .where(t.runs.c.run_id == run_id).order_by(t.checks.c.pk)
        )
        if category is not None:
            query = query.where(t.checks.c.category == category)
        if failing_only:
            query = query.where(t.results.c.outcome != PASS)
        with self.engine.connect() as conn:
            return [CheckResult(*row) for row in conn.execute(query)]

    def defects(self, run_id: str) -> list[DefectRecord]:
        """The defect log as it was at the end of a run."""
        d = t.defects.c
        # ten columns: past SQLAlchemy's typed arities, so each row is typed as a tuple of any length
        query: sa.Select[Unpack[tuple[Any, ...]]] = (sa.select(d.defect_id, d.fingerprint, d.source, d.title, d.severity, d.owner, d.status, d.ticket, d.occurrences, d.message)
                 .join(t.runs, t.runs.c.pk == d.run_pk).where(t.runs.c.run_id == run_id))
        with self.engine.connect() as conn:
            rows = [DefectRecord(*row) for row in conn.execute(query)]
        return sorted(rows, key=lambda r: r.id)

    def recent_outcomes(self, keys: Iterable[tuple[str, str]], *, runs: int | None = 20, environment: str | None = None, commit: str | None = None) -> dict[tuple[str, str], list[str | None]]:
        """For each (category, key): its outcome in each of the last `runs` runs (of `commit`, if given), oldest first (None: not in that run)."""
        keys = list(dict.fromkeys(keys))
        with self.engine.connect() as conn:
            window = list(reversed(self._run_rows(conn, environment=environment, limit=runs)))
            if commit is not None:
                window = [r for r in window if r.git_commit == commit]
            position = {r.pk: i for i, r in enumerate(window)}
            pks = self._lookup(conn, [digest(c, k) for c, k in keys])
            by_pk = {pks[digest(c, k)]: (c, k) for c, k in keys if digest(c, k) in pks}
            out: dict[tuple[str, str], list[str | None]] = {k: [None] * len(window) for k in keys}
            runs_sql = _ints(position)
            for chunk in _chunks(sorted(by_pk), _INT_CHUNK):
                if not position:
                    break
                rows = conn.exec_driver_sql(
                    f"SELECT run_pk, check_pk, outcome FROM {t.results.name} WHERE run_pk IN ({runs_sql}) AND check_pk IN ({_ints(chunk)})").all()
                for run_pk, check_pk, outcome in rows:
                    out[by_pk[check_pk]][position[run_pk]] = outcome
        return out

    # ------------------------------------------------------------------ flakiness and trends

    def _flaky_events(self, conn: sa.Connection, window: list[sa.Row[Any]]) -> dict[tuple[int, str], list[tuple[int, str]]]:
        """(check pk, commit) → [(position of run in `window`, outcome)] for every check that both failed and passed on one commit.

        Failures come from a small partial index (outcome <> 'pass'); passes are
        then looked up by primary key only for those checks, only in the runs of
        their commit: the cost follows the failures, not tests × runs.
        """
        by_commit: dict[str, list[int]] = defaultdict(list)
        position = {}
        for i, r in enumerate(window):
            position[r.pk] = i
            if r.git_commit:
                by_commit[r.git_commit].append(r.pk)
        commit_of = {pk: c for c, pks in by_commit.items() if len(pks) > 1 for pk in pks}
        events: dict[tuple[int, str], list[tuple[int, str]]] = defaultdict(list)
        for chunk in _chunks(sorted(commit_of), _INT_CHUNK):
            rows = conn.exec_driver_sql(
                f"SELECT run_pk, check_pk, outcome FROM {t.results.name} WHERE outcome <> 'pass' AND run_pk IN ({_ints(chunk)})").all()
            for run_pk, check_pk, outcome in rows:
                if outcome in FAILING:
                    events[(check_pk, commit_of[run_pk])].append((position[run_pk], outcome))
        candidates: dict[str, list[int]] = defaultdict(list)
        for check_pk, commit in events:
            candidates[commit].append(check_pk)
        for commit, check_pks in candidates.items():
            runs_sql = _ints(by_commit[commit])
            for chunk in _chunks(sorted(check_pks), _INT_CHUNK):
                rows = conn.exec_driver_sql(
                    f"SELECT run_pk, check_pk FROM {t.results.name} WHERE run_pk IN ({runs_sql}) AND check_pk IN ({_ints(chunk)}) AND outcome = 'pass'").all()
                for run_pk, check_pk in rows:
                    events[(check_pk, commit)].append((position[run_pk], PASS))
        return {k: sorted(v) for k, v in events.items() if any(o == PASS for _, o in v)}

    def _flaky_list(self, conn: sa.Connection, window: list[sa.Row[Any]], events: dict[tuple[int, str], list[tuple[int, str]]], limit: int | None) -> list[FlakyCheck]:
        """Most failures first, then the most recently seen, then the oldest check: the same order on every backend."""
        ranked = sorted(events.items(), key=lambda kv: (-sum(1 for _, o in kv[1] if o != PASS), -kv[1][-1][0], kv[0][0], kv[0][1]))
        if limit is not None:
            ranked = ranked[:limit]
        names = self._check_names(conn, {pk for (pk, _), _ in ranked})
        out = []
        for (check_pk, sha), seen in ranked:
            category, key, name = names[check_pk]
            last_pos, last_outcome = seen[-1]
            failed = sum(1 for _, o in seen if o != PASS)
            out.append(FlakyCheck(category, key, name, sha, len(seen) - failed, failed, window[last_pos].run_id, last_outcome))
        return out

    @staticmethod
    def _trend_points(window: list[sa.Row[Any]], events: dict[tuple[int, str], list[tuple[int, str]]]) -> list[TrendPoint]:
        became: dict[str, list[int]] = defaultdict(list)
        for (_, commit), seen in events.items():
            first: dict[bool, int] = {}
            for p, o in seen:
                first.setdefault(o == PASS, p)
            became[commit].append(max(first.values()))
        for positions in became.values():
            positions.sort()
        points = []
        for i, r in enumerate(window):
            summary = _summary(r, ())
            flaky = bisect_right(became[r.git_commit], i) if r.git_commit in became else 0
            points.append(TrendPoint(r.run_id, r.started_at, r.git_commit, r.status, summary.test_pass_rate, summary.contract_pass_rate, r.duration_s, flaky, r.defects_open))
        return points

    def flaky(self, *, commit: str | None = None, environment: str | None = None, last_runs: int | None = 200, limit: int | None = None) -> list[FlakyCheck]:
        """Checks (tests, contract items, probes) that both passed and failed (or errored) on the same commit.

        Looks at the latest `last_runs` runs (None: all), optionally of one
        environment or one commit. Most failures first, then the most recently seen.
        """
        with self.engine.connect() as conn:
            window = list(reversed(self._run_rows(conn, environment=environment, limit=last_runs)))
            if commit is not None:
                window = [r for r in window if r.git_commit == commit]
            return self._flaky_list(conn, window, self._flaky_events(conn, window), limit)

    def flaky_with(self, current: Sequence[CheckResult], run_id: str, commit: str, *, environment: str | None = None, last_runs: int | None = 200) -> list[FlakyCheck]:
        """The flaky list once `current` (a run not recorded yet, on `commit`) is counted too.

        Triage runs before its run is recorded, and a check that flips in this
        very run (passed before on the same commit, fails now, or the reverse) is
        the case a team most needs to hear about; the earlier flaky list is kept.
        """
        flaky = {(f.category, f.key): f for f in self.flaky(environment=environment, last_runs=last_runs)}
        decided = [r for r in current if r.outcome == PASS or r.outcome in FAILING]
        before = self.recent_outcomes([(r.category, r.key) for r in decided], runs=last_runs, environment=environment, commit=commit)
        for r in decided:
            seen = [o for o in before[(r.category, r.key)] if o == PASS or o in FAILING] + [r.outcome]
            passed = seen.count(PASS)
            if 0 < passed < len(seen):
                flaky[(r.category, r.key)] = FlakyCheck(r.category, r.key, r.name, commit, passed, len(seen) - passed, run_id, r.outcome)
        return list(flaky.values())

    def trend(self, limit: int = 200, *, environment: str | None = None) -> list[TrendPoint]:
        """The latest `limit` runs, oldest first, with pass rates, duration, flaky count and open defects.

        A run's flaky count is the number of checks known flaky on its commit as
        of that run (a check becomes flaky at the first run of the commit by which
        it has both passed and failed).
        """
        with self.engine.connect() as conn:
            window = list(reversed(self._run_rows(conn, environment=environment, limit=limit)))
            return self._trend_points(window, self._flaky_events(conn, window))

    def history(self, limit: int = 200, *, environment: str | None = None, runs_listed: int = 25, flaky_limit: int | None = 100) -> History:
        """What a report needs in one pass: recent runs, the trend and the flaky checks of the last `limit` runs."""
        with self.engine.connect() as conn:
            rows = self._run_rows(conn, environment=environment, limit=limit)
            window = list(reversed(rows))
            events = self._flaky_events(conn, window)
            flaky = self._flaky_list(conn, window, events, flaky_limit)
        return History(runs=self.runs(runs_listed, environment=environment), trend=self._trend_points(window, events), flaky=flaky, flaky_total=len(events))

    @staticmethod
    def _check_names(conn: sa.Connection, pks: set[int]) -> dict[int, tuple[str, str, str]]:
        names: dict[int, tuple[str, str, str]] = {}
        for chunk in _chunks(sorted(pks), _INT_CHUNK):
            for pk, category, key, name in conn.execute(sa.select(t.checks.c.pk, t.checks.c.category, t.checks.c.key, t.checks.c.name).where(sa.text(f"pk IN ({_ints(chunk)})"))).all():
                names[pk] = (category, key, name)
        return names


@dataclass(frozen=True)
class History:
    """Recent runs (newest first), the trend (oldest first) and the flaky checks (top `flaky_limit` of `flaky_total`)."""

    runs: list[RunSummary]
    trend: list[TrendPoint]
    flaky: list[FlakyCheck]
    flaky_total: int


def _summary(r: sa.Row[Any], gates: tuple[tuple[int, str], ...]) -> RunSummary:
    return RunSummary(
        run_id=r.run_id, environment=r.environment, git_commit=r.git_commit, started_at=r.started_at, finished_at=r.finished_at,
        duration_s=r.duration_s, status=r.status, project=r.project,
        tests_total=r.tests_total, tests_passed=r.tests_passed, tests_failed=r.tests_failed, tests_skipped=r.tests_skipped,
        contracts_total=r.contracts_total, contracts_passed=r.contracts_passed, contracts_failed=r.contracts_failed,
        environment_failed=r.environment_failed, defects_open=r.defects_open, gates=gates,
    )
