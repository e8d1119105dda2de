"""Gupshup (partner API): templates and sends; webhooks parsed but window data NONE.

Templates: `GET https://partner.gupshup.io/partner/app/{app_id}/templates` with
`Authorization: <app token>` -> `{status, templates: [{id, elementName, languageCode, category,
status, templateType, data, containerMeta}]}` (`containerMeta` is a JSON string with `header`,
`data` (the body), `footer`, `buttons`).
Sends: the partner "v3" message API, `POST /partner/app/{app_id}/v3/message` with Meta's Cloud
API body and the same token; it answers Meta's send response.
Webhooks: v3 is Meta's envelope plus `gs_app_id` (parsed by `meta.parse_envelope`); Gupshup's own
v2 envelope (`{app, timestamp, version, type, payload}`) is accepted and ignored. Gupshup does not
sign webhooks: a secret custom header `X-Webhook-Secret` protects them. The product shows this
channel as "templates only" (session data NONE), whatever the webhooks carry.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from bot.bsp import http as bsp_http
from bot.bsp import meta
from bot.bsp.adapter import Adapter
from bot.bsp.base import BspError, SessionData, WebhookEvent, WebhookShapeError
from bot.bsp.gupshup.channel import GupshupChannel
from bot.rules.templates import Template, TemplateButton, normalise_category

log = logging.getLogger(__name__)

PARTNER_URL = "https://partner.gupshup.io"
WEBHOOK_SECRET_HEADER = bsp_http.WEBHOOK_SECRET_HEADER


def parse_error(data: Any, http_status: int | None) -> BspError:
    """Gupshup's errors: `{"status": "error", "message"}`, or Meta's `{"error": {...}}` on v3."""
    if isinstance(data, Mapping) and isinstance(data.get("error"), Mapping):
        return meta.parse_error(data, http_status)
    message = ""
    if isinstance(data, Mapping):
        raw = data.get("message") or data.get("error") or ""
        message = raw if isinstance(raw, str) else json.dumps(raw)[:500]
    if http_status in (401, 403):
        return BspError(
            "invalid_api_key", message or "Gupshup refused the app token", http_status=http_status
        )
    return BspError(
        f"http_{http_status}", message or "Gupshup answered with an error", http_status=http_status
    )


def _container_meta(item: Mapping[str, Any]) -> Mapping[str, Any]:
    raw = item.get("containerMeta")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return {}
    return raw if isinstance(raw, Mapping) else {}


def parse_gupshup_template(item: Any) -> Template:
    """One partner-API template as a Template. Raises ValueError without a name or language."""
    if not isinstance(item, Mapping) or not item.get("elementName") or not item.get("languageCode"):
        raise ValueError("a Gupshup template without elementName or languageCode")
    container = _container_meta(item)
    body = container.get("data") if isinstance(container.get("data"), str) else item.get("data")
    kind = str(item.get("templateType") or "TEXT").upper()
    header = container.get("header") if isinstance(container.get("header"), str) else None
    buttons = tuple(
        TemplateButton(
            type=str(b.get("type") or "").upper(),
            text=str(b.get("text") or ""),
            url=b.get("url") if isinstance(b.get("url"), str) else None,
            phone_number=b.get("phone_number") if isinstance(b.get("phone_number"), str) else None,
            otp_type=str(b["otp_type"]).upper() if b.get("otp_type") else None,
        )
        for b in container.get("buttons") or []
        if isinstance(b, Mapping)
    )
    raw_category = str(item.get("category") or "")
    return Template(
        name=str(item["elementName"]),
        language=str(item["languageCode"]),
        category=normalise_category(raw_category),
        status=str(item.get("status") or "UNKNOWN").upper(),
        raw_category=raw_category,
        header_format=kind if kind != "TEXT" or header else None,
        header_text=header,
        body_text=body if isinstance(body, str) else "",
        footer_text=container.get("footer") if isinstance(container.get("footer"), str) else None,
        buttons=buttons,
        provider_ref=str(item["id"]) if item.get("id") is not None else None,
    )


class GupshupProvider(Adapter[GupshupChannel], meta.MetaMessageSender):
    """One Gupshup app (one number)."""

    session_data = SessionData.NONE
    base_url_default = PARTNER_URL
    parse_error = staticmethod(parse_error)

    def _token(self) -> str:
        field = "app_token_env" if self.channel.app_token_env else "api_key_env"
        return bsp_http.require_secret(self.channel, field)

    def _app_url(self) -> str:
        if not self.channel.app_id:
            raise self._missing("app_id")
        return f"{self.base_url}/partner/app/{self.channel.app_id}"

    async def list_templates(self) -> list[Template]:
        response = await self._read(
            "GET",
            f"{self._app_url()}/templates",
            headers={"Authorization": self._token()},
        )
        data = bsp_http.json_or_none(response)
        if not isinstance(data, Mapping) or not isinstance(data.get("templates"), list):
            raise BspError("bad_response", "Gupshup's template list has no templates")
        return self._templates(data["templates"], parse_gupshup_template)

    def _messages_url(self) -> str:
        return f"{self._app_url()}/v3/message"

    def _send_headers(self) -> dict[str, str]:
        return {"Authorization": self._token()}

    def authenticate_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> bool:
        """`X-Webhook-Secret` equal to the channel's webhook secret (see bsp_http)."""
        return bsp_http.webhook_secret_ok(self.channel, headers)

    def parse_webhook(self, payload: Any) -> list[WebhookEvent]:
        return parse_gupshup_webhook(payload)


def parse_gupshup_webhook(payload: Any) -> list[WebhookEvent]:
    """v3 (Meta's envelope + `gs_app_id`) -> events; v2 (`{app, version, type, payload}`) -> []."""
    if not isinstance(payload, Mapping):
        raise WebhookShapeError("payload", "expected an object")
    if "entry" in payload:
        return meta.parse_envelope(payload)
    if "type" in payload and "payload" in payload:
        return []  # v2: Gupshup's own envelope, not used by this product
    raise WebhookShapeError("entry", "missing: neither Gupshup v3 (Meta envelope) nor v2")
