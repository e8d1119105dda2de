"""A rate card in the admin's own invoice currency, dropped in beside the built-in rule set.

Meta bills Brazilian businesses in BRL since 2026-07-01: an admin exports the rate card of their
invoice currency (CSV) or writes one rate card (YAML, the `rate_cards` entry format of
pricing.yml) and points `pricing.rate_card_file` at it. The card joins the rule set's dated cards
(replacing one of the same date), so every price the app shows and records is in that currency.

CSV: a header row, then one row per market. Columns (case and spaces ignored): `calling_code` or
`market` (Meta's market names: Brazil, North America, ..., Other), `currency` (optional when
`pricing.rate_card_currency` is set), `marketing`, `utility`, `authentication`; other columns
(Meta's "Authentication-International", "Service") are ignored. Prices take "." or "," decimals.
"""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from bot.rules.pricing import (
    OTHER_COUNTRIES,
    PRICED_CATEGORIES,
    RateCard,
    RuleSet,
    RuleSetError,
    rule_set_from_data,
)

# Meta's market names (rate card exports) for the calling codes the built-in card lists.
MARKETS = {
    "brazil": "55",
    "brasil": "55",
    "north america": "1",
    "mexico": "52",
    "méxico": "52",
    "india": "91",
    "united kingdom": "44",
    "germany": "49",
    "argentina": "54",
    "chile": "56",
    "colombia": "57",
    "peru": "51",
    "spain": "34",
    "italy": "39",
    "france": "33",
    "other": OTHER_COUNTRIES,
}


def _key(name: str) -> str:
    return "_".join(name.strip().lower().replace("-", " ").split())


def _price(text: str) -> float:
    cleaned = text.strip().replace("R$", "").replace("$", "").strip()
    if "," in cleaned and "." not in cleaned:
        cleaned = cleaned.replace(",", ".")
    return float(cleaned)


def _card_from_csv(
    text: str, source: str, currency: str | None, effective_from: date | None
) -> dict[str, Any]:
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    problems: list[str] = []
    rates: dict[str, dict[str, float]] = {}
    currencies: set[str] = set()
    for number, raw in enumerate(rows, start=2):
        row = {_key(k): (v or "").strip() for k, v in raw.items() if k is not None}
        code = row.get("calling_code", "").lstrip("+") or MARKETS.get(row.get("market", "").lower(), "")
        if not code:
            if row.get("market"):
                problems.append(f"line {number}: market {row['market']!r} has no known calling code")
            continue
        try:
            rates[code] = {category: _price(row[category]) for category in PRICED_CATEGORIES}
        except (KeyError, ValueError):
            problems.append(f"line {number}: needs numeric {', '.join(PRICED_CATEGORIES)} columns")
            continue
        if row.get("currency"):
            currencies.add(row["currency"].upper())
    if len(currencies) > 1:
        problems.append(f"more than one currency in one rate card: {', '.join(sorted(currencies))}")
    card_currency = (currency or (currencies.pop() if len(currencies) == 1 else "")).upper()
    if not card_currency:
        problems.append("no currency: add a currency column or set pricing.rate_card_currency")
    if effective_from is None:
        problems.append("no date: set pricing.rate_card_from (the day the card takes effect)")
    if problems:
        raise RuleSetError(source, problems)
    return {"effective_from": effective_from, "currency": card_currency, "rates": rates}


def load_rate_card(
    path: str | Path, *, currency: str | None = None, effective_from: date | None = None
) -> RateCard:
    """The rate card in `path` (CSV or YAML), validated like pricing.yml's cards."""
    file = Path(path)
    source = str(file)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise RuleSetError(source, [f"cannot read the file ({exc.strerror or exc})"]) from exc
    if file.suffix.lower() == ".csv":
        raw = _card_from_csv(text, source, currency, effective_from)
    else:
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise RuleSetError(source, [f"not valid YAML ({exc})"]) from exc
        if isinstance(raw, dict):
            raw = {"currency": currency, "effective_from": effective_from, **{k: v for k, v in raw.items()}}
    # One card is validated as a rule set holding it (same messages as pricing.yml's).
    wrapped = {
        "service_free_from": "2024-11-01",
        "eras": [{"starts": "2022-02-01", "model": "CBP", "rules": "cbp"}],
    }
    rules = rule_set_from_data({**wrapped, "rate_cards": [raw]}, source)
    return rules.rate_cards[0]


def with_rate_card(rules: RuleSet, card: RateCard) -> RuleSet:
    """`rules` with `card` among its dated cards (replacing one of the same date)."""
    cards = [c for c in rules.rate_cards if c.effective_from != card.effective_from] + [card]
    return replace(rules, rate_cards=tuple(sorted(cards, key=lambda c: c.effective_from)))
