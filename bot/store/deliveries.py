"""`webhook_deliveries`: raw webhook bodies stored before the 200, drained by the workers.

The drain is a work queue in the table itself: a drainer takes the oldest due rows with a row lock
(`FOR UPDATE SKIP LOCKED` on PostgreSQL, so drainers in any number of processes never take the
same row; on SQLite the transaction's `BEGIN IMMEDIATE` holds the one write lock instead), ingests
them and marks them processed before it commits. A drainer that dies lets its locks go with its
connection, and the rows are due again for the next one."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Dialect,
    Select,
    Table,
    and_,
    bindparam,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from bot.store.models import WebhookDelivery

# Every webhook POST is one of these rows, so they are inserted with the driver's own statements, not
# through the ORM and SQLAlchemy's insertmanyvalues (which, with ids returned in order, sends SQLite
# one statement per row anyway, and sends PostgreSQL 4 parameters per row, too many for psycopg to
# cache the statement's parse). The values are those SQLAlchemy would send: each column type's own
# bind processing, `attempts` its default 0.
#
# PostgreSQL: the batch as two arrays, the bodies in binary (no hex escaping of every byte), rows
# numbered by their position and inserted in that order, so the ids (from the id sequence, ascending
# in insertion order: what SQLAlchemy's ordered insert relies on too) sorted are the ids in order.
_PG_INSERT = (
    "INSERT INTO webhook_deliveries (channel_id, received_at, body, attempts) "
    "SELECT channel_id, %(received_at)s::timestamp, body, 0 "
    "FROM unnest(%(channel_ids)s::varchar[], %(bodies)b::bytea[]) "
    "WITH ORDINALITY AS batch(channel_id, body, position) ORDER BY position RETURNING id"
)
# SQLite: one row per statement, its id read back from it (no assumption about the order of ids).
_SQLITE_INSERT = (
    "INSERT INTO webhook_deliveries (channel_id, received_at, body, attempts) VALUES (?, ?, ?, 0)"
)


def insert_deliveries(
    session: Session | Connection, bodies: Sequence[tuple[str, bytes]], now: datetime
) -> list[int]:
    """Insert (channel, raw body) pairs; their ids, in the order given. On PostgreSQL this is one
    statement (through a connection in autocommit mode, its own transaction)."""
    connection = session.connection() if isinstance(session, Session) else session
    table: Table = WebhookDelivery.__table__  # type: ignore[assignment]
    dialect = connection.dialect
    channel_value = _bind_processor(table.c.channel_id, dialect)
    body_value = _bind_processor(table.c.body, dialect)
    received_at = _bind_processor(table.c.received_at, dialect)(now)
    if dialect.name == "postgresql":
        result = connection.exec_driver_sql(
            _PG_INSERT,
            {
                "received_at": received_at,
                "channel_ids": [channel_value(channel_id) for channel_id, _ in bodies],
                "bodies": [body_value(raw) for _, raw in bodies],
            },
        )
        return sorted(result.scalars())
    return [
        connection.exec_driver_sql(
            _SQLITE_INSERT, (channel_value(channel_id), received_at, body_value(raw))
        ).lastrowid
        for channel_id, raw in bodies
    ]


def _bind_processor(column: Column[Any], dialect: Dialect) -> Callable[[Any], Any]:
    """What SQLAlchemy does to a value bound to `column` (its type's processing for `dialect`)."""
    return column.type.dialect_impl(dialect).bind_processor(dialect) or _unchanged


def _unchanged(value: Any) -> Any:
    return value


def insert_delivery(session: Session, channel_id: str, raw: bytes, now: datetime) -> int:
    """Insert one body; its id."""
    row = WebhookDelivery(channel_id=channel_id, received_at=now, body=raw)
    session.add(row)
    session.flush()
    return row.id


def unprocessed_ids(session: Session) -> list[int]:
    """Deliveries stored but not processed yet (a crash, a restart), oldest first; parked ones
    (`failed_at`) wait for `webhook replay`, not for the next start."""
    return list(
        session.scalars(
            select(WebhookDelivery.id)
            .where(WebhookDelivery.processed_at.is_(None), WebhookDelivery.failed_at.is_(None))
            .order_by(WebhookDelivery.id)
        )
    )


@dataclass(frozen=True)
class Pending:
    """A stored delivery to ingest."""

    id: int
    channel_id: str
    body: bytes
    received_at: datetime


_PENDING_COLUMNS = (
    WebhookDelivery.id,
    WebhookDelivery.channel_id,
    WebhookDelivery.body,
    WebhookDelivery.received_at,
)


def _locked(session: Session, query: Select[int, str, bytes, datetime]) -> list[Pending]:
    """Run `query` with its rows locked for this transaction (rows another transaction holds are
    skipped, not waited for); SQLite's transaction already holds the database's write lock."""
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return [Pending(row.id, row.channel_id, row.body, row.received_at) for row in session.execute(query)]


def _due(now: datetime) -> ColumnElement[bool]:
    """Not processed, not parked, and no retry scheduled later than `now` (the index
    `ix_webhook_deliveries_due` covers the first two)."""
    return and_(
        WebhookDelivery.processed_at.is_(None),
        WebhookDelivery.failed_at.is_(None),
        or_(WebhookDelivery.next_attempt_at.is_(None), WebhookDelivery.next_attempt_at <= now),
    )


def claim_due(session: Session, now: datetime, limit: int) -> list[Pending]:
    """Up to `limit` of the oldest due deliveries, locked until the transaction ends: mark them
    processed (or record their failure) before it commits."""
    return _locked(
        session, select(*_PENDING_COLUMNS).where(_due(now)).order_by(WebhookDelivery.id).limit(limit)
    )


def claim_deliveries(session: Session, ids: Sequence[int], *, parked: bool = False) -> list[Pending]:
    """Those of `ids` not processed yet (parked ones too when `parked`: a replay), oldest first,
    locked like `claim_due`'s; a retry's backoff is not waited for. One a drainer holds is left out."""
    query = select(*_PENDING_COLUMNS).where(
        WebhookDelivery.id.in_(list(ids)), WebhookDelivery.processed_at.is_(None)
    )
    if not parked:
        query = query.where(WebhookDelivery.failed_at.is_(None))
    return _locked(session, query.order_by(WebhookDelivery.id))


def _lock_id(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)


def serializes(session: Session) -> bool:
    """Whether `serialize_on` takes locks here (PostgreSQL), so its keys are worth computing."""
    return session.get_bind().dialect.name == "postgresql"


def serialize_on(session: Session, keys: Iterable[str]) -> None:
    """PostgreSQL: take a transaction lock per key (a contact, a message), waiting for a drainer
    that holds one. Ingestion recomputes a contact's windows from the events it can see and moves
    a message's status by what it read: two transactions doing that for the same contact at once
    would each miss the other's uncommitted events, and the last to commit would win. Every
    drainer takes all its keys at once in one order, so two never deadlock on them; the locks go
    at commit, rollback, or with the connection of a drainer that died. SQLite: nothing to do
    (the transaction already holds the one write lock).

    One customer can come under two keys: by phone number in one event and by business-scoped
    user id (BSUID) in another. So, after the keys, the contacts already known by any of the
    phone or user keys are locked too (by contact id, in a lock space of their own): two drainers
    holding different keys of the same contact still meet there. Every drainer takes the keys
    first and the contacts second, each in ascending order: one global order, no deadlock."""
    if not serializes(session):
        return
    keys = set(keys)
    ids = sorted({_lock_id(key) for key in keys})
    if not ids:
        return
    session.execute(_LOCK_KEYS, {"ids": ids})
    phones = sorted(key.removeprefix("phone:") for key in keys if key.startswith("phone:"))
    users = sorted(key.removeprefix("user:") for key in keys if key.startswith("user:"))
    if phones or users:
        session.execute(_LOCK_KNOWN_CONTACTS, {"space": CONTACT_LOCK_SPACE, "phones": phones, "users": users})


# The two-integer advisory locks are a space apart from the one-bigint locks of the keys.
CONTACT_LOCK_SPACE = 7_343_222
_LOCK_KEYS = text(
    "SELECT count(pg_advisory_xact_lock(k)) "
    "FROM (SELECT unnest(CAST(:ids AS bigint[])) AS k ORDER BY k) AS ordered"
)
_LOCK_KNOWN_CONTACTS = text(
    "SELECT count(pg_advisory_xact_lock(CAST(:space AS integer), c.id)) FROM "
    "(SELECT id FROM contacts WHERE phone_key = ANY(CAST(:phones AS text[])) "
    "OR user_id = ANY(CAST(:users AS text[])) ORDER BY id) AS c"
)


def record_failure(
    session: Session, delivery_id: int, error: str, now: datetime, *, max_attempts: int, backoff: timedelta
) -> datetime | None:
    """One more failed attempt: the next one is due after `backoff` doubled per attempt, or, at
    `max_attempts`, the delivery is parked. Returns when to retry (None: parked)."""
    row = session.get(WebhookDelivery, delivery_id)
    if row is None:
        return None
    row.attempts = (row.attempts or 0) + 1
    row.error = error[:2000]
    if row.attempts >= max_attempts:
        row.failed_at, row.next_attempt_at = now, None
        return None
    row.next_attempt_at = now + backoff * (2 ** (row.attempts - 1))
    return row.next_attempt_at


def delivery_ids(session: Session, *, failed: bool = False) -> list[int]:
    """Every delivery id, or only the parked ones, oldest first."""
    query = select(WebhookDelivery.id)
    if failed:
        query = query.where(WebhookDelivery.failed_at.is_not(None), WebhookDelivery.processed_at.is_(None))
    return list(session.scalars(query.order_by(WebhookDelivery.id)))


def delivery_state(session: Session, delivery_id: int) -> WebhookDelivery | None:
    """The row (tests, `webhook replay --delivery`)."""
    return session.get(WebhookDelivery, delivery_id)


def unprocessed_bodies(session: Session, ids: Sequence[int]) -> list[tuple[int, str, bytes]]:
    """(id, channel_id, body) of those of `ids` not processed yet, oldest first."""
    rows = session.execute(
        select(WebhookDelivery.id, WebhookDelivery.channel_id, WebhookDelivery.body)
        .where(WebhookDelivery.id.in_(list(ids)), WebhookDelivery.processed_at.is_(None))
        .order_by(WebhookDelivery.id)
    ).all()
    return [(row.id, row.channel_id, row.body) for row in rows]


def mark_error(session: Session, delivery_id: int, error: str) -> None:
    """Why the delivery could not be ingested (it stays unprocessed)."""
    session.execute(
        update(WebhookDelivery).where(WebhookDelivery.id == delivery_id).values(error=error[:2000])
    )


def mark_processed(session: Session, ids: Sequence[int], now: datetime) -> None:
    """The deliveries were ingested."""
    session.execute(_MARK_PROCESSED, {"ids": list(ids), "now": now})


# Built once, on the table (not the ORM entity): no ORM bulk-update machinery, no new statement
# and cache key per batch.
_DELIVERIES: Table = WebhookDelivery.__table__  # type: ignore[assignment]
_MARK_PROCESSED = (
    update(_DELIVERIES)
    .where(_DELIVERIES.c.id.in_(bindparam("ids", expanding=True)))
    .values(
        processed_at=bindparam("now", type_=_DELIVERIES.c.processed_at.type),
        error=None,
        failed_at=None,
        next_attempt_at=None,
    )
)


def backlog(session: Session) -> tuple[int, datetime | None, int]:
    """(deliveries not processed, when the oldest of them arrived, how many of them recorded an
    error): the metrics' view of the webhook queue."""
    row = session.execute(
        select(
            func.count(WebhookDelivery.id),
            func.min(WebhookDelivery.received_at),
            func.count(WebhookDelivery.error),
        ).where(WebhookDelivery.processed_at.is_(None))
    ).one()
    return int(row[0]), row[1], int(row[2])  # MIN() keeps the column's type: an aware datetime


def unprocessed_deliveries(
    session: Session, *, with_error_only: bool, limit: int
) -> list[tuple[int, str, datetime, str | None]]:
    """(id, channel, received at, error) of deliveries not processed, oldest first: all of them,
    or only those whose processing recorded an error (`contato-bot webhooks`)."""
    stmt = select(
        WebhookDelivery.id, WebhookDelivery.channel_id, WebhookDelivery.received_at, WebhookDelivery.error
    ).where(WebhookDelivery.processed_at.is_(None))
    if with_error_only:
        stmt = stmt.where(WebhookDelivery.error.is_not(None))
    rows = session.execute(stmt.order_by(WebhookDelivery.id).limit(limit)).all()
    return [(row.id, row.channel_id, row.received_at, row.error) for row in rows]
