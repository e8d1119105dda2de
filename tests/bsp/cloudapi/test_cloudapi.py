"""Meta Cloud API adapter: Graph URLs, bearer token, cursor paging, signed webhooks, handshake."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import respx

from bot.bsp.base import BspError, SessionData, TemplateSend
from bot.bsp.cloudapi import adapter as cloudapi
from bot.bsp.cloudapi.channel import CloudApiChannel
from tests.bsp import clock, make_channel
from tests.conftest import WHATSAPP_FIXTURES, load_fixture

GRAPH = "https://graph.facebook.com/v23.0"
ENV = {"WA_TOKEN": "EAAG-token", "WA_APP_SECRET": "app-secret", "WA_VERIFY": "verify-me"}


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


def provider(http: httpx.AsyncClient, env: dict[str, str] | None = None) -> cloudapi.CloudApiProvider:
    channel = make_channel(
        CloudApiChannel,
        ENV if env is None else env,
        access_token_env="WA_TOKEN",
        app_secret_env="WA_APP_SECRET",
        verify_token_env="WA_VERIFY",
        waba_id="102290129340398",
        phone_number_id="106540352242922",
        graph_version="v23.0",
    )
    return cloudapi.CloudApiProvider(channel, http, clock, retry_delays=(0, 0))


async def test_build(http: httpx.AsyncClient) -> None:
    built = cloudapi.CloudApiProvider.build(
        make_channel(CloudApiChannel, ENV, graph_version="v21.0"), http, None, clock
    )
    assert built.session_data is SessionData.FULL and built.base_url == "https://graph.facebook.com/v21.0"
    # With no graph_version in contato.yml, the channel model's default is the one the calls use.
    default = cloudapi.CloudApiProvider.build(make_channel(CloudApiChannel, ENV), http, None, clock)
    assert default.base_url == "https://graph.facebook.com/v26.0" and default.name == "cloudapi"


@respx.mock
async def test_templates_follow_the_after_cursor(http: httpx.AsyncClient) -> None:
    first = load_fixture("cloudapi-template-list-named-and-positional.json")  # has paging.next
    second = copy.deepcopy(first)
    second["data"] = [{**second["data"][0], "name": "second_page", "id": "2"}]
    second["paging"] = {"cursors": {"before": "B2", "after": "A2"}}  # no next: last page
    route = respx.get(f"{GRAPH}/102290129340398/message_templates").mock(
        side_effect=[httpx.Response(200, json=first), httpx.Response(200, json=second)]
    )
    templates = await provider(http).list_templates()
    assert [t.name for t in templates] == [
        "reservation_confirmation",
        "coupon_expiration_reminder_number_vars",
        "second_page",
    ]
    first_request, second_request = (c.request for c in route.calls)
    assert first_request.headers["Authorization"] == "Bearer EAAG-token"
    assert "after" not in first_request.url.params and first_request.url.params["limit"] == "100"
    assert "language" in first_request.url.params["fields"].split(",")
    assert second_request.url.params["after"] == "QVFIU..."
    assert second_request.url.host == "graph.facebook.com"


@respx.mock
async def test_template_read_retries_then_succeeds(http: httpx.AsyncClient) -> None:
    last: dict[str, Any] = {"data": [], "paging": {}}
    route = respx.get(f"{GRAPH}/102290129340398/message_templates").mock(
        side_effect=[
            httpx.ReadTimeout("slow"),
            httpx.Response(500, json={"error": {"code": 2}}),
            httpx.Response(200, json=last),
        ]
    )
    assert await provider(http).list_templates() == []
    assert route.call_count == 3


@respx.mock
async def test_send_template_and_response(http: httpx.AsyncClient) -> None:
    route = respx.post(f"{GRAPH}/106540352242922/messages").mock(
        return_value=httpx.Response(200, json=load_fixture("cloudapi-send-response.json"))
    )
    template = cloudapi.meta.parse_graph_template(
        load_fixture("cloudapi-template-create-auth-otp-copy-code.json")
    )
    result = await provider(http).send_template(
        "+12015553931", TemplateSend(template, {"body.1": "J$FpnYnP"})
    )
    assert result.wa_id == "12015553931"
    request = route.calls[0].request
    assert request.headers["Authorization"] == "Bearer EAAG-token"
    assert request.headers["Content-Type"] == "application/json"
    sent = json.loads(request.content)
    expected = load_fixture("cloudapi-send-auth-copy-code-request.json")
    assert sent["template"]["components"] == expected["template"]["components"]
    assert sent["to"] == expected["to"]


@respx.mock
async def test_graph_error_mapping(http: httpx.AsyncClient) -> None:
    respx.post(f"{GRAPH}/106540352242922/messages").mock(
        return_value=httpx.Response(400, json=load_fixture("cloudapi-error-132000-param-count-mismatch.json"))
    )
    with pytest.raises(BspError) as info:
        await provider(http).send_text("+5511988887777", "oi")
    assert (info.value.code, info.value.http_status, info.value.outcome_unknown) == ("132000", 400, False)


@respx.mock
async def test_send_write_timeout_is_unknown(http: httpx.AsyncClient) -> None:
    route = respx.post(f"{GRAPH}/106540352242922/messages").mock(side_effect=httpx.WriteTimeout("stuck"))
    with pytest.raises(BspError) as info:
        await provider(http).send_text("+5511988887777", "oi")
    assert info.value.outcome_unknown and route.call_count == 1


@respx.mock
async def test_send_connect_error_is_known_failure(http: httpx.AsyncClient) -> None:
    route = respx.post(f"{GRAPH}/106540352242922/messages").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(BspError) as info:
        await provider(http).send_text("+5511988887777", "oi")
    assert info.value.code == "network" and not info.value.outcome_unknown and route.call_count == 1


async def test_missing_token(http: httpx.AsyncClient) -> None:
    with pytest.raises(BspError) as info:
        await provider(http, env={}).send_text("+5511988887777", "oi")
    assert info.value.code == "missing_credentials" and "WA_TOKEN" in info.value.message


def sign(body: bytes, secret: str = "app-secret") -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_signature_over_the_raw_body(http: httpx.AsyncClient) -> None:
    raw = (WHATSAPP_FIXTURES / "cloudapi-inbound-text.json").read_bytes()
    p = provider(http)
    assert p.authenticate_webhook({"X-Hub-Signature-256": sign(raw)}, raw)
    assert p.authenticate_webhook({"x-hub-signature-256": sign(raw)}, raw)
    # Same JSON, different bytes: the signature is over the bytes as received.
    reencoded = json.dumps(json.loads(raw)).encode()
    assert not p.authenticate_webhook({"X-Hub-Signature-256": sign(raw)}, reencoded)
    assert not p.authenticate_webhook({"X-Hub-Signature-256": sign(raw, "other")}, raw)
    assert not p.authenticate_webhook({"X-Hub-Signature-256": sign(raw).removeprefix("sha256=")}, raw)
    assert not p.authenticate_webhook({}, raw)
    assert not provider(http, env={}).authenticate_webhook({"X-Hub-Signature-256": sign(raw, "")}, raw)


def test_handshake(http: httpx.AsyncClient) -> None:
    p = provider(http)
    good = {"hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "1158201444"}
    assert p.verify_handshake(good) == "1158201444"
    assert p.verify_handshake({**good, "hub.verify_token": "nope"}) is None
    assert p.verify_handshake({**good, "hub.mode": "unsubscribe"}) is None
    assert p.verify_handshake({"hub.challenge": "1"}) is None
    assert provider(http, env={}).verify_handshake(good) is None
