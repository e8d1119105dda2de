"""The screen (`/contato`) as a Slack modal: a pure function of `ScreenState`.

Layout (product.md "The screen"): first the summary line (can the agent write free text now,
until when, the cheapest way in and its cost), then the one contact field, team and channel (one
line when there is nothing to choose), the cards, the category, and what the category needs
(free text, or a template with a preview that fills in). Every string comes from the catalogue;
user and BSP text is escaped and cut to Slack's limits, so no state can produce a view Slack
refuses. The parts live in `top`, `cards` and `template`; `common` holds the limits and helpers.
"""

from __future__ import annotations

from typing import Any

from bot.blocks.modal.cards import CardBlocks
from bot.blocks.modal.common import (
    CATEGORY_ORDER,
    MAX_BLOCKS,
    TITLE,
    block_id_for_field,
    media_block_id,
    template_block_id,
    variable_block_id,
)
from bot.blocks.modal.template import (
    BLOCK_PREVIEW_ACTIONS,
    BLOCK_TEMPLATES_ACTIONS,
    MEDIA_KEY,
    TemplateBlocks,
    media_keys,
)
from bot.blocks.modal.top import BLOCK_SUMMARY, TopBlocks
from bot.blocks.state import (
    ACTION_CATEGORY,
    ACTION_CHANNEL,
    ACTION_CONTACT,
    ACTION_CONTACT_SEARCH,
    ACTION_FREE_TEXT,
    ACTION_MEDIA,
    ACTION_REFRESH_TEMPLATES,
    ACTION_SHOW_PICKERS,
    ACTION_TEAM,
    ACTION_TEMPLATE,
    ACTION_UPDATE_PREVIEW,
    ACTION_VARIABLE,
    BLOCK_CATEGORY,
    BLOCK_CHANNEL,
    BLOCK_CONTACT,
    BLOCK_CONTACT_SEARCH,
    BLOCK_FREE_TEXT,
    BLOCK_PICKERS,
    BLOCK_TEAM,
    BLOCK_TEMPLATE,
    CALLBACK_ID,
    ScreenInputs,
    ScreenState,
    encode_metadata,
)
from bot.blocks.text import plain
from bot.rules.events import Category

__all__ = [
    "ACTION_CATEGORY",
    "ACTION_CHANNEL",
    "ACTION_CONTACT",
    "ACTION_CONTACT_SEARCH",
    "ACTION_FREE_TEXT",
    "ACTION_MEDIA",
    "ACTION_REFRESH_TEMPLATES",
    "ACTION_SHOW_PICKERS",
    "ACTION_TEAM",
    "ACTION_TEMPLATE",
    "ACTION_UPDATE_PREVIEW",
    "ACTION_VARIABLE",
    "BLOCK_CATEGORY",
    "BLOCK_CHANNEL",
    "BLOCK_CONTACT",
    "BLOCK_CONTACT_SEARCH",
    "BLOCK_FREE_TEXT",
    "BLOCK_PICKERS",
    "BLOCK_PREVIEW_ACTIONS",
    "BLOCK_SUMMARY",
    "BLOCK_TEAM",
    "BLOCK_TEMPLATE",
    "BLOCK_TEMPLATES_ACTIONS",
    "CALLBACK_ID",
    "CATEGORY_ORDER",
    "MEDIA_KEY",
    "block_id_for_field",
    "build_modal",
    "media_block_id",
    "media_keys",
    "template_block_id",
    "variable_block_id",
]


class _Screen(TopBlocks, CardBlocks, TemplateBlocks):
    """The whole view of one state, part by part."""

    def blocks(self) -> list[dict[str, Any]]:
        state = self.state
        blocks = [self.summary(), *self.notice()]
        if state.no_team:
            return blocks + [_no_team_help(self)]
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


def _no_team_help(screen: _Screen) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": screen.tx.md("screen.no_team_help")}]}


def build_modal(state: ScreenState) -> dict[str, Any]:
    """The full `views.open`/`views.update` payload for `state`.

    The submit button is there whenever the view has an input (Slack refuses input blocks
    without one); a user in no team gets an explanation and only a close button.
    """
    screen = _Screen(state)
    tx = screen.tx
    blocks = screen.blocks()
    # The metadata records what the contact field shows, to tell later changes from old values.
    inputs = ScreenInputs(**{**state.inputs.__dict__, "values": {}, "free_text": None})
    inputs.contact_picked = screen.picked_option()
    inputs.contact_typed = None
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
