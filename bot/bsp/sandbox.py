"""The built-in `sandbox` BSP: try the app with no WhatsApp account.

It offers sample pt-BR templates in every category, records each send in `sandbox_sends` with
the exact body Meta's `/messages` would get (nothing leaves the machine), reads Meta's webhook
envelope, and `contato-bot sandbox inbound` makes a customer write through the same parsing and
ingestion a real webhook takes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from bot.bsp import http as bsp_http
from bot.bsp.base import SendResult, SessionData, TemplateSend, WebhookEvent
from bot.rules import phones
from bot.rules.events import Category
from bot.rules.templates import Template, TemplateButton
from bot.store.db import Store
from bot.store.models import SandboxSend

log = logging.getLogger(__name__)

WEBHOOK_SECRET_HEADER = bsp_http.WEBHOOK_SECRET_HEADER
MESSAGE_ID_PREFIX = "wamid.SANDBOX."
LANGUAGE = "pt_BR"

# Meta's fixed authentication body in Portuguese (with the security recommendation).
AUTH_BODY_PT = "*{{1}}* é seu código de verificação. Para sua segurança, não o compartilhe."


def sample_templates() -> list[Template]:
    """The sandbox's templates: every category, positional and named variables, every button
    kind the screen handles, and one PAUSED template the screen must not offer."""
    return [
        Template(
            name="pedido_enviado",
            language=LANGUAGE,
            category=Category.UTILITY,
            status="APPROVED",
            raw_category="UTILITY",
            header_format="TEXT",
            header_text="Pedido {{1}}",
            body_text="Olá {{1}}, seu pedido {{2}} foi enviado e chega em até 3 dias úteis.",
            footer_text="Loja Exemplo",
            buttons=(
                TemplateButton(type="QUICK_REPLY", text="Recebi, obrigado"),
                TemplateButton(type="QUICK_REPLY", text="Falar com atendente"),
            ),
            provider_ref="sandbox-1",
        ),
        Template(
            name="entrega_hoje",
            language=LANGUAGE,
            category=Category.UTILITY,
            status="APPROVED",
            raw_category="UTILITY",
            parameter_format="NAMED",
            body_text="Oi {{nome}}, o pedido {{pedido}} sai para entrega hoje.",
            buttons=(
                TemplateButton(
                    type="URL", text="Acompanhar entrega", url="https://exemplo.com.br/rastreio/{{1}}"
                ),
            ),
            provider_ref="sandbox-2",
        ),
        Template(
            name="promocao_semana",
            language=LANGUAGE,
            category=Category.MARKETING,
            status="APPROVED",
            raw_category="MARKETING",
            body_text="{{1}}, esta semana você tem {{2}} de desconto em toda a loja!",
            footer_text="Responda SAIR para não receber promoções",
            buttons=(
                TemplateButton(type="QUICK_REPLY", text="Quero aproveitar"),
                TemplateButton(type="URL", text="Ver ofertas", url="https://exemplo.com.br/ofertas"),
            ),
            provider_ref="sandbox-3",
        ),
        Template(
            name="black_friday",
            language=LANGUAGE,
            category=Category.MARKETING,
            status="PAUSED",
            raw_category="MARKETING",
            body_text="{{1}}, a Black Friday começou: até 70% de desconto!",
            provider_ref="sandbox-4",
        ),
        Template(
            name="codigo_verificacao",
            language=LANGUAGE,
            category=Category.AUTHENTICATION,
            status="APPROVED",
            raw_category="AUTHENTICATION",
            body_text=AUTH_BODY_PT,
            footer_text="Este código expira em 10 minutos.",
            buttons=(TemplateButton(type="OTP", text="Copiar código", otp_type="COPY_CODE"),),
            provider_ref="sandbox-5",
        ),
        Template(
            name="retomar_atendimento",
            language=LANGUAGE,
            category=Category.SERVICE,
            status="APPROVED",
            raw_category="SERVICE",
            body_text="Olá {{1}}, aqui é da Loja Exemplo retomando o seu atendimento. Podemos continuar?",
            provider_ref="sandbox-6",
        ),
    ]


class SandboxProvider:
    """A Provider that never leaves the machine (see the module docstring)."""

    name = "sandbox"
    session_data = SessionData.FULL

    def __init__(self, channel: bsp_http.ChannelLike, store: Store | None) -> None:
        self.channel = channel
        self.store = store

    async def list_templates(self) -> list[Template]:
        return sample_templates()

    async def send_template(self, to: str, send: TemplateSend) -> SendResult:
        from bot.bsp import meta

        return await self._record(to, "template", meta.build_template_body(to, send))

    async def send_text(self, to: str, text: str) -> SendResult:
        from bot.bsp import meta

        return await self._record(to, "text", meta.build_text_body(to, text))

    async def _record(self, to: str, kind: str, payload: dict[str, Any]) -> SendResult:
        message_id = MESSAGE_ID_PREFIX + uuid.uuid4().hex
        wa_id = "".join(ch for ch in to if ch.isdigit())
        if self.store is not None:
            # Off the event loop: a SQLite writer may wait for the lock.
            await asyncio.to_thread(self._write, to, kind, payload, message_id)
        log.info(
            "sandbox %s: %s to %s recorded as %s", self.channel.id, kind, phones.mask_phone(to), message_id
        )
        response = {
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": wa_id}],
            "messages": [{"id": message_id}],
        }
        return SendResult(message_id=message_id, wa_id=wa_id or None, raw=response)

    def _write(self, to: str, kind: str, payload: dict[str, Any], message_id: str) -> None:
        assert self.store is not None
        with self.store.session() as session:
            session.add(
                SandboxSend(
                    channel_id=self.channel.id,
                    to=to,
                    kind=kind,
                    payload=payload,
                    message_id=message_id,
                    created_at=datetime.now(UTC),
                )
            )

    def authenticate_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> bool:
        """`X-Webhook-Secret` equal to the channel's secret. With none configured every request
        is refused: `contato-bot sandbox inbound` is the way in."""
        return bsp_http.webhook_secret_ok(self.channel, headers)

    def parse_webhook(self, payload: Any) -> list[WebhookEvent]:
        from bot.bsp import meta

        return meta.parse_envelope(payload)


def build(
    channel: bsp_http.ChannelLike, http: httpx.AsyncClient | None = None, store: Any = None
) -> SandboxProvider:
    """The registry's entry point (the sandbox makes no HTTP calls)."""
    return SandboxProvider(channel, store if isinstance(store, Store) else None)


# ---- `contato-bot sandbox inbound` --------------------------------------------------------------


def inbound_payload(
    channel_number: str, wa_id: str, text: str, at: datetime, *, ctwa: bool, name: str | None = None
) -> dict[str, Any]:
    """A Meta webhook envelope carrying one customer text message (with an ad referral for CTWA)."""
    message: dict[str, Any] = {
        "from": wa_id,
        "id": "wamid.SANDBOX.IN." + uuid.uuid4().hex,
        "timestamp": str(int(at.timestamp())),
        "type": "text",
        "text": {"body": text},
    }
    if ctwa:
        message["referral"] = {
            "source_url": "https://fb.me/sandbox-ad",
            "source_id": "120200000000000001",
            "source_type": "ad",
            "headline": "Anúncio de teste (sandbox)",
            "body": "Fale com a gente pelo WhatsApp",
            "media_type": "image",
            "ctwa_clid": "sandbox-" + uuid.uuid4().hex[:16],
        }
    display = "".join(ch for ch in channel_number if ch.isdigit())
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "SANDBOX",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": display, "phone_number_id": "SANDBOX"},
                            "contacts": [{"profile": {"name": name or "Cliente Sandbox"}, "wa_id": wa_id}],
                            "messages": [message],
                        },
                    }
                ],
            }
        ],
    }


def cli_sandbox_inbound(
    config_path: str, channel: str, phone: str, text: str, ctwa: bool, at: str | None
) -> int:
    """`contato-bot sandbox inbound CHANNEL PHONE TEXT [--ctwa] [--at]`: the customer writes on a
    sandbox channel, through the provider's parser and `ingest.ingest_events`, as a webhook would.
    Prints the ingestion report and the contact's windows as JSON."""
    from bot.cli.common import parse_at
    from bot.core.ingest import ingest_events
    from bot.core.windows_report import sessions_report
    from bot.runtime import build_runtime

    rt = build_runtime(config_path)
    try:
        config = rt.config.channel(channel)
        if config is None or config.bsp != "sandbox":
            sandboxes = ", ".join(c.id for c in rt.config.channels if c.bsp == "sandbox") or "none"
            what = "is not a sandbox channel" if config is not None else "is not in the config"
            print(
                f"contato-bot sandbox inbound: channel {channel!r} {what} (sandbox channels: {sandboxes}).",
                file=sys.stderr,
            )
            return 2
        try:
            e164 = phones.normalize_phone(phone)
        except phones.InvalidPhone as exc:
            print(
                f"contato-bot sandbox inbound: {phone!r} is not a phone number ({exc.reason}).",
                file=sys.stderr,
            )
            return 2
        now = rt.now()
        try:
            when = parse_at(at, now)
        except ValueError:
            print(
                f"contato-bot sandbox inbound: --at {at!r} is not an ISO 8601 time "
                "(e.g. 2026-11-24T19:00:00Z).",
                file=sys.stderr,
            )
            return 2
        provider = rt.provider(channel)
        payload = inbound_payload(config.number, e164.removeprefix("+"), text, when, ctwa=ctwa)
        events = provider.parse_webhook(payload)
        report = ingest_events(rt.store, channel, events, now)
        shown_at = max(now, when.replace(microsecond=0))
        sessions = sessions_report(rt.store, config, provider.session_data, e164, shown_at, rt.rules)
        print(json.dumps({"changes": report.to_dict(), "sessions": sessions.to_json()}, ensure_ascii=False))
        return 0
    finally:
        rt.store.dispose()
