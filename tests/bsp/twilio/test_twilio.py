"""Twilio adapter: Content API paging, Messages API form, signed status callbacks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
import respx

from bot.bsp.base import BspError, ProviderError, SessionData, StatusUpdate, TemplateSend
from bot.bsp.twilio import adapter as twilio
from bot.bsp.twilio.channel import TwilioChannel
from bot.rules.events import Category
from tests.bsp import NOW, clock, make_channel

SID = "AC0123456789abcdef0123456789abcdef"
CONTENT = "https://content.twilio.com/v1/ContentAndApprovals"
MESSAGES = f"https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages.json"
ENV = {"TW_TOKEN": "tw-token"}


def content(
    sid: str, name: str, status: str = "approved", types: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "sid": sid,
        "friendly_name": name,
        "language": "pt_BR",
        "variables": {"1": "Ana"},
        "types": types or {"twilio/text": {"body": "Olá {{1}}"}},
        "approval_requests": {"name": name, "category": "UTILITY", "status": status, "rejection_reason": ""},
    }


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


def provider(
    http: httpx.AsyncClient, env: dict[str, str] | None = None, **fields: object
) -> twilio.TwilioProvider:
    settings: dict[str, object] = {
        "account_sid": SID,
        "auth_token_env": "TW_TOKEN",
        "from_number": "+5511999990000",
        **fields,
    }
    return twilio.TwilioProvider(
        make_channel(TwilioChannel, ENV if env is None else env, **settings), http, clock, retry_delays=(0, 0)
    )


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_build() -> None:
    built = twilio.TwilioProvider.build(make_channel(TwilioChannel, ENV), httpx.AsyncClient(), None, clock)
    # Issue 13: was NONE; inbound messages (timed at receipt) now give the customer service window.
    assert built.session_data is SessionData.DERIVED and built.clock is clock


@respx.mock
async def test_templates_follow_next_page_url(http: httpx.AsyncClient) -> None:
    cta = {
        "body": "Pedido {{1}} saiu",
        "actions": [{"type": "URL", "title": "Ver", "url": "https://l.co/{{2}}"}],
    }
    page1 = {
        "contents": [content("HX1", "pedido", types={"twilio/call-to-action": cta})],
        "meta": {
            "page": 0,
            "page_size": 1,
            "next_page_url": f"{CONTENT}?PageSize=1&Page=1&PageToken=PT1",
            "key": "contents",
        },
    }
    page2 = {
        "contents": [content("HX2", "promo", status="rejected")],
        "meta": {"page": 1, "page_size": 1, "next_page_url": None, "key": "contents"},
    }
    route = respx.get(CONTENT).mock(
        side_effect=[httpx.Response(200, json=page1), httpx.Response(200, json=page2)]
    )
    first, second = await provider(http).list_templates()
    assert route.calls[0].request.headers["Authorization"] == basic(SID, "tw-token")
    assert route.calls[0].request.url.params["PageSize"] == "100"
    assert route.calls[1].request.url.params["PageToken"] == "PT1"
    assert (first.name, first.provider_ref, first.category, first.approved) == (
        "pedido",
        "HX1",
        Category.UTILITY,
        True,
    )
    assert first.body_text == "Pedido {{1}} saiu" and first.buttons[0].url == "https://l.co/{{2}}"
    assert (second.status, second.approved) == ("REJECTED", False)


@respx.mock
async def test_send_template_form(http: httpx.AsyncClient) -> None:
    route = respx.post(MESSAGES).mock(
        return_value=httpx.Response(201, json={"sid": "SM1", "status": "queued"})
    )
    cta = {
        "body": "Pedido {{1}} saiu",
        "actions": [{"type": "URL", "title": "Ver", "url": "https://l.co/{{2}}"}],
    }
    template = twilio.parse_content(content("HX1", "pedido", types={"twilio/call-to-action": cta}))
    result = await provider(http).send_template(
        "+5511988887777", TemplateSend(template, {"body.1": "42", "button.0": "abc"})
    )
    assert result.message_id == "SM1"
    request = route.calls[0].request
    assert request.headers["Authorization"] == basic(SID, "tw-token")
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    form = dict(parse_qsl(request.content.decode()))
    assert form == {
        "To": "whatsapp:+5511988887777",
        "From": "whatsapp:+5511999990000",
        "ContentSid": "HX1",
        "ContentVariables": json.dumps({"1": "42", "2": "abc"}),
    }


@respx.mock
async def test_send_text_with_messaging_service(http: httpx.AsyncClient) -> None:
    route = respx.post(MESSAGES).mock(return_value=httpx.Response(201, json={"sid": "SM2"}))
    await provider(http, messaging_service_sid="MG1").send_text("5511988887777", "Oi")
    form = dict(parse_qsl(route.calls[0].request.content.decode()))
    assert form == {"To": "whatsapp:+5511988887777", "MessagingServiceSid": "MG1", "Body": "Oi"}


@respx.mock
async def test_errors_and_timeouts(http: httpx.AsyncClient) -> None:
    route = respx.post(MESSAGES).mock(
        side_effect=[
            httpx.Response(400, json={"code": 63016, "message": "outside the allowed window", "status": 400}),
            httpx.Response(401, json={"code": 20003, "message": "Authenticate", "status": 401}),
            httpx.ReadTimeout("slow"),
        ]
    )
    p = provider(http)
    codes = []
    for _ in range(3):
        with pytest.raises(BspError) as info:
            await p.send_text("+5511988887777", "Oi")
        codes.append((info.value.code, info.value.outcome_unknown))
    assert codes == [("63016", False), ("invalid_api_key", False), ("timeout", True)]
    assert route.call_count == 3


async def test_missing_token(http: httpx.AsyncClient) -> None:
    with pytest.raises(BspError) as info:
        await provider(http, env={}).list_templates()
    assert info.value.code == "missing_credentials" and "TW_TOKEN" in info.value.message


def signature(url: str, params: dict[str, str], token: str = "tw-token") -> str:
    data = url + "".join(k + params[k] for k in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


CALLBACK = {
    "MessageSid": "SM1",
    "MessageStatus": "undelivered",
    "To": "whatsapp:+5511988887777",
    "From": "whatsapp:+5511999990000",
    "AccountSid": SID,
    "ErrorCode": "63016",
    "ErrorMessage": "outside window",
}


def test_signed_status_callback(http: httpx.AsyncClient) -> None:
    raw = urlencode(CALLBACK).encode()
    url = "https://bot.acme.com/webhooks/sales"
    p = provider(http)
    assert p.authenticate_webhook(
        {"Host": "bot.acme.com", "X-Twilio-Signature": signature(url, CALLBACK)}, raw
    )
    assert not p.authenticate_webhook(
        {"Host": "bot.acme.com", "X-Twilio-Signature": signature(url, CALLBACK, "x")}, raw
    )
    tampered = urlencode({**CALLBACK, "MessageStatus": "read"}).encode()
    assert not p.authenticate_webhook(
        {"Host": "bot.acme.com", "X-Twilio-Signature": signature(url, CALLBACK)}, tampered
    )
    assert not p.authenticate_webhook({"Host": "bot.acme.com"}, raw)
    with_secret = provider(http, env={**ENV, "TW_HOOK": "s"}, webhook_secret_env="TW_HOOK")
    assert with_secret.authenticate_webhook({"X-Webhook-Secret": "s"}, raw)
    assert not with_secret.authenticate_webhook({"X-Webhook-Secret": "t"}, raw)


def test_status_callback_parsing(http: httpx.AsyncClient) -> None:
    p = provider(http)
    assert p.parse_webhook(CALLBACK) == [
        StatusUpdate(
            message_id="SM1",
            status="failed",
            at=NOW,
            recipient_wa_id="5511988887777",
            errors=(ProviderError(code="63016", detail="outside window"),),
        )
    ]
    (event,) = p.parse_webhook(urlencode({**CALLBACK, "MessageStatus": "read", "ErrorCode": ""}))
    assert isinstance(event, StatusUpdate) and event.status == "read" and event.errors == ()
    assert p.parse_webhook({**CALLBACK, "MessageStatus": "queued"}) == []
    assert p.parse_webhook({"MessageSid": "SM9", "Body": "inbound"}) == []


@respx.mock
async def test_base_url_is_honoured_for_sends_and_templates(http: httpx.AsyncClient) -> None:
    """Issue 13: Twilio's adapter ignored the channel's `base_url` (a proxy, a regional edge)."""
    base = "https://twilio-proxy.example.com/"
    sent = respx.post(f"https://twilio-proxy.example.com/2010-04-01/Accounts/{SID}/Messages.json").mock(
        return_value=httpx.Response(201, json={"sid": "SM9", "status": "queued"})
    )
    listed = respx.get("https://twilio-proxy.example.com/v1/ContentAndApprovals").mock(
        return_value=httpx.Response(200, json={"contents": [], "meta": {"next_page_url": None}})
    )
    adapter = provider(http, base_url=base)
    assert (await adapter.send_text("+5511988887777", "oi")).message_id == "SM9"
    assert await adapter.list_templates() == []
    assert sent.called and listed.called
