"""Which of Meta's windows are open at a given time: a pure function of events and time.

CONTRACT (implemented by the rules helper):
    compute_windows(events: Iterable[Event], at: datetime) -> Windows
Only events that happened at or before `at` count (ConversationSeen counts from
expires_at - 24 h; an FEP one, origin "referral_conversion", from expires_at - 72 h).
The order of events and duplicates never change the result; a newer customer message never
shortens a window. Also: normalise_origin(raw) -> str | None (Meta's conversation.origin.type
as a Category value or "referral_conversion").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.rules.events import BusinessMessage, Category, ConversationSeen, CustomerMessage, Event

# The windows kept as `windows` rows (what the expiry scan and App Home read), by their row kind.
WINDOW_KINDS = ("customer_care", "ctwa", "ctwa_pending")


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


CUSTOMER_CARE_DURATION = timedelta(hours=24)
# Replying to an ad lead opens the FEP only within 24 h of the lead's message...
CTWA_REPLY_DEADLINE = timedelta(hours=24)
# ...and the FEP then lasts 72 h from that reply.
FEP_DURATION = timedelta(hours=72)
# A CBP category conversation lasts 24 h: its start is its expiry minus 24 h.
CATEGORY_CONVERSATION_DURATION = timedelta(hours=24)

REFERRAL_CONVERSION = "referral_conversion"

# Meta's `conversation.origin.type` values (and their drift) -> what `ConversationSeen.origin` holds.
_ORIGIN_ALIASES: dict[str, str] = {
    "service": Category.SERVICE.value,
    "user_initiated": Category.SERVICE.value,  # payloads from before mid-2023
    "utility": Category.UTILITY.value,
    "marketing": Category.MARKETING.value,
    "marketing_lite": Category.MARKETING.value,
    "authentication": Category.AUTHENTICATION.value,
    "authentication_international": Category.AUTHENTICATION.value,
    "referral_conversion": REFERRAL_CONVERSION,
    "free_entry_point": REFERRAL_CONVERSION,
}


def normalise_origin(raw: str | None) -> str | None:
    """Meta's `conversation.origin.type` as a `Category` value or "referral_conversion".

    Accepts any case and the hyphen spelling (`authentication-international`). Returns None for
    origins that name no category (`business_initiated`, unknown values): they cannot be priced.
    """
    if not raw:
        return None
    return _ORIGIN_ALIASES.get(raw.strip().lower().replace("-", "_"))


def compute_windows(events: Iterable[Event], at: datetime) -> Windows:
    """Which windows are open at `at`, from every event known about one contact on one channel.

    Only what had happened at `at` counts: messages at or before it, conversations whose start
    (expiry minus their duration) is at or before it. Every result is a min/max over sets of
    events, so the order of events and duplicates never change it. A window is open iff
    `at < expires_at`. All datetimes must be timezone-aware.
    """
    # Times, not the events: the results only read them, and a datetime hashes in C where a
    # dataclass hashes its fields in Python (ingestion recomputes every contact it touches).
    customer_times: set[datetime] = set()
    ad_times: set[datetime] = set()
    business_times: set[datetime] = set()
    categorised: dict[str, list[datetime]] = {}
    for event in events:
        if isinstance(event, CustomerMessage):
            if event.at <= at:
                customer_times.add(event.at)
                if event.from_ad:
                    ad_times.add(event.at)
        elif isinstance(event, BusinessMessage):
            if event.at <= at:
                business_times.add(event.at)
        elif isinstance(event, ConversationSeen):
            origin = normalise_origin(event.origin)
            if origin is None:
                continue
            duration = FEP_DURATION if origin == REFERRAL_CONVERSION else CATEGORY_CONVERSATION_DURATION
            if event.expires_at - duration <= at:
                categorised.setdefault(origin, []).append(event.expires_at)

    return Windows(
        at=at,
        customer_care=_customer_care(customer_times, at),
        ctwa=_ctwa(ad_times, business_times, categorised.get(REFERRAL_CONVERSION, []), at),
        categories={
            category: _category_window(categorised.get(category.value, []), at) for category in Category
        },
    )


def _customer_care(message_times: set[datetime], at: datetime) -> CustomerCareWindow:
    if not message_times:
        return CustomerCareWindow(open=False)
    latest = max(message_times)
    expires_at = latest + CUSTOMER_CARE_DURATION
    return CustomerCareWindow(open=at < expires_at, opened_at=latest, expires_at=expires_at)


def _ctwa(
    ad_times: set[datetime],
    business_times: set[datetime],
    meta_fep_expiries: list[datetime],
    at: datetime,
) -> CtwaWindow:
    # Derived FEP: for each ad lead, the first reply within its 24 h opens 72 h from that reply.
    fep_expiries = list(meta_fep_expiries)  # Meta's own word (referral_conversion) counts too
    for ad_at in ad_times:
        replies = [r for r in business_times if ad_at <= r < ad_at + CTWA_REPLY_DEADLINE]
        if replies:
            fep_expiries.append(min(replies) + FEP_DURATION)
    expires_at = max(fep_expiries) if fep_expiries else None

    # The latest ad lead still waiting for a first reply, while replying can still open the FEP.
    pending_until: datetime | None = None
    if ad_times:
        latest_ad = max(ad_times)
        deadline = latest_ad + CTWA_REPLY_DEADLINE
        answered = any(latest_ad <= r for r in business_times)
        if not answered and at < deadline:
            pending_until = deadline

    return CtwaWindow(
        open=expires_at is not None and at < expires_at,
        pending_until=pending_until,
        expires_at=expires_at,
    )


def _category_window(expiries: list[datetime], at: datetime) -> CategoryWindow:
    if not expiries:
        return CategoryWindow(open=False)
    expires_at = max(expiries)
    return CategoryWindow(open=at < expires_at, expires_at=expires_at)
