"""Alembic environment: runs on the connection handed over by :func:`sonomsk.store.db.migrate`."""

from __future__ import annotations

from alembic import context

from sonomsk.store.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only through sonomsk.store.db.migrate
    raise RuntimeError("run migrations through sonomsk.store.db.migrate")
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
