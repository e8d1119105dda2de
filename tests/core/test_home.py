"""App Home: the user's teams' windows closing soon (with the resume button), their recent sends,
and today's estimated spend per team and category."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from slack_sdk.models.views import View

from bot.core.alerts import RESUME_ACTION_ID
from bot.core.home import home_view
from bot.store.db import Store
from tests.blocks.limits import assert_block_kit_schema, assert_message_within_limits
from tests.core.test_alerts import CONFIG, NOW, add_contact, add_outbound, make_rt, set_window

if TYPE_CHECKING:
    from bot.runtime import Runtime


@pytest.fixture
def rt(tmp_path: Path, store: Store) -> Runtime:
    return make_rt(tmp_path, store)


def assert_home_within_limits(view: dict[str, Any]) -> None:
    assert view["type"] == "home"
    blocks = view["blocks"]
    assert 0 < len(blocks) <= 100
    for start in range(0, len(blocks), 50):  # the per-block checks (a message allows 50 at a time)
        assert_message_within_limits(blocks[start : start + 50])
    View(**view).validate_json()
    assert_block_kit_schema(view, "home_view")  # issue 10: the vendored community schema too


def texts(view: dict[str, Any]) -> str:
    return json.dumps(view["blocks"], ensure_ascii=False)


def resume_values(view: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        json.loads(b["accessory"]["value"])
        for b in view["blocks"]
        if b.get("accessory", {}).get("action_id") == RESUME_ACTION_ID
    ]


def test_windows_of_my_teams_closing_in_6h_with_the_button(rt: Runtime, store: Store) -> None:
    soon = add_contact(store, "+5511900000201", "Ana")
    later = add_contact(store, "+5511900000202", "Bruno")
    other = add_contact(store, "+5511900000203", "Carla")
    set_window(store, "loja", soon, "customer_care", NOW + timedelta(hours=2))
    set_window(store, "compartilhado", later, "ctwa_pending", NOW + timedelta(hours=5, minutes=59))
    set_window(store, "loja", later, "customer_care", NOW + timedelta(hours=7))  # past the 6 h
    set_window(store, "sac", other, "customer_care", NOW + timedelta(hours=1))  # not my team's channel

    view = home_view(rt, "UVENDAS", {}, NOW)

    assert_home_within_limits(view)
    assert resume_values(view) == [
        {"channel": "loja", "contact": "+5511900000201", "team": "vendas"},
        {"channel": "compartilhado", "contact": "+5511900000202", "team": "vendas"},
    ]
    assert "Carla" not in texts(view)


def test_my_recent_sends_with_status_and_estimated_cost(rt: Runtime, store: Store) -> None:
    contact = add_contact(store, "+5511900000211", "Daniela")
    for n in range(12):
        add_outbound(
            store,
            "loja",
            contact,
            "vendas",
            "UVENDAS",
            NOW - timedelta(minutes=n),
            template=f"modelo_{n}",
            status="read" if n else "failed",
            charge="paid",
            estimated_price=0.0625,
            currency="USD",
        )
    add_outbound(store, "loja", contact, "vendas", "UOUTRO", NOW, template="de_outro_agente")

    view = home_view(rt, "UVENDAS", {}, NOW)

    assert_home_within_limits(view)
    body = texts(view)
    assert "modelo_0" in body and "modelo_9" in body and "modelo_10" not in body  # the 10 newest
    assert "de_outro_agente" not in body
    assert "falhou" in body and "lida" in body and "US$ 0,0625" in body
    # The failed one was never delivered: no cost (issue 10).
    assert "❌ falhou · sem custo (não entregue)" in body


def test_todays_spend_by_team_and_category(rt: Runtime, store: Store) -> None:
    contact = add_contact(store, "+5511900000221")
    add_outbound(
        store,
        "loja",
        contact,
        "vendas",
        "UVENDAS",
        NOW - timedelta(hours=1),
        template="a",
        charge="paid",
        estimated_price=0.0625,
        currency="USD",
    )
    add_outbound(
        store,
        "loja",
        contact,
        "vendas",
        "UOUTRO",
        NOW - timedelta(hours=2),
        template="b",
        charge="paid",
        estimated_price=0.0625,
        currency="USD",
    )
    add_outbound(
        store,
        "loja",
        contact,
        "vendas",
        "UVENDAS",
        NOW - timedelta(hours=3),
        template="c",
        charge="free",
        estimated_price=0.0,
        currency="USD",
    )
    add_outbound(
        store,
        "loja",
        contact,
        "vendas",
        "UVENDAS",
        NOW - timedelta(days=1),
        template="d",
        charge="paid",
        estimated_price=5.0,
        currency="USD",
    )  # yesterday
    add_outbound(
        store,
        "sac",
        contact,
        "suporte",
        "USUPORTE",
        NOW - timedelta(hours=1),
        template="e",
        charge="paid",
        estimated_price=9.0,
        currency="USD",
    )  # not my team

    view = home_view(rt, "UVENDAS", {}, NOW)

    assert_home_within_limits(view)
    [spend] = [
        b["text"]["text"]
        for b in view["blocks"]
        if b["type"] == "section" and b["text"]["text"].startswith("*Vendas*")
    ]
    # Sums are money: two decimals, rounded half up (issue 10; was "US$ 0,125").
    assert "Marketing: US$ 0,13 (2 envios)" in spend
    assert "Total: *US$ 0,13*" in spend
    assert "Suporte" not in texts(view)  # another team's spend is not mine to see
    assert "5,00" not in spend  # yesterday's send is in "recent sends", not in today's spend


def test_user_in_no_team_is_told_so(rt: Runtime) -> None:
    view = home_view(rt, "UNOBODY", {}, NOW)
    assert_home_within_limits(view)
    assert "nenhuma equipe" in texts(view)


def test_many_windows_still_fit(rt: Runtime, store: Store) -> None:
    for n in range(80):
        contact = add_contact(store, f"+55119{n:08d}")
        set_window(store, "loja", contact, "customer_care", NOW + timedelta(minutes=10 + n))

    view = home_view(rt, "UVENDAS", {}, NOW)

    assert_home_within_limits(view)
    assert len(resume_values(view)) == 30
    assert "+50 outras janelas" in texts(view)


def spend_text(view: dict[str, Any]) -> str:
    return "\n".join(
        b["text"]["text"]
        for b in view["blocks"]
        if b["type"] == "section" and b["text"]["text"].startswith("*Vendas*")
    )


def test_a_send_at_22_30_in_sao_paulo_counts_on_that_days_spend(rt: Runtime, store: Store) -> None:
    # 22:30 on 24/11 in São Paulo is 01:30 on 25/11 in UTC.
    sent = datetime(2026, 11, 25, 1, 30, tzinfo=UTC)
    contact = add_contact(store, "+5511900000231")
    add_outbound(
        store,
        "loja",
        contact,
        "vendas",
        "UVENDAS",
        sent,
        template="noite",
        charge="paid",
        estimated_price=0.0625,
        currency="USD",
    )
    # At 23:00 the same evening in São Paulo: today's spend has it.
    evening = home_view(rt, "UVENDAS", {}, sent + timedelta(minutes=30))
    assert "Marketing: US$ 0,06 (1 envios)" in spend_text(evening)
    # The next morning (10:00 in São Paulo, still 25/11 in UTC): yesterday's, not today's.
    morning = home_view(rt, "UVENDAS", {}, datetime(2026, 11, 25, 13, 0, tzinfo=UTC))
    assert spend_text(morning) == ""
    assert "nenhum envio pago" in texts(morning).lower()


def test_a_failed_send_never_counts_in_the_spend(rt: Runtime, store: Store) -> None:
    contact = add_contact(store, "+5511900000241")
    add_outbound(
        store,
        "loja",
        contact,
        "vendas",
        "UVENDAS",
        NOW - timedelta(hours=1),
        template="ok",
        charge="paid",
        estimated_price=0.0625,
        currency="USD",
    )
    add_outbound(
        store,
        "loja",
        contact,
        "vendas",
        "UVENDAS",
        NOW - timedelta(hours=2),
        template="falhou",
        charge="paid",
        estimated_price=0.0625,
        currency="USD",
        status="failed",
    )
    view = home_view(rt, "UVENDAS", {}, NOW)
    assert "Marketing: US$ 0,06 (1 envios)" in spend_text(view)


def test_a_display_currency_converts_the_spend_marked_as_estimate(tmp_path: Path, store: Store) -> None:
    display = "language: pt-BR\npricing:\n  display_currency: BRL\n  exchange_rate: 5.5"
    rt = make_rt(tmp_path, store, CONFIG.replace("language: pt-BR", display))
    contact = add_contact(store, "+5511900000251")
    for n in range(40):
        add_outbound(
            store,
            "loja",
            contact,
            "vendas",
            "UVENDAS",
            NOW - timedelta(minutes=n),
            template=f"m{n}",
            charge="paid",
            estimated_price=6.25,
            currency="USD",
        )
    spend = spend_text(home_view(rt, "UVENDAS", {}, NOW))
    # 40 × 6.25 USD × 5.5 = R$ 1.375,00: grouping, two decimals, always "≈".
    assert "Total: *≈ R$ 1.375,00*" in spend
