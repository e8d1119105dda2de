"""The one ASGI app: Slack (Bolt AsyncApp) at /slack/events, BSP webhooks, /healthz, scheduler.

Only this module imports `bot.handlers`; everything else gets the `Runtime`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot import handlers
from bot.core.webhooks import WebhookProcessor, webhook_routes
from bot.runtime import Runtime

log = logging.getLogger(__name__)

SLACK_EVENTS_PATH = "/slack/events"


def build_slack_client(rt: Runtime) -> AsyncWebClient:
    """The Web API client: SLACK_API_URL honoured (GovSlack, tests); 429s and network errors retried."""
    token = rt.settings.slack_bot_token.get_secret_value() if rt.settings.slack_bot_token else None
    kwargs = {}
    if rt.settings.slack_api_url:
        base = rt.settings.slack_api_url
        kwargs["base_url"] = base if base.endswith("/") else base + "/"
    client = AsyncWebClient(token=token, **kwargs)  # type: ignore[arg-type]
    client.retry_handlers.extend(
        [
            AsyncRateLimitErrorRetryHandler(max_retry_count=2),
            AsyncConnectionErrorRetryHandler(max_retry_count=1),
        ]
    )
    return client


def build_bolt_app(rt: Runtime, *, socket_mode: bool = False) -> AsyncApp:
    """Bolt AsyncApp with every listener registered."""
    signing_secret = (
        rt.settings.slack_signing_secret.get_secret_value() if rt.settings.slack_signing_secret else None
    )
    app = AsyncApp(
        client=build_slack_client(rt),
        signing_secret=signing_secret or ("socket-mode" if socket_mode else None),
        request_verification_enabled=not socket_mode,
        # Bolt acks then keeps the listener running; our listeners ack first themselves.
        process_before_response=False,
    )
    handlers.register(app, rt)
    return app


def build_asgi_app(
    rt: Runtime,
    bolt: AsyncApp | None = None,
    *,
    slack: AsyncWebClient | None = None,
    webhooks: WebhookProcessor | None = None,
    with_scheduler: bool = True,
) -> Starlette:
    """Slack endpoints (unless Socket Mode passes bolt=None), webhooks, health, scheduler.

    `slack` is the Web API client delivery updates and alerts go out through (default: bolt's);
    `webhooks` a processor the caller runs itself (default: one this app's lifespan runs)."""
    routes: list[Route] = [Route("/healthz", _healthz(rt), methods=["GET"])]
    if bolt is not None:
        slack_handler = AsyncSlackRequestHandler(bolt)

        async def slack_events(request: Request) -> Response:
            return await slack_handler.handle(request)

        routes.append(Route(SLACK_EVENTS_PATH, slack_events, methods=["POST"]))
    if slack is None and bolt is not None:
        slack = bolt.client
    owns_processor = webhooks is None
    processor = webhooks if webhooks is not None else WebhookProcessor(rt, slack)
    routes.extend(webhook_routes(rt, processor))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if owns_processor:
            processor.start()  # also picks up deliveries stored but not processed before a crash
        warmups = [asyncio.get_running_loop().create_task(warm()) for warm in rt.warmups]
        scheduler = None
        if with_scheduler and slack is not None:
            from bot.core.alerts import start_scheduler

            scheduler = start_scheduler(rt, slack)
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

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.runtime = rt
    app.state.bolt = bolt
    return app


def _healthz(rt: Runtime) -> Callable[[Request], Awaitable[Response]]:
    async def healthz(request: Request) -> Response:
        try:
            await asyncio.to_thread(rt.store.ping)
        except Exception as exc:
            log.error("health check: database unavailable: %s", type(exc).__name__)
            return JSONResponse({"ok": False, "database": "unavailable"}, status_code=503)
        return JSONResponse({"ok": True})

    return healthz
