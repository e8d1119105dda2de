"""Twilio (WhatsApp through the Content API and the Messages API); window data DERIVED.

Templates: `GET https://content.twilio.com/v1/ContentAndApprovals` (basic auth account SID :
auth token), paging on `meta.next_page_url`. Each item is a Content (`HX...` SID) whose
`approval_requests` says its WhatsApp name, category and status; its text is in `types`.
Sends: `POST https://api.twilio.com/2010-04-01/Accounts/{sid}/Messages.json`, form-encoded
`To=whatsapp:+E164`, `From=whatsapp:+E164` or `MessagingServiceSid`, and `ContentSid` +
`ContentVariables` (JSON `{"1": ...}`) or `Body` for free text.
Webhooks: form-encoded status callbacks signed with `X-Twilio-Signature` = base64(HMAC-SHA1(auth
token, URL + every POST parameter name and value sorted by name)); a secret header
`X-Webhook-Secret` is also accepted. Inbound messages (`SmsStatus=received`) open the customer
service window. Neither carries an event time: events are timed at the delivery's receipt
(`at_receipt`), the stored receipt time when a body is parsed again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

import httpx

from bot.bsp import http as bsp_http
from bot.bsp.adapter import Adapter
from bot.bsp.base import (
    BspError,
    InboundMessage,
    ProviderError,
    SendResult,
    SessionData,
    StatusUpdate,
    TemplateSend,
    WebhookEvent,
    WebhookShapeError,
)
from bot.bsp.twilio.channel import TwilioChannel
from bot.rules.templates import Template, TemplateButton, normalise_category, template_variables

log = logging.getLogger(__name__)

CONTENT_URL = "https://content.twilio.com/v1/ContentAndApprovals"
API_URL = "https://api.twilio.com/2010-04-01"
MAX_PAGES = 100
SIGNATURE_HEADER = "X-Twilio-Signature"
WEBHOOK_SECRET_HEADER = "X-Webhook-Secret"
# Twilio's MessageStatus -> the statuses the rest of the product knows.
_STATUSES = {
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "failed": "failed",
    "undelivered": "failed",
}
_BODY_TYPES = (
    "twilio/text",
    "twilio/quick-reply",
    "twilio/call-to-action",
    "twilio/list-picker",
    "twilio/media",
    "whatsapp/authentication",
    "whatsapp/card",
    "twilio/card",
)


def parse_error(data: Any, http_status: int | None) -> BspError:
    """Twilio's `{"code", "message", "more_info", "status"}` as BspError (code e.g. "63016")."""
    if isinstance(data, Mapping) and data.get("code") is not None:
        code = str(data["code"])
        if code == "20003" or http_status == 401:  # "Authenticate": bad SID or token
            return BspError("invalid_api_key", str(data.get("message") or ""), http_status=http_status)
        return BspError(code, str(data.get("message") or ""), http_status=http_status)
    if http_status == 401:
        return BspError("invalid_api_key", "Twilio refused the account SID or auth token", http_status=401)
    return BspError(f"http_{http_status}", "Twilio answered with an error", http_status=http_status)


def parse_content(item: Any) -> Template:
    """One ContentAndApprovals item as a Template (provider_ref = the HX content SID)."""
    if not isinstance(item, Mapping) or not item.get("sid"):
        raise ValueError("a Twilio content without a sid")
    approvals = item.get("approval_requests")
    approval = bsp_http.mapping(approvals)
    types = bsp_http.mapping(item.get("types"))
    body = ""
    buttons: list[TemplateButton] = []
    for kind in _BODY_TYPES:
        part = types.get(kind)
        if isinstance(part, Mapping):
            body = str(part.get("body") or part.get("title") or "")
            for action in part.get("actions") or []:
                if isinstance(action, Mapping):
                    buttons.append(
                        TemplateButton(
                            type=str(action.get("type") or "").upper(),
                            text=str(action.get("title") or ""),
                            url=action.get("url") if isinstance(action.get("url"), str) else None,
                            phone_number=action.get("phone")
                            if isinstance(action.get("phone"), str)
                            else None,
                        )
                    )
            break
    raw_category = str(approval.get("category") or "")
    status = approval.get("status") or "unsubmitted"
    return Template(
        name=str(approval.get("name") or item.get("friendly_name") or item["sid"]),
        language=str(item.get("language") or "en"),
        category=normalise_category(raw_category),
        status=str(status).upper(),
        raw_category=raw_category,
        body_text=body,
        buttons=tuple(buttons),
        provider_ref=str(item["sid"]),
    )


def content_variables(send: TemplateSend) -> dict[str, str]:
    """`ContentVariables` for a send: Twilio numbers every variable globally, so "body.1" is "1"
    and a URL button's `{{n}}` suffix is "n"."""
    template = send.template
    variables: dict[str, str] = {}
    for variable in template_variables(template):
        value = send.values.get(variable.key, "")
        if variable.component == "button":
            url = template.buttons[int(variable.name)].url or ""
            start, end = url.rfind("{{"), url.rfind("}}")
            if start != -1 and end > start:
                variables[url[start + 2 : end].strip()] = value
        else:
            variables[variable.name] = value
    return variables


class TwilioProvider(Adapter[TwilioChannel]):
    """One WhatsApp sender on a Twilio account."""

    # Inbound messages (timed at receipt) give the customer service window; no conversations.
    session_data = SessionData.DERIVED
    parse_error = staticmethod(parse_error)

    @property
    def content_url(self) -> str:
        """Content API list; under the channel's `base_url` (a proxy, a test double) when set."""
        return f"{self.base_url}/v1/ContentAndApprovals" if self.channel.base_url else CONTENT_URL

    @property
    def api_url(self) -> str:
        """Messages API root; under the channel's `base_url` when set (it was ignored before)."""
        return f"{self.base_url}/2010-04-01" if self.channel.base_url else API_URL

    def _sid(self) -> str:
        if not self.channel.account_sid:
            raise self._missing("account_sid")
        return self.channel.account_sid

    def _auth(self) -> httpx.BasicAuth:
        return httpx.BasicAuth(self._sid(), bsp_http.require_secret(self.channel, "auth_token_env"))

    async def list_templates(self) -> list[Template]:
        auth = self._auth()
        templates: list[Template] = []
        url: str | None = self.content_url
        params: dict[str, int] | None = {"PageSize": 100}
        for _ in range(MAX_PAGES):
            if not url:
                break
            response = await self._read(
                "GET",
                url,
                params=params,
                auth=auth,
            )
            page = bsp_http.json_or_none(response)
            if not isinstance(page, Mapping) or not isinstance(page.get("contents"), list):
                raise BspError("bad_response", "Twilio's content list has no contents")
            templates += self._templates(page["contents"], parse_content)
            page_meta = bsp_http.mapping(page.get("meta"))
            next_url = page_meta.get("next_page_url")
            # Only follow Twilio's own host: the credentials go with the request.
            url = next_url if isinstance(next_url, str) and _same_host(next_url, self.content_url) else None
            params = None  # next_page_url carries its own query
        return templates

    def _form(self, to: str) -> dict[str, str]:
        number = to.strip()
        form = {"To": f"whatsapp:{number if number.startswith('+') else '+' + number}"}
        service = self.channel.messaging_service_sid
        sender = self.channel.from_number or self.channel.number
        if service:
            form["MessagingServiceSid"] = str(service)
        elif sender:
            form["From"] = f"whatsapp:{sender}"
        else:
            raise BspError(
                "missing_credentials",
                f"channel {self.channel.id} has no messaging_service_sid or from_number",
            )
        return form

    async def send_template(self, to: str, send: TemplateSend) -> SendResult:
        if not send.template.provider_ref:
            raise BspError("template_not_found", f"template {send.template.name} has no Twilio content SID")
        form = self._form(to)
        form["ContentSid"] = send.template.provider_ref
        variables = content_variables(send)
        if variables:
            form["ContentVariables"] = json.dumps(variables, ensure_ascii=False)
        return await self._post_form(form)

    async def send_text(self, to: str, text: str) -> SendResult:
        form = self._form(to)
        form["Body"] = text
        return await self._post_form(form)

    async def _post_form(self, form: dict[str, str]) -> SendResult:
        response = await self._send(
            "POST", f"{self.api_url}/Accounts/{self._sid()}/Messages.json", data=form, auth=self._auth()
        )
        data = bsp_http.json_or_none(response)
        if not isinstance(data, Mapping) or not data.get("sid"):
            raise BspError("bad_response", "Twilio accepted the message but returned no sid")
        return SendResult(message_id=str(data["sid"]), raw=dict(data))

    # ---- webhooks ----------------------------------------------------------------------------

    def authenticate_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> bool:
        """A valid `X-Twilio-Signature` for this channel's webhook URL, or the secret header."""
        secret = bsp_http.optional_secret(self.channel, "webhook_secret_env")
        if secret and bsp_http.secret_matches(secret, bsp_http.header(headers, WEBHOOK_SECRET_HEADER)):
            return True
        token = bsp_http.optional_secret(self.channel, "auth_token_env")
        signature = bsp_http.header(headers, SIGNATURE_HEADER)
        host = bsp_http.header(headers, "X-Forwarded-Host") or bsp_http.header(headers, "Host")
        if not token or not signature or not host:
            return False
        params = dict(parse_qsl(raw_body.decode("utf-8", "replace"), keep_blank_values=True))
        path = f"/webhooks/{self.channel.id}"
        # The URL Twilio signed is the one configured there; behind a proxy the scheme is
        # usually https, so both schemes are tried (each compared in constant time).
        return any(
            # Bytes, not str: compare_digest raises TypeError on non-ASCII text (an attacker's header).
            hmac.compare_digest(
                twilio_signature(token, f"{scheme}://{host}{path}", params).encode(),
                signature.encode("utf-8", "surrogateescape"),
            )
            for scheme in ("https", "http")
        )

    def parse_webhook(self, payload: Any) -> list[WebhookEvent]:
        return parse_status_callback(payload, self.clock())


def twilio_signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """Twilio's request signature: base64(HMAC-SHA1(token, url + name1 + value1 + ...))."""
    data = url + "".join(f"{name}{params[name]}" for name in sorted(params))
    return base64.b64encode(hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def parse_status_callback(payload: Any, received_at: datetime) -> list[WebhookEvent]:
    """A status callback or an inbound message (form fields as a dict, or the raw urlencoded
    body) -> StatusUpdate / InboundMessage, both timed at receipt (`at_receipt`: Twilio sends no
    event time). Intermediate states (queued, accepted, sending) give no event.
    """
    if isinstance(payload, bytes | str):
        text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload
        payload = dict(parse_qsl(text, keep_blank_values=True))
    if not isinstance(payload, Mapping):
        raise WebhookShapeError("payload", "expected form fields")
    raw_status = payload.get("MessageStatus") or payload.get("SmsStatus")
    if raw_status is None:
        return []
    if str(raw_status).lower() == "received":
        return _inbound(payload, received_at)
    status = _STATUSES.get(str(raw_status).lower())
    if status is None:
        return []
    sid = payload.get("MessageSid") or payload.get("SmsSid")
    if not sid:
        raise WebhookShapeError("MessageSid", "missing")
    errors: tuple[ProviderError, ...] = ()
    if payload.get("ErrorCode"):
        errors = (
            ProviderError(code=str(payload["ErrorCode"]), detail=str(payload.get("ErrorMessage") or "")),
        )
    recipient = str(payload.get("To") or "").removeprefix("whatsapp:").removeprefix("+")
    return [
        StatusUpdate(
            message_id=str(sid),
            status=status,
            at=received_at,
            recipient_wa_id=recipient,
            errors=errors,
            at_receipt=True,
        )
    ]


def _inbound(payload: Mapping[str, Any], received_at: datetime) -> list[WebhookEvent]:
    """A customer's WhatsApp message (`SmsStatus=received`): `WaId` (or `From`), `ProfileName`,
    `Body`, and `Referral*` fields when it came from a Click-to-WhatsApp ad."""
    sid = payload.get("MessageSid") or payload.get("SmsMessageSid") or payload.get("SmsSid")
    if not sid:
        raise WebhookShapeError("MessageSid", "missing")
    wa_id = str(payload.get("WaId") or "").strip() or (
        str(payload.get("From") or "").removeprefix("whatsapp:").strip().removeprefix("+")
    )
    if not wa_id:
        raise WebhookShapeError("From", "missing: no sender")
    referral = {key: str(value) for key, value in payload.items() if str(key).startswith("Referral")}
    media = str(payload.get("NumMedia") or "0")
    return [
        InboundMessage(
            message_id=str(sid),
            wa_id=wa_id,
            at=received_at,
            type="text" if payload.get("Body") or media in ("", "0") else "media",
            profile_name=str(payload.get("ProfileName") or "") or None,
            text=str(payload.get("Body") or "") or None,
            referral=referral or None,
            context_id=str(payload.get("OriginalRepliedMessageSid") or "") or None,
            at_receipt=True,
        )
    ]


def _same_host(url: str, reference: str) -> bool:
    try:
        return httpx.URL(url).host == httpx.URL(reference).host
    except Exception:
        return False
