"""BSP webhooks in: `POST /webhooks/{channel_id}` (and Meta's GET handshake).

The endpoint answers fast and loses nothing: it authenticates (a failure, or an unknown channel id,
is 401 and touches nothing), checks size, content type, JSON and shape (413 / 415 / 400 / 422 with
the path of the problem), checks every event against what the store can keep (`bot.bsp.limits`:
an event that cannot be stored is dropped alone and named in the 200), stores the raw body
durably, and only then answers 200. A single worker drains stored deliveries through
`bot.core.ingest`, the same code `webhook replay` and the sandbox use; deliveries still
unprocessed after a crash are picked up again at start. Ingestion is idempotent, so processing a
delivery twice changes nothing. A delivery that fails is applied event by event (siblings of a bad
event still land), retried with backoff, then parked for `webhook replay --delivery`.

Over 400 lines on purpose: the endpoint, the processor and the retry policy share the delivery's
life cycle (stored -> applied | retried -> parked); split, each half would need the other's rules.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot import metrics
from bot.bsp import registry
from bot.bsp.base import WebhookEvent, WebhookShapeError
from bot.bsp.limits import Screened, screen_events
from bot.core.conversation import claim_new_replies
from bot.core.ingest import IngestReport, ingest_events
from bot.runtime import Runtime
from bot.store import deliveries

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024  # 1 MiB: Meta's batches are far smaller; anything bigger is refused


def _error(status: int, error: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"ok": False, "error": error, **extra}, status_code=status)


async def read_capped(request: Request, limit: int = MAX_BODY_BYTES) -> bytes | None:
    """The raw body, or None when it is over `limit` (read no further than needed)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


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


# Deliveries stored in one transaction when they arrive together.
MAX_GROUP_COMMIT = 256
# Deliveries ingested together (one transaction per channel): under load, per-delivery overhead
# (thread hop, transaction, commit) is paid once per batch instead of once per POST.
MAX_BATCH = 16


# An accepted body waiting for the group commit: channel, raw body, its parsed events, and the
# future the endpoint awaits (resolved with the delivery id once committed).
_Incoming = tuple[str, bytes, list[WebhookEvent] | None, "asyncio.Future[int]"]


class WebhookProcessor:
    """Drains stored deliveries off the event loop, in order, batching whatever has queued up."""

    def __init__(self, rt: Runtime, slack: AsyncWebClient | None = None) -> None:
        self.rt = rt
        self.slack = slack  # where delivery updates redraw the agents' confirmations (None: not redrawn)
        self.queue: asyncio.Queue[int] = asyncio.Queue()
        self._incoming: asyncio.Queue[_Incoming] = asyncio.Queue()
        self._parsed: dict[int, list[WebhookEvent]] = {}  # delivery id -> events, until ingested
        self._tasks: list[asyncio.Task[None]] = []
        self._retries: list[asyncio.TimerHandle] = []

    @property
    def running(self) -> bool:
        """Started (by the app's lifespan) and not stopped."""
        return bool(self._tasks)

    def start(self) -> None:
        for delivery_id in self._unprocessed():
            self.submit(delivery_id)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._run()), loop.create_task(self._write())]

    async def stop(self) -> None:
        for handle in self._retries:
            handle.cancel()
        self._retries = []
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def accept(self, channel_id: str, raw: bytes, events: list[WebhookEvent] | None = None) -> int:
        """Store a delivery durably (the caller answers 200 only after this returns) and queue it.

        Bodies arriving together are committed together (group commit): one transaction for many
        POSTs instead of one each, and one writer instead of many racing for SQLite's lock.
        `events`, the endpoint's own parse of the body, spares the ingestion a second parse; after
        a restart the stored body is parsed again."""
        if not self._tasks:  # not started (an app served without its lifespan): store directly
            delivery_id = await asyncio.to_thread(store_delivery, self.rt, channel_id, raw, self.rt.now())
            self._remember(delivery_id, events)
            self.submit(delivery_id)
            return delivery_id
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._incoming.put_nowait((channel_id, raw, events, future))
        return await future

    async def _write(self) -> None:
        while True:
            batch = [await self._incoming.get()]
            while len(batch) < MAX_GROUP_COMMIT and not self._incoming.empty():
                batch.append(self._incoming.get_nowait())
            try:
                ids = await asyncio.to_thread(
                    store_deliveries, self.rt, [(channel, raw) for channel, raw, _, _ in batch], self.rt.now()
                )
            except Exception as exc:
                log.error("could not store %d webhook deliveries: %s", len(batch), error_label(exc))
                for *_, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, _, events, future), delivery_id in zip(batch, ids, strict=True):
                self._remember(delivery_id, events)
                self.submit(delivery_id)
                if not future.done():
                    future.set_result(delivery_id)

    def _remember(self, delivery_id: int, events: list[WebhookEvent] | None) -> None:
        if events is not None:
            self._parsed[delivery_id] = events

    def submit(self, delivery_id: int) -> None:
        self.queue.put_nowait(delivery_id)

    async def drained(self) -> None:
        """Wait until every submitted delivery is processed (tests, shutdown)."""
        await self.queue.join()

    def _unprocessed(self) -> list[int]:
        with self.rt.store.session() as session:
            return deliveries.unprocessed_ids(session)

    async def _run(self) -> None:
        while True:
            batch = [await self.queue.get()]
            while len(batch) < MAX_BATCH and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            try:
                await self.process(batch)
                await self._schedule_retries(batch)
            except Exception as exc:  # the database is down: they stay stored for the next start
                log.error("webhook deliveries %s failed: %s", batch, error_label(exc))
            finally:
                for _ in batch:
                    self.queue.task_done()

    async def _schedule_retries(self, batch: Sequence[int]) -> None:
        """Deliveries that failed and are not parked come back when their backoff is over."""

        def due() -> dict[int, datetime]:
            with self.rt.store.session() as session:
                return deliveries.retry_times(session, batch)

        loop = asyncio.get_running_loop()
        now = self.rt.now()
        for delivery_id, at in (await asyncio.to_thread(due)).items():
            delay = max(0.0, (at - now).total_seconds())
            self._retries.append(loop.call_later(delay, self.submit, delivery_id))

    async def process(self, delivery_ids: Sequence[int]) -> list[tuple[str, IngestReport]]:
        """Ingest the deliveries, then act on what changed: template cache, Slack confirmations."""
        rt = self.rt
        parsed = {i: self._parsed.pop(i) for i in delivery_ids if i in self._parsed}
        processed = await asyncio.to_thread(process_deliveries, rt, list(delivery_ids), parsed)
        changed: list[int] = []
        for channel_id, report in processed:
            if report.templates_changed:  # re-categorised or paused: no stale prices on screen
                rt.templates.invalidate(channel_id)
            changed.extend(outbound_id for outbound_id, _ in report.status_changes)
        if changed and self.slack is not None:
            from bot.core.confirmation import update_confirmations

            await update_confirmations(rt, self.slack, changed)
        if self.slack is not None:
            await _conversation_step(rt, self.slack, processed)
        return processed


async def _conversation_step(
    rt: Runtime, slack: AsyncWebClient, processed: Sequence[tuple[str, IngestReport]]
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
            await conversation.post_due(rt, slack, _INSTANCE_ID)
    except Exception:  # the scheduler's job posts what is left; statuses redraw again next time
        log.exception("conversation step after webhook failed")


_INSTANCE_ID = f"webhooks:{uuid.uuid4().hex[:8]}"


# A delivery that cannot be applied is tried again after 30 s, 1, 2, 4 min, then parked: visible
# to the operator, replayed with `webhook replay --delivery` once the cause is fixed, never retried
# at every start forever.
MAX_ATTEMPTS = 5
RETRY_BACKOFF = timedelta(seconds=30)


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


def process_deliveries(
    rt: Runtime,
    delivery_ids: Sequence[int],
    parsed: Mapping[int, list[WebhookEvent]] | None = None,
    *,
    parked: bool = False,
) -> list[tuple[str, IngestReport]]:
    """Ingest stored deliveries (in order, one transaction per run of the same channel) and mark
    them processed. Idempotent: a delivery processed twice changes nothing. A run that fails is
    retried one delivery at a time, and a delivery that fails one event at a time, so one bad
    event never holds back its siblings; a delivery with an event still failing is recorded for a
    bounded retry (`MAX_ATTEMPTS`). `parked` includes parked deliveries (`webhook replay`)."""
    with rt.store.session() as session:
        rows = deliveries.pending_deliveries(session, delivery_ids, parked=parked)
    runs: list[tuple[str, list[deliveries.Pending]]] = []
    for row in rows:
        if runs and runs[-1][0] == row.channel_id:
            runs[-1][1].append(row)
        else:
            runs.append((row.channel_id, [row]))
    results = []
    for channel_id, run in runs:
        try:
            results.append(_ingest_run(rt, channel_id, run, parsed or {}))
        except Exception as exc:
            if len(run) > 1:
                log.warning(
                    "webhook deliveries %s failed together (%s); applying them one by one",
                    [row.id for row in run],
                    error_label(exc),
                )
            for row in run:
                report = _ingest_alone(rt, row, parsed or {})
                if report is not None:
                    results.append((channel_id, report))
    return results


def _events_of(
    rt: Runtime, row: deliveries.Pending, parsed: Mapping[int, list[WebhookEvent]]
) -> list[WebhookEvent]:
    cached = parsed.get(row.id)
    return cached if cached is not None else parse_body(rt, row.channel_id, row.body, row.received_at)


def _ingest_run(
    rt: Runtime,
    channel_id: str,
    run: Sequence[deliveries.Pending],
    parsed: Mapping[int, list[WebhookEvent]],
) -> tuple[str, IngestReport]:
    now = rt.now()
    events = [event for row in run for event in _events_of(rt, row, parsed)]
    report = ingest_events(rt.store, channel_id, events, now)
    _after_ingest(rt, channel_id, report, len(events), now, [row.id for row in run])
    with rt.store.session() as session:
        deliveries.mark_processed(session, [row.id for row in run], now)
    return channel_id, report


def _ingest_alone(
    rt: Runtime, row: deliveries.Pending, parsed: Mapping[int, list[WebhookEvent]]
) -> IngestReport | None:
    """One delivery, then (if it fails) each of its events in its own transaction. The events that
    apply stay applied (ingestion is idempotent, so the retry re-applying them changes nothing)."""
    now = rt.now()
    try:
        events = _events_of(rt, row, parsed)
    except Exception as exc:
        _failed(rt, row.id, error_label(exc), now)
        return None
    try:
        report = ingest_events(rt.store, row.channel_id, events, now)
    except Exception as exc:
        report = IngestReport()
        failures = []
        for index, event in enumerate(events):
            try:
                _merge(report, ingest_events(rt.store, row.channel_id, [event], now))
            except Exception as event_exc:
                failures.append(f"event {index}: {error_label(event_exc)}")
        # What did apply is stored for good: count it and claim its replies now (a retry finds
        # those messages already stored, so it would never report them as new).
        _after_ingest(rt, row.channel_id, report, len(events) - len(failures), now, [row.id])
        if failures:
            _failed(rt, row.id, f"{error_label(exc)}; " + "; ".join(failures), now)
            return report
    else:
        _after_ingest(rt, row.channel_id, report, len(events), now, [row.id])
    with rt.store.session() as session:
        deliveries.mark_processed(session, [row.id], now)
    return report


def _after_ingest(
    rt: Runtime, channel_id: str, report: IngestReport, applied: int, now: datetime, ids: Sequence[int]
) -> None:
    """What follows each successful ingestion: the events counted, the customer's new messages
    claimed for the conversation threads (bot.core.conversation)."""
    metrics.INGESTED_EVENTS.labels(channel_id).inc(applied)
    try:
        claim_new_replies(rt, channel_id, report.new_inbound, now)
    except Exception as exc:  # the facts are stored; only the thread post is missed, never the delivery
        log.error("conversation claims for deliveries %s failed: %s", list(ids), error_label(exc))


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


def _failed(rt: Runtime, delivery_id: int, error: str, now: datetime) -> None:
    with rt.store.session() as session:
        retry_at = deliveries.record_failure(
            session, delivery_id, error, now, max_attempts=MAX_ATTEMPTS, backoff=RETRY_BACKOFF
        )
    if retry_at is None:
        log.error("webhook delivery %s parked after %d attempts: %s", delivery_id, MAX_ATTEMPTS, error)
    else:
        log.error("webhook delivery %s failed: %s; retried at %s", delivery_id, error, retry_at.isoformat())


def store_deliveries(rt: Runtime, bodies: Sequence[tuple[str, bytes]], now: datetime) -> list[int]:
    """Insert accepted bodies in one transaction; their ids, in the order given."""
    with rt.store.session() as session:
        return deliveries.insert_deliveries(session, bodies, now)


def store_delivery(rt: Runtime, channel_id: str, raw: bytes, now: datetime) -> int:
    """Insert one accepted body; its id."""
    with rt.store.session() as session:
        return deliveries.insert_delivery(session, channel_id, raw, now)


def webhook_routes(rt: Runtime, processor: WebhookProcessor | None = None) -> list[Route]:
    """The webhook endpoint, one URL per configured channel id. Accepted bodies go to `processor`
    while it runs; otherwise (no processor, or an app served without its lifespan) they are only
    stored, for the next start to process."""

    async def receive(request: Request) -> Response:
        channel_id = request.path_params["channel_id"]
        known = rt.config.channel(channel_id) is not None
        try:
            raw = await read_capped(request)
        except ClientDisconnect:
            return _error(400, "incomplete_body")
        if raw is None:
            return _error(413, "body_too_large", limit_bytes=MAX_BODY_BYTES)
        if not known:
            # The same answer as a bad secret: a scanner learns nothing about which ids exist.
            return _error(401, "unauthenticated")
        try:
            provider = rt.provider(channel_id)
        except Exception as exc:
            log.error("channel %s: provider unavailable: %s", channel_id, error_label(exc))
            return _error(503, "channel_unavailable")
        try:
            authentic = provider.authenticate_webhook(request.headers, raw)
        except Exception as exc:  # odd header bytes must never become a 500 before authentication
            log.warning("webhook for %s refused: authentication failed (%s)", channel_id, type(exc).__name__)
            return _error(401, "unauthenticated")
        if not authentic:
            log.warning("webhook for %s refused: authentication failed", channel_id)
            return _error(401, "unauthenticated")
        # Checked after authentication (no oracle); a request that declares none is still read.
        expected = registry.content_types(provider.name)
        given = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if given and given not in expected:
            return _error(415, "unsupported_media_type", expected=list(expected))
        received_at = rt.now()
        try:
            screened = screen_events(
                provider.parse_webhook(registry.decode_body(provider.name, raw)), received_at
            )
        except (ValueError, RecursionError) as exc:
            if isinstance(exc, WebhookShapeError):
                return _error(422, "unexpected_shape", path=exc.path, problem=exc.problem)
            return _error(400, "not_json")
        except Exception as exc:  # a parser bug must not become a 500 loop of BSP retries
            log.error("webhook for %s: parser failed: %s", channel_id, error_label(exc))
            return _error(422, "unexpected_shape", problem=type(exc).__name__)
        try:
            if processor is not None and processor.running:
                await processor.accept(channel_id, raw, screened.events)
            else:
                await asyncio.to_thread(store_delivery, rt, channel_id, raw, received_at)
        except Exception as exc:
            # Not stored, so not acknowledged: the BSP retries it later. Nothing is lost.
            log.error("webhook for %s could not be stored: %s", channel_id, error_label(exc))
            return _error(503, "storage_unavailable")
        if screened.clamped:
            metrics.SCREENED_EVENTS.labels(channel_id, "clamped").inc(screened.clamped)
        if screened.dropped:
            metrics.SCREENED_EVENTS.labels(channel_id, "dropped").inc(len(screened.dropped))
            # Acknowledged (a refusal would only bring the same body back, again and again), with
            # the events left out named so the BSP's logs and ours say the same.
            return JSONResponse({"ok": True, "dropped": [d.to_dict() for d in screened.dropped]})
        return JSONResponse({"ok": True})

    async def handshake(request: Request) -> Response:
        channel_id = request.path_params["channel_id"]
        if rt.config.channel(channel_id) is None:
            return _error(403, "verification_failed")  # as a wrong token: no channel-id oracle
        verifier = registry.handshake(rt.provider(channel_id))
        challenge = verifier.verify_handshake(dict(request.query_params)) if verifier is not None else None
        if challenge is None:
            return _error(403, "verification_failed")
        return PlainTextResponse(challenge)

    async def counted(request: Request) -> Response:
        """`receive`, counted: contato_webhooks_total{channel, provider, result}."""
        response = await receive(request)
        channel_id = request.path_params["channel_id"]
        channel = rt.config.channel(channel_id)
        if channel is None:  # not a label per stray URL: unbounded label values hurt Prometheus
            channel_id = "unknown"
        result = "accepted"
        if response.status_code != 200:
            result = str(json.loads(bytes(response.body)).get("error", response.status_code))
        metrics.WEBHOOKS.labels(channel_id, channel.bsp if channel else "unknown", result).inc()
        return response

    return [
        Route("/webhooks/{channel_id}", counted, methods=["POST"]),
        Route("/webhooks/{channel_id}", handshake, methods=["GET"]),
    ]
