"""Alembic environment: runs migrations on the connection `db.migrate` hands over (never reads an ini file)."""
from __future__ import annotations

from alembic import context

from db.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through db.migrate, which provides the connection")

# SQLite: foreign keys are ON and cannot be switched off inside the migration transaction, so a future migration
# must not recreate a parent table with batch operations (dropping `runs` would cascade into its children).
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    compare_type=True,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
