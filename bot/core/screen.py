"""The screen's state, built from what is at hand: config, database, cached templates, the rules.

Nothing here calls a BSP or Slack, so `/contato` can open the modal inside Slack's 3 s. What the
agent chose (`ScreenInputs`) comes in; what the modal draws (`ScreenState`) goes out, and
`bot.blocks.modal.build_modal` turns it into Block Kit.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import phonenumbers

from bot.blocks.state import Option, ScreenInputs, ScreenState
from bot.blocks.text import currency_symbol
from bot.bsp import registry
from bot.config import ChannelConfig, TeamConfig
from bot.core.sending import session_data_of
from bot.core.windows_report import sessions_report
from bot.rules import phones, pricing
from bot.rules.bsuid import is_bsuid
from bot.rules.events import Category
from bot.rules.pricing import Charge
from bot.rules.templates import Template
from bot.runtime import Runtime
from bot.store import contacts

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ContactChoice:
    e164: str | None
    label: str | None
    problem: str | None  # catalogue key


def display_number(e164: str) -> str:
    """+5511988887777 -> '+55 11 98888-7777' (the way people write it)."""
    try:
        return phonenumbers.format_number(
            phonenumbers.parse(e164, None), phonenumbers.PhoneNumberFormat.INTERNATIONAL
        )
    except phonenumbers.NumberParseException:
        return e164


def resolve_contact(rt: Runtime, inputs: ScreenInputs) -> ContactChoice:
    """The contact the agent means: a chosen E.164, a typed number, or a known contact's name."""
    if inputs.contact_e164:
        return _known(rt, inputs.contact_e164)
    query = (inputs.contact_query or "").strip()
    if not query:
        return ContactChoice(None, None, None)
    if is_bsuid(query):  # a username-only customer, by the id Meta gave us
        return _known(rt, query)
    try:
        return _known(rt, phones.normalize_phone(query))
    except phones.InvalidPhone as exc:
        if looks_like_number(query):
            return ContactChoice(None, None, f"screen.errors.phone_{exc.reason}")
    matches = _by_name(rt, query)
    if len(matches) == 1:
        e164, name = matches[0]
        return ContactChoice(e164, _label(name, e164), None)
    return ContactChoice(None, None, "screen.errors.contact_unknown")


def looks_like_number(query: str) -> bool:
    """Mostly digits: meant as a phone number (a name search otherwise)."""
    return sum(ch.isdigit() for ch in query) >= max(3, len(query) // 2)


def _known(rt: Runtime, e164: str) -> ContactChoice:
    with rt.store.read_session() as session:
        contact = contacts.find_contact(session, phone=e164)
        name = contact.name if contact is not None else None
    return ContactChoice(e164, _label(name, e164), None)


def search_known(rt: Runtime, query: str, limit: int) -> list[tuple[str, str | None]]:
    """(E.164, name) of the known contacts whose name or number matches `query` (the search box)."""
    with rt.store.read_session() as session:
        found = contacts.search_contacts(session, query, limit=limit)
        # A BSUID-only contact (no phone) is chosen by its BSUID.
        return [(ident, c.name) for c in found if (ident := c.e164 or c.user_id)]


def _by_name(rt: Runtime, query: str) -> list[tuple[str, str | None]]:
    """The contacts a typed name may mean (two at most: one is an answer, two are ambiguous). A
    contact whose whole name is the query wins over those that merely contain it: "Ana Souza"
    opens Ana Souza's screen even when "Ana Souza Lima" is known too (which made it ambiguous
    before), and the exact read is one b-tree lookup where the search also reads the trigram
    index."""
    with rt.store.read_session() as session:
        found = contacts.contacts_named(session, query, limit=2)
        if len(found) != 1:
            found = contacts.search_contacts(session, query, limit=2)
        return [(ident, c.name) for c in found if (ident := c.e164 or c.user_id)]


def _label(name: str | None, e164: str) -> str:
    number = display_number(e164)
    return f"{name} · {number}" if name else number


def channel_option(channel: ChannelConfig) -> Option:
    """ "Vendas · 360dialog"; a channel named after its provider is named once ("Sandbox")."""
    provider = registry.label(channel.bsp)
    if channel.name.strip().casefold() == provider.casefold():
        return Option(channel.id, channel.name)
    return Option(channel.id, f"{channel.name} · {provider}")


def approved_of_category(templates: Sequence[Template], category: Category | None) -> list[Template]:
    """What the agent may pick: APPROVED templates of the category, by name then language."""
    if category is None:
        return []
    chosen = [t for t in templates if t.approved and t.category == category]
    return sorted(chosen, key=lambda t: (t.name, t.language))


def build_screen_state(
    rt: Runtime,
    inputs: ScreenInputs,
    *,
    teams: Sequence[TeamConfig],
    now: datetime,
    notice: str | None = None,
    notice_params: Mapping[str, str] | None = None,
) -> ScreenState:
    """Everything the modal shows, for a user allowed to act for `teams`. Fast: no BSP call."""
    lang = rt.config.language
    inputs = ScreenInputs(**{**inputs.__dict__})  # never mutate the caller's
    if not teams:
        return ScreenState(lang=lang, at=now, inputs=inputs, teams=[], channels=[], no_team=True)

    team_ids = [team.id for team in teams]
    if inputs.team_id not in team_ids:
        inputs.team_id = team_ids[0]
    team = next(t for t in teams if t.id == inputs.team_id)
    channels = [c for c in (rt.config.channel(cid) for cid in team.channels) if c is not None]
    if inputs.channel_id not in {c.id for c in channels}:
        inputs.channel_id = channels[0].id if channels else None

    contact = resolve_contact(rt, inputs)
    if contact.e164:
        inputs.contact_e164 = contact.e164
    state = ScreenState(
        lang=lang,
        at=now,
        inputs=inputs,
        teams=[Option(t.id, t.name) for t in teams],
        channels=[channel_option(c) for c in channels],
        contact_label=contact.label,
        contact_problem=contact.problem,
        notice=notice,
        notice_params=dict(notice_params or {}),
        tz=rt.config.timezone,
        alert_lead_minutes=team.alert_lead_minutes,
        display_currency=rt.config.pricing.display_currency,
        exchange_rate=rt.config.pricing.exchange_rate,
    )
    if inputs.channel_id is None:
        return state

    channel = rt.channel(inputs.channel_id)
    session_data = session_data_of(rt, channel.id)
    state.session_data = session_data
    if contact.e164:
        report = sessions_report(rt.store, channel, session_data, contact.e164, now, rt.rules)
        state.windows = report.windows
        state.charges = dict(report.charges)
        state.pricing_model = report.pricing_model
        state.price_source = price_source(rt, contact.e164, now, report.pricing_model)
        if inputs.category is None and report.windows.customer_care.open:
            inputs.category = Category.SERVICE

    if inputs.category is not None and inputs.category in state.charges:
        inputs.seen_charge = charge_signature(inputs.category, state.charges[inputs.category])
    # Asked even before a category is chosen: the first read starts the listing in the background,
    # so the templates are usually there by the time the agent picks a category.
    cached = rt.templates.get(channel.id)
    state.templates_status = cached.status
    if inputs.category is not None and inputs.category is not Category.SERVICE:
        state.templates = approved_of_category(cached.templates, inputs.category)
        state.template = next((t for t in state.templates if t.key == inputs.template_key), None)
        if state.template is None:
            inputs.template_key = None
    if inputs.category is Category.AUTHENTICATION and contact.e164 and is_bsuid(contact.e164):
        # Meta does not deliver authentication templates to a username-only customer: say so
        # before the agent fills one in, not only when the submit refuses it.
        state.notice = state.notice or "screen.errors.authentication_to_bsuid"
    return state


def price_source(rt: Runtime, e164: str, at: datetime, model: str | None) -> dict[str, str]:
    """Where the cards' prices come from: the rate card in force (currency, since), the country."""
    card = pricing.rate_card_at(rt.rules, at)
    try:
        code = phones.calling_code(e164)
    except phones.InvalidPhone:
        code = "?"
    currency = currency_symbol(card.currency)
    return {
        "code": code,
        "currency": currency,
        "since": card.effective_from.isoformat(),
        "model": model or "PMP",
    }


def display_of(rt: Runtime) -> tuple[str, float] | None:
    """`pricing.display_currency` + `exchange_rate`, when both are set: prices shown converted."""
    pricing_config = rt.config.pricing
    if pricing_config.display_currency and pricing_config.exchange_rate:
        return pricing_config.display_currency.upper(), pricing_config.exchange_rate
    return None


def charge_signature(category: Category, charge: Charge) -> str:
    """What the agent was shown for a category's cost, compact enough for private_metadata."""
    price = "" if charge.price is None else f"{charge.price:g}"
    return f"{category.value}:{charge.charge}:{price}"
