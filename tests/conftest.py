"""Shared fixtures: databases (SQLite and PostgreSQL), fixture files, a fixed clock."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.store.db import Store

FIXTURES = Path(__file__).parent / "fixtures"
WHATSAPP_FIXTURES = FIXTURES / "whatsapp"

# PostgreSQL on this machine and in CI: trust auth, database `test`. Each test gets its own
# throwaway database so parallel runs and leftovers never interfere.
PG_ADMIN_DSN = os.environ.get("CONTATO_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def load_fixture(name: str) -> Any:
    """A real payload from tests/fixtures/whatsapp (byte-identical copies of shared/fixtures)."""
    return json.loads((WHATSAPP_FIXTURES / name).read_text())


def _pg_available() -> str | None:
    try:
        import psycopg

        dsn = PG_ADMIN_DSN.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn, connect_timeout=2):
            return None
    except Exception as exc:  # any failure means: skip, and say why
        return f"PostgreSQL not reachable at {PG_ADMIN_DSN}: {exc}"


_PG_SKIP_REASON = _pg_available()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database URL, dropped afterwards; skips with the reason if no server."""
    if _PG_SKIP_REASON:
        pytest.skip(_PG_SKIP_REASON)
    import psycopg

    name = f"contato_test_{uuid.uuid4().hex[:12]}"
    admin = PG_ADMIN_DSN.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_DSN.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        from sqlalchemy.pool import _ConnectionRecord  # noqa: F401  (ensure SQLAlchemy loaded)

        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'contato.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Runs the test once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'contato.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """A migrated store on `db_url` (so, once on SQLite and once on PostgreSQL), disposed after."""
    store = Store.from_url(db_url)
    store.migrate()
    yield store
    store.dispose()
