"""Fortics (SZ.chat): a thin adapter, every assumption written down.

No official public documentation exists for SZ.chat's API v4; this shape comes from unofficial
clients (whatsapp.md §4). ASSUMPTIONS, each a place to look first when Fortics misbehaves:

1. Base URL `https://{tenant}.sz.chat/api/v4`, unless the channel sets `base_url`.
2. `POST /auth/login {"email", "password"}` answers a bearer token as `token` or
   `access_token`, at the top level or under `data`. Every other call sends
   `Authorization: Bearer <token>`.
3. One session per account (logging in again may end the previous session), so the adapter
   keeps ONE token per account (email + base URL), shared by every channel of that account and
   guarded by an `asyncio.Lock`. Use a dedicated integration user.
4. A 401 means the token expired: `POST /auth/refresh` (with the old token as bearer) answers a
   new token in the same shape; if the refresh fails, log in again; then the call is made once
   more. A send answered 401 was refused, not delivered, so repeating it after re-authenticating
   is safe.
5. `POST /hsm/listAll {"channel_id"}` answers a list of templates (at the top level or under
   `data`): `{name, category, message, tags: [{placeholder, tags_value}], broker: {name, status}}`.
   `message` is a list of text lines (strings, or objects with `text`/`body`/`message`) or a
   string. There is no language field: `pt_BR` is assumed. `broker.status` (or `status`) is the
   approval status; without one the template is treated as APPROVED (Fortics lists only usable
   HSMs in practice). Placeholders are positional `{{1}}`...
6. `POST /message/send {"platform_id": <phone digits>, "channel_id", "type": "text", "message",
   "is_hsm", "hsm_template_name", "hsm_placeholders": [values in placeholder order]}`. The
   message id comes back as `id`/`message_id`/`_id`, at the top level or under `data`; when none
   is found a unique local id (`fortics-<uuid>`) is recorded instead.
7. Errors come as JSON `{"message"|"error"}`; the code is the HTTP status (`http_<status>`), or
   `invalid_api_key` for 401/403 after re-authenticating.
8. Webhooks ("API Receptiva"): `{"data": {...}, "webhook": {app, host, key, label}}`, unsigned;
   they are protected by a secret custom header `X-Webhook-Secret` (a request without it is
   refused; `webhook.key` is not trusted, it travels in the body). Only `client_message` events matter: `data`
   carries `platform_id` (the customer's number), `message` (text), `created_at` (epoch seconds or
   milliseconds, or an ISO 8601 string) and an id (`id`/`message_id`/`_id`). The event name is in
   `data.event`, `webhook.event` or the top-level `event`. Every other event is ignored.
9. Meta's conversation/pricing/referral objects are not passed through: window data is DERIVED
   from customer message times only.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from bot.bsp import http as bsp_http
from bot.bsp.adapter import Adapter, Clock
from bot.bsp.base import (
    BspError,
    InboundMessage,
    SendResult,
    SessionData,
    TemplateSend,
    WebhookEvent,
    WebhookShapeError,
)
from bot.bsp.fortics.channel import ForticsChannel
from bot.bsp.meta import parse_timestamp
from bot.rules.templates import Template, normalise_category, render_preview, template_variables

log = logging.getLogger(__name__)

WEBHOOK_SECRET_HEADER = bsp_http.WEBHOOK_SECRET_HEADER
DEFAULT_LANGUAGE = "pt_BR"


def parse_error(data: Any, http_status: int | None) -> BspError:
    """Fortics' error body (`{"message"}` or `{"error"}`) as BspError coded by HTTP status."""
    message = ""
    if isinstance(data, Mapping):
        raw = data.get("message") or data.get("error") or data.get("errors") or ""
        message = raw if isinstance(raw, str) else str(raw)
    if http_status in (401, 403):
        return BspError("invalid_api_key", message or "Fortics refused the login", http_status=http_status)
    return BspError(
        f"http_{http_status}", message or "Fortics answered with an error", http_status=http_status
    )


def _unwrap(data: Any) -> Any:
    return data["data"] if isinstance(data, Mapping) and "data" in data else data


def _token_of(data: Any) -> str | None:
    for node in (data, _unwrap(data)):
        if isinstance(node, Mapping):
            for key in ("token", "access_token"):
                if isinstance(node.get(key), str) and node[key]:
                    return str(node[key])
    return None


class ForticsSession:
    """The one bearer token of a Fortics account, shared by its channels (assumption 3)."""

    def __init__(self) -> None:
        self.token: str | None = None
        self.lock = asyncio.Lock()


# (base_url, email) -> session: one per account in this process.
_SESSIONS: dict[tuple[str, str], ForticsSession] = {}


def _text_of(message: Any) -> str:
    if isinstance(message, str):
        return message
    if isinstance(message, list):
        lines = []
        for item in message:
            if isinstance(item, str):
                lines.append(item)
            elif isinstance(item, Mapping):
                text = item.get("text") or item.get("body") or item.get("message")
                if isinstance(text, str):
                    lines.append(text)
        return "\n".join(lines)
    return ""


def parse_hsm(item: Any) -> Template:
    """One `/hsm/listAll` item as a Template (assumption 5). Raises ValueError without a name."""
    if not isinstance(item, Mapping) or not isinstance(item.get("name"), str) or not item["name"]:
        raise ValueError("a Fortics HSM without a name")
    broker = bsp_http.mapping(item.get("broker"))
    status = broker.get("status") or item.get("status") or "APPROVED"
    raw_category = str(item.get("category") or "")
    language = item.get("language") or item.get("languageCode") or DEFAULT_LANGUAGE
    return Template(
        name=item["name"],
        language=str(language),
        category=normalise_category(raw_category),
        status=str(status).upper(),
        raw_category=raw_category,
        body_text=_text_of(item.get("message")),
        provider_ref=str(item["id"]) if item.get("id") is not None else None,
    )


class ForticsProvider(Adapter[ForticsChannel]):
    """One Fortics (SZ.chat) WhatsApp channel."""

    session_data = SessionData.DERIVED
    parse_error = staticmethod(parse_error)

    def __init__(
        self,
        channel: ForticsChannel,
        http: httpx.AsyncClient,
        clock: Clock,
        *,
        retry_delays: Sequence[float] = bsp_http.DEFAULT_DELAYS,
        sessions: dict[tuple[str, str], ForticsSession] | None = None,
    ) -> None:
        super().__init__(channel, http, clock, retry_delays=retry_delays)
        self._sessions = _SESSIONS if sessions is None else sessions

    def default_base_url(self) -> str:
        """The tenant's SZ.chat API (assumption 1)."""
        return f"https://{self.channel.tenant}.sz.chat/api/v4"

    # ---- session -----------------------------------------------------------------------------

    def _session(self) -> tuple[ForticsSession, str, str]:
        email = bsp_http.require_secret(self.channel, "email_env")
        password = bsp_http.require_secret(self.channel, "password_env")
        session = self._sessions.setdefault((self.base_url, email), ForticsSession())
        return session, email, password

    async def _login(self, email: str, password: str) -> str:
        response = await self._read(
            "POST",
            f"{self.base_url}/auth/login",
            json={"email": email, "password": password},
        )
        token = _token_of(bsp_http.json_or_none(response))
        if not token:
            raise BspError("bad_response", "Fortics' login answered no token")
        return token

    async def _refresh(self, token: str) -> str | None:
        try:
            response = await self._read(
                "POST",
                f"{self.base_url}/auth/refresh",
                headers={"Authorization": f"Bearer {token}"},
            )
        except BspError as exc:
            log.info(
                "channel %s: Fortics token refresh failed (%s); logging in again", self.channel.id, exc.code
            )
            return None
        return _token_of(bsp_http.json_or_none(response))

    async def _token(self, *, stale: str | None = None) -> str:
        """The account's token; with `stale`, the one that just got a 401 is replaced (once, even
        when several calls saw it expire at the same time)."""
        session, email, password = self._session()
        async with session.lock:
            if session.token and session.token != stale:
                return session.token
            token = await self._refresh(stale) if stale else None
            session.token = token or await self._login(email, password)
            return session.token

    async def _call(self, path: str, body: dict[str, Any], *, is_send: bool) -> httpx.Response:
        url = f"{self.base_url}{path}"
        token = await self._token()
        for attempt in range(2):
            headers = {"Authorization": f"Bearer {token}"}
            try:
                if is_send:
                    return await self._send("POST", url, json=body, headers=headers)
                return await self._read(
                    "POST",
                    url,
                    json=body,
                    headers=headers,
                )
            except BspError as exc:
                # A 401 was refused before anything happened: re-authenticate and try once more.
                if exc.http_status != 401 or attempt:
                    raise
                token = await self._token(stale=token)
        raise AssertionError("unreachable")

    # ---- API ---------------------------------------------------------------------------------

    async def list_templates(self) -> list[Template]:
        body: dict[str, Any] = {}
        if self.channel.fortics_channel_id:
            body["channel_id"] = self.channel.fortics_channel_id
        data = _unwrap(bsp_http.json_or_none(await self._call("/hsm/listAll", body, is_send=False)))
        if not isinstance(data, list):
            raise BspError("bad_response", "Fortics' HSM list is not a list")
        return self._templates(data, parse_hsm)

    def _message_body(self, to: str, text: str) -> dict[str, Any]:
        return {
            "platform_id": to.strip().removeprefix("+"),
            "channel_id": self.channel.fortics_channel_id,
            "type": "text",
            "message": text,
        }

    async def send_template(self, to: str, send: TemplateSend) -> SendResult:
        values = dict(send.values)
        body = self._message_body(to, render_preview(send.template, values).body)
        body.update(
            is_hsm=True,
            hsm_template_name=send.template.name,
            hsm_placeholders=[values.get(v.key, "") for v in template_variables(send.template)],
        )
        return await self._send_message(body)

    async def send_text(self, to: str, text: str) -> SendResult:
        body = self._message_body(to, text)
        body["is_hsm"] = False
        return await self._send_message(body)

    async def _send_message(self, body: dict[str, Any]) -> SendResult:
        data = bsp_http.json_or_none(await self._call("/message/send", body, is_send=True))
        message_id = None
        for node in (data, _unwrap(data)):
            if isinstance(node, Mapping):
                for key in ("id", "message_id", "_id"):
                    if node.get(key) not in (None, ""):
                        message_id = str(node[key])
                        break
            if message_id:
                break
        # The send happened; a unique local id keeps the record distinct (assumption 6).
        return SendResult(
            message_id=message_id or f"fortics-{uuid.uuid4()}", raw=data if isinstance(data, dict) else None
        )

    # ---- webhooks ----------------------------------------------------------------------------

    def authenticate_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> bool:
        """`X-Webhook-Secret` equal to the channel's webhook secret (see bsp_http)."""
        return bsp_http.webhook_secret_ok(self.channel, headers)

    def parse_webhook(self, payload: Any) -> list[WebhookEvent]:
        return parse_receptiva(payload)


def _parse_time(value: Any, path: str) -> datetime:
    if isinstance(value, str) and not value.strip().replace(".", "", 1).isdigit():
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise WebhookShapeError(path, f"not a timestamp: {value[:40]!r}") from None
        # A naive time from SZ.chat is taken as UTC (assumption; Brazil has no DST since 2019).
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return parse_timestamp(value, path)


def parse_receptiva(payload: Any) -> list[WebhookEvent]:
    """An "API Receptiva" body: `client_message` -> InboundMessage; other events ignored."""
    if not isinstance(payload, Mapping):
        raise WebhookShapeError("payload", "expected an object")
    data = payload.get("data")
    if not isinstance(data, Mapping):
        raise WebhookShapeError("data", "missing" if data is None else "expected an object")
    webhook = bsp_http.mapping(payload.get("webhook"))
    event = data.get("event") or webhook.get("event") or payload.get("event")
    if event != "client_message":
        return []
    platform_id = data.get("platform_id")
    if not isinstance(platform_id, str | int) or not str(platform_id):
        raise WebhookShapeError("data.platform_id", "missing")
    message_id = next(
        (str(data[k]) for k in ("id", "message_id", "_id") if data.get(k) not in (None, "")), None
    )
    if not message_id:
        raise WebhookShapeError("data.id", "missing")
    text = data.get("message")
    return [
        InboundMessage(
            message_id=message_id,
            wa_id=str(platform_id).removeprefix("+"),
            at=_parse_time(data.get("created_at"), "data.created_at"),
            type="text",
            text=text if isinstance(text, str) else None,
        )
    ]
