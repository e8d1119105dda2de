"""The thread post and the answers about the agent's thread messages: every kind of customer
message has a clear line, customer text is escaped everywhere, `none` shows no customer text."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from bot.blocks.conversation import (
    REPLY_ACTION_ID,
    CustomerLine,
    ThreadPost,
    reply_notice,
    thread_post,
    window_closed_notice,
)
from bot.bsp.base import InboundMessage
from bot.core.conversation import PREVIEW_CHARS, stored_content
from tests.blocks.limits import assert_message_within_limits

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
EVIL = "<!channel> <@U123> <https://evil.example|banco> & <!here>"


def post(
    *lines: CustomerLine, show_text: bool = True, label: str = "Maria · +55 11 98888-7777"
) -> ThreadPost:
    return ThreadPost(
        contact_label=label,
        lines=list(lines),
        show_text=show_text,
        window_expires_at=NOW + timedelta(hours=24),
        now=NOW,
        contact_e164="+5511988887777",
        channel_id="sandbox",
        team_id="suporte",
    )


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        (CustomerLine(NOW, "image", text="foto do pedido"), "📷 imagem: foto do pedido"),
        (CustomerLine(NOW, "image"), "📷 imagem"),
        (CustomerLine(NOW, "document", filename="nota.pdf"), "📄 documento: nota.pdf"),
        (CustomerLine(NOW, "location"), "📍 localização"),
        (CustomerLine(NOW, "button", text="Quero"), "🔘 respondeu ao botão 'Quero'"),
        (CustomerLine(NOW, "interactive", text="Sim"), "🔘 respondeu ao botão 'Sim'"),
        (CustomerLine(NOW, "interactive"), "📝 respondeu a um formulário (Flow)"),
        (CustomerLine(NOW, "reaction", text="👍"), "reagiu com 👍"),
        (CustomerLine(NOW, "order"), "✉️ mensagem do tipo order"),
    ],
)
def test_every_kind_of_message_has_a_clear_line(line: CustomerLine, shown: str) -> None:
    text, blocks = thread_post("pt-BR", post(line))
    assert shown in blocks[0]["text"]["text"]
    assert_message_within_limits(blocks)


def test_customer_text_is_escaped_in_blocks_and_fallback() -> None:
    text, blocks = thread_post(
        "pt-BR", post(CustomerLine(NOW, "text", text=EVIL), label="<!channel> Maria · +55 11 98888-7777")
    )
    sent = json.dumps({"text": text, "blocks": blocks}, ensure_ascii=False)
    for forbidden in ("<!channel>", "<@U123>", "<https://evil", "<!here>"):
        assert forbidden not in sent
    assert "&lt;https://evil.example|banco&gt;" in sent and "&amp;" in sent
    # Only the app's own tokens are markup: the time of the message and of the window's end.
    assert sent.count("<!date^") == 2


def test_the_post_says_the_window_and_offers_responder() -> None:
    text, blocks = thread_post("en", post(CustomerLine(NOW, "text", text="hi")))
    assert "Customer service window open" in json.dumps(blocks)
    assert "24 h" in json.dumps(blocks)
    actions = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert [a["action_id"] for a in actions] == [REPLY_ACTION_ID]
    assert json.loads(actions[0]["value"]) == {
        "contact": "+5511988887777",
        "channel": "sandbox",
        "team": "suporte",
        "mode": "free_text",
    }


def test_show_text_false_shows_only_that_they_replied() -> None:
    text, blocks = thread_post(
        "pt-BR", post(CustomerLine(NOW, "document", text=None, filename=None), show_text=False)
    )
    assert "respondeu" in blocks[0]["text"]["text"]
    assert "documento" not in json.dumps(blocks, ensure_ascii=False)


def test_what_is_stored_follows_show_customer_text() -> None:
    long = "a" * 500
    message = InboundMessage("wamid.1", "5511988887777", NOW, type="document", text=long, filename="x.pdf")
    assert stored_content(message, "none") == {"type": "document"}
    preview = stored_content(message, "preview")
    assert len(preview["text"]) == PREVIEW_CHARS and preview["text"].endswith("…")
    assert stored_content(message, "full")["text"] == long


def test_notices_stay_within_slack_limits() -> None:
    for lang in ("pt-BR", "en"):
        _, blocks = window_closed_notice(
            lang, closed_at=NOW, contact_e164="+5511988887777", channel_id="sandbox", team_id="suporte"
        )
        assert_message_within_limits(blocks)
        text, blocks = reply_notice(lang, "failed", error="<!channel> boom")
        assert "<!channel>" not in text + json.dumps(blocks)
        assert_message_within_limits(blocks)


def test_the_closed_window_notice_shows_when_it_closed_as_a_date_token() -> None:
    _, blocks = window_closed_notice(
        "pt-BR", closed_at=NOW, contact_e164="+5511988887777", channel_id="sandbox", team_id="suporte"
    )
    assert f"<!date^{int(NOW.timestamp())}^" in blocks[0]["text"]["text"]
