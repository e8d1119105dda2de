"""Meta's windows from events and a time: customer service (24 h), CTWA/FEP (72 h), CBP categories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.rules.events import BusinessMessage, Category, ConversationSeen, CustomerMessage, Event
from bot.rules.windows import CtwaWindow, compute_windows, normalise_origin

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)


def customer(at: datetime, *, from_ad: bool = False, message_id: str | None = None) -> CustomerMessage:
    return CustomerMessage(message_id=message_id or f"in-{at.isoformat()}", at=at, from_ad=from_ad)


def business(at: datetime) -> BusinessMessage:
    return BusinessMessage(message_id=f"out-{at.isoformat()}", at=at)


def seen(origin: str, expires_at: datetime, conversation_id: str = "conv-1") -> ConversationSeen:
    return ConversationSeen(conversation_id=conversation_id, origin=origin, expires_at=expires_at)


# --- customer service window -------------------------------------------------------------------


def test_no_events_means_every_window_closed_and_unknown() -> None:
    windows = compute_windows([], T0)
    assert windows.at == T0
    assert not windows.customer_care.open
    assert windows.customer_care.opened_at is None and windows.customer_care.expires_at is None
    assert not windows.ctwa.open and windows.ctwa.pending_until is None and windows.ctwa.expires_at is None
    assert set(windows.categories) == set(Category)
    assert not any(w.open or w.expires_at for w in windows.categories.values())


def test_customer_message_opens_24h_from_its_payload_timestamp() -> None:
    windows = compute_windows([customer(T0)], T0 + 3 * H)
    assert windows.customer_care.open
    assert windows.customer_care.opened_at == T0
    assert windows.customer_care.expires_at == T0 + 24 * H


def test_customer_care_open_just_before_expiry_closed_exactly_at_it() -> None:
    events: list[Event] = [customer(T0)]
    assert compute_windows(events, T0 + 24 * H - timedelta(microseconds=1)).customer_care.open
    at_expiry = compute_windows(events, T0 + 24 * H).customer_care
    assert not at_expiry.open
    assert at_expiry.expires_at == T0 + 24 * H


def test_closed_window_keeps_when_it_closed() -> None:
    care = compute_windows([customer(T0)], T0 + 30 * 24 * H).customer_care
    assert not care.open
    assert care.opened_at == T0
    assert care.expires_at == T0 + 24 * H


def test_latest_customer_message_extends_the_window() -> None:
    care = compute_windows([customer(T0), customer(T0 + 20 * H)], T0 + 30 * H).customer_care
    assert care.open
    assert care.opened_at == T0 + 20 * H
    assert care.expires_at == T0 + 44 * H


def test_customer_message_at_exactly_at_counts() -> None:
    assert compute_windows([customer(T0)], T0).customer_care.open


def test_business_messages_never_extend_the_customer_care_window() -> None:
    events: list[Event] = [customer(T0), business(T0 + 10 * H), business(T0 + 23 * H)]
    care = compute_windows(events, T0 + 25 * H).customer_care
    assert not care.open
    assert care.expires_at == T0 + 24 * H


def test_business_messages_alone_open_nothing() -> None:
    windows = compute_windows([business(T0)], T0 + H)
    assert not windows.customer_care.open and windows.customer_care.expires_at is None
    assert not windows.ctwa.open


def test_events_after_at_are_ignored() -> None:
    events: list[Event] = [customer(T0), customer(T0 + 48 * H)]
    care = compute_windows(events, T0 + 30 * H).customer_care
    assert not care.open
    assert care.expires_at == T0 + 24 * H
    # Asking before anything happened: nothing is known yet.
    assert compute_windows(events, T0 - H).customer_care.expires_at is None


def test_any_utc_offset_gives_the_same_instant() -> None:
    brasilia = timezone(timedelta(hours=-3))
    care = compute_windows([customer(T0.astimezone(brasilia))], T0 + 23 * H).customer_care
    assert care.open and care.expires_at == T0 + 24 * H


# --- Click to WhatsApp / free entry point ------------------------------------------------------


def test_unanswered_ad_lead_is_pending_until_24h_after_it() -> None:
    ctwa = compute_windows([customer(T0, from_ad=True)], T0 + 5 * H).ctwa
    assert not ctwa.open
    assert ctwa.pending_until == T0 + 24 * H
    assert ctwa.expires_at is None


def test_pending_ends_when_the_24h_pass_unanswered_and_no_fep_opens() -> None:
    events: list[Event] = [customer(T0, from_ad=True)]
    assert compute_windows(events, T0 + 24 * H - timedelta(seconds=1)).ctwa.pending_until == T0 + 24 * H
    ctwa = compute_windows(events, T0 + 24 * H).ctwa
    assert ctwa == CtwaWindow(open=False, pending_until=None, expires_at=None)


def test_reply_within_24h_opens_fep_for_72h_from_the_reply() -> None:
    events: list[Event] = [customer(T0, from_ad=True), business(T0 + 5 * H)]
    ctwa = compute_windows(events, T0 + 6 * H).ctwa
    assert ctwa.open
    assert ctwa.pending_until is None
    assert ctwa.expires_at == T0 + 77 * H
    assert compute_windows(events, T0 + 77 * H - timedelta(seconds=1)).ctwa.open
    closed = compute_windows(events, T0 + 77 * H).ctwa
    assert not closed.open and closed.expires_at == T0 + 77 * H


def test_fep_outlives_the_customer_care_window() -> None:
    events: list[Event] = [customer(T0, from_ad=True), business(T0 + H)]
    windows = compute_windows(events, T0 + 30 * H)
    assert windows.ctwa.open
    assert not windows.customer_care.open


def test_only_the_first_reply_starts_the_fep() -> None:
    events: list[Event] = [customer(T0, from_ad=True), business(T0 + 2 * H), business(T0 + 10 * H)]
    assert compute_windows(events, T0 + 11 * H).ctwa.expires_at == T0 + 74 * H


def test_reply_after_24h_opens_nothing() -> None:
    events: list[Event] = [customer(T0, from_ad=True), business(T0 + 24 * H)]
    ctwa = compute_windows(events, T0 + 25 * H).ctwa
    assert not ctwa.open and ctwa.expires_at is None and ctwa.pending_until is None


def test_reply_before_the_ad_message_does_not_count() -> None:
    events: list[Event] = [business(T0 - H), customer(T0, from_ad=True)]
    ctwa = compute_windows(events, T0 + H).ctwa
    assert not ctwa.open
    assert ctwa.pending_until == T0 + 24 * H


def test_a_reply_after_at_is_not_known_yet() -> None:
    events: list[Event] = [customer(T0, from_ad=True), business(T0 + 5 * H)]
    ctwa = compute_windows(events, T0 + 4 * H).ctwa
    assert not ctwa.open and ctwa.pending_until == T0 + 24 * H and ctwa.expires_at is None


def test_ordinary_customer_messages_never_open_the_fep() -> None:
    events: list[Event] = [customer(T0), business(T0 + H)]
    ctwa = compute_windows(events, T0 + 2 * H).ctwa
    assert not ctwa.open and ctwa.pending_until is None and ctwa.expires_at is None


def test_meta_referral_conversion_opens_the_fep_from_72h_before_its_expiry() -> None:
    events: list[Event] = [seen("referral_conversion", T0 + 72 * H)]
    assert not compute_windows(events, T0 - timedelta(seconds=1)).ctwa.open
    ctwa = compute_windows(events, T0).ctwa
    assert ctwa.open and ctwa.expires_at == T0 + 72 * H
    # An FEP conversation is not a category conversation.
    assert not any(w.open for w in compute_windows(events, T0).categories.values())


# --- CBP category conversations ----------------------------------------------------------------


def test_category_conversation_open_until_its_expiration_timestamp() -> None:
    events: list[Event] = [seen("marketing", T0 + 20 * H)]
    windows = compute_windows(events, T0)
    assert windows.categories[Category.MARKETING].open
    assert windows.categories[Category.MARKETING].expires_at == T0 + 20 * H
    assert not windows.categories[Category.UTILITY].open
    closed = compute_windows(events, T0 + 20 * H).categories[Category.MARKETING]
    assert not closed.open and closed.expires_at == T0 + 20 * H


def test_category_conversation_counts_only_from_24h_before_its_expiry() -> None:
    events: list[Event] = [seen("utility", T0 + 24 * H)]
    before = compute_windows(events, T0 - timedelta(seconds=1)).categories[Category.UTILITY]
    assert not before.open and before.expires_at is None
    assert compute_windows(events, T0).categories[Category.UTILITY].open


def test_later_conversation_of_a_category_wins() -> None:
    events: list[Event] = [seen("service", T0 + 5 * H, "a"), seen("service", T0 + 20 * H, "b")]
    window = compute_windows(events, T0 + 6 * H).categories[Category.SERVICE]
    assert window.open and window.expires_at == T0 + 20 * H


def test_conversation_with_unpriceable_origin_is_ignored() -> None:
    windows = compute_windows([seen("business_initiated", T0 + 10 * H)], T0)
    assert not any(w.open for w in windows.categories.values())
    assert not windows.ctwa.open


@pytest.mark.parametrize(
    ("raw", "category"),
    [
        ("authentication-international", Category.AUTHENTICATION),
        ("user_initiated", Category.SERVICE),
        ("marketing_lite", Category.MARKETING),
    ],
)
def test_drifted_origins_open_their_category(raw: str, category: Category) -> None:
    assert compute_windows([seen(raw, T0 + H)], T0).categories[category].open


# --- normalise_origin --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("service", "service"),
        ("utility", "utility"),
        ("marketing", "marketing"),
        ("authentication", "authentication"),
        ("authentication_international", "authentication"),
        ("authentication-international", "authentication"),
        ("AUTHENTICATION-INTERNATIONAL", "authentication"),
        ("user_initiated", "service"),
        ("marketing_lite", "marketing"),
        ("referral_conversion", "referral_conversion"),
        (" Marketing ", "marketing"),
        ("business_initiated", None),
        ("unknown", None),
        ("something_new", None),
        ("", None),
        (None, None),
    ],
)
def test_normalise_origin(raw: str | None, expected: str | None) -> None:
    assert normalise_origin(raw) == expected


def test_normalise_origin_reads_the_origins_of_real_status_payloads() -> None:
    from tests.conftest import load_fixture

    payload = load_fixture("cloudapi-status-sent-pmp-marketing-with-conversation.json")
    statuses = [
        status
        for entry in payload["entry"]
        for change in entry["changes"]
        for status in change["value"].get("statuses", [])
    ]
    origins = [s["conversation"]["origin"]["type"] for s in statuses if "conversation" in s]
    assert origins
    assert all(normalise_origin(origin) is not None for origin in origins)
