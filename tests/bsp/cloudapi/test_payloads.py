"""Meta's Cloud API: every real payload it sends, as a table of cases (as courier's testdata/)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bot.bsp import meta
from bot.bsp.base import InboundMessage, ProviderError, StatusUpdate, TemplateSend
from bot.rules.events import Category
from bot.rules.templates import Template, TemplateButton
from tests.bsp import utc
from tests.conftest import load_fixture


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


# case name -> real payload (tests/fixtures/whatsapp) -> what it must produce
PAYLOADS = [
    pytest.param(
        "cloudapi-error-132000-param-count-mismatch.json", check_132000, id="error_132000_param_count"
    ),
    pytest.param(
        "cloudapi-inbound-template-quick-reply-button.json",
        check_inbound_button,
        id="inbound_quick_reply_button",
    ),
    pytest.param("cloudapi-inbound-text.json", check_inbound_text, id="inbound_text"),
    pytest.param(
        "cloudapi-send-auth-copy-code-request.json", check_copy_code_request, id="send_auth_copy_code"
    ),
    pytest.param("cloudapi-send-response.json", check_send_response, id="send_response"),
    pytest.param("cloudapi-status-failed-131049.json", check_failed_131049, id="status_failed_131049"),
    pytest.param(
        "cloudapi-status-sent-pmp-marketing-with-conversation.json",
        check_sent_with_conversation,
        id="status_sent_with_conversation",
    ),
    pytest.param(
        "cloudapi-status-v24-no-conversation-no-pricing.json", check_v24, id="status_v24_no_conversation"
    ),
    pytest.param(
        "cloudapi-template-create-auth-otp-copy-code.json",
        check_auth_template,
        id="template_auth_otp_copy_code",
    ),
    pytest.param(
        "cloudapi-template-list-fields-mixed-status.json", check_mixed_status, id="template_list_mixed_status"
    ),
    pytest.param(
        "cloudapi-template-list-named-and-positional.json",
        check_named_and_positional,
        id="template_list_named_and_positional",
    ),
]


@pytest.mark.parametrize(("fixture", "check"), PAYLOADS)
def test_real_payload(fixture: str, check: Callable[[Any], None]) -> None:
    check(load_fixture(fixture))
