"""Meta's message bodies and send response: what the Cloud API, 360dialog and Gupshup v3 take."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from bot.bsp import http as bsp_http
from bot.bsp.base import BspError, SendResult, TemplateSend
from bot.bsp.meta.shape import _opt_str
from bot.rules.bsuid import is_bsuid
from bot.rules.media_headers import header_parameter
from bot.rules.templates import code_button_index, is_authentication, template_variables


def _recipient(to: str) -> dict[str, str]:
    # A phone number goes in `to` (Meta accepts "+5511..." but documents digits only; wa_ids are
    # digits already); a business-scoped user id in `recipient`, as Meta documents for BSUIDs.
    if is_bsuid(to):
        return {"recipient": to.strip()}
    return {"to": to.strip().removeprefix("+")}


def _text_param(name: str, value: str, named: bool) -> dict[str, str]:
    param = {"type": "text", "text": value}
    if named:
        param["parameter_name"] = name
    return param


def build_template_body(to: str, send: TemplateSend) -> dict[str, Any]:
    """Meta's JSON body for a template send (whatsapp.md §3).

    A media header's link or id (IMAGE, VIDEO, DOCUMENT) or a LOCATION as the header parameter;
    header text and body parameters in template order (named ones carry `parameter_name`); a URL
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
        media = header_parameter(template, dict(values))
        if media is not None:
            # Meta refuses a media or location header sent without its parameter.
            components.append({"type": "header", "parameters": [media]})
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
        **_recipient(to),
        "type": "template",
        "template": body,
    }


def build_text_body(to: str, text: str) -> dict[str, Any]:
    """Meta's JSON body for free text (valid only inside the customer service window)."""
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        **_recipient(to),
        "type": "text",
        "text": {"body": text},
    }


async def post_message(
    http: httpx.AsyncClient,
    url: str,
    body: dict[str, Any],
    *,
    headers: Mapping[str, str],
    parse_error: bsp_http.ErrorParser,
) -> SendResult:
    """POST one Meta-format message body (Cloud API, 360dialog, Gupshup v3): sent once, never
    retried (see bot.bsp.http.send), the response read as Meta's send response."""
    response = await bsp_http.send(http, "POST", url, json=body, headers=headers, parse_error=parse_error)
    return parse_send_response(bsp_http.json_or_none(response))


class MetaMessageSender:
    """Sends for providers whose API takes Meta's message body as is (Cloud API, 360dialog,
    Gupshup v3): a provider says where (`_messages_url`), with which headers and how its error
    responses read (`_response_error`, from `bot.bsp.adapter.Adapter`); templates and free text
    are built here once."""

    reaches_bsuid = True  # Meta's body takes `recipient` for a BSUID (bot.bsp.base.ReachesBsuid)

    http: httpx.AsyncClient

    def _messages_url(self) -> str:
        raise NotImplementedError

    def _send_headers(self) -> dict[str, str]:
        raise NotImplementedError

    def _response_error(self, response: httpx.Response) -> BspError:
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
            parse_error=self._response_error,
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
