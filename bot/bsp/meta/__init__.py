"""Meta's WhatsApp formats, shared by every Cloud API adapter (cloudapi, 360dialog, Gupshup v3,
the sandbox): `webhook` (the envelope -> events), `send` (message bodies, the send response, the
shared sender), `templates` (template items), `errors` (Graph's error body), `shape` (readers).

The names below are re-exported so an adapter writes `meta.parse_envelope(...)`.
"""

from bot.bsp.meta.errors import parse_error
from bot.bsp.meta.send import (
    MetaMessageSender,
    build_template_body,
    build_text_body,
    parse_send_response,
    post_message,
)
from bot.bsp.meta.shape import parse_timestamp, provider_error
from bot.bsp.meta.templates import parse_graph_template, parse_template_items
from bot.bsp.meta.webhook import parse_envelope

__all__ = [
    "MetaMessageSender",
    "build_template_body",
    "build_text_body",
    "parse_envelope",
    "parse_error",
    "parse_graph_template",
    "parse_send_response",
    "parse_template_items",
    "parse_timestamp",
    "post_message",
    "provider_error",
]
