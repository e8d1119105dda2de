"""Prometheus metrics: what an operator graphs and alerts on (`GET /metrics`, docs/operations.md).

Per instance: every process keeps its own counters in `REGISTRY` and Prometheus scrapes each
instance (sum them in queries). The gauges that describe the shared database (deliveries
waiting, the oldest one's age, alerts pending) are read from the store at scrape time, so every
instance reports the same value for them: use `max()`, not `sum()`, across instances.

The counters are bumped at the one place each thing happens: the webhook endpoint, ingestion,
`bot.core.sending` / `bot.core.template_cache` (the only callers of a provider's API), the Slack
Web API client (`instrument_slack_client`), the alert digest, and `/contato`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

if TYPE_CHECKING:
    import uvicorn
    from slack_sdk.web.async_client import AsyncWebClient
    from starlette.requests import Request
    from starlette.responses import Response

    from bot.runtime import Runtime
    from bot.store.db import Store

log = logging.getLogger(__name__)

REGISTRY = CollectorRegistry(auto_describe=True)

WEBHOOKS = Counter(
    "contato_webhooks_total",
    "Webhook requests by channel, provider and result (accepted, or the refusal's reason).",
    ["channel", "provider", "result"],
    registry=REGISTRY,
)
SCREENED_EVENTS = Counter(
    "contato_webhook_events_screened_total",
    "Webhook events left out (dropped: a value the store cannot keep) or whose time from the future "
    "was clamped to the receipt time, by channel.",
    ["channel", "action"],
    registry=REGISTRY,
)
INGESTED_EVENTS = Counter(
    "contato_ingested_events_total",
    "Webhook events ingested (messages, statuses, template changes...), by channel.",
    ["channel"],
    registry=REGISTRY,
)
DELIVERIES_WAITING = Gauge(
    "contato_webhook_deliveries_waiting",
    "Webhook deliveries stored and not ingested yet (read from the database at scrape time).",
    registry=REGISTRY,
)
OLDEST_DELIVERY_AGE = Gauge(
    "contato_webhook_oldest_waiting_seconds",
    "Age of the oldest delivery not ingested yet, 0 when none waits (database, scrape time).",
    registry=REGISTRY,
)
DELIVERIES_FAILED = Gauge(
    "contato_webhook_deliveries_failed",
    "Deliveries whose ingestion recorded an error and are not processed (database, scrape time).",
    registry=REGISTRY,
)
BSP_CALLS = Counter(
    "contato_bsp_calls_total",
    "Calls to a BSP's API by provider, operation and outcome (ok or the error code).",
    ["provider", "operation", "outcome"],
    registry=REGISTRY,
)
BSP_LATENCY = Histogram(
    "contato_bsp_call_seconds",
    "Latency of BSP API calls (retries included) by provider and operation.",
    ["provider", "operation"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 40),
    registry=REGISTRY,
)
SLACK_CALLS = Counter(
    "contato_slack_calls_total",
    "Slack Web API calls by method and error (ok when it succeeded).",
    ["method", "error"],
    registry=REGISTRY,
)
ALERTS = Counter(
    "contato_alerts_total",
    "Expiry alerts by what happened: claimed, posted, failed (retried later), superseded, "
    "expired (window closed before it could be posted), given_up.",
    ["outcome"],
    registry=REGISTRY,
)
ALERTS_PENDING = Gauge(
    "contato_alerts_pending",
    "Alert claims not posted nor dropped yet (database, scrape time).",
    registry=REGISTRY,
)
CONTATO_LATENCY = Histogram(
    "contato_command_to_view_seconds",
    "From /contato reaching the app to Slack answering views.open.",
    buckets=(0.1, 0.25, 0.5, 1, 1.5, 2, 2.5, 3, 5),
    registry=REGISTRY,
)

for outcome in ("claimed", "posted", "failed", "superseded", "expired", "given_up"):
    ALERTS.labels(outcome)  # every outcome shows from the start, at 0


@contextmanager
def bsp_call(provider: str, operation: str) -> Iterator[None]:
    """Count and time one call to a provider's API; the outcome is the BspError's code."""
    started = time.perf_counter()
    outcome = "ok"
    try:
        yield
    except Exception as exc:
        outcome = str(getattr(exc, "code", None) or type(exc).__name__)
        raise
    finally:
        BSP_LATENCY.labels(provider, operation).observe(time.perf_counter() - started)
        BSP_CALLS.labels(provider, operation, outcome).inc()


def instrument_slack_client(client: AsyncWebClient) -> AsyncWebClient:
    """Count every Web API call of `client` by method and error. Every method of the SDK's
    client goes through `api_call`, so wrapping that one (on this instance) sees them all,
    including those Bolt makes for the listeners."""
    if getattr(client, "_contato_metrics", False):
        return client
    original: Callable[..., Awaitable[Any]] = client.api_call

    async def api_call(api_method: str, *args: Any, **kwargs: Any) -> Any:
        error = "ok"
        try:
            return await original(api_method, *args, **kwargs)
        except Exception as exc:
            response = getattr(exc, "response", None)
            found = response.get("error") if response is not None and hasattr(response, "get") else None
            error = str(found or type(exc).__name__)
            raise
        finally:
            SLACK_CALLS.labels(api_method, error).inc()

    client.api_call = api_call  # type: ignore[method-assign]
    client._contato_metrics = True  # type: ignore[attr-defined]
    return client


def render(store: Store, now: datetime) -> tuple[bytes, str]:
    """The exposition text (and its content type), the database gauges read now."""
    from bot.store import alert_claims, deliveries

    with store.read_session() as session:
        waiting, oldest, failed = deliveries.backlog(session)
        pending = alert_claims.pending_count(session)
    DELIVERIES_WAITING.set(waiting)
    OLDEST_DELIVERY_AGE.set(max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0)
    DELIVERIES_FAILED.set(failed)
    ALERTS_PENDING.set(pending)
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def endpoint(
    store: Store, clock: Callable[[], datetime], token: str | None
) -> Callable[[Request], Awaitable[Response]]:
    """`GET /metrics`. With `token`, only for `Authorization: Bearer <token>` (compared in
    constant time); the database gauges are read off the event loop."""
    import asyncio
    import hmac

    from starlette.responses import PlainTextResponse, Response

    expected = f"Bearer {token}".encode() if token else None

    async def metrics(request: Request) -> Response:
        if expected is not None:
            given = request.headers.get("authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                return PlainTextResponse("unauthorized\n", status_code=401)
        try:
            body, content_type = await asyncio.to_thread(render, store, clock())
        except Exception as exc:  # the database is down: say so, counters stay for next time
            log.error("metrics: could not read the database: %s", type(exc).__name__)
            return PlainTextResponse("database unavailable\n", status_code=503)
        return Response(body, media_type=content_type)

    return metrics


def serve_in_thread(
    store: Store, clock: Callable[[], datetime], host: str, port: int, token: str | None
) -> uvicorn.Server:
    """`serve --metrics-port`: /metrics alone on its own port, in a daemon thread (uvicorn
    installs no signal handlers outside the main thread, so the app's shutdown is unchanged).
    Returns the server (`should_exit = True` stops it)."""
    import threading

    import uvicorn
    from starlette.applications import Starlette
    from starlette.routing import Route

    app = Starlette(routes=[Route("/metrics", endpoint(store, clock, token), methods=["GET"])])
    server = uvicorn.Server(
        uvicorn.Config(
            app, host=host, port=port, log_config=None, log_level=None, access_log=False, lifespan="off"
        )
    )
    threading.Thread(target=server.run, name="metrics", daemon=True).start()
    return server


def start_metrics_port(rt: Runtime, host: str, port: int) -> uvicorn.Server:
    """`--metrics-port` of `serve` and `worker`: /metrics on its own port (METRICS_TOKEN applies)."""
    token = rt.settings.metrics_token.get_secret_value() if rt.settings.metrics_token else None
    server = serve_in_thread(rt.store, rt.now, host, port, token)
    log.info("serving metrics at http://%s:%s/metrics", host, port)
    return server
