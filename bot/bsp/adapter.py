"""The scaffolding every adapter shares, written once: what it is built from, its clock, its
base URL, its retry delays, and how its error responses and odd template items are read.

An adapter is `build(channel, http, store, clock)`: its channel settings model, the one shared
`httpx.AsyncClient`, the store (only the sandbox writes to it) and the clock time is read from
(nothing under bsp/ reads the system clock itself).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, ClassVar, Generic, Self, TypeVar

import httpx

from bot.bsp import http as bsp_http
from bot.bsp.base import BspError
from bot.bsp.channel import ChannelConfig
from bot.rules.session_data import SessionData
from bot.rules.templates import Template
from bot.store.db import Store

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
C = TypeVar("C", bound=ChannelConfig)


class Adapter(Generic[C]):
    """One channel's provider: its settings (`channel`), HTTP client and clock."""

    session_data: ClassVar[SessionData]
    # The API address when the channel sets no `base_url` (see `default_base_url`).
    base_url_default: ClassVar[str] = ""

    def __init__(
        self,
        channel: C,
        http: httpx.AsyncClient,
        clock: Clock,
        *,
        retry_delays: Sequence[float] = bsp_http.DEFAULT_DELAYS,
    ) -> None:
        self.channel = channel
        self.http = http
        self.clock = clock
        self.retry_delays = retry_delays
        self.base_url = (channel.base_url or self.default_base_url()).rstrip("/")

    @classmethod
    def build(cls, channel: C, http: httpx.AsyncClient, store: Store | None, clock: Clock) -> Self:
        """The registry's entry point (HTTP adapters keep nothing in the store)."""
        return cls(channel, http, clock)

    @property
    def name(self) -> str:
        """The provider's name (`bsp:` in contato.yml)."""
        return self.channel.bsp

    def default_base_url(self) -> str:
        """The API address from the channel's other settings (a tenant, a Graph version...)."""
        return self.base_url_default

    @staticmethod
    def parse_error(data: Any, http_status: int | None) -> BspError:
        """The provider's error body as a BspError."""
        raise NotImplementedError

    def _response_error(self, response: httpx.Response) -> BspError:
        return self.parse_error(bsp_http.json_or_none(response), response.status_code)

    async def _read(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """An idempotent call (retried; see bsp_http.read) whose errors read as this provider's."""
        return await bsp_http.read(
            self.http, method, url, parse_error=self._response_error, delays=self.retry_delays, **kwargs
        )

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """A call made once (a send; see bsp_http.send) whose errors read as this provider's."""
        return await bsp_http.send(self.http, method, url, parse_error=self._response_error, **kwargs)

    def _missing(self, key: str) -> BspError:
        return BspError("missing_credentials", f"channel {self.channel.id} has no {key} in contato.yml")

    def _templates(self, items: Iterable[Any], parse: Callable[[Any], Template]) -> list[Template]:
        """Every item `parse` reads; one it refuses (ValueError) is skipped with a warning, so one
        odd template never hides the others."""
        templates = []
        for item in items:
            try:
                templates.append(parse(item))
            except ValueError as exc:
                log.warning("channel %s: skipped a template: %s", self.channel.id, exc)
        return templates
