"""Alembic environment of the run history, driven programmatically by `interlock.store.migrate`.

The caller hands over an open connection in `config.attributes["connection"]`;
there is no alembic.ini and no URL here. Offline (SQL script) mode is not used.
"""

from __future__ import annotations

from alembic import context

from interlock.store.schema import VERSION_TABLE, metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",
    transactional_ddl=True,
)
with context.begin_transaction():
    context.run_migrations()
