"""Issue 10, end to end: the screen for the person in front of it. Over signed HTTP against the
fake Slack: the summary line first in every window state, times only as Slack date tokens or
durations (never "UTC"), the one contact field, and a preview that fills in."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.blocks import modal
from bot.bsp.base import InboundMessage, StatusUpdate
from bot.core.ingest import ingest_events
from bot.rules.events import Category
from bot.store.models import SandboxSend
from tests.blocks.limits import (
    assert_home_view_within_limits,
    assert_message_within_limits,
    assert_view_within_limits,
)
from tests.e2e.harness import Clock, RunningApp, running_app, select_action, selected, typed, write_config

NOW = datetime(2026, 11, 24, 19, 0, tzinfo=UTC)
CUSTOMER = "+5511988887777"
WA_ID = CUSTOMER.lstrip("+")

CONFIG = """
language: pt-BR
teams:
  - id: suporte
    name: Suporte
    members: [UAGENT]
    alert_lead_minutes: 60
    channels: [sandbox]
channels:
  - id: sandbox
    name: Sandbox
    number: "+55 11 4000-0000"
    bsp: sandbox
"""


@pytest.fixture
def app(tmp_path: Path, db_url: str) -> Iterator[RunningApp]:
    with running_app(write_config(tmp_path, CONFIG), db_url, Clock(NOW)) as running:
        yield running


def token(at: datetime, fallback: str) -> str:
    return f"<!date^{int(at.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def inbound(at: datetime, message_id: str, *, from_ad: bool = False) -> InboundMessage:
    referral = {"source_type": "ad", "source_id": "123"} if from_ad else None
    return InboundMessage(message_id=message_id, wa_id=WA_ID, at=at, text="Oi", referral=referral)


def our_reply(at: datetime) -> StatusUpdate:
    return StatusUpdate(message_id="wamid.OUT", status="sent", at=at, recipient_wa_id=WA_ID)


def everything_sent_to_slack(app: RunningApp) -> str:
    return json.dumps([c.args for c in app.slack.calls], ensure_ascii=False)


# (state, events, the summary line). NOW is 24/11 19:00 UTC = 16:00 in São Paulo.
STATES: list[tuple[str, list[Any], str]] = [
    (
        "no window",
        [],
        "🔒 O cliente ainda não escreveu neste canal · só modelo · Utilidade US$ 0,0068",
    ),
    (
        "open 2 h ago",
        [inbound(NOW - timedelta(hours=2), "wamid.1")],
        f"🟢 Texto livre liberado · fecha em 22 h ({token(NOW + timedelta(hours=22), '25/11 14:00')})"
        " · US$ 0,0068 por mensagem",
    ),
    (
        "open 23 h 50 ago",
        [inbound(NOW - timedelta(hours=23, minutes=50), "wamid.1")],
        f"🟢 Texto livre liberado · ⚠️ fecha em 10 min ({token(NOW + timedelta(minutes=10), '24/11 16:10')})"
        " · US$ 0,0068 por mensagem",
    ),
    (
        "closed 25 h ago",
        [inbound(NOW - timedelta(hours=25), "wamid.1")],
        f"🔒 Janela fechada há 1 h ({token(NOW - timedelta(hours=1), '24/11 15:00')})"
        " · só modelo · Utilidade US$ 0,0068",
    ),
    (
        "ad lead waiting",
        [inbound(NOW - timedelta(hours=3), "wamid.ad", from_ad=True)],
        "🟡 Lead de anúncio aguardando resposta"
        f" · responda em 21 h ({token(NOW + timedelta(hours=21), '25/11 13:00')})"
        " · a resposta é grátis e abre 72 h grátis",
    ),
    (
        "free entry point open, service window closed",
        [inbound(NOW - timedelta(hours=30), "wamid.ad", from_ad=True), our_reply(NOW - timedelta(hours=29))],
        "🟢 Entrada gratuita de anúncio aberta"
        f" · fecha em 43 h ({token(NOW + timedelta(hours=43), '26/11 11:00')})"
        " · modelos grátis; texto livre só com a janela de atendimento aberta",
    ),
]


@pytest.mark.parametrize(("name", "events", "summary"), STATES, ids=[s[0] for s in STATES])
def test_the_first_block_is_the_answer_in_every_window_state(
    app: RunningApp, name: str, events: list[Any], summary: str
) -> None:
    if events:
        ingest_events(app.rt.store, "sandbox", events, NOW)
    app.command("+55 11 98888-7777")
    view = app.slack.wait_for("views.open")[0].args["view"]
    assert_view_within_limits(view)
    first = view["blocks"][0]
    assert first["block_id"] == modal.BLOCK_SUMMARY
    assert first["text"]["text"] == summary, name
    if name == "ad lead waiting":
        # Serviço says the reply is free, not a price beside "responda… 72 h grátis".
        cards = json.dumps(view["blocks"], ensure_ascii=False)
        assert "Grátis · resposta ao lead de anúncio" in cards
        category = next(b for b in view["blocks"] if b.get("block_id") == modal.BLOCK_CATEGORY)
        service = category["element"]["options"][0]
        assert service["description"]["text"] == "Grátis · resposta ao lead de anúncio"
    # One team, one channel: a line and "trocar", not two selects; the channel named once.
    assert modal.BLOCK_TEAM not in [b.get("block_id") for b in view["blocks"]]
    pickers = next(b for b in view["blocks"] if b.get("block_id") == modal.BLOCK_PICKERS)
    assert pickers["text"]["text"] == "Equipe *Suporte* · Canal *Sandbox*"
    assert pickers["accessory"]["action_id"] == modal.ACTION_SHOW_PICKERS
    app.slack.wait_for("views.update")  # the templates landed
    sent = everything_sent_to_slack(app)
    assert not re.search(r"\bUTC\b", sent), re.findall(r".{60}\bUTC\b.{20}", sent)
    assert "<!date^" in sent or not events


def test_trocar_brings_the_team_and_channel_selects_back(app: RunningApp) -> None:
    app.command("+55 11 98888-7777")
    app.slack.wait_for("views.update")
    view = app.last_view()
    app.block_action(
        view, {"type": "button", "block_id": modal.BLOCK_PICKERS, "action_id": modal.ACTION_SHOW_PICKERS}
    )
    app.slack.wait_for("views.update", 2)
    ids = [b.get("block_id") for b in app.last_view()["blocks"]]
    assert modal.BLOCK_TEAM in ids and modal.BLOCK_CHANNEL in ids and modal.BLOCK_PICKERS not in ids


def suggest(app: RunningApp, value: str) -> list[dict[str, Any]]:
    response = app.interact(
        {
            "type": "block_suggestion",
            "user": {"id": "UAGENT"},
            "action_id": modal.ACTION_CONTACT_SEARCH,
            "block_id": modal.BLOCK_CONTACT,
            "value": value,
            "view": {"id": "V1", "callback_id": modal.CALLBACK_ID},
        }
    )
    return list(response.json()["options"])


def test_one_required_contact_field_offers_a_typed_number_first(app: RunningApp) -> None:
    ingest_events(
        app.rt.store,
        "sandbox",
        [InboundMessage(message_id="w1", wa_id=WA_ID, at=NOW, text="Oi", profile_name="Maria Souza")],
        NOW,
    )
    app.command("")
    view = app.slack.wait_for("views.open")[0].args["view"]
    contact = next(b for b in view["blocks"] if b.get("block_id") == modal.BLOCK_CONTACT)
    assert contact["element"]["type"] == "external_select" and not contact.get("optional")
    assert "opcional" not in json.dumps(view, ensure_ascii=False)
    # A valid number, typed without the 9th digit: offered normalised, first; the known contact
    # with the same number is not repeated.
    options = suggest(app, "11 8888-7777")
    assert options[0] == {"text": {"type": "plain_text", "text": "Usar +55 11 98888-7777"}, "value": CUSTOMER}
    assert len(options) == 1
    # A name finds the contact.
    assert [(o["value"], o["text"]["text"]) for o in suggest(app, "mari")] == [
        (CUSTOMER, "Maria Souza · +55 11 98888-7777")
    ]
    # An invalid number: offered as a warning; choosing it shows why, and the submit is a field error.
    [invalid] = suggest(app, "+55 11 12")
    assert invalid["text"]["text"].startswith("⚠️ Número inválido")
    app.slack.wait_for("views.update")
    view = app.last_view()
    state = {modal.BLOCK_CONTACT: selected(invalid["value"], modal.ACTION_CONTACT_SEARCH, "external_select")}
    app.block_action(
        view,
        select_action(modal.BLOCK_CONTACT, modal.ACTION_CONTACT_SEARCH, invalid["value"], "external_select"),
        values=state,
    )
    app.slack.wait_for("views.update", 2)
    view = app.last_view()
    problem = app.rt.catalog.t("screen.errors.phone_invalid")
    assert problem in json.dumps(view, ensure_ascii=False)
    answer = app.submit(view, {**state, modal.BLOCK_CATEGORY: selected("utility", modal.ACTION_CATEGORY)})
    body = answer.json()
    assert body["response_action"] == "errors" and body["errors"] == {modal.BLOCK_CONTACT: problem}


def test_filling_a_variable_updates_the_preview(app: RunningApp) -> None:
    app.command("+55 11 98888-7777")
    app.slack.wait_for("views.update")  # the templates landed
    view = app.last_view()
    block = modal.template_block_id(Category.UTILITY)
    app.block_action(
        view,
        select_action(modal.BLOCK_CATEGORY, modal.ACTION_CATEGORY, "utility"),
        values={modal.BLOCK_CATEGORY: selected("utility", modal.ACTION_CATEGORY)},
    )
    app.slack.wait_for("views.update", 2)
    key = "pedido_enviado:pt_BR"
    chosen = {
        modal.BLOCK_CATEGORY: selected("utility", modal.ACTION_CATEGORY),
        block: selected(key, modal.ACTION_TEMPLATE),
    }
    app.block_action(app.last_view(), select_action(block, modal.ACTION_TEMPLATE, key), values=chosen)
    app.slack.wait_for("views.update", 3)
    view = app.last_view()
    inputs = {b["block_id"]: b for b in view["blocks"] if b.get("block_id", "").startswith("var:")}
    # Placeholders are Meta's examples; labels say where the value goes.
    assert inputs["var:body.1"]["element"]["placeholder"]["text"] == "Maria"
    assert inputs["var:body.2"]["element"]["placeholder"]["text"] == "#4821"
    assert inputs["var:header.1"]["label"]["text"].startswith("Cabeçalho {{1}}")
    assert inputs["var:body.1"]["label"]["text"].startswith("Corpo {{1}} · em “Olá {{1}}, seu pedido")
    assert "Olá {{1}}, seu pedido {{2}}" in json.dumps(view, ensure_ascii=False)

    # Enter in the body {{1}} input: views.update with the text as the customer will read it.
    filled = {**chosen, "var:body.1": typed("Joana", modal.ACTION_VARIABLE)}
    app.block_action(
        view,
        {
            "type": "plain_text_input",
            "block_id": "var:body.1",
            "action_id": modal.ACTION_VARIABLE,
            "value": "Joana",
        },
        values=filled,
    )
    update = app.slack.wait_for("views.update", 4)[3]
    text = json.dumps(update.args["view"], ensure_ascii=False)
    assert "Olá Joana, seu pedido {{2}} foi enviado" in text
    assert_view_within_limits(update.args["view"])


@pytest.mark.parametrize("lang", ["pt-BR", "en"])
def test_every_view_and_message_passes_the_block_kit_schema(tmp_path: Path, db_url: str, lang: str) -> None:
    config = CONFIG.replace("language: pt-BR", f"language: {lang}")
    with running_app(write_config(tmp_path, config), db_url, Clock(NOW)) as app:
        ingest_events(app.rt.store, "sandbox", [inbound(NOW - timedelta(hours=1), "wamid.1")], NOW)
        app.command("+55 11 98888-7777")
        app.slack.wait_for("views.update")
        app.submit(
            app.last_view(),
            {
                modal.BLOCK_CATEGORY: selected("service", modal.ACTION_CATEGORY),
                modal.BLOCK_FREE_TEXT: typed("Olá!", modal.ACTION_FREE_TEXT),
            },
        )
        app.slack.wait_for("chat.postMessage")
        app.event(
            {"type": "app_home_opened", "user": "UAGENT", "channel": "D1", "tab": "home", "event_ts": "1"}
        )
        app.slack.wait_for("views.publish")
        checked = 0
        for call in app.slack.calls:
            if call.method in ("views.open", "views.update"):
                assert_view_within_limits(call.args["view"])
            elif call.method == "views.publish":
                assert_home_view_within_limits(call.args["view"])
            elif call.method in ("chat.postMessage", "chat.update"):
                assert_message_within_limits(call.args["blocks"])
            else:
                continue
            checked += 1
        assert checked >= 4
        assert not re.search(r"\bUTC\b", everything_sent_to_slack(app))


BRL_CARD = """Market,Currency,Marketing,Utility,Authentication
Brazil,BRL,"0,3125","0,0400","0,0400"
Other,BRL,"0,3020","0,0385","0,0385"
"""


@pytest.mark.parametrize(
    ("pricing", "price"),
    [
        # The admin drops in Meta's CSV in their invoice currency: every price is in reais.
        ("pricing:\n  rate_card_file: brl.csv\n  rate_card_from: 2026-07-01\n", "R$ 0,04"),
        # The USD card converted for reading: always marked as an estimate.
        ("pricing:\n  display_currency: BRL\n  exchange_rate: 5.5\n", "≈ R$ 0,04"),
    ],
    ids=["brl card", "display conversion"],
)
def test_prices_in_reais_on_the_cards_the_confirmation_and_app_home(
    tmp_path: Path, db_url: str, pricing: str, price: str
) -> None:
    (tmp_path / "brl.csv").write_text(BRL_CARD, encoding="utf-8")
    config = CONFIG.replace("language: pt-BR\n", f"language: pt-BR\n{pricing}")
    with running_app(write_config(tmp_path, config), db_url, Clock(NOW)) as app:
        ingest_events(app.rt.store, "sandbox", [inbound(NOW - timedelta(hours=1), "wamid.1")], NOW)
        app.command("+55 11 98888-7777")
        app.slack.wait_for("views.update")
        view = app.last_view()
        screen = json.dumps(view["blocks"], ensure_ascii=False)
        # Free text in the window is billed at the utility rate (from 2026-10-01).
        assert f"*Serviço*\\n{price} (tarifa de utilidade)" in screen
        assert "Texto livre liberado · fecha em 23 h" in screen and f"{price} por mensagem" in screen
        assert "US$" not in screen.replace("em US$,", "")  # only the source line names the card's currency
        app.submit(
            view,
            {
                modal.BLOCK_CATEGORY: selected("service", modal.ACTION_CATEGORY),
                modal.BLOCK_FREE_TEXT: typed("Olá!", modal.ACTION_FREE_TEXT),
            },
        )
        confirmation = json.dumps(app.slack.wait_for("chat.postMessage")[0].args, ensure_ascii=False)
        assert f"Custo estimado: {price}" in confirmation
        # The channel named once, the phone as people write it.
        assert "Canal: *Sandbox* · Categoria: Serviço" in confirmation and "(Sandbox)" not in confirmation
        assert "+55 11 98888-7777" in confirmation
        app.event(
            {"type": "app_home_opened", "user": "UAGENT", "channel": "D1", "tab": "home", "event_ts": "1"}
        )
        home = json.dumps(app.slack.wait_for("views.publish")[0].args["view"], ensure_ascii=False)
        assert f"Total: *{price}*" in home and "Texto: “Olá!”" in home


def test_a_document_header_is_asked_for_checked_and_sent(app: RunningApp) -> None:
    app.command("+55 11 98888-7777")
    app.slack.wait_for("views.update")
    block = modal.template_block_id(Category.UTILITY)
    key = "boleto_disponivel:pt_BR"
    chosen = {
        modal.BLOCK_CATEGORY: selected("utility", modal.ACTION_CATEGORY),
        block: selected(key, modal.ACTION_TEMPLATE),
    }
    app.block_action(app.last_view(), select_action(block, modal.ACTION_TEMPLATE, key), values=chosen)
    app.slack.wait_for("views.update", 2)
    view = app.last_view()
    media = modal.media_block_id("header.media")
    assert media in [b.get("block_id") for b in view["blocks"]]
    catalog = app.rt.catalog
    filled = {**chosen, "var:body.1": typed("Maria", modal.ACTION_VARIABLE)}
    # No document: a field error on its input, nothing sent.
    answer = app.submit(view, filled).json()
    assert answer["errors"] == {media: catalog.t("screen.errors.media_missing")}
    # An image where a document goes: the type check says what to use.
    wrong = {**filled, media: typed("https://cdn.exemplo.com.br/foto.jpg", modal.ACTION_MEDIA)}
    answer = app.submit(view, wrong).json()
    assert "pdf" in answer["errors"][media] and app.slack.of("chat.postMessage") == []
    # A PDF: sent with the header parameter Meta requires.
    right = {**filled, media: typed("https://cdn.exemplo.com.br/boleto.pdf", modal.ACTION_MEDIA)}
    app.submit(view, right)
    app.slack.wait_for("chat.postMessage")
    with app.rt.store.session() as session:
        payload = session.scalars(select(SandboxSend)).one().payload
    assert payload["template"]["components"][0] == {
        "type": "header",
        "parameters": [
            {
                "type": "document",
                "document": {"link": "https://cdn.exemplo.com.br/boleto.pdf", "filename": "boleto.pdf"},
            }
        ],
    }
