"""Meta's WhatsApp Cloud API, direct (Graph API).

Templates: `GET /{waba_id}/message_templates`, cursor paging (`paging.cursors.after`, while
`paging.next` exists). Sends: `POST /{phone_number_id}/messages`, `Authorization: Bearer` with a
system-user token. Webhooks: the GET handshake (`verify_handshake`) and, on every POST,
`X-Hub-Signature-256: sha256=<hex>`, the HMAC-SHA256 of the raw body with the app secret.
Window data: full.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Mapping
from typing import Any

from bot.bsp import http as bsp_http
from bot.bsp import meta
from bot.bsp.adapter import Adapter
from bot.bsp.base import BspError, SessionData, WebhookEvent
from bot.bsp.cloudapi.channel import CloudApiChannel
from bot.rules.templates import Template

log = logging.getLogger(__name__)

GRAPH_URL = "https://graph.facebook.com"
PAGE_SIZE = 100
# Asked explicitly: without `language` a template cannot be told from its other languages.
TEMPLATE_FIELDS = (
    "id,name,language,status,category,components,parameter_format,sub_category,previous_category"
)
MAX_PAGES = 100
SIGNATURE_HEADER = "X-Hub-Signature-256"


class CloudApiProvider(Adapter[CloudApiChannel], meta.MetaMessageSender):
    """One phone number on Meta's Cloud API."""

    session_data = SessionData.FULL
    parse_error = staticmethod(meta.parse_error)

    def default_base_url(self) -> str:
        """Graph at the channel's `graph_version` (its model holds the one default)."""
        return f"{GRAPH_URL}/{self.channel.graph_version}"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {bsp_http.require_secret(self.channel, 'access_token_env')}"}

    def _id(self, value: str | None, key: str) -> str:
        if not value:
            raise self._missing(key)
        return value

    async def list_templates(self) -> list[Template]:
        """Every template of the WABA, following the `after` cursor while Graph says there is more.

        The cursor is sent to our own URL rather than following `paging.next`, so the token only
        ever goes to the configured host.
        """
        headers = self._headers()
        url = f"{self.base_url}/{self._id(self.channel.waba_id, 'waba_id')}/message_templates"
        templates: list[Template] = []
        after: str | None = None
        for _ in range(MAX_PAGES):
            params: dict[str, str | int] = {"fields": TEMPLATE_FIELDS, "limit": PAGE_SIZE}
            if after:
                params["after"] = after
            response = await self._read(
                "GET",
                url,
                params=params,
                headers=headers,
            )
            page = bsp_http.json_or_none(response)
            if not isinstance(page, Mapping) or not isinstance(page.get("data"), list):
                raise BspError("bad_response", "Graph's template list has no data")
            templates += meta.parse_template_items(page["data"], self.channel.id)
            paging = bsp_http.mapping(page.get("paging"))
            cursors = bsp_http.mapping(paging.get("cursors"))
            next_after = cursors.get("after")
            if not paging.get("next") or not next_after or next_after == after or not page["data"]:
                break
            after = str(next_after)
        return templates

    def _messages_url(self) -> str:
        return f"{self.base_url}/{self._id(self.channel.phone_number_id, 'phone_number_id')}/messages"

    def _send_headers(self) -> dict[str, str]:
        return self._headers()

    def authenticate_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> bool:
        """`X-Hub-Signature-256` must be the HMAC-SHA256 of the raw body with the app secret (with
        either of two, comma-separated, while the app secret is rotated)."""
        secret = bsp_http.optional_secret(self.channel, "app_secret_env")
        if not secret:
            log.warning("channel %s: no app secret configured; refusing the webhook", self.channel.id)
            return False
        given = bsp_http.header(headers, SIGNATURE_HEADER) or ""
        if not given.startswith("sha256="):
            return False
        # Bytes, not str: compare_digest raises TypeError on non-ASCII text (an attacker's header).
        given_digest = given.removeprefix("sha256=").strip().lower().encode("utf-8", "surrogateescape")
        expected = [
            hmac.new(key.encode(), raw_body, hashlib.sha256).hexdigest().encode()
            for key in bsp_http.rotating_secrets(secret)
        ]
        matched = [hmac.compare_digest(digest, given_digest) for digest in expected]
        return any(matched)

    def verify_handshake(self, params: Mapping[str, str]) -> str | None:
        """Meta's subscription check: the `hub.challenge` to echo, or None (answer 403)."""
        expected = bsp_http.optional_secret(self.channel, "verify_token_env")
        if params.get("hub.mode") != "subscribe":
            return None
        if not bsp_http.secret_matches(expected, params.get("hub.verify_token")):
            return None
        return params.get("hub.challenge")

    def parse_webhook(self, payload: Any) -> list[WebhookEvent]:
        return meta.parse_envelope(payload)
