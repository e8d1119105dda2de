"""The one path for every send: validate -> send through the channel's BSP -> record.

A send is recorded (status "pending") under its idempotency key *before* it goes to the BSP, so
a double submit finds the row and sends nothing. A BSP timeout leaves the message "unknown" and
it is never retried blindly: the agent decides, having seen what happened.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from bot import metrics
from bot.blocks.text import format_remaining
from bot.bsp import registry
from bot.bsp.base import BspError, ReachesBsuid, TemplateSend
from bot.config import TeamConfig
from bot.core.windows_report import SessionsReport, sessions_report
from bot.rules import phones, send_limits
from bot.rules.bsuid import is_bsuid
from bot.rules.events import Category
from bot.rules.media_headers import media_keys, media_problems
from bot.rules.pricing import Charge
from bot.rules.session_data import SessionData
from bot.rules.templates import Template, is_authentication, missing_variables, unknown_variables
from bot.store import contacts, outbound

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SendRequest:
    idempotency_key: str
    agent_user_id: str
    team_id: str
    channel_id: str
    contact_e164: str
    category: Category
    template: Template | None = None
    values: Mapping[str, str] = field(default_factory=dict)
    text: str | None = None


@dataclass(frozen=True)
class Problem:
    """Why a send cannot go: `field` is the screen field it belongs to (a variable key like
    "body.1", or one of contact, team, channel, category, template, free_text)."""

    field: str
    key: str  # catalogue key under screen.errors
    params: Mapping[str, str] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class SendOutcome:
    outbound_id: int
    status: str  # sent | failed | unknown
    duplicate: bool
    charge: Charge | None
    message_id: str | None = None
    error: BspError | None = None


def session_data_of(rt: Runtime, channel_id: str) -> SessionData:
    """What the channel's BSP reports about windows. A channel whose provider cannot be built
    answers NONE (logged): a misconfigured channel must not break the screen of the others."""
    try:
        return rt.provider(channel_id).session_data
    except Exception as exc:
        log.warning("channel %s: provider unavailable: %s", channel_id, exc)
        return SessionData.NONE


def permission_problem(
    rt: Runtime, teams: Sequence[TeamConfig], team_id: str | None, channel_id: str | None
) -> Problem | None:
    """Who may send where: the user acts for `teams`; `team_id` must be one of them and
    `channel_id` a configured channel of that team. Checked before anything else, so a crafted
    request naming another team's channel learns nothing about that channel."""
    if not teams:
        return Problem("team", "no_team")
    team = next((t for t in teams if t.id == team_id), None)
    if team is None:
        return Problem("team", "team_not_allowed")
    if channel_id not in team.channels or rt.config.channel(channel_id) is None:
        return Problem("channel", "channel_not_allowed")
    return None


def validate(
    rt: Runtime,
    req: SendRequest,
    *,
    usergroup_members: Mapping[str, set[str]],
    now: datetime,
) -> tuple[list[Problem], SessionsReport | None]:
    """Everything that can be checked before a BSP is called, at submit time."""
    problems: list[Problem] = []
    teams = rt.config.teams_of_user(req.agent_user_id, usergroup_members)
    denied = permission_problem(rt, teams, req.team_id, req.channel_id)
    if denied is not None:
        return [denied], None
    channel = rt.channel(req.channel_id)
    provider = rt.provider(req.channel_id)
    report = sessions_report(rt.store, channel, provider.session_data, req.contact_e164, now, rt.rules)
    if req.template is None and req.text is None:
        problems.append(Problem("template", "choose_template"))
        return problems, report
    if is_bsuid(req.contact_e164) and not isinstance(provider, ReachesBsuid):
        # Twilio's and Fortics' APIs take a phone number only: say so rather than send to nowhere.
        problems.append(Problem("contact", "bsuid_not_reachable", {"bsp": registry.label(channel.bsp)}))
        return problems, report
    if req.template is not None:
        if is_bsuid(req.contact_e164) and is_authentication(req.template):
            # Meta: one-tap, zero-tap and copy-code authentication templates need a phone number.
            problems.append(Problem("template", "authentication_to_bsuid"))
        if not req.template.approved:
            problems.append(Problem("template", "template_not_approved", {"status": req.template.status}))
        for variable in missing_variables(req.template, dict(req.values)):
            problems.append(Problem(variable.key, "variable_missing", {"name": variable.name}))
        header_keys = set(media_keys(req.template))
        for key in unknown_variables(req.template, dict(req.values)):
            if key not in header_keys:
                problems.append(Problem("template", "variable_unknown", {"name": key}))
        for media in media_problems(req.template, dict(req.values)):
            problems.append(Problem(media.key, media.problem, dict(media.params)))
        if not problems:  # limits only once every value is there and known
            problems += _limit_problems(send_limits.template_problems(req.template, req.values))
        return problems, report
    text = (req.text or "").strip()
    if not text:
        problems.append(Problem("free_text", "free_text_empty"))
    elif too_long := send_limits.free_text_problems(req.text or ""):
        problems += _limit_problems(too_long)
    elif provider.session_data is not SessionData.NONE and not report.windows.customer_care.open:
        closed = report.windows.customer_care.expires_at
        problems.append(
            Problem(
                "free_text",
                "free_text_window_closed" if closed else "free_text_no_window",
                # A field error is plain text (no date token): how long ago, never a clock time.
                {
                    "ago": format_remaining((now - closed).total_seconds(), rt.config.language)
                    if closed
                    else ""
                },
            )
        )
    return problems, report


def _limit_problems(found: list[send_limits.LimitProblem]) -> list[Problem]:
    """What Meta would refuse, as the screen's field errors."""
    return [Problem(p.field, p.key, {"limit": str(p.limit)} if p.limit else {}) for p in found]


async def send(rt: Runtime, req: SendRequest, *, report: SessionsReport | None, now: datetime) -> SendOutcome:
    """Record, then send once. Validation must have passed. The database work runs off the
    event loop."""
    charge = None
    if report is not None:
        charge = report.charges.get(req.category)
    recorded = await asyncio.to_thread(_record, rt, req, charge, now)
    if isinstance(recorded, SendOutcome):
        return recorded  # a double submit: sent (or being sent) already
    outbound_id, contact_id, to = recorded

    provider = rt.provider(req.channel_id)
    try:
        if req.template is not None:
            with metrics.bsp_call(provider.name, "send_template"):
                result = await provider.send_template(to, TemplateSend(req.template, dict(req.values)))
        else:
            with metrics.bsp_call(provider.name, "send_text"):
                result = await provider.send_text(to, req.text or "")
    except BspError as exc:
        status = "unknown" if exc.outcome_unknown else "failed"
        log.warning(
            "send %s on channel %s to %s: %s (%s)",
            outbound_id,
            req.channel_id,
            phones.mask_phone(req.contact_e164),
            status,
            exc.code,
        )
        await asyncio.to_thread(_record_failure, rt, outbound_id, status, exc, now)
        return SendOutcome(outbound_id, status, False, charge, None, exc)

    await asyncio.to_thread(
        _record_accepted, rt, req.channel_id, outbound_id, contact_id, result.message_id, result.wa_id, now
    )
    log.info("sent %s on channel %s to %s", outbound_id, req.channel_id, phones.mask_phone(req.contact_e164))
    return SendOutcome(outbound_id, "accepted", False, charge, result.message_id)


def _record(
    rt: Runtime, req: SendRequest, charge: Charge | None, now: datetime
) -> SendOutcome | tuple[int, int, str]:
    """Store the send as pending under its idempotency key: (outbound id, contact id, where to
    send), or the outcome of the first submit when this key was seen before."""
    with rt.store.session() as session:
        contact = contacts.upsert_contact(session, e164=req.contact_e164, now=now)
        row, created = outbound.create_outbound(
            session,
            idempotency_key=req.idempotency_key,
            channel_id=req.channel_id,
            contact_id=contact.id,
            agent_user_id=req.agent_user_id,
            team_id=req.team_id,
            kind="template" if req.template else "text",
            category=req.category.value,
            template_name=req.template.name if req.template else None,
            language=req.template.language if req.template else None,
            parameters=dict(req.values) if req.template else None,
            text=req.text if req.template is None else None,
            status="pending",
            charge=charge.charge if charge else None,
            estimated_price=charge.price if charge else None,
            currency=charge.currency if charge else None,
            now=now,
        )
        if not created:
            return SendOutcome(row.id, row.status, True, charge, row.bsp_message_id)
        to = contact.wa_id and phones.wa_id_to_e164(contact.wa_id) or req.contact_e164
        return row.id, contact.id, to


def _record_failure(rt: Runtime, outbound_id: int, status: str, exc: BspError, now: datetime) -> None:
    with rt.store.session() as session:
        outbound.mark_send_failed(session, outbound_id, status, exc.code, exc.message[:2000], now)


def _record_accepted(
    rt: Runtime,
    channel_id: str,
    outbound_id: int,
    contact_id: int,
    message_id: str,
    wa_id: str | None,
    now: datetime,
) -> None:
    from bot.core.ingest import record_business_message

    with rt.store.session() as session:
        outbound.mark_send_accepted(session, outbound_id, message_id, wa_id, now)
        if wa_id:
            contacts.set_contact_wa_id(session, contact_id, wa_id, now=now)
        record_business_message(session, channel_id, contact_id, message_id, now)
