"""The one ASGI app: Slack (Bolt AsyncApp) at /slack/events, BSP webhooks, /healthz, scheduler.

Only this module imports `bot.handlers`; everything else gets the `Runtime`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable

from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from bot import handlers, metrics
from bot.core.webhooks import WebhookProcessor, read_capped, webhook_routes
from bot.logs import log_context
from bot.runtime import Runtime
from bot.slack_client import build_slack_client, configure_slack_client  # noqa: F401  (re-exported)
from bot.slack_edge import MAX_SLACK_BODY_BYTES, ReplayCache, check_request

log = logging.getLogger(__name__)

SLACK_EVENTS_PATH = "/slack/events"


def build_bolt_app(rt: Runtime, *, socket_mode: bool = False) -> AsyncApp:
    """Bolt AsyncApp with every listener registered.

    Bolt gets the bot token and builds its Web API client itself, which is then configured like
    `build_slack_client`'s. Handing Bolt a ready client instead made it warn at every start that
    "`token` will be unused": without a `token` argument Bolt reads SLACK_BOT_TOKEN from the
    environment on its own, then finds the client too."""
    token = rt.settings.slack_bot_token.get_secret_value() if rt.settings.slack_bot_token else None
    signing_secret = (
        rt.settings.slack_signing_secret.get_secret_value() if rt.settings.slack_signing_secret else None
    )
    app = AsyncApp(
        token=token,
        signing_secret=signing_secret or ("socket-mode" if socket_mode else None),
        request_verification_enabled=not socket_mode,
        # Bolt acks then keeps the listener running; our listeners ack first themselves.
        process_before_response=False,
        # Bolt copies the root level into its loggers when built (LOG_LEVEL=DEBUG included), and
        # at DEBUG/INFO they print request and response bodies (customers' phones, a refused
        # request's whole body). Its own logger, never below WARNING, is copied instead.
        logger=bolt_logger(),
    )
    configure_slack_client(app.client, rt)
    app.use(_slack_log_context)
    handlers.register(app, rt)
    return app


def bolt_logger() -> logging.Logger:
    """The logger Bolt (and the Web API client it builds) logs through: WARNING and above only."""
    logger = logging.getLogger("slack_bolt")
    logger.setLevel(max(logger.level, logging.WARNING))
    return logger


async def _slack_log_context(
    context: AsyncBoltContext, next: Callable[[], Awaitable[BoltResponse]]
) -> BoltResponse:
    """Every log line of a Slack request names the Slack user (the listeners run inside), and
    the request's Web API client is counted: Bolt builds one per request from its own, so the
    instrumentation of `app.client` alone would miss the listeners' calls."""
    if context.client is not None:
        metrics.instrument_slack_client(context.client)
    with log_context(slack_user=context.user_id):
        return await next()


def build_asgi_app(
    rt: Runtime,
    bolt: AsyncApp | None = None,
    *,
    slack: AsyncWebClient | None = None,
    webhooks: WebhookProcessor | None = None,
    with_scheduler: bool = True,
    ingest: bool = True,
) -> Starlette:
    """Slack endpoints (unless Socket Mode passes bolt=None), webhooks, health, scheduler.

    `slack` is the Web API client delivery updates and alerts go out through (default: bolt's);
    `webhooks` a processor the caller runs itself (default: one this app's lifespan runs);
    `ingest` False: webhooks are only stored, `contato-bot worker` processes ingest them."""
    routes: list[Route] = [Route("/healthz", _healthz(rt), methods=["GET"])]
    if rt.settings.metrics_token is not None:  # else only on `serve --metrics-port`
        token = rt.settings.metrics_token.get_secret_value()
        routes.append(Route("/metrics", metrics.endpoint(rt.store, rt.now, token), methods=["GET"]))
    if bolt is not None:
        slack_handler = AsyncSlackRequestHandler(bolt)
        secret = rt.settings.slack_signing_secret
        replays = ReplayCache()

        async def slack_events(request: Request) -> Response:
            try:
                body = await read_capped(request, MAX_SLACK_BODY_BYTES)
            except ClientDisconnect:
                return JSONResponse({"ok": False, "error": "incomplete_body"}, status_code=400)
            if body is None:
                return JSONResponse({"ok": False, "error": "body_too_large"}, status_code=413)
            if secret is not None:
                refusal = check_request(request.headers, body, secret.get_secret_value(), replays)
                if refusal is not None:
                    return JSONResponse({"ok": False, "error": refusal.error}, status_code=refusal.status)
            return await slack_handler.handle(_with_body(request, body))

        routes.append(Route(SLACK_EVENTS_PATH, slack_events, methods=["POST"]))
    if slack is None and bolt is not None:
        slack = bolt.client
    owns_processor = webhooks is None
    processor = webhooks if webhooks is not None else WebhookProcessor(rt, slack, ingest=ingest)
    webhook_endpoints = webhook_routes(rt, processor)
    routes.extend(webhook_endpoints)
    receive_webhook = next(route.endpoint for route in webhook_endpoints if "POST" in (route.methods or ()))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if owns_processor:
            processor.start()  # its drainer also takes what was stored but not processed before a crash
        warmups = [asyncio.get_running_loop().create_task(warm()) for warm in rt.warmups]
        scheduler = None
        if with_scheduler and slack is not None:
            from bot.core.alerts import start_scheduler

            scheduler = start_scheduler(rt, slack)
            from bot.core.conversation import schedule_posts

            schedule_posts(scheduler, rt, slack)  # customer replies into the confirmation's thread
        if with_scheduler:  # retention (config `retention`): at start, then daily
            from bot.core.retention import prune_daily

            warmups.append(asyncio.get_running_loop().create_task(prune_daily(rt)))
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.shutdown(wait=False)
            for task in warmups:
                task.cancel()
            if owns_processor:
                await processor.stop()
            await rt.aclose()

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[
            Middleware(LogContextMiddleware, rt=rt),
            Middleware(WebhookFastPath, endpoint=receive_webhook),
        ],
    )
    app.state.runtime = rt
    app.state.bolt = bolt
    return app


def _with_body(request: Request, body: bytes) -> Request:
    """The request again, its (already read) body served from memory to Bolt."""
    sent = False

    async def receive() -> dict[str, object]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(request.scope, receive)


WEBHOOK_PREFIX = "/webhooks/"


class RequestIds:
    """Request ids for requests that bring none: a random prefix per process and a counter, 16 hex
    digits like before. A uuid4 per request read the OS's random source for every webhook POST."""

    def __init__(self) -> None:
        self._prefix = os.urandom(4).hex()
        self._counter = itertools.count()

    def next(self) -> str:
        return f"{self._prefix}{next(self._counter) & 0xFFFFFFFF:08x}"


class LogContextMiddleware:
    """Every log line of an HTTP request carries its request id (the caller's X-Request-ID, e.g.
    from a reverse proxy, or a new one) and, for a webhook, the channel and its provider."""

    def __init__(self, app: ASGIApp, rt: Runtime) -> None:
        self.app = app
        self.rt = rt
        self.ids = RequestIds()
        self.providers = {channel.id: channel.bsp for channel in rt.config.channels}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = (
            next(
                (value.decode("latin-1")[:64] for key, value in scope["headers"] if key == b"x-request-id"),
                None,
            )
            or self.ids.next()
        )
        channel_id = provider = None
        path: str = scope.get("path", "")
        if path.startswith(WEBHOOK_PREFIX):
            channel_id = path[len(WEBHOOK_PREFIX) :].split("/", 1)[0][:64] or None
            provider = self.providers.get(channel_id) if channel_id else None
        with log_context(request_id=request_id, channel=channel_id, provider=provider):
            await self.app(scope, receive, send)


class WebhookFastPath:
    """`POST /webhooks/{channel_id}` straight to its endpoint, past Starlette's exception
    middleware and router: the same endpoint, request and response, without the layers a webhook
    never uses (no HTTPException, one route), which cost about a tenth of the CPU of a POST during a
    flood. Anything else, or a path the router would read differently (a root path), goes on to the
    router as before. Still inside the log context and Starlette's error middleware (a 500)."""

    def __init__(self, app: ASGIApp, endpoint: Callable[[Request], Awaitable[Response]]) -> None:
        self.app = app
        self.endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            path: str = scope["path"]
            channel_id = path[len(WEBHOOK_PREFIX) :] if path.startswith(WEBHOOK_PREFIX) else ""
            if channel_id and "/" not in channel_id:  # what the route's {channel_id} matches
                scope["path_params"] = {"channel_id": channel_id}
                response = await self.endpoint(Request(scope, receive, send))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _healthz(rt: Runtime) -> Callable[[Request], Awaitable[Response]]:
    async def healthz(request: Request) -> Response:
        try:
            await asyncio.to_thread(rt.store.ping)
        except Exception as exc:
            log.error("health check: database unavailable: %s", type(exc).__name__)
            return JSONResponse({"ok": False, "database": "unavailable"}, status_code=503)
        return JSONResponse({"ok": True})

    return healthz
