"""Everything a running process needs, built once from the config file and the environment.

The Slack app, the webhook endpoint, the scheduler and the CLI all take a `Runtime`, so they
share one store, one HTTP client for the BSPs, one template cache and one rule set.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bot.bsp.base import Provider
from bot.config import AppConfig, ChannelConfig, Settings, default_database_url, load_config
from bot.i18n import Catalog
from bot.rules.pricing import RuleSet, load_rule_set
from bot.store.db import Store

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


# Every BSP call has a deadline: the modal never waits on a BSP, and a hung provider must not
# pin a worker. Sends get a longer read timeout than listings because a send is never retried.
BSP_TIMEOUT = httpx.Timeout(connect=5.0, read=15.0, write=10.0, pool=5.0)


@dataclass
class Runtime:
    config: AppConfig
    settings: Settings
    store: Store
    rules: RuleSet
    config_path: Path
    http: httpx.AsyncClient
    clock: Callable[[], datetime] = utc_now
    _providers: dict[str, Provider] = field(default_factory=dict)
    # Set by the serving app: the Slack Web API client (delivery updates from webhook processing)
    # and the webhook processor (its queue drains what the endpoint stored).
    slack: Any = None
    webhooks: Any = None
    # Started in the background when the server starts (e.g. warming the user-group cache so the
    # first /contato does not wait on Slack before views.open).
    warmups: list[Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=list)
    _template_cache: object | None = None

    @property
    def catalog(self) -> Catalog:
        return Catalog(self.config.language)

    def now(self) -> datetime:
        return self.clock()

    def provider(self, channel_id: str) -> Provider:
        """The BSP adapter of a configured channel (built once, reused)."""
        provider = self._providers.get(channel_id)
        if provider is None:
            from bot.bsp.registry import build_provider

            channel = self.channel(channel_id)
            provider = build_provider(channel, self.http, self.store, self.clock)
            self._providers[channel_id] = provider
        return provider

    def channel(self, channel_id: str) -> ChannelConfig:
        channel = self.config.channel(channel_id)
        if channel is None:
            raise KeyError(channel_id)
        return channel

    @property
    def templates(self):  # type: ignore[no-untyped-def]
        """The per-channel template cache (TTL + stale-while-revalidate)."""
        if self._template_cache is None:
            from bot.core.template_cache import TemplateCache

            self._template_cache = TemplateCache(self)
        return self._template_cache

    async def aclose(self) -> None:
        await self.http.aclose()
        self.store.dispose()


def build_runtime(
    config_path: str | Path | None = None,
    *,
    settings: Settings | None = None,
    clock: Callable[[], datetime] = utc_now,
    http: httpx.AsyncClient | None = None,
    migrate: bool = True,
) -> Runtime:
    """Load config and environment, open (and migrate) the database."""
    settings = settings or Settings()
    path = Path(config_path or settings.contato_config)
    config = load_config(path)
    database_url = settings.database_url or default_database_url(path)
    store = Store.from_url(database_url)
    if migrate:
        store.migrate()
    rules_file = config.pricing.rules_file if config.pricing else None
    if rules_file is not None and not Path(rules_file).is_absolute():
        rules_file = str(path.parent / rules_file)
    rules = load_rule_set(rules_file)
    return Runtime(
        config=config,
        settings=settings,
        store=store,
        rules=rules,
        config_path=path,
        http=http or httpx.AsyncClient(timeout=BSP_TIMEOUT),
        clock=clock,
    )
