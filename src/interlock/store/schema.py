"""The history's tables (SQLAlchemy Core), the same on SQLite and PostgreSQL.

The migrations in `migrations/versions/` create exactly these (a unit test
compares them with alembic's autogenerate). Every name carries the
`interlock_` prefix so the history can live in a database a team already uses.

Layout, chosen for 10,000 tests over hundreds of runs:
- `interlock_checks` holds each check's identity once (category, key, a
  SHA-256 digest of both for a fixed-width unique index);
- `interlock_results` is one narrow row per check per run (two integers, a
  short outcome, a duration, a message only for failures) without a rowid on
  SQLite, clustered by run;
- `interlock_runs` keeps per-run counts so trends read 200 rows, not 2,000,000.
Timestamps are UTC text `YYYY-MM-DDTHH:MM:SSZ`: identical on both backends and
sortable as text.
"""

from __future__ import annotations

import sqlalchemy as sa

from interlock.statuses import HistoryOutcome

PREFIX = "interlock_"
VERSION_TABLE = "interlock_alembic_version"

metadata = sa.MetaData()

runs = sa.Table(
    f"{PREFIX}runs", metadata,
    sa.Column("pk", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(100), nullable=False),
    sa.Column("environment", sa.String(200), nullable=False),
    sa.Column("git_commit", sa.String(100), nullable=True),
    sa.Column("project", sa.String(200), nullable=False),
    sa.Column("started_at", sa.String(32), nullable=True),
    sa.Column("finished_at", sa.String(32), nullable=True),
    sa.Column("recorded_at", sa.String(32), nullable=False),
    sa.Column("duration_s", sa.Float, nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    *(sa.Column(f"{c}_{k}", sa.Integer, nullable=False) for c in ("tests", "contracts", "environment") for k in ("total", "passed", "failed", "skipped")),
    sa.Column("defects_open", sa.Integer, nullable=False),
    sa.UniqueConstraint("run_id", name="uq_interlock_runs_run_id"),
    sa.Index("ix_interlock_runs_commit", "git_commit"),
    sa.Index("ix_interlock_runs_started", "started_at"),
)

checks = sa.Table(
    f"{PREFIX}checks", metadata,
    sa.Column("pk", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("digest", sa.String(32), nullable=False),
    sa.Column("category", sa.String(16), nullable=False),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("group", sa.Text, nullable=False),
    sa.UniqueConstraint("digest", name="uq_interlock_checks_digest"),
)

results = sa.Table(
    f"{PREFIX}results", metadata,
    sa.Column("run_pk", sa.Integer, sa.ForeignKey(f"{PREFIX}runs.pk", name="fk_interlock_results_run"), primary_key=True),
    sa.Column("check_pk", sa.Integer, sa.ForeignKey(f"{PREFIX}checks.pk", name="fk_interlock_results_check"), primary_key=True),
    sa.Column("outcome", sa.String(8), nullable=False),
    sa.Column("duration_ms", sa.Float, nullable=True),
    sa.Column("message", sa.Text, nullable=True),
    sqlite_with_rowid=False,
)
# Only the rows that did not pass (a few percent): where flakiness starts looking.
sa.Index(
    "ix_interlock_results_unpassed", results.c.run_pk, results.c.check_pk, results.c.outcome,
    sqlite_where=results.c.outcome != HistoryOutcome.PASS, postgresql_where=results.c.outcome != HistoryOutcome.PASS,
)

gates = sa.Table(
    f"{PREFIX}gates", metadata,
    sa.Column("run_pk", sa.Integer, sa.ForeignKey(f"{PREFIX}runs.pk", name="fk_interlock_gates_run"), primary_key=True),
    sa.Column("gate_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
)

conditions = sa.Table(
    f"{PREFIX}conditions", metadata,
    sa.Column("run_pk", sa.Integer, sa.ForeignKey(f"{PREFIX}runs.pk", name="fk_interlock_conditions_run"), primary_key=True),
    sa.Column("condition_id", sa.String(200), primary_key=True),
    sa.Column("gate_id", sa.Integer, nullable=False),
    sa.Column("metric", sa.String(200), nullable=False),
    sa.Column("operator", sa.String(4), nullable=False),
    sa.Column("threshold", sa.Float, nullable=True),
    sa.Column("actual", sa.Float, nullable=True),
    sa.Column("blocking", sa.Boolean, nullable=False),
    sa.Column("raw_status", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("artifact", sa.String(200), nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("waived", sa.Boolean, nullable=False),
)

defects = sa.Table(
    f"{PREFIX}defects", metadata,
    sa.Column("run_pk", sa.Integer, sa.ForeignKey(f"{PREFIX}runs.pk", name="fk_interlock_defects_run"), primary_key=True),
    sa.Column("defect_id", sa.String(100), primary_key=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("source", sa.String(32), nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("ticket", sa.String(200), nullable=False),
    sa.Column("occurrences", sa.Integer, nullable=False),
    sa.Column("message", sa.Text, nullable=False),
)

CHILD_TABLES = (results, gates, conditions, defects)
