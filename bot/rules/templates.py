"""Normalised WhatsApp templates and their variables: pure data, no I/O.

CONTRACT (implemented by the rules helper, beyond these types):
    template_variables(t: Template) -> list[TemplateVariable]   in display order
    missing_variables(t, values: dict[str, str]) -> list[TemplateVariable]
    unknown_variables(t, values) -> list[str]
    render_preview(t, values: dict[str, str] | None) -> RenderedTemplate  (header/body/footer/buttons
        with values substituted, or the {{placeholders}} kept when no value is given)
    normalise_category(raw: str) -> Category | None   (legacy names: TRANSACTIONAL, ACCOUNT_UPDATE,
        ISSUE_RESOLUTION, ... -> utility; OTP -> authentication; MARKETING -> marketing)
Variable keys: "header.1", "body.1".."body.n" or "body.<name>" (named), "button.<index>" for a
URL-button suffix; for a copy-code authentication template the single "body.1" is also sent
as the button's parameter (no separate input).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.rules.events import Category


@dataclass(frozen=True)
class TemplateButton:
    type: str  # QUICK_REPLY | URL | PHONE_NUMBER | OTP | COPY_CODE | FLOW ...
    text: str = ""
    url: str | None = None  # may end with {{1}}
    phone_number: str | None = None
    otp_type: str | None = None  # COPY_CODE | ONE_TAP | ZERO_TAP


@dataclass(frozen=True)
class Template:
    """One approved-or-not template, identified by (name, language)."""

    name: str
    language: str
    category: Category | None  # None when the raw category is unknown
    status: str  # APPROVED | PENDING | REJECTED | PAUSED | DISABLED ...
    raw_category: str = ""
    parameter_format: str = "POSITIONAL"  # POSITIONAL | NAMED
    header_format: str | None = None  # TEXT | IMAGE | VIDEO | DOCUMENT | LOCATION
    header_text: str | None = None
    body_text: str = ""
    footer_text: str | None = None
    buttons: tuple[TemplateButton, ...] = ()
    provider_ref: str | None = None  # provider-specific id (Twilio ContentSid, Meta template id)
    namespace: str | None = None

    @property
    def key(self) -> str:
        return f"{self.name}:{self.language}"

    @property
    def approved(self) -> bool:
        return self.status.upper() == "APPROVED"


@dataclass(frozen=True)
class TemplateVariable:
    key: str  # "header.1", "body.2", "body.first_name", "button.0"
    component: str  # header | body | button
    name: str  # "1" or the named parameter
    example: str | None = None


@dataclass(frozen=True)
class RenderedTemplate:
    header: str | None
    body: str
    footer: str | None
    buttons: list[str] = field(default_factory=list)
