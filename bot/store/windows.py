"""`windows` rows: the open windows of each contact, recomputed by ingestion from the customer
events, read by the expiry scan and App Home. Rows of the kinds in `bot.rules.windows.WINDOW_KINDS`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Table, bindparam, delete, select
from sqlalchemy.orm import Session

from bot.rules.windows import WINDOW_KINDS
from bot.store.db import insert_rows
from bot.store.models import Contact, Window, WindowDueQueue


class CurrentWindow(NamedTuple):
    """What ingestion reads of a window row to tell whether it moved."""

    id: int
    opened_at: datetime | None
    expires_at: datetime


def current_windows(
    session: Session, channel_id: str, contact_ids: Sequence[int]
) -> dict[int, dict[str, CurrentWindow]]:
    """`window_rows_of` as plain rows (ingestion only compares them and writes by statement: no ORM
    objects to build and track)."""
    current: dict[int, dict[str, CurrentWindow]] = {contact_id: {} for contact_id in contact_ids}
    for row in session.execute(
        _CURRENT_WINDOWS, {"channel_id": channel_id, "contact_ids": list(contact_ids)}
    ):
        current[row.contact_id][row.kind] = CurrentWindow(row.id, row.opened_at, row.expires_at)
    return current


_WINDOWS: Table = Window.__table__  # type: ignore[assignment]
# Built once, on the table (Core rows: no ORM loading step per row).
_CURRENT_WINDOWS = select(
    _WINDOWS.c.contact_id, _WINDOWS.c.kind, _WINDOWS.c.id, _WINDOWS.c.opened_at, _WINDOWS.c.expires_at
).where(
    _WINDOWS.c.channel_id == bindparam("channel_id"),
    _WINDOWS.c.contact_id.in_(bindparam("contact_ids", expanding=True)),
)


def window_rows_of(
    session: Session, channel_id: str, contact_ids: Sequence[int]
) -> dict[int, dict[str, Window]]:
    """The current rows of these contacts on one channel: contact -> kind -> row (one query; the
    caller keeps `contact_ids` short)."""
    current: dict[int, dict[str, Window]] = {contact_id: {} for contact_id in contact_ids}
    for row in session.scalars(
        select(Window).where(Window.channel_id == channel_id, Window.contact_id.in_(list(contact_ids)))
    ):
        current[row.contact_id][row.kind] = row
    return current


def upsert_window(
    session: Session,
    channel_id: str,
    contact_id: int,
    kind: str,
    opened_at: datetime | None,
    expires_at: datetime,
    now: datetime,
) -> None:
    """Write one window row (`upsert_windows`)."""
    upsert_windows(session, [(channel_id, contact_id, kind, opened_at, expires_at)], now)


def upsert_windows(
    session: Session,
    rows: Sequence[tuple[str, int, str, datetime | None, datetime]],
    now: datetime,
) -> None:
    """Write these (channel, contact, kind, opened_at, expires_at) window rows in one statement:
    INSERT .. ON CONFLICT DO UPDATE, so two instances recomputing one contact never collide. In
    key order, so two statements that share rows lock them in the same order."""
    if not rows:
        return
    table: Table = Window.__table__  # type: ignore[assignment]
    insert_rows(
        session,
        table,
        [
            {
                "channel_id": channel_id,
                "contact_id": contact_id,
                "kind": kind,
                "opened_at": opened_at,
                "expires_at": expires_at,
                "updated_at": now,
            }
            for channel_id, contact_id, kind, opened_at, expires_at in sorted(rows, key=lambda r: r[:3])
        ],
        conflict=["channel_id", "contact_id", "kind"],
        update=["opened_at", "expires_at", "updated_at"],
    )


def queue_due_windows(session: Session, keys: Sequence[tuple[str, int, str]], now: datetime) -> None:
    """Put these (channel, contact, kind) windows in `window_due_queue`, in the caller's
    transaction (the one that wrote the window rows): the next expiry scan reads them whatever
    its clock says. ON CONFLICT DO UPDATE, not DO NOTHING: on PostgreSQL DO NOTHING would see a
    row a running scan is consuming (and will delete) as already queued and skip it, while that
    scan cannot see this transaction's window; DO UPDATE waits for the scan, finds the row gone
    and inserts a fresh one for the next scan."""
    if not keys:
        return
    table: Table = WindowDueQueue.__table__  # type: ignore[assignment]
    insert_rows(
        session,
        table,
        [
            {
                "channel_id": channel_id,
                "contact_id": contact_id,
                "kind": kind,
                "queued_at": now,
                "taken_by": None,
            }
            for channel_id, contact_id, kind in sorted(set(keys))
        ],
        conflict=["channel_id", "contact_id", "kind"],
        update=["queued_at", "taken_by"],
    )


def delete_windows(session: Session, window_ids: Sequence[int]) -> None:
    """These rows' windows are no longer open or pending (e.g. an ad lead answered)."""
    if window_ids:
        session.execute(_DELETE_WINDOWS, {"ids": sorted(window_ids)})


_DELETE_WINDOWS = delete(_WINDOWS).where(_WINDOWS.c.id.in_(bindparam("ids", expanding=True)))


def expiries_of(session: Session, contact_ids: Iterable[int]) -> dict[tuple[str, int, str], datetime]:
    """(channel, contact, kind) -> expires_at of every window row of these contacts."""
    return {
        (w.channel_id, w.contact_id, w.kind): w.expires_at
        for w in session.execute(
            select(Window.channel_id, Window.contact_id, Window.kind, Window.expires_at).where(
                Window.contact_id.in_(list(contact_ids))
            )
        )
    }


def closing_windows(
    session: Session, channel_ids: Sequence[str], after: datetime, until: datetime, limit: int
) -> list[tuple[Window, Contact]]:
    """Windows of these channels expiring in (after, until], soonest first, with their contacts."""
    rows = session.execute(
        select(Window, Contact)
        .join(Contact, Contact.id == Window.contact_id)
        .where(
            Window.channel_id.in_(list(channel_ids)),
            Window.expires_at > after,
            Window.expires_at <= until,
            Window.kind.in_(WINDOW_KINDS),
        )
        .order_by(Window.expires_at, Window.id)
        .limit(limit)
    ).all()
    return [(window, contact) for window, contact in rows]
