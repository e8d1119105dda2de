"""The screen's submission: validate at submit time, answer field errors in the modal, else close
it, send once through the channel's BSP and confirm to the agent."""

from __future__ import annotations

import asyncio
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
    denied = permission_problem(rt, teams, inputs.team_id, inputs.channel_id)
    if denied is not None:
        return None, [denied]
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
    wanted = {variable.key for variable in template_variables(template)} | set(media_keys(template))
    values = {key: value for key, value in inputs.values.items() if key in wanted}
    return SendRequest(**common, template=template, values=values), []  # type: ignore[arg-type]


def _read_templates(request: SendRequest | None, problems: Sequence[Problem]) -> bool:
    """build_request got as far as the channel's template list (an allowed template send)."""
    return (request is not None and request.template is not None) or any(
        problem.field == "template" for problem in problems
    )


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
        # Database work (the contact, the windows) runs off the event loop.
        request, problems = await asyncio.to_thread(build_request, ctx, user_id, inputs, teams)
        if inputs.channel_id and _read_templates(request, problems):
            # A template refresh cannot start from the worker thread: ask again on the event loop.
            rt.templates.get(inputs.channel_id)
        report = None
        if request is not None:
            members = await ctx.members(client)
            problems, report = await asyncio.to_thread(
                validate, rt, request, usergroup_members=members, now=rt.now()
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
