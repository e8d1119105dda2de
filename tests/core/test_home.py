"""App Home: the user's teams' windows closing soon (with the resume button), their recent sends,
and today's estimated spend per team and category."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from slack_sdk.models.views import View

from bot.core.alerts import RESUME_ACTION_ID
from bot.core.home import home_view
from bot.store.db import Store
from tests.blocks.limits import assert_message_within_limits
from tests.core.test_alerts import NOW, add_contact, add_outbound, make_rt, set_window

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
        add_outbound(store, "loja", contact, "vendas", "UVENDAS", NOW - timedelta(minutes=n),
                     template=f"modelo_{n}", status="read" if n else "failed", charge="paid",
                     estimated_price=0.0625, currency="USD")
    add_outbound(store, "loja", contact, "vendas", "UOUTRO", NOW, template="de_outro_agente")

    view = home_view(rt, "UVENDAS", {}, NOW)

    assert_home_within_limits(view)
    body = texts(view)
    assert "modelo_0" in body and "modelo_9" in body and "modelo_10" not in body  # the 10 newest
    assert "de_outro_agente" not in body
    assert "falhou" in body and "lida" in body and "US$ 0,0625" in body


def test_todays_spend_by_team_and_category(rt: Runtime, store: Store) -> None:
    contact = add_contact(store, "+5511900000221")
    add_outbound(store, "loja", contact, "vendas", "UVENDAS", NOW - timedelta(hours=1), template="a",
                 charge="paid", estimated_price=0.0625, currency="USD")
    add_outbound(store, "loja", contact, "vendas", "UOUTRO", NOW - timedelta(hours=2), template="b",
                 charge="paid", estimated_price=0.0625, currency="USD")
    add_outbound(store, "loja", contact, "vendas", "UVENDAS", NOW - timedelta(hours=3), template="c",
                 charge="free", estimated_price=0.0, currency="USD")
    add_outbound(store, "loja", contact, "vendas", "UVENDAS", NOW - timedelta(days=1), template="d",
                 charge="paid", estimated_price=5.0, currency="USD")  # yesterday
    add_outbound(store, "sac", contact, "suporte", "USUPORTE", NOW - timedelta(hours=1), template="e",
                 charge="paid", estimated_price=9.0, currency="USD")  # not my team

    view = home_view(rt, "UVENDAS", {}, NOW)

    assert_home_within_limits(view)
    [spend] = [b["text"]["text"] for b in view["blocks"]
               if b["type"] == "section" and b["text"]["text"].startswith("*Vendas*")]
    assert "Marketing: US$ 0,125 (2 envios)" in spend
    assert "Total: *US$ 0,125*" in spend
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
