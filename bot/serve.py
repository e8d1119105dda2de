"""`contato-bot serve`: HTTP mode, or Socket Mode with the webhooks still over HTTP."""

from __future__ import annotations

import asyncio
import logging
import os
import sys

import uvicorn

from bot import logs
from bot.config import Settings

log = logging.getLogger(__name__)


def missing_slack_settings(settings: Settings, *, socket_mode: bool) -> list[str]:
    """The environment variables `serve` needs and does not have."""
    needed = (
        ["SLACK_BOT_TOKEN", "SLACK_APP_TOKEN"] if socket_mode else ["SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"]
    )
    values = {
        "SLACK_BOT_TOKEN": settings.slack_bot_token,
        "SLACK_SIGNING_SECRET": settings.slack_signing_secret,
        "SLACK_APP_TOKEN": settings.slack_app_token,
    }
    return [name for name in needed if not values[name] or not values[name].get_secret_value()]  # type: ignore[union-attr]


# uvicorn picks uvloop and httptools (uvicorn[standard]). No access log line per request: at
# thousands of webhook POSTs a second it costs more CPU than the request itself, and the app logs
# what matters (refusals, failures) on its own. No logging configuration of uvicorn's own either
# (log_config=None, log_level=None): its loggers propagate to the handler `bot.logs` set up, so
# they follow LOG_LEVEL and LOG_FORMAT and go through the same phone and secret redaction.


def run_serve(
    config_path: str,
    *,
    host: str,
    port: int,
    socket_mode: bool,
    metrics: tuple[str, int] | None = None,
    ingest: bool = True,
) -> int:
    settings = Settings()
    missing = missing_slack_settings(settings, socket_mode=socket_mode)
    if missing:
        mode = "Socket Mode" if socket_mode else "HTTP mode"
        print(
            f"contato-bot serve: missing {' and '.join(missing)} in the environment "
            f"(needed for {mode}; see README, 'Create the Slack app').",
            file=sys.stderr,
        )
        return 1
    from bot.app import build_asgi_app, build_bolt_app
    from bot.runtime import build_runtime, freeze_startup_objects

    rt = build_runtime(config_path, settings=settings)
    logs.add_secrets(logs.config_secrets(rt.config, os.environ))  # the BSP keys the config names
    bolt = build_bolt_app(rt, socket_mode=socket_mode)
    if metrics is not None:
        from bot.metrics import start_metrics_port

        start_metrics_port(rt, *metrics)
    if not ingest:
        log.info("webhooks are only stored here: `contato-bot worker` processes ingest them")
    if not socket_mode:
        log.info("serving Slack at http://%s:%s/slack/events", host, port)
        app = build_asgi_app(rt, bolt, ingest=ingest)
        freeze_startup_objects()
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_config=None,
            log_level=None,
            access_log=False,
        )
        return 0
    freeze_startup_objects()
    return asyncio.run(_serve_socket_mode(rt, bolt, host, port, ingest))


async def _serve_socket_mode(rt, bolt, host: str, port: int, ingest: bool) -> int:  # type: ignore[no-untyped-def]
    from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

    from bot.app import build_asgi_app

    # Slack arrives over the WebSocket; webhooks and /healthz are still served over HTTP.
    # Delivery updates and alerts still go out through the Web API.
    asgi = build_asgi_app(rt, None, slack=bolt.client, ingest=ingest)
    server = uvicorn.Server(
        uvicorn.Config(asgi, host=host, port=port, log_config=None, log_level=None, access_log=False)
    )
    handler = AsyncSocketModeHandler(bolt, rt.settings.slack_app_token.get_secret_value())
    await handler.connect_async()
    try:
        await server.serve()  # its lifespan runs the webhook processor and the alert scheduler
    finally:
        await handler.close_async()
    return 0
