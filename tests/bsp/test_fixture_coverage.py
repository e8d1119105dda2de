"""Every real payload in tests/fixtures/whatsapp goes through the parser it belongs to, with what
it must produce asserted. A new fixture file fails `test_every_fixture_is_covered` until it is
listed here."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from bot.bsp import meta
from bot.bsp.base import InboundMessage, ProviderError, StatusUpdate, TemplateSend
from bot.bsp.dialog360 import adapter as dialog360
from bot.bsp.gupshup import adapter as gupshup
from bot.rules.events import Category
from bot.rules.templates import Template, TemplateButton
from tests.conftest import WHATSAPP_FIXTURES, load_fixture


def utc(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def check_360dialog_error(data: object) -> None:
    error = dialog360.parse_error(data, 401)
    assert error.code == "invalid_api_key"
    assert error.message == "Invalid api_key or token expired"
    # The payload itself says 404 (doc inconsistency): still a bad key.
    assert dialog360.parse_error(data, 404).code == "invalid_api_key"


def check_360dialog_templates(data: dict) -> None:
    templates = meta.parse_template_items(data["waba_templates"], "c")
    assert len(templates) == len(data["waba_templates"]) == 10
    assert {t.language for t in templates if t.name == "hello"} == {"en", "en_GB", "fr"}
    hello_fr = next(t for t in templates if t.key == "hello:fr")
    assert hello_fr.approved and hello_fr.body_text == "Bonjour {{1}}"
    assert hello_fr.category is Category.UTILITY and hello_fr.raw_category == "ISSUE_RESOLUTION"
    assert hello_fr.namespace == "xxxxxxxx_xxxx_xxxx_xxxx_xxxxxxxxxxxx"
    image = next(t for t in templates if t.name == "missing_text_component")
    assert image.header_format == "IMAGE" and image.header_text is None and image.body_text == ""
    assert next(t for t in templates if t.name == "invalid_component").body_text == ""
    assert next(t for t in templates if t.name == "invalid_status").status == "UNKNOWN"
    workout = next(t for t in templates if t.name == "workout_activity")
    assert workout.header_format == "TEXT" and workout.footer_text == "Remember to drink water."


def check_132000(data: object) -> None:
    error = meta.parse_error(data, 400)
    assert error.code == "132000" and error.http_status == 400
    assert "number of localizable_params (0)" in error.message


def check_inbound_button(data: object) -> None:
    (event,) = meta.parse_envelope(data)
    assert event == InboundMessage(
        message_id="wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUU0M0MxQzQzMUJCMTMwNUZFOQA=",
        wa_id="16505551234",
        at=utc(1750091045),
        type="button",
        profile_name="Sheena Nelson",
        text="Unsubscribe",
        context_id="wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJFNjk2OTMwNEZCQjhGMzUyQUYA",
    )


def check_inbound_text(data: object) -> None:
    (event,) = meta.parse_envelope(data)
    assert isinstance(event, InboundMessage)
    assert event.at == utc(1749416383) and event.wa_id == "16505551234"
    assert event.text == "Does it come in another color?" and event.profile_name == "Sheena Nelson"
    assert event.referral is None and event.context_id is None


def check_copy_code_request(data: object) -> None:
    template = Template(
        name="verification_code",
        language="en_US",
        category=Category.AUTHENTICATION,
        status="APPROVED",
        raw_category="AUTHENTICATION",
        buttons=(TemplateButton(type="OTP", text="Copy Code", otp_type="COPY_CODE"),),
    )
    assert meta.build_template_body("+12015553931", TemplateSend(template, {"body.1": "J$FpnYnP"})) == data


def check_send_response(data: object) -> None:
    result = meta.parse_send_response(data)
    assert result.message_id == "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI4Qzc5QkNGNTc5NTMyMDU5QzEA"
    assert result.wa_id == "12015553931"


def check_failed_131049(data: object) -> None:
    (event,) = meta.parse_envelope(data)
    assert isinstance(event, StatusUpdate)
    assert event.status == "failed" and event.at == utc(1751142888) and event.recipient_wa_id == "16505551234"
    assert event.errors == (
        ProviderError(
            code="131049",
            title="This message was not delivered to maintain healthy ecosystem engagement.",
            detail="In order to maintain a healthy ecosystem engagement, the message failed to be delivered.",
        ),
    )
    assert event.conversation_expires_at is None


def check_sent_with_conversation(data: object) -> None:
    (event,) = meta.parse_envelope(data)
    assert isinstance(event, StatusUpdate)
    assert event.status == "sent" and event.at == utc(1750030073)
    assert event.conversation_id == "72b14d6bd5407799e66f64d1b338e567"
    assert event.conversation_origin == "marketing"
    assert event.conversation_expires_at == utc(1750116480)
    assert (event.pricing_model, event.pricing_category) == ("PMP", "marketing")


def check_v24(data: object) -> None:
    (event,) = meta.parse_envelope(data)
    assert isinstance(event, StatusUpdate)
    assert event.status == "sent" and event.at == utc(1750030073)
    assert event.conversation_id is None and event.conversation_expires_at is None
    assert event.pricing_model is None and event.errors == ()


def check_auth_template(data: object) -> None:
    template = meta.parse_graph_template(data)
    assert template.category is Category.AUTHENTICATION
    assert template.body_text == "" and template.status == "UNKNOWN"
    assert template.buttons == (TemplateButton(type="OTP", text="Copy Code", otp_type="COPY_CODE"),)


def check_mixed_status(data: dict) -> None:
    # Asked with `fields=name,category,status`, Graph leaves out `language`: a template cannot be
    # told apart from its other languages, so it is skipped (cloudapi always asks for language).
    for item in data["data"]:
        with pytest.raises(ValueError, match="language"):
            meta.parse_graph_template(item)
    assert meta.parse_template_items(data["data"], "c") == []
    with_language = [{**item, "language": "en_US"} for item in data["data"]]
    templates = meta.parse_template_items(with_language, "c")
    assert [t.status for t in templates] == ["APPROVED", "APPROVED", "APPROVED", "PENDING", "REJECTED"]
    assert [t.approved for t in templates] == [True, True, True, False, False]
    assert templates[0].category is Category.UTILITY and templates[1].category is Category.MARKETING
    assert templates[0].provider_ref == "1387372356726668"


def check_named_and_positional(data: dict) -> None:
    named, positional = meta.parse_template_items(data["data"], "c")
    assert named.parameter_format == "NAMED" and named.header_format == "IMAGE"
    assert "{{number_of_guests}}" in named.body_text and named.provider_ref == "1387372356726668"
    assert [b.type for b in named.buttons] == ["URL", "PHONE_NUMBER", "QUICK_REPLY"]
    assert named.buttons[1].phone_number == "+16467043595"
    assert positional.parameter_format == "POSITIONAL" and positional.header_text == "Act fast, {{1}}!"
    assert positional.category is Category.MARKETING and positional.footer_text == "Lucky Shrub Succulents"


def check_gupshup_v3(data: object) -> None:
    (event,) = gupshup.parse_gupshup_webhook(data)
    assert isinstance(event, StatusUpdate)
    assert event.message_id == "{{WA_MESSAGE_ID}}" and event.status == "sent"
    assert event.at == utc(1710930461) and event.conversation_expires_at == utc(1710936120)
    # Doc inconsistency kept as sent: origin "service" next to pricing category "marketing".
    assert event.conversation_origin == "service" and event.pricing_category == "marketing"


def check_onprem_470(data: object) -> None:
    (event,) = meta.parse_envelope(data)
    assert isinstance(event, StatusUpdate)
    assert event.status == "failed" and event.at == utc(1533332775)
    assert event.recipient_wa_id == "12064001000"
    assert event.errors[0].code == "470"
    assert event.errors[0].title.startswith("Failed to send message because you are outside the support")


CHECKS: dict[str, Callable] = {
    "360dialog-error-invalid-api-key.json": check_360dialog_error,
    "360dialog-templates-list-v1-configs-rapidpro.json": check_360dialog_templates,
    "cloudapi-error-132000-param-count-mismatch.json": check_132000,
    "cloudapi-inbound-template-quick-reply-button.json": check_inbound_button,
    "cloudapi-inbound-text.json": check_inbound_text,
    "cloudapi-send-auth-copy-code-request.json": check_copy_code_request,
    "cloudapi-send-response.json": check_send_response,
    "cloudapi-status-failed-131049.json": check_failed_131049,
    "cloudapi-status-sent-pmp-marketing-with-conversation.json": check_sent_with_conversation,
    "cloudapi-status-v24-no-conversation-no-pricing.json": check_v24,
    "cloudapi-template-create-auth-otp-copy-code.json": check_auth_template,
    "cloudapi-template-list-fields-mixed-status.json": check_mixed_status,
    "cloudapi-template-list-named-and-positional.json": check_named_and_positional,
    "gupshup-v3-status-sent-pmp.json": check_gupshup_v3,
    "onprem-legacy-status-failed-470.json": check_onprem_470,
}


def test_every_fixture_is_covered() -> None:
    on_disk = {p.name for p in WHATSAPP_FIXTURES.iterdir() if p.is_file() and p.name != "SOURCES.md"}
    assert on_disk - CHECKS.keys() == set(), "new fixture files: add a check to CHECKS"
    assert CHECKS.keys() - on_disk == set(), "CHECKS lists files that no longer exist"


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_fixture(name: str) -> None:
    CHECKS[name](load_fixture(name))
