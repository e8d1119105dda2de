"""Business-scoped user ids (BSUIDs): how Meta names a WhatsApp user who may have hidden the phone
number behind a username (2026). "US.13491208655302741918": an ISO 3166 alpha-2 country code, a
period, then letters and digits. Kept exactly as received; never a phone number."""

from __future__ import annotations

import re

import phonenumbers

_BSUID = re.compile(r"^[A-Z]{2}\.[A-Za-z0-9]{1,120}$")


def is_bsuid(text: str | None) -> bool:
    """Whether `text` (stripped) is a BSUID rather than a phone number or a name."""
    return bool(text) and _BSUID.match((text or "").strip()) is not None


def bsuid_calling_code(bsuid: str) -> str | None:
    """The calling code of the BSUID's country ("BR.…" -> "55"), what prices a send to it; None
    for a country code phonenumbers does not know."""
    code = phonenumbers.country_code_for_region(bsuid.strip()[:2])
    return str(code) if code else None
