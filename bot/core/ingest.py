"""Provider events -> the store -> windows recomputed. The ONE path for webhooks, `webhook
replay` and the sandbox, so what a replay shows is what production does.

Idempotent and order-independent: every fact is inserted under a unique key (ON CONFLICT DO
NOTHING), a delivery status only moves a message forward by rank, and the `windows` rows are
recomputed from the full set of stored events, never incremented. The same batch three times,
or shuffled, leaves the same rows.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from bot.bsp.base import (
    InboundMessage,
    NumberChanged,
    ProviderError,
    StatusUpdate,
    TemplateChanged,
    WebhookErrors,
    WebhookEvent,
)
from bot.config.models import MAX_ALERT_LEAD_MINUTES
from bot.rules.status import is_ranked
from bot.rules.windows import CTWA_REPLY_DEADLINE, FEP_DURATION, compute_windows
from bot.store import contacts as contact_rows
from bot.store import events as event_rows
from bot.store import outbound as outbound_rows
from bot.store import windows as window_rows
from bot.store.db import Store
from bot.store.models import OutboundMessage

log = logging.getLogger(__name__)


@dataclass
class IngestReport:
    """What one batch changed (JSON for `webhook replay`, and what the caller must follow up)."""

    contacts_touched: int = 0
    customer_messages: int = 0
    statuses_applied: int = 0
    statuses_ignored: int = 0  # duplicates, out of order, or statuses we do not rank
    conversations: int = 0
    numbers_changed: int = 0
    templates_changed: list[TemplateChanged] = field(default_factory=list)
    errors: list[ProviderError] = field(default_factory=list)
    status_changes: list[tuple[int, str]] = field(default_factory=list)  # (outbound id, new status)
    # Customer messages stored by this batch for the first time, with their contact id: what the
    # conversation threads post (bot.core.conversation). Not in to_dict: the text is the customer's.
    new_inbound: list[tuple[int, InboundMessage]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able summary."""
        return {
            "contacts_touched": self.contacts_touched,
            "customer_messages": self.customer_messages,
            "statuses_applied": self.statuses_applied,
            "statuses_ignored": self.statuses_ignored,
            "conversations": self.conversations,
            "numbers_changed": self.numbers_changed,
            "templates_changed": [asdict(change) for change in self.templates_changed],
            "errors": [asdict(error) for error in self.errors],
            "status_changes": [[outbound_id, status] for outbound_id, status in self.status_changes],
        }


def ingest_events(
    store: Store,
    channel_id: str,
    events: Sequence[WebhookEvent],
    now: datetime,
    *,
    longest_alert_lead: timedelta | None = None,
) -> IngestReport:
    """Apply one batch of provider events in one transaction, then recompute the windows rows
    of every contact it touched. Safe to call again with the same events. `longest_alert_lead`
    (the config's `longest_alert_lead`) is how close to expiring a window must be to go to the
    expiry scan's queue (see `recompute_windows_of`)."""
    with store.session() as session:
        return ingest_events_in(session, channel_id, events, now, longest_alert_lead=longest_alert_lead)


def ingest_events_in(
    session: Session,
    channel_id: str,
    events: Sequence[WebhookEvent],
    now: datetime,
    *,
    longest_alert_lead: timedelta | None = None,
) -> IngestReport:
    """`ingest_events` inside the caller's transaction (the drainers': their delivery rows stay
    locked until it commits), in a savepoint: a batch that fails leaves nothing of itself and the
    transaction usable for the next try."""
    report = IngestReport()
    read: list[contact_rows.ContactBatch] = []  # the batch's contacts, once read
    try:
        with session.begin_nested():
            _ingest_in_savepoint(session, channel_id, events, now, report, read, longest_alert_lead)
    except BaseException:
        for contacts in read:  # rolled back: what they hold in memory may be newer than the rows
            contacts.expire()
        raise
    return report


def _ingest_in_savepoint(
    session: Session,
    channel_id: str,
    events: Sequence[WebhookEvent],
    now: datetime,
    report: IngestReport,
    read: list[contact_rows.ContactBatch],
    longest_alert_lead: timedelta | None,
) -> None:
    touched: set[int] = set()
    # Statuses are most of the traffic (about three per message sent): their dedupe rows and
    # the outbound messages they move are written and read once per batch, not per event.
    statuses = [event for event in events if isinstance(event, StatusUpdate)]
    new_statuses = _insert_status_events(session, channel_id, statuses)
    outbound = outbound_rows.outbound_by_message_id(session, channel_id, {s.message_id for s in statuses})
    facts = _Facts(channel_id)
    contacts = contact_rows.ContactBatch(
        session,
        [e.wa_id for e in events if isinstance(e, InboundMessage)]
        + [s.recipient_wa_id for s in statuses if s.status == "sent" or s.conversation_id],
    )
    read.append(contacts)
    for event in events:
        if isinstance(event, InboundMessage):
            _inbound(session, channel_id, event, now, report, touched, contacts, facts)
        elif isinstance(event, StatusUpdate):
            key = (event.message_id, event.status)
            new = key in new_statuses
            new_statuses.discard(key)  # a repeat inside the same batch is not new
            _status(
                session,
                channel_id,
                event,
                now,
                report,
                touched,
                new,
                outbound.get(event.message_id),
                contacts,
                facts,
            )
        elif isinstance(event, NumberChanged):
            contacts.write()  # the move reads contacts from the database
            contact = contact_rows.move_contact_number(session, event.old_wa_id, event.new_wa_id, now)
            contacts.forget()
            report.numbers_changed += 1
            if contact is not None:
                touched.add(contact.id)
        elif isinstance(event, TemplateChanged):
            report.templates_changed.append(event)
        elif isinstance(event, WebhookErrors):
            report.errors.extend(event.errors)
            for error in event.errors:
                log.warning("channel %s: provider reported error %s %s", channel_id, error.code, error.title)
    contacts.write()
    facts.write(session, report)
    recompute_windows_of(session, channel_id, touched, now, longest_alert_lead=longest_alert_lead)
    report.contacts_touched = len(touched)


def record_business_message(
    session: Session, channel_id: str, contact_id: int, message_id: str, at: datetime
) -> None:
    """We sent `message_id` to the contact at `at` (accepted by the BSP): store it as a business
    event (a reply that may open the FEP) and recompute that contact's windows rows."""
    event_rows.record_business_event(session, channel_id, contact_id, message_id, at)
    recompute_windows(session, channel_id, contact_id, at)


# ---- events -------------------------------------------------------------------------------------


def _inbound(
    session: Session,
    channel_id: str,
    event: InboundMessage,
    now: datetime,
    report: IngestReport,
    touched: set[int],
    contacts: contact_rows.ContactBatch,
    facts: _Facts,
) -> None:
    if event.type == "system":  # identity notices: not the customer writing
        return
    if not event.wa_id and not event.user_id:
        log.warning("channel %s: inbound %s has no sender; skipped", channel_id, event.message_id)
        return
    contact = contacts.upsert(
        wa_id=event.wa_id or None, user_id=event.user_id, name=event.profile_name, now=now, at=event.at
    )
    touched.add(contact.id)
    referral = dict(event.referral) if event.referral is not None else None
    facts.add(
        contact.id,
        "customer",
        event.message_id,
        event.at,
        from_ad=referral is not None,
        data={"referral": _jsonable(referral)} if referral is not None else None,
    )
    facts.inbound.setdefault(event.message_id, (contact.id, event))


class _Facts:
    """The batch's customer_events rows, inserted together before the windows are recomputed.
    The first occurrence of a (kind, ref) in the batch wins, as row-by-row inserts would."""

    def __init__(self, channel_id: str) -> None:
        self.channel_id = channel_id
        self.rows: dict[tuple[str, str], dict[str, Any]] = {}
        self.inbound: dict[str, tuple[int, InboundMessage]] = {}  # message id -> (contact, event)

    def add(
        self,
        contact_id: int,
        kind: str,
        ref: str,
        at: datetime,
        *,
        from_ad: bool = False,
        data: dict[str, Any] | None = None,
        origin: str | None = None,
        expires_at: datetime | None = None,
    ) -> None:
        self.rows.setdefault(
            (kind, ref),
            {
                "channel_id": self.channel_id,
                "contact_id": contact_id,
                "kind": kind,
                "ref": ref,
                "at": at,
                "from_ad": from_ad,
                "origin": origin,
                "expires_at": expires_at,
                "data": data,
            },
        )

    def write(self, session: Session, report: IngestReport) -> None:
        for kind, ref in event_rows.insert_customer_events(session, list(self.rows.values())):
            if kind == "customer":
                report.customer_messages += 1
                if ref in self.inbound:
                    report.new_inbound.append(self.inbound[ref])
            elif kind == "conversation":
                report.conversations += 1


def _status_data(event: StatusUpdate) -> dict[str, Any] | None:
    data: dict[str, Any] = {}
    if event.errors:
        data["errors"] = [asdict(error) for error in event.errors]
    if event.pricing_model or event.pricing_category:
        data["pricing"] = {"model": event.pricing_model, "category": event.pricing_category}
    return data or None


def _insert_status_events(
    session: Session, channel_id: str, statuses: Sequence[StatusUpdate]
) -> set[tuple[str, str]]:
    """Record every (message, status) of the batch once; returns the ones not seen before."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for event in statuses:
        rows.setdefault(
            (event.message_id, event.status),
            {
                "channel_id": channel_id,
                "message_id": event.message_id,
                "status": event.status,
                "at": event.at,
                "data": _status_data(event),
            },
        )
    return event_rows.insert_status_events(session, list(rows.values()))


_BULK_ROWS = event_rows.BULK_ROWS


def _status(
    session: Session,
    channel_id: str,
    event: StatusUpdate,
    now: datetime,
    report: IngestReport,
    touched: set[int],
    new: bool,
    outbound: OutboundMessage | None,
    contacts: contact_rows.ContactBatch,
    facts: _Facts,
) -> None:
    # Applied even to a status seen before: the webhook can beat the send's own bookkeeping
    # (bsp_message_id recorded after it), and moving forward by rank is idempotent.
    moved = outbound is not None and _advance(outbound, event, now)
    if moved and outbound is not None:
        report.status_changes.append((outbound.id, outbound.status))
    if new and (moved or (outbound is None and is_ranked(event.status))):
        report.statuses_applied += 1
    else:
        report.statuses_ignored += 1

    has_conversation = bool(event.conversation_id and event.conversation_expires_at is not None)
    if event.status != "sent" and not has_conversation:
        return  # nothing about windows: no need to know (or create) the contact
    contact_id = _status_contact(event, outbound, contacts, now)
    if contact_id is None:
        return
    if event.status == "sent":
        # Any `sent`, even of a message sent outside this app: a business reply (opens the FEP).
        facts.add(contact_id, "business", event.message_id, event.at)
        touched.add(contact_id)
    if event.conversation_id and event.conversation_expires_at is not None:
        facts.add(
            contact_id,
            "conversation",
            event.conversation_id,
            event.at,
            origin=event.conversation_origin,
            expires_at=event.conversation_expires_at,
        )
        touched.add(contact_id)


def _advance(row: OutboundMessage, event: StatusUpdate, now: datetime) -> bool:
    """Move the message's status forward (never back); True if it changed."""
    first = event.errors[0] if event.errors else None
    return outbound_rows.advance_status(
        row,
        event.status,
        event.at,
        error_code=first.code if first else None,
        error_detail=((first.detail or first.title) if first else None) or None,
        now=now,
    )


def _status_contact(
    event: StatusUpdate, outbound: OutboundMessage | None, contacts: contact_rows.ContactBatch, now: datetime
) -> int | None:
    if outbound is not None:
        return outbound.contact_id
    if not event.recipient_wa_id and not event.recipient_user_id:
        return None
    try:
        contact = contacts.upsert(
            wa_id=event.recipient_wa_id or None, user_id=event.recipient_user_id, now=now, at=event.at
        )
    except ValueError:
        return None
    return contact.id


# ---- windows rows -------------------------------------------------------------------------------


# How long an ingestion transaction may take, from reading its clock to committing, plus any
# clock difference between instances, without a window slipping past the expiry scan (below).
DUE_QUEUE_MARGIN = timedelta(minutes=10)
# Without the config's longest lead, queue as if a team had the longest lead allowed: never
# misses an alert, at the price of queueing almost every window written.
_ANY_LEAD = timedelta(minutes=MAX_ALERT_LEAD_MINUTES)


def recompute_windows(session: Session, channel_id: str, contact_id: int, now: datetime) -> None:
    """`recompute_windows_of` for one contact."""
    recompute_windows_of(session, channel_id, {contact_id}, now)


def recompute_windows_of(
    session: Session,
    channel_id: str,
    contact_ids: Iterable[int],
    now: datetime,
    *,
    longest_alert_lead: timedelta | None = None,
) -> None:
    """Bring the contacts' `windows` rows in line with their events, each at max(now, its newest
    event): what the expiry scan reads. Events and current rows are read in one query each per
    chunk of contacts; unchanged rows are not written.

    A window written with an expiry within `longest_alert_lead` + DUE_QUEUE_MARGIN of `now` (a
    customer message delivered late, a replay) also goes to `window_due_queue`, in this same
    transaction, so the next expiry scan claims it: the scan's steady reads only follow each
    lead's moving edge, which may already be past it. The usual window (a message just written,
    24 h to go) is not queued: its edge is at least the margin ahead of `now`, and this
    transaction commits before the margin runs out, so the edge reads it when it gets there.
    Queueing is commit-order safe the other way too: the scan takes whatever is queued when it
    runs, even a row whose `now` is older than the scan's edge (`store.alert_claims.claim_due_windows`).
    """
    queue_until = now + (longest_alert_lead if longest_alert_lead is not None else _ANY_LEAD)
    queue_until += DUE_QUEUE_MARGIN
    due_soon: list[tuple[str, int, str]] = []
    writes: list[tuple[str, int, str, datetime | None, datetime]] = []
    stale: list[int] = []
    ids = sorted(set(contact_ids))
    for start in range(0, len(ids), _BULK_ROWS):
        chunk = ids[start : start + _BULK_ROWS]
        events = event_rows.customer_event_rows_of(session, channel_id, chunk)
        current = window_rows.current_windows(session, channel_id, chunk)
        for contact_id in chunk:
            written = _apply_windows(
                channel_id, contact_id, events[contact_id], current[contact_id], now, writes, stale
            )
            due_soon.extend(
                (channel_id, contact_id, kind) for kind, expires_at in written if expires_at <= queue_until
            )
    session.flush()
    window_rows.delete_windows(session, stale)
    window_rows.upsert_windows(session, writes, now)  # new and moved rows of every chunk, one statement
    window_rows.queue_due_windows(session, due_soon, now)


def _apply_windows(
    channel_id: str,
    contact_id: int,
    rows: Sequence[Any],
    current: Mapping[str, window_rows.CurrentWindow],
    now: datetime,
    writes: list[tuple[str, int, str, datetime | None, datetime]],
    stale: list[int],
) -> list[tuple[str, datetime]]:
    """What the contact's rows must become: the new and moved ones added to `writes`, the ids of
    those no longer wanted to `stale`, for the caller to write in one statement each; returns
    (kind, expires_at) of those inserted or moved."""
    newest = max((row.at for row in rows), default=None)
    at = max(now, newest) if newest is not None else now
    windows = compute_windows(event_rows.events_of(rows), at)

    wanted: dict[str, tuple[datetime | None, datetime]] = {}
    care = windows.customer_care
    if care.expires_at is not None:
        wanted["customer_care"] = (care.opened_at, care.expires_at)
    if windows.ctwa.expires_at is not None:
        wanted["ctwa"] = (windows.ctwa.expires_at - FEP_DURATION, windows.ctwa.expires_at)
    if windows.ctwa.pending_until is not None:
        wanted["ctwa_pending"] = (
            windows.ctwa.pending_until - CTWA_REPLY_DEADLINE,
            windows.ctwa.pending_until,
        )
    stale.extend(row.id for kind, row in current.items() if kind not in wanted)
    written: list[tuple[str, datetime]] = []
    for kind, (opened_at, expires_at) in wanted.items():
        row = current.get(kind)
        if row is not None and (row.opened_at, row.expires_at) == (opened_at, expires_at):
            continue
        writes.append((channel_id, contact_id, kind, opened_at, expires_at))
        written.append((kind, expires_at))
    return written


# ---- plumbing -----------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    """A referral as plain JSON (Mapping views, tuples) for the JSON column."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
