"""The one path for every send: validate -> send through the channel's BSP -> record.

A send is recorded (status "pending") under its idempotency key *before* it goes to the BSP, so
a double submit finds the row and sends nothing. A BSP timeout leaves the message "unknown" and
it is never retried blindly: the agent decides, having seen what happened.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from bot.blocks.text import format_time
from bot.bsp.base import BspError, TemplateSend
from bot.core.windows_report import SessionsReport, sessions_report
from bot.rules import phones
from bot.rules.events import Category
from bot.rules.pricing import Charge
from bot.rules.session_data import SessionData
from bot.rules.templates import Template, missing_variables, unknown_variables
from bot.store import repository
from bot.store.models import OutboundMessage

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


def allowed_channels(
    rt: Runtime, user_id: str, usergroup_members: Mapping[str, set[str]]
) -> dict[str, set[str]]:
    """team id -> the channel ids the user may use through that team."""
    return {team.id: set(team.channels) for team in rt.config.teams_of_user(user_id, usergroup_members)}


def validate(
    rt: Runtime,
    req: SendRequest,
    *,
    usergroup_members: Mapping[str, set[str]],
    now: datetime,
) -> tuple[list[Problem], SessionsReport | None]:
    """Everything that can be checked before a BSP is called, at submit time."""
    problems: list[Problem] = []
    teams = allowed_channels(rt, req.agent_user_id, usergroup_members)
    if not teams:
        return [Problem("team", "no_team")], None
    if req.team_id not in teams:
        return [Problem("team", "team_not_allowed")], None
    if req.channel_id not in teams[req.team_id] or rt.config.channel(req.channel_id) is None:
        return [Problem("channel", "channel_not_allowed")], None
    channel = rt.channel(req.channel_id)
    provider = rt.provider(req.channel_id)
    report = sessions_report(rt.store, channel, provider.session_data, req.contact_e164, now, rt.rules)
    if req.template is None and req.text is None:
        problems.append(Problem("template", "choose_template"))
        return problems, report
    if req.template is not None:
        if not req.template.approved:
            problems.append(Problem("template", "template_not_approved", {"status": req.template.status}))
        for variable in missing_variables(req.template, dict(req.values)):
            problems.append(Problem(variable.key, "variable_missing", {"name": variable.name}))
        for key in unknown_variables(req.template, dict(req.values)):
            problems.append(Problem("template", "variable_unknown", {"name": key}))
        return problems, report
    text = (req.text or "").strip()
    if not text:
        problems.append(Problem("free_text", "free_text_empty"))
    elif provider.session_data is not SessionData.NONE and not report.windows.customer_care.open:
        closed = report.windows.customer_care.expires_at
        problems.append(
            Problem(
                "free_text",
                "free_text_window_closed" if closed else "free_text_no_window",
                {"closed_at": format_time(closed, rt.config.language) if closed else ""},
            )
        )
    return problems, report


async def send(rt: Runtime, req: SendRequest, *, report: SessionsReport | None, now: datetime) -> SendOutcome:
    """Record, then send once. Validation must have passed."""
    charge = None
    if report is not None:
        charge = report.charges.get(req.category)
    with rt.store.session() as session:
        contact = repository.upsert_contact(session, e164=req.contact_e164, now=now)
        row, created = repository.create_outbound(
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
        outbound_id, contact_id = row.id, contact.id
        if not created:
            return SendOutcome(row.id, row.status, True, charge, row.bsp_message_id)
        to = contact.wa_id and phones.wa_id_to_e164(contact.wa_id) or req.contact_e164

    provider = rt.provider(req.channel_id)
    try:
        if req.template is not None:
            result = await provider.send_template(to, TemplateSend(req.template, dict(req.values)))
        else:
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
        with rt.store.session() as session:
            row_ = session.get(OutboundMessage, outbound_id)
            assert row_ is not None
            row_.status = status
            row_.status_rank = repository.STATUS_RANKS[status]
            row_.error_code = exc.code
            row_.error_detail = exc.message[:2000]
            row_.updated_at = now
        return SendOutcome(outbound_id, status, False, charge, None, exc)

    from bot.core.ingest import record_business_message

    with rt.store.session() as session:
        row_ = session.get(OutboundMessage, outbound_id)
        assert row_ is not None
        row_.bsp_message_id = result.message_id
        row_.wa_id = result.wa_id
        if row_.status in ("pending", "unknown"):
            row_.status, row_.status_rank = "accepted", 1
        row_.updated_at = now
        if result.wa_id:
            repository.set_contact_wa_id(session, contact_id, result.wa_id, now=now)
        record_business_message(session, req.channel_id, contact_id, result.message_id, now)
    log.info("sent %s on channel %s to %s", outbound_id, req.channel_id, phones.mask_phone(req.contact_e164))
    return SendOutcome(outbound_id, "accepted", False, charge, result.message_id)
