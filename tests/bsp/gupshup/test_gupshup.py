"""Gupshup adapter: partner template list, v3 message API, v3/v2 webhooks."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
import respx

from bot.bsp.base import BspError, SessionData, StatusUpdate, TemplateSend, WebhookShapeError
from bot.bsp.gupshup import adapter as gupshup
from bot.bsp.gupshup.channel import GupshupChannel
from bot.rules.events import Category
from tests.bsp import clock, make_channel
from tests.conftest import load_fixture

APP = "https://partner.gupshup.io/partner/app/app-uuid-1"
ENV = {"GS_TOKEN": "sk_app_token", "GS_HOOK": "hook"}
TEMPLATES = {
    "status": "success",
    "templates": [
        {
            "id": "a8e0a9c1-0000",
            "elementName": "pedido_enviado",
            "languageCode": "pt_BR",
            "category": "UTILITY",
            "status": "APPROVED",
            "templateType": "TEXT",
            "data": "Olá {{1}}, seu pedido saiu.\nLoja | [Ver,https://l.co/{{1}}]",
            "containerMeta": json.dumps(
                {
                    "header": "Pedido",
                    "data": "Olá {{1}}, seu pedido saiu.",
                    "footer": "Loja",
                    "buttons": [{"type": "URL", "text": "Ver", "url": "https://l.co/{{1}}"}],
                }
            ),
        },
        {
            "id": "b",
            "elementName": "promo",
            "languageCode": "en",
            "category": "MARKETING",
            "status": "REJECTED",
            "templateType": "IMAGE",
            "data": "Sale {{1}}",
            "containerMeta": "not json",
        },
        {"id": "c", "languageCode": "en"},  # no name: skipped
    ],
}


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


def provider(http: httpx.AsyncClient, env: dict[str, str] | None = None) -> gupshup.GupshupProvider:
    channel = make_channel(
        GupshupChannel,
        ENV if env is None else env,
        app_id="app-uuid-1",
        app_token_env="GS_TOKEN",
        webhook_secret_env="GS_HOOK",
        source_number="5511999990000",
    )
    return gupshup.GupshupProvider(channel, http, clock, retry_delays=(0, 0))


def test_build() -> None:
    built = gupshup.GupshupProvider.build(make_channel(GupshupChannel, ENV), httpx.AsyncClient(), None, clock)
    # Issue 13: was NONE ("templates only"); v3 is Meta's envelope and v2 now feeds the windows.
    assert built.session_data is SessionData.FULL


@respx.mock
async def test_templates(http: httpx.AsyncClient) -> None:
    route = respx.get(f"{APP}/templates").mock(return_value=httpx.Response(200, json=TEMPLATES))
    first, second = await provider(http).list_templates()
    assert route.calls[0].request.headers["Authorization"] == "sk_app_token"
    assert (first.name, first.language, first.category, first.status) == (
        "pedido_enviado",
        "pt_BR",
        Category.UTILITY,
        "APPROVED",
    )
    assert first.body_text == "Olá {{1}}, seu pedido saiu." and first.header_text == "Pedido"
    assert first.buttons[0].url == "https://l.co/{{1}}" and first.provider_ref == "a8e0a9c1-0000"
    assert (second.body_text, second.header_format, second.approved) == ("Sale {{1}}", "IMAGE", False)


@respx.mock
async def test_send_uses_the_v3_message_api(http: httpx.AsyncClient) -> None:
    route = respx.post(f"{APP}/v3/message").mock(
        return_value=httpx.Response(200, json=load_fixture("cloudapi-send-response.json"))
    )
    template = gupshup.parse_gupshup_template(TEMPLATES["templates"][0])
    result = await provider(http).send_template(
        "+5511988887777", TemplateSend(template, {"body.1": "Ana", "button.0": "X1"})
    )
    assert result.message_id.startswith("wamid.")
    request = route.calls[0].request
    assert request.headers["Authorization"] == "sk_app_token"
    body = json.loads(request.content)
    assert body["to"] == "5511988887777" and body["messaging_product"] == "whatsapp"
    assert body["template"]["components"] == [
        {"type": "body", "parameters": [{"type": "text", "text": "Ana"}]},
        {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "X1"}]},
    ]


@respx.mock
async def test_send_error_470_and_timeout(http: httpx.AsyncClient) -> None:
    route = respx.post(f"{APP}/v3/message").mock(
        side_effect=[
            httpx.Response(400, json={"error": {"code": 470, "message": "outside the support window"}}),
            httpx.ReadTimeout("slow"),
        ]
    )
    with pytest.raises(BspError) as info:
        await provider(http).send_text("+5511988887777", "oi")
    assert info.value.code == "470"
    with pytest.raises(BspError) as info:
        await provider(http).send_text("+5511988887777", "oi")
    assert info.value.outcome_unknown and route.call_count == 2


@respx.mock
async def test_bad_token(http: httpx.AsyncClient) -> None:
    respx.get(f"{APP}/templates").mock(
        return_value=httpx.Response(401, json={"status": "error", "message": "Invalid"})
    )
    with pytest.raises(BspError) as info:
        await provider(http).list_templates()
    assert info.value.code == "invalid_api_key"


async def test_missing_token(http: httpx.AsyncClient) -> None:
    with pytest.raises(BspError) as info:
        await provider(http, env={}).list_templates()
    assert info.value.code == "missing_credentials" and "GS_TOKEN" in info.value.message


def test_webhooks(http: httpx.AsyncClient) -> None:
    p = provider(http)
    assert p.authenticate_webhook({"X-Webhook-Secret": "hook"}, b"{}")
    assert not p.authenticate_webhook({"X-Webhook-Secret": "x"}, b"{}")
    assert not p.authenticate_webhook({}, b"{}")
    (event,) = p.parse_webhook(load_fixture("gupshup-v3-status-sent-pmp.json"))
    assert isinstance(event, StatusUpdate) and event.status == "sent"
    v2 = {
        "app": "DemoApp",
        "timestamp": 1580227766370,
        "version": 2,
        "type": "message-event",
        "payload": {
            "id": "ee4a68a0",
            "type": "delivered",
            "destination": "5511988887777",
            "payload": {"ts": 1},
        },
    }
    # Issue 13: v2 events were accepted and ignored (== []); now a status like Meta's.
    (status,) = p.parse_webhook(v2)
    assert isinstance(status, StatusUpdate)
    assert (status.message_id, status.status, status.recipient_wa_id) == (
        "ee4a68a0",
        "delivered",
        "5511988887777",
    )
    assert p.parse_webhook({**v2, "type": "billing-event"}) == []
    with pytest.raises(WebhookShapeError):
        p.parse_webhook({"hello": "world"})
