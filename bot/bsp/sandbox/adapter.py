"""The built-in `sandbox` BSP: try the app with no WhatsApp account.

It offers sample pt-BR templates in every category (`samples.py`), records each send in
`sandbox_sends` with the exact body Meta's `/messages` would get (nothing leaves the machine),
and reads Meta's webhook envelope; `contato-bot sandbox inbound` (bot/cli/sandbox.py) makes a
customer write through the same parsing and ingestion a real webhook takes.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping
from typing import Any, Self

import httpx

from bot.bsp import http as bsp_http
from bot.bsp import meta
from bot.bsp.adapter import Adapter, Clock
from bot.bsp.base import SendResult, SessionData, TemplateSend, WebhookEvent
from bot.bsp.sandbox.channel import SandboxChannel
from bot.bsp.sandbox.samples import sample_templates
from bot.rules import phones
from bot.rules.templates import Template
from bot.store import sandbox_sends
from bot.store.db import Store

log = logging.getLogger(__name__)

WEBHOOK_SECRET_HEADER = bsp_http.WEBHOOK_SECRET_HEADER
MESSAGE_ID_PREFIX = "wamid.SANDBOX."


class SandboxProvider(Adapter[SandboxChannel]):
    """A Provider that never leaves the machine (see the module docstring)."""

    session_data = SessionData.FULL
    reaches_bsuid = True  # it records Meta's body, `recipient` included (bot.bsp.base.ReachesBsuid)

    def __init__(
        self, channel: SandboxChannel, http: httpx.AsyncClient | None, clock: Clock, store: Store | None
    ) -> None:
        self.channel = channel
        self.clock = clock
        self.store = store

    @classmethod
    def build(
        cls, channel: SandboxChannel, http: httpx.AsyncClient | None, store: Store | None, clock: Clock
    ) -> Self:
        """The registry's entry point (the sandbox makes no HTTP calls; it records in `store`)."""
        return cls(channel, http, clock, store)

    async def list_templates(self) -> list[Template]:
        return sample_templates()

    async def send_template(self, to: str, send: TemplateSend) -> SendResult:
        return await self._record(to, "template", meta.build_template_body(to, send))

    async def send_text(self, to: str, text: str) -> SendResult:
        return await self._record(to, "text", meta.build_text_body(to, text))

    async def _record(self, to: str, kind: str, payload: dict[str, Any]) -> SendResult:
        message_id = MESSAGE_ID_PREFIX + uuid.uuid4().hex
        wa_id = "".join(ch for ch in to if ch.isdigit())
        if self.store is not None:
            # Off the event loop: a SQLite writer may wait for the lock.
            await asyncio.to_thread(
                sandbox_sends.record_send,
                self.store,
                channel_id=self.channel.id,
                to=to,
                kind=kind,
                payload=payload,
                message_id=message_id,
                at=self.clock(),
            )
        log.info(
            "sandbox %s: %s to %s recorded as %s", self.channel.id, kind, phones.mask_phone(to), message_id
        )
        response = {
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": wa_id}],
            "messages": [{"id": message_id}],
        }
        return SendResult(message_id=message_id, wa_id=wa_id or None, raw=response)

    def authenticate_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> bool:
        """`X-Webhook-Secret` equal to the channel's secret. With none configured every request
        is refused: `contato-bot sandbox inbound` is the way in."""
        return bsp_http.webhook_secret_ok(self.channel, headers)

    def parse_webhook(self, payload: Any) -> list[WebhookEvent]:
        return meta.parse_envelope(payload)
