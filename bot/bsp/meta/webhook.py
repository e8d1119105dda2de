"""Meta's webhook envelope -> `WebhookEvent`s (Cloud API, 360dialog, Gupshup v3, the sandbox).

What Meta really sends is never refused: unknown `field`s, `object`s, message types, system events
and extra keys are ignored; a batch of entries/changes/messages/statuses is flattened in order.
Only a payload that cannot be what Meta sends (a list where an object must be, a message with no
id or timestamp, a timestamp that is not epoch seconds) raises `WebhookShapeError` with the path of
the problem. The On-Premises API's flat body (`{contacts, messages, statuses, errors}` with no
envelope) is still accepted: BSPs that grew from it (and old recordings) send it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.bsp.base import (
    InboundMessage,
    NumberChanged,
    StatusUpdate,
    TemplateChanged,
    WebhookErrors,
    WebhookEvent,
    WebhookShapeError,
    frozen_instance,
)
from bot.bsp.meta.shape import _dict, _errors_at, _list, _opt_str, _str, _str_at, timestamp_at
from bot.rules.windows import normalise_origin

_TEMPLATE_FIELDS = {"message_template_status_update", "template_category_update"}
_ON_PREM_KEYS = {"messages", "statuses", "contacts", "errors"}


def parse_envelope(payload: Any) -> list[WebhookEvent]:
    """Every event in one webhook body (Meta's envelope, or the On-Prem flat body)."""
    root = _dict(payload, "payload")
    if "entry" not in root:
        if _ON_PREM_KEYS & root.keys():
            return _parse_value(root, "")
        raise WebhookShapeError("entry", "missing: not a WhatsApp webhook")
    obj = root.get("object")
    if obj is not None and obj != "whatsapp_business_account":
        return []  # another product's webhook on the same URL: not ours to read
    events: list[WebhookEvent] = []
    for i, entry_node in enumerate(_list(root["entry"], "entry", required=True)):
        entry = _dict(entry_node, f"entry[{i}]")
        for j, change_node in enumerate(_list(entry.get("changes"), f"entry[{i}].changes")):
            path = f"entry[{i}].changes[{j}]"
            change = _dict(change_node, path)
            field = change.get("field", "messages")
            if field == "messages":
                events += _parse_value(_dict(change.get("value"), f"{path}.value"), f"{path}.value.")
            elif field in _TEMPLATE_FIELDS:
                events += _parse_template_change(str(field), change.get("value"))
            # account_update, phone_number_quality_update, ...: accepted and ignored
    return events


def _parse_value(value: Mapping[str, Any], prefix: str) -> list[WebhookEvent]:
    events: list[WebhookEvent] = []
    contacts = [
        c
        for c in _list(value.get("contacts"), f"{prefix}contacts")
        if type(c) is dict or isinstance(c, Mapping)
    ]
    for k, node in enumerate(_list(value.get("messages"), f"{prefix}messages")):
        path = f"{prefix}messages[{k}]"
        event = _parse_message(_dict(node, path), path, contacts)
        if event is not None:
            events.append(event)
    for k, node in enumerate(_list(value.get("statuses"), f"{prefix}statuses")):
        path = f"{prefix}statuses[{k}]"
        events.append(_parse_status(_dict(node, path), path))
    errors = _errors_at(value.get("errors"), prefix, "errors")
    if errors:
        events.append(WebhookErrors(errors))
    return events


def _contact_for(
    contacts: list[Mapping[str, Any]], wa_id: str, user_id: str | None
) -> Mapping[str, Any] | None:
    for contact in contacts:
        if (wa_id and contact.get("wa_id") == wa_id) or (user_id and contact.get("user_id") == user_id):
            return contact
    return contacts[0] if len(contacts) == 1 else None


def _message_text(message: Mapping[str, Any], kind: str) -> str | None:
    part = message.get(kind)
    if not isinstance(part, Mapping):
        return None
    if kind == "text":
        return _opt_str(part.get("body"))
    if kind == "button":
        return _opt_str(part.get("text"))
    if kind == "interactive":
        for reply in ("button_reply", "list_reply"):
            if isinstance(part.get(reply), Mapping):
                return _opt_str(part[reply].get("title"))
    if kind == "reaction":
        return _opt_str(part.get("emoji"))
    return _opt_str(part.get("caption"))


def _filename(message: Mapping[str, Any], kind: str) -> str | None:
    part = message.get(kind)
    return _opt_str(part.get("filename")) if kind == "document" and isinstance(part, Mapping) else None


def _parse_message(
    message: Mapping[str, Any], path: str, contacts: list[Mapping[str, Any]]
) -> WebhookEvent | None:
    message_id = _str_at(message.get("id"), path, ".id")
    at = timestamp_at(message.get("timestamp"), path, ".timestamp")
    kind = _opt_str(message.get("type")) or "unknown"
    wa_id = _str(message.get("from"), f"{path}.from", required=False)
    contact = _contact_for(contacts, wa_id, _opt_str(message.get("from_user_id")))
    user_id = _opt_str(message.get("from_user_id")) or (_opt_str(contact.get("user_id")) if contact else None)

    if kind == "system":
        system = message.get("system")
        if isinstance(system, Mapping) and system.get("type") in (
            "user_changed_number",
            "customer_changed_number",
        ):
            new = _opt_str(system.get("wa_id")) or _opt_str(system.get("new_wa_id"))
            if not new:
                raise WebhookShapeError(f"{path}.system.wa_id", "missing: the new number")
            return NumberChanged(old_wa_id=wa_id, new_wa_id=new, at=at, message_id=message_id, source=path)
        return None  # other system notices (identity changes...) say nothing about windows

    if not wa_id and not user_id:
        raise WebhookShapeError(f"{path}.from", "missing: no sender (from or from_user_id)")
    profile = contact.get("profile") if contact else None
    context = message.get("context")
    referral = message.get("referral")
    return frozen_instance(
        InboundMessage,
        {
            "message_id": message_id,
            "wa_id": wa_id,
            "at": at,
            "type": kind,
            "user_id": user_id,
            # A username-only customer may have no name: the username is what the agent knows them by.
            "profile_name": (_opt_str(profile.get("name")) or _opt_str(profile.get("username")))
            if isinstance(profile, Mapping)
            else None,
            "text": _message_text(message, kind),
            "referral": dict(referral) if isinstance(referral, Mapping) else None,
            "context_id": _opt_str(context.get("id")) if isinstance(context, Mapping) else None,
            "filename": _filename(message, kind),
            "source": path,
            "at_receipt": False,
        },
    )


def _parse_status(status: Mapping[str, Any], path: str) -> StatusUpdate:
    message_id = _str_at(status.get("id"), path, ".id")
    state = _str_at(status.get("status"), path, ".status").lower()
    at = timestamp_at(status.get("timestamp"), path, ".timestamp")

    conversation_id = origin = None
    expires_at = None
    conversation = status.get("conversation")
    if conversation is not None:
        if type(conversation) is not dict:
            conversation = _dict(conversation, f"{path}.conversation")
        conversation_id = _opt_str(conversation.get("id"))
        raw_origin = conversation.get("origin")
        if type(raw_origin) is dict or isinstance(raw_origin, Mapping):
            origin = normalise_origin(_opt_str(raw_origin.get("type")))
        if conversation.get("expiration_timestamp") is not None:
            expires_at = timestamp_at(
                conversation["expiration_timestamp"], path, ".conversation.expiration_timestamp"
            )

    pricing_model = pricing_category = None
    pricing = status.get("pricing")
    if type(pricing) is dict or isinstance(pricing, Mapping):
        pricing_model = (_opt_str(pricing.get("pricing_model")) or "").upper() or None
        raw_category = _opt_str(pricing.get("category"))
        pricing_category = raw_category.lower().replace("-", "_") if raw_category else None

    return frozen_instance(
        StatusUpdate,
        {
            "message_id": message_id,
            "status": state,
            "at": at,
            "recipient_wa_id": _opt_str(status.get("recipient_id")) or "",
            "recipient_user_id": _opt_str(status.get("recipient_user_id")),
            "conversation_id": conversation_id,
            "conversation_origin": origin,
            "conversation_expires_at": expires_at,
            "pricing_model": pricing_model,
            "pricing_category": pricing_category,
            "errors": _errors_at(status.get("errors"), path, ".errors"),
            "source": path,
            "at_receipt": False,
        },
    )


def _parse_template_change(field: str, value: Any) -> list[WebhookEvent]:
    if not isinstance(value, Mapping):
        return [TemplateChanged(name=None, language=None, event=field)]
    new_status = _opt_str(value.get("event")) if field == "message_template_status_update" else None
    new_category = _opt_str(value.get("new_category")) or _opt_str(value.get("correct_category"))
    return [
        TemplateChanged(
            name=_opt_str(value.get("message_template_name")),
            language=_opt_str(value.get("message_template_language")),
            event=field,
            new_status=new_status.upper() if new_status else None,
            new_category=new_category.upper() if new_category else None,
        )
    ]
