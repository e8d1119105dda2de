"""Phone numbers: human formats in, E.164 out, Brazil's 9th digit on both sides."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.rules.phones import (
    InvalidPhone,
    calling_code,
    mask_phone,
    normalize_phone,
    phone_key,
    phone_variants,
    wa_id_to_e164,
)


@pytest.mark.parametrize(
    "text",
    [
        "+55 11 98888-7777",
        "(11) 98888-7777",
        "5511988887777",
        "011 98888 7777",
        "11988887777",
        "+55 (11) 9 8888 7777",
        "0055 11 98888 7777",
        " +5511988887777 ",
    ],
)
def test_any_human_format_of_a_brazilian_mobile_gives_the_same_e164(text: str) -> None:
    assert normalize_phone(text) == "+5511988887777"


@pytest.mark.parametrize("text", ["+55 11 8888-7777", "(11) 8888-7777", "551188887777"])
def test_old_brazilian_mobile_without_the_ninth_digit_gets_it(text: str) -> None:
    assert normalize_phone(text) == "+5511988887777"


def test_brazilian_landline_keeps_its_eight_digits() -> None:
    assert normalize_phone("+55 11 4000-0000") == "+551140000000"
    assert normalize_phone("(11) 2345-6789") == "+551123456789"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+1 201 555 3931", "+12015553931"),
        ("12015553931", "+12015553931"),  # wa_id style, not a Brazilian number
        ("+44 20 7946 0958", "+442079460958"),
        ("+52 55 1234 5678", "+525512345678"),
    ],
)
def test_foreign_numbers(text: str, expected: str) -> None:
    assert normalize_phone(text) == expected


def test_default_region_reads_national_numbers() -> None:
    assert normalize_phone("(201) 555-3931", default_region="US") == "+12015553931"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("abc", "unparseable"),
        ("not a phone", "unparseable"),
        ("+55 11 1234", "invalid"),
        ("123", "invalid"),
        ("+55 00 98888-7777", "invalid"),
    ],
)
def test_invalid_phone_says_why(text: str, reason: str) -> None:
    with pytest.raises(InvalidPhone) as caught:
        normalize_phone(text)
    assert caught.value.reason == reason
    assert isinstance(caught.value, ValueError)


def test_invalid_phone_message_does_not_leak_the_number() -> None:
    with pytest.raises(InvalidPhone) as caught:
        normalize_phone("+55 11 1234")
    assert "1234" not in str(caught.value)


def test_phone_key_makes_both_brazilian_forms_equal() -> None:
    assert phone_key("+551188887777") == phone_key("+5511988887777") == "+5511988887777"
    assert phone_key("551188887777") == "+5511988887777"  # a wa_id without the 9
    assert phone_key("5511988887777") == "+5511988887777"


def test_phone_key_leaves_landlines_and_other_countries_alone() -> None:
    assert phone_key("+551140000000") == "+551140000000"  # subscriber starts with 4: landline
    assert phone_key("12015553931") == "+12015553931"


def test_phone_key_rejects_nothing() -> None:
    with pytest.raises(InvalidPhone) as caught:
        phone_key("")
    assert caught.value.reason == "empty"


def test_phone_variants() -> None:
    both = {"+5511988887777", "+551188887777"}
    assert phone_variants("+5511988887777") == both
    assert phone_variants("+551188887777") == both
    assert phone_variants("+551140000000") == {"+551140000000"}
    assert phone_variants("+12015553931") == {"+12015553931"}
    # A 9-digit mobile whose rest starts below 6 never had an 8-digit form.
    assert phone_variants("+5511912345678") == {"+5511912345678"}


@given(area=st.integers(11, 99).filter(lambda a: a % 10 != 0), subscriber=st.integers(60_000_000, 99_999_999))
def test_every_brazilian_mobile_has_one_key_for_both_forms(area: int, subscriber: int) -> None:
    old, new = f"+55{area}{subscriber}", f"+55{area}9{subscriber}"
    assert phone_key(old) == phone_key(new) == new
    assert phone_variants(old) == phone_variants(new) == {old, new}


def test_calling_code() -> None:
    assert calling_code("+5511988887777") == "55"
    assert calling_code("+12015553931") == "1"
    assert calling_code("+442079460958") == "44"
    assert calling_code("5215512345678") == "52"  # wa_id form
    with pytest.raises(InvalidPhone):
        calling_code("")


def test_wa_id_to_e164() -> None:
    assert wa_id_to_e164("5511988887777") == "+5511988887777"
    assert wa_id_to_e164("551188887777") == "+551188887777"  # as reported, no 9th-digit change
    with pytest.raises(InvalidPhone) as caught:
        wa_id_to_e164("")
    assert caught.value.reason == "empty"
    with pytest.raises(InvalidPhone) as caught:
        wa_id_to_e164("55 11 abc")
    assert caught.value.reason == "unparseable"


def test_mask_phone() -> None:
    assert mask_phone("+5511988887777") == "+55 11 9****-7777"
    assert mask_phone("5511988887777") == "+55 11 9****-7777"
    assert mask_phone("+12015553931") == "+1 20 ****-3931"
    assert mask_phone("+551140000000") == "+55 11 ****-0000"
    assert mask_phone("") == ""
    assert mask_phone(None) == ""
    assert mask_phone("no digits") == "***"


@given(st.text(max_size=40))
def test_mask_phone_never_raises_and_never_shows_more_than_six_digits(text: str) -> None:
    masked = mask_phone(text)
    digits = [c for c in text if c.isdigit()]
    shown = sum(c.isdigit() for c in masked)
    # Country code (up to 3) + 2 first + the Brazilian 9 + 4 last at most.
    assert shown <= min(len(digits), 10)


def test_mask_phone_hides_the_middle() -> None:
    masked = mask_phone("+5511988887777")
    assert "8888" not in masked
