"""Screen states for the block tests, built the way bot.core.screen builds them: real windows from
events (bot.rules.windows) and real charges from the packaged rule set (bot.rules.pricing)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.blocks.state import Option, ScreenInputs, ScreenState
from bot.bsp.base import SessionData
from bot.rules.events import Category, Event
from bot.rules.pricing import all_charges, era_at, load_rule_set, rate_card_at
from bot.rules.templates import Template, TemplateButton
from bot.rules.windows import compute_windows

NOW = datetime(2026, 11, 24, 19, 0, tzinfo=UTC)  # PMP era (from 2026-10-01)
CBP_NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)  # conversation-based pricing era
CUSTOMER = "+5511988887777"
RULES = load_rule_set()


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


def state(
    *,
    lang: str = "pt-BR",
    at: datetime = NOW,
    events: Iterable[Event] | None = None,
    session_data: SessionData = SessionData.FULL,
    contact: bool = True,
    category: Category | None = None,
    templates: list[Template] | None = None,
    template: Template | None = None,
    templates_status: str = "fresh",
    values: dict[str, str] | None = None,
    **overrides: Any,
) -> ScreenState:
    """A screen with a team, a channel and (by default) a known contact; windows and charges
    from `events` at `at` when the contact is known."""
    inputs = ScreenInputs(
        contact_query="+55 11 98888-7777" if contact else None,
        contact_e164=CUSTOMER if contact else None,
        team_id="suporte",
        channel_id="vendas",
        category=category,
        template_key=template.key if template else None,
        values=dict(values or {}),
        idempotency_key="idem-1",
        origin_channel="C0ORIGIN",
    )
    screen = ScreenState(
        lang=lang,
        at=at,
        inputs=inputs,
        teams=[Option("suporte", "Suporte"), Option("vendas-time", "Vendas")],
        channels=[Option("vendas", "Vendas · 360dialog"), Option("sac", "SAC · Fortics")],
        contact_label="Maria Silva · +55 11 98888-7777" if contact else None,
        session_data=session_data,
        templates=list(templates or []),
        templates_status=templates_status,
        template=template,
    )
    if contact:
        supported = session_data is not SessionData.NONE
        windows = compute_windows(list(events or []) if supported else [], at)
        screen.windows = windows
        screen.charges = all_charges(windows, at, "55", RULES, sessions_supported=supported)
        screen.pricing_model = era_at(RULES, at).model
        card = rate_card_at(RULES, at)
        screen.price_source = {
            "code": "55",
            "currency": "US$" if card.currency == "USD" else card.currency,
            "since": card.effective_from.isoformat(),
            "model": screen.pricing_model,
        }
    return replace(screen, **overrides) if overrides else screen


def template(
    name: str = "pedido_enviado",
    category: Category = Category.UTILITY,
    body: str = "Olá {{1}}, seu pedido {{2}} foi enviado.",
    **fields: Any,
) -> Template:
    defaults: dict[str, Any] = {
        "language": "pt_BR",
        "status": "APPROVED",
        "raw_category": category.value.upper(),
        "body_text": body,
    }
    defaults.update(fields)
    return Template(name=name, category=category, **defaults)


def rich_template() -> Template:
    """Header, body, footer and buttons, including a URL button with a variable."""
    return template(
        name="entrega_agendada",
        header_format="TEXT",
        header_text="Entrega {{1}}",
        body="Olá {{1}}, sua entrega chega {{2}} entre {{3}}.",
        footer_text="Loja Exemplo",
        buttons=(
            TemplateButton("URL", "Rastrear", url="https://exemplo.com/r/{{1}}"),
            TemplateButton("PHONE_NUMBER", "Ligar", phone_number="+551140000000"),
            TemplateButton("QUICK_REPLY", "Falar com atendente"),
        ),
    )


def all_text(view: Any) -> str:
    return json.dumps(view, ensure_ascii=False)


def texts_of(node: Any) -> list[str]:
    """Every `text` string of every text object in a view or block list."""
    found: list[str] = []
    if isinstance(node, dict):
        if node.get("type") in ("plain_text", "mrkdwn") and isinstance(node.get("text"), str):
            found.append(node["text"])
        for value in node.values():
            found += texts_of(value)
    elif isinstance(node, list):
        for item in node:
            found += texts_of(item)
    return found


def mrkdwn_texts(node: Any) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        if node.get("type") == "mrkdwn":
            found.append(node["text"])
        for value in node.values():
            found += mrkdwn_texts(value)
    elif isinstance(node, list):
        for item in node:
            found += mrkdwn_texts(item)
    return found


def block(view: dict[str, Any], block_id: str) -> dict[str, Any]:
    return next(b for b in view["blocks"] if b.get("block_id") == block_id)


def block_ids(view: dict[str, Any]) -> list[str]:
    return [b.get("block_id", "") for b in view["blocks"]]


_DATE_TOKEN = re.compile(r"<!date\^\d+\^\{date_short_pretty\} \{time\}\|[^<>|]*>")


def without_date_tokens(text: str) -> str:
    """`text` without the app's own Slack date tokens (the only "<!" the app writes itself)."""
    return _DATE_TOKEN.sub("", text)


def date_token(at: datetime, fallback: str) -> str:
    return f"<!date^{int(at.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"
