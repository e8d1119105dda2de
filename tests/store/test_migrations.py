"""The hand-written Alembic migrations build exactly the schema bot/store/models.py describes."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from bot.store.db import Store
from bot.store.models import Base


def test_upgrade_head_matches_the_models(db_url: str) -> None:
    store = Store.from_url(db_url)
    try:
        store.migrate()
        store.migrate()  # a second run is a no-op
        with store.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            diff = compare_metadata(context, Base.metadata)
            tables = set(inspect(connection).get_table_names())
        assert diff == []
        assert set(Base.metadata.tables) <= tables
        assert "alembic_version" in tables
    finally:
        store.dispose()
