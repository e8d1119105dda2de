"""Meta's WhatsApp formats, shared by every Cloud API adapter (cloudapi, 360dialog, Gupshup v3).

Parse side: `parse_envelope` turns a webhook body into `WebhookEvent`s. What Meta really sends
is never refused: unknown `field`s, `object`s, message types, system events and extra keys are
ignored; a batch of entries/changes/messages/statuses is flattened in order. Only a payload that
cannot be what Meta sends (a list where an object must be, a message with no id or timestamp, a
timestamp that is not epoch seconds) raises `WebhookShapeError` with the path of the problem.
The On-Premises API's flat body (`{contacts, messages, statuses, errors}` with no envelope) is
still accepted: BSPs that grew from it (and old recordings) send it.

API side: request bodies (`build_template_body`, `build_text_body`), the send response, Graph
template items and Graph errors.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.bsp.base import (
    BspError,
    InboundMessage,
    NumberChanged,
    ProviderError,
    SendResult,
    StatusUpdate,
    TemplateChanged,
    TemplateSend,
    WebhookErrors,
    WebhookEvent,
    WebhookShapeError,
)
from bot.rules.templates import (
    Template,
    TemplateButton,
    code_button_index,
    is_authentication,
    normalise_category,
    template_variables,
)
from bot.rules.windows import normalise_origin

log = logging.getLogger(__name__)

# Epoch values above this are milliseconds (10^11 s is the year 5138; 10^11 ms is 1973).
_MS_THRESHOLD = 10**11
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TEMPLATE_FIELDS = {"message_template_status_update", "template_category_update"}
_ON_PREM_KEYS = {"messages", "statuses", "contacts", "errors"}


# ---- small shape helpers ----------------------------------------------------------------------


def _dict(node: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(node, Mapping):
        raise WebhookShapeError(path, f"expected an object, got {_kind(node)}")
    return node


def _list(node: Any, path: str, *, required: bool = False) -> list[Any]:
    if node is None and not required:
        return []
    if not isinstance(node, list):
        raise WebhookShapeError(path, "missing" if node is None else f"expected a list, got {_kind(node)}")
    return node


def _str(node: Any, path: str, *, required: bool = True) -> str:
    if node is None and not required:
        return ""
    if isinstance(node, bool) or not isinstance(node, str | int):
        raise WebhookShapeError(path, "missing" if node is None else f"expected a string, got {_kind(node)}")
    text = str(node)
    if required and not text:
        raise WebhookShapeError(path, "empty")
    return text


def _opt_str(node: Any) -> str | None:
    return str(node) if isinstance(node, str | int) and not isinstance(node, bool) and str(node) else None


def _kind(node: Any) -> str:
    if node is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(node), type(node).__name__
    )


def parse_timestamp(value: Any, path: str) -> datetime:
    """Epoch seconds (int, or a string of digits) as aware UTC; milliseconds when > 10^11."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise WebhookShapeError(
            path, "missing" if value is None else f"expected a timestamp, got {_kind(value)}"
        )
    text = value.strip() if isinstance(value, str) else value
    number: int | float
    if isinstance(text, str):
        try:
            number = int(text) if text.isdigit() else float(text)
        except ValueError:
            raise WebhookShapeError(path, f"not an epoch timestamp: {text[:40]!r}") from None
    else:
        number = text
    if number != number or number < 0 or number == float("inf"):
        raise WebhookShapeError(path, f"not an epoch timestamp: {value!r}")
    try:
        if number > _MS_THRESHOLD:
            # Integer milliseconds stay exact (a float division could lose the last digit).
            return _EPOCH + timedelta(milliseconds=number)
        return _EPOCH + timedelta(seconds=number)
    except (OverflowError, ValueError):
        raise WebhookShapeError(path, f"timestamp out of range: {value!r}") from None


def provider_error(node: Any) -> ProviderError:
    """One Meta error object (`{code, title, message, error_data: {details}}`)."""
    if not isinstance(node, Mapping):
        return ProviderError(code="unknown", detail=str(node)[:500])
    code = _opt_str(node.get("code")) or "unknown"
    title = _opt_str(node.get("title")) or _opt_str(node.get("message")) or ""
    data = node.get("error_data")
    details = data.get("details") if isinstance(data, Mapping) else None
    detail = _opt_str(details) or _opt_str(node.get("message")) or _opt_str(node.get("details")) or ""
    return ProviderError(code=code, title=title, detail=detail)


def _errors(node: Any, path: str) -> tuple[ProviderError, ...]:
    return tuple(provider_error(item) for item in _list(node, path))


# ---- webhooks ---------------------------------------------------------------------------------


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
    contacts = [c for c in _list(value.get("contacts"), f"{prefix}contacts") if isinstance(c, Mapping)]
    for k, node in enumerate(_list(value.get("messages"), f"{prefix}messages")):
        event = _parse_message(_dict(node, f"{prefix}messages[{k}]"), f"{prefix}messages[{k}]", contacts)
        if event is not None:
            events.append(event)
    for k, node in enumerate(_list(value.get("statuses"), f"{prefix}statuses")):
        events.append(_parse_status(_dict(node, f"{prefix}statuses[{k}]"), f"{prefix}statuses[{k}]"))
    errors = _errors(value.get("errors"), f"{prefix}errors")
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
    return _opt_str(part.get("caption"))


def _parse_message(
    message: Mapping[str, Any], path: str, contacts: list[Mapping[str, Any]]
) -> WebhookEvent | None:
    message_id = _str(message.get("id"), f"{path}.id")
    at = parse_timestamp(message.get("timestamp"), f"{path}.timestamp")
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
            return NumberChanged(old_wa_id=wa_id, new_wa_id=new, at=at, message_id=message_id)
        return None  # other system notices (identity changes...) say nothing about windows

    if not wa_id and not user_id:
        raise WebhookShapeError(f"{path}.from", "missing: no sender (from or from_user_id)")
    profile = contact.get("profile") if contact else None
    context = message.get("context")
    referral = message.get("referral")
    return InboundMessage(
        message_id=message_id,
        wa_id=wa_id,
        at=at,
        type=kind,
        user_id=user_id,
        profile_name=_opt_str(profile.get("name")) if isinstance(profile, Mapping) else None,
        text=_message_text(message, kind),
        referral=dict(referral) if isinstance(referral, Mapping) else None,
        context_id=_opt_str(context.get("id")) if isinstance(context, Mapping) else None,
    )


def _parse_status(status: Mapping[str, Any], path: str) -> StatusUpdate:
    message_id = _str(status.get("id"), f"{path}.id")
    state = _str(status.get("status"), f"{path}.status").lower()
    at = parse_timestamp(status.get("timestamp"), f"{path}.timestamp")

    conversation_id = origin = None
    expires_at = None
    conversation = status.get("conversation")
    if conversation is not None:
        conversation = _dict(conversation, f"{path}.conversation")
        conversation_id = _opt_str(conversation.get("id"))
        raw_origin = conversation.get("origin")
        if isinstance(raw_origin, Mapping):
            origin = normalise_origin(_opt_str(raw_origin.get("type")))
        if conversation.get("expiration_timestamp") is not None:
            expires_at = parse_timestamp(
                conversation["expiration_timestamp"], f"{path}.conversation.expiration_timestamp"
            )

    pricing_model = pricing_category = None
    pricing = status.get("pricing")
    if isinstance(pricing, Mapping):
        pricing_model = (_opt_str(pricing.get("pricing_model")) or "").upper() or None
        raw_category = _opt_str(pricing.get("category"))
        pricing_category = raw_category.lower().replace("-", "_") if raw_category else None

    return StatusUpdate(
        message_id=message_id,
        status=state,
        at=at,
        recipient_wa_id=_opt_str(status.get("recipient_id")) or "",
        recipient_user_id=_opt_str(status.get("recipient_user_id")),
        conversation_id=conversation_id,
        conversation_origin=origin,
        conversation_expires_at=expires_at,
        pricing_model=pricing_model,
        pricing_category=pricing_category,
        errors=_errors(status.get("errors"), f"{path}.errors"),
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


# ---- sending ----------------------------------------------------------------------------------


def _recipient(to: str) -> str:
    # Meta accepts "+5511..." but documents digits only; wa_ids are digits already.
    return to.strip().removeprefix("+")


def _text_param(name: str, value: str, named: bool) -> dict[str, str]:
    param = {"type": "text", "text": value}
    if named:
        param["parameter_name"] = name
    return param


def build_template_body(to: str, send: TemplateSend) -> dict[str, Any]:
    """Meta's JSON body for a template send (whatsapp.md §3).

    Header text and body parameters in template order (named ones carry `parameter_name`); a URL
    button's suffix as a `button` component (`sub_type: url`, its index); a coupon COPY_CODE as
    `coupon_code`. An authentication template sends its code twice: as the body parameter and to
    its code button (`sub_type: url`, `index` of that button), as Meta requires.
    """
    template = send.template
    values = send.values
    named = template.parameter_format.upper() == "NAMED"
    components: list[dict[str, Any]] = []

    if is_authentication(template):
        code = values.get("body.1", "")
        components.append({"type": "body", "parameters": [_text_param("1", code, False)]})
        index = code_button_index(template)
        if index is not None:
            components.append(
                {
                    "type": "button",
                    "sub_type": "url",
                    "index": str(index),
                    "parameters": [{"type": "text", "text": code}],
                }
            )
    else:
        variables = template_variables(template)
        for component in ("header", "body"):
            params = [
                _text_param(v.name, values.get(v.key, ""), named)
                for v in variables
                if v.component == component
            ]
            if params:
                components.append({"type": component, "parameters": params})
        for variable in variables:
            if variable.component != "button":
                continue
            index = int(variable.name)
            value = values.get(variable.key, "")
            if template.buttons[index].type.upper() == "COPY_CODE":
                components.append(
                    {
                        "type": "button",
                        "sub_type": "copy_code",
                        "index": str(index),
                        "parameters": [{"type": "coupon_code", "coupon_code": value}],
                    }
                )
            else:
                components.append(
                    {
                        "type": "button",
                        "sub_type": "url",
                        "index": str(index),
                        "parameters": [{"type": "text", "text": value}],
                    }
                )

    body: dict[str, Any] = {"name": template.name, "language": {"code": template.language}}
    if components:
        body["components"] = components
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": _recipient(to),
        "type": "template",
        "template": body,
    }


def build_text_body(to: str, text: str) -> dict[str, Any]:
    """Meta's JSON body for free text (valid only inside the customer service window)."""
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": _recipient(to),
        "type": "text",
        "text": {"body": text},
    }


async def post_message(
    http: Any,
    url: str,
    body: dict[str, Any],
    *,
    headers: Mapping[str, str],
    parse_error: Any,
) -> SendResult:
    """POST one Meta-format message body (Cloud API, 360dialog, Gupshup v3): sent once, never
    retried (see bot.bsp.http.send), the response read as Meta's send response."""
    from bot.bsp import http as bsp_http

    response = await bsp_http.send(http, "POST", url, json=body, headers=headers, parse_error=parse_error)
    return parse_send_response(bsp_http.json_or_none(response))


class MetaMessageSender:
    """Sends for providers whose API takes Meta's message body as is (Cloud API, 360dialog,
    Gupshup v3): a provider says where (`_messages_url`), with which headers and how its error
    responses read; templates and free text are built here once."""

    http: Any

    def _messages_url(self) -> str:
        raise NotImplementedError

    def _send_headers(self) -> dict[str, str]:
        raise NotImplementedError

    def _send_error(self, response: Any) -> Any:
        raise NotImplementedError

    async def send_template(self, to: str, send: TemplateSend) -> SendResult:
        return await self._post(build_template_body(to, send))

    async def send_text(self, to: str, text: str) -> SendResult:
        return await self._post(build_text_body(to, text))

    async def _post(self, body: dict[str, Any]) -> SendResult:
        return await post_message(
            self.http,
            self._messages_url(),
            body,
            headers=self._send_headers(),
            parse_error=self._send_error,
        )


def parse_send_response(data: Any) -> SendResult:
    """`{messaging_product, contacts: [{input, wa_id}], messages: [{id}]}` -> SendResult."""
    messages = data.get("messages") if isinstance(data, Mapping) else None
    first = messages[0] if isinstance(messages, list) and messages else None
    message_id = _opt_str(first.get("id")) if isinstance(first, Mapping) else None
    if not message_id:
        raise BspError("bad_response", "the provider accepted the request but returned no message id")
    contacts = data.get("contacts")
    contact = contacts[0] if isinstance(contacts, list) and contacts else None
    wa_id = _opt_str(contact.get("wa_id")) if isinstance(contact, Mapping) else None
    return SendResult(message_id=message_id, wa_id=wa_id, raw=dict(data))


def parse_error(data: Any, http_status: int | None) -> BspError:
    """A Graph error (`{"error": {code, message, error_data: {details}}}`) as BspError."""
    error = data.get("error") if isinstance(data, Mapping) else None
    if not isinstance(error, Mapping):
        return BspError(
            f"http_{http_status}" if http_status else "unknown",
            "the provider answered with an error and no explanation",
            http_status=http_status,
        )
    parsed = provider_error(error)
    message = _opt_str(error.get("message")) or parsed.title
    details = parsed.detail if parsed.detail != message else ""
    return BspError(
        parsed.code,
        f"{message} ({details})" if message and details else message or details,
        http_status=http_status,
    )


# ---- templates --------------------------------------------------------------------------------


def _button(node: Mapping[str, Any]) -> TemplateButton:
    return TemplateButton(
        type=(_opt_str(node.get("type")) or "").upper(),
        text=_opt_str(node.get("text")) or "",
        url=_opt_str(node.get("url")),
        phone_number=_opt_str(node.get("phone_number")),
        otp_type=(_opt_str(node.get("otp_type")) or "").upper() or None,
    )


def parse_graph_template(item: Any) -> Template:
    """One template item (Graph `message_templates`, 360dialog `waba_templates`) as a Template.

    Unknown component types are skipped; legacy categories are mapped by `normalise_category`
    (an unknown one gives `category=None`, kept raw). Raises ValueError with no name or language.
    """
    if not isinstance(item, Mapping):
        raise ValueError(f"a template must be an object, got {_kind(item)}")
    name = _opt_str(item.get("name"))
    language = _opt_str(item.get("language"))
    if not name or not language:
        raise ValueError("a template without a name or a language")
    header_format = header_text = footer_text = None
    body_text = ""
    buttons: list[TemplateButton] = []
    for component in item.get("components") or []:
        if not isinstance(component, Mapping):
            continue
        kind = (_opt_str(component.get("type")) or "").upper()
        if kind == "HEADER":
            header_text = _opt_str(component.get("text"))
            header_format = (_opt_str(component.get("format")) or "TEXT").upper()
        elif kind == "BODY":
            body_text = _opt_str(component.get("text")) or ""
        elif kind == "FOOTER":
            footer_text = _opt_str(component.get("text"))
        elif kind == "BUTTONS":
            buttons += [_button(b) for b in component.get("buttons") or [] if isinstance(b, Mapping)]
    raw_category = _opt_str(item.get("category")) or ""
    return Template(
        name=name,
        language=language,
        category=normalise_category(raw_category),
        status=(_opt_str(item.get("status")) or "UNKNOWN").upper(),
        raw_category=raw_category,
        parameter_format=(_opt_str(item.get("parameter_format")) or "POSITIONAL").upper(),
        header_format=header_format,
        header_text=header_text,
        body_text=body_text,
        footer_text=footer_text,
        buttons=tuple(buttons),
        provider_ref=_opt_str(item.get("id")),
        namespace=_opt_str(item.get("namespace")),
    )


def parse_template_items(items: list[Any], channel_id: str) -> list[Template]:
    """Template items as Templates; an item that is not a template is skipped with a warning, so
    one odd template never hides the others."""
    templates = []
    for item in items:
        try:
            templates.append(parse_graph_template(item))
        except ValueError as exc:
            log.warning("channel %s: skipped a template: %s", channel_id, exc)
    return templates
