"""Fortics (SZ.chat) adapter: one shared login per account, refresh on 401, HSM list, send, API
Receptiva webhooks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx

from bot.bsp.base import BspError, InboundMessage, SessionData, TemplateSend, WebhookShapeError
from bot.bsp.fortics import adapter as fortics
from bot.bsp.fortics.channel import ForticsChannel
from tests.bsp import clock, make_channel

BASE = "https://acme.sz.chat/api/v4"
ENV = {"SZ_EMAIL": "bot@acme.com", "SZ_PASSWORD": "pw", "SZ_HOOK": "hook"}
HSM = [
    {
        "name": "boas_vindas",
        "category": "UTILITY",
        "message": ["Olá {{1}},", "seu pedido {{2}} saiu."],
        "tags": [{"placeholder": "{{1}}", "tags_value": "nome"}],
        "broker": {"name": "meta", "status": "APPROVED"},
    },
    {"name": "promo", "category": "MARKETING", "message": "Promoção!", "broker": {"status": "pending"}},
    {"category": "UTILITY"},  # no name: skipped
]


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


def provider(http: httpx.AsyncClient, sessions: dict, env: dict[str, str] | None = None, **fields: object):
    settings: dict[str, object] = {
        "tenant": "acme",
        "email_env": "SZ_EMAIL",
        "password_env": "SZ_PASSWORD",
        "webhook_secret_env": "SZ_HOOK",
        "fortics_channel_id": "ch-9",
        **fields,
    }
    channel = make_channel(ForticsChannel, ENV if env is None else env, **settings)
    return fortics.ForticsProvider(channel, http, clock, retry_delays=(0, 0), sessions=sessions)


def test_build() -> None:
    built = fortics.ForticsProvider.build(
        make_channel(ForticsChannel, ENV, tenant="acme"), httpx.AsyncClient(), None, clock
    )
    assert built.session_data is SessionData.DERIVED and built.base_url == BASE
    elsewhere = make_channel(ForticsChannel, ENV, base_url="https://x.test/api/")
    assert fortics.ForticsProvider.build(elsewhere, httpx.AsyncClient(), None, clock).base_url == (
        "https://x.test/api"
    )


@respx.mock
async def test_login_once_then_list_templates(http: httpx.AsyncClient) -> None:
    login = respx.post(f"{BASE}/auth/login").mock(return_value=httpx.Response(200, json={"token": "T1"}))
    listing = respx.post(f"{BASE}/hsm/listAll").mock(return_value=httpx.Response(200, json={"data": HSM}))
    sessions: dict = {}
    p = provider(http, sessions)
    templates = await p.list_templates()
    await p.list_templates()
    assert login.call_count == 1 and listing.call_count == 2
    assert json.loads(login.calls[0].request.content) == {"email": "bot@acme.com", "password": "pw"}
    request = listing.calls[0].request
    assert request.headers["Authorization"] == "Bearer T1"
    assert json.loads(request.content) == {"channel_id": "ch-9"}
    assert [(t.name, t.status, t.language) for t in templates] == [
        ("boas_vindas", "APPROVED", "pt_BR"),
        ("promo", "PENDING", "pt_BR"),
    ]
    assert templates[0].body_text == "Olá {{1}},\nseu pedido {{2}} saiu."


@respx.mock
async def test_one_session_per_account_even_when_concurrent(http: httpx.AsyncClient) -> None:
    login = respx.post(f"{BASE}/auth/login").mock(
        return_value=httpx.Response(200, json={"data": {"token": "T1"}})
    )
    respx.post(f"{BASE}/hsm/listAll").mock(return_value=httpx.Response(200, json=[]))
    sessions: dict = {}
    a, b = provider(http, sessions), provider(http, sessions, fortics_channel_id="ch-10")
    await asyncio.gather(a.list_templates(), b.list_templates(), a.list_templates())
    assert login.call_count == 1


@respx.mock
async def test_401_refreshes_the_token_and_retries_once(http: httpx.AsyncClient) -> None:
    respx.post(f"{BASE}/auth/login").mock(return_value=httpx.Response(200, json={"token": "T1"}))
    refresh = respx.post(f"{BASE}/auth/refresh").mock(return_value=httpx.Response(200, json={"token": "T2"}))
    send = respx.post(f"{BASE}/message/send").mock(
        side_effect=[
            httpx.Response(401, json={"message": "expired"}),
            httpx.Response(200, json={"id": "m-1"}),
        ]
    )
    result = await provider(http, {}).send_text("+5511988887777", "Olá")
    assert result.message_id == "m-1"
    assert refresh.calls[0].request.headers["Authorization"] == "Bearer T1"
    assert [c.request.headers["Authorization"] for c in send.calls] == ["Bearer T1", "Bearer T2"]
    assert json.loads(send.calls[1].request.content) == {
        "platform_id": "5511988887777",
        "channel_id": "ch-9",
        "type": "text",
        "message": "Olá",
        "is_hsm": False,
    }


@respx.mock
async def test_failed_refresh_logs_in_again(http: httpx.AsyncClient) -> None:
    login = respx.post(f"{BASE}/auth/login").mock(
        side_effect=[httpx.Response(200, json={"token": "T1"}), httpx.Response(200, json={"token": "T3"})]
    )
    respx.post(f"{BASE}/auth/refresh").mock(return_value=httpx.Response(401, json={"message": "no"}))
    listing = respx.post(f"{BASE}/hsm/listAll").mock(
        side_effect=[httpx.Response(401), httpx.Response(200, json=[])]
    )
    assert await provider(http, {}).list_templates() == []
    assert login.call_count == 2
    assert listing.calls[1].request.headers["Authorization"] == "Bearer T3"


@respx.mock
async def test_bad_login_is_invalid_key(http: httpx.AsyncClient) -> None:
    respx.post(f"{BASE}/auth/login").mock(return_value=httpx.Response(401, json={"message": "Credenciais"}))
    with pytest.raises(BspError) as info:
        await provider(http, {}).list_templates()
    assert info.value.code == "invalid_api_key"


async def test_missing_password(http: httpx.AsyncClient) -> None:
    with pytest.raises(BspError) as info:
        await provider(http, {}, env={"SZ_EMAIL": "x"}).list_templates()
    assert info.value.code == "missing_credentials" and "SZ_PASSWORD" in info.value.message


@respx.mock
async def test_send_template_as_hsm(http: httpx.AsyncClient) -> None:
    respx.post(f"{BASE}/auth/login").mock(return_value=httpx.Response(200, json={"token": "T1"}))
    send = respx.post(f"{BASE}/message/send").mock(return_value=httpx.Response(200, json={"ok": True}))
    template = fortics.parse_hsm(HSM[0])
    result = await provider(http, {}).send_template(
        "+5511988887777", TemplateSend(template, {"body.1": "Ana", "body.2": "42"})
    )
    assert result.message_id.startswith("fortics-")  # no id in the answer: a unique local one
    assert json.loads(send.calls[0].request.content) == {
        "platform_id": "5511988887777",
        "channel_id": "ch-9",
        "type": "text",
        "message": "Olá Ana,\nseu pedido 42 saiu.",
        "is_hsm": True,
        "hsm_template_name": "boas_vindas",
        "hsm_placeholders": ["Ana", "42"],
    }


@respx.mock
async def test_send_timeout_is_unknown(http: httpx.AsyncClient) -> None:
    respx.post(f"{BASE}/auth/login").mock(return_value=httpx.Response(200, json={"token": "T1"}))
    send = respx.post(f"{BASE}/message/send").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(BspError) as info:
        await provider(http, {}).send_text("+5511988887777", "Olá")
    assert info.value.outcome_unknown and send.call_count == 1


def test_webhook_auth(http: httpx.AsyncClient) -> None:
    p = provider(http, {})
    assert p.authenticate_webhook({"X-Webhook-Secret": "hook"}, b"{}")
    assert not p.authenticate_webhook({"X-Webhook-Secret": "nope"}, b"{}")
    assert not p.authenticate_webhook({}, b"{}")
    assert not provider(http, {}, env={}).authenticate_webhook({"X-Webhook-Secret": "hook"}, b"{}")


def test_receptiva_client_message(http: httpx.AsyncClient) -> None:
    hook = {"app": "szchat", "host": "acme.sz.chat", "key": "k", "label": "contato"}
    payload: dict[str, Any] = {
        "data": {
            "event": "client_message",
            "id": "abc",
            "platform_id": "5511988887777",
            "message": "Oi",
            "created_at": 1750000000000,
        },
        "webhook": hook,
    }
    assert provider(http, {}).parse_webhook(payload) == [
        InboundMessage(
            message_id="abc", wa_id="5511988887777", at=datetime.fromtimestamp(1750000000, UTC), text="Oi"
        )
    ]
    iso = {**payload, "data": {**payload["data"], "created_at": "2025-06-15T12:00:00Z"}}
    (event,) = fortics.parse_receptiva(iso)
    assert event.at == datetime(2025, 6, 15, 12, tzinfo=UTC)  # type: ignore[union-attr]
    assert fortics.parse_receptiva({"data": {"event": "attendance_finish"}, "webhook": hook}) == []


def test_receptiva_shape_errors() -> None:
    with pytest.raises(WebhookShapeError) as info:
        fortics.parse_receptiva({"webhook": {}})
    assert info.value.path == "data"
    with pytest.raises(WebhookShapeError) as info:
        fortics.parse_receptiva(
            {"data": {"event": "client_message", "id": "a", "platform_id": "1", "created_at": "ontem"}}
        )
    assert info.value.path == "data.created_at"
