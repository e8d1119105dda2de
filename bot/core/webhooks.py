"""BSP webhooks in: `POST /webhooks/{channel_id}` (and Meta's GET handshake).

The endpoint answers fast and loses nothing: it authenticates (a failure touches nothing), checks
size, JSON and shape (413 / 400 / 422 with the path of the problem), stores the raw body durably,
and only then answers 200. A single worker drains stored deliveries through `bot.core.ingest`, the same
code `webhook replay` and the sandbox use; deliveries still unprocessed after a crash are picked up
again at start. Ingestion is idempotent, so processing a delivery twice changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot import metrics
from bot.bsp import registry
from bot.bsp.base import WebhookEvent, WebhookShapeError
from bot.core.conversation import claim_new_replies
from bot.core.ingest import IngestReport, ingest_events
from bot.runtime import Runtime
from bot.store import deliveries

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024  # 1 MiB: Meta's batches are far smaller; anything bigger is refused


def _error(status: int, error: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"ok": False, "error": error, **extra}, status_code=status)


async def _read_capped(request: Request) -> bytes | None:
    """The raw body, or None when it is over the cap (read no further than needed)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def parse_body(rt: Runtime, channel_id: str, raw: bytes) -> list[WebhookEvent]:
    """Raw body -> the provider's normalised events. Raises ValueError (not JSON) or WebhookShapeError."""
    provider = rt.provider(channel_id)
    return provider.parse_webhook(registry.decode_body(provider.name, raw))


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
                log.error("could not store %d webhook deliveries: %s", len(batch), type(exc).__name__)
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
            except Exception:
                log.exception("webhook deliveries %s failed; they stay stored for the next start", batch)
            finally:
                for _ in batch:
                    self.queue.task_done()

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


def process_deliveries(
    rt: Runtime, delivery_ids: Sequence[int], parsed: Mapping[int, list[WebhookEvent]] | None = None
) -> list[tuple[str, IngestReport]]:
    """Ingest stored deliveries (in order, one transaction per run of the same channel) and mark
    them processed. Idempotent: a delivery processed twice changes nothing. A batch that fails is
    retried one delivery at a time, so one bad delivery never holds back the others."""
    with rt.store.session() as session:
        rows = deliveries.unprocessed_bodies(session, delivery_ids)
    runs: list[tuple[str, list[tuple[int, bytes]]]] = []
    for delivery_id, channel_id, body in rows:
        if runs and runs[-1][0] == channel_id:
            runs[-1][1].append((delivery_id, body))
        else:
            runs.append((channel_id, [(delivery_id, body)]))
    results = []
    for channel_id, run in runs:
        try:
            results.append(_ingest_run(rt, channel_id, run, parsed or {}))
        except Exception:
            if len(run) == 1:
                raise
            for delivery in run:
                try:
                    results.append(_ingest_run(rt, channel_id, [delivery], parsed or {}))
                except Exception:
                    log.exception(
                        "webhook delivery %s failed; it stays stored for the next start", delivery[0]
                    )
    return results


def _ingest_run(
    rt: Runtime,
    channel_id: str,
    run: Sequence[tuple[int, bytes]],
    parsed: Mapping[int, list[WebhookEvent]],
) -> tuple[str, IngestReport]:
    now = rt.now()
    ids = [delivery_id for delivery_id, _ in run]
    try:
        events = [
            event
            for delivery_id, raw in run
            for event in (parsed.get(delivery_id) or parse_body(rt, channel_id, raw))
        ]
        report = ingest_events(rt.store, channel_id, events, now)
        metrics.INGESTED_EVENTS.labels(channel_id).inc(len(events))
    except Exception as exc:
        if len(ids) == 1:
            with rt.store.session() as session:
                deliveries.mark_error(session, ids[0], f"{type(exc).__name__}: {exc}")
        raise
    try:
        claim_new_replies(rt, channel_id, report.new_inbound, now)
    except Exception:  # the facts are stored; only the thread post is missed, never the delivery
        log.exception("conversation claims for deliveries %s failed", ids)
    with rt.store.session() as session:
        deliveries.mark_processed(session, ids, now)
    return channel_id, report


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
        if rt.config.channel(channel_id) is None:
            return _error(404, "unknown_channel")
        try:
            raw = await _read_capped(request)
        except ClientDisconnect:
            return _error(400, "incomplete_body")
        if raw is None:
            return _error(413, "body_too_large", limit_bytes=MAX_BODY_BYTES)
        try:
            provider = rt.provider(channel_id)
        except Exception:
            log.exception("channel %s: provider unavailable", channel_id)
            return _error(503, "channel_unavailable")
        if not provider.authenticate_webhook(request.headers, raw):
            log.warning("webhook for %s refused: authentication failed", channel_id)
            return _error(401, "unauthenticated")
        try:
            events = provider.parse_webhook(registry.decode_body(provider.name, raw))
        except (ValueError, RecursionError) as exc:
            if isinstance(exc, WebhookShapeError):
                return _error(422, "unexpected_shape", path=exc.path, problem=exc.problem)
            return _error(400, "not_json")
        except Exception as exc:  # a parser bug must not become a 500 loop of BSP retries
            log.exception("webhook for %s: parser failed", channel_id)
            return _error(422, "unexpected_shape", problem=type(exc).__name__)
        try:
            if processor is not None and processor.running:
                await processor.accept(channel_id, raw, events)
            else:
                await asyncio.to_thread(store_delivery, rt, channel_id, raw, rt.now())
        except Exception:
            # Not stored, so not acknowledged: the BSP retries it later. Nothing is lost.
            log.exception("webhook for %s could not be stored", channel_id)
            return _error(503, "storage_unavailable")
        return JSONResponse({"ok": True})

    async def handshake(request: Request) -> Response:
        channel_id = request.path_params["channel_id"]
        if rt.config.channel(channel_id) is None:
            return _error(404, "unknown_channel")
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
