"""Fast listing and crash detection: indexes on runs by start time, kind and status/host; the process id column.

Revision ID: 0002_listing_indexes_and_pid
Revises: 0001_initial
Create Date: 2025-11-25
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_listing_indexes_and_pid"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("pid", sa.Integer(), nullable=True))
    op.create_index("ix_runs_started_at", "runs", ["started_at"])
    op.create_index("ix_runs_kind_started_at", "runs", ["kind", "started_at"])
    op.create_index("ix_runs_status_host", "runs", ["status", "host"])


def downgrade() -> None:
    op.drop_index("ix_runs_status_host", table_name="runs")
    op.drop_index("ix_runs_kind_started_at", table_name="runs")
    op.drop_index("ix_runs_started_at", table_name="runs")
    # SQLite >= 3.35 drops a column in place, so no table rebuild (which would cascade into artifacts and metrics).
    op.drop_column("runs", "pid")
