"""ScreenInputs round trip: private_metadata plus the view state Slack sends back."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bot.blocks import modal
from bot.blocks.state import ScreenInputs, decode_metadata, encode_metadata, read_inputs
from bot.rules.events import Category
from tests.blocks.factories import rich_template, state


def slack_view(view: dict[str, Any], values: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The view as Slack sends it in view_submission / block_actions (fields as in Slack's docs)."""
    return {
        "id": "V0123ABCDEF",
        "team_id": "T0123ABCD",
        "type": "modal",
        "blocks": view["blocks"],
        "private_metadata": view["private_metadata"],
        "callback_id": view["callback_id"],
        "state": {"values": values},
        "hash": "1700000000.AbCdEf12",
        "title": view["title"],
        "clear_on_close": False,
        "notify_on_close": False,
        "close": view.get("close"),
        "submit": view.get("submit"),
        "previous_view_id": None,
        "root_view_id": "V0123ABCDEF",
        "app_id": "A0123ABCD",
        "external_id": "",
        "app_installed_team_id": "T0123ABCD",
        "bot_id": "B0123ABCD",
    }


def text_input(value: str | None) -> dict[str, Any]:
    return {"type": "plain_text_input", "value": value}


def static(value: str | None, label: str = "x") -> dict[str, Any]:
    option = {"text": {"type": "plain_text", "text": label, "emoji": True}, "value": value} if value else None
    return {"type": "static_select", "selected_option": option}


def external(value: str | None) -> dict[str, Any]:
    option = (
        {"text": {"type": "plain_text", "text": "Maria", "emoji": True}, "value": value} if value else None
    )
    return {"type": "external_select", "selected_option": option}


def test_metadata_round_trip() -> None:
    inputs = ScreenInputs(
        contact_query="Maria",
        contact_e164="+5511988887777",
        team_id="suporte",
        channel_id="vendas",
        category=Category.MARKETING,
        template_key="promo:pt_BR",
        idempotency_key="abc123",
        origin_channel="C0ORIGIN",
        contact_typed="",
        contact_picked="+5511988887777",
    )
    raw = encode_metadata(inputs)
    assert json.loads(raw)  # plain JSON
    assert decode_metadata(raw) == inputs


@given(
    st.text(max_size=5000),
    st.text(max_size=400),
    st.text(max_size=200),
    st.text(max_size=600),
    st.text(max_size=5000),
)
def test_metadata_always_fits(query: str, team: str, channel: str, template_key: str, typed: str) -> None:
    inputs = ScreenInputs(
        contact_query=query,
        team_id=team,
        channel_id=channel,
        template_key=template_key,
        idempotency_key="k" * 32,
        contact_typed=typed,
        origin_channel="C" * 20,
    )
    raw = encode_metadata(inputs)
    assert len(raw) <= 3000
    decoded = decode_metadata(raw)
    assert decoded.idempotency_key == "k" * 32
    # Choices that fit are never touched; only what the agent typed is cut.
    if len(query) + len(typed) < 1500 and len(template_key) < 600:
        assert decoded.team_id == (team or None) and decoded.template_key == (template_key or None)


def test_garbage_metadata_gives_defaults() -> None:
    for raw in (None, "", "not json", "[1, 2]", "42", '{"k": "nope", "t": 5, "i": null}', "{" * 100):
        decoded = decode_metadata(raw)
        assert decoded.category is None and decoded.team_id is None and decoded.idempotency_key == ""


def test_read_inputs_from_a_realistic_submission() -> None:
    chosen = rich_template()
    view = modal.build_modal(state(category=Category.UTILITY, templates=[chosen], template=chosen))
    values = {
        # The one contact field, still on the option it was drawn with (issue 10).
        modal.BLOCK_CONTACT: {modal.ACTION_CONTACT_SEARCH: external("+5511988887777")},
        modal.BLOCK_TEAM: {modal.ACTION_TEAM: static("suporte", "Suporte")},
        modal.BLOCK_CHANNEL: {modal.ACTION_CHANNEL: static("sac", "SAC · Fortics")},
        modal.BLOCK_CATEGORY: {modal.ACTION_CATEGORY: static("utility", "Utilidade")},
        modal.template_block_id(Category.UTILITY): {modal.ACTION_TEMPLATE: static(chosen.key)},
        "var:header.1": {"var_value": text_input("amanhã")},
        "var:body.1": {"var_value": text_input("Maria")},
        "var:body.2": {"var_value": text_input("amanhã")},
        "var:body.3": {"var_value": text_input(None)},
        "var:button.0": {"var_value": text_input("ABC123")},
    }
    inputs = read_inputs(slack_view(view, values))
    assert inputs.contact_e164 == "+5511988887777"  # the input was not edited: the known contact stays
    assert inputs.contact_query == "+55 11 98888-7777"
    assert (inputs.team_id, inputs.channel_id, inputs.category) == ("suporte", "sac", Category.UTILITY)
    assert inputs.template_key == chosen.key
    assert inputs.values == {
        "header.1": "amanhã",
        "body.1": "Maria",
        "body.2": "amanhã",
        "button.0": "ABC123",
    }
    assert inputs.idempotency_key == "idem-1" and inputs.origin_channel == "C0ORIGIN"
    assert inputs.free_text is None


def test_read_inputs_free_text_and_an_edited_contact() -> None:
    view = modal.build_modal(state(category=Category.SERVICE))
    values = {
        modal.BLOCK_CONTACT: {modal.ACTION_CONTACT: text_input("  +55 21 97777-6666 ")},
        modal.BLOCK_CATEGORY: {modal.ACTION_CATEGORY: static("service")},
        modal.BLOCK_FREE_TEXT: {modal.ACTION_FREE_TEXT: text_input("Olá <tudo> & certo?\nlinha 2")},
    }
    inputs = read_inputs(slack_view(view, values))
    # Typed since the screen was drawn: the new number wins over the contact chosen before.
    assert inputs.contact_query == "+55 21 97777-6666" and inputs.contact_e164 is None
    assert inputs.free_text == "Olá <tudo> & certo?\nlinha 2"
    assert inputs.category is Category.SERVICE


def test_a_search_pick_wins_and_an_old_typed_value_does_not_undo_it() -> None:
    first = modal.build_modal(state(contact=False))
    typed_before = {modal.BLOCK_CONTACT: {modal.ACTION_CONTACT: text_input(None)}}
    picked = dict(typed_before)
    picked[modal.BLOCK_CONTACT_SEARCH] = {modal.ACTION_CONTACT_SEARCH: external("+5511977776666")}
    inputs = read_inputs(slack_view(first, picked))
    assert inputs.contact_e164 == "+5511977776666"
    # The screen is redrawn; Slack keeps both inputs' state. Submitting must keep the pick...
    redrawn = state(contact=False)
    redrawn.inputs = inputs
    second = modal.build_modal(redrawn)
    again = read_inputs(slack_view(second, picked))
    assert again.contact_e164 == "+5511977776666"
    # ...until the agent types another number (without pressing Enter) and submits.
    typed = dict(picked)
    typed[modal.BLOCK_CONTACT] = {modal.ACTION_CONTACT: text_input("+55 11 96666-5555")}
    last = read_inputs(slack_view(second, typed))
    assert last.contact_e164 is None and last.contact_query == "+55 11 96666-5555"


def test_read_inputs_is_tolerant() -> None:
    assert read_inputs({}) == ScreenInputs()
    assert read_inputs({"private_metadata": "junk", "state": {"values": "junk"}}) == ScreenInputs()
    weird = {
        "private_metadata": encode_metadata(ScreenInputs(team_id="suporte", idempotency_key="k")),
        "state": {
            "values": {
                "team": {"team_select": {"type": "static_select", "selected_option": None}},
                "category": {
                    "category_select": {"type": "static_select", "selected_option": {"value": "spam"}}
                },
                "x": "not a dict",
                "var:body.1": {"var_value": "not a dict"},
            }
        },
    }
    inputs = read_inputs(weird)
    assert inputs.team_id == "suporte" and inputs.category is None and inputs.values == {}
