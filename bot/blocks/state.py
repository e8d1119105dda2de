"""What the screen shows (`ScreenState`) and what the agent chose (`ScreenInputs`): pure data.

`ScreenInputs` round-trips through Slack: the choices that steer the screen go into the view's
`private_metadata` (always within Slack's 3,000 characters); what the agent types (variable values,
free text) lives only in the view's `state.values`, which Slack sends back with every interaction.
The element ids are defined here (and re-exported by `bot.blocks.modal`) so reading a view back
does not depend on the builder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.rules.events import Category
from bot.rules.pricing import Charge
from bot.rules.session_data import SessionData
from bot.rules.templates import Template
from bot.rules.windows import Windows

METADATA_LIMIT = 3000  # Slack's cap on private_metadata

CALLBACK_ID = "contato_screen"
BLOCK_CONTACT = "contact"
ACTION_CONTACT = "contact_input"
BLOCK_CONTACT_SEARCH = "contact_search"
ACTION_CONTACT_SEARCH = "contact_search"
BLOCK_TEAM = "team"
ACTION_TEAM = "team_select"
BLOCK_CHANNEL = "channel"
ACTION_CHANNEL = "channel_select"
BLOCK_CATEGORY = "category"
ACTION_CATEGORY = "category_select"
BLOCK_TEMPLATE = "template"
ACTION_TEMPLATE = "template_select"
ACTION_REFRESH_TEMPLATES = "refresh_templates"
BLOCK_VARIABLE_PREFIX = "var:"
ACTION_VARIABLE = "var_value"
BLOCK_FREE_TEXT = "free_text"
ACTION_FREE_TEXT = "free_text_input"
BLOCK_PICKERS = "pickers"
ACTION_SHOW_PICKERS = "show_pickers"  # "trocar": bring back the team and channel selects
ACTION_UPDATE_PREVIEW = "update_preview"
BLOCK_MEDIA_PREFIX = "media:"  # media header link input ("media:link")
ACTION_MEDIA = "media_value"
# An option of the contact search that is not a number we can send to (an invalid one typed):
# choosing it shows why, and the submit answers a field error.
INVALID_CONTACT_PREFIX = "invalid:"


@dataclass
class ScreenInputs:
    """What the agent chose; round-trips through private_metadata + view state."""

    contact_query: str | None = None  # as typed (/contato argument or the phone input)
    contact_e164: str | None = None
    team_id: str | None = None
    channel_id: str | None = None
    category: Category | None = None
    template_key: str | None = None  # Template.key, "name:language"
    values: dict[str, str] = field(default_factory=dict)  # variable key ("body.1") -> value
    free_text: str | None = None
    idempotency_key: str = ""  # made when the modal opens; a double submit sends once
    origin_channel: str | None = None  # Slack channel where /contato was typed
    # What the contact input and the contact search held when the app last drew the screen.
    # Slack keeps an input's state across views.update, so a value that differs from these was
    # changed by the agent since (and wins); an unchanged one must not undo a newer choice.
    contact_typed: str | None = None  # None: not seen yet; "": seen empty
    contact_picked: str | None = None
    # What the screen showed as the chosen category's charge ("marketing:free:"), so a submit can
    # tell when a window closed meanwhile and the price changed under the agent's eyes.
    seen_charge: str | None = None
    # The agent asked to see the team and channel selects although each has one choice.
    show_pickers: bool = False


@dataclass(frozen=True)
class Option:
    value: str
    label: str
    description: str | None = None


@dataclass
class ScreenState:
    """Everything the modal draws, built by `bot.core.screen` from the database, the cache and the rules."""

    lang: str  # "pt-BR" | "en"
    at: datetime  # now (UTC)
    inputs: ScreenInputs
    teams: list[Option]  # the user's teams
    channels: list[Option]  # the chosen team's channels ("Vendas · 360dialog")
    no_team: bool = False  # user in no team: the modal explains, no submit button
    contact_label: str | None = None  # "Maria Silva · +55 11 98888-7777" (display form)
    contact_problem: str | None = None  # catalogue key, e.g. "screen.errors.phone_unparseable"
    session_data: SessionData | None = None  # of the chosen channel's BSP
    windows: Windows | None = None  # None until contact + channel are known
    charges: dict[Category, Charge] = field(default_factory=dict)
    pricing_model: str | None = None  # CBP | PMP
    templates: list[Template] = field(default_factory=list)  # APPROVED, of the chosen category
    templates_status: str = "fresh"  # fresh | stale | loading | error
    template: Template | None = None  # the selected one (its variables get inputs)
    notice: str | None = None  # catalogue key of a banner (e.g. a window closed meanwhile)
    notice_params: dict[str, str] = field(default_factory=dict)
    tz: str = "America/Sao_Paulo"  # the team's zone: fallback text of times
    alert_lead_minutes: int = 60  # the team's: below it, a window shows "⚠️"
    display_currency: str | None = None  # pricing.display_currency (converted, "≈ estimado")
    exchange_rate: float | None = None
    price_source: dict[str, str] = field(default_factory=dict)  # card currency, date, model, code


# ---- private_metadata ------------------------------------------------------------------------

# Short keys: the budget is 3,000 characters.
_KEYS: tuple[tuple[str, str], ...] = (
    ("contact_query", "q"),
    ("contact_e164", "e"),
    ("team_id", "t"),
    ("channel_id", "c"),
    ("category", "k"),
    ("template_key", "m"),
    ("idempotency_key", "i"),
    ("origin_channel", "o"),
    ("contact_typed", "ty"),
    ("contact_picked", "pk"),
    ("seen_charge", "sc"),
    ("show_pickers", "sp"),
)
# What gives way first when the metadata would not fit (free-form text the agent typed).
_SHRINKABLE = ("contact_query", "contact_typed", "origin_channel", "template_key", "contact_picked")


def _dump(data: dict[str, str]) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def encode_metadata(inputs: ScreenInputs) -> str:
    """The steering choices as compact JSON, always within 3,000 characters.

    Variable values and free text are not in it (they travel in the view's state). Overlong
    free-form fields are cut, the typed contact first.
    """
    data: dict[str, str] = {}
    for name, short in _KEYS:
        value = getattr(inputs, name)
        # An empty contact input is a fact worth keeping ("" = seen empty, None = never seen).
        if value is None or (value == "" and name != "contact_typed"):
            continue
        if value is False:
            continue
        if value is True:
            value = "1"
        data[short] = value.value if isinstance(value, Category) else str(value)
    raw = _dump(data)
    short_of = dict(_KEYS)
    for name in _SHRINKABLE:
        if len(raw) <= METADATA_LIMIT:
            break
        key = short_of[name]
        while key in data and len(raw) > METADATA_LIMIT:
            excess = len(raw) - METADATA_LIMIT
            keep = max(0, len(data[key]) - max(excess, len(data[key]) // 2))
            if keep == 0:
                del data[key]
            else:
                data[key] = data[key][:keep]
            raw = _dump(data)
    if len(raw) > METADATA_LIMIT:  # only an absurd idempotency key or ids get here
        raw = _dump({"i": data.get("i", "")[:200]})
    return raw


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value != "" else None


def decode_metadata(raw: str | None) -> ScreenInputs:
    """`encode_metadata` reversed. Tolerant: garbage or wrong types give defaults, never an error."""
    try:
        data = json.loads(raw) if raw else {}
    except (ValueError, TypeError):
        return ScreenInputs()
    if not isinstance(data, dict):
        return ScreenInputs()
    found = {name: _text(data.get(short)) for name, short in _KEYS}
    if data.get("ty") == "":
        found["contact_typed"] = ""
    category = found.pop("category")
    try:
        chosen = Category(category) if category else None
    except ValueError:
        chosen = None
    return ScreenInputs(
        contact_query=found["contact_query"],
        contact_e164=found["contact_e164"],
        team_id=found["team_id"],
        channel_id=found["channel_id"],
        category=chosen,
        template_key=found["template_key"],
        idempotency_key=found["idempotency_key"] or "",
        origin_channel=found["origin_channel"],
        contact_typed=found["contact_typed"],
        contact_picked=found["contact_picked"],
        seen_charge=found["seen_charge"],
        show_pickers=found["show_pickers"] == "1",
    )


# ---- reading a view back ---------------------------------------------------------------------


def _selected(entry: dict[str, Any]) -> str | None:
    option = entry.get("selected_option")
    if isinstance(option, dict):
        return _text(option.get("value"))
    return None


def read_inputs(view: dict[str, Any]) -> ScreenInputs:
    """The agent's choices: `private_metadata` overlaid with what `view["state"]["values"]` holds.

    Entries are recognised by action id (variables by their "var:<key>" block id), so the
    reading does not depend on the block layout. Unknown or malformed entries are ignored.
    """
    inputs = decode_metadata(view.get("private_metadata") if isinstance(view, dict) else None)
    state = view.get("state") if isinstance(view, dict) else None
    values = state.get("values") if isinstance(state, dict) else None
    if not isinstance(values, dict):
        return inputs

    typed: str | None = None
    picked: str | None = None
    saw_typed = saw_picked = False
    for block_id, actions in values.items():
        if not isinstance(actions, dict):
            continue
        for action_id, entry in actions.items():
            if not isinstance(entry, dict):
                continue
            if action_id == ACTION_CONTACT:
                saw_typed, typed = True, (_text(entry.get("value")) or "").strip() or None
            elif action_id == ACTION_CONTACT_SEARCH:
                saw_picked, picked = True, _selected(entry)
            elif action_id == ACTION_TEAM:
                inputs.team_id = _selected(entry) or inputs.team_id
            elif action_id == ACTION_CHANNEL:
                inputs.channel_id = _selected(entry) or inputs.channel_id
            elif action_id == ACTION_CATEGORY:
                selected = _selected(entry)
                if selected in {c.value for c in Category}:
                    inputs.category = Category(selected)
            elif action_id == ACTION_TEMPLATE:
                inputs.template_key = _selected(entry) or inputs.template_key
            elif action_id == ACTION_FREE_TEXT:
                inputs.free_text = _text(entry.get("value"))
            elif action_id == ACTION_MEDIA and str(block_id).startswith(BLOCK_MEDIA_PREFIX):
                value = _text(entry.get("value"))
                if value is not None:
                    inputs.values[str(block_id)[len(BLOCK_MEDIA_PREFIX) :]] = value.strip()
            elif action_id == ACTION_VARIABLE and str(block_id).startswith(BLOCK_VARIABLE_PREFIX):
                value = _text(entry.get("value"))
                if value is not None:
                    inputs.values[str(block_id)[len(BLOCK_VARIABLE_PREFIX) :]] = value

    # Only a contact field the agent changed since the last drawing overrides the metadata.
    if saw_picked and picked is not None and picked != inputs.contact_picked:
        inputs.contact_e164, inputs.contact_query = picked_contact(picked)
    if saw_typed and (typed or "") != (inputs.contact_typed or ""):
        inputs.contact_query = typed
        inputs.contact_e164 = None
    if saw_picked and picked is not None:
        inputs.contact_picked = picked
    if saw_typed:
        inputs.contact_typed = typed or ""
    return inputs


def picked_contact(value: str) -> tuple[str | None, str]:
    """(E.164 or None, the query) of a contact search option's value."""
    if value.startswith(INVALID_CONTACT_PREFIX):
        return None, value[len(INVALID_CONTACT_PREFIX) :]
    return value, value
