"""Template variables (what the agent fills), previews, and category names."""

from __future__ import annotations

import pytest

from bot.rules.events import Category
from bot.rules.templates import (
    RenderedTemplate,
    Template,
    TemplateButton,
    TemplateVariable,
    code_button_index,
    is_authentication,
    missing_variables,
    normalise_category,
    render_preview,
    template_variables,
    unknown_variables,
)


def make(**fields: object) -> Template:
    base: dict[str, object] = {
        "name": "t",
        "language": "pt_BR",
        "category": Category.UTILITY,
        "status": "APPROVED",
    }
    base.update(fields)
    return Template(**base)  # type: ignore[arg-type]


def keys(t: Template) -> list[str]:
    return [v.key for v in template_variables(t)]


POSITIONAL = make(
    header_format="TEXT",
    header_text="Olá {{1}}!",
    body_text="Seu pedido {{2}} chega em {{1}} dias. Pedido {{2}} confirmado.",
    footer_text="Loja Exemplo",
    buttons=(
        TemplateButton(type="URL", text="Rastrear", url="https://loja.example/rastreio/{{1}}"),
        TemplateButton(type="QUICK_REPLY", text="Parar"),
        TemplateButton(type="PHONE_NUMBER", text="Ligar", phone_number="+551140000000"),
    ),
)

NAMED = make(
    parameter_format="NAMED",
    header_format="IMAGE",
    body_text="Reserva para {{number_of_guests}} em {{day}}, {{date}}, às {{time}}. Até {{day}}!",
    buttons=(TemplateButton(type="URL", text="Alterar", url="https://r.example/reservas"),),
)

OTP = make(
    category=Category.AUTHENTICATION,
    raw_category="AUTHENTICATION",
    language="pt_BR",
    body_text="",
    footer_text="Este código expira em 10 minutos.",
    buttons=(TemplateButton(type="OTP", text="Copiar código", otp_type="COPY_CODE"),),
)


# --- template_variables ------------------------------------------------------------------------


def test_positional_variables_header_then_body_in_number_order_then_url_button() -> None:
    assert template_variables(POSITIONAL) == [
        TemplateVariable(key="header.1", component="header", name="1"),
        TemplateVariable(key="body.1", component="body", name="1"),
        TemplateVariable(key="body.2", component="body", name="2"),
        TemplateVariable(key="button.0", component="button", name="0"),
    ]


def test_named_variables_in_order_of_first_appearance_without_repeats() -> None:
    assert keys(NAMED) == ["body.number_of_guests", "body.day", "body.date", "body.time"]


def test_placeholders_with_spaces_are_variables() -> None:
    assert keys(make(body_text="Oi {{ 1 }}, código {{2 }}")) == ["body.1", "body.2"]


def test_positional_numbers_sort_numerically() -> None:
    body = " ".join(f"{{{{{n}}}}}" for n in (10, 2, 1))
    assert keys(make(body_text=body)) == ["body.1", "body.2", "body.10"]


def test_media_header_has_no_variable() -> None:
    t = make(header_format="IMAGE", header_text="{{1}}", body_text="Oi")
    assert keys(t) == []


def test_text_header_without_format_is_text() -> None:
    assert keys(make(header_text="Olá {{1}}", body_text="x")) == ["header.1"]


def test_button_index_is_its_position_among_all_buttons() -> None:
    t = make(
        body_text="x",
        buttons=(
            TemplateButton(type="QUICK_REPLY", text="Sim"),
            TemplateButton(type="URL", text="Fixo", url="https://a.example/"),
            TemplateButton(type="url", text="Variável", url="https://a.example/{{1}}"),
        ),
    )
    assert keys(t) == ["button.2"]


def test_coupon_copy_code_button_of_a_marketing_template_is_a_variable() -> None:
    t = make(
        category=Category.MARKETING,
        body_text="Use o cupom",
        buttons=(TemplateButton(type="QUICK_REPLY", text="Parar"), TemplateButton(type="COPY_CODE")),
    )
    assert keys(t) == ["button.1"]
    assert code_button_index(t) is None


def test_template_without_variables() -> None:
    assert template_variables(make(body_text="Obrigado pelo contato.")) == []


def test_otp_template_has_exactly_the_code_variable() -> None:
    assert keys(OTP) == ["body.1"]
    assert is_authentication(OTP)
    assert code_button_index(OTP) == 0


def test_otp_recognised_by_raw_category_and_stored_body_ignored() -> None:
    t = make(
        category=None,
        raw_category="OTP",
        body_text="{{1}} é seu código. Não compartilhe {{2}}.",
        buttons=(
            TemplateButton(type="QUICK_REPLY", text="x"),
            TemplateButton(type="COPY_CODE", text="Copiar"),
        ),
    )
    assert is_authentication(t)
    assert keys(t) == ["body.1"]
    assert code_button_index(t) == 1


def test_authentication_without_a_code_button() -> None:
    assert code_button_index(make(category=Category.AUTHENTICATION, body_text="{{1}}")) is None


# --- missing and unknown -----------------------------------------------------------------------


def test_missing_variables_counts_blank_values_as_missing() -> None:
    values = {"header.1": "Ana", "body.1": "   ", "button.0": "ABC123"}
    assert [v.key for v in missing_variables(POSITIONAL, values)] == ["body.1", "body.2"]
    assert (
        missing_variables(POSITIONAL, {"header.1": "a", "body.1": "b", "body.2": "c", "button.0": "d"}) == []
    )
    assert [v.key for v in missing_variables(POSITIONAL, {})] == ["header.1", "body.1", "body.2", "button.0"]


def test_unknown_variables_names_typos_and_foreign_keys() -> None:
    values = {"body.1": "x", "body.3": "y", "body.nome": "z", "header.1": "h"}
    assert unknown_variables(POSITIONAL, values) == ["body.3", "body.nome"]
    assert unknown_variables(NAMED, {"body.day": "sábado", "body.1": "x"}) == ["body.1"]
    assert unknown_variables(OTP, {"body.1": "123456", "button.0": "123456"}) == ["button.0"]


# --- render_preview ----------------------------------------------------------------------------


def test_preview_substitutes_every_value_including_repeats() -> None:
    rendered = render_preview(
        POSITIONAL, {"header.1": "Ana", "body.1": "3", "body.2": "#42", "button.0": "XYZ"}
    )
    assert rendered == RenderedTemplate(
        header="Olá Ana!",
        body="Seu pedido #42 chega em 3 dias. Pedido #42 confirmado.",
        footer="Loja Exemplo",
        buttons=["Rastrear (https://loja.example/rastreio/XYZ)", "Parar", "Ligar (+551140000000)"],
    )


def test_preview_keeps_placeholders_of_missing_values() -> None:
    rendered = render_preview(POSITIONAL, {"body.2": "#42", "body.1": " "})
    assert rendered.header == "Olá {{1}}!"
    assert rendered.body == "Seu pedido #42 chega em {{1}} dias. Pedido #42 confirmado."
    assert rendered.buttons[0] == "Rastrear (https://loja.example/rastreio/{{1}})"
    assert render_preview(POSITIONAL).body == POSITIONAL.body_text


def test_preview_of_named_template() -> None:
    rendered = render_preview(
        NAMED, {"body.number_of_guests": "4", "body.day": "sábado", "body.time": "19h30"}
    )
    assert rendered.header is None
    assert rendered.body == "Reserva para 4 em sábado, {{date}}, às 19h30. Até sábado!"
    assert rendered.buttons == ["Alterar (https://r.example/reservas)"]


def test_preview_values_are_literal_text() -> None:
    rendered = render_preview(make(body_text="Oi {{1}}"), {"body.1": r"\1 {{2}} $&"})
    assert rendered.body == r"Oi \1 {{2}} $&"


def test_preview_of_otp_shows_metas_fixed_body_in_the_template_language() -> None:
    assert render_preview(OTP).body == "*{{1}}* é seu código de verificação."
    rendered = render_preview(OTP, {"body.1": "123456"})
    assert rendered.body == "*123456* é seu código de verificação."
    assert rendered.footer == "Este código expira em 10 minutos."
    assert rendered.buttons == ["Copiar código"]
    english = make(category=Category.AUTHENTICATION, language="en_US", body_text="")
    assert render_preview(english, {"body.1": "9"}).body == "*9* is your verification code."
    unknown_language = make(category=Category.AUTHENTICATION, language="ja", body_text="")
    assert render_preview(unknown_language).body == "*{{1}}* is your verification code."


def test_preview_of_otp_puts_the_code_in_its_stored_body_whatever_the_placeholder() -> None:
    t = make(category=Category.AUTHENTICATION, body_text="Código: {{code}}", language="pt_BR")
    assert keys(t) == ["body.1"]
    assert render_preview(t, {"body.1": "777"}).body == "Código: 777"
    assert render_preview(t).body == "Código: {{code}}"


def test_preview_of_coupon_button_shows_the_code_when_given() -> None:
    t = make(
        category=Category.MARKETING,
        body_text="Cupom!",
        buttons=(TemplateButton(type="COPY_CODE", text="Copiar"),),
    )
    assert render_preview(t).buttons == ["Copiar"]
    assert render_preview(t, {"button.0": "BLACK10"}).buttons == ["Copiar (BLACK10)"]


def test_preview_buttons_without_text_use_their_type() -> None:
    t = make(
        body_text="x",
        buttons=(TemplateButton(type="FLOW"), TemplateButton(type="URL", url="https://a/{{1}}")),
    )
    assert render_preview(t, {"button.1": "z"}).buttons == ["Flow", "https://a/z"]


def test_preview_keeps_a_media_header_caption_as_is() -> None:
    t = make(header_format="DOCUMENT", header_text="{{1}}.pdf", body_text="x")
    assert render_preview(t, {"header.1": "fatura"}).header == "{{1}}.pdf"


# --- categories --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("MARKETING", Category.MARKETING),
        ("marketing", Category.MARKETING),
        ("MARKETING_LITE", Category.MARKETING),
        ("UTILITY", Category.UTILITY),
        ("TRANSACTIONAL", Category.UTILITY),
        ("ACCOUNT_UPDATE", Category.UTILITY),
        ("ISSUE_RESOLUTION", Category.UTILITY),
        ("SHIPPING_UPDATE", Category.UTILITY),
        ("PAYMENT_UPDATE", Category.UTILITY),
        ("AUTO_REPLY", Category.UTILITY),
        ("account update", Category.UTILITY),
        ("AUTHENTICATION", Category.AUTHENTICATION),
        ("OTP", Category.AUTHENTICATION),
        ("authentication-international", Category.AUTHENTICATION),
        (" Service ", Category.SERVICE),
        ("ALERT", None),
        ("", None),
        (None, None),
    ],
)
def test_normalise_category(raw: str | None, expected: Category | None) -> None:
    assert normalise_category(raw) is expected


# --- a real template list ----------------------------------------------------------------------


def test_variables_of_real_graph_templates() -> None:
    from bot.bsp.meta import parse_graph_template
    from tests.conftest import load_fixture

    items = load_fixture("cloudapi-template-list-named-and-positional.json")["data"]
    by_name = {t.name: t for t in map(parse_graph_template, items)}
    assert keys(by_name["reservation_confirmation"]) == [
        "body.number_of_guests",
        "body.day",
        "body.date",
        "body.time",
    ]
    assert keys(by_name["coupon_expiration_reminder_number_vars"]) == ["header.1", "body.1", "body.2"]
