"""The one Protocol every BSP adapter implements, and the normalised models they speak.

A provider module has a parse side (webhook JSON -> `WebhookEvent`s) and an API side
(templates and sends over an injected `httpx.AsyncClient`). Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar, runtime_checkable

# Re-exported for the adapters, which declare theirs; the type itself is a rule (bot.rules).
from bot.rules.session_data import SessionData as SessionData
from bot.rules.templates import Template

# ---- webhook events (parse side) -------------------------------------------------------------


@dataclass(frozen=True)
class InboundMessage:
    """A customer wrote. `at` is the payload's timestamp. `type` is the WhatsApp message type
    (text, image, document, location, button, interactive, reaction...); `text` the body, the
    media caption, the button's text or the reaction's emoji; `filename` a document's name."""

    message_id: str
    wa_id: str  # may be "" for username-only users
    at: datetime
    type: str = "text"
    user_id: str | None = None  # business-scoped user id (BSUID)
    profile_name: str | None = None
    text: str | None = None
    referral: Mapping[str, Any] | None = None  # CTWA ad / page button
    context_id: str | None = None
    filename: str | None = None
    # Where in the body the event was read ("entry[0].changes[0].value.messages[1]"), so a value
    # the store cannot keep is reported by its path; not part of the event's identity.
    source: str = field(default="", compare=False)
    # The body carries no event time (Twilio): `at` is replaced by the delivery's receipt time,
    # the stored one when a body is parsed again (a restart, a replay), never the parse time.
    at_receipt: bool = field(default=False, compare=False)


@dataclass(frozen=True)
class StatusUpdate:
    """A delivery status for a message we sent."""

    message_id: str
    status: str  # sent | delivered | read | failed | played | deleted ...
    at: datetime
    recipient_wa_id: str = ""
    recipient_user_id: str | None = None
    conversation_id: str | None = None
    # normalised: service | utility | marketing | authentication | referral_conversion
    conversation_origin: str | None = None
    conversation_expires_at: datetime | None = None
    pricing_model: str | None = None
    pricing_category: str | None = None
    errors: tuple[ProviderError, ...] = ()
    source: str = field(default="", compare=False)  # as InboundMessage.source
    at_receipt: bool = field(default=False, compare=False)  # as InboundMessage.at_receipt


@dataclass(frozen=True)
class NumberChanged:
    """`system` message `user_changed_number`: the contact moves to a new wa_id."""

    old_wa_id: str
    new_wa_id: str
    at: datetime
    message_id: str = ""
    source: str = field(default="", compare=False)  # as InboundMessage.source


@dataclass(frozen=True)
class TemplateChanged:
    """`message_template_status_update` / `template_category_update`: refresh the cache."""

    name: str | None
    language: str | None
    event: str  # the webhook field
    new_status: str | None = None
    new_category: str | None = None


@dataclass(frozen=True)
class ProviderError:
    """An error reported by the provider (sync response, `value.errors`, failed status)."""

    code: str  # "131047", "470", "invalid_api_key", ...
    title: str = ""
    detail: str = ""


@dataclass(frozen=True)
class WebhookErrors:
    """`value.errors[]` with no message or status."""

    errors: tuple[ProviderError, ...]


WebhookEvent = InboundMessage | StatusUpdate | NumberChanged | TemplateChanged | WebhookErrors

_Event = TypeVar("_Event")


def frozen_instance(cls: type[_Event], fields: dict[str, Any]) -> _Event:
    """An instance of the frozen dataclass `cls` holding `fields`: every one of its fields, those
    with defaults too (tests/bsp check the parsers' events against `cls(**fields)`). A frozen
    dataclass's own __init__ sets each field through object.__setattr__, ~1 us more for a
    StatusUpdate than setting them at once; parsers build one per event of every webhook."""
    instance: _Event = object.__new__(cls)
    object.__setattr__(instance, "__dict__", fields)
    return instance


class WebhookShapeError(ValueError):
    """The payload is JSON but not the shape the provider sends; `path` says where."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


# ---- API side ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TemplateSend:
    """What the agent chose: a template and its variable values by key ("body.1", ...)."""

    template: Template
    values: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SendResult:
    message_id: str
    wa_id: str | None = None  # canonical wa_id from the response (`contacts[].wa_id`)
    raw: Mapping[str, Any] | None = None


class BspError(Exception):
    """A provider call failed. `outcome_unknown` is true when the send may have happened
    (timeout after the request left): such a send is never retried blindly."""

    def __init__(
        self,
        code: str,
        message: str = "",
        *,
        http_status: int | None = None,
        retryable: bool = False,
        outcome_unknown: bool = False,
    ) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message
        self.http_status = http_status
        self.retryable = retryable
        self.outcome_unknown = outcome_unknown


class Provider(Protocol):
    """One WhatsApp channel's BSP."""

    @property
    def name(self) -> str:
        """The provider's name (`bsp:` in contato.yml)."""
        ...

    session_data: SessionData

    async def list_templates(self) -> list[Template]:
        """Every template of the account (all statuses), normalised."""
        ...

    async def send_template(self, to: str, send: TemplateSend) -> SendResult:
        """Send a template to `to` (E.164 with +, or wa_id). Raises BspError."""
        ...

    async def send_text(self, to: str, text: str) -> SendResult:
        """Send free text (only valid inside the customer service window). Raises BspError."""
        ...

    def authenticate_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> bool:
        """True if the webhook request is authentic (constant-time comparisons)."""
        ...

    def parse_webhook(self, payload: Any) -> list[WebhookEvent]:
        """Normalise one webhook body; raises WebhookShapeError with the path of the problem."""
        ...


@runtime_checkable
class VerifiesHandshake(Protocol):
    """A provider whose webhook URL answers a GET subscription check (Meta's `hub.challenge`)."""

    def verify_handshake(self, params: Mapping[str, str]) -> str | None:
        """The challenge to echo, or None (answer 403)."""
        ...


@runtime_checkable
class ReachesBsuid(Protocol):
    """A provider whose sends can be addressed to a business-scoped user id (Meta's `recipient`
    field), so a customer known only by their WhatsApp username can be written to."""

    reaches_bsuid: bool


@runtime_checkable
class ReportsWebhookUrl(Protocol):
    """A provider whose API says which webhook URL it delivers to (`check --online` compares it)."""

    async def registered_webhook_url(self) -> str | None:
        """The URL set at the BSP, or None when none is; raises BspError."""
        ...
