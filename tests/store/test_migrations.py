"""The hand-written Alembic migrations build exactly the schema bot/store/models.py describes."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from bot.store.db import Store
from bot.store.models import NAME_SEARCH_FTS, NAME_SEARCH_TRGM_INDEX, Base, in_schema_comparison


def test_upgrade_head_matches_the_models(db_url: str) -> None:
    store = Store.from_url(db_url)
    try:
        store.migrate()
        store.migrate()  # a second run is a no-op
        with store.engine.connect() as connection:
            # The SQLite search table (FTS5, not a model) and the PostgreSQL-only trigram index
            # are left out of the comparison where they do not belong, and checked below.
            include = in_schema_comparison(store.dialect)
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "include_object": include}
            )
            diff = compare_metadata(context, Base.metadata)
            tables = set(inspect(connection).get_table_names())
            indexes = {index["name"] for index in inspect(connection).get_indexes("contacts")}
        assert diff == []
        assert set(Base.metadata.tables) <= tables
        assert "alembic_version" in tables
        if store.dialect == "sqlite":
            assert NAME_SEARCH_FTS in tables and NAME_SEARCH_TRGM_INDEX not in indexes
        else:
            assert NAME_SEARCH_TRGM_INDEX in indexes and NAME_SEARCH_FTS not in tables
    finally:
        store.dispose()
