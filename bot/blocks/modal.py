"""The screen (`/contato`) as a Slack modal: a pure function of `ScreenState`.

Layout (product.md "The screen"): notice banner, contact (input + search), team, channel, then
once contact and channel are known the Customer Care, Click to WhatsApp and category cards, then
the category and what it needs (free text, or a template with its preview and one input per
variable). Every string comes from the catalogue; user and BSP text is escaped and cut to
Slack's limits, so no state can produce a view Slack refuses.
"""

from __future__ import annotations

from typing import Any

from bot.blocks.state import (
    ACTION_CATEGORY,
    ACTION_CHANNEL,
    ACTION_CONTACT,
    ACTION_CONTACT_SEARCH,
    ACTION_FREE_TEXT,
    ACTION_REFRESH_TEMPLATES,
    ACTION_TEAM,
    ACTION_TEMPLATE,
    ACTION_VARIABLE,
    BLOCK_CATEGORY,
    BLOCK_CHANNEL,
    BLOCK_CONTACT,
    BLOCK_CONTACT_SEARCH,
    BLOCK_FREE_TEXT,
    BLOCK_TEAM,
    BLOCK_TEMPLATE,
    BLOCK_VARIABLE_PREFIX,
    CALLBACK_ID,
    Option,
    ScreenInputs,
    ScreenState,
    encode_metadata,
)
from bot.blocks.text import Texts, charge_text, cut, escape_mrkdwn, mrkdwn, plain, single_line
from bot.rules import phones
from bot.rules.events import Category
from bot.rules.session_data import SessionData
from bot.rules.templates import Template, TemplateVariable, render_preview, template_variables
from bot.rules.windows import Windows

__all__ = [
    "ACTION_CATEGORY",
    "ACTION_CHANNEL",
    "ACTION_CONTACT",
    "ACTION_CONTACT_SEARCH",
    "ACTION_FREE_TEXT",
    "ACTION_REFRESH_TEMPLATES",
    "ACTION_TEAM",
    "ACTION_TEMPLATE",
    "ACTION_VARIABLE",
    "BLOCK_CATEGORY",
    "BLOCK_CHANNEL",
    "BLOCK_CONTACT",
    "BLOCK_CONTACT_SEARCH",
    "BLOCK_FREE_TEXT",
    "BLOCK_TEAM",
    "BLOCK_TEMPLATE",
    "BLOCK_TEMPLATES_ACTIONS",
    "CALLBACK_ID",
    "CATEGORY_ORDER",
    "block_id_for_field",
    "build_modal",
    "variable_block_id",
]

BLOCK_TEMPLATES_ACTIONS = "templates_actions"
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


def block_id_for_field(field: str, view_blocks: list[dict[str, Any]] | None = None) -> str:
    """The block a `sending.Problem` field's error attaches to.

    Fields are contact, team, channel, category, template, free_text, or a variable key
    ("body.1"). With `view_blocks`, an id that is not an input block of that view falls back to
    the nearest one that is (Slack only shows errors on input blocks of the view).
    """
    wanted = _FIELD_BLOCKS.get(field) or variable_block_id(field)
    if view_blocks is None:
        return wanted
    inputs = [b.get("block_id") for b in view_blocks if isinstance(b, dict) and b.get("type") == "input"]
    present = [block_id for block_id in inputs if isinstance(block_id, str)]
    if wanted in present or not present:
        return wanted
    for candidate in _FALLBACKS:
        if candidate in present:
            return candidate
    return present[0]


# ---- small block helpers -----------------------------------------------------------------------


def _section(text: str, block_id: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "section", "text": mrkdwn(text, SECTION_TEXT)}
    if block_id:
        block["block_id"] = block_id
    return block


def _context(*texts: str) -> dict[str, Any]:
    return {"type": "context", "elements": [mrkdwn(text, CONTEXT_TEXT) for text in texts[:10]]}


def _divider() -> dict[str, Any]:
    return {"type": "divider"}


def _option(value: str, label: str, description: str | None = None) -> dict[str, Any]:
    option: dict[str, Any] = {"text": plain(label, OPTION_TEXT), "value": value}
    if description:
        option["description"] = plain(description, OPTION_DESCRIPTION)
    return option


def _select_input(
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


def _options_of(choices: list[Option]) -> list[dict[str, Any]]:
    # A value Slack would refuse (over 150 characters, or repeated) cannot be chosen.
    seen: set[str] = set()
    options = []
    for choice in choices:
        if 0 < len(choice.value) <= OPTION_VALUE and choice.value not in seen:
            seen.add(choice.value)
            options.append(_option(choice.value, choice.label, choice.description))
    return options[:MAX_OPTIONS]


# ---- the screen ---------------------------------------------------------------------------------


class _Screen:
    """Builds the blocks of one state; `tx` is the catalogue of its language."""

    def __init__(self, state: ScreenState) -> None:
        self.state = state
        self.inputs = state.inputs
        self.tx = Texts(state.lang)

    # -- top: notice, contact, team, channel

    def notice(self) -> list[dict[str, Any]]:
        if not self.state.notice:
            return []
        return [_section("⚠️ " + self.tx.md(self.state.notice, **self.state.notice_params))]

    def shown_contact_text(self) -> str | None:
        """What the contact input shows (and what the metadata says it showed)."""
        inputs = self.inputs
        shown = inputs.contact_typed if inputs.contact_typed is not None else inputs.contact_query
        return cut(shown, CONTACT_MAX) if shown else None

    def contact(self) -> list[dict[str, Any]]:
        tx = self.tx
        element: dict[str, Any] = {
            "type": "plain_text_input",
            "action_id": ACTION_CONTACT,
            "placeholder": plain(tx.t("screen.contact.placeholder"), PLACEHOLDER),
            "max_length": CONTACT_MAX,
            "dispatch_action_config": {"trigger_actions_on": ["on_enter_pressed"]},
        }
        shown = self.shown_contact_text()
        if shown:
            element["initial_value"] = shown
        typed = {
            "type": "input",
            "block_id": BLOCK_CONTACT,
            "optional": True,  # the contact may come from the search instead
            "dispatch_action": True,
            "label": plain(tx.t("screen.contact.label"), LABEL),
            "hint": plain(tx.t("screen.contact.hint"), HINT),
            "element": element,
        }
        search = {
            "type": "input",
            "block_id": BLOCK_CONTACT_SEARCH,
            "optional": True,
            "dispatch_action": True,
            "label": plain(tx.t("screen.contact.search_label"), LABEL),
            "element": {
                "type": "external_select",
                "action_id": ACTION_CONTACT_SEARCH,
                "placeholder": plain(tx.t("screen.contact.search_placeholder"), PLACEHOLDER),
                "min_query_length": 2,
            },
        }
        if self.state.contact_problem:
            status = "⚠️ " + tx.md(self.state.contact_problem)
        elif self.state.contact_label:
            status = tx.md("screen.contact.chosen", label=self.state.contact_label)
        else:
            status = tx.md("screen.contact.none")
        return [typed, search, _context(status)]

    def team_and_channel(self) -> list[dict[str, Any]]:
        tx = self.tx
        blocks: list[dict[str, Any]] = []
        teams = _options_of(self.state.teams)
        if teams:
            blocks.append(
                _select_input(
                    BLOCK_TEAM,
                    ACTION_TEAM,
                    tx.t("screen.team.label"),
                    tx.t("screen.team.placeholder"),
                    teams,
                    self.inputs.team_id,
                )
            )
        channels = _options_of(self.state.channels)
        if channels:
            blocks.append(
                _select_input(
                    BLOCK_CHANNEL,
                    ACTION_CHANNEL,
                    tx.t("screen.channel.label"),
                    tx.t("screen.channel.placeholder"),
                    channels,
                    self.inputs.channel_id,
                )
            )
        elif teams:
            blocks.append(_context(tx.md("screen.channel.none")))
        return blocks

    # -- the cards

    def calling_code(self) -> str | None:
        if not self.inputs.contact_e164:
            return None
        try:
            return phones.calling_code(self.inputs.contact_e164)
        except phones.InvalidPhone:
            return None

    def left(self, until: Any) -> str:
        return self.tx.remaining(int((until - self.state.at).total_seconds()))

    def cards(self) -> list[dict[str, Any]]:
        tx, state = self.tx, self.state
        if state.session_data is SessionData.NONE and self.inputs.channel_id:
            return [_divider(), _section(tx.md("screen.cards.no_session_data"))]
        if state.windows is None:
            return [_divider(), _context(tx.md("screen.cards.need_contact"))]
        windows = state.windows
        return [
            _divider(),
            self.customer_care_card(windows),
            self.ctwa_card(windows),
            self.category_cards(windows),
        ]

    def customer_care_card(self, windows: Windows) -> dict[str, Any]:
        tx, window = self.tx, windows.customer_care
        if window.open and window.expires_at is not None:
            line = tx.md(
                "screen.card.customer_care.open",
                until=tx.time(window.expires_at),
                left=self.left(window.expires_at),
            )
        elif window.expires_at is not None:
            line = tx.md("screen.card.customer_care.closed", since=tx.time(window.expires_at))
        else:
            line = tx.md("screen.card.customer_care.never")
        return _section(f"*{tx.md('screen.card.customer_care.title')}*\n{line}")

    def ctwa_card(self, windows: Windows) -> dict[str, Any]:
        tx, window = self.tx, windows.ctwa
        lines: list[str] = []
        if window.open and window.expires_at is not None:
            lines.append(
                tx.md(
                    "screen.card.ctwa.open",
                    until=tx.time(window.expires_at),
                    left=self.left(window.expires_at),
                )
            )
        if window.pending_until is not None and window.pending_until > self.state.at:
            lines.append(
                tx.md(
                    "screen.card.ctwa.pending",
                    until=tx.time(window.pending_until),
                    left=self.left(window.pending_until),
                )
            )
        if not lines:
            if window.expires_at is not None:
                lines.append(tx.md("screen.card.ctwa.closed", since=tx.time(window.expires_at)))
            else:
                lines.append(tx.md("screen.card.ctwa.none"))
        return _section(f"*{tx.md('screen.card.ctwa.title')}*\n" + "\n".join(lines))

    def category_cards(self, windows: Windows) -> dict[str, Any]:
        tx, state = self.tx, self.state
        code = self.calling_code()
        fields = []
        for category in CATEGORY_ORDER:
            lines = [f"*{tx.md(f'screen.category.{category.value}')}*"]
            window = windows.categories.get(category)
            if window is not None and window.open and window.expires_at is not None:
                lines.append(
                    tx.md(
                        "screen.card.category.session_open",
                        until=tx.time(window.expires_at),
                        left=self.left(window.expires_at),
                    )
                )
            elif state.pricing_model == "CBP" and category is not Category.SERVICE:
                lines.append(tx.md("screen.card.category.session_closed"))
            lines.append(escape_mrkdwn(charge_text(tx, state.charges.get(category), code)))
            fields.append(mrkdwn("\n".join(lines), 2000))
        if state.pricing_model in ("CBP", "PMP"):
            title = tx.md(
                "screen.card.categories.title_model",
                model=tx.t(f"screen.pricing_model.{state.pricing_model}"),
            )
        else:
            title = tx.md("screen.card.categories.title")
        return {"type": "section", "text": mrkdwn(f"*{title}*"), "fields": fields}

    # -- category and what it needs

    def category(self) -> dict[str, Any]:
        tx, state = self.tx, self.state
        code = self.calling_code()
        options = []
        for category in CATEGORY_ORDER:
            charge = state.charges.get(category)
            description = charge_text(tx, charge, code, short=True) if charge is not None else None
            options.append(_option(category.value, tx.t(f"screen.category.{category.value}"), description))
        return _select_input(
            BLOCK_CATEGORY,
            ACTION_CATEGORY,
            tx.t("screen.category.label"),
            tx.t("screen.category.placeholder"),
            options,
            self.inputs.category.value if self.inputs.category else None,
        )

    def free_text_input(self, hint: str | None) -> dict[str, Any]:
        tx = self.tx
        element: dict[str, Any] = {
            "type": "plain_text_input",
            "action_id": ACTION_FREE_TEXT,
            "multiline": True,
            "max_length": INPUT_MAX,  # WhatsApp allows 4,096; Slack's input stops at 3,000
            "placeholder": plain(tx.t("screen.free_text.placeholder"), PLACEHOLDER),
        }
        if self.inputs.free_text:
            element["initial_value"] = self.inputs.free_text[:INPUT_MAX]
        block: dict[str, Any] = {
            "type": "input",
            "block_id": BLOCK_FREE_TEXT,
            "label": plain(tx.t("screen.free_text.label"), LABEL),
            "element": element,
        }
        if hint:
            block["hint"] = plain(hint, HINT)
        return block

    def service(self) -> list[dict[str, Any]]:
        tx, state = self.tx, self.state
        if state.session_data is SessionData.NONE and self.inputs.channel_id:
            return [
                self.free_text_input(None),
                _context("⚠️ " + tx.md("screen.free_text.no_session_data")),
            ]
        if state.windows is None:
            return [_context(tx.md("screen.free_text.need_contact"))]
        window = state.windows.customer_care
        if window.open and window.expires_at is not None:
            hint = tx.t(
                "screen.free_text.hint", until=tx.time(window.expires_at), left=self.left(window.expires_at)
            )
            return [self.free_text_input(hint)]
        if window.expires_at is not None:
            return [_context("🔒 " + tx.md("screen.free_text.closed", since=tx.time(window.expires_at)))]
        return [_context("🔒 " + tx.md("screen.free_text.never"))]

    def refresh_button(self) -> dict[str, Any]:
        return {
            "type": "actions",
            "block_id": BLOCK_TEMPLATES_ACTIONS,
            "elements": [
                {
                    "type": "button",
                    "action_id": ACTION_REFRESH_TEMPLATES,
                    "text": plain(self.tx.t("screen.templates.refresh"), 75),
                    "value": "refresh",
                }
            ],
        }

    def templates(self) -> list[dict[str, Any]]:
        tx, state = self.tx, self.state
        category = self.inputs.category
        assert category is not None
        # Slack refuses option values over 150 characters or repeated; those cannot be listed.
        unique = {t.key: t for t in reversed(state.templates) if 0 < len(t.key) <= OPTION_VALUE}
        listable = [t for t in state.templates if unique.get(t.key) is t]
        chosen = self.inputs.template_key
        if chosen in unique and unique[chosen] not in listable[:MAX_OPTIONS]:
            # The selected template stays selectable even beyond Slack's 100 options.
            listable = listable[: MAX_OPTIONS - 1] + [unique[chosen]]
        if not listable:
            if state.templates_status == "loading":
                line = "⏳ " + tx.md("screen.templates.loading")
            elif state.templates_status == "error":
                line = "⚠️ " + tx.md("screen.templates.error")
            else:
                line = tx.md("screen.templates.none", category=tx.t(f"screen.category.{category.value}"))
            return [_context(line), self.refresh_button()]

        options = [
            _option(
                t.key, f"{t.name} · {t.language}", cut(single_line(t.body_text), OPTION_DESCRIPTION) or None
            )
            for t in listable[:MAX_OPTIONS]
        ]
        hint = None
        if len(state.templates) > len(options):
            hint = tx.t("screen.templates.more", shown=len(options), total=len(state.templates))
        blocks = [
            _select_input(
                BLOCK_TEMPLATE,
                ACTION_TEMPLATE,
                tx.t("screen.templates.label"),
                tx.t("screen.templates.placeholder"),
                options,
                self.inputs.template_key,
                hint,
            )
        ]
        status = []
        if state.templates_status == "stale":
            status.append(tx.md("screen.templates.stale"))
        elif state.templates_status == "error":
            status.append("⚠️ " + tx.md("screen.templates.error_stale"))
        elif state.templates_status == "loading":
            status.append("⏳ " + tx.md("screen.templates.loading"))
        if status:
            blocks.append(_context(*status))
        blocks.append(self.refresh_button())
        return blocks

    # -- the chosen template

    def preview(self, template: Template, body_sections: int) -> list[dict[str, Any]]:
        tx = self.tx
        rendered = render_preview(template, self.inputs.values)
        blocks: list[dict[str, Any]] = [
            _divider(),
            _section(
                tx.md(
                    "screen.template.preview_title", name=cut(template.name, 600), language=template.language
                )
            ),
        ]
        if template.header_format and template.header_format.upper() not in ("TEXT", ""):
            blocks.append(
                _context(tx.md("screen.template.media_header", kind=template.header_format.lower()))
            )
        if rendered.header:
            blocks.append(
                _section("*" + cut(escape_mrkdwn(single_line(rendered.header)), SECTION_TEXT - 2) + "*")
            )
        body = escape_mrkdwn(rendered.body)
        chunks = _chunks(body, SECTION_TEXT, body_sections)
        blocks += [_section(chunk) for chunk in chunks]
        extras = []
        if rendered.footer:
            extras.append("_" + cut(escape_mrkdwn(single_line(rendered.footer)), CONTEXT_TEXT - 2) + "_")
        if rendered.buttons:
            buttons = " · ".join(escape_mrkdwn(single_line(b)) for b in rendered.buttons)
            extras.append(tx.t("screen.template.buttons", buttons=buttons))
        if extras:
            blocks.append(_context(*extras))
        return blocks

    def variable_input(self, template: Template, variable: TemplateVariable) -> dict[str, Any]:
        tx = self.tx
        if variable.component == "button":
            index = int(variable.name) if variable.name.isdigit() else 0
            button_text = template.buttons[index].text if index < len(template.buttons) else ""
            label = tx.t("screen.template.button_variable", number=index + 1, text=button_text)
        elif template.category is Category.AUTHENTICATION and variable.key == "body.1":
            label = tx.t("screen.template.code_label")
        else:
            label = tx.t(
                "screen.template.variable_label",
                part=tx.t(f"screen.template.part.{variable.component}"),
                name="{{" + variable.name + "}}",
            )
        element: dict[str, Any] = {
            "type": "plain_text_input",
            "action_id": ACTION_VARIABLE,
            "placeholder": plain(
                variable.example or tx.t("screen.template.variable_placeholder"), PLACEHOLDER
            ),
        }
        value = self.inputs.values.get(variable.key)
        if value:
            element["initial_value"] = value[:INPUT_MAX]
        return {
            "type": "input",
            "block_id": cut(variable_block_id(variable.key), 255),
            "label": plain(label, LABEL),
            "element": element,
        }

    def chosen_template(self, used: int) -> tuple[list[dict[str, Any]], bool]:
        """Preview and inputs of the selected template within the blocks left; and whether it fits."""
        template = self.state.template
        if template is None:
            return [], False
        variables = [v for v in template_variables(template) if len(variable_block_id(v.key)) <= 255]
        room = MAX_BLOCKS - used
        for sections in range(PREVIEW_BODY_SECTIONS, 0, -1):
            preview = self.preview(template, sections)
            if len(preview) + max(len(variables), 1) <= room:
                break
        if not variables:
            return preview + [_context(self.tx.md("screen.template.no_variables"))], True
        if len(preview) + len(variables) > room:
            # Slack caps a modal at 100 blocks; such a template cannot be filled here.
            note = _context("⚠️ " + self.tx.md("screen.template.too_many_variables", count=len(variables)))
            return preview[: max(room - 1, 0)] + [note], False
        return preview + [self.variable_input(template, v) for v in variables], True

    # -- the whole view

    def blocks(self) -> list[dict[str, Any]]:
        state = self.state
        blocks = self.notice()
        if state.no_team:
            return blocks + [
                _section(self.tx.md("screen.errors.no_team")),
                _context(self.tx.md("screen.no_team_help")),
            ]
        blocks += self.contact()
        blocks += self.team_and_channel()
        blocks += self.cards()
        blocks.append(self.category())
        category = self.inputs.category
        if category is Category.SERVICE:
            blocks += self.service()
        elif category is not None:
            blocks += self.templates()
            template_blocks, _fits = self.chosen_template(len(blocks))
            blocks += template_blocks
        return blocks[:MAX_BLOCKS]


def _chunks(text: str, size: int, count: int) -> list[str]:
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


def build_modal(state: ScreenState) -> dict[str, Any]:
    """The full `views.open`/`views.update` payload for `state`.

    The submit button is there whenever the view has an input (Slack refuses input blocks
    without one); a user in no team gets an explanation and only a close button.
    """
    screen = _Screen(state)
    tx = screen.tx
    blocks = screen.blocks()
    # The metadata records what the contact input shows, to tell later edits from old values.
    inputs = ScreenInputs(**{**state.inputs.__dict__, "values": {}, "free_text": None})
    inputs.contact_typed = screen.shown_contact_text() or ""
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": CALLBACK_ID,
        "title": plain(tx.t("screen.title"), TITLE),
        "close": plain(tx.t("screen.close"), TITLE),
        "private_metadata": encode_metadata(inputs),
        "blocks": blocks,
    }
    if any(block.get("type") == "input" for block in blocks):
        view["submit"] = plain(tx.t("screen.submit"), TITLE)
    return view
