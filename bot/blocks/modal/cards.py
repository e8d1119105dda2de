"""The cards (Customer Care, Click to WhatsApp, the four categories with their cost) and the
category select. Times are Slack date tokens beside the time left; the price's source is said
once, in a context line, not on every card."""

from __future__ import annotations

from typing import Any

from bot.blocks.modal.common import (
    CATEGORY_ORDER,
    ScreenBase,
    context,
    divider,
    option,
    section,
    select_input,
)
from bot.blocks.state import ACTION_CATEGORY, BLOCK_CATEGORY
from bot.blocks.text import charge_text, escape_mrkdwn, mrkdwn
from bot.rules.events import Category
from bot.rules.session_data import SessionData
from bot.rules.windows import Windows


class CardBlocks(ScreenBase):
    def cards(self) -> list[dict[str, Any]]:
        tx, state = self.tx, self.state
        if state.session_data is SessionData.NONE and self.inputs.channel_id:
            return [divider(), section(tx.md("screen.cards.no_session_data"))]
        if state.windows is None:
            return []  # the summary line already asks for the contact
        windows = state.windows
        # No divider: every line counts on a laptop's first screenful (tests/blocks/test_screenful.py).
        return [
            self.windows_card(windows),
            self.category_cards(windows),
            *self.price_source(),
        ]

    def customer_care_line(self, windows: Windows) -> str:
        tx, window = self.tx, windows.customer_care
        if window.open and window.expires_at is not None:
            return tx.md("screen.card.customer_care.open", closes=self.closes(window.expires_at))
        if window.expires_at is not None:
            return tx.md("screen.card.customer_care.closed", ago=self.closed_ago(window.expires_at))
        return tx.md("screen.card.customer_care.never")

    def ctwa_lines(self, windows: Windows) -> list[str]:
        tx, window = self.tx, windows.ctwa
        lines: list[str] = []
        if window.pending_until is not None and window.pending_until > self.state.at:
            until = window.pending_until
            lines.append(tx.md("screen.card.ctwa.pending", left=self.left(until), at=tx.time(until)))
        if window.open and window.expires_at is not None:
            key = (
                "screen.card.ctwa.open" if windows.customer_care.open else "screen.card.ctwa.open_csw_closed"
            )
            lines.append(tx.md(key, closes=self.closes(window.expires_at)))
        if not lines:
            if window.expires_at is not None:
                lines.append(tx.md("screen.card.ctwa.closed", ago=self.closed_ago(window.expires_at)))
            else:
                lines.append(tx.md("screen.card.ctwa.none"))
        return lines

    def windows_card(self, windows: Windows) -> dict[str, Any]:
        """Customer Care and Click to WhatsApp, one line each, in one block."""
        tx = self.tx
        care = f"*{tx.md('screen.card.customer_care.title')}* · {self.customer_care_line(windows)}"
        ctwa = f"*{tx.md('screen.card.ctwa.title')}* · " + " · ".join(self.ctwa_lines(windows))
        return section(f"{care}\n{ctwa}")

    def category_cards(self, windows: Windows) -> dict[str, Any]:
        tx, state = self.tx, self.state
        fields = []
        for category in CATEGORY_ORDER:
            lines = [f"*{tx.md(f'screen.category.{category.value}')}*"]
            window = windows.categories.get(category)
            if window is not None and window.open and window.expires_at is not None:
                lines.append(
                    tx.md("screen.card.category.session_open", closes=self.closes(window.expires_at))
                )
            elif state.pricing_model == "CBP" and category is not Category.SERVICE:
                lines.append(tx.md("screen.card.category.session_closed"))
            lines.append(self.cost_line(category))
            fields.append(mrkdwn("\n".join(lines), 2000))
        return {"type": "section", "fields": fields}

    def cost_line(self, category: Category) -> str:
        tx, state = self.tx, self.state
        charge = state.charges.get(category)
        if charge is not None and charge.charge == "free" and charge.reason in ("csw_open", "fep_open"):
            # The window that makes it free is named once, on the line above.
            return tx.md("screen.charge.free_plain")
        if charge is not None and charge.charge == "unavailable" and charge.reason == "csw_closed":
            return tx.md("screen.charge.unavailable_short")
        return escape_mrkdwn(charge_text(tx, charge, self.calling_code()))

    def price_source(self) -> list[dict[str, Any]]:
        """Where the prices come from, said once ("tabela da Meta para +55, em US$, de 2026-01-01")."""
        tx, source = self.tx, self.state.price_source
        if not source:
            return []
        line = tx.md(
            "screen.price_source.line",
            code=source.get("code", "?"),
            currency=source.get("currency", ""),
            since=source.get("since", ""),
            model=tx.t(f"screen.pricing_model.{source.get('model', 'PMP')}"),
        )
        if tx.display is not None:
            line += " · " + tx.md(
                "screen.price_source.converted",
                currency=tx.display[0],
                rate=f"{tx.display[1]:g}",
            )
        return [context(line)]

    def category(self) -> dict[str, Any]:
        tx, state = self.tx, self.state
        code = self.calling_code()
        options = []
        for category in CATEGORY_ORDER:
            charge = state.charges.get(category)
            description = charge_text(tx, charge, code, short=True) if charge is not None else None
            options.append(option(category.value, tx.t(f"screen.category.{category.value}"), description))
        return select_input(
            BLOCK_CATEGORY,
            ACTION_CATEGORY,
            tx.t("screen.category.label"),
            tx.t("screen.category.placeholder"),
            options,
            self.inputs.category.value if self.inputs.category else None,
        )
