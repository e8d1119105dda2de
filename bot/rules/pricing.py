"""What sending each category costs now: a pure function of windows, time and a dated rule set.

CONTRACT (implemented by the rules helper):
    load_rule_set(path: str | Path | None = None) -> RuleSet
        default: the packaged data file bot/rules/pricing.yml (eras + dated rate cards);
        admins replace it with `pricing.rules_file` in contato.yml.
    era_at(rules: RuleSet, at: datetime) -> Era
    charge_for(category: Category, windows: Windows, at: datetime, country_calling_code: str,
               rules: RuleSet) -> Charge
        implements product.md's table; `service` means free text.
    all_charges(windows, at, country_calling_code, rules) -> dict[Category, Charge]
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


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
