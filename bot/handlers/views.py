"""The screen's submission: validate at submit time, answer field errors in the modal, else close
it, send once through the channel's BSP and confirm to the agent."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks import modal
from bot.blocks.modal import build_modal
from bot.blocks.state import ScreenInputs, read_inputs
from bot.config import TeamConfig
from bot.core.confirmation import post_confirmation
from bot.core.screen import approved_of_category, charge_signature, resolve_contact
from bot.core.sending import Problem, SendRequest, permission_problem, send, validate
from bot.core.windows_report import SessionsReport
from bot.handlers.flow import HandlerContext
from bot.rules.events import Category
from bot.rules.media_headers import media_keys
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


@dataclass(frozen=True)
class Checked:
    """What a submission asks for and what stands in its way, decided before Slack is answered."""

    request: SendRequest | None
    problems: list[Problem]
    report: SessionsReport | None = None
    # The channel's template list as the check read it (None: the check did not get that far).
    templates_status: str | None = None


def check_submission(
    ctx: HandlerContext,
    user_id: str,
    inputs: ScreenInputs,
    teams: Sequence[TeamConfig],
    members: Mapping[str, set[str]],
    now: datetime,
) -> Checked:
    """The screen's own fields, then `sending.validate` (windows, prices, variables): all the
    database work of a submit, run in one worker thread."""
    checked = build_request(ctx, user_id, inputs, teams)
    if checked.request is None:
        return checked
    problems, report = validate(ctx.rt, checked.request, usergroup_members=members, now=now)
    return Checked(checked.request, problems, report, checked.templates_status)


def build_request(
    ctx: HandlerContext, user_id: str, inputs: ScreenInputs, teams: Sequence[TeamConfig]
) -> Checked:
    """The send the agent asked for, or the problems of the screen's own fields."""
    rt = ctx.rt
    contact = resolve_contact(rt, inputs)
    if contact.problem:
        return Checked(None, [Problem("contact", contact.problem.removeprefix("screen.errors."))])
    if not contact.e164:
        return Checked(None, [Problem("contact", "choose_contact")])
    if not inputs.team_id:
        return Checked(None, [Problem("team", "choose_team")])
    if not inputs.channel_id:
        return Checked(None, [Problem("channel", "choose_channel")])
    denied = permission_problem(rt, teams, inputs.team_id, inputs.channel_id)
    if denied is not None:
        return Checked(None, [denied])
    if inputs.category is None:
        return Checked(None, [Problem("category", "choose_category")])
    common = dict(
        idempotency_key=inputs.idempotency_key,
        agent_user_id=user_id,
        team_id=inputs.team_id,
        channel_id=inputs.channel_id,
        contact_e164=contact.e164,
        category=inputs.category,
    )
    if inputs.category is Category.SERVICE:
        return Checked(SendRequest(**common, text=inputs.free_text or ""), [])  # type: ignore[arg-type]
    # Read without revalidating: a refresh can only start on the event loop (the caller does).
    cached = rt.templates.get(inputs.channel_id, revalidate=False)
    template = next(
        (t for t in approved_of_category(cached.templates, inputs.category) if t.key == inputs.template_key),
        None,
    )
    if template is None:
        problem = Problem("template", "template_gone" if inputs.template_key else "choose_template")
        return Checked(None, [problem], templates_status=cached.status)
    wanted = {variable.key for variable in template_variables(template)} | set(media_keys(template))
    values = {key: value for key, value in inputs.values.items() if key in wanted}
    request = SendRequest(**common, template=template, values=values)  # type: ignore[arg-type]
    return Checked(request, [], templates_status=cached.status)


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
        members = await ctx.members(client)
        teams = rt.config.teams_of_user(user_id, members)
        # The database work (the contact, the templates, the windows) runs off the event loop.
        checked = await asyncio.to_thread(check_submission, ctx, user_id, inputs, teams, members, rt.now())
        request, problems, report = checked.request, checked.problems, checked.report
        if inputs.channel_id and checked.templates_status is not None:
            ctx.revalidate_templates(inputs.channel_id, checked.templates_status)
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
