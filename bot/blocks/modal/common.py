"""Shared pieces of the screen's builders: Slack's limits, small block helpers, and the base the
parts of the screen (summary and pickers, cards, category and templates) build on."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.blocks.state import (
    BLOCK_CATEGORY,
    BLOCK_CHANNEL,
    BLOCK_CONTACT,
    BLOCK_FREE_TEXT,
    BLOCK_MEDIA_PREFIX,
    BLOCK_TEAM,
    BLOCK_TEMPLATE,
    BLOCK_VARIABLE_PREFIX,
    Option,
    ScreenState,
)
from bot.blocks.text import Texts, cut, mrkdwn, plain
from bot.rules import phones
from bot.rules.events import Category

CATEGORY_ORDER = (Category.SERVICE, Category.AUTHENTICATION, Category.UTILITY, Category.MARKETING)

# Slack's limits (docs slack.md).
MAX_BLOCKS = 100
MAX_OPTIONS = 100
OPTION_TEXT = 75
OPTION_VALUE = 150
OPTION_DESCRIPTION = 75
TITLE = 24
LABEL = 2000
HINT = 2000
PLACEHOLDER = 150
INPUT_MAX = 3000
SECTION_TEXT = 3000
CONTEXT_TEXT = 2000
CONTACT_MAX = 150
PREVIEW_BODY_SECTIONS = 3  # a 5,000-character body, escaped, spans up to three; longer ones are cut

_FIELD_BLOCKS = {
    "contact": BLOCK_CONTACT,
    "team": BLOCK_TEAM,
    "channel": BLOCK_CHANNEL,
    "category": BLOCK_CATEGORY,
    "template": BLOCK_TEMPLATE,
    "free_text": BLOCK_FREE_TEXT,
}
# Where an error goes when its own block is not in the view (e.g. a variable of a template the
# screen no longer shows): the nearest field that is.
_FALLBACKS = (BLOCK_TEMPLATE, BLOCK_FREE_TEXT, BLOCK_CATEGORY, BLOCK_CHANNEL, BLOCK_TEAM, BLOCK_CONTACT)


def variable_block_id(key: str) -> str:
    """The input block of one template variable ("body.1" -> "var:body.1")."""
    return f"{BLOCK_VARIABLE_PREFIX}{key}"


def media_block_id(key: str) -> str:
    """The input block of a media header's link ("header.media" -> "media:header.media")."""
    return f"{BLOCK_MEDIA_PREFIX}{key}"


def template_block_id(category: Category | None) -> str:
    """The template select's block id, new for each category: Slack keeps an input's value across
    views.update while its block_id stays, so a template of the old category would come back."""
    return f"{BLOCK_TEMPLATE}:{category.value}" if category is not None else BLOCK_TEMPLATE


def block_id_for_field(field: str, view_blocks: list[dict[str, Any]] | None = None) -> str:
    """The block a `sending.Problem` field's error attaches to.

    Fields are contact, team, channel, category, template, free_text, or a variable key
    ("body.1", or "header.media" for a media header). With `view_blocks`, an id that is not an
    input block of that view falls back to the nearest one that is (Slack only shows errors on
    input blocks of the view).
    """
    if field == "header.media" or field.startswith("header.location"):
        wanted = media_block_id(field)
    else:
        wanted = _FIELD_BLOCKS.get(field) or variable_block_id(field)
    if view_blocks is None:
        return wanted
    inputs = [b.get("block_id") for b in view_blocks if isinstance(b, dict) and b.get("type") == "input"]
    present = [block_id for block_id in inputs if isinstance(block_id, str)]
    if wanted == BLOCK_TEMPLATE:
        wanted = next((b for b in present if b.startswith(BLOCK_TEMPLATE + ":")), wanted)
    if wanted in present or not present:
        return wanted
    for candidate in _FALLBACKS:
        found = next((b for b in present if b == candidate or b.startswith(candidate + ":")), None)
        if found is not None:
            return found
    return present[0]


# ---- small block helpers -----------------------------------------------------------------------


def section(text: str, block_id: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "section", "text": mrkdwn(text, SECTION_TEXT)}
    if block_id:
        block["block_id"] = block_id
    return block


def context(*texts: str) -> dict[str, Any]:
    return {"type": "context", "elements": [mrkdwn(text, CONTEXT_TEXT) for text in texts[:10]]}


def divider() -> dict[str, Any]:
    return {"type": "divider"}


def option(value: str, label: str, description: str | None = None) -> dict[str, Any]:
    chosen: dict[str, Any] = {"text": plain(label, OPTION_TEXT), "value": value}
    if description:
        chosen["description"] = plain(description, OPTION_DESCRIPTION)
    return chosen


def select_input(
    block_id: str,
    action_id: str,
    label: str,
    placeholder: str,
    options: list[dict[str, Any]],
    selected: str | None,
    hint: str | None = None,
) -> dict[str, Any]:
    """An input block holding a static_select that sends block_actions when changed."""
    element: dict[str, Any] = {
        "type": "static_select",
        "action_id": action_id,
        "placeholder": plain(placeholder, PLACEHOLDER),
        "options": options[:MAX_OPTIONS],
    }
    initial = next((o for o in element["options"] if o["value"] == selected), None)
    if initial is not None:
        element["initial_option"] = initial
    block: dict[str, Any] = {
        "type": "input",
        "block_id": block_id,
        "dispatch_action": True,
        "label": plain(label, LABEL),
        "element": element,
    }
    if hint:
        block["hint"] = plain(hint, HINT)
    return block


def options_of(choices: list[Option]) -> list[dict[str, Any]]:
    # A value Slack would refuse (over 150 characters, or repeated) cannot be chosen.
    seen: set[str] = set()
    options = []
    for choice in choices:
        if 0 < len(choice.value) <= OPTION_VALUE and choice.value not in seen:
            seen.add(choice.value)
            options.append(option(choice.value, choice.label, choice.description))
    return options[:MAX_OPTIONS]


def chunks(text: str, size: int, count: int) -> list[str]:
    """`text` in at most `count` pieces of `size`, split at line ends where possible; the last
    piece is cut with "…" when the text is longer still. Escaped entities are never split."""
    pieces: list[str] = []
    rest = text.strip("\n")
    while rest and len(pieces) < count:
        if len(rest) <= size or len(pieces) == count - 1:
            pieces.append(cut(rest, size))
            break
        split = rest.rfind("\n", size // 2, size)
        if split <= 0:
            split = size
            amp = rest.rfind("&", split - 4, split)
            if amp != -1 and ";" not in rest[amp:split]:
                split = amp
        pieces.append(rest[:split])
        rest = rest[split:].lstrip("\n")
    return [p for p in pieces if p.strip()]


class ScreenBase:
    """One state's builder; `tx` is the catalogue of its language, zone and display currency."""

    def __init__(self, state: ScreenState) -> None:
        self.state = state
        self.inputs = state.inputs
        display = (
            (state.display_currency, state.exchange_rate)
            if state.display_currency and state.exchange_rate
            else None
        )
        self.tx = Texts(state.lang, state.tz, display)

    def calling_code(self) -> str | None:
        if not self.inputs.contact_e164:
            return None
        try:
            return phones.calling_code(self.inputs.contact_e164)
        except phones.InvalidPhone:
            return None

    def seconds_left(self, until: datetime) -> float:
        return (until - self.state.at).total_seconds()

    def left(self, until: datetime) -> str:
        return self.tx.remaining(int(self.seconds_left(until)))

    def urgent(self, until: datetime) -> bool:
        """Closing within the team's alert lead: the window gets a ⚠️."""
        return 0 < self.seconds_left(until) <= self.state.alert_lead_minutes * 60

    def closes(self, until: datetime) -> str:
        """ "fecha em 22 h (token)", with ⚠️ under the team's alert lead. mrkdwn."""
        key = "screen.time.closes_urgent" if self.urgent(until) else "screen.time.closes"
        return self.tx.md(key, left=self.left(until), at=self.tx.time(until))

    def closed_ago(self, since: datetime) -> str:
        """ "fechou há 3 h (token)". mrkdwn."""
        span = self.tx.remaining((self.state.at - since).total_seconds())
        return self.tx.md("screen.time.closed_ago", span=span, at=self.tx.time(since))
