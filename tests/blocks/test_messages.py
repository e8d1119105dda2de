"""The agent's confirmation message and short notices."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from bot.blocks.messages import Confirmation, agent_notice, confirmation
from bot.blocks.text import Texts
from bot.rules.events import Category
from bot.rules.pricing import Charge
from tests.blocks.factories import mrkdwn_texts, texts_of
from tests.blocks.limits import assert_message_within_limits

AT = datetime(2026, 11, 24, 19, 0, tzinfo=UTC)


def info(**changes: object) -> Confirmation:
    base: dict[str, object] = dict(
        kind="template",
        contact_label="Maria Silva · +55 11 98888-7777",
        channel_name="Vendas",
        bsp="360dialog",
        category=Category.MARKETING,
        template_name="promo_natal",
        language="pt_BR",
        preview="Olá Maria, aproveite 20% de desconto!",
        charge=Charge("paid", "outside_windows", 0.0625, "USD"),
        status="accepted",
        error=None,
        at=AT,
    )
    base.update(changes)
    return Confirmation(**base)  # type: ignore[arg-type]


def render(lang: str, confirmation_info: Confirmation) -> tuple[str, str]:
    text, blocks = confirmation(lang, confirmation_info)
    assert_message_within_limits(blocks)
    for item in texts_of(blocks):
        assert "messages." not in item and "screen." not in item, item
    return text, json.dumps(blocks, ensure_ascii=False)


def test_confirmation_says_what_to_whom_where_and_the_cost() -> None:
    text, blocks = render("pt-BR", info())
    assert "promo_natal" in blocks and "Maria Silva · +55 11 98888-7777" in blocks
    assert "Vendas" in blocks and "360dialog" in blocks and "Marketing" in blocks
    # The price's source is said once on the screen; the confirmation gives the price (issue 10).
    assert "Custo estimado: US$ 0,0625" in blocks and "preço estimado para" not in blocks
    assert "> Olá Maria, aproveite 20% de desconto!" in blocks
    # Slack's date token (each reader's zone), São Paulo time as the fallback; never "UTC".
    assert "<!date^1795546800^{date_short_pretty} {time}|24/11 16:00>" in blocks and "UTC" not in blocks
    assert text == "promo_natal para Maria Silva · +55 11 98888-7777: aceita pelo provedor"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("pending", "⏳ Enviando…"),
        ("accepted", "🕓 Aceita pelo provedor"),
        ("sent", "✓ Enviada"),
        ("delivered", "✓✓ Entregue"),
        ("read", "✓✓ Lida"),
        ("unknown", "não sabemos se a mensagem saiu. Confira a conversa no WhatsApp antes de enviar de novo"),
    ],
)
def test_each_status(status: str, expected: str) -> None:
    _, blocks = render("pt-BR", info(status=status))
    assert expected in blocks


def test_failed_shows_the_reason_and_what_to_do() -> None:
    reason = "O cliente deixou de receber mensagens de marketing <desta empresa> & afins."
    text, blocks = render("pt-BR", info(status="failed", error=reason))
    assert (
        "❌ Falhou: O cliente deixou de receber mensagens de marketing &lt;desta empresa&gt; &amp; afins."
        in blocks
    )
    assert Texts("pt-BR").t("messages.status.failed_help") in blocks
    assert text.endswith("falhou")
    _, blocks = render("en", info(status="failed", error=None))
    assert "the provider gave no reason" in blocks


def test_free_text_confirmation_in_english() -> None:
    text, blocks = render(
        "en",
        info(
            kind="text",
            template_name=None,
            language=None,
            category=Category.SERVICE,
            preview="Hi <@U123>, all good? & more\nsecond line",
            charge=Charge("free", "csw_open"),
            status="delivered",
        ),
    )
    assert "Free text to *Maria Silva · +55 11 98888-7777*" in blocks
    assert "Category: Service" in blocks and "Estimated cost: Free · service window open" in blocks
    assert "> Hi &lt;@U123&gt;, all good? &amp; more\\n> second line" in blocks
    assert "✓✓ Delivered" in blocks and "|Nov 24, 16:00>" in blocks and "UTC" not in blocks
    assert text == "Free text to Maria Silva · +55 11 98888-7777: delivered"


def test_user_text_is_escaped_and_long_text_cut() -> None:
    _, raw = confirmation(
        "pt-BR",
        info(
            contact_label="<!channel> " + "M" * 5000,
            channel_name="<#C1> & co",
            template_name="<@U1>" * 200,
            preview="<!here> " * 2000,
            error=None,
        ),
    )
    assert_message_within_limits(raw)
    for text in mrkdwn_texts(raw):
        # The app's own date token is the only "<!" allowed.
        text = re.sub(r"<!date\^\d+\^\{date_short_pretty\} \{time\}\|[^<>|]*>", "", text)
        assert "<!" not in text and "<@" not in text and "<#" not in text


def test_status_we_do_not_know_is_shown_as_is() -> None:
    text, blocks = render("en", info(status="deleted", charge=None))
    assert "Status: deleted" in blocks and "Estimated cost" not in blocks
    assert text.endswith(": deleted")


def test_agent_notice() -> None:
    text, blocks = agent_notice("pt-BR", "screen.errors.send_failed", reason="<b>tempo esgotado</b> & mais")
    assert_message_within_limits(blocks)
    assert text == "A mensagem não foi enviada: <b>tempo esgotado</b> & mais"
    assert (
        blocks[0]["text"]["text"]
        == "A mensagem não foi enviada: &lt;b&gt;tempo esgotado&lt;/b&gt; &amp; mais"
    )
    text, _ = agent_notice("en", "screen.errors.already_sent")
    assert text == "This message was already sent; nothing was sent again."
