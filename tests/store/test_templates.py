"""bot.store.templates: a channel's template list survives a restart unchanged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.rules.events import Category
from bot.rules.templates import Template, TemplateButton
from bot.store import templates
from bot.store.db import Store

NOW = datetime(2026, 11, 24, 19, 0, tzinfo=UTC)

ORDER = Template(
    name="pedido_enviado",
    language="pt_BR",
    category=Category.UTILITY,
    status="APPROVED",
    raw_category="UTILITY",
    body_text="Olá {{1}}, seu pedido saiu.",
    buttons=(TemplateButton(type="URL", text="Rastrear", url="https://example.com/{{1}}"),),
)


def test_saved_lists_read_back_equal_and_are_replaced(store: Store) -> None:
    with store.session() as session:
        assert templates.load_templates(session, "vendas") is None
        templates.save_templates(session, "vendas", [ORDER], NOW)
    with store.session() as session:
        assert templates.load_templates(session, "vendas") == (NOW, [ORDER])
        templates.save_templates(session, "vendas", [], NOW + timedelta(minutes=5))
    with store.session() as session:
        assert templates.load_templates(session, "vendas") == (NOW + timedelta(minutes=5), [])


def test_unknown_category_round_trips_as_none() -> None:
    odd = Template(name="x", language="en", category=None, status="PAUSED", raw_category="WEIRD")
    assert templates.template_from_json(templates.template_to_json(odd)) == odd
    assert templates.template_from_json(templates.template_to_json(ORDER)) == ORDER
