"""Properties of the window and pricing rules over random event sets and times (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.rules.events import BusinessMessage, Category, ConversationSeen, CustomerMessage, Event
from bot.rules.pricing import RuleSet, all_charges, charge_for, era_at, load_rule_set
from bot.rules.windows import CUSTOMER_CARE_DURATION, REFERRAL_CONVERSION, compute_windows, normalise_origin

RULES: RuleSet = load_rule_set()
PROPERTY = settings(max_examples=200, deadline=None)

# Events cluster around the dates where the rules change, so every era and boundary gets exercised.
ANCHORS = [
    datetime(2024, 11, 1, tzinfo=UTC),
    datetime(2025, 3, 10, tzinfo=UTC),
    datetime(2025, 7, 1, tzinfo=UTC),
    datetime(2026, 1, 15, tzinfo=UTC),
    datetime(2026, 10, 1, tzinfo=UTC),
]
ORIGINS = [
    "service",
    "utility",
    "marketing",
    "authentication",
    "authentication-international",
    "user_initiated",
    "marketing_lite",
    "referral_conversion",
    "business_initiated",
    "unknown",
]
# Offsets in minutes within +-6 days of the anchor, on a coarse grid so events often coincide.
offsets = st.integers(min_value=-6 * 24 * 4, max_value=6 * 24 * 4).map(lambda q: timedelta(minutes=15 * q))


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[Event], datetime]:
    """A random set of events about one contact, and a time to ask about it."""
    anchor = draw(st.sampled_from(ANCHORS))
    n = draw(st.integers(min_value=0, max_value=12))
    events: list[Event] = []
    for i in range(n):
        at = anchor + draw(offsets)
        kind = draw(st.sampled_from(["customer", "business", "conversation"]))
        if kind == "customer":
            events.append(CustomerMessage(f"in-{i}", at, from_ad=draw(st.booleans())))
        elif kind == "business":
            events.append(BusinessMessage(f"out-{i}", at))
        else:
            origin = draw(st.sampled_from(ORIGINS))
            events.append(ConversationSeen(f"conv-{i}", origin, at))
    return events, anchor + draw(offsets)


def shuffled_with_duplicates(data: st.DataObject, events: list[Event]) -> list[Event]:
    extra = data.draw(st.lists(st.sampled_from(events), max_size=6)) if events else []
    return data.draw(st.permutations(events + extra))


@PROPERTY
@given(scenarios(), st.data())
def test_order_and_duplicates_never_change_the_windows(
    scenario: tuple[list[Event], datetime], data: st.DataObject
) -> None:
    events, at = scenario
    other = shuffled_with_duplicates(data, events)
    assert compute_windows(other, at) == compute_windows(events, at)


@PROPERTY
@given(scenarios(), st.data())
def test_order_and_duplicates_never_change_the_charges(
    scenario: tuple[list[Event], datetime], data: st.DataObject
) -> None:
    events, at = scenario
    other = shuffled_with_duplicates(data, events)
    code = data.draw(st.sampled_from(["55", "1", "44", "998"]))
    assert all_charges(compute_windows(other, at), at, code, RULES) == all_charges(
        compute_windows(events, at), at, code, RULES
    )


@PROPERTY
@given(scenarios())
def test_a_window_is_open_iff_at_is_before_its_expiry(scenario: tuple[list[Event], datetime]) -> None:
    events, at = scenario
    windows = compute_windows(events, at)
    states = [(windows.customer_care.open, windows.customer_care.expires_at)]
    states.append((windows.ctwa.open, windows.ctwa.expires_at))
    states += [(window.open, window.expires_at) for window in windows.categories.values()]
    for is_open, expires_at in states:
        assert is_open == (expires_at is not None and at < expires_at)
    if windows.ctwa.pending_until is not None:
        assert at < windows.ctwa.pending_until


@PROPERTY
@given(scenarios(), offsets, st.booleans())
def test_a_newer_customer_message_never_shortens_nor_closes_the_csw(
    scenario: tuple[list[Event], datetime], offset: timedelta, from_ad: bool
) -> None:
    events, at = scenario
    before = compute_windows(events, at).customer_care
    latest = max((e.at for e in events if isinstance(e, CustomerMessage)), default=at - timedelta(days=30))
    newer = CustomerMessage("in-new", latest + abs(offset) + timedelta(seconds=1), from_ad=from_ad)
    after = compute_windows([*events, newer], at).customer_care
    if before.expires_at is not None:
        assert after.expires_at is not None and after.expires_at >= before.expires_at
    if before.open:
        assert after.open
    if newer.at <= at:
        assert after.expires_at == newer.at + CUSTOMER_CARE_DURATION


@PROPERTY
@given(scenarios())
def test_the_fep_never_opens_without_an_ad_message(scenario: tuple[list[Event], datetime]) -> None:
    events, at = scenario
    without_ads = [
        e
        for e in events
        if not (isinstance(e, CustomerMessage) and e.from_ad)
        and not (isinstance(e, ConversationSeen) and normalise_origin(e.origin) == REFERRAL_CONVERSION)
    ]
    ctwa = compute_windows(without_ads, at).ctwa
    assert not ctwa.open and ctwa.pending_until is None and ctwa.expires_at is None

    # With Meta's word left out, an open FEP always comes from an ad lead answered within 24 h.
    no_meta = [
        e
        for e in events
        if not (isinstance(e, ConversationSeen) and normalise_origin(e.origin) == REFERRAL_CONVERSION)
    ]
    if compute_windows(no_meta, at).ctwa.open:
        ads = [e.at for e in no_meta if isinstance(e, CustomerMessage) and e.from_ad and e.at <= at]
        replies = [e.at for e in no_meta if isinstance(e, BusinessMessage) and e.at <= at]
        assert any(
            a <= r < a + timedelta(hours=24) and at < r + timedelta(hours=72) for a in ads for r in replies
        )


@PROPERTY
@given(scenarios(), st.sampled_from(["55", "1", "44", "998"]))
def test_pmp_never_makes_marketing_or_authentication_free_outside_the_fep(
    scenario: tuple[list[Event], datetime], code: str
) -> None:
    events, at = scenario
    windows = compute_windows(events, at)
    if era_at(RULES, at).model != "PMP" or windows.ctwa.open:
        return
    for category in (Category.MARKETING, Category.AUTHENTICATION):
        result = charge_for(category, windows, at, code, RULES)
        assert result.charge == "paid"
        assert result.price is not None and result.price > 0 and result.currency == "USD"


@PROPERTY
@given(scenarios())
def test_free_text_is_unavailable_exactly_when_the_csw_is_closed(
    scenario: tuple[list[Event], datetime],
) -> None:
    events, at = scenario
    windows = compute_windows(events, at)
    result = charge_for(Category.SERVICE, windows, at, "55", RULES)
    assert (result.charge == "unavailable") == (not windows.customer_care.open)


@PROPERTY
@given(scenarios())
def test_templates_only_providers_are_always_unknown(scenario: tuple[list[Event], datetime]) -> None:
    events, at = scenario
    charges = all_charges(compute_windows(events, at), at, "55", RULES, sessions_supported=False)
    assert {c.charge for c in charges.values()} == {"unknown"}
