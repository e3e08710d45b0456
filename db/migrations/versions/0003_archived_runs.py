"""Archiving: a `runs.archived` flag (false by default), indexed with the start time the listing sorts on.

Revision ID: 0003_archived_runs
Revises: 0002_listing_indexes_and_pid
Create Date: 2026-11-30
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_archived_runs"
down_revision = "0002_listing_indexes_and_pid"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("archived", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_index("ix_runs_archived_started_at", "runs", ["archived", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_runs_archived_started_at", table_name="runs")
    # SQLite >= 3.35 drops a column in place, so no table rebuild (which would cascade into artifacts and metrics).
    op.drop_column("runs", "archived")
