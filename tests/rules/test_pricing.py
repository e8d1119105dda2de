"""What sending each category costs: product.md's "Charges by era" table, the rate card, the rule file."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.rules.events import Category, CustomerMessage
from bot.rules.pricing import (
    DEFAULT_RULES_FILE,
    Charge,
    RuleSet,
    RuleSetError,
    all_charges,
    charge_for,
    era_at,
    load_rule_set,
    price_of,
    rate_card_at,
    rule_set_from_data,
)
from bot.rules.windows import CategoryWindow, CtwaWindow, CustomerCareWindow, Windows, compute_windows

CBP_BEFORE_SERVICE_FREE = datetime(2024, 6, 1, 12, tzinfo=UTC)
CBP = datetime(2025, 3, 1, 12, tzinfo=UTC)
PMP_2025 = datetime(2025, 12, 1, 12, tzinfo=UTC)
PMP_2026 = datetime(2026, 11, 24, 19, tzinfo=UTC)
ALL_ERAS = [CBP_BEFORE_SERVICE_FREE, CBP, PMP_2025, PMP_2026]

BR = {"marketing": 0.0625, "utility": 0.0068, "authentication": 0.0068}
TEMPLATE_CATEGORIES = [Category.UTILITY, Category.MARKETING, Category.AUTHENTICATION]


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return load_rule_set()


def windows(
    at: datetime,
    *,
    csw: bool = False,
    fep: bool = False,
    open_categories: tuple[Category, ...] = (),
) -> Windows:
    """Windows as the cards would see them at `at` (the pricing rules read only `open`)."""
    later = at + timedelta(hours=1)
    return Windows(
        at=at,
        customer_care=CustomerCareWindow(
            open=csw, opened_at=at if csw else None, expires_at=later if csw else None
        ),
        ctwa=CtwaWindow(open=fep, expires_at=later if fep else None),
        categories={
            c: CategoryWindow(open=c in open_categories, expires_at=later if c in open_categories else None)
            for c in Category
        },
    )


def charge(rules: RuleSet, category: Category, at: datetime, code: str = "55", **open_: Any) -> Charge:
    return charge_for(category, windows(at, **open_), at, code, rules)


def paid(category: str, reason: str = "outside_windows", rate: dict[str, float] = BR) -> Charge:
    return Charge("paid", reason, price=rate[category], currency="USD")


# --- the eras --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "model", "column"),
    [
        (datetime(2022, 2, 1, tzinfo=UTC), "CBP", "cbp"),
        (datetime(2025, 6, 30, 23, 59, 59, 999999, tzinfo=UTC), "CBP", "cbp"),
        (datetime(2025, 7, 1, tzinfo=UTC), "PMP", "pmp_2025"),
        (datetime(2026, 9, 30, 23, 59, 59, 999999, tzinfo=UTC), "PMP", "pmp_2025"),
        (datetime(2026, 10, 1, tzinfo=UTC), "PMP", "pmp_2026"),
        (datetime(2030, 1, 1, tzinfo=UTC), "PMP", "pmp_2026"),
        (datetime(2020, 1, 1, tzinfo=UTC), "CBP", "cbp"),  # before the first era: the first one
    ],
)
def test_era_boundaries_are_midnight_utc(rules: RuleSet, at: datetime, model: str, column: str) -> None:
    era = era_at(rules, at)
    assert (era.model, era.rules) == (model, column)


def test_era_boundary_in_another_offset_is_the_same_instant(rules: RuleSet) -> None:
    # 2025-06-30 21:00 in Brasília is 2025-07-01 00:00 UTC.
    from datetime import timezone

    brasilia = timezone(timedelta(hours=-3))
    assert era_at(rules, datetime(2025, 6, 30, 21, tzinfo=brasilia)).rules == "pmp_2025"
    assert era_at(rules, datetime(2025, 6, 30, 20, 59, tzinfo=brasilia)).rules == "cbp"


def test_the_era_is_chosen_by_at_not_by_the_events(rules: RuleSet) -> None:
    # The customer wrote under CBP; asked about under PMP 2026 the window is still open, and the
    # 2026 rules apply: free text costs the utility rate.
    at = datetime(2026, 10, 1, tzinfo=UTC)
    events = [CustomerMessage("in-1", at - timedelta(hours=23))]
    w = compute_windows(events, at)
    assert w.customer_care.open
    assert charge_for(Category.SERVICE, w, at, "55", rules) == paid("utility", "service_billable")
    # One microsecond earlier, same events: 2025 rules, free.
    before = at - timedelta(microseconds=1)
    w_before = compute_windows(events, before)
    assert charge_for(Category.SERVICE, w_before, before, "55", rules) == Charge("free", "csw_open")


# --- CBP (before 2025-07-01) -----------------------------------------------------------------


def test_cbp_service_unavailable_with_the_window_closed(rules: RuleSet) -> None:
    for at in (CBP_BEFORE_SERVICE_FREE, CBP):
        assert charge(rules, Category.SERVICE, at, fep=True, open_categories=tuple(Category)) == Charge(
            "unavailable", "csw_closed"
        )


def test_cbp_service_free_from_2024_11_01(rules: RuleSet) -> None:
    assert charge(rules, Category.SERVICE, CBP, csw=True) == Charge("free", "csw_open")
    boundary = datetime(2024, 11, 1, tzinfo=UTC)
    assert charge(rules, Category.SERVICE, boundary, csw=True) == Charge("free", "csw_open")
    just_before = boundary - timedelta(microseconds=1)
    assert charge(rules, Category.SERVICE, just_before, csw=True).charge == "paid"


def test_cbp_service_before_2024_11_01_paid_unless_a_conversation_is_open(rules: RuleSet) -> None:
    at = CBP_BEFORE_SERVICE_FREE
    assert charge(rules, Category.SERVICE, at, csw=True) == paid("utility")
    for category in Category:
        assert charge(rules, Category.SERVICE, at, csw=True, open_categories=(category,)) == Charge(
            "free", "conversation_open"
        )
    assert charge(rules, Category.SERVICE, at, csw=True, fep=True) == Charge("free", "fep_open")


@pytest.mark.parametrize("category", TEMPLATE_CATEGORIES)
@pytest.mark.parametrize("at", [CBP_BEFORE_SERVICE_FREE, CBP])
def test_cbp_template_free_only_in_its_own_conversation_or_the_fep(
    rules: RuleSet, category: Category, at: datetime
) -> None:
    assert charge(rules, category, at, open_categories=(category,)) == Charge("free", "conversation_open")
    assert charge(rules, category, at, fep=True) == Charge("free", "fep_open")
    assert charge(rules, category, at) == paid(category.value)
    # The customer service window does not make templates free under CBP...
    assert charge(rules, category, at, csw=True) == paid(category.value)
    # ...nor does a conversation of another category.
    others = tuple(c for c in Category if c is not category)
    assert charge(rules, category, at, csw=True, open_categories=others) == paid(category.value)


# --- PMP 2025-07-01 to 2026-09-30 ------------------------------------------------------------


def test_pmp_2025_service(rules: RuleSet) -> None:
    assert charge(rules, Category.SERVICE, PMP_2025) == Charge("unavailable", "csw_closed")
    assert charge(rules, Category.SERVICE, PMP_2025, fep=True) == Charge("unavailable", "csw_closed")
    assert charge(rules, Category.SERVICE, PMP_2025, csw=True) == Charge("free", "csw_open")
    assert charge(rules, Category.SERVICE, PMP_2025, csw=True, fep=True).charge == "free"


def test_pmp_2025_utility_free_in_the_csw_or_the_fep(rules: RuleSet) -> None:
    assert charge(rules, Category.UTILITY, PMP_2025, csw=True) == Charge("free", "csw_open")
    assert charge(rules, Category.UTILITY, PMP_2025, fep=True) == Charge("free", "fep_open")
    assert charge(rules, Category.UTILITY, PMP_2025) == paid("utility")


@pytest.mark.parametrize("category", [Category.MARKETING, Category.AUTHENTICATION])
def test_pmp_2025_marketing_and_authentication_paid_outside_the_fep(
    rules: RuleSet, category: Category
) -> None:
    assert charge(rules, category, PMP_2025, fep=True) == Charge("free", "fep_open")
    assert charge(rules, category, PMP_2025) == paid(category.value)
    assert charge(rules, category, PMP_2025, csw=True) == paid(category.value)
    # A stray category conversation (CBP leftovers) means nothing under PMP.
    assert charge(rules, category, PMP_2025, csw=True, open_categories=tuple(Category)) == paid(
        category.value
    )


# --- PMP from 2026-10-01 ---------------------------------------------------------------------


def test_pmp_2026_service_billed_at_the_utility_rate_unless_the_fep(rules: RuleSet) -> None:
    assert charge(rules, Category.SERVICE, PMP_2026) == Charge("unavailable", "csw_closed")
    assert charge(rules, Category.SERVICE, PMP_2026, fep=True) == Charge("unavailable", "csw_closed")
    assert charge(rules, Category.SERVICE, PMP_2026, csw=True, fep=True) == Charge("free", "fep_open")
    assert charge(rules, Category.SERVICE, PMP_2026, csw=True) == paid("utility", "service_billable")


@pytest.mark.parametrize("category", TEMPLATE_CATEGORIES)
def test_pmp_2026_every_template_free_only_in_the_fep(rules: RuleSet, category: Category) -> None:
    assert charge(rules, category, PMP_2026, fep=True) == Charge("free", "fep_open")
    assert charge(rules, category, PMP_2026, csw=True, fep=True) == Charge("free", "fep_open")
    assert charge(rules, category, PMP_2026) == paid(category.value)
    # In-window utility templates are no longer free.
    assert charge(rules, category, PMP_2026, csw=True) == paid(category.value)


@pytest.mark.parametrize("at", ALL_ERAS)
def test_fep_makes_every_template_free_in_every_era(rules: RuleSet, at: datetime) -> None:
    for category in TEMPLATE_CATEGORIES:
        assert charge(rules, category, at, fep=True).charge == "free"
    assert charge(rules, Category.SERVICE, at, fep=True, csw=True).charge == "free"


# --- prices by country -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "rate"),
    [
        ("55", BR),
        ("+55", BR),
        ("1", {"marketing": 0.0250, "utility": 0.0034, "authentication": 0.0034}),
        ("44", {"marketing": 0.0635, "utility": 0.0220, "authentication": 0.0220}),
        ("49", {"marketing": 0.1365, "utility": 0.0550, "authentication": 0.0550}),
        ("other", {"marketing": 0.0604, "utility": 0.0077, "authentication": 0.0077}),
        ("998", {"marketing": 0.0604, "utility": 0.0077, "authentication": 0.0077}),  # no row: other
        ("", {"marketing": 0.0604, "utility": 0.0077, "authentication": 0.0077}),
    ],
)
def test_price_by_country_calling_code(rules: RuleSet, code: str, rate: dict[str, float]) -> None:
    for category in TEMPLATE_CATEGORIES:
        assert price_of(rules, PMP_2026, code, category) == (rate[category.value], "USD")
        assert charge(rules, category, PMP_2026, code) == paid(category.value, rate=rate)
    # Free text is priced at the utility rate.
    assert price_of(rules, PMP_2026, code, Category.SERVICE) == (rate["utility"], "USD")
    assert price_of(rules, PMP_2026, code, "marketing") == (rate["marketing"], "USD")


def test_product_json_example_prices(rules: RuleSet) -> None:
    charges = all_charges(windows(PMP_2026, csw=True), PMP_2026, "55", rules)
    assert charges[Category.MARKETING] == Charge("paid", "outside_windows", 0.0625, "USD")
    assert charges[Category.AUTHENTICATION] == Charge("paid", "outside_windows", 0.0068, "USD")


def test_free_and_unavailable_charges_carry_no_price(rules: RuleSet) -> None:
    for at in ALL_ERAS:
        for result in all_charges(windows(at, fep=True), at, "55", rules).values():
            if result.charge != "paid":
                assert result.price is None and result.currency is None


def test_rate_card_before_the_first_card_is_the_earliest(rules: RuleSet) -> None:
    assert rate_card_at(rules, CBP).effective_from == date(2026, 1, 1)


# --- templates-only providers and all_charges ------------------------------------------------


@pytest.mark.parametrize("at", ALL_ERAS)
def test_templates_only_provider_is_unknown_for_everything(rules: RuleSet, at: datetime) -> None:
    for category in Category:
        got = charge_for(category, windows(at, csw=True, fep=True), at, "55", rules, sessions_supported=False)
        assert got == Charge("unknown", "no_session_data")
    charges = all_charges(windows(at), at, "55", rules, sessions_supported=False)
    assert set(charges.values()) == {Charge("unknown", "no_session_data")}


def test_all_charges_lists_every_category_in_screen_order(rules: RuleSet) -> None:
    charges = all_charges(windows(PMP_2025, csw=True), PMP_2025, "55", rules)
    assert list(charges) == [Category.SERVICE, Category.AUTHENTICATION, Category.UTILITY, Category.MARKETING]
    assert charges == {c: charge(rules, c, PMP_2025, csw=True) for c in Category}


# --- the rule file -----------------------------------------------------------------------------


def default_data() -> dict[str, Any]:
    data = yaml.safe_load(DEFAULT_RULES_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return copy.deepcopy(data)


def problems_of(data: Any) -> list[str]:
    with pytest.raises(RuleSetError) as caught:
        rule_set_from_data(data, "rules.yml")
    error = caught.value
    assert isinstance(error, ValueError)
    assert error.source == "rules.yml"
    assert error.problems
    assert str(error).startswith("rules.yml: invalid pricing rule set: ")
    return error.problems


def test_default_file_loads_with_three_eras(rules: RuleSet) -> None:
    assert [(e.starts, e.model, e.rules) for e in rules.eras] == [
        (date(2022, 2, 1), "CBP", "cbp"),
        (date(2025, 7, 1), "PMP", "pmp_2025"),
        (date(2026, 10, 1), "PMP", "pmp_2026"),
    ]
    assert rules.service_free_from == date(2024, 11, 1)
    assert rule_set_from_data(default_data()) == rules


def test_not_a_mapping() -> None:
    assert "mapping" in problems_of([1, 2])[0]
    assert "mapping" in problems_of(None)[0]


def test_missing_other_row() -> None:
    data = default_data()
    del data["rate_cards"][0]["rates"]["other"]
    assert problems_of(data) == ["rate_cards[0].rates: needs an `other` row for countries not listed"]


def test_missing_price_in_a_row() -> None:
    data = default_data()
    del data["rate_cards"][0]["rates"]["55"]["utility"]
    assert problems_of(data) == ["rate_cards[0].rates.55.utility: must be a price, a number >= 0 (missing)"]


@pytest.mark.parametrize("bad", [-1, "0.06", True, None, float("nan"), float("inf")])
def test_bad_prices(bad: Any) -> None:
    data = default_data()
    data["rate_cards"][0]["rates"]["55"]["marketing"] = bad
    (problem,) = problems_of(data)
    assert problem.startswith("rate_cards[0].rates.55.marketing: must be a price")


def test_missing_sections() -> None:
    problems = problems_of({})
    assert "service_free_from: missing (a date, YYYY-MM-DD)" in problems
    assert "eras: must be a non-empty list" in problems
    assert "rate_cards: must be a non-empty list" in problems


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-13-01", "eras[1].starts: must be a date (YYYY-MM-DD), got '2025-13-01'"),
        ("July 2025", "eras[1].starts: must be a date (YYYY-MM-DD), got 'July 2025'"),
        (20250701, "eras[1].starts: must be a date (YYYY-MM-DD), got 20250701"),
        (
            datetime(2025, 7, 1, 3, tzinfo=UTC),
            "eras[1].starts: must be a date (YYYY-MM-DD), not a date and time",
        ),
        (None, "eras[1].starts: missing (a date, YYYY-MM-DD)"),
    ],
)
def test_bad_dates(value: Any, expected: str) -> None:
    data = default_data()
    data["eras"][1]["starts"] = value
    assert problems_of(data) == [expected]


def test_dates_as_strings_are_accepted() -> None:
    data = default_data()
    data["eras"][1]["starts"] = "2025-07-01"
    data["service_free_from"] = "2024-11-01"
    assert rule_set_from_data(data) == load_rule_set()


def test_unknown_keys_everywhere_are_named() -> None:
    data = default_data()
    data["colour"] = "blue"
    data["eras"][0]["price"] = 1
    data["rate_cards"][0]["vat"] = 0.2
    data["rate_cards"][0]["rates"]["55"]["servicee"] = 0.1
    problems = problems_of(data)
    assert len(problems) == 4
    assert problems[0].startswith("colour: unknown key (expected one of: ")
    assert any(p.startswith("eras[0].price: unknown key") for p in problems)
    assert any(p.startswith("rate_cards[0].vat: unknown key") for p in problems)
    assert any(p.startswith("rate_cards[0].rates.55.servicee: unknown key") for p in problems)


def test_duplicate_eras_and_rate_cards() -> None:
    data = default_data()
    data["eras"][2]["starts"] = date(2025, 7, 1)
    data["rate_cards"].append(copy.deepcopy(data["rate_cards"][0]))
    problems = problems_of(data)
    assert "eras: two entries with starts 2025-07-01" in problems
    assert "rate_cards: two entries with effective_from 2026-01-01" in problems


def test_era_rules_and_model_must_agree() -> None:
    data = default_data()
    data["eras"][0]["rules"] = "pmp_2027"
    data["eras"][1]["model"] = "CBP"
    problems = problems_of(data)
    assert "eras[0].rules: must be one of cbp, pmp_2025, pmp_2026, got 'pmp_2027'" in problems
    assert "eras[1].model: rules pmp_2025 are PMP, got 'CBP'" in problems


@pytest.mark.parametrize("bad", [["cbp"], {"name": "cbp"}, None])
def test_era_rules_of_the_wrong_type_is_a_problem_not_a_crash(bad: Any) -> None:
    data = default_data()
    data["eras"][0]["rules"] = bad
    (problem,) = problems_of(data)
    assert problem.startswith("eras[0].rules: must be one of cbp, pmp_2025, pmp_2026")


def test_bad_calling_codes_and_currency() -> None:
    data = default_data()
    rates = data["rate_cards"][0]["rates"]
    rates["5555"] = rates["55"]
    rates["+1"] = rates["1"]  # the same row as "1"
    data["rate_cards"][0]["currency"] = "usd"
    problems = problems_of(data)
    assert "rate_cards[0].rates.5555: a country calling code must be 1 to 3 digits, or `other`" in problems
    assert "rate_cards[0].rates.+1: calling code 1 appears twice" in problems
    assert "rate_cards[0].currency: must be a 3-letter currency code such as USD, got 'usd'" in problems


def test_every_problem_is_reported_at_once() -> None:
    data = default_data()
    data["service_free_from"] = "soon"
    data["eras"][0]["starts"] = "never"
    del data["rate_cards"][0]["rates"]["other"]
    assert len(problems_of(data)) == 3


def test_unquoted_integer_calling_codes_are_accepted() -> None:
    data = default_data()
    rates = data["rate_cards"][0]["rates"]
    rates[55] = rates.pop("55")
    assert rule_set_from_data(data) == load_rule_set()


# --- a replaced rule file -------------------------------------------------------------------------


REPLACEMENT = """\
service_free_from: 2024-11-01
eras:
  - {starts: 2022-02-01, model: CBP, rules: cbp}
  - {starts: 2025-07-01, model: PMP, rules: pmp_2025}
rate_cards:
  - effective_from: 2025-01-01
    currency: EUR
    rates:
      "55":  {marketing: 0.5, utility: 0.1, authentication: 0.2}
      other: {marketing: 0.9, utility: 0.3, authentication: 0.4}
  - effective_from: 2027-01-01
    currency: EUR
    rates:
      "55":  {marketing: 0.6, utility: 0.15, authentication: 0.25}
      other: {marketing: 1.0, utility: 0.35, authentication: 0.45}
"""


def test_a_replaced_rule_file_is_used(tmp_path: Path) -> None:
    path = tmp_path / "my-pricing.yml"
    path.write_text(REPLACEMENT, encoding="utf-8")
    custom = load_rule_set(path)
    assert load_rule_set(str(path)) == custom

    # No 2026 era in this file: 2025 rules go on, utility stays free in the window.
    assert era_at(custom, PMP_2026).rules == "pmp_2025"
    assert charge(custom, Category.UTILITY, PMP_2026, csw=True) == Charge("free", "csw_open")
    assert charge(custom, Category.MARKETING, PMP_2026) == Charge("paid", "outside_windows", 0.5, "EUR")
    assert charge(custom, Category.AUTHENTICATION, PMP_2026, "1") == Charge(
        "paid", "outside_windows", 0.4, "EUR"
    )
    # Its second card takes over on its date.
    later = datetime(2027, 1, 1, tzinfo=UTC)
    assert charge(custom, Category.MARKETING, later) == Charge("paid", "outside_windows", 0.6, "EUR")
    assert price_of(custom, later - timedelta(microseconds=1), "55", "marketing") == (0.5, "EUR")


def test_unreadable_rule_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yml"
    with pytest.raises(RuleSetError) as caught:
        load_rule_set(missing)
    assert caught.value.source == str(missing)
    assert caught.value.problems[0].startswith("cannot read the file")


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yml"
    path.write_text("service_free_from: 2024-11-01\neras: [\n  {starts: 2022-02-01\n", encoding="utf-8")
    with pytest.raises(RuleSetError) as caught:
        load_rule_set(path)
    (problem,) = caught.value.problems
    assert problem.startswith("line ") and "not valid YAML" in problem


def test_invalid_rule_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yml"
    path.write_text(REPLACEMENT.replace("rules: pmp_2025", "rules: pmp2025"), encoding="utf-8")
    with pytest.raises(RuleSetError) as caught:
        load_rule_set(path)
    assert str(caught.value).startswith(f"{path}: invalid pricing rule set: eras[1].rules:")


def test_pmp_2026_the_reply_to_a_waiting_ad_lead_is_free(rules: RuleSet) -> None:
    # Issue 10: that reply opens the 72 h free entry point, so it costs nothing itself; templates
    # are unchanged (paid until the entry point is open).
    lead = PMP_2026 - timedelta(hours=3)
    w = compute_windows([CustomerMessage("ad", lead, from_ad=True)], PMP_2026)
    assert w.ctwa.pending_until is not None and not w.ctwa.open
    assert charge_for(Category.SERVICE, w, PMP_2026, "55", rules) == Charge("free", "ctwa_reply")
    assert charge_for(Category.MARKETING, w, PMP_2026, "55", rules).charge == "paid"
