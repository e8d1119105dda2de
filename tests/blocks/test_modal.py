"""The screen's modal: what the agent sees in each situation, always within Slack's limits."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.blocks import modal
from bot.blocks.state import Option, ScreenInputs, decode_metadata, read_inputs
from bot.blocks.text import Texts, format_price, format_remaining, format_time
from bot.bsp.base import SessionData
from bot.rules.events import BusinessMessage, Category, ConversationSeen, CustomerMessage, Event
from bot.rules.templates import TemplateButton, template_variables
from tests.blocks.factories import (
    CBP_NOW,
    NOW,
    all_text,
    block,
    block_ids,
    date_token,
    hours,
    mrkdwn_texts,
    rich_template,
    state,
    template,
    texts_of,
    without_date_tokens,
)
from tests.blocks.limits import assert_view_within_limits

LANGS = ("pt-BR", "en")


def built(screen_state):  # type: ignore[no-untyped-def]
    view = modal.build_modal(screen_state)
    assert_view_within_limits(view)
    # A key the catalogue does not know would show up verbatim.
    for text in texts_of(view):
        assert "screen." not in text and "messages." not in text, text
    return view


def test_no_contact_yet_shows_the_fields_and_asks_for_a_contact() -> None:
    view = built(state(contact=False))
    tx = Texts("pt-BR")
    ids = block_ids(view)
    for block_id in (
        modal.BLOCK_CONTACT,
        modal.BLOCK_TEAM,
        modal.BLOCK_CHANNEL,
        modal.BLOCK_CATEGORY,
    ):
        assert block_id in ids
    # Issue 10: one contact field (no separate search); the summary line comes first.
    assert modal.BLOCK_CONTACT_SEARCH not in ids and ids[0] == modal.BLOCK_SUMMARY
    assert ids.index(modal.BLOCK_CONTACT) < ids.index(modal.BLOCK_TEAM) < ids.index(modal.BLOCK_CHANNEL)
    assert tx.t("screen.summary.need_contact") in all_text(view)
    assert "Customer Care" not in all_text(view)
    assert view["callback_id"] == modal.CALLBACK_ID
    assert view["title"]["text"] == "Contato Ativo"
    contact = block(view, modal.BLOCK_CONTACT)
    search = contact["element"]
    assert search["type"] == "external_select" and search["min_query_length"] == 1
    assert search["action_id"] == modal.ACTION_CONTACT_SEARCH
    assert contact["dispatch_action"] is True and not contact.get("optional")
    assert "opcional" not in all_text(view)
    for block_id in (modal.BLOCK_TEAM, modal.BLOCK_CHANNEL, modal.BLOCK_CATEGORY):
        assert block(view, block_id)["type"] == "input" and block(view, block_id)["dispatch_action"] is True
    # The chosen team and channel are preselected.
    assert block(view, modal.BLOCK_TEAM)["element"]["initial_option"]["value"] == "suporte"
    assert (
        block(view, modal.BLOCK_CHANNEL)["element"]["initial_option"]["text"]["text"] == "Vendas · 360dialog"
    )


def test_contact_problem_is_said_in_the_screen() -> None:
    view = built(state(contact=False, contact_problem="screen.errors.phone_unparseable"))
    assert Texts("pt-BR").t("screen.errors.phone_unparseable") in all_text(view)


def test_customer_care_open_shows_until_time_left_and_free_text() -> None:
    wrote = NOW - hours(2)
    view = built(state(events=[CustomerMessage("wamid.1", wrote)], category=Category.SERVICE))
    text = all_text(view)
    until = wrote + hours(24)
    # Slack's date token (the reader's own zone) beside the time left; São Paulo as fallback.
    assert format_time(until, "pt-BR") == "25/11 14:00"
    assert format_remaining((until - NOW).total_seconds(), "pt-BR") == "22 h"
    assert f"fecha em 22 h ({date_token(until, '25/11 14:00')}) · texto livre permitido" in text
    assert "UTC" not in text
    free_text = block(view, modal.BLOCK_FREE_TEXT)
    assert free_text["type"] == "input"
    assert free_text["element"]["multiline"] is True and free_text["element"]["max_length"] == 3000
    assert free_text["element"]["action_id"] == modal.ACTION_FREE_TEXT
    assert modal.BLOCK_TEMPLATE not in block_ids(view)
    assert "submit" in view


def test_customer_care_closed_refuses_free_text_with_since_when() -> None:
    wrote = NOW - hours(25)
    view = built(state(events=[CustomerMessage("wamid.1", wrote)], category=Category.SERVICE))
    text = all_text(view)
    closed = format_time(wrote + hours(24), "pt-BR")
    assert closed == "24/11 15:00"
    ago = f"há 1 h ({date_token(wrote + hours(24), closed)})"
    assert f"janela de atendimento fechou {ago}" in text
    assert modal.BLOCK_FREE_TEXT not in block_ids(view)
    assert Texts("pt-BR").t("screen.free_text.closed", ago=ago) in text
    assert "25/11" not in text and "UTC" not in text


def test_customer_never_wrote() -> None:
    view = built(state(events=[], category=Category.SERVICE))
    tx = Texts("pt-BR")
    assert tx.t("screen.card.customer_care.never") in all_text(view)
    assert tx.t("screen.free_text.never") in all_text(view)
    assert tx.t("screen.card.ctwa.none") in all_text(view)


def test_ctwa_ad_lead_waiting_says_how_long_to_reply() -> None:
    ad = NOW - hours(3)
    view = built(state(events=[CustomerMessage("wamid.ad", ad, from_ad=True)]))
    tx = Texts("pt-BR")
    expected = tx.t(
        "screen.card.ctwa.pending",
        left=format_remaining(hours(21).total_seconds(), "pt-BR"),
        at=date_token(ad + hours(24), format_time(ad + hours(24), "pt-BR")),
    )
    assert expected in all_text(view)
    assert "72 h grátis" in expected


def test_ctwa_open_makes_every_category_free() -> None:
    ad = NOW - hours(10)
    reply = NOW - hours(9)
    events: list[Event] = [CustomerMessage("wamid.ad", ad, from_ad=True), BusinessMessage("wamid.out", reply)]
    view = built(state(events=events))
    text = all_text(view)
    assert format_time(reply + hours(72), "pt-BR") in text
    assert format_remaining(hours(63).total_seconds(), "pt-BR") in text
    options = block(view, modal.BLOCK_CATEGORY)["element"]["options"]
    # One name for the ad window everywhere (issue 10).
    free = "Grátis · entrada gratuita de anúncio aberta"
    assert [o["description"]["text"] for o in options] == [free] * 4


def test_ctwa_ended() -> None:
    ad = NOW - hours(100)
    events: list[Event] = [
        CustomerMessage("wamid.ad", ad, from_ad=True),
        BusinessMessage("wamid.out", ad + hours(1)),
    ]
    view = built(state(events=events))
    closed = ad + hours(73)
    token = date_token(closed, format_time(closed, "pt-BR"))
    assert f"entrada gratuita de anúncio fechou há 27 h ({token})" in all_text(view)


def test_category_options_in_order_with_the_charge_now() -> None:
    view = built(state(events=[CustomerMessage("wamid.1", NOW - hours(1))], category=Category.UTILITY))
    select = block(view, modal.BLOCK_CATEGORY)
    assert select["type"] == "input" and select["dispatch_action"] is True
    options = select["element"]["options"]
    assert [o["value"] for o in options] == ["service", "authentication", "utility", "marketing"]
    assert [o["text"]["text"] for o in options] == ["Serviço", "Autenticação", "Utilidade", "Marketing"]
    descriptions = [o["description"]["text"] for o in options]
    # From 2026-10-01, free text in the window is billed at the utility rate (Brazil: 0.0068).
    assert descriptions == ["US$ 0,0068", "US$ 0,0068", "US$ 0,0068", "US$ 0,0625"]
    assert select["element"]["initial_option"]["value"] == "utility"
    text = all_text(view)
    # The price on the card; where it comes from, said once in a context line (issue 10).
    assert "\\nUS$ 0,0625" in text and "preço estimado para" not in text
    assert "Preços: tabela da Meta para +55, em US$, de 2026-01-01" in text


def test_category_cards_show_unavailable_free_text_when_the_window_is_closed() -> None:
    view = built(state(events=[]))
    cards = next(b for b in view["blocks"] if len(b.get("fields") or []) == 4)
    service = cards["fields"][0]["text"]
    # Short on the card (issue 10: the first screenful); the window is named on the line above.
    assert service.startswith("*Serviço*") and "Indisponível · janela fechada" in service
    # The era is no longer in the card title: a context line for the curious (issue 10).
    assert "text" not in cards and "por mensagem (PMP)" in all_text(view)


def test_cbp_open_sessions_show_time_left_and_are_free() -> None:
    expires = (
        CBP_NOW
        + hours(
            5,
        )
        + timedelta(minutes=30)
    )
    events: list[Event] = [
        CustomerMessage("wamid.1", CBP_NOW - hours(1)),
        ConversationSeen("conv-1", "marketing", expires),
    ]
    view = built(state(at=CBP_NOW, events=events, category=Category.MARKETING))
    cards = next(b for b in view["blocks"] if len(b.get("fields") or []) == 4)
    marketing = cards["fields"][3]["text"]
    assert "Sessão aberta · fecha em 5 h 30 min" in marketing
    assert date_token(expires, format_time(expires, "pt-BR")) in marketing
    assert "Grátis · sessão já paga aberta" in marketing
    assert "Nenhuma sessão aberta" in cards["fields"][1]["text"]  # authentication: none open
    assert "por conversa (CBP)" in all_text(view)


def test_templates_only_bsp_says_so_and_the_rest_works() -> None:
    utility = template()
    view = built(
        state(session_data=SessionData.NONE, category=Category.UTILITY, templates=[utility], template=utility)
    )
    tx = Texts("pt-BR")
    text = all_text(view)
    assert tx.t("screen.cards.no_session_data") in text
    assert "Customer Care" not in text and "Click to WhatsApp" not in text
    assert not any(b.get("fields") for b in view["blocks"])
    assert (
        block(view, modal.template_block_id(Category.UTILITY))["element"]["options"][0]["value"]
        == utility.key
    )
    assert "var:body.1" in block_ids(view) and "var:body.2" in block_ids(view)
    options = block(view, modal.BLOCK_CATEGORY)["element"]["options"]
    assert {o["description"]["text"] for o in options} == {"Custo desconhecido"}


def test_templates_only_bsp_offers_free_text_with_a_warning() -> None:
    view = built(state(session_data=SessionData.NONE, category=Category.SERVICE))
    assert modal.BLOCK_FREE_TEXT in block_ids(view)
    assert Texts("pt-BR").t("screen.free_text.no_session_data") in all_text(view)


@pytest.mark.parametrize("category", [Category.AUTHENTICATION, Category.UTILITY, Category.MARKETING])
def test_each_template_category_lists_its_templates(category: Category) -> None:
    templates = [template(name=f"{category.value}_{i}", category=category) for i in range(3)]
    view = built(state(category=category, templates=templates))
    # The select's block id follows the category, so Slack never keeps another category's choice.
    select = block(view, modal.template_block_id(category))
    assert select["type"] == "input" and select["dispatch_action"] is True
    assert select["element"]["action_id"] == modal.ACTION_TEMPLATE
    assert [o["value"] for o in select["element"]["options"]] == [t.key for t in templates]
    assert "initial_option" not in select["element"]
    refresh = block(view, modal.BLOCK_TEMPLATES_ACTIONS)
    assert refresh["elements"][0]["action_id"] == modal.ACTION_REFRESH_TEMPLATES
    assert modal.BLOCK_FREE_TEXT not in block_ids(view)


def test_authentication_template_asks_for_the_code_once() -> None:
    otp = template(
        name="codigo",
        category=Category.AUTHENTICATION,
        body="",
        buttons=(TemplateButton("OTP", "Copiar código", otp_type="COPY_CODE"),),
    )
    view = built(state(category=Category.AUTHENTICATION, templates=[otp], template=otp))
    variables = [b for b in view["blocks"] if b.get("block_id", "").startswith("var:")]
    assert [b["block_id"] for b in variables] == ["var:body.1"]
    assert variables[0]["label"]["text"] == "Código de verificação"
    assert "é seu código de verificação" in all_text(view)


@pytest.mark.parametrize(
    ("status", "key"),
    [
        ("loading", "screen.templates.loading"),
        ("error", "screen.templates.error"),
        ("fresh", "screen.templates.none"),
    ],
)
def test_no_templates_to_list_says_why_and_offers_refresh(status: str, key: str) -> None:
    view = built(state(category=Category.MARKETING, templates=[], templates_status=status))
    tx = Texts("pt-BR")
    assert tx.t(key, category="Marketing") in all_text(view)
    assert modal.template_block_id(Category.MARKETING) not in block_ids(view)
    assert (
        block(view, modal.BLOCK_TEMPLATES_ACTIONS)["elements"][0]["action_id"]
        == modal.ACTION_REFRESH_TEMPLATES
    )


def test_stale_list_is_shown_with_a_note() -> None:
    view = built(state(category=Category.UTILITY, templates=[template()], templates_status="stale"))
    assert Texts("pt-BR").t("screen.templates.stale") in all_text(view)
    assert modal.template_block_id(Category.UTILITY) in block_ids(view)


def test_chosen_template_full_preview_and_one_input_per_variable() -> None:
    chosen = rich_template()
    view = built(
        state(
            category=Category.UTILITY,
            templates=[template(), chosen],
            template=chosen,
            values={"body.1": "Maria"},
        )
    )
    text = all_text(view)
    assert "*Entrega {{1}}*" in text  # header, placeholder kept until filled
    assert "Olá Maria, sua entrega chega {{2}} entre {{3}}." in text  # body with the value so far
    assert "Loja Exemplo" in text  # footer
    assert "Rastrear (https://exemplo.com/r/{{1}})" in text and "Ligar (+551140000000)" in text
    assert "Falar com atendente" in text
    assert block(view, modal.template_block_id(Category.UTILITY))["element"]["initial_option"]["value"] == (
        chosen.key
    )
    inputs = [b for b in view["blocks"] if b.get("block_id", "").startswith("var:")]
    assert [b["block_id"] for b in inputs] == [f"var:{v.key}" for v in template_variables(chosen)]
    assert [b["block_id"] for b in inputs] == [
        "var:header.1",
        "var:body.1",
        "var:body.2",
        "var:body.3",
        "var:button.0",
    ]
    assert all(b["element"]["action_id"] == "var_value" for b in inputs)
    # Labels name their place; header {{1}} and body {{1}} are told apart (issue 10).
    assert inputs[0]["label"]["text"] == "Cabeçalho {{1}} · em “Entrega {{1}}”"
    assert inputs[1]["label"]["text"] == "Corpo {{1}} · em “Olá {{1}}, sua entrega chega…”"
    assert inputs[1]["element"]["initial_value"] == "Maria"
    assert inputs[4]["label"]["text"] == "Botão 1 · Rastrear · completa https://exemplo.com/r/…"
    # Enter in an input redraws the preview; a button does too.
    assert all(b["dispatch_action"] is True for b in inputs)
    assert all(
        b["element"]["dispatch_action_config"] == {"trigger_actions_on": ["on_enter_pressed"]} for b in inputs
    )
    assert block(view, modal.BLOCK_PREVIEW_ACTIONS)["elements"][0]["action_id"] == modal.ACTION_UPDATE_PREVIEW
    assert "submit" in view


def test_named_variables_use_their_names_and_examples_as_placeholders() -> None:
    named = template(name="boas_vindas", body="Oi {{first_name}}!", parameter_format="NAMED")
    view = built(state(category=Category.UTILITY, templates=[named], template=named))
    variable = block(view, "var:body.first_name")
    assert variable["label"]["text"] == "Corpo {{first_name}} · em “Oi {{first_name}}!”"
    assert variable["element"]["placeholder"]["text"] == "Digite o valor"  # no example from Meta


def test_150_templates_with_40_variables_and_5000_characters_stay_within_limits() -> None:
    body = " ".join(f"campo {{{{{i}}}}}" for i in range(1, 41))
    body = body + " " + ("texto longo & <especial> " * 400)[: 5000 - len(body)]
    templates = [
        template(
            name=f"modelo_{i:03d}_" + "x" * 80,
            body=body,
            header_format="TEXT",
            header_text="Cabeçalho {{1}} " + "h" * 40,
            footer_text="rodapé " * 20,
            buttons=tuple(TemplateButton("QUICK_REPLY", "b" * 25) for _ in range(10)),
        )
        for i in range(150)
    ]
    chosen = templates[42]
    assert len(chosen.body_text) >= 5000 and len(template_variables(chosen)) == 41
    for lang in LANGS:
        view = built(
            state(
                lang=lang,
                category=Category.MARKETING,
                templates=templates,
                template=chosen,
                events=[CustomerMessage("wamid.1", NOW - hours(1))],
                values={f"body.{i}": "v" * 3000 for i in range(1, 41)},
            )
        )
        select = block(view, modal.template_block_id(Category.MARKETING))
        assert len(select["element"]["options"]) == 100
        assert select["hint"]["text"] == Texts(lang).t("screen.templates.more", shown=100, total=150)
        inputs = [b for b in view["blocks"] if b.get("block_id", "").startswith("var:")]
        assert len(inputs) == 41
        # the preview (120,000 characters once filled) is cut, over at most three sections
        body_sections = [t for t in mrkdwn_texts(view) if t.startswith(("campo ", "vvvv"))]
        assert len(body_sections) == 3 and body_sections[-1].endswith("…")
        # unfilled, the 5,000-character body shows whole, escaped, over several sections
        view = built(state(lang=lang, category=Category.MARKETING, templates=templates, template=chosen))
        shown = "".join(mrkdwn_texts(view))
        assert shown.count("&amp; &lt;especial&gt;") > 150 and "<especial>" not in shown
        assert not any(t.endswith("…") for t in mrkdwn_texts(view))


def test_a_chosen_template_beyond_the_first_100_still_shows() -> None:
    templates = [template(name=f"m{i:03d}") for i in range(150)]
    chosen = templates[120]
    view = built(state(category=Category.UTILITY, templates=templates, template=chosen))
    assert "var:body.1" in block_ids(view)
    assert f"`{chosen.name}`" in all_text(view)
    select = block(view, modal.template_block_id(Category.UTILITY))["element"]
    assert len(select["options"]) == 100 and select["initial_option"]["value"] == chosen.key


def test_a_template_with_more_variables_than_fit_is_refused_in_the_screen() -> None:
    body = " ".join(f"{{{{{i}}}}}" for i in range(1, 121))
    huge = template(name="enorme", body=body)
    view = built(state(category=Category.UTILITY, templates=[huge], template=huge))
    assert Texts("pt-BR").t("screen.template.too_many_variables", count=120) in all_text(view)
    assert len(view["blocks"]) <= 100


def test_user_text_is_escaped_everywhere_in_mrkdwn() -> None:
    evil = template(
        name="promo_<@U0BOSS>",
        category=Category.MARKETING,
        body="Oi <!channel> & <https://evil.example|clique> {{1}}",
        footer_text="<@U123> & co",
        buttons=(TemplateButton("QUICK_REPLY", "<!here>"),),
    )
    long_name = "Maria <@U0X> & <!everyone> " + "S" * 300
    view = built(
        state(
            category=Category.MARKETING,
            templates=[evil],
            template=evil,
            values={"body.1": "<#C123> & >"},
            contact_label=long_name,
            teams=[Option("suporte", "Time <b> & " + "T" * 100)],
            notice="screen.errors.send_failed",
            notice_params={"reason": "<!channel> quebrou & parou"},
        )
    )
    for text in mrkdwn_texts(view):
        text = without_date_tokens(text)
        for raw in ("<@", "<!", "<#", "<http"):
            assert raw not in text, text
    text = all_text(view)
    assert "&lt;!channel&gt; &amp; &lt;https://evil.example|clique&gt; &lt;#C123&gt; &amp; &gt;" in text
    assert "&lt;!channel&gt; quebrou &amp; parou" in text  # the notice banner
    team = block(view, modal.BLOCK_TEAM)["element"]["options"][0]["text"]["text"]
    assert team.startswith("Time <b> & ") and len(team) == 75 and team.endswith("…")


def test_notice_banner_on_top() -> None:
    view = built(state(notice="screen.errors.window_closed_meanwhile"))
    # Right under the summary line, which is always first (issue 10).
    assert view["blocks"][0]["block_id"] == modal.BLOCK_SUMMARY
    first = view["blocks"][1]
    assert Texts("pt-BR").t("screen.errors.window_closed_meanwhile") in first["text"]["text"]


def test_user_in_no_team_gets_an_explanation_and_no_submit() -> None:
    view = built(state(contact=False, no_team=True, teams=[], channels=[]))
    assert "submit" not in view
    assert not any(b["type"] == "input" for b in view["blocks"])
    assert Texts("pt-BR").t("screen.summary.no_team") in all_text(view)


def test_team_without_channels() -> None:
    view = built(state(contact=False, channels=[]))
    assert modal.BLOCK_CHANNEL not in block_ids(view)
    assert Texts("pt-BR").t("screen.channel.none") in all_text(view)


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("category", list(Category))
def test_every_category_in_both_languages(lang: str, category: Category) -> None:
    chosen = rich_template() if category is not Category.SERVICE else None
    events = [
        CustomerMessage("wamid.1", NOW - hours(1)),
        CustomerMessage("wamid.ad", NOW - hours(2), from_ad=True),
    ]
    view = built(
        state(
            lang=lang, category=category, events=events, templates=[chosen] if chosen else [], template=chosen
        )
    )
    tx = Texts(lang)
    text = all_text(view)
    assert view["submit"]["text"] == tx.t("screen.submit")
    assert tx.t(f"screen.category.{category.value}") in text
    assert "Customer Care" in text and "Click to WhatsApp" in text
    if category is Category.SERVICE:
        assert modal.BLOCK_FREE_TEXT in block_ids(view)
    else:
        assert modal.template_block_id(category) in block_ids(view)


def test_english_screen_uses_english_times_and_prices() -> None:
    wrote = NOW - hours(2) - timedelta(minutes=45)
    view = built(state(lang="en", events=[CustomerMessage("wamid.1", wrote)], category=Category.SERVICE))
    text = all_text(view)
    until = wrote + hours(24)
    closes = f"closes in 21 h 15 min ({date_token(until, 'Nov 25, 13:15')})"
    assert f"service window open · {closes} · free text allowed" in text
    assert format_price(0.0625, "USD", "en") == "US$0.0625"
    assert "\\nUS$0.0625" in text and "Prices: Meta's rate card for +55, in US$, from 2026-01-01" in text
    assert view["title"]["text"] == "Contato Ativo" and view["submit"]["text"] == "Send"


def test_metadata_carries_the_choices_but_not_what_was_typed() -> None:
    chosen = rich_template()
    view = built(
        state(category=Category.UTILITY, templates=[chosen], template=chosen, values={"body.1": "segredo"})
    )
    decoded = decode_metadata(view["private_metadata"])
    assert (
        decoded.contact_e164,
        decoded.team_id,
        decoded.channel_id,
        decoded.category,
        decoded.template_key,
    ) == ("+5511988887777", "suporte", "vendas", Category.UTILITY, chosen.key)
    assert decoded.idempotency_key == "idem-1" and decoded.origin_channel == "C0ORIGIN"
    # The one contact field is a select: the metadata remembers the option it was drawn with.
    assert decoded.contact_picked == "+5511988887777"
    assert "segredo" not in view["private_metadata"] and decoded.values == {}


def test_long_contact_query_keeps_the_metadata_within_3000() -> None:
    screen = state(contact=False)
    screen.inputs = ScreenInputs(contact_query="9" * 10_000, idempotency_key="k", team_id="suporte")
    view = built(screen)
    assert len(view["private_metadata"]) <= 3000
    assert decode_metadata(view["private_metadata"]).idempotency_key == "k"


def test_block_id_for_field() -> None:
    assert modal.block_id_for_field("contact") == modal.BLOCK_CONTACT
    assert modal.block_id_for_field("team") == modal.BLOCK_TEAM
    assert modal.block_id_for_field("channel") == modal.BLOCK_CHANNEL
    assert modal.block_id_for_field("category") == modal.BLOCK_CATEGORY
    assert modal.block_id_for_field("template") == modal.BLOCK_TEMPLATE
    assert modal.block_id_for_field("free_text") == modal.BLOCK_FREE_TEXT
    assert modal.block_id_for_field("body.1") == "var:body.1"
    chosen = rich_template()
    view = built(state(category=Category.UTILITY, templates=[chosen], template=chosen))
    assert modal.block_id_for_field("body.2", view["blocks"]) == "var:body.2"
    # A variable the view does not show: its error goes on the template select.
    # A variable the view does not show: its error goes on the template select (its id follows the
    # category).
    assert modal.block_id_for_field("body.9", view["blocks"]) == modal.template_block_id(Category.UTILITY)
    assert modal.block_id_for_field("template", view["blocks"]) == modal.template_block_id(Category.UTILITY)
    # Free text on a template screen: the nearest input that is there.
    assert modal.block_id_for_field("free_text", view["blocks"]) == modal.template_block_id(Category.UTILITY)
    service = built(state(category=Category.SERVICE, events=[]))
    assert modal.block_id_for_field("free_text", service["blocks"]) == modal.BLOCK_CATEGORY
    assert modal.block_id_for_field("template", service["blocks"]) == modal.BLOCK_CATEGORY


# User text that happens to look like a catalogue key would trip `built`'s missing-key check.
_texts = st.text(max_size=400).filter(lambda t: "screen." not in t and "messages." not in t)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lang=st.sampled_from(LANGS),
    category=st.sampled_from([None, *Category]),
    session_data=st.sampled_from(list(SessionData)),
    contact=st.booleans(),
    status=st.sampled_from(["fresh", "stale", "loading", "error"]),
    labels=st.lists(st.tuples(st.text(max_size=200), _texts), max_size=120),  # (value, label)
    name=st.text(max_size=600),
    body=st.text(max_size=6000),
    header=st.one_of(st.none(), _texts),
    footer=st.one_of(st.none(), _texts),
    value=st.text(max_size=4000),
    query=st.text(max_size=4000),
    label=_texts,
    offsets=st.lists(st.integers(min_value=-200, max_value=200), max_size=6),
)
def test_any_state_builds_a_view_slack_accepts(
    lang: str,
    category: Category | None,
    session_data: SessionData,
    contact: bool,
    status: str,
    labels: list[tuple[str, str]],
    name: str,
    body: str,
    header: str | None,
    footer: str | None,
    value: str,
    query: str,
    label: str,
    offsets: list[int],
) -> None:
    events: list[Event] = []
    for i, offset in enumerate(offsets):
        at = NOW + hours(offset / 4)
        events.append(CustomerMessage(f"m{i}", at, from_ad=i % 2 == 0))
        events.append(BusinessMessage(f"b{i}", at + hours(1)))
        events.append(
            ConversationSeen(f"c{i}", ["marketing", "utility", "referral_conversion"][i % 3], at + hours(24))
        )
    chosen = template(
        name=name,
        body=body + " {{1}} {{named}}",
        header_format="TEXT" if header else None,
        header_text=header,
        footer_text=footer,
        buttons=(TemplateButton("URL", label, url="https://x.example/{{1}}"),),
    )
    others = [template(name=f"{text}_{i}", body=text) for i, (_, text) in enumerate(labels)]
    screen = state(
        lang=lang,
        category=category,
        session_data=session_data,
        contact=contact,
        events=events,
        templates=others + [chosen],
        template=chosen if category not in (None, Category.SERVICE) else None,
        templates_status=status,
        values={"body.1": value, "body.named": value, "button.0": value},
        teams=[Option(v, t) for v, t in labels[:30]] or [Option("t", label)],
        channels=[Option(v, t) for v, t in labels[30:]],
        contact_label=label if contact else None,
        notice="screen.errors.send_failed" if label else None,
        notice_params={"reason": label},
    )
    screen.inputs.contact_query = query
    screen.inputs.free_text = value
    view = built(screen)
    for text in mrkdwn_texts(view):
        text = without_date_tokens(text)
        assert "<@" not in text and "<!" not in text
    assert read_inputs({"private_metadata": view["private_metadata"]}).idempotency_key == "idem-1"


def test_a_media_header_gets_a_link_input_and_a_location_four() -> None:
    image = template(name="foto", header_format="IMAGE", body="Olá {{1}}")
    view = built(state(category=Category.UTILITY, templates=[image], template=image))
    media = block(view, modal.media_block_id("header.media"))
    assert media["label"]["text"] == "Imagem do cabeçalho (link https ou id da mídia)"
    assert media["element"]["action_id"] == modal.ACTION_MEDIA
    assert "🖼️ Imagem no cabeçalho" in all_text(view)
    # The error of a missing link lands on its input.
    assert modal.block_id_for_field("header.media", view["blocks"]) == "media:header.media"
    place = template(name="loja", header_format="LOCATION", body="Venha!")
    view = built(state(category=Category.UTILITY, templates=[place], template=place))
    ids = [b for b in block_ids(view) if b.startswith("media:")]
    assert ids == [f"media:header.location.{n}" for n in ("latitude", "longitude", "name", "address")]
