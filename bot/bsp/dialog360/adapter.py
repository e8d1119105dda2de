"""360dialog (Cloud API, `waba-v2`): Meta's formats behind a per-number `D360-API-KEY`.

Templates: `GET /v1/configs/templates?limit=&offset=` pages until offset + count >= total.
Sends: `POST /messages` with Meta's body. Webhooks: Meta's envelope unchanged, unsigned, so they
are protected by a secret custom header (`X-Webhook-Secret`, set with `POST /v1/configs/webhook
{url, headers}`) compared in constant time. Window data: full (conversation, pricing, referral).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from bot.bsp import http as bsp_http
from bot.bsp import meta
from bot.bsp.adapter import Adapter
from bot.bsp.base import BspError, SessionData, WebhookEvent
from bot.bsp.dialog360.channel import Dialog360Channel
from bot.rules.templates import Template

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://waba-v2.360dialog.io"
PAGE_SIZE = 100
MAX_PAGES = 100  # 10,000 templates: a guard against a server that never says it is done
WEBHOOK_SECRET_HEADER = bsp_http.WEBHOOK_SECRET_HEADER


def parse_error(data: Any, http_status: int | None) -> BspError:
    """360dialog's error bodies: its own `{"meta": {...}}` envelope, the On-Prem `{"errors": [...]}`
    list, or Graph's `{"error": {...}}` passed through from Meta."""
    if (
        isinstance(data, Mapping)
        and isinstance(data.get("meta"), Mapping)
        and data["meta"].get("success") is False
    ):
        envelope = data["meta"]
        message = str(envelope.get("developer_message") or envelope.get("developerMessage") or "")
        code_status = envelope.get("http_code") or envelope.get("httpCode")
        lowered = message.lower()
        # The doc lists the bad-key error under 401, but the real body says httpCode 404.
        if http_status == 401 or "api_key" in lowered or "api key" in lowered or "token" in lowered:
            return BspError("invalid_api_key", message, http_status=http_status)
        return BspError(
            "360dialog_error",
            f"{message} (HTTP {code_status})" if code_status else message,
            http_status=http_status,
        )
    if isinstance(data, Mapping) and isinstance(data.get("errors"), list) and data["errors"]:
        first = meta.provider_error(data["errors"][0])
        return BspError(first.code, first.detail or first.title, http_status=http_status)
    if isinstance(data, Mapping) and isinstance(data.get("error"), Mapping):
        return meta.parse_error(data, http_status)
    if http_status == 401:
        return BspError("invalid_api_key", "360dialog refused the API key", http_status=http_status)
    return BspError(
        f"http_{http_status}", "360dialog answered with an error and no explanation", http_status=http_status
    )


class Dialog360Provider(Adapter[Dialog360Channel], meta.MetaMessageSender):
    """One 360dialog number."""

    session_data = SessionData.FULL
    base_url_default = DEFAULT_BASE_URL
    parse_error = staticmethod(parse_error)

    def _headers(self) -> dict[str, str]:
        return {"D360-API-KEY": bsp_http.require_secret(self.channel, "api_key_env")}

    async def list_templates(self) -> list[Template]:
        """Every template, all statuses, paging with limit/offset until the total is reached."""
        headers = self._headers()
        templates: list[Template] = []
        offset = 0
        for _ in range(MAX_PAGES):
            response = await self._read(
                "GET",
                f"{self.base_url}/v1/configs/templates",
                params={"limit": PAGE_SIZE, "offset": offset},
                headers=headers,
            )
            page = bsp_http.json_or_none(response)
            if not isinstance(page, Mapping) or not isinstance(page.get("waba_templates"), list):
                raise BspError("bad_response", "360dialog's template list has no waba_templates")
            items = page["waba_templates"]
            templates += meta.parse_template_items(items, self.channel.id)
            count = _int(page.get("count"), len(items))
            total = _int(page.get("total"), offset + count)
            offset = _int(page.get("offset"), offset) + count
            if count == 0 or offset >= total:
                break
        return templates

    async def registered_webhook_url(self) -> str | None:
        """The webhook URL set at 360dialog (`GET /v1/configs/webhook` -> `{"url": ...}`), for
        `check --online`; None when none is set."""
        response = await self._read("GET", f"{self.base_url}/v1/configs/webhook", headers=self._headers())
        data = bsp_http.json_or_none(response)
        url = data.get("url") if isinstance(data, Mapping) else None
        return str(url) if url else None

    def _messages_url(self) -> str:
        return f"{self.base_url}/messages"

    def _send_headers(self) -> dict[str, str]:
        return self._headers()

    def authenticate_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> bool:
        """The secret custom header configured on 360dialog's webhook (see bsp_http)."""
        return bsp_http.webhook_secret_ok(self.channel, headers)

    def parse_webhook(self, payload: Any) -> list[WebhookEvent]:
        return meta.parse_envelope(payload)


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default
