"""Meta's envelope parser and wire formats (shared by cloudapi, 360dialog and Gupshup v3)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.bsp import meta
from bot.bsp.base import (
    BspError,
    InboundMessage,
    NumberChanged,
    ProviderError,
    StatusUpdate,
    TemplateChanged,
    TemplateSend,
    WebhookErrors,
    WebhookShapeError,
)
from bot.bsp.meta.shape import parse_timestamp, timestamp_at
from bot.rules.events import Category
from bot.rules.templates import Template, TemplateButton
from tests.conftest import load_fixture


def utc(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def envelope(*values: dict[str, Any], field: str = "messages") -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA", "changes": [{"field": field, "value": value} for value in values]}],
    }


def message(mid: str = "wamid.1", ts: Any = "1750000000", **extra: Any) -> dict[str, Any]:
    return {
        "from": "5511988887777",
        "id": mid,
        "timestamp": ts,
        "type": "text",
        "text": {"body": "oi"},
        **extra,
    }


def status(
    mid: str = "wamid.out", state: str = "delivered", ts: Any = 1750000100, **extra: Any
) -> dict[str, Any]:
    return {"id": mid, "status": state, "timestamp": ts, "recipient_id": "5511988887777", **extra}


# ---- envelope ---------------------------------------------------------------------------------


def test_batches_are_flattened_in_order() -> None:
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "A",
                "changes": [
                    {"field": "messages", "value": {"messages": [message("m1"), message("m2")]}},
                    {
                        "field": "messages",
                        "value": {"statuses": [status("s1", "sent"), status("s1", "read")]},
                    },
                ],
            },
            {"id": "B", "changes": [{"field": "messages", "value": {"messages": [message("m3")]}}]},
        ],
    }
    events = meta.parse_envelope(payload)
    assert [(type(e).__name__, getattr(e, "message_id", "")) for e in events] == [
        ("InboundMessage", "m1"),
        ("InboundMessage", "m2"),
        ("StatusUpdate", "s1"),
        ("StatusUpdate", "s1"),
        ("InboundMessage", "m3"),
    ]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1750000000", utc(1750000000)),
        (1750000000, utc(1750000000)),
        (1750000000123, utc(1750000000).replace(microsecond=123000)),
        ("1750000000123", utc(1750000000).replace(microsecond=123000)),
    ],
)
def test_timestamps_seconds_strings_and_milliseconds(raw: Any, expected: datetime) -> None:
    (event,) = meta.parse_envelope(envelope({"messages": [message(ts=raw)]}))
    assert event.at == expected  # type: ignore[union-attr]
    assert event.at.tzinfo is not None  # type: ignore[union-attr]


def test_unknown_fields_objects_types_and_keys_are_accepted() -> None:
    payload = envelope(
        {"messages": [message(type="unsupported", errors=[{"code": 131051}], new_key={"x": 1})]}
    )
    payload["entry"][0]["changes"].append({"field": "account_update", "value": {"event": "VERIFIED_ACCOUNT"}})
    payload["entry"][0]["changes"].append({"field": "brand_new_field", "value": [1, 2, 3]})
    payload["entry"][0]["surprise"] = True
    (event,) = meta.parse_envelope(payload)
    # An unsupported message is still the customer writing: it counts for the window.
    assert isinstance(event, InboundMessage) and event.type == "unsupported"
    assert meta.parse_envelope({"object": "page", "entry": [{"changes": "whatever"}]}) == []


def test_value_errors_without_messages() -> None:
    errors = [
        {
            "code": 131000,
            "title": "Something went wrong",
            "message": "Something went wrong",
            "error_data": {"details": "unknown"},
        }
    ]
    assert meta.parse_envelope(envelope({"errors": errors})) == [
        WebhookErrors((ProviderError("131000", "Something went wrong", "unknown"),))
    ]


def test_username_only_users_keep_their_user_id() -> None:
    msg = message(**{"from": "", "from_user_id": "BR.13491208655302741918"})
    value = {
        "contacts": [{"profile": {"name": "Ana"}, "wa_id": "", "user_id": "BR.13491208655302741918"}],
        "messages": [msg],
        "statuses": [status(recipient_id="", recipient_user_id="BR.13491208655302741918")],
    }
    inbound, update = meta.parse_envelope(envelope(value))
    assert isinstance(inbound, InboundMessage) and isinstance(update, StatusUpdate)
    assert (inbound.wa_id, inbound.user_id, inbound.profile_name) == ("", "BR.13491208655302741918", "Ana")
    assert (update.recipient_wa_id, update.recipient_user_id) == ("", "BR.13491208655302741918")


def test_user_id_from_contacts_when_the_message_has_a_number() -> None:
    value = {
        "contacts": [{"profile": {"name": "Ana"}, "wa_id": "5511988887777", "user_id": "BR.1"}],
        "messages": [message()],
    }
    (event,) = meta.parse_envelope(envelope(value))
    assert isinstance(event, InboundMessage) and event.user_id == "BR.1" and event.wa_id == "5511988887777"


def test_user_changed_number_and_other_system_messages() -> None:
    changed = {
        "from": "5511988887777",
        "id": "wamid.sys",
        "timestamp": "1750000000",
        "type": "system",
        "system": {
            "body": "User A changed from 5511988887777 to 5511977776666",
            "wa_id": "5511977776666",
            "type": "user_changed_number",
        },
    }
    other = {**changed, "id": "wamid.sys2", "system": {"type": "user_identity_changed", "body": "x"}}
    assert meta.parse_envelope(envelope({"messages": [changed, other]})) == [
        NumberChanged("5511988887777", "5511977776666", utc(1750000000), "wamid.sys")
    ]


def test_referral_and_context() -> None:
    referral = {"source_type": "ad", "source_id": "123", "source_url": "https://fb.me/x", "ctwa_clid": "abc"}
    (event,) = meta.parse_envelope(
        envelope({"messages": [message(referral=referral, context={"id": "wamid.0"})]})
    )
    assert isinstance(event, InboundMessage)
    assert event.referral == referral and event.context_id == "wamid.0"


@pytest.mark.parametrize(
    ("origin", "expected"),
    [
        ("referral_conversion", "referral_conversion"),
        ("authentication_international", "authentication"),
        ("user_initiated", "service"),
        ("business_initiated", None),
        ("MARKETING", "marketing"),
    ],
)
def test_conversation_origin_is_normalised(origin: str, expected: str | None) -> None:
    conv = {"id": "c1", "expiration_timestamp": 1750086400, "origin": {"type": origin}}
    pricing = {"billable": False, "pricing_model": "pmp", "category": "authentication-international"}
    (event,) = meta.parse_envelope(
        envelope({"statuses": [status("s", "sent", conversation=conv, pricing=pricing)]})
    )
    assert isinstance(event, StatusUpdate)
    assert event.conversation_origin == expected and event.conversation_expires_at == utc(1750086400)
    assert (event.pricing_model, event.pricing_category) == ("PMP", "authentication_international")


def test_delivered_with_conversation_without_expiry() -> None:
    conv = {"id": "c1", "origin": {"type": "utility"}}
    (event,) = meta.parse_envelope(envelope({"statuses": [status(conversation=conv)]}))
    assert isinstance(event, StatusUpdate)
    assert event.conversation_id == "c1" and event.conversation_expires_at is None


def test_template_status_and_category_updates() -> None:
    status_update = envelope(
        {
            "event": "PAUSED",
            "message_template_id": 1,
            "message_template_name": "promo",
            "message_template_language": "pt_BR",
            "reason": "LOW_QUALITY",
        },
        field="message_template_status_update",
    )
    category_update = envelope(
        {
            "message_template_id": 1,
            "message_template_name": "promo",
            "message_template_language": "pt_BR",
            "previous_category": "UTILITY",
            "new_category": "MARKETING",
        },
        field="template_category_update",
    )
    assert meta.parse_envelope(status_update) == [
        TemplateChanged("promo", "pt_BR", "message_template_status_update", new_status="PAUSED")
    ]
    assert meta.parse_envelope(category_update) == [
        TemplateChanged("promo", "pt_BR", "template_category_update", new_category="MARKETING")
    ]


# ---- shape errors -----------------------------------------------------------------------------


def bad(payload: Any) -> WebhookShapeError:
    with pytest.raises(WebhookShapeError) as info:
        meta.parse_envelope(payload)
    return info.value


def test_shape_errors_say_where() -> None:
    assert bad([1, 2]).path == "payload"
    assert bad({"object": "whatsapp_business_account"}).path == "entry"
    assert bad({"entry": {"id": 1}}).path == "entry"
    assert bad({"entry": ["x"]}).path == "entry[0]"
    assert bad({"entry": [{"changes": {}}]}).path == "entry[0].changes"
    assert (
        bad({"entry": [{"changes": [{"field": "messages", "value": []}]}]}).path
        == "entry[0].changes[0].value"
    )

    payload = envelope({"statuses": []}, {"messages": [message(ts="yesterday")]})
    error = bad(payload)
    assert error.path == "entry[0].changes[1].value.messages[0].timestamp"
    assert "yesterday" in error.problem

    no_id = envelope({"messages": [{k: v for k, v in message().items() if k != "id"}]})
    assert bad(no_id).path == "entry[0].changes[0].value.messages[0].id"
    no_ts = envelope({"statuses": [{k: v for k, v in status().items() if k != "timestamp"}]})
    assert bad(no_ts).path == "entry[0].changes[0].value.statuses[0].timestamp"
    assert bad(envelope({"messages": {"id": "x"}})).path == "entry[0].changes[0].value.messages"
    no_sender = envelope({"messages": [{k: v for k, v in message().items() if k != "from"}]})
    assert bad(no_sender).path == "entry[0].changes[0].value.messages[0].from"
    for ts in (True, None, -5, "", [1]):
        assert bad(envelope({"messages": [message(ts=ts)]})).path.endswith("timestamp")
    bad_expiry = envelope({"statuses": [status(conversation={"id": "c", "expiration_timestamp": "soon"})]})
    assert bad(bad_expiry).path == "entry[0].changes[0].value.statuses[0].conversation.expiration_timestamp"


def test_every_real_webhook_fixture_is_accepted() -> None:
    for name in (
        "cloudapi-inbound-text.json",
        "cloudapi-inbound-template-quick-reply-button.json",
        "cloudapi-status-failed-131049.json",
        "cloudapi-status-sent-pmp-marketing-with-conversation.json",
        "cloudapi-status-v24-no-conversation-no-pricing.json",
        "gupshup-v3-status-sent-pmp.json",
        "onprem-legacy-status-failed-470.json",
    ):
        assert len(meta.parse_envelope(load_fixture(name))) == 1, name


def test_integer_timestamps_in_a_real_payload() -> None:
    payload = copy.deepcopy(load_fixture("cloudapi-status-sent-pmp-marketing-with-conversation.json"))
    st = payload["entry"][0]["changes"][0]["value"]["statuses"][0]
    st["timestamp"] = 1750030073
    st["conversation"]["expiration_timestamp"] = 1750116480000  # milliseconds
    (event,) = meta.parse_envelope(payload)
    assert isinstance(event, StatusUpdate)
    assert event.at == utc(1750030073) and event.conversation_expires_at == utc(1750116480)


# ---- request bodies ---------------------------------------------------------------------------


def test_named_parameters_carry_their_names() -> None:
    template = meta.parse_template_items(
        load_fixture("cloudapi-template-list-named-and-positional.json")["data"], "c"
    )[0]
    values = {
        "body.number_of_guests": "4",
        "body.day": "Saturday",
        "body.date": "Aug 30",
        "body.time": "7:30 pm",
    }
    body = meta.build_template_body("+5511988887777", TemplateSend(template, values))
    assert body["to"] == "5511988887777" and body["type"] == "template"
    assert body["template"] == {
        "name": "reservation_confirmation",
        "language": {"code": "en_US"},
        "components": [
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "parameter_name": "number_of_guests", "text": "4"},
                    {"type": "text", "parameter_name": "day", "text": "Saturday"},
                    {"type": "text", "parameter_name": "date", "text": "Aug 30"},
                    {"type": "text", "parameter_name": "time", "text": "7:30 pm"},
                ],
            }
        ],
    }


def test_header_body_url_suffix_and_coupon() -> None:
    template = Template(
        name="promo",
        language="pt_BR",
        category=Category.MARKETING,
        status="APPROVED",
        header_format="TEXT",
        header_text="Oi {{1}}",
        body_text="Use {{2}} até {{1}}",
        buttons=(
            TemplateButton("QUICK_REPLY", "Parar"),
            TemplateButton("URL", "Ver", url="https://x.com/{{1}}"),
            TemplateButton("COPY_CODE", "Copiar"),
        ),
    )
    values = {
        "header.1": "Ana",
        "body.1": "sexta",
        "body.2": "CUPOM10",
        "button.1": "abc",
        "button.2": "CUPOM10",
    }
    components = meta.build_template_body("5511988887777", TemplateSend(template, values))["template"][
        "components"
    ]
    assert components == [
        {"type": "header", "parameters": [{"type": "text", "text": "Ana"}]},
        {
            "type": "body",
            "parameters": [{"type": "text", "text": "sexta"}, {"type": "text", "text": "CUPOM10"}],
        },
        {"type": "button", "sub_type": "url", "index": "1", "parameters": [{"type": "text", "text": "abc"}]},
        {
            "type": "button",
            "sub_type": "copy_code",
            "index": "2",
            "parameters": [{"type": "coupon_code", "coupon_code": "CUPOM10"}],
        },
    ]


def test_template_without_variables_has_no_components() -> None:
    template = Template(
        name="hello_world",
        language="en_US",
        category=Category.UTILITY,
        status="APPROVED",
        body_text="Hello World",
    )
    assert "components" not in meta.build_template_body("5511", TemplateSend(template))["template"]


def test_copy_code_otp_matches_metas_example() -> None:
    template = meta.parse_graph_template(load_fixture("cloudapi-template-create-auth-otp-copy-code.json"))
    body = meta.build_template_body("12015553931", TemplateSend(template, {"body.1": "J$FpnYnP"}))
    expected = load_fixture("cloudapi-send-auth-copy-code-request.json")
    assert body["template"]["components"] == expected["template"]["components"]


def test_text_body() -> None:
    assert meta.build_text_body("+5511988887777", "Olá") == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "5511988887777",
        "type": "text",
        "text": {"body": "Olá"},
    }


# ---- responses --------------------------------------------------------------------------------


def test_send_response_without_id_is_an_error() -> None:
    with pytest.raises(BspError) as info:
        meta.parse_send_response({"messaging_product": "whatsapp", "messages": []})
    assert info.value.code == "bad_response"


def test_graph_errors() -> None:
    error = meta.parse_error(
        {
            "error": {
                "message": "(#131047) Re-engagement message",
                "code": 131047,
                "error_data": {"details": "More than 24 hours have passed"},
            }
        },
        400,
    )
    assert (error.code, error.http_status) == ("131047", 400)
    assert "More than 24 hours" in error.message
    assert meta.parse_error(None, 502).code == "http_502"
    assert (
        meta.parse_error({"error": {"code": 190, "message": "Invalid OAuth access token"}}, 401).code == "190"
    )


def test_non_text_messages_carry_what_the_conversation_thread_shows() -> None:
    """Type, caption, document name, button text and reaction emoji (issue 11)."""
    events = meta.parse_envelope(
        envelope(
            {
                "messages": [
                    message("wamid.img", type="image", image={"id": "m1", "caption": "foto"}, text=None),
                    message(
                        "wamid.doc",
                        type="document",
                        document={"id": "m2", "filename": "nota.pdf", "caption": "segue"},
                    ),
                    message("wamid.loc", type="location", location={"latitude": 1, "longitude": 2}),
                    message("wamid.btn", type="button", button={"payload": "p", "text": "Quero"}),
                    message("wamid.re", type="reaction", reaction={"message_id": "wamid.out", "emoji": "👍"}),
                ]
            }
        )
    )
    got = [(e.type, e.text, e.filename) for e in events if isinstance(e, InboundMessage)]
    assert got == [
        ("image", "foto", None),
        ("document", "segue", "nota.pdf"),
        ("location", None, None),
        ("button", "Quero", None),
        ("reaction", "👍", None),
    ]


@settings(max_examples=1000, deadline=None)
@given(
    value=st.one_of(
        st.text(alphabet="0123456789", max_size=14),
        st.text(alphabet="0123456789 .-e٣²", max_size=13),
        st.integers(min_value=-1, max_value=10**14),
        st.none(),
    )
)
def test_a_timestamp_read_directly_reads_as_the_general_path(value: Any) -> None:
    """`timestamp_at`'s direct read of plain digit strings gives what `parse_timestamp` gives."""
    try:
        expected: datetime | tuple[str, str] = parse_timestamp(value, "statuses[0].timestamp")
    except WebhookShapeError as exc:
        expected = (exc.path, exc.problem)
    try:
        got: datetime | tuple[str, str] = timestamp_at(value, "statuses[0]", ".timestamp")
    except WebhookShapeError as exc:
        got = (exc.path, exc.problem)
    assert got == expected and type(got) is type(expected)
    if isinstance(got, datetime):
        assert got.tzinfo is UTC


def test_parsed_events_are_the_dataclasses_own_instances() -> None:
    """The parser builds its events with `frozen_instance` (every field at once): each holds every
    field of its class, and is what the class's own constructor builds from the same values."""
    from dataclasses import fields

    from tests.conftest import WHATSAPP_FIXTURES

    seen: set[type] = set()
    for path in sorted(WHATSAPP_FIXTURES.glob("*.json")):
        try:
            events = meta.parse_envelope(json.loads(path.read_text()))
        except WebhookShapeError:
            continue
        for event in events:
            if isinstance(event, InboundMessage | StatusUpdate):
                seen.add(type(event))
                assert set(vars(event)) == {f.name for f in fields(event)}, path.name
                rebuilt = type(event)(**vars(event))
                assert vars(rebuilt) == vars(event) and rebuilt == event
    assert seen == {InboundMessage, StatusUpdate}
