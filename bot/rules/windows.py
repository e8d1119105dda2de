"""Which of Meta's windows are open at a given time: a pure function of events and time.

CONTRACT (implemented by the rules helper):
    compute_windows(events: Iterable[Event], at: datetime) -> Windows
Only events that happened at or before `at` count (ConversationSeen counts from
expires_at - 24 h). The order of events and duplicates never change the result; a newer
customer message never shortens a window.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.rules.events import Category


@dataclass(frozen=True)
class CustomerCareWindow:
    """The 24 h customer service window. Closed ones keep `expires_at` = when it closed."""

    open: bool
    opened_at: datetime | None = None  # the latest customer message's timestamp
    expires_at: datetime | None = None


@dataclass(frozen=True)
class CtwaWindow:
    """The free entry point (72 h) and the ad lead still waiting for a first reply."""

    open: bool
    pending_until: datetime | None = None  # an ad lead waits: reply before this to open 72 h free
    expires_at: datetime | None = None  # FEP open (or closed, last known) until


@dataclass(frozen=True)
class CategoryWindow:
    """A CBP category conversation, from `conversation.expiration_timestamp`."""

    open: bool
    expires_at: datetime | None = None


@dataclass(frozen=True)
class Windows:
    """Everything the cards show about windows at one instant."""

    at: datetime
    customer_care: CustomerCareWindow
    ctwa: CtwaWindow
    categories: dict[Category, CategoryWindow] = field(default_factory=dict)
