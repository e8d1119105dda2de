"""The Slack Web API client of every process that calls Slack (`serve`, `worker`): SLACK_API_URL
honoured, 429s and network errors retried, calls counted. Light on purpose: `worker` builds it
without loading Bolt and the Slack listeners."""

from __future__ import annotations

from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot import metrics
from bot.runtime import Runtime


def build_slack_client(rt: Runtime) -> AsyncWebClient:
    """The Web API client: SLACK_API_URL honoured (GovSlack, tests); 429s and network errors retried."""
    token = rt.settings.slack_bot_token.get_secret_value() if rt.settings.slack_bot_token else None
    return configure_slack_client(AsyncWebClient(token=token), rt)


def configure_slack_client(client: AsyncWebClient, rt: Runtime) -> AsyncWebClient:
    """Point a Web API client at SLACK_API_URL (when set) and retry 429s and network errors."""
    if rt.settings.slack_api_url:
        base = rt.settings.slack_api_url
        client.base_url = base if base.endswith("/") else base + "/"
    client.retry_handlers.extend(
        [
            AsyncRateLimitErrorRetryHandler(max_retry_count=2),
            AsyncConnectionErrorRetryHandler(max_retry_count=1),
        ]
    )
    return metrics.instrument_slack_client(client)
