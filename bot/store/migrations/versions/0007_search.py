"""The contact search by name uses an index for substrings, not a scan of every contact:
a trigram GIN index on contacts.name_search on PostgreSQL (the pg_trgm extension), an FTS5
table with the trigram tokenizer on SQLite, kept in step with contacts by triggers (so every
writer, bulk inserts included, keeps it current) and filled from the existing rows here.

Where the index cannot be built (a managed PostgreSQL where this role may not create pg_trgm, a
SQLite older than 3.34 or without FTS5) the migration still succeeds and logs a warning: the
search then works as before, by scanning (docs/operations.md).

Revision ID: 0007_search
Revises: 0006_scan
Create Date: 2026-12-01
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from alembic import op
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

revision: str = "0007_search"
down_revision: str | None = "0006_scan"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("bot.store.migrations")

TRGM_INDEX = "ix_contacts_name_search_trgm"
FTS = "contacts_name_fts"  # bot.store.models.NAME_SEARCH_FTS, written out: migrations stay as written

# External content: the FTS table stores only its index and reads names from contacts. A NULL
# name indexes nothing; the 'delete' command needs the value that was indexed.
SQLITE_TRIGGERS = {
    f"{FTS}_ai": f"""
        CREATE TRIGGER {FTS}_ai AFTER INSERT ON contacts WHEN new.name_search IS NOT NULL BEGIN
            INSERT INTO {FTS}(rowid, name_search) VALUES (new.id, new.name_search);
        END""",
    f"{FTS}_ad": f"""
        CREATE TRIGGER {FTS}_ad AFTER DELETE ON contacts WHEN old.name_search IS NOT NULL BEGIN
            INSERT INTO {FTS}({FTS}, rowid, name_search) VALUES ('delete', old.id, old.name_search);
        END""",
    f"{FTS}_au": f"""
        CREATE TRIGGER {FTS}_au AFTER UPDATE OF id, name_search ON contacts BEGIN
            INSERT INTO {FTS}({FTS}, rowid, name_search)
                SELECT 'delete', old.id, old.name_search WHERE old.name_search IS NOT NULL;
            INSERT INTO {FTS}(rowid, name_search)
                SELECT new.id, new.name_search WHERE new.name_search IS NOT NULL;
        END""",
}


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        _postgresql(bind)
    elif bind.dialect.name == "sqlite":
        _sqlite(bind)


def _postgresql(bind: Connection) -> None:
    try:
        with bind.begin_nested():  # a failed statement must not abort the migration's transaction
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            bind.exec_driver_sql(
                f"CREATE INDEX IF NOT EXISTS {TRGM_INDEX} ON contacts USING gin (name_search gin_trgm_ops) "
                "WITH (fastupdate = off)"  # no pending list: see bot/store/models.py
            )
    except DBAPIError as exc:
        log.warning(
            "the contact search by name will scan every contact: could not create the pg_trgm "
            "extension or the index (%s). A database administrator can add them later, with the "
            "app running: CREATE EXTENSION IF NOT EXISTS pg_trgm; CREATE INDEX CONCURRENTLY %s "
            "ON contacts USING gin (name_search gin_trgm_ops) WITH (fastupdate = off); "
            "(docs/operations.md)",
            type(exc.orig or exc).__name__,
            TRGM_INDEX,
        )


def _sqlite(bind: Connection) -> None:
    try:
        with bind.begin_nested():
            bind.exec_driver_sql(
                f"CREATE VIRTUAL TABLE {FTS} USING fts5(name_search, content='contacts', "
                "content_rowid='id', tokenize='trigram', columnsize=0)"
            )
            for create in SQLITE_TRIGGERS.values():
                bind.exec_driver_sql(create)
            bind.exec_driver_sql(f"INSERT INTO {FTS}({FTS}) VALUES ('rebuild')")  # the existing rows
    except DBAPIError as exc:
        log.warning(
            "the contact search by name will scan every contact: this SQLite (%s) has no FTS5 "
            "trigram tokenizer (3.34 or newer needed)",
            bind.exec_driver_sql("SELECT sqlite_version()").scalar(),
        )
        log.debug("FTS5 table not created: %s", exc.orig)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        bind.exec_driver_sql(f"DROP INDEX IF EXISTS {TRGM_INDEX}")  # pg_trgm stays: others may use it
    elif bind.dialect.name == "sqlite":
        for trigger in SQLITE_TRIGGERS:
            bind.exec_driver_sql(f"DROP TRIGGER IF EXISTS {trigger}")
        bind.exec_driver_sql(f"DROP TABLE IF EXISTS {FTS}")
