"""What sending each category costs now: a pure function of windows, time and a dated rule set.

(Over 400 lines on purpose: the rule set's loading and validation sit beside the rules they feed,
so one file says what a price is and where it comes from.)

CONTRACT (implemented by the rules helper):
    load_rule_set(path: str | Path | None = None) -> RuleSet
        default: the packaged data file bot/rules/pricing.yml (eras + dated rate cards);
        admins replace it with `pricing.rules_file` in contato.yml.
    era_at(rules: RuleSet, at: datetime) -> Era
    charge_for(category: Category, windows: Windows, at: datetime, country_calling_code: str,
               rules: RuleSet, *, sessions_supported: bool = True) -> Charge
        implements product.md's table; `service` means free text.
    all_charges(windows, at, country_calling_code, rules, *, sessions_supported=True)
        -> dict[Category, Charge]
Also: rate_card_at(rules, at) -> RateCard, price_of(rules, at, code, category) -> (price, currency)
| None, rule_set_from_data(data, source) -> RuleSet (validation; raises RuleSetError).

`Charge.reason` codes (catalogue key suffixes; stable, scripts may read them):
    free:         fep_open           the free entry point (CTWA, 72 h) is open: everything is free
                  csw_open           free because the customer service window is open
                  conversation_open  CBP: a conversation already paid for covers it
                  ctwa_reply         from 2026-10-01: free text answering a waiting ad lead (it opens the FEP)
    paid:         outside_windows    no open window makes it free
                  service_billable   from 2026-10-01: free text in the window, billed at the utility rate
                  no_rate            paid, but the rate card has no price for it (price is None)
    unavailable:  csw_closed         free text needs the customer service window, which is closed
    unknown:      no_session_data    the provider passes no window data (templates-only BSP)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import yaml

from bot.rules.events import Category
from bot.rules.windows import Windows


@dataclass(frozen=True)
class Charge:
    """`charge` is free | paid | unavailable | unknown. `reason` is a catalogue key suffix
    explaining why (e.g. "fep_open", "csw_open", "conversation_open", "csw_closed",
    "no_session_data", "outside_windows", "no_rate")."""

    charge: str
    reason: str
    price: float | None = None
    currency: str | None = None


@dataclass(frozen=True)
class Era:
    starts: date
    model: str  # CBP | PMP
    rules: str  # which column set of product.md's table: cbp | pmp_2025 | pmp_2026


@dataclass(frozen=True)
class RateCard:
    effective_from: date
    currency: str
    rates: dict[str, dict[str, float]]  # calling code ("55", "1", ..., "other") -> category -> price


@dataclass(frozen=True)
class RuleSet:
    eras: tuple[Era, ...]
    rate_cards: tuple[RateCard, ...]
    service_free_from: date  # CBP: service conversations free from 2024-11-01


DEFAULT_RULES_FILE = Path(__file__).with_name("pricing.yml")

# Charge values.
FREE = "free"
PAID = "paid"
UNAVAILABLE = "unavailable"
UNKNOWN = "unknown"

# Era column sets the code knows (product.md's "Charges by era" rows) and the model each implies.
ERA_RULES: dict[str, str] = {"cbp": "CBP", "pmp_2025": "PMP", "pmp_2026": "PMP"}
# Categories a rate card prices: templates. Free text (service) is priced at the utility rate.
PRICED_CATEGORIES: tuple[str, ...] = (
    Category.MARKETING.value,
    Category.UTILITY.value,
    Category.AUTHENTICATION.value,
)
OTHER_COUNTRIES = "other"


class RuleSetError(ValueError):
    """The pricing rule set file is wrong. `problems` are sentences naming where and what."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: invalid pricing rule set: " + "; ".join(problems))


# ---------------------------------------------------------------------------------------------
# Loading and validating the rule set


def load_rule_set(path: str | Path | None = None) -> RuleSet:
    """Load and validate a pricing rule set (default: the packaged bot/rules/pricing.yml).

    Raises `RuleSetError` (a ValueError) naming the file and every problem found.
    """
    file = Path(path) if path is not None else DEFAULT_RULES_FILE
    source = str(file)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise RuleSetError(source, [f"cannot read the file ({exc.strerror or exc})"]) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise RuleSetError(
            source, [f"{where}not valid YAML ({getattr(exc, 'problem', None) or exc})"]
        ) from exc
    return rule_set_from_data(data, source)


def rule_set_from_data(data: Any, source: str = "pricing rules") -> RuleSet:
    """Build a RuleSet from parsed YAML/JSON data, or raise `RuleSetError` listing every problem."""
    problems: list[str] = []
    if not isinstance(data, Mapping):
        raise RuleSetError(source, ["the file must be a mapping with service_free_from, eras and rate_cards"])

    _unknown_keys(data, {"service_free_from", "eras", "rate_cards", "version", "description"}, "", problems)
    service_free_from = _as_date(data.get("service_free_from"), "service_free_from", problems)

    eras: list[Era] = []
    raw_eras = data.get("eras")
    if not isinstance(raw_eras, list) or not raw_eras:
        problems.append("eras: must be a non-empty list")
    else:
        for i, raw in enumerate(raw_eras):
            era = _parse_era(raw, f"eras[{i}]", problems)
            if era is not None:
                eras.append(era)
        _no_duplicates([e.starts for e in eras], "eras", "starts", problems)

    cards: list[RateCard] = []
    raw_cards = data.get("rate_cards")
    if not isinstance(raw_cards, list) or not raw_cards:
        problems.append("rate_cards: must be a non-empty list")
    else:
        for i, raw in enumerate(raw_cards):
            card = _parse_rate_card(raw, f"rate_cards[{i}]", problems)
            if card is not None:
                cards.append(card)
        _no_duplicates([c.effective_from for c in cards], "rate_cards", "effective_from", problems)

    if problems or service_free_from is None:
        raise RuleSetError(source, problems)
    return RuleSet(
        eras=tuple(sorted(eras, key=lambda e: e.starts)),
        rate_cards=tuple(sorted(cards, key=lambda c: c.effective_from)),
        service_free_from=service_free_from,
    )


def _unknown_keys(raw: Mapping[Any, Any], allowed: set[str], where: str, problems: list[str]) -> None:
    for key in raw:
        if str(key) not in allowed:
            expected = ", ".join(sorted(allowed))
            problems.append(f"{where}{key}: unknown key (expected one of: {expected})")


def _as_date(value: Any, where: str, problems: list[str]) -> date | None:
    # YAML reads 2025-07-01 as a date; a timestamp would silently drop its time of day, so refuse it.
    if isinstance(value, datetime):
        problems.append(f"{where}: must be a date (YYYY-MM-DD), not a date and time")
        return None
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    if value is None:
        problems.append(f"{where}: missing (a date, YYYY-MM-DD)")
    else:
        problems.append(f"{where}: must be a date (YYYY-MM-DD), got {value!r}")
    return None


def _parse_era(raw: Any, where: str, problems: list[str]) -> Era | None:
    if not isinstance(raw, Mapping):
        problems.append(f"{where}: must be a mapping with starts, model and rules")
        return None
    _unknown_keys(raw, {"starts", "model", "rules", "description"}, f"{where}.", problems)
    starts = _as_date(raw.get("starts"), f"{where}.starts", problems)
    rules = raw.get("rules")
    model = raw.get("model")
    ok = starts is not None
    # A list or mapping here is a typo in the file: report it, never crash on hashing it.
    if not isinstance(rules, str) or rules not in ERA_RULES:
        problems.append(f"{where}.rules: must be one of {', '.join(ERA_RULES)}, got {rules!r}")
        ok = False
    elif model != ERA_RULES[rules]:
        problems.append(f"{where}.model: rules {rules} are {ERA_RULES[rules]}, got {model!r}")
        ok = False
    if not ok or starts is None:
        return None
    return Era(starts=starts, model=str(model), rules=str(rules))


def _parse_rate_card(raw: Any, where: str, problems: list[str]) -> RateCard | None:
    if not isinstance(raw, Mapping):
        problems.append(f"{where}: must be a mapping with effective_from, currency and rates")
        return None
    _unknown_keys(
        raw, {"effective_from", "currency", "rates", "source", "description"}, f"{where}.", problems
    )
    effective_from = _as_date(raw.get("effective_from"), f"{where}.effective_from", problems)
    currency = raw.get("currency")
    ok = effective_from is not None
    if not (isinstance(currency, str) and len(currency) == 3 and currency.isalpha() and currency.isupper()):
        problems.append(f"{where}.currency: must be a 3-letter currency code such as USD, got {currency!r}")
        ok = False

    rates: dict[str, dict[str, float]] = {}
    raw_rates = raw.get("rates")
    if not isinstance(raw_rates, Mapping) or not raw_rates:
        problems.append(f'{where}.rates: must map calling codes ("55", "1", ..., other) to prices')
        return None
    for raw_code, raw_row in raw_rates.items():
        # YAML reads an unquoted 55 as an integer: accept it, it means the same.
        code = str(raw_code).strip().lstrip("+")
        row_where = f"{where}.rates.{raw_code}"
        if code != OTHER_COUNTRIES and not (code.isdigit() and 1 <= len(code) <= 3):
            problems.append(f"{row_where}: a country calling code must be 1 to 3 digits, or `other`")
            ok = False
            continue
        if code in rates:
            problems.append(f"{row_where}: calling code {code} appears twice")
            ok = False
            continue
        row = _parse_rate_row(raw_row, row_where, problems)
        if row is None:
            ok = False
            continue
        rates[code] = row
    if OTHER_COUNTRIES not in rates and not any(p.startswith(f"{where}.rates.other") for p in problems):
        problems.append(f"{where}.rates: needs an `other` row for countries not listed")
        ok = False
    if not ok or effective_from is None:
        return None
    return RateCard(effective_from=effective_from, currency=str(currency), rates=rates)


def _parse_rate_row(raw: Any, where: str, problems: list[str]) -> dict[str, float] | None:
    if not isinstance(raw, Mapping):
        problems.append(f"{where}: must map {', '.join(PRICED_CATEGORIES)} to prices")
        return None
    row: dict[str, float] = {}
    ok = True
    _unknown_keys(raw, set(PRICED_CATEGORIES), f"{where}.", problems)
    if any(str(key) not in PRICED_CATEGORIES for key in raw):
        ok = False
    for category in PRICED_CATEGORIES:
        value = raw.get(category)
        # bool is an int in Python; `true` as a price is a typo, not 1.0. YAML's .nan/.inf are no prices.
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
            shown = "missing" if value is None else f"got {value!r}"
            problems.append(f"{where}.{category}: must be a price, a number >= 0 ({shown})")
            ok = False
            continue
        row[category] = float(value)
    return row if ok else None


def _no_duplicates(days: list[date], where: str, field_name: str, problems: list[str]) -> None:
    seen: set[date] = set()
    for day in days:
        if day in seen:
            problems.append(f"{where}: two entries with {field_name} {day.isoformat()}")
        seen.add(day)


# ---------------------------------------------------------------------------------------------
# Choosing the era and the rate card


def _day_start(day: date) -> datetime:
    """A rule set date takes effect at 00:00 UTC that day."""
    return datetime.combine(day, time.min, tzinfo=UTC)


def era_at(rules: RuleSet, at: datetime) -> Era:
    """The era in force at `at`: the latest one started at or before it (else the earliest)."""
    started = [era for era in rules.eras if _day_start(era.starts) <= at]
    if started:
        return max(started, key=lambda era: era.starts)
    return min(rules.eras, key=lambda era: era.starts)


def rate_card_at(rules: RuleSet, at: datetime) -> RateCard:
    """The rate card in force at `at`: latest effective_from at or before it (else the earliest)."""
    effective = [card for card in rules.rate_cards if _day_start(card.effective_from) <= at]
    if effective:
        return max(effective, key=lambda card: card.effective_from)
    return min(rules.rate_cards, key=lambda card: card.effective_from)


def price_of(
    rules: RuleSet, at: datetime, country_calling_code: str, category: Category | str
) -> tuple[float, str] | None:
    """(price, currency) of one delivered template of `category` to that country at `at`.

    `service` (free text, when billed) is priced at the utility rate. Countries without a row
    use the `other` row; None when the card has neither.
    """
    card = rate_card_at(rules, at)
    priced = Category.UTILITY.value if str(category) == Category.SERVICE.value else str(category)
    code = (country_calling_code or "").strip().lstrip("+")
    row = card.rates.get(code) or card.rates.get(OTHER_COUNTRIES)
    if row is None or priced not in row:
        return None
    return row[priced], card.currency


# ---------------------------------------------------------------------------------------------
# Charges


def charge_for(
    category: Category,
    windows: Windows,
    at: datetime,
    country_calling_code: str,
    rules: RuleSet,
    *,
    sessions_supported: bool = True,
) -> Charge:
    """What sending `category` costs at `at` (product.md's "Charges by era" table).

    `Category.SERVICE` means free text; the others mean a template of that category.
    `sessions_supported=False` (templates-only BSP: no window data) gives `unknown`.
    """
    category = Category(category)
    if not sessions_supported:
        return Charge(UNKNOWN, "no_session_data")

    era = era_at(rules, at)
    fep_open = windows.ctwa.open
    csw_open = windows.customer_care.open

    if era.rules == "cbp":
        return _charge_cbp(category, windows, at, country_calling_code, rules)

    if category is Category.SERVICE:
        if not csw_open:
            return Charge(UNAVAILABLE, "csw_closed")
        if era.rules == "pmp_2025":
            return Charge(FREE, "csw_open")
        # pmp_2026: free text in the window is billed at the utility rate, unless the FEP is open.
        if fep_open:
            return Charge(FREE, "fep_open")
        # An ad lead waiting for our first reply: that reply opens the 72 h free entry point, so
        # it is free itself.
        pending = windows.ctwa.pending_until
        if pending is not None and at < pending:
            return Charge(FREE, "ctwa_reply")
        return _paid(rules, at, country_calling_code, category, "service_billable")

    if fep_open:
        return Charge(FREE, "fep_open")
    # Only until 2026-09-30 are utility templates inside the customer service window free.
    if category is Category.UTILITY and era.rules == "pmp_2025" and csw_open:
        return Charge(FREE, "csw_open")
    return _paid(rules, at, country_calling_code, category, "outside_windows")


def _charge_cbp(
    category: Category, windows: Windows, at: datetime, country_calling_code: str, rules: RuleSet
) -> Charge:
    """Conversation-based pricing: a conversation open in the category (or the FEP) covers it."""
    if category is Category.SERVICE:
        if not windows.customer_care.open:
            return Charge(UNAVAILABLE, "csw_closed")
        if _day_start(rules.service_free_from) <= at:
            return Charge(FREE, "csw_open")
        # Before service became free, free text rode on any open conversation (or the FEP);
        # otherwise it opened a paid service conversation. Our rate card has no CBP service
        # rate, so the estimate uses the utility rate (price_of maps service to utility).
        if windows.ctwa.open:
            return Charge(FREE, "fep_open")
        if any(window.open for window in windows.categories.values()):
            return Charge(FREE, "conversation_open")
        return _paid(rules, at, country_calling_code, category, "outside_windows")

    conversation = windows.categories.get(category)
    if conversation is not None and conversation.open:
        return Charge(FREE, "conversation_open")
    if windows.ctwa.open:
        return Charge(FREE, "fep_open")
    return _paid(rules, at, country_calling_code, category, "outside_windows")


def _paid(rules: RuleSet, at: datetime, country_calling_code: str, category: Category, reason: str) -> Charge:
    price = price_of(rules, at, country_calling_code, category)
    if price is None:
        return Charge(PAID, "no_rate")
    amount, currency = price
    return Charge(PAID, reason, price=amount, currency=currency)


def all_charges(
    windows: Windows,
    at: datetime,
    country_calling_code: str,
    rules: RuleSet,
    *,
    sessions_supported: bool = True,
) -> dict[Category, Charge]:
    """`charge_for` for every category, in the screen's order (service, authentication, ...)."""
    return {
        category: charge_for(
            category, windows, at, country_calling_code, rules, sessions_supported=sessions_supported
        )
        for category in Category
    }
