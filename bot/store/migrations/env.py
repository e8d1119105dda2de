"""Alembic environment: run on the connection `Store.migrate()` hands over.

Online mode only: the app always migrates a live database. Without a handed-over connection
(the `alembic` command line with `-x url=...`), an engine is built from that URL.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from bot.store.models import Base, in_schema_comparison

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite ALTERs need batch mode
        compare_type=True,
        include_object=in_schema_comparison(connection.dialect.name),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from bot.store.db import Store

    url = context.get_x_argument(as_dictionary=True).get("url") or context.config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise SystemExit("give the database with: alembic -x url=DATABASE_URL ...")
    store = Store.from_url(url)
    with store.engine.connect() as own_connection:
        _run(own_connection)
        own_connection.commit()
    store.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run against a database")
run_migrations_online()
