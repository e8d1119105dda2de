"""BSP webhooks in: `POST /webhooks/{channel_id}` (and Meta's GET handshake).

The endpoint answers fast and loses nothing: it authenticates (a failure, or an unknown channel id,
is 401 and touches nothing), checks size, content type, JSON and shape (413 / 415 / 400 / 422 with
the path of the problem), checks every event against what the store can keep (`bot.bsp.limits`:
an event that cannot be stored is dropped alone and named in the 200), stores the raw body
durably, and only then answers 200. Ingestion is `bot.core.delivery_queue`'s drain: in this
process (`serve --ingest in-process`, woken by each store) or in `contato-bot worker` processes
(`serve --ingest off`); deliveries still unprocessed after a crash are simply still due.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot import metrics
from bot.bsp import registry
from bot.bsp.base import WebhookEvent, WebhookShapeError
from bot.bsp.limits import screen_events
from bot.core.delivery_queue import (  # noqa: F401  (re-exported: replay, the sandbox, tests)
    MAX_ATTEMPTS,
    MAX_BATCH,
    RETRY_BACKOFF,
    Drainer,
    error_label,
    parse_body,
    process_deliveries,
    screen_body,
)
from bot.runtime import Runtime
from bot.store import deliveries

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024  # 1 MiB: Meta's batches are far smaller; anything bigger is refused


def _error(status: int, error: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"ok": False, "error": error, **extra}, status_code=status)


# The answer to nearly every webhook, encoded once (the bytes JSONResponse({"ok": True}) renders).
_ACCEPTED_BODY = b'{"ok":true}'


def _accepted() -> Response:
    return Response(_ACCEPTED_BODY, media_type="application/json")


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


# Deliveries stored in one transaction when they arrive together.
MAX_GROUP_COMMIT = 256
# While busy (the previous commit ended less than BUSY_GAP ago), the next commit waits this long
# for more deliveries to join it: during a flood POSTs reach the queue a few at a time right after
# each commit, and a transaction of one or two costs nearly what one of twenty does (~1/5 less
# storage CPU per POST). A delivery arriving after a quiet spell is committed at once.
GROUP_COMMIT_WINDOW = 0.001
BUSY_GAP = 0.01
# How long `stop` lets the drainer finish its batch before cancelling what is left of it (its
# follow-ups: the transaction itself is already committed or rolled back by then).
STOP_SECONDS = 10.0


# An accepted body waiting for the group commit: channel, raw body, its parsed events, and the
# future the endpoint awaits (resolved with the delivery id once committed).
_Incoming = tuple[str, bytes, list[WebhookEvent] | None, "asyncio.Future[int]"]


class WebhookProcessor:
    """The endpoint's side of the queue: stores accepted bodies (group commit) and, with
    `ingest`, runs this process's drainer (`bot.core.delivery_queue.Drainer`), woken by each store."""

    def __init__(
        self,
        rt: Runtime,
        slack: AsyncWebClient | None = None,
        *,
        ingest: bool = True,
        poll_seconds: float = 1.0,
    ) -> None:
        self.rt = rt
        self.slack = slack  # where delivery updates redraw the agents' confirmations (None: not redrawn)
        # Woken by every store, it polls only for what other processes stored and for retries.
        self.drainer = Drainer(rt, slack, poll_seconds=poll_seconds, local_templates=True) if ingest else None
        self._incoming: asyncio.Queue[_Incoming] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        # The group commit's own thread: a flood's inserts never queue in the default executor
        # ahead of the Slack handlers' database reads (`asyncio.to_thread`), nor take their threads.
        self._storage: ThreadPoolExecutor | None = None
        self._draining: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """Started (by the app's lifespan) and not stopped."""
        return self._writer is not None

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._storage = ThreadPoolExecutor(max_workers=1, thread_name_prefix="webhook-store")
        self._writer = loop.create_task(self._write())
        if self.drainer is not None:  # also drains what was stored but not processed before a crash
            self._draining = loop.create_task(self.drainer.run())

    async def stop(self) -> None:
        if self._draining is not None and self.drainer is not None:
            self.drainer.stop_soon()  # the batch in hand is finished, not abandoned half-way
            try:
                await asyncio.wait_for(self._draining, timeout=STOP_SECONDS)
            except Exception as exc:
                log.warning("webhook drainer stopped: %s", error_label(exc))
            self._draining = None
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
            self._writer = None
        if self._storage is not None:
            self._storage.shutdown(wait=False)  # a batch being inserted still finishes: its commit decides
            self._storage = None

    async def accept(self, channel_id: str, raw: bytes, events: list[WebhookEvent] | None = None) -> int:
        """Store a delivery durably (the caller answers 200 only after this returns) and wake the
        drainer.

        Bodies arriving together are committed together (group commit): one transaction for many
        POSTs instead of one each, and one writer instead of many racing for SQLite's lock.
        `events`, the endpoint's own parse of the body, spares this process's drainer a second
        parse; another process's drainer parses the stored body."""
        if self._writer is None:  # not started (an app served without its lifespan): store directly
            return await asyncio.to_thread(store_delivery, self.rt, channel_id, raw, self.rt.now())
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._incoming.put_nowait((channel_id, raw, events, future))
        return await future

    async def _write(self) -> None:
        loop = asyncio.get_running_loop()
        committed = float("-inf")  # when the previous commit ended (loop time)
        while True:
            batch = [await self._incoming.get()]
            if loop.time() - committed < BUSY_GAP:
                await asyncio.sleep(GROUP_COMMIT_WINDOW)
            while len(batch) < MAX_GROUP_COMMIT and not self._incoming.empty():
                batch.append(self._incoming.get_nowait())
            try:
                ids = await loop.run_in_executor(
                    self._storage,
                    store_deliveries,
                    self.rt,
                    [(channel, raw) for channel, raw, _, _ in batch],
                    self.rt.now(),
                )
            except Exception as exc:
                log.error("could not store %d webhook deliveries: %s", len(batch), error_label(exc))
                for *_, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            finally:
                committed = loop.time()
            for (_, _, events, future), delivery_id in zip(batch, ids, strict=True):
                if events is not None and self.drainer is not None:
                    self.drainer.parsed.remember(delivery_id, events)
                if not future.done():
                    future.set_result(delivery_id)
            if self.drainer is not None:
                self.drainer.wake()

    async def drained(self) -> None:
        """Wait until every delivery stored so far is processed or waits for a retry (tests,
        shutdown); at once when this process does not ingest."""
        if self.drainer is not None and self._draining is not None:
            await self.drainer.drained()


def store_deliveries(rt: Runtime, bodies: Sequence[tuple[str, bytes]], now: datetime) -> list[int]:
    """Insert accepted bodies in one transaction; their ids, in the order given.

    On PostgreSQL the insert is one statement, run in autocommit mode: its own transaction, committed
    (durably) before its ids come back, in one round trip to the server instead of three (BEGIN, the
    insert, COMMIT). SQLite takes its writer lock through the store's session."""
    if rt.store.dialect == "postgresql":
        with rt.store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            return deliveries.insert_deliveries(connection, bodies, now)
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

    # Looked up at every request (the config does not change while the app runs).
    channels = {channel.id: channel for channel in rt.config.channels}
    counters: dict[tuple[str, str, str], Any] = {}  # contato_webhooks_total's children, by labels

    async def receive(request: Request) -> Response:
        channel_id = request.path_params["channel_id"]
        known = channel_id in channels
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
        return _accepted()

    async def handshake(request: Request) -> Response:
        channel_id = request.path_params["channel_id"]
        if channel_id not in channels:
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
        channel = channels.get(channel_id)
        if channel is None:  # not a label per stray URL: unbounded label values hurt Prometheus
            channel_id = "unknown"
        result = "accepted"
        if response.status_code != 200:
            result = str(json.loads(bytes(response.body)).get("error", response.status_code))
        labels = (channel_id, channel.bsp if channel else "unknown", result)
        counter = counters.get(labels)
        if counter is None:  # labels() takes a lock and builds the key: once per label set, not per POST
            counter = counters[labels] = metrics.WEBHOOKS.labels(*labels)
        counter.inc()
        return response

    return [
        Route("/webhooks/{channel_id}", counted, methods=["POST"]),
        Route("/webhooks/{channel_id}", handshake, methods=["GET"]),
    ]
