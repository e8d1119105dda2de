"""Gupshup (partner API): templates, sends, and webhooks that feed the windows (session data FULL).

Templates: `GET https://partner.gupshup.io/partner/app/{app_id}/templates` with
`Authorization: <app token>` -> `{status, templates: [{id, elementName, languageCode, category,
status, templateType, data, containerMeta}]}` (`containerMeta` is a JSON string with `header`,
`data` (the body), `footer`, `buttons`).
Sends: the partner "v3" message API, `POST /partner/app/{app_id}/v3/message` with Meta's Cloud
API body and the same token; it answers Meta's send response.
Webhooks: v3 is Meta's envelope plus `gs_app_id` (parsed by `meta.parse_envelope`); Gupshup's own
v2 envelope (`{app, timestamp, version, type, payload}`): `message` and `message-event` feed the
same windows (see `parse_v2`). Gupshup does not sign webhooks: a secret custom header
`X-Webhook-Secret` protects them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from bot.bsp import http as bsp_http
from bot.bsp import meta
from bot.bsp.adapter import Adapter
from bot.bsp.base import (
    BspError,
    InboundMessage,
    ProviderError,
    SessionData,
    StatusUpdate,
    WebhookEvent,
    WebhookShapeError,
)
from bot.bsp.gupshup.channel import GupshupChannel
from bot.bsp.meta.shape import _dict, _opt_str, _str, parse_timestamp
from bot.rules.templates import Template, TemplateButton, normalise_category
from bot.rules.windows import normalise_origin

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

    # v3 is Meta's envelope (conversation, pricing, referral); v2 carries messages and conversations.
    session_data = SessionData.FULL
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
    """v3 (Meta's envelope + `gs_app_id`) or v2 (`{app, timestamp, version, type, payload}`) -> events."""
    if not isinstance(payload, Mapping):
        raise WebhookShapeError("payload", "expected an object")
    if "entry" in payload:
        return meta.parse_envelope(payload)
    if "type" in payload and "payload" in payload:
        return parse_v2(payload)
    raise WebhookShapeError("entry", "missing: neither Gupshup v3 (Meta envelope) nor v2")


# v2 message-event types -> our statuses (enqueued is Gupshup's own step: no event).
_V2_STATUSES = {
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "failed": "failed",
    "deleted": "deleted",
}
# v2 conversation types of the conversation-based pricing era: FEP (free entry point, an ad),
# UIC (user-initiated: service), BIC (business-initiated: the category is not said).
_V2_ORIGINS = {"fep": "referral_conversion", "uic": "service"}


def parse_v2(root: Mapping[str, Any]) -> list[WebhookEvent]:
    """Gupshup's own envelope: `message` (a customer wrote; `timestamp` in milliseconds) opens the
    customer service window, `message-event` is a status (`payload.payload.ts` in seconds) whose
    `conversation` (`id`, `expiresAt` taken as given, `type`) feeds the same windows as Meta's.
    Other types (billing-event, user-event...) say nothing about windows."""
    kind = root.get("type")
    if kind not in ("message", "message-event"):
        return []
    inner = _dict(root.get("payload"), "payload")
    if kind == "message":
        sender = bsp_http.mapping(inner.get("sender"))
        wa_id = _opt_str(sender.get("phone")) or _opt_str(inner.get("source")) or ""
        if not wa_id and not (_opt_str(sender.get("userId")) or _opt_str(inner.get("userId"))):
            raise WebhookShapeError("payload.source", "missing: no sender (phone or userId)")
        content = bsp_http.mapping(inner.get("payload"))
        referral = inner.get("referral") or content.get("referral")
        return [
            InboundMessage(
                message_id=_str(inner.get("id"), "payload.id"),
                wa_id=wa_id.removeprefix("+"),
                at=parse_timestamp(root.get("timestamp"), "timestamp"),
                user_id=_opt_str(sender.get("userId")) or _opt_str(inner.get("userId")),
                type=_opt_str(inner.get("type")) or "unknown",
                profile_name=_opt_str(sender.get("name")),
                text=_opt_str(content.get("text")) or _opt_str(content.get("caption")),
                referral=dict(referral) if isinstance(referral, Mapping) else None,
                source="payload",
            )
        ]
    status = _V2_STATUSES.get(str(inner.get("type") or "").lower())
    if status is None:
        return []
    details = bsp_http.mapping(inner.get("payload"))
    at = (
        parse_timestamp(details["ts"], "payload.payload.ts")
        if details.get("ts") is not None
        else parse_timestamp(root.get("timestamp"), "timestamp")
    )
    conversation_id = origin = expires_at = None
    conversation = inner.get("conversation")
    if isinstance(conversation, Mapping) and conversation.get("expiresAt") is not None:
        conversation_id = _opt_str(conversation.get("id"))
        expires_at = parse_timestamp(conversation["expiresAt"], "payload.conversation.expiresAt")
        raw_type = (_opt_str(conversation.get("type")) or "").lower()
        origin = _V2_ORIGINS.get(raw_type) or normalise_origin(raw_type)
    pricing = bsp_http.mapping(inner.get("pricing"))
    errors: tuple[ProviderError, ...] = ()
    if status == "failed":
        errors = (
            ProviderError(
                code=_opt_str(details.get("code")) or "unknown",
                detail=_opt_str(details.get("reason")) or "",
            ),
        )
    return [
        StatusUpdate(
            message_id=_str(inner.get("id"), "payload.id"),
            status=status,
            at=at,
            recipient_wa_id=(_opt_str(inner.get("destination")) or "").removeprefix("+"),
            recipient_user_id=_opt_str(inner.get("userId")),
            conversation_id=conversation_id,
            conversation_origin=origin,
            conversation_expires_at=expires_at if conversation_id else None,
            pricing_model=(_opt_str(pricing.get("policy")) or "").upper() or None,
            pricing_category=(_opt_str(pricing.get("category")) or "").lower() or None,
            errors=errors,
            source="payload",
        )
    ]
