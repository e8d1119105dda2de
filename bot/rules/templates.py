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
Also: is_authentication(t), code_button_index(t) -> int | None (the OTP/COPY_CODE button of an
authentication template, which is sent the body.1 code), and "button.<index>" for a COPY_CODE
(coupon) button of a non-authentication template (sent as its `coupon_code`).
"""

from __future__ import annotations

import re
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
    # Meta's example values by variable key ("body.1" -> "SUMMER20"): the inputs' placeholders.
    examples: tuple[tuple[str, str], ...] = ()

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


# {{1}}, {{ 2 }}, {{first_name}}: Meta allows lowercase letters, digits and underscores in names.
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")

# Authentication bodies are fixed by Meta (only the code varies); when a provider returns no body
# text we preview Meta's wording in the template's language (falling back to English).
AUTHENTICATION_BODIES: dict[str, str] = {
    "en": "*{{1}}* is your verification code.",
    "pt": "*{{1}}* é seu código de verificação.",
    "es": "*{{1}}* es tu código de verificación.",
}

_UTILITY_NAMES = {
    "UTILITY",
    "ACCOUNT_UPDATE",
    "ALERT_UPDATE",
    "APPOINTMENT_UPDATE",
    "AUTO_REPLY",
    "ISSUE_RESOLUTION",
    "PAYMENT_UPDATE",
    "PERSONAL_FINANCE_UPDATE",
    "RESERVATION_UPDATE",
    "SHIPPING_UPDATE",
    "TICKET_UPDATE",
    "TRANSPORTATION_UPDATE",
    "TRANSACTIONAL",
}
_CATEGORY_NAMES: dict[str, Category] = {
    **{name: Category.UTILITY for name in _UTILITY_NAMES},
    "AUTHENTICATION": Category.AUTHENTICATION,
    "AUTHENTICATION_INTERNATIONAL": Category.AUTHENTICATION,
    "OTP": Category.AUTHENTICATION,
    "MARKETING": Category.MARKETING,
    "MARKETING_LITE": Category.MARKETING,
    "SERVICE": Category.SERVICE,
}


def normalise_category(raw: str | None) -> Category | None:
    """A template's or webhook's category name as a `Category`, or None when unknown.

    Accepts either case and hyphens (`authentication-international`). Legacy names from before
    2023 (TRANSACTIONAL, ACCOUNT_UPDATE, ISSUE_RESOLUTION, ...) are utility; OTP is
    authentication; MARKETING_LITE is marketing.
    """
    if not raw:
        return None
    return _CATEGORY_NAMES.get(raw.strip().upper().replace("-", "_").replace(" ", "_"))


def is_authentication(t: Template) -> bool:
    """Whether `t` is an authentication (OTP) template, from its category or raw category."""
    return (
        t.category is Category.AUTHENTICATION or normalise_category(t.raw_category) is Category.AUTHENTICATION
    )


def code_button_index(t: Template) -> int | None:
    """The index of the button that carries an authentication template's code, if any.

    Meta requires the code twice for such templates: as the body parameter and as this button's
    `url` parameter (`index` = this value). OTP buttons (copy-code, one-tap, zero-tap) and
    COPY_CODE buttons of an authentication template qualify.
    """
    if not is_authentication(t):
        return None
    for index, button in enumerate(t.buttons):
        if button.type.upper() in {"OTP", "COPY_CODE"}:
            return index
    return None


def _placeholders(text: str | None) -> list[str]:
    """Placeholder names in order of first appearance, without repeats."""
    names: list[str] = []
    for match in _PLACEHOLDER.finditer(text or ""):
        if match.group(1) not in names:
            names.append(match.group(1))
    return names


def _ordered(names: list[str]) -> list[str]:
    # Positional parameters are sent in number order whatever order the text uses them in.
    if names and all(name.isdigit() for name in names):
        return sorted(names, key=int)
    return names


def _has_text_header(t: Template) -> bool:
    return bool(t.header_text) and (t.header_format or "TEXT").upper() == "TEXT"


def template_variables(t: Template) -> list[TemplateVariable]:
    """The inputs an agent must fill to send `t`, in display order (header, body, buttons).

    An authentication template has exactly one, "body.1" (the code), whatever its stored body:
    Meta fixes that body, and the code is also sent to its code button (see `code_button_index`).
    """
    if is_authentication(t):
        return [TemplateVariable(key="body.1", component="body", name="1")]
    variables = _variables(t)
    if not t.examples:
        return variables
    examples = dict(t.examples)
    return [
        TemplateVariable(v.key, v.component, v.name, examples.get(v.key)) if v.key in examples else v
        for v in variables
    ]


def _variables(t: Template) -> list[TemplateVariable]:
    variables: list[TemplateVariable] = []
    if _has_text_header(t):
        variables += [
            TemplateVariable(key=f"header.{name}", component="header", name=name)
            for name in _ordered(_placeholders(t.header_text))
        ]
    variables += [
        TemplateVariable(key=f"body.{name}", component="body", name=name)
        for name in _ordered(_placeholders(t.body_text))
    ]
    for index, button in enumerate(t.buttons):
        kind = button.type.upper()
        # Meta addresses button parameters by the button's position among all buttons.
        if (kind == "URL" and _placeholders(button.url)) or kind == "COPY_CODE":
            variables.append(TemplateVariable(key=f"button.{index}", component="button", name=str(index)))
    return variables


def _is_blank(value: str | None) -> bool:
    return value is None or not str(value).strip()


def missing_variables(t: Template, values: dict[str, str]) -> list[TemplateVariable]:
    """The variables of `t` with no value, or only whitespace, in `values` (keyed "body.1"...)."""
    return [variable for variable in template_variables(t) if _is_blank(values.get(variable.key))]


def unknown_variables(t: Template, values: dict[str, str]) -> list[str]:
    """Keys in `values` that are not variables of `t` (typos, or values for another template)."""
    known = {variable.key for variable in template_variables(t)}
    return [key for key in values if key not in known]


def _authentication_body(t: Template) -> str:
    if t.body_text.strip():
        return t.body_text
    language = t.language.replace("-", "_").split("_")[0].lower()
    return AUTHENTICATION_BODIES.get(language, AUTHENTICATION_BODIES["en"])


def _substitute(text: str, component: str, values: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        value = values.get(f"{component}.{match.group(1)}")
        return match.group(0) if _is_blank(value) else str(value)

    return _PLACEHOLDER.sub(replace, text)


def _fill_every_placeholder(text: str, value: str) -> str:
    # A function replacement, so backslashes in the value are never read as group references.
    return _PLACEHOLDER.sub(lambda _match: value, text)


def render_preview(t: Template, values: dict[str, str] | None = None) -> RenderedTemplate:
    """The template's content with `values` substituted; placeholders without a value are kept.

    Buttons are rendered as "text", "text (url)" or "text (phone)". An authentication template
    with no stored body shows Meta's fixed body in the template's language.
    """
    values = values or {}
    header = None
    if t.header_text is not None:
        header = _substitute(t.header_text, "header", values) if _has_text_header(t) else t.header_text
    if is_authentication(t):
        # The single code variable is "body.1" whatever the stored text calls it ({{1}}, {{code}}).
        code = values.get("body.1")
        body = _authentication_body(t)
        if not _is_blank(code):
            body = _fill_every_placeholder(body, str(code))
    else:
        body = _substitute(t.body_text, "body", values)

    buttons: list[str] = []
    for index, button in enumerate(t.buttons):
        kind = button.type.upper()
        text = button.text
        value = values.get(f"button.{index}")
        if kind == "URL" and button.url:
            # A URL button has one parameter, its suffix, whatever the placeholder says inside.
            url = button.url if _is_blank(value) else _fill_every_placeholder(button.url, str(value))
            buttons.append(f"{text} ({url})" if text else url)
        elif kind == "PHONE_NUMBER" and button.phone_number:
            buttons.append(f"{text} ({button.phone_number})" if text else button.phone_number)
        elif kind == "COPY_CODE" and not is_authentication(t) and value is not None and not _is_blank(value):
            buttons.append(f"{text} ({value})" if text else value)
        else:
            buttons.append(text or kind.replace("_", " ").title())
    return RenderedTemplate(header=header, body=body, footer=t.footer_text, buttons=buttons)
