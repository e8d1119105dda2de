"""The alert digest: what a supervisor reads, within Slack's message limits, in both languages."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.blocks.alerts import RESUME_ACTION_ID, AlertItem, alert_digest
from tests.blocks.limits import assert_message_within_limits

NOW = datetime(2026, 11, 24, 19, 0, tzinfo=UTC)


def item(n: int = 0, **changes: Any) -> AlertItem:
    values: dict[str, Any] = {
        "kind": "customer_care",
        "channel_id": "loja",
        "channel_name": "Loja Centro",
        "contact_e164": f"+55119888{n:05d}",
        "contact_name": f"Cliente {n}",
        "expires_at": NOW + timedelta(minutes=45, seconds=n),
        "team_id": "vendas",
        "last_agent": "U012AB3CD",
        "last_sent": "promo_black_friday",
        "last_sent_kind": "template",
        "last_sent_at": NOW - timedelta(hours=3),
    }
    values.update(changes)
    return AlertItem(**values)


def buttons(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [b["accessory"] for b in blocks if isinstance(b.get("accessory"), dict)]


def test_one_item_says_who_where_time_left_last_agent_and_has_the_button() -> None:
    text, blocks = alert_digest("pt-BR", [item()], NOW)

    assert_message_within_limits(blocks)
    assert blocks[0]["type"] == "header" and "1 janela" in blocks[0]["text"]["text"]
    section = blocks[1]["text"]["text"]
    for expected in (
        "Cliente 0",
        "+55 11 98880-0000",  # phones as people write them (issue 10)
        "Loja Centro",
        "Janela de atendimento",
        "45 min",
        "<@U012AB3CD>",
        "promo_black_friday",
    ):
        assert expected in section
    [button] = buttons(blocks)
    assert button["action_id"] == RESUME_ACTION_ID and button["text"]["text"] == "Retomar contato"
    assert json.loads(button["value"]) == {"channel": "loja", "contact": "+5511988800000", "team": "vendas"}
    assert "Cliente 0" in text


def test_english() -> None:
    _, blocks = alert_digest("en", [item(kind="ctwa_pending")], NOW)
    section = blocks[1]["text"]["text"]
    assert "Ad lead not answered yet" in section and "72 h free" in section
    assert buttons(blocks)[0]["text"]["text"] == "Resume contact"


@pytest.mark.parametrize("lang", ["pt-BR", "en"])
def test_every_kind_open_and_closed_has_its_sentence(lang: str) -> None:
    items = [
        item(i, kind=kind, expires_at=NOW + timedelta(minutes=delta))
        for i, (kind, delta) in enumerate(
            (k, d) for k in ("customer_care", "ctwa", "ctwa_pending") for d in (30, -5)
        )
    ]
    _, blocks = alert_digest(lang, items, NOW)
    assert_message_within_limits(blocks)
    assert not any("alerts." in json.dumps(b) for b in blocks)  # no key left untranslated


def test_user_text_is_escaped_and_long_text_cut() -> None:
    evil = item(
        contact_name="<!channel> & <@U999|boss>",
        channel_name="<https://x.y|clique>",
        last_sent="<b>" * 2000,
        last_sent_kind="text",
        last_agent="<!here>",
    )
    text, blocks = alert_digest("pt-BR", [evil], NOW)

    assert_message_within_limits(blocks)
    section = blocks[1]["text"]["text"]
    assert "<!channel>" not in section and "&lt;!channel&gt; &amp;" in section
    assert "<https://" not in section and "<!here>" not in section
    assert "<!channel>" not in text


def test_closed_meanwhile_says_so() -> None:
    _, blocks = alert_digest("pt-BR", [item(expires_at=NOW - timedelta(minutes=2))], NOW)
    assert "Fechou" in blocks[1]["text"]["text"]


def test_no_phone_no_button_and_no_last_agent() -> None:
    _, blocks = alert_digest("pt-BR", [item(contact_e164=None, last_agent=None, last_sent=None)], NOW)
    assert_message_within_limits(blocks)
    assert buttons(blocks) == []
    assert "Nenhum agente" in blocks[1]["text"]["text"]


def test_many_items_cap_at_50_blocks_and_say_how_many_more() -> None:
    items = [item(n) for n in reversed(range(120))]
    text, blocks = alert_digest("pt-BR", items, NOW)

    assert_message_within_limits(blocks)
    assert len(blocks) == 50
    assert "120 janelas" in blocks[0]["text"]["text"]
    assert blocks[-1]["type"] == "context" and "+72" in blocks[-1]["elements"][0]["text"]
    shown = [json.loads(b["value"])["contact"] for b in buttons(blocks)]
    assert shown == [f"+55119888{n:05d}" for n in range(48)]  # soonest first
    assert len(text) <= 3000
