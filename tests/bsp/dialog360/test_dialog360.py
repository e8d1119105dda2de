"""360dialog adapter: what goes on the wire, paging, errors, retries, webhook authentication."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
import respx

from bot.bsp import meta
from bot.bsp.base import BspError, SessionData, TemplateSend
from bot.bsp.dialog360 import adapter as dialog360
from bot.bsp.dialog360.channel import Dialog360Channel
from bot.rules.templates import Template
from tests.bsp import clock, make_channel
from tests.conftest import load_fixture

BASE = "https://waba-v2.360dialog.io"
ENV = {"D360_KEY": "key-123", "D360_HOOK": "hook-secret"}


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


def provider(http: httpx.AsyncClient, env: dict[str, str] | None = None) -> dialog360.Dialog360Provider:
    channel = make_channel(
        Dialog360Channel, ENV if env is None else env, api_key_env="D360_KEY", webhook_secret_env="D360_HOOK"
    )
    return dialog360.Dialog360Provider(channel, http, clock, retry_delays=(0, 0))


def template() -> Template:
    return next(
        t
        for t in meta.parse_template_items(
            load_fixture("360dialog-templates-list-v1-configs-rapidpro.json")["waba_templates"], "c"
        )
        if t.key == "hello:fr"
    )


async def test_build_and_session_data(http: httpx.AsyncClient) -> None:
    channel = make_channel(Dialog360Channel, ENV, api_key_env="D360_KEY")
    built = dialog360.Dialog360Provider.build(channel, http, None, clock)
    assert built.session_data is SessionData.FULL and built.name == "360dialog"


@respx.mock
async def test_templates_single_page_from_fixture(http: httpx.AsyncClient) -> None:
    route = respx.get(f"{BASE}/v1/configs/templates").mock(
        return_value=httpx.Response(
            200, json=load_fixture("360dialog-templates-list-v1-configs-rapidpro.json")
        )
    )
    templates = await provider(http).list_templates()
    assert len(templates) == 10 and route.call_count == 1
    request = route.calls[0].request
    assert request.headers["D360-API-KEY"] == "key-123"
    assert dict(request.url.params) == {"limit": "100", "offset": "0"}


@respx.mock
async def test_templates_page_until_total(http: httpx.AsyncClient) -> None:
    items = load_fixture("360dialog-templates-list-v1-configs-rapidpro.json")["waba_templates"]
    pages = [
        {"count": 4, "offset": 0, "limit": 4, "total": 10, "waba_templates": items[0:4]},
        {"count": 4, "offset": 4, "limit": 4, "total": 10, "waba_templates": items[4:8]},
        {"count": 2, "offset": 8, "limit": 4, "total": 10, "waba_templates": items[8:10]},
    ]
    route = respx.get(f"{BASE}/v1/configs/templates").mock(
        side_effect=[httpx.Response(200, json=p) for p in pages]
    )
    templates = await provider(http).list_templates()
    assert [t.name for t in templates] == [i["name"] for i in items]
    assert [c.request.url.params["offset"] for c in route.calls] == ["0", "4", "8"]


@respx.mock
async def test_reads_are_retried_on_5xx_and_429(http: httpx.AsyncClient) -> None:
    ok = httpx.Response(200, json={"count": 0, "offset": 0, "total": 0, "waba_templates": []})
    route = respx.get(f"{BASE}/v1/configs/templates").mock(
        side_effect=[httpx.Response(503), httpx.Response(429), ok]
    )
    assert await provider(http).list_templates() == []
    assert route.call_count == 3


@respx.mock
async def test_reads_give_up_after_three_tries(http: httpx.AsyncClient) -> None:
    route = respx.get(f"{BASE}/v1/configs/templates").mock(side_effect=httpx.ConnectError("down"))
    with pytest.raises(BspError) as info:
        await provider(http).list_templates()
    assert info.value.code == "network" and route.call_count == 3


@respx.mock
async def test_client_errors_are_not_retried(http: httpx.AsyncClient) -> None:
    route = respx.get(f"{BASE}/v1/configs/templates").mock(
        return_value=httpx.Response(401, json=load_fixture("360dialog-error-invalid-api-key.json"))
    )
    with pytest.raises(BspError) as info:
        await provider(http).list_templates()
    assert (info.value.code, info.value.http_status) == ("invalid_api_key", 401)
    assert route.call_count == 1


async def test_missing_key_names_the_env_var(http: httpx.AsyncClient) -> None:
    with respx.mock(assert_all_called=False) as router, pytest.raises(BspError) as info:
        await provider(http, env={}).list_templates()
    assert info.value.code == "missing_credentials" and "D360_KEY" in info.value.message
    assert router.calls.call_count == 0


@respx.mock
async def test_send_template_posts_metas_body(http: httpx.AsyncClient) -> None:
    route = respx.post(f"{BASE}/messages").mock(
        return_value=httpx.Response(200, json=load_fixture("cloudapi-send-response.json"))
    )
    result = await provider(http).send_template("+12015553931", TemplateSend(template(), {"body.1": "Ana"}))
    assert result.message_id.startswith("wamid.") and result.wa_id == "12015553931"
    request = route.calls[0].request
    assert request.headers["D360-API-KEY"] == "key-123"
    assert json.loads(request.content) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "12015553931",
        "type": "template",
        "template": {
            "name": "hello",
            "language": {"code": "fr"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ana"}]}],
        },
    }


@respx.mock
async def test_send_text(http: httpx.AsyncClient) -> None:
    route = respx.post(f"{BASE}/messages").mock(
        return_value=httpx.Response(200, json=load_fixture("cloudapi-send-response.json"))
    )
    await provider(http).send_text("+5511988887777", "Olá")
    assert json.loads(route.calls[0].request.content)["text"] == {"body": "Olá"}


@respx.mock
async def test_send_timeout_is_unknown_and_never_repeated(http: httpx.AsyncClient) -> None:
    route = respx.post(f"{BASE}/messages").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(BspError) as info:
        await provider(http).send_text("+5511988887777", "Olá")
    assert info.value.code == "timeout" and info.value.outcome_unknown
    assert route.call_count == 1


@respx.mock
async def test_send_5xx_is_not_retried(http: httpx.AsyncClient) -> None:
    route = respx.post(f"{BASE}/messages").mock(return_value=httpx.Response(500))
    with pytest.raises(BspError) as info:
        await provider(http).send_text("+5511988887777", "Olá")
    assert info.value.code == "http_500" and not info.value.outcome_unknown and route.call_count == 1


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (400, {"error": {"code": 131047, "message": "Re-engagement message"}}, "131047"),
        (
            400,
            {"errors": [{"code": 470, "title": "Message failed to send because more than 24 hours"}]},
            "470",
        ),
        (
            404,
            {"meta": {"success": False, "http_code": 404, "developer_message": "Template not found"}},
            "360dialog_error",
        ),
    ],
)
async def test_send_errors_carry_the_providers_code(
    http: httpx.AsyncClient, status: int, body: dict, code: str
) -> None:
    with respx.mock:
        respx.post(f"{BASE}/messages").mock(return_value=httpx.Response(status, json=body))
        with pytest.raises(BspError) as info:
            await provider(http).send_text("+5511988887777", "Olá")
    assert (info.value.code, info.value.http_status) == (code, status)


def test_webhook_authentication(http: httpx.AsyncClient) -> None:
    p = provider(http)
    assert p.authenticate_webhook({"X-Webhook-Secret": "hook-secret"}, b"{}")
    assert p.authenticate_webhook({"x-webhook-secret": "hook-secret"}, b"{}")
    assert not p.authenticate_webhook({"X-Webhook-Secret": "wrong"}, b"{}")
    assert not p.authenticate_webhook({}, b"{}")
    unconfigured = provider(http, env={"D360_KEY": "k"})
    assert not unconfigured.authenticate_webhook({"X-Webhook-Secret": ""}, b"{}")


def test_webhook_parsing_is_metas(http: httpx.AsyncClient) -> None:
    (event,) = provider(http).parse_webhook(load_fixture("cloudapi-inbound-text.json"))
    assert event.message_id.startswith("wamid.")  # type: ignore[union-attr]
