"""Phone numbers: any human format in, E.164 out, Brazilian 9th digit aware. Pure, no I/O.

CONTRACT:
    normalize_phone(text, default_region="BR") -> str     E.164, or raises InvalidPhone
    phone_key(e164_or_wa_id) -> str                        canonical E.164 (Brazilian mobiles with the 9)
    phone_variants(e164) -> set[str]                       both Brazilian forms, for matching wa_ids
    calling_code(e164) -> str                              "55"
    mask_phone(s) -> str                                   "+55 11 9****-7777", for logs
    wa_id_to_e164(wa_id) -> str                            "5511988887777" -> "+5511988887777"

Brazil's 9th digit: since 2012-2016 every Brazilian mobile number has 9 digits after the 2-digit
area code, made by prefixing a 9 to the old 8-digit number (which started with 6-9). WhatsApp still
reports some accounts under the old 8-digit form (`55 11 8888-7777`), so the same person can appear
as either; `phone_key` maps both to the 9-digit form and `phone_variants` gives both.
"""

from __future__ import annotations

import re

import phonenumbers

BRAZIL_CALLING_CODE = "55"

# Old-form Brazilian mobile: area code (2 digits, no zero) + 8-digit subscriber starting 6-9.
_BR_OLD_MOBILE = re.compile(r"^([1-9][1-9])([6-9]\d{7})$")
# New-form Brazilian mobile: area code + 9 + the old 8-digit subscriber.
_BR_NEW_MOBILE = re.compile(r"^([1-9][1-9])9([6-9]\d{7})$")
_NON_DIGITS = re.compile(r"\D")


class InvalidPhone(ValueError):
    """A text that is not a usable phone number.

    `reason` is a machine code: `empty` (nothing given), `unparseable` (not a phone number at
    all), `invalid` (looks like a number, but no such number exists in its country's plan).
    """

    def __init__(self, reason: str, text: str = "") -> None:
        self.reason = reason
        self.text = text
        # The raw text may be a customer's number: never put it in the message (it reaches logs).
        super().__init__(f"invalid phone number ({reason})")


def _digits(text: str) -> str:
    return _NON_DIGITS.sub("", text)


def _with_brazilian_ninth_digit(number: phonenumbers.PhoneNumber) -> phonenumbers.PhoneNumber:
    """The same number with the 9th digit added when it is an old-form Brazilian mobile."""
    if str(number.country_code) != BRAZIL_CALLING_CODE:
        return number
    match = _BR_OLD_MOBILE.match(str(number.national_number))
    if match is None:
        return number
    area, subscriber = match.groups()
    return phonenumbers.PhoneNumber(
        country_code=number.country_code, national_number=int(f"{area}9{subscriber}")
    )


def _valid_e164(candidate: str, region: str | None) -> tuple[str | None, bool]:
    """(E.164 if `candidate` is a valid number, whether it parsed at all)."""
    try:
        number = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException:
        return None, False
    for attempt in (number, _with_brazilian_ninth_digit(number)):
        if phonenumbers.is_valid_number(attempt):
            return phonenumbers.format_number(attempt, phonenumbers.PhoneNumberFormat.E164), True
    return None, True


def normalize_phone(text: str, default_region: str = "BR") -> str:
    """Normalise a phone number typed by a person (any format) to E.164.

    Accepts "+55 11 98888-7777", "(11) 98888-7777", "5511988887777", "011 98888 7777",
    "0055 11 98888 7777", and old-form Brazilian mobiles without the 9th digit (which get it).
    Numbers without a country code are read in `default_region` first; digits that are not
    valid there are then tried as an international number without its "+" (how wa_ids look).
    Raises `InvalidPhone` with reason `empty`, `unparseable` or `invalid`.
    """
    stripped = (text or "").strip()
    if not stripped:
        raise InvalidPhone("empty", text)
    digits = _digits(stripped)
    if not digits:
        raise InvalidPhone("unparseable", text)

    # Candidates in order of preference: as typed (national numbers read in the default region),
    # then the readings people and systems use for international numbers without a "+".
    candidates: list[tuple[str, str | None]] = [
        (stripped, default_region.upper() if default_region else None)
    ]
    if not stripped.startswith("+"):
        candidates.append(("+" + digits, None))
        if digits.startswith("00"):
            candidates.append(("+" + digits[2:], None))
            # Brazilian international dialling: 00 + 2-digit carrier code + country code.
            candidates.append(("+" + digits[4:], None))

    parsed_any = False
    for candidate, region in candidates:
        e164, parsed = _valid_e164(candidate, region)
        parsed_any = parsed_any or parsed
        if e164 is not None:
            return e164
    raise InvalidPhone("invalid" if parsed_any else "unparseable", text)


def wa_id_to_e164(wa_id: str) -> str:
    """A WhatsApp id ("5511988887777", digits with the country code) as E.164, as reported.

    No 9th-digit change here: the wa_id Meta reports is the one to send to; compare with
    `phone_key`. Raises `InvalidPhone` (`empty`, or `unparseable` when it is not all digits).
    """
    raw = (wa_id or "").strip()
    if not raw:
        raise InvalidPhone("empty", wa_id)
    body = raw[1:] if raw.startswith("+") else raw
    if not body.isdigit():
        raise InvalidPhone("unparseable", wa_id)
    return "+" + body


def phone_key(e164_or_wa_id: str) -> str:
    """The canonical E.164 of a number or wa_id: both Brazilian mobile forms give the same key.

    Meant for numbers that are already machine-formatted (E.164 or wa_id); spaces, dashes and
    parentheses are tolerated. Raises `InvalidPhone` when there are no digits.
    """
    digits = _digits(e164_or_wa_id or "")
    if not digits:
        raise InvalidPhone("empty" if not (e164_or_wa_id or "").strip() else "unparseable", e164_or_wa_id)
    if digits.startswith(BRAZIL_CALLING_CODE):
        match = _BR_OLD_MOBILE.match(digits[len(BRAZIL_CALLING_CODE) :])
        if match is not None:
            area, subscriber = match.groups()
            return f"+{BRAZIL_CALLING_CODE}{area}9{subscriber}"
    return "+" + digits


def phone_variants(e164: str) -> set[str]:
    """Every E.164 form under which this person may appear: both forms for Brazilian mobiles."""
    key = phone_key(e164)
    variants = {key}
    national = key[1 + len(BRAZIL_CALLING_CODE) :]
    if key.startswith("+" + BRAZIL_CALLING_CODE):
        match = _BR_NEW_MOBILE.match(national)
        if match is not None:
            area, subscriber = match.groups()
            variants.add(f"+{BRAZIL_CALLING_CODE}{area}{subscriber}")
    return variants


def calling_code(e164: str) -> str:
    """The country calling code of an E.164 number or wa_id, as digits ("55", "1", "44").

    Raises `InvalidPhone` when no country code can be recognised.
    """
    digits = _digits(e164 or "")
    if not digits:
        raise InvalidPhone("empty", e164)
    try:
        number = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone("unparseable", e164) from exc
    return str(number.country_code)


def mask_phone(s: str | None) -> str:
    """A phone number safe for logs: country code, 2 first and 4 last digits ("+55 11 9****-7777").

    Never raises: anything that is not a recognisable number keeps only its last 4 characters'
    digits, so a log line can still be correlated without exposing the number.
    """
    digits = _digits(s or "")
    if not digits:
        return "***" if s else ""
    try:
        number = phonenumbers.parse("+" + digits, None)
        code, national = str(number.country_code), str(number.national_number)
    except phonenumbers.NumberParseException:
        code, national = "", digits
    if len(national) <= 6:
        return ("+" + code + " " if code else "") + "*" * max(len(national) - 2, 1) + national[-2:]
    head, tail = national[:2], national[-4:]
    middle = national[2:-4]
    # A Brazilian mobile's leading 9 identifies nobody (every mobile has it): keep it visible.
    if code == BRAZIL_CALLING_CODE and len(national) == 11 and middle.startswith("9"):
        masked_middle = "9" + "*" * (len(middle) - 1)
    else:
        masked_middle = "*" * len(middle)
    prefix = f"+{code} " if code else ""
    return f"{prefix}{head} {masked_middle}-{tail}"
