"""The run history: runs, checks, per-run results, gates, conditions, defects.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    counts = [sa.Column(f"{c}_{k}", sa.Integer, nullable=False) for c in ("tests", "contracts", "environment") for k in ("total", "passed", "failed", "skipped")]
    op.create_table(
        "interlock_runs",
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
        *counts,
        sa.Column("defects_open", sa.Integer, nullable=False),
        sa.UniqueConstraint("run_id", name="uq_interlock_runs_run_id"),
    )
    op.create_index("ix_interlock_runs_commit", "interlock_runs", ["git_commit"])
    op.create_index("ix_interlock_runs_started", "interlock_runs", ["started_at"])
    op.create_table(
        "interlock_checks",
        sa.Column("pk", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("digest", sa.String(32), nullable=False),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("group", sa.Text, nullable=False),
        sa.UniqueConstraint("digest", name="uq_interlock_checks_digest"),
    )
    op.create_table(
        "interlock_results",
        sa.Column("run_pk", sa.Integer, sa.ForeignKey("interlock_runs.pk", name="fk_interlock_results_run"), primary_key=True),
        sa.Column("check_pk", sa.Integer, sa.ForeignKey("interlock_checks.pk", name="fk_interlock_results_check"), primary_key=True),
        sa.Column("outcome", sa.String(8), nullable=False),
        sa.Column("duration_ms", sa.Float, nullable=True),
        sa.Column("message", sa.Text, nullable=True),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_interlock_results_unpassed", "interlock_results", ["run_pk", "check_pk", "outcome"],
        sqlite_where=sa.text("outcome <> 'pass'"), postgresql_where=sa.text("outcome <> 'pass'"),
    )
    op.create_table(
        "interlock_gates",
        sa.Column("run_pk", sa.Integer, sa.ForeignKey("interlock_runs.pk", name="fk_interlock_gates_run"), primary_key=True),
        sa.Column("gate_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
    )
    op.create_table(
        "interlock_conditions",
        sa.Column("run_pk", sa.Integer, sa.ForeignKey("interlock_runs.pk", name="fk_interlock_conditions_run"), primary_key=True),
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
    op.create_table(
        "interlock_defects",
        sa.Column("run_pk", sa.Integer, sa.ForeignKey("interlock_runs.pk", name="fk_interlock_defects_run"), primary_key=True),
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


def downgrade() -> None:
    for table in ("interlock_defects", "interlock_conditions", "interlock_gates", "interlock_results", "interlock_checks", "interlock_runs"):
        op.drop_table(table)
