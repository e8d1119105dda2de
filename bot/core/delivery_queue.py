"""Stored webhook deliveries -> ingestion: the one drain of `contato-bot worker` and of
`serve --ingest in-process`, and what `webhook replay --delivery` runs.

A drainer takes the oldest due deliveries with their rows locked (`store.deliveries.claim_due`),
ingests them (`core.ingest.ingest_events_in`), writes what follows from them in the database (the
conversation claims, the template invalidation) and marks them processed, all in the one
transaction that holds the locks. So any number of drainers share the queue on PostgreSQL (SKIP
LOCKED), and a drainer killed at any point, SIGKILL included, leaves its batch unlocked and
un-applied for the next one: nothing lost, nothing applied twice. On SQLite the transaction holds
the database's one write lock: one drainer at a time.

A batch that fails is applied one delivery at a time, and a delivery that fails one event at a
time (savepoints in the same transaction), so one bad event never holds back its siblings; a
delivery with an event still failing is retried after a backoff, then parked (`MAX_ATTEMPTS`).
Only Slack comes after the commit: the agents' confirmations redrawn and the conversation step
(a drainer killed between the commit and those calls leaves them to the next status and to the
scheduler's job).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.orm import Session

from bot import metrics
from bot.bsp import registry
from bot.bsp.base import InboundMessage, NumberChanged, StatusUpdate, WebhookEvent, WebhookShapeError
from bot.bsp.limits import Screened, screen_events
from bot.core.conversation import claim_new_replies_in
from bot.core.ingest import IngestReport, ingest_events_in
from bot.rules import phones
from bot.runtime import Runtime
from bot.store import deliveries
from bot.store import templates as template_rows

log = logging.getLogger(__name__)

# Deliveries ingested in one transaction: under load the per-delivery overhead (transaction,
# commit, the Slack follow-ups' reads) is paid once per batch instead of once per POST.
MAX_BATCH = 16
# A delivery that cannot be applied is tried again after 30 s, 1, 2, 4 min, then parked: visible
# to the operator, replayed with `webhook replay --delivery` once the cause is fixed, never retried
# forever.
MAX_ATTEMPTS = 5
RETRY_BACKOFF = timedelta(seconds=30)
# After a pass that failed (the database unreachable), before the next one.
FAILED_PASS_PAUSE_SECONDS = 2.0


def error_label(exc: BaseException) -> str:
    """What a failure is called in logs and in the delivery row: its class (and the driver's),
    never its message: a database error's message carries the SQL parameters (phone numbers)."""
    label = type(exc).__name__
    orig = getattr(exc, "orig", None)
    if orig is not None:
        label += f" ({type(orig).__name__})"
    if isinstance(exc, WebhookShapeError):
        label += f" at {exc.path}"
    return label


def screen_body(rt: Runtime, channel_id: str, raw: bytes, received_at: datetime) -> Screened:
    """Raw body -> the provider's normalised events, checked against what the store can keep
    (`bot.bsp.limits`). Raises ValueError (not JSON) or WebhookShapeError."""
    provider = rt.provider(channel_id)
    return screen_events(provider.parse_webhook(registry.decode_body(provider.name, raw)), received_at)


def parse_body(
    rt: Runtime, channel_id: str, raw: bytes, received_at: datetime | None = None
) -> list[WebhookEvent]:
    """The events of a body received at `received_at` (default: now) that can be stored."""
    return screen_body(rt, channel_id, raw, received_at or rt.now()).events


class ParsedBodies:
    """The endpoint's own parse of the bodies it accepted, kept for the drainer of the same
    process (it spares a second parse). Bounded: a delivery another process drained is never
    asked for, and its entry goes when newer ones come."""

    def __init__(self, limit: int = 4096) -> None:
        self._limit = limit
        self._events: dict[int, list[WebhookEvent]] = {}
        self._lock = threading.Lock()  # filled on the event loop, emptied by the drain's thread

    def remember(self, delivery_id: int, events: list[WebhookEvent]) -> None:
        with self._lock:
            self._events[delivery_id] = events
            while len(self._events) > self._limit:
                del self._events[next(iter(self._events))]

    def take(self, delivery_id: int) -> list[WebhookEvent] | None:
        with self._lock:
            return self._events.pop(delivery_id, None)


@dataclass
class Drained:
    """What one drain transaction did (committed)."""

    claimed: int = 0
    processed: int = 0
    failed: int = 0  # to be retried after a backoff, or parked
    reports: list[tuple[str, IngestReport]] = field(default_factory=list)
    events: Counter[str] = field(default_factory=Counter)  # events applied, by channel

    def count_events(self) -> None:
        for channel_id, applied in self.events.items():
            metrics.INGESTED_EVENTS.labels(channel_id).inc(applied)


def drain_due(rt: Runtime, limit: int = MAX_BATCH, parsed: ParsedBodies | None = None) -> Drained:
    """Claim up to `limit` of the oldest due deliveries and apply them, in one transaction."""
    now = rt.now()
    with rt.store.session() as session:
        rows = deliveries.claim_due(session, now, limit)
        drained = _apply(rt, session, rows, parsed, now)
    drained.count_events()
    return drained


def process_deliveries(
    rt: Runtime,
    delivery_ids: Sequence[int],
    parsed: ParsedBodies | None = None,
    *,
    parked: bool = False,
) -> list[tuple[str, IngestReport]]:
    """Apply the given stored deliveries now, as a drainer would (a retry's backoff is not waited
    for; `parked` includes parked ones: `webhook replay`). Idempotent; one a drainer holds right
    now is left to it."""
    now = rt.now()
    with rt.store.session() as session:
        rows = deliveries.claim_deliveries(session, delivery_ids, parked=parked)
        drained = _apply(rt, session, rows, parsed, now)
    drained.count_events()
    return drained.reports


def _runs(rows: Sequence[deliveries.Pending]) -> Iterator[tuple[str, list[deliveries.Pending]]]:
    """Consecutive deliveries of the same channel, together: one ingestion each."""
    run: list[deliveries.Pending] = []
    for row in rows:
        if run and run[0].channel_id != row.channel_id:
            yield run[0].channel_id, run
            run = []
        run.append(row)
    if run:
        yield run[0].channel_id, run


def _apply(
    rt: Runtime,
    session: Session,
    rows: Sequence[deliveries.Pending],
    parsed: ParsedBodies | None,
    now: datetime,
) -> Drained:
    drained = Drained(claimed=len(rows))
    cached = {row.id: events for row in rows if parsed and (events := parsed.take(row.id)) is not None}
    for row in rows:
        if row.id not in cached:
            with contextlib.suppress(Exception):  # a body that does not parse fails below, alone
                cached[row.id] = parse_body(rt, row.channel_id, row.body, row.received_at)
    if deliveries.serializes(session):  # before any of the batch's writes: no lock order to break
        keys: set[str] = set()
        for row in rows:
            keys |= contact_keys(row.channel_id, cached.get(row.id, []))
        deliveries.serialize_on(session, keys)
    for channel_id, run in _runs(rows):
        try:
            events = [event for row in run for event in _events_of(rt, row, cached)]
            report = ingest_events_in(
                session, channel_id, events, now, longest_alert_lead=rt.config.longest_alert_lead
            )
        except Exception as exc:
            if len(run) > 1:
                log.warning(
                    "webhook deliveries %s failed together (%s); applying them one by one",
                    [row.id for row in run],
                    error_label(exc),
                )
            for row in run:
                _apply_alone(rt, session, row, cached, now, drained)
            continue
        _applied(rt, session, channel_id, report, len(events), now, drained)
        deliveries.mark_processed(session, [row.id for row in run], now)
        drained.processed += len(run)
    return drained


def contact_keys(channel_id: str, events: Sequence[WebhookEvent]) -> set[str]:
    """What the events touch that two drainers must not apply at once (`deliveries.serialize_on`):
    the contacts, by their canonical number or user id, and the messages whose status moves."""
    keys: set[str] = set()

    def contact(wa_id: str | None, user_id: str | None) -> None:
        if wa_id:
            with contextlib.suppress(phones.InvalidPhone):
                keys.add("phone:" + phones.phone_key(wa_id))
        if user_id:
            keys.add("user:" + user_id)

    for event in events:
        if isinstance(event, InboundMessage):
            contact(event.wa_id, event.user_id)
        elif isinstance(event, StatusUpdate):
            contact(event.recipient_wa_id, event.recipient_user_id)
            keys.add(f"message:{channel_id}:{event.message_id}")
        elif isinstance(event, NumberChanged):
            contact(event.old_wa_id, None)
            contact(event.new_wa_id, None)
    return keys


def _events_of(
    rt: Runtime, row: deliveries.Pending, cached: dict[int, list[WebhookEvent]]
) -> list[WebhookEvent]:
    events = cached.get(row.id)
    return events if events is not None else parse_body(rt, row.channel_id, row.body, row.received_at)


def _apply_alone(
    rt: Runtime,
    session: Session,
    row: deliveries.Pending,
    cached: dict[int, list[WebhookEvent]],
    now: datetime,
    drained: Drained,
) -> None:
    """One delivery, then (if it fails) each of its events in its own savepoint. The events that
    apply stay applied (ingestion is idempotent, so the retry re-applying them changes nothing)."""
    try:
        events = _events_of(rt, row, cached)
    except Exception as exc:
        _failed(session, row.id, error_label(exc), now, drained)
        return
    try:
        report = ingest_events_in(
            session, row.channel_id, events, now, longest_alert_lead=rt.config.longest_alert_lead
        )
    except Exception as exc:
        report = IngestReport()
        failures = []
        for index, event in enumerate(events):
            try:
                lead = rt.config.longest_alert_lead
                _merge(
                    report, ingest_events_in(session, row.channel_id, [event], now, longest_alert_lead=lead)
                )
            except Exception as event_exc:
                failures.append(f"event {index}: {error_label(event_exc)}")
        # What did apply is stored for good: count it and claim its replies now (a retry finds
        # those messages already stored, so it would never report them as new).
        _applied(rt, session, row.channel_id, report, len(events) - len(failures), now, drained)
        if failures:
            _failed(session, row.id, f"{error_label(exc)}; " + "; ".join(failures), now, drained)
            return
    else:
        _applied(rt, session, row.channel_id, report, len(events), now, drained)
    deliveries.mark_processed(session, [row.id], now)
    drained.processed += 1


def _applied(
    rt: Runtime,
    session: Session,
    channel_id: str,
    report: IngestReport,
    applied: int,
    now: datetime,
    drained: Drained,
) -> None:
    """What follows each successful ingestion, in the same transaction: the other processes'
    template caches told, the customer's new messages claimed for the conversation threads."""
    drained.reports.append((channel_id, report))
    drained.events[channel_id] += applied
    if report.templates_changed:  # re-categorised or paused: no stale prices on any screen
        template_rows.invalidate_templates(session, channel_id, now)
    if report.new_inbound:
        try:
            with session.begin_nested():
                claim_new_replies_in(session, rt, channel_id, report.new_inbound, now)
        except Exception as exc:  # the facts are stored; only the thread post is missed
            log.error("conversation claims for channel %s failed: %s", channel_id, error_label(exc))


def _merge(total: IngestReport, part: IngestReport) -> None:
    total.contacts_touched += part.contacts_touched
    total.customer_messages += part.customer_messages
    total.statuses_applied += part.statuses_applied
    total.statuses_ignored += part.statuses_ignored
    total.conversations += part.conversations
    total.numbers_changed += part.numbers_changed
    total.templates_changed += part.templates_changed
    total.errors += part.errors
    total.status_changes += part.status_changes
    total.new_inbound += part.new_inbound


def _failed(session: Session, delivery_id: int, error: str, now: datetime, drained: Drained) -> None:
    retry_at = deliveries.record_failure(
        session, delivery_id, error, now, max_attempts=MAX_ATTEMPTS, backoff=RETRY_BACKOFF
    )
    drained.failed += 1
    if retry_at is None:
        log.error("webhook delivery %s parked after %d attempts: %s", delivery_id, MAX_ATTEMPTS, error)
    else:
        log.error("webhook delivery %s failed: %s; retried at %s", delivery_id, error, retry_at.isoformat())


# ---- the loop -----------------------------------------------------------------------------------


@dataclass
class DrainTotals:
    """What a drainer did since it started (`worker --once` prints it)."""

    batches: int = 0
    processed: int = 0
    failed: int = 0
    events: int = 0

    def add(self, drained: Drained) -> None:
        self.batches += 1 if drained.claimed else 0
        self.processed += drained.processed
        self.failed += drained.failed
        self.events += sum(drained.events.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "batches": self.batches,
            "processed": self.processed,
            "failed": self.failed,
            "events": self.events,
        }


class Drainer:
    """Drains the queue: a batch whenever one is due, then the Slack follow-ups. Between batches
    it sleeps `poll_seconds`, or less when `wake()` is called (the endpoint of the same process
    stored something); after a full batch it goes on at once."""

    def __init__(
        self,
        rt: Runtime,
        slack: AsyncWebClient | None,
        *,
        batch: int = MAX_BATCH,
        poll_seconds: float = 0.2,
        local_templates: bool = False,
    ) -> None:
        self.rt = rt
        self.slack = slack  # where status changes redraw confirmations (None: not redrawn)
        self.batch = batch
        self.poll_seconds = poll_seconds
        # serve's own template cache is refreshed at once; every process's also sees the row mark.
        self.local_templates = local_templates
        self.parsed = ParsedBodies()
        self.totals = DrainTotals()
        self.instance_id = f"drain:{uuid.uuid4().hex[:8]}"
        self._wake = asyncio.Event()
        self._stopping = False
        self._passes = 0  # passes started
        self._settled_through = -1  # the last pass that left nothing due it could take
        self._settled = asyncio.Condition()

    def wake(self) -> None:
        """Look for due deliveries now (something was just stored)."""
        self._wake.set()

    def stop_soon(self) -> None:
        """Finish the batch in hand (and its follow-ups), then return from `run`."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Drain until `stop_soon`."""
        while not self._stopping:
            full = await self.drain_once()
            if not full and not self._stopping:
                await self._sleep(self.poll_seconds)

    async def drain_until_empty(self) -> DrainTotals:
        """Batches until none is full (nothing due is left that this drainer could take). A
        failure (the database unreachable) is raised."""
        while await self._pass() and not self._stopping:
            pass
        return self.totals

    async def drain_once(self) -> bool:
        """One batch and its follow-ups; True when it was full (more may be due). A failure is
        logged, then a pause: the deliveries stay stored for a later pass."""
        try:
            return await self._pass()
        except Exception as exc:
            log.error("draining webhook deliveries failed: %s", error_label(exc))
            if not self._stopping:
                await self._sleep(FAILED_PASS_PAUSE_SECONDS)
            return False

    async def _pass(self) -> bool:
        self._wake.clear()
        number = self._passes
        self._passes += 1
        try:
            drained = await asyncio.to_thread(drain_due, self.rt, self.batch, self.parsed)
        except Exception:
            await self._settle(number)  # `drained()` waiters are not kept waiting on an outage
            raise
        self.totals.add(drained)
        await self.follow_up(drained)
        full = drained.claimed >= self.batch
        if not full:
            await self._settle(number)
        return full

    async def drained(self) -> None:
        """Wait until a pass that started after this call found nothing more to take (tests,
        shutdown): everything stored before the call is processed or waiting for a retry."""
        target = self._passes
        self.wake()
        async with self._settled:
            await self._settled.wait_for(lambda: self._settled_through >= target)

    async def _settle(self, number: int) -> None:
        async with self._settled:
            self._settled_through = max(self._settled_through, number)
            self._settled.notify_all()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)

    async def follow_up(self, drained: Drained) -> None:
        """After the commit: the template cache of this process, the agents' confirmations, the
        conversation threads. Failures are logged, never raised: the deliveries are applied."""
        rt = self.rt
        changed: list[int] = []
        for channel_id, report in drained.reports:
            if report.templates_changed and self.local_templates:
                rt.templates.invalidate(channel_id)
            changed.extend(outbound_id for outbound_id, _ in report.status_changes)
        if self.slack is None:
            return
        if changed:
            from bot.core.confirmation import update_confirmations

            try:
                await update_confirmations(rt, self.slack, changed)
            except Exception:
                log.exception("confirmation redraws after webhook deliveries failed")
        await _conversation_step(rt, self.slack, drained.reports, self.instance_id)


async def _conversation_step(
    rt: Runtime, slack: AsyncWebClient, processed: Sequence[tuple[str, IngestReport]], instance_id: str
) -> None:
    """After ingestion: the conversation threads (bot.core.conversation). Reactions on the agent's
    thread messages whose send moved; customer replies are posted now when no burst is awaited
    (batch_seconds 0), else by the scheduler's job once their burst is due."""
    from bot.core import conversation

    changes = [change for _, report in processed for change in report.status_changes]
    try:
        if changes:
            await conversation.after_statuses(rt, slack, changes)
        if rt.config.conversation.batch_seconds == 0 and any(r.new_inbound for _, r in processed):
            await conversation.post_due(rt, slack, instance_id)
    except Exception:  # the scheduler's job posts what is left; statuses redraw again next time
        log.exception("conversation step after webhook failed")
