"""Issue 10: a template with an IMAGE header is sent with its header parameter (Meta refuses it
without), on the wire of every provider that takes Meta's body: 360dialog, the Cloud API and
Gupshup v3. The template is a real Graph listing item (fixture)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import respx

from bot.bsp.base import TemplateSend
from bot.bsp.meta.templates import parse_template_items
from bot.rules.templates import Template
from tests.bsp.cloudapi.test_cloudapi import GRAPH
from tests.bsp.cloudapi.test_cloudapi import provider as cloudapi_provider
from tests.bsp.dialog360.test_dialog360 import BASE
from tests.bsp.dialog360.test_dialog360 import provider as dialog360_provider
from tests.bsp.gupshup.test_gupshup import APP
from tests.bsp.gupshup.test_gupshup import provider as gupshup_provider
from tests.conftest import load_fixture

PHOTO = "https://cdn.exemplo.com.br/mesa.jpg"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def reservation() -> Template:
    items = load_fixture("cloudapi-template-list-named-and-positional.json")["data"]
    [template] = [t for t in parse_template_items(items, "c") if t.name == "reservation_confirmation"]
    assert template.header_format == "IMAGE"
    return template


VALUES = {
    "header.media": PHOTO,
    "body.number_of_guests": "4",
    "body.day": "sábado",
    "body.date": "30/08",
    "body.time": "19:30",
}

PROVIDERS: list[tuple[str, Callable[[httpx.AsyncClient], Any], str]] = [
    ("360dialog", dialog360_provider, f"{BASE}/messages"),
    ("cloudapi", cloudapi_provider, f"{GRAPH}/106540352242922/messages"),
    ("gupshup", gupshup_provider, f"{APP}/v3/message"),
]


@respx.mock
@pytest.mark.parametrize(("name", "make", "url"), PROVIDERS, ids=[p[0] for p in PROVIDERS])
async def test_an_image_header_travels_as_the_header_parameter(
    http: httpx.AsyncClient, name: str, make: Callable[[httpx.AsyncClient], Any], url: str
) -> None:
    route = respx.post(url).mock(
        return_value=httpx.Response(200, json=load_fixture("cloudapi-send-response.json"))
    )
    await make(http).send_template("+5511988887777", TemplateSend(reservation(), VALUES))
    body = json.loads(route.calls[0].request.content)
    components = body["template"]["components"]
    assert components[0] == {"type": "header", "parameters": [{"type": "image", "image": {"link": PHOTO}}]}
    assert components[1]["type"] == "body"
    assert [p["parameter_name"] for p in components[1]["parameters"]] == [
        "number_of_guests",
        "day",
        "date",
        "time",
    ]
