"""Template webhooks refresh the cache: a template Meta re-categorised shows its new category (and
so its new price) without waiting for the TTL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.app import build_asgi_app
from bot.config import Settings
from bot.core.webhooks import WebhookProcessor
from bot.rules.events import Category
from bot.runtime import build_runtime

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
    base_url: https://d360.test
    api_key_env: TPL_D360_KEY
    webhook_secret_env: TPL_D360_SECRET
"""


def listing(category: str) -> dict[str, Any]:
    return {
        "count": 1,
        "filters": {},
        "limit": 1000,
        "offset": 0,
        "sort": ["id"],
        "total": 1,
        "waba_templates": [
            {
                "name": "aviso_pedido",
                "language": "pt_BR",
                "status": "approved",
                "category": category,
                "namespace": "ns",
                "rejected_reason": "NONE",
                "components": [{"type": "BODY", "text": "Seu pedido {{1}} saiu para entrega."}],
            }
        ],
    }


CATEGORY_UPDATE = {
    "object": "whatsapp_business_account",
    "entry": [
        {
            "id": "WABA",
            "time": 1732500000,
            "changes": [
                {
                    "field": "template_category_update",
                    "value": {
                        "message_template_id": 123,
                        "message_template_name": "aviso_pedido",
                        "message_template_language": "pt_BR",
                        "previous_category": "UTILITY",
                        "new_category": "MARKETING",
                    },
                }
            ],
        }
    ],
}


async def test_category_update_webhook_refreshes_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TPL_D360_KEY", "key")
    monkeypatch.setenv("TPL_D360_SECRET", "secret")
    (tmp_path / "contato.yml").write_text(CONFIG)
    category = {"now": "UTILITY"}
    requests: list[httpx.Request] = []

    def bsp(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        assert request.url.path == "/v1/configs/templates"
        assert request.headers["D360-API-KEY"] == "key"
        return httpx.Response(200, json=listing(category["now"]))

    rt = build_runtime(
        tmp_path / "contato.yml",
        settings=Settings(database_url=f"sqlite:///{tmp_path / 'db.sqlite'}"),
        http=httpx.AsyncClient(transport=httpx.MockTransport(bsp)),
    )
    await rt.templates.refresh("vendas")
    assert [t.category for t in rt.templates.get("vendas").templates] == [Category.UTILITY]

    processor = WebhookProcessor(rt)
    processor.start()
    app = build_asgi_app(rt, None, webhooks=processor, with_scheduler=False)
    category["now"] = "MARKETING"  # Meta re-categorised it
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        response = await client.post(
            "/webhooks/vendas", content=json.dumps(CATEGORY_UPDATE), headers={"X-Webhook-Secret": "secret"}
        )
    assert response.status_code == 200
    await processor.drained()
    await rt.templates.wait_refresh("vendas")
    assert [t.category for t in rt.templates.get("vendas").templates] == [Category.MARKETING]
    assert len(requests) == 2
    await processor.stop()
    await rt.aclose()
