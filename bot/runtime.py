"""Everything a running process needs, built once from the config file and the environment.

The Slack app, the webhook endpoint, the scheduler and the CLI all take a `Runtime`, so they
share one store, one HTTP client for the BSPs, one template cache and one rule set. Nothing is
set on it from outside after it is built: the app hands the Slack client and the webhook
processor to what it builds itself.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bot.bsp.base import Provider
from bot.config import AppConfig, ChannelConfig, Settings, default_database_url, load_config
from bot.core.template_cache import TemplateCache
from bot.i18n import Catalog
from bot.rules.pricing import RuleSet, load_rule_set
from bot.rules.rate_cards import load_rate_card, with_rate_card
from bot.store.db import Store

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


# Every BSP call has a deadline: the modal never waits on a BSP, and a hung provider must not
# pin a worker. Sends get a longer read timeout than listings because a send is never retried.
BSP_TIMEOUT = httpx.Timeout(connect=5.0, read=15.0, write=10.0, pool=5.0)


class Providers:
    """The BSP adapter of each configured channel, built on first use and reused."""

    def __init__(
        self, config: AppConfig, http: httpx.AsyncClient, store: Store, clock: Callable[[], datetime]
    ) -> None:
        self._config = config
        self._http = http
        self._store = store
        self._clock = clock
        self._built: dict[str, Provider] = {}

    def get(self, channel_id: str) -> Provider:
        """The adapter of a configured channel; KeyError for an unknown channel id."""
        provider = self._built.get(channel_id)
        if provider is None:
            from bot.bsp.registry import build_provider

            channel = self._config.channel(channel_id)
            if channel is None:
                raise KeyError(channel_id)
            provider = build_provider(channel, self._http, self._store, self._clock)
            self._built[channel_id] = provider
        return provider


@dataclass
class Runtime:
    config: AppConfig
    settings: Settings
    store: Store
    rules: RuleSet
    config_path: Path
    http: httpx.AsyncClient
    providers: Providers
    templates: TemplateCache  # per channel, TTL + stale-while-revalidate
    clock: Callable[[], datetime] = utc_now
    # Started in the background when the server starts (e.g. warming the user-group cache so the
    # first /contato does not wait on Slack before views.open).
    warmups: list[Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=list)

    @property
    def catalog(self) -> Catalog:
        return Catalog(self.config.language)

    def now(self) -> datetime:
        return self.clock()

    def provider(self, channel_id: str) -> Provider:
        """The BSP adapter of a configured channel (built once, reused)."""
        return self.providers.get(channel_id)

    def channel(self, channel_id: str) -> ChannelConfig:
        channel = self.config.channel(channel_id)
        if channel is None:
            raise KeyError(channel_id)
        return channel

    async def aclose(self) -> None:
        await self.http.aclose()
        self.store.dispose()


def assemble_runtime(
    *,
    config: AppConfig,
    settings: Settings,
    store: Store,
    rules: RuleSet,
    config_path: Path,
    http: httpx.AsyncClient,
    clock: Callable[[], datetime] = utc_now,
) -> Runtime:
    """A Runtime from parts already loaded: its providers and template cache built on them."""
    providers = Providers(config, http, store, clock)
    templates = TemplateCache(store, providers.get, timedelta(seconds=config.templates.ttl_seconds), clock)
    return Runtime(
        config=config,
        settings=settings,
        store=store,
        rules=rules,
        config_path=config_path,
        http=http,
        providers=providers,
        templates=templates,
        clock=clock,
    )


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
    if config.pricing.rate_card_file:
        card_file = Path(config.pricing.rate_card_file)
        card = load_rate_card(
            card_file if card_file.is_absolute() else path.parent / card_file,
            currency=config.pricing.rate_card_currency,
            effective_from=config.pricing.rate_card_from,
        )
        rules = with_rate_card(rules, card)
    return assemble_runtime(
        config=config,
        settings=settings,
        store=store,
        rules=rules,
        config_path=path,
        http=http or httpx.AsyncClient(timeout=BSP_TIMEOUT),
        clock=clock,
    )


def freeze_startup_objects() -> None:
    """Leave what start-up built (modules, the config, Bolt, SQLAlchemy, the providers: ~140,000
    objects in `serve` that live as long as the process) out of the garbage collector's full
    collections. Every webhook POST, and every delivery a worker ingests, allocates parsed JSON
    and events, so full collections come every few thousand of them, and each walked all of
    those: ~15 us of CPU per POST during a flood. The garbage there is now is collected first,
    so none of it is kept for good. Called by `serve` and `worker` once they are built."""
    gc.collect()
    gc.freeze()
