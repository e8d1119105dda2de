"""Issue 10: on a 1366×768 laptop the answer is visible without scrolling. Measured by counting
what Slack draws (lines of text per block), not by eye.

The budget: a 768 px screen leaves about 480 px of modal body once the browser (≈ 90 px), Slack's
modal title and footer (≈ 140 px) and the margins (≈ 60 px) are taken; at Slack's 22-24 px line
height that is 20 lines. A line of modal text holds about 68 characters (≈ 480 px of 15 px Lato at
≈ 7 px a character), a column of a two-column section half of that (34), the smaller context text 80;
an input is its label plus an element about two lines high.
"""

from __future__ import annotations

import math
import re
from typing import Any

import pytest

from bot.blocks import modal
from bot.rules.events import BusinessMessage, CustomerMessage, Event
from tests.blocks.factories import NOW, hours, state
from tests.blocks.limits import assert_view_within_limits

SCREENFUL_LINES = 20
LINE = 68
FIELD_LINE = 34
CONTEXT_LINE = 80
_TOKEN = re.compile(r"<!date\^\d+\^[^|]*\|([^>]*)>")


def _visible(text: str) -> str:
    # A date token shows as Slack's rendering ("Today at 2:40 PM"): about its fallback plus a word.
    return _TOKEN.sub(lambda m: m.group(1) + " Today", text).replace("*", "").replace("_", "")


def _lines(text: str, width: int) -> int:
    return sum(max(1, math.ceil(len(line) / width)) for line in _visible(text).split("\n"))


def block_lines(block: dict[str, Any]) -> int:
    kind = block["type"]
    if kind == "divider":
        return 1
    if kind == "context":
        return sum(_lines(e.get("text", ""), CONTEXT_LINE) for e in block["elements"])
    if kind == "input":
        hint = _lines(block["hint"]["text"], CONTEXT_LINE) if "hint" in block else 0
        return 1 + 2 + hint
    if kind == "actions":
        return 2
    if kind == "section":
        width = LINE - 12 if "accessory" in block else LINE  # a button beside the text
        lines = _lines(block["text"]["text"], width) if "text" in block else 0
        fields = [f["text"] for f in block.get("fields", [])]
        for row in range(0, len(fields), 2):  # two columns
            lines += max(_lines(f, FIELD_LINE) for f in fields[row : row + 2])
        return max(lines, 2 if "accessory" in block else 1)
    raise AssertionError(f"no height for {kind}")


def lines_until(view: dict[str, Any], last_block_id: str) -> int:
    total = 0
    for block in view["blocks"]:
        total += block_lines(block)
        if block.get("block_id") == last_block_id:
            return total
    raise AssertionError(f"{last_block_id} not in the view")


SITUATIONS: dict[str, list[Event]] = {
    "customer wrote 2 h ago": [CustomerMessage("w1", NOW - hours(2))],
    "window closed": [CustomerMessage("w1", NOW - hours(30))],
    "never wrote": [],
    "ad lead waiting": [CustomerMessage("ad", NOW - hours(3), from_ad=True)],
    "free entry point open": [
        CustomerMessage("ad", NOW - hours(30), from_ad=True),
        BusinessMessage("out", NOW - hours(29)),
    ],
}


@pytest.mark.parametrize("lang", ["pt-BR", "en"])
@pytest.mark.parametrize("situation", list(SITUATIONS))
def test_summary_cards_and_category_fit_the_first_screenful(lang: str, situation: str) -> None:
    # The default state: /contato with a number, the user's one team and one channel.
    screen = state(lang=lang, events=SITUATIONS[situation])
    screen.teams = screen.teams[:1]
    screen.channels = screen.channels[:1]
    view = modal.build_modal(screen)
    assert_view_within_limits(view)
    ids = [b.get("block_id") for b in view["blocks"]]
    assert ids[0] == modal.BLOCK_SUMMARY
    assert modal.BLOCK_TEAM not in ids and modal.BLOCK_CHANNEL not in ids  # collapsed: one line
    four_cards = next(i for i, b in enumerate(view["blocks"]) if len(b.get("fields") or []) == 4)
    assert four_cards < ids.index(modal.BLOCK_CATEGORY)
    used = lines_until(view, modal.BLOCK_CATEGORY)
    assert used <= SCREENFUL_LINES, f"{situation} ({lang}): {used} lines before the category is seen"


def test_the_old_layout_would_not_have_fit() -> None:
    # The measure is not lenient: two selects instead of the one line push the category out.
    screen = state(events=SITUATIONS["ad lead waiting"])
    view = modal.build_modal(screen)  # two teams and two channels: the selects stay
    assert lines_until(view, modal.BLOCK_CATEGORY) > lines_until(
        modal.build_modal(
            state(events=SITUATIONS["ad lead waiting"], teams=screen.teams[:1], channels=screen.channels[:1])
        ),
        modal.BLOCK_CATEGORY,
    )
