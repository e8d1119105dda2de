"""What the screen's cards show for one contact on one channel at one time, and `sessions --json`.

`sessions_report` reads the contact's stored events, asks the pure rules which windows are open
and what each category costs, and `SessionsReport.to_json()` is product.md's stable contract.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from bot.rules import phones
from bot.rules.bsuid import bsuid_calling_code, is_bsuid
from bot.rules.events import Category
from bot.rules.pricing import Charge, RuleSet, all_charges, era_at
from bot.rules.session_data import SessionData
from bot.rules.windows import Windows, compute_windows
from bot.store import contacts
from bot.store.db import Store
from bot.store.events import load_events

if TYPE_CHECKING:
    pass

# The contract's order of the category cards in `sessions --json`.
JSON_CATEGORIES = (Category.SERVICE, Category.UTILITY, Category.MARKETING, Category.AUTHENTICATION)


class _Channel(Protocol):
    id: str


@dataclass(frozen=True)
class SessionsReport:
    channel_id: str
    contact: str  # E.164
    at: datetime
    sessions_supported: bool
    pricing_model: str  # CBP | PMP
    windows: Windows
    charges: dict[Category, Charge]
    contact_known: bool = False
    contact_name: str | None = None

    @property
    def free_text_allowed(self) -> bool:
        """Free text can go now: the customer service window is open (known to be)."""
        return self.sessions_supported and self.windows.customer_care.open

    def to_json(self) -> dict[str, Any]:
        """product.md's `sessions --json` object, keys in the documented order."""
        w = self.windows
        care, ctwa = w.customer_care, w.ctwa
        categories: dict[str, Any] = {}
        for category in JSON_CATEGORIES:
            window = w.categories.get(category)
            charge = self.charges.get(category)
            is_open = bool(window and window.open)
            expires_at = window.expires_at if window else None
            categories[category.value] = {
                "open": is_open,
                "expires_at": iso_z(expires_at),
                "remaining_seconds": self._remaining(expires_at) if is_open else 0,
                "charge": charge.charge if charge else "unknown",
                "price": charge.price if charge else None,
                "currency": charge.currency if charge else None,
            }
        return {
            "channel": self.channel_id,
            "contact": self.contact,
            "at": iso_z(self.at),
            "sessions_supported": self.sessions_supported,
            "pricing_model": self.pricing_model,
            "customer_care": {
                "open": care.open,
                "opened_at": iso_z(care.opened_at),
                "expires_at": iso_z(care.expires_at),
                "remaining_seconds": self._remaining(care.expires_at) if care.open else 0,
            },
            "ctwa": {
                "open": ctwa.open,
                "pending_until": iso_z(ctwa.pending_until),
                "expires_at": iso_z(ctwa.expires_at),
                "remaining_seconds": self._remaining(ctwa.expires_at) if ctwa.open else 0,
            },
            "free_text_allowed": self.free_text_allowed,
            "categories": categories,
        }

    def _remaining(self, expires_at: datetime | None) -> int:
        if expires_at is None:
            return 0
        return max(0, int((expires_at - self.at).total_seconds()))


def iso_z(value: datetime | None) -> str | None:
    """ISO 8601 UTC with `Z` ("2026-11-24T19:00:00Z"); microseconds kept only when present."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def sessions_report(
    store: Store,
    channel: _Channel,
    session_data: SessionData,
    contact_phone: str,
    at: datetime,
    rules: RuleSet,
) -> SessionsReport:
    """What the cards show for `contact_phone` (E.164) on `channel` at `at`.

    A templates-only BSP (SessionData.NONE) reports every window closed and every charge
    `unknown`; an unknown contact has no events (all closed, template prices apply).
    """
    if at.tzinfo is None:
        raise ValueError("`at` must be timezone-aware")
    supported = session_data is not SessionData.NONE
    contact_e164 = _as_e164(contact_phone)
    with store.read_session() as session:
        contact = contacts.find_contact(session, phone=contact_e164)
        events = load_events(session, channel.id, contact.id) if contact is not None and supported else []
        known, name = contact is not None, contact.name if contact is not None else None
    windows = compute_windows(events, at)
    try:
        code = phones.calling_code(contact_e164)
    except phones.InvalidPhone:
        # A BSUID-only contact is priced by its country (the BSUID's prefix).
        code = (bsuid_calling_code(contact_e164) if is_bsuid(contact_e164) else None) or "other"
    return SessionsReport(
        channel_id=channel.id,
        contact=contact_e164,
        at=at,
        sessions_supported=supported,
        pricing_model=era_at(rules, at).model,
        windows=windows,
        charges=all_charges(windows, at, code, rules, sessions_supported=supported),
        contact_known=known,
        contact_name=name,
    )


def _as_e164(phone: str) -> str:
    if is_bsuid(phone):
        return phone.strip()
    try:
        return phones.normalize_phone(phone)
    except phones.InvalidPhone:
        return phone  # already machine-formatted (a wa_id of a number phonenumbers does not know)
