"""Customer events (what opens and closes windows) and status events (each delivery status once).

`customer_events` rows are the facts the window rules read: customer messages, business replies
and Meta's conversations. `status_events` dedupe the delivery statuses providers send, often
several times. Every insert here is ON CONFLICT DO NOTHING on the row's natural key, so the same
webhook twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from bot.rules.events import BusinessMessage, ConversationSeen, CustomerMessage, Event
from bot.store.db import dialect_insert, insert_rows
from bot.store.models import CustomerEvent, StatusEvent

# Rows per multi-row statement: far below SQLite's bound-parameter cap.
BULK_ROWS = 500


def load_events(session: Session, channel_id: str, contact_id: int) -> list[Event]:
    """Every stored window-relevant fact about one contact on one channel, as rule events."""
    rows = session.scalars(
        select(CustomerEvent).where(
            CustomerEvent.channel_id == channel_id, CustomerEvent.contact_id == contact_id
        )
    )
    return events_of(rows)


def events_of(rows: Iterable[Any]) -> list[Event]:
    """Stored customer_events rows (ORM objects, or rows of `customer_event_rows_of`) as the
    rules' events."""
    return list(_to_events(rows))


def _to_events(rows: Iterable[Any]) -> Iterable[Event]:
    for row in rows:
        if row.kind == "customer":
            yield CustomerMessage(message_id=row.ref, at=row.at, from_ad=bool(row.from_ad))
        elif row.kind == "business":
            yield BusinessMessage(message_id=row.ref, at=row.at)
        elif row.kind == "conversation" and row.expires_at is not None:
            yield ConversationSeen(
                conversation_id=row.ref, origin=row.origin or "", expires_at=row.expires_at
            )


def customer_event_rows_of(
    session: Session, channel_id: str, contact_ids: Sequence[int]
) -> dict[int, list[Any]]:
    """The customer_events rows of these contacts on one channel, by contact (one query; the
    caller keeps `contact_ids` under BULK_ROWS): plain rows with the columns `events_of` reads
    (ingestion only reads them: no ORM objects to build and track)."""
    events: dict[int, list[Any]] = {contact_id: [] for contact_id in contact_ids}
    for row in session.execute(_FACTS_OF, {"channel_id": channel_id, "contact_ids": list(contact_ids)}):
        events[row.contact_id].append(row)
    return events


# Built once, on the table (Core rows: no ORM loading step per row).
_CUSTOMER_EVENTS: Table = CustomerEvent.__table__  # type: ignore[assignment]
_FACTS_OF = select(
    *(
        _CUSTOMER_EVENTS.c[name]
        for name in ("contact_id", "kind", "ref", "at", "from_ad", "origin", "expires_at")
    )
).where(
    _CUSTOMER_EVENTS.c.channel_id == bindparam("channel_id"),
    _CUSTOMER_EVENTS.c.contact_id.in_(bindparam("contact_ids", expanding=True)),
)


def insert_customer_events(session: Session, rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """Insert customer_events rows (one statement), skipping those already stored; the (kind,
    ref) of the rows that were new."""
    if not rows:
        return []
    table: Table = CustomerEvent.__table__  # type: ignore[assignment]
    written = insert_rows(
        session, table, rows, conflict=["channel_id", "kind", "ref"], returning=["kind", "ref"]
    )
    return [(row.kind, row.ref) for row in written]


def record_business_event(
    session: Session, channel_id: str, contact_id: int, message_id: str, at: datetime
) -> bool:
    """We sent `message_id` to the contact at `at`: a business reply (it may open the FEP).
    True if the row is new."""
    table: Table = CustomerEvent.__table__  # type: ignore[assignment]
    stmt = (
        dialect_insert(session, table)
        .values(
            channel_id=channel_id,
            contact_id=contact_id,
            kind="business",
            ref=message_id,
            at=at,
            from_ad=False,
        )
        .on_conflict_do_nothing(index_elements=["channel_id", "kind", "ref"])
        .returning(table.c.id)  # rowcount is not reliable here across drivers; RETURNING is
    )
    return session.execute(stmt).first() is not None


def insert_status_events(session: Session, rows: Sequence[Mapping[str, Any]]) -> set[tuple[str, str]]:
    """Record each (message, status) once; returns the (message_id, status) pairs not seen before."""
    if not rows:
        return set()
    table: Table = StatusEvent.__table__  # type: ignore[assignment]
    written = insert_rows(
        session,
        table,
        rows,
        conflict=["channel_id", "message_id", "status"],
        returning=["message_id", "status"],
    )
    return {(row.message_id, row.status) for row in written}
