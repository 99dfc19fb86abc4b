"""Alembic environment: migrations run on the connection :func:`assay.storage.database.migrate`
hands over; there is no alembic.ini and no URL here."""

from __future__ import annotations

from alembic import context

from assay.storage.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
