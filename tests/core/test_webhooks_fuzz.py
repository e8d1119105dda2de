"""Random JSON and mutated real fixtures thrown at the webhook endpoint: never a 500, and a refused
request never changes state. Drives the real ASGI app in process (no sockets: thousands of cases)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.store.models import WebhookDelivery
from tests.conftest import WHATSAPP_FIXTURES

SECRET = "fuzz-secret"
CONFIG = """
teams:
  - id: t
    name: T
    members: [U1]
    channels: [vendas]
channels:
  - id: vendas
    name: Vendas
    number: "+55 11 4000-0000"
    bsp: 360dialog
    base_url: http://127.0.0.1:9
    api_key_env: FUZZ_D360_KEY
    webhook_secret_env: FUZZ_D360_SECRET
"""

FIXTURES = [json.loads(p.read_text()) for p in sorted(WHATSAPP_FIXTURES.glob("*.json"))]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=30,
)


def mutate(value: Any, path: list[int | str], replacement: Any) -> Any:
    """Replace the node reached by following `path` (indices wrap) with `replacement`."""
    if not path:
        return replacement
    step, rest = path[0], path[1:]
    if isinstance(value, dict) and value:
        keys = list(value)
        key = keys[hash(step) % len(keys)]
        return {**value, key: mutate(value[key], rest, replacement)}
    if isinstance(value, list) and value:
        index = hash(step) % len(value)
        return [mutate(v, rest, replacement) if i == index else v for i, v in enumerate(value)]
    return replacement


@pytest.fixture(scope="module")
def runtime_and_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    import os

    from bot.app import build_asgi_app
    from bot.config import Settings
    from bot.runtime import build_runtime

    os.environ["FUZZ_D360_KEY"] = "k"
    os.environ["FUZZ_D360_SECRET"] = SECRET
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    (tmp / "contato.yml").write_text(CONFIG)
    rt = build_runtime(tmp / "contato.yml", settings=Settings(database_url=f"sqlite:///{tmp / 'f.db'}"))
    yield rt, build_asgi_app(rt, None, with_scheduler=False)
    rt.store.dispose()


def post(app: Any, body: bytes, secret: str | None) -> httpx.Response:
    async def go() -> httpx.Response:
        headers = {"X-Webhook-Secret": secret} if secret else {}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            return await client.post("/webhooks/vendas", content=body, headers=headers)

    return asyncio.run(go())


def stored(rt: Any) -> int:
    with rt.store.session() as session:
        return int(session.scalar(select(func.count()).select_from(WebhookDelivery)) or 0)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    fixture=st.sampled_from(FIXTURES),
    path=st.lists(st.integers() | st.text(max_size=3), max_size=6),
    replacement=json_values,
    authenticated=st.booleans(),
)
def test_mutated_fixtures_never_500(
    runtime_and_app: tuple[Any, Any], fixture: Any, path: list[Any], replacement: Any, authenticated: bool
) -> None:
    rt, app = runtime_and_app
    body = json.dumps(mutate(fixture, path, replacement)).encode()
    before = stored(rt)
    response = post(app, body, SECRET if authenticated else "wrong")
    assert response.status_code in (200, 400, 401, 413, 422), response.text
    if response.status_code != 200:
        assert stored(rt) == before  # a refused request changes nothing
    else:
        assert stored(rt) == before + 1


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=json_values)
def test_random_json_never_500(runtime_and_app: tuple[Any, Any], payload: Any) -> None:
    rt, app = runtime_and_app
    before = stored(rt)
    response = post(app, json.dumps(payload).encode(), SECRET)
    assert response.status_code in (200, 400, 422), response.text
    if response.status_code != 200:
        assert stored(rt) == before


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=200))
def test_random_bytes_never_500(runtime_and_app: tuple[Any, Any], raw: bytes) -> None:
    rt, app = runtime_and_app
    before = stored(rt)
    response = post(app, raw, SECRET)
    assert response.status_code in (200, 400, 422)
    if response.status_code != 200:
        assert stored(rt) == before
