"""A rate card in the invoice's currency (issue 10): Meta's CSV export or one YAML card."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bot.rules.events import Category
from bot.rules.pricing import RuleSetError, load_rule_set, price_of, rate_card_at
from bot.rules.rate_cards import load_rate_card, with_rate_card

META_BRL_CSV = """Market,Currency,Marketing,Utility,Authentication,Authentication-International,Service
Brazil,BRL,"0,3125","0,0400","0,0400",,
North America,BRL,0.1250,0.0170,0.0170,,
Other,BRL,0.3020,0.0385,0.0385,0.3,
"""


def test_metas_csv_export_in_brl_becomes_a_dated_card(tmp_path: Path) -> None:
    path = tmp_path / "brl.csv"
    path.write_text(META_BRL_CSV, encoding="utf-8")
    card = load_rate_card(path, effective_from=date(2026, 7, 1))
    assert card.currency == "BRL" and card.effective_from == date(2026, 7, 1)
    assert card.rates["55"] == {"marketing": 0.3125, "utility": 0.04, "authentication": 0.04}
    assert set(card.rates) == {"55", "1", "other"}
    rules = with_rate_card(load_rule_set(), card)
    at = datetime(2026, 11, 24, 19, 0, tzinfo=UTC)
    assert rate_card_at(rules, at).currency == "BRL"
    assert price_of(rules, at, "55", Category.UTILITY) == (0.04, "BRL")


def test_a_yaml_card_and_a_csv_by_calling_code(tmp_path: Path) -> None:
    yml = tmp_path / "brl.yml"
    yml.write_text(
        "effective_from: 2026-07-01\ncurrency: BRL\nrates:\n"
        '  "55": {marketing: 0.31, utility: 0.04, authentication: 0.04}\n'
        "  other: {marketing: 0.30, utility: 0.04, authentication: 0.04}\n"
    )
    assert load_rate_card(yml).rates["55"]["marketing"] == 0.31
    csv = tmp_path / "codes.csv"
    csv.write_text("calling_code,marketing,utility,authentication\n+55,0.31,0.04,0.04\nother,0.3,0.04,0.04\n")
    card = load_rate_card(csv, currency="brl", effective_from=date(2026, 7, 1))
    assert card.currency == "BRL" and card.rates["55"]["utility"] == 0.04


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Market,Marketing,Utility,Authentication\nBrazil,0.3,0.04,0.04\nOther,0.3,0.04,0.04\n",
            "no currency",
        ),
        ("Market,Currency,Marketing\nBrazil,BRL,0.3\n", "needs numeric"),
        ("Market,Currency,Marketing,Utility,Authentication\nBrazil,BRL,0.3,0.04,0.04\n", "other"),
        (
            "Market,Currency,Marketing,Utility,Authentication\nAtlantis,BRL,1,1,1\nOther,BRL,1,1,1\n",
            "Atlantis",
        ),
    ],
)
def test_a_card_that_cannot_be_used_says_why(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "card.csv"
    path.write_text(text)
    with pytest.raises(RuleSetError) as error:
        load_rate_card(path, effective_from=date(2026, 7, 1))
    assert expected in str(error.value) and str(path) in str(error.value)
