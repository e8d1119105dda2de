"""The top of the screen: the summary line (the answer the agent came for), the one contact
field, and the team and channel (collapsed into one line when there is nothing to choose)."""

from __future__ import annotations

from typing import Any

from bot.blocks.modal.common import (
    CONTACT_MAX,
    LABEL,
    OPTION_TEXT,
    PLACEHOLDER,
    ScreenBase,
    context,
    options_of,
    section,
    select_input,
)
from bot.blocks.state import (
    ACTION_CHANNEL,
    ACTION_CONTACT_SEARCH,
    ACTION_SHOW_PICKERS,
    ACTION_TEAM,
    BLOCK_CHANNEL,
    BLOCK_CONTACT,
    BLOCK_PICKERS,
    BLOCK_TEAM,
)
from bot.blocks.text import cut, escape_mrkdwn, plain
from bot.rules.events import Category
from bot.rules.pricing import Charge
from bot.rules.session_data import SessionData

BLOCK_SUMMARY = "summary"
# The cheapest template category first when prices tie: what a support agent usually sends.
_TEMPLATE_PREFERENCE = (Category.UTILITY, Category.AUTHENTICATION, Category.MARKETING)


class TopBlocks(ScreenBase):
    # -- the summary line

    def cheapest_template(self) -> tuple[Category, Charge] | None:
        """The cheapest template category to reach the customer now (free beats paid)."""
        priced = [(c, self.state.charges[c]) for c in _TEMPLATE_PREFERENCE if c in self.state.charges]
        usable = [(c, ch) for c, ch in priced if ch.charge in ("free", "paid")]
        if not usable:
            return None
        return min(
            usable,
            key=lambda pair: (
                pair[1].charge != "free",
                pair[1].price if pair[1].price is not None else float("inf"),
            ),
        )

    def cost_of(self, category: Category, charge: Charge) -> str:
        tx = self.tx
        name = tx.t(f"screen.category.{category.value}")
        if charge.charge == "free":
            return tx.md("screen.summary.template_free", category=name)
        if charge.price is not None:
            return tx.md(
                "screen.summary.template_paid", category=name, price=tx.price(charge.price, charge.currency)
            )
        return tx.md("screen.summary.template_paid_unknown", category=name)

    def template_part(self) -> str:
        cheapest = self.cheapest_template()
        if cheapest is None:
            return self.tx.md("screen.summary.only_template")
        return self.tx.md("screen.summary.only_template") + " · " + self.cost_of(*cheapest)

    def summary_text(self) -> str:
        """One line: can the agent write free text now, until when, and the cheapest way in."""
        tx, state = self.tx, self.state
        if state.no_team:
            return tx.md("screen.summary.no_team")
        if not self.inputs.contact_e164 or not self.inputs.channel_id:
            return tx.md("screen.summary.need_contact")
        if state.session_data is SessionData.NONE:
            return tx.md("screen.summary.no_session_data")
        windows = state.windows
        if windows is None:
            return tx.md("screen.summary.need_contact")
        care, ctwa = windows.customer_care, windows.ctwa
        service = state.charges.get(Category.SERVICE)
        if ctwa.pending_until is not None and ctwa.pending_until > state.at:
            # Our first reply to an ad lead opens the 72 h free entry point: that reply is free.
            until = ctwa.pending_until
            # Under the team's alert lead the time gets the ⚠️ (one warning sign, not two).
            left = ("⚠️ " if self.urgent(until) else "") + self.left(until)
            return tx.md("screen.summary.ctwa_pending", icon="🟡", left=left, at=tx.time(until))
        if care.open and care.expires_at is not None:
            if service is not None and service.charge == "paid" and service.price is not None:
                cost = tx.md("screen.summary.text_paid", price=tx.price(service.price, service.currency))
            else:
                cost = tx.md("screen.summary.free")
            icon = "🟢"  # under the alert lead, `closes` carries the ⚠️
            return tx.md(
                "screen.summary.text_open", icon=icon, closes=self.closes(care.expires_at), cost=cost
            )
        if ctwa.open and ctwa.expires_at is not None:
            return tx.md("screen.summary.fep_open", closes=self.closes(ctwa.expires_at))
        if care.expires_at is not None:
            return tx.md(
                "screen.summary.closed", ago=self.closed_ago(care.expires_at), templates=self.template_part()
            )
        return tx.md("screen.summary.never", templates=self.template_part())

    def summary(self) -> dict[str, Any]:
        return section(self.summary_text(), BLOCK_SUMMARY)

    def notice(self) -> list[dict[str, Any]]:
        if not self.state.notice:
            return []
        return [section("⚠️ " + self.tx.md(self.state.notice, **self.state.notice_params))]

    # -- the contact

    def contact(self) -> list[dict[str, Any]]:
        tx, inputs = self.tx, self.inputs
        element: dict[str, Any] = {
            "type": "external_select",
            "action_id": ACTION_CONTACT_SEARCH,
            "placeholder": plain(tx.t("screen.contact.placeholder"), PLACEHOLDER),
            "min_query_length": 1,
        }
        if inputs.contact_e164 and self.state.contact_label:
            element["initial_option"] = {
                "text": plain(self.state.contact_label, OPTION_TEXT),
                "value": cut(inputs.contact_e164, CONTACT_MAX),
            }
        block: dict[str, Any] = {
            "type": "input",
            "block_id": BLOCK_CONTACT,
            "dispatch_action": True,
            "label": plain(tx.t("screen.contact.label"), LABEL),
            "element": element,
        }
        blocks = [block]
        if self.state.contact_problem:
            typed = escape_mrkdwn(cut(inputs.contact_query or "", 80))
            blocks.append(
                context("⚠️ " + tx.md(self.state.contact_problem) + (f" ({typed})" if typed else ""))
            )
        return blocks

    def picked_option(self) -> str | None:
        """The contact search's value as drawn (initial_option), for telling later changes apart."""
        if self.inputs.contact_e164 and self.state.contact_label:
            return cut(self.inputs.contact_e164, CONTACT_MAX)
        return None

    # -- team and channel

    def collapsed(self) -> bool:
        state = self.state
        return len(state.teams) == 1 and len(state.channels) == 1 and not self.inputs.show_pickers

    def team_and_channel(self) -> list[dict[str, Any]]:
        tx, state = self.tx, self.state
        if self.collapsed():
            # Nothing to choose: one line and a "trocar" button instead of two selects.
            line = tx.md("screen.pickers.line", team=state.teams[0].label, channel=state.channels[0].label)
            return [
                {
                    "type": "section",
                    "block_id": BLOCK_PICKERS,
                    "text": {"type": "mrkdwn", "text": cut(line, 3000)},
                    "accessory": {
                        "type": "button",
                        "action_id": ACTION_SHOW_PICKERS,
                        "text": plain(tx.t("screen.pickers.change"), 75),
                        "value": "show",
                    },
                }
            ]
        blocks: list[dict[str, Any]] = []
        teams = options_of(state.teams)
        if teams:
            blocks.append(
                select_input(
                    BLOCK_TEAM,
                    ACTION_TEAM,
                    tx.t("screen.team.label"),
                    tx.t("screen.team.placeholder"),
                    teams,
                    self.inputs.team_id,
                )
            )
        channels = options_of(state.channels)
        if channels:
            blocks.append(
                select_input(
                    BLOCK_CHANNEL,
                    ACTION_CHANNEL,
                    tx.t("screen.channel.label"),
                    tx.t("screen.channel.placeholder"),
                    channels,
                    self.inputs.channel_id,
                )
            )
        elif teams:
            blocks.append(context(tx.md("screen.channel.none")))
        return blocks
