"""The database: one engine per process, short sessions, Alembic migrations run from code.

SQLite (the zero-set-up default) runs in WAL mode with foreign keys on and a busy timeout, and
every transaction starts with `BEGIN IMMEDIATE`: writers queue behind each other (up to the busy
timeout) instead of failing half-way with SQLITE_BUSY when a read transaction tries to become a
write one, which WAL cannot wait for. PostgreSQL (several app instances) goes through psycopg 3.
"""

from __future__ import annotations

import functools
import json
import logging
import operator
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    Engine,
    Row,
    String,
    Table,
    TextClause,
    and_,
    create_engine,
    event,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

try:
    import fcntl
except ImportError:  # not on Windows: there, only this process's threads queue
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 5000
# Any fixed number: two instances starting at once must not both run the migrations.
_PG_MIGRATION_LOCK = 7_343_221_001


def normalise_database_url(url: str) -> str:
    """`postgresql://` and `postgres://` (what hosting platforms hand out) use psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin: needed for
        # SAVEPOINTs (idempotent inserts) and for BEGIN IMMEDIATE below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA synchronous=NORMAL")  # durable enough in WAL mode, much faster
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


class SqliteWriterLock:
    """One writer at a time on a SQLite file: a re-entrant lock for this process's threads and,
    held by the outermost of them, an exclusive `flock` on `<database>-writer.lock` for the other
    processes (released by the kernel if the process dies). An in-memory database, or a system
    without `fcntl`, gets the thread lock only."""

    def __init__(self, database: str | None) -> None:
        self._threads = threading.RLock()
        self._depth = 0  # nesting of the thread holding `_threads` (only it changes this)
        self._file: int | None = None
        if database and database != ":memory:" and not database.startswith("file:"):
            self._path: Path | None = (
                Path(database).expanduser().with_name(Path(database).name + "-writer.lock")
            )
        else:
            self._path = None

    def acquire(self) -> None:
        self._threads.acquire()
        self._depth += 1
        if self._depth == 1:
            try:
                self._lock_file()
            except BaseException:
                self._depth -= 1
                self._threads.release()
                raise

    def release(self) -> None:
        self._depth -= 1
        if self._depth == 0 and self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
        self._threads.release()

    def _lock_file(self) -> None:
        if self._path is None or fcntl is None:
            return
        if self._file is None:
            self._file = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._file, fcntl.LOCK_EX)  # waits with the GIL released


class Store:
    """The engine and a session factory. Build it once per process with `from_url`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(bind=engine, expire_on_commit=False)
        # SQLite has one writer at a time, and a writer that finds the lock taken sleeps in
        # SQLite's busy handler with growing back-off, not woken when the lock frees: under load
        # (webhooks stored while a batch is ingested) that turns into second-long stalls. Writers
        # therefore queue on a lock of ours first, one that wakes the next as soon as it is free:
        # threads of this process, and (through a lock file beside the database) other processes
        # on the same file, such as `serve` and a `contato-bot worker`.
        self._sqlite_writer = (
            SqliteWriterLock(engine.url.database) if engine.dialect.name == "sqlite" else None
        )
        self._readers = _sqlite_readers(engine)

    @classmethod
    def from_url(cls, url: str) -> Store:
        """An engine for `url` (SQLite file or PostgreSQL), configured as described above."""
        url = normalise_database_url(url)
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            database = parsed.database
            if database and database != ":memory:":
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            # hide_parameters: an error's message (and any traceback) never carries the row's
            # values (phone numbers, names): logs get the statement and the error class only.
            engine = create_engine(url, connect_args={"check_same_thread": False}, hide_parameters=True)
            _configure_sqlite(engine)
        else:
            engine = create_engine(url, pool_pre_ping=True, hide_parameters=True)
        return cls(engine)

    @property
    def dialect(self) -> str:
        """`sqlite` or `postgresql`."""
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits when the block ends and rolls back if it raises."""
        writer = self._sqlite_writer
        if writer is not None:
            writer.acquire()
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
            if writer is not None:
                writer.release()

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A session for reads only (the screen, the Home tab, gauges). On a SQLite file it takes
        no writer lock: it begins a plain (deferred) transaction on a read-only connection, and
        in WAL mode a reader sees the last commit while a writer works, so the screen never
        waits behind a batch being ingested or webhooks being stored (every `session()` there is
        a writer, `BEGIN IMMEDIATE`). A write attempted in it fails ("attempt to write a readonly
        database") rather than race the writers. Elsewhere it is `session()`."""
        if self._readers is None:
            with self.session() as session:
                yield session
            return
        session = self._readers()
        try:
            yield session
            session.commit()  # ends the read transaction
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def migrate(self) -> None:
        """Bring the schema to the newest migration (Alembic `upgrade head`), from code, so it
        works from an installed package with no alembic.ini."""
        from alembic import command

        with self.engine.connect() as connection:
            if self.dialect == "postgresql":
                connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
                connection.commit()
            try:
                config = alembic_config(connection)
                command.upgrade(config, "head")
                connection.commit()
            finally:
                if self.dialect == "postgresql":
                    connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _PG_MIGRATION_LOCK})
                    connection.commit()

    def migration_state(self) -> tuple[str | None, str | None]:
        """(the database's Alembic revision, the newest this code knows): equal when migrated.
        Raises when the database does not answer."""
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        with self.engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
        return current, head

    def ping(self) -> None:
        """Ask the database something trivial (the health check); raises when it is unreachable."""
        with self.session() as session:
            session.execute(text("SELECT 1"))

    def dispose(self) -> None:
        """Close every pooled connection (tests, shutdown)."""
        self.engine.dispose()
        if self._readers is not None:
            bind = self._readers.kw["bind"]
            bind.dispose()


def _sqlite_readers(engine: Engine) -> sessionmaker[Session] | None:
    """Sessions on a second engine for `Store.read_session` when `engine` is a SQLite file
    (an in-memory database exists once per connection: none there)."""
    database = engine.url.database
    if (
        engine.dialect.name != "sqlite"
        or not database
        or database == ":memory:"
        or "mode=memory" in str(engine.url)
    ):
        return None
    readers = create_engine(engine.url, connect_args={"check_same_thread": False}, hide_parameters=True)

    @event.listens_for(readers, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # transactions begin where SQLAlchemy says (below)
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")  # a checkpoint's brief lock
            cursor.execute("PRAGMA query_only=ON")
        finally:
            cursor.close()

    @event.listens_for(readers, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN")  # deferred: one snapshot for the session's reads, no lock

    return sessionmaker(bind=readers, expire_on_commit=False)


def alembic_config(connection: Any | None = None) -> Any:
    """Alembic's configuration built in code (the alembic.ini equivalent). With `connection`,
    env.py runs the migrations on it instead of opening its own."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def dialect_insert(session: Session, table: Any) -> Any:
    """INSERT for the session's database, with its ON CONFLICT clauses (SQLite or PostgreSQL)."""
    from sqlalchemy.dialects import postgresql, sqlite

    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise RuntimeError(f"unsupported database dialect {name!r}")


def lease_due_rows(
    session: Session,
    table: Table,
    now: datetime,
    lease_until: datetime,
    instance_id: str,
    limit: int,
    *,
    also_due: Sequence[ColumnElement[bool]] = (),
    returning: Sequence[Any],
) -> Sequence[Row[Any]]:
    """The work-queue lease shared by alert claims and thread posts: up to `limit` rows not posted
    yet whose turn has come (not leased, or the lease ran out; no retry scheduled later than
    `now`; and `also_due`), leased to `instance_id` until `lease_until`. On PostgreSQL rows another
    instance holds are skipped (SKIP LOCKED). The caller commits before doing the work."""
    c = table.c
    turn = and_(
        c.posted_at.is_(None),
        *also_due,
        or_(c.lease_until.is_(None), c.lease_until < now),
        or_(c.next_attempt_at.is_(None), c.next_attempt_at <= now),
    )
    candidates = select(c.id).where(turn).order_by(c.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    stmt = (
        update(table)
        # `turn` again: on PostgreSQL a row another instance leased meanwhile is re-checked here.
        .where(c.id.in_(candidates.scalar_subquery()), turn)
        .values(lease_until=lease_until, claimed_by=instance_id)
        .returning(*returning)
    )
    return session.execute(stmt).all()


def insert_rows(
    session: Session,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    conflict: Sequence[str],
    update: Sequence[str] = (),
    returning: Sequence[str] = (),
) -> list[Any]:
    """INSERT many rows (all with the same keys) in one statement, ON CONFLICT (`conflict`) DO
    NOTHING, or DO UPDATE of the `update` columns to the new row's; the `returning` columns of the
    rows written (in no particular order). A None in a JSON column is SQL NULL (not JSON `null`).

    The rows go as one JSON parameter (an array of arrays) that the database expands itself
    (`json_array_elements` on PostgreSQL, `json_each` on SQLite): the statement's text is the same
    whatever the number of rows, so it is compiled, parsed and planned once, where a multi-row
    VALUES with a placeholder per value cost SQLAlchemy and the driver a pass over thousands of
    placeholders per statement (most of an ingestion batch's time). Values are written as the
    column types would bind them: times as naive UTC (`UtcDateTime`), in SQLAlchemy's SQLite text
    format there."""
    if not rows:
        return []
    names = tuple(rows[0])
    dialect = session.get_bind().dialect.name
    sql = _json_insert_sql(dialect, table, names, tuple(conflict), tuple(update), tuple(returning))
    written = session.execute(sql, {"rows": _json_rows(dialect, rows, names)})
    return list(written) if returning else []


def _json_rows(dialect_name: str, rows: Sequence[Mapping[str, Any]], names: tuple[str, ...]) -> str:
    """The rows as a JSON array of arrays (`names` order). The values are picked and encoded in C
    (itemgetter, the json encoder): only the times, which JSON has no type for, call back into
    Python (`_JSON_TIME`); a Python pass over every value was a twentieth of ingestion."""
    if len(names) == 1:
        values: list[Any] = [[row[names[0]]] for row in rows]
    else:
        values = list(map(operator.itemgetter(*names), rows))  # tuples: JSON arrays too
    return json.dumps(values, default=_JSON_TIME[dialect_name])


def _json_time(separator: str) -> Callable[[Any], str]:
    """The json encoder's fallback: a time as the column type would bind it (naive UTC; ISO on
    PostgreSQL, SQLAlchemy's storage format for DateTime on SQLite, with a space). Remembered: a
    batch writes the same times many times over (its `now`, events of the same second), and equal
    times are the same instant, so they are written the same."""

    @functools.lru_cache(maxsize=1024)
    def encode(value: Any) -> str:
        if not isinstance(value, datetime):
            raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
        if value.tzinfo is UTC:  # the usual case: its ISO form without the "+00:00"
            return value.isoformat(separator, "microseconds")[:-6]
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        if value.utcoffset():
            value = value.astimezone(UTC)
        return value.replace(tzinfo=None).isoformat(separator, "microseconds")

    return encode


_JSON_TIME = {"postgresql": _json_time("T"), "sqlite": _json_time(" ")}


def _json_source(dialect_name: str) -> str:
    """The rows of the JSON array `:rows`, each an array `r` (PostgreSQL), `r.value` (SQLite)."""
    if dialect_name == "postgresql":
        return "json_array_elements(CAST(:rows AS json)) AS r"
    if dialect_name == "sqlite":
        return "json_each(:rows) AS r"
    raise RuntimeError(f"unsupported database dialect {dialect_name!r}")


def _json_values(dialect_name: str, table: Table, names: Sequence[str]) -> list[str]:
    """SQL for the values of one row of `_json_source`, in `names` order (JSON null: SQL NULL),
    typed as the columns."""
    from sqlalchemy.dialects import postgresql

    def pg_value(i: int, name: str) -> str:
        kind = table.c[name].type
        if isinstance(kind, JSON):
            return f"CASE WHEN json_typeof(r -> {i}) = 'null' THEN NULL ELSE r -> {i} END"
        # Strings as text: a cast to varchar(n) would cut a long value where the INSERT refuses it.
        sql_type = "text" if isinstance(kind, String) else kind.compile(dialect=postgresql.dialect())
        return f"CAST(r ->> {i} AS {sql_type})"

    # json_extract, not the -> operators: those need SQLite 3.38, RETURNING only 3.35.
    def sqlite_value(i: int, name: str) -> str:
        if isinstance(table.c[name].type, JSON):  # the JSON text, as SQLAlchemy would store it
            return (
                f"CASE WHEN json_type(r.value, '$[{i}]') = 'null' THEN NULL "
                f"ELSE json_quote(json_extract(r.value, '$[{i}]')) END"
            )
        return f"json_extract(r.value, '$[{i}]')"

    value = pg_value if dialect_name == "postgresql" else sqlite_value
    return [value(i, name) for i, name in enumerate(names)]


@functools.lru_cache(maxsize=64)
def _json_insert_sql(
    dialect_name: str,
    table: Table,
    names: tuple[str, ...],
    conflict: tuple[str, ...],
    update: tuple[str, ...],
    returning: tuple[str, ...],
) -> TextClause:
    """`insert_rows`' statement (built once: a new clause per call costs SQLAlchemy a cache key)."""
    values = ", ".join(_json_values(dialect_name, table, names))
    source = _json_source(dialect_name)
    if dialect_name == "sqlite":
        source += " WHERE true"  # SQLite's parser needs a WHERE before ON CONFLICT
    sql = (
        f"INSERT INTO {table.name} ({', '.join(names)}) SELECT {values} FROM {source} "
        f"ON CONFLICT ({', '.join(conflict)}) "
    )
    if update:
        sql += "DO UPDATE SET " + ", ".join(f"{name} = excluded.{name}" for name in update)
    else:
        sql += "DO NOTHING"
    if returning:
        sql += " RETURNING " + ", ".join(returning)
    return text(sql)


def update_rows(
    session: Session, table: Table, rows: Sequence[Mapping[str, Any]], *, key: str = "id"
) -> None:
    """UPDATE many rows by `key`, each to its own values (all rows with the same columns), in one
    statement: the rows as one JSON parameter, as `insert_rows`."""
    if not rows:
        return
    names = tuple(rows[0])
    dialect = session.get_bind().dialect.name
    sql = _json_update_sql(dialect, table, names, key)
    session.execute(sql, {"rows": _json_rows(dialect, rows, names)})


@functools.lru_cache(maxsize=64)
def _json_update_sql(dialect_name: str, table: Table, names: tuple[str, ...], key: str) -> TextClause:
    values = _json_values(dialect_name, table, names)
    columns = ", ".join(f"{value} AS {name}" for value, name in zip(values, names, strict=True))
    assignments = ", ".join(f"{name} = v.{name}" for name in names if name != key)
    return text(
        f"UPDATE {table.name} SET {assignments} "
        f"FROM (SELECT {columns} FROM {_json_source(dialect_name)}) AS v "
        f"WHERE {table.name}.{key} = v.{key}"
    )
