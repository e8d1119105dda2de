"""The screen's submission: validate at submit time, answer field errors in the modal, else close
it, send once through the channel's BSP and confirm to the agent."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks import modal
from bot.blocks.modal import build_modal
from bot.blocks.state import ScreenInputs, read_inputs
from bot.config import TeamConfig
from bot.core.confirmation import post_confirmation
from bot.core.screen import approved_of_category, charge_signature, resolve_contact
from bot.core.sending import Problem, SendRequest, send, validate
from bot.core.windows_report import SessionsReport
from bot.handlers.flow import HandlerContext
from bot.rules.events import Category
from bot.rules.templates import template_variables

log = logging.getLogger(__name__)


def _errors(ctx: HandlerContext, view: dict[str, Any], problems: list[Problem]) -> dict[str, str]:
    """Field errors keyed by the view's block ids (several on one block: the first wins)."""
    catalog = ctx.rt.catalog
    errors: dict[str, str] = {}
    for problem in problems:
        block_id = modal.block_id_for_field(problem.field, view.get("blocks") or [])
        errors.setdefault(block_id, catalog.t(f"screen.errors.{problem.key}", **dict(problem.params)))
    return errors


def build_request(
    ctx: HandlerContext, user_id: str, inputs: ScreenInputs, teams: Sequence[TeamConfig]
) -> tuple[SendRequest | None, list[Problem]]:
    """The send the agent asked for, or the problems of the screen's own fields."""
    rt = ctx.rt
    contact = resolve_contact(rt, inputs)
    if contact.problem:
        return None, [Problem("contact", contact.problem.removeprefix("screen.errors."))]
    if not contact.e164:
        return None, [Problem("contact", "choose_contact")]
    if not inputs.team_id:
        return None, [Problem("team", "choose_team")]
    if not inputs.channel_id:
        return None, [Problem("channel", "choose_channel")]
    # Who may send where is checked before anything else: a crafted request naming another
    # team's channel learns nothing about that channel.
    if not teams:
        return None, [Problem("team", "no_team")]
    team = next((t for t in teams if t.id == inputs.team_id), None)
    if team is None:
        return None, [Problem("team", "team_not_allowed")]
    if inputs.channel_id not in team.channels or rt.config.channel(inputs.channel_id) is None:
        return None, [Problem("channel", "channel_not_allowed")]
    if inputs.category is None:
        return None, [Problem("category", "choose_category")]
    common = dict(
        idempotency_key=inputs.idempotency_key,
        agent_user_id=user_id,
        team_id=inputs.team_id,
        channel_id=inputs.channel_id,
        contact_e164=contact.e164,
        category=inputs.category,
    )
    if inputs.category is Category.SERVICE:
        return SendRequest(**common, text=inputs.free_text or ""), []  # type: ignore[arg-type]
    cached = rt.templates.get(inputs.channel_id).templates
    template = next(
        (t for t in approved_of_category(cached, inputs.category) if t.key == inputs.template_key), None
    )
    if template is None:
        return None, [Problem("template", "template_gone" if inputs.template_key else "choose_template")]
    wanted = {variable.key for variable in template_variables(template)}
    values = {key: value for key, value in inputs.values.items() if key in wanted}
    return SendRequest(**common, template=template, values=values), []  # type: ignore[arg-type]


def price_changed(inputs: ScreenInputs, report: SessionsReport | None) -> str | None:
    """The new charge signature when it differs from what the screen showed, else None."""
    if report is None or inputs.category is None or not inputs.seen_charge:
        return None
    charge = report.charges.get(inputs.category)
    if charge is None:
        return None
    now = charge_signature(inputs.category, charge)
    return now if now != inputs.seen_charge else None


def register(app: AsyncApp, ctx: HandlerContext) -> None:
    async def submit(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        rt = ctx.rt
        user_id = body["user"]["id"]
        inputs = read_inputs(view)
        if not inputs.idempotency_key:
            inputs.idempotency_key = view.get("id") or ""
        teams = await ctx.teams_of(client, user_id)
        request, problems = build_request(ctx, user_id, inputs, teams)
        report = None
        if request is not None:
            problems, report = validate(
                rt, request, usergroup_members=await ctx.members(client), now=rt.now()
            )
        if problems or request is None:
            await ack(response_action="errors", errors=_errors(ctx, view, problems))
            return
        changed = price_changed(inputs, report)
        if changed is not None:
            # A window closed (or opened) while the screen was open: show the new cost and let the
            # agent decide; the next submit, having seen it, sends.
            state = await ctx.state_for(client, user_id, inputs, notice="screen.notice.price_changed")
            await ack(response_action="update", view=build_modal(state))
            return
        await ack()  # closes the modal; the BSP call happens after Slack's 3 s window
        outcome = await send(rt, request, report=report, now=rt.now())
        if outcome.duplicate:
            log.info("submission %s already sent (outbound %s)", request.idempotency_key, outcome.outbound_id)
            return
        await post_confirmation(rt, client, outcome.outbound_id, user_id)

    app.view(modal.CALLBACK_ID)(submit)
