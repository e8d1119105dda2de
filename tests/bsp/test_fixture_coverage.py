"""Every real payload in tests/fixtures/whatsapp is a case in its provider's table
(tests/bsp/<provider>/test_payloads.py). A new fixture file fails `test_every_fixture_is_covered`
until a provider lists it."""

from __future__ import annotations

from tests.bsp.cloudapi import test_payloads as cloudapi_cases
from tests.bsp.dialog360 import test_payloads as dialog360_cases
from tests.bsp.gupshup import test_payloads as gupshup_cases
from tests.bsp.meta import test_payloads as meta_cases
from tests.conftest import WHATSAPP_FIXTURES

TABLES = (cloudapi_cases, dialog360_cases, gupshup_cases, meta_cases)


def test_every_fixture_is_covered() -> None:
    listed = [case.values[0] for table in TABLES for case in table.PAYLOADS]
    on_disk = {p.name for p in WHATSAPP_FIXTURES.iterdir() if p.is_file() and p.name != "SOURCES.md"}
    assert len(listed) == len(set(listed)), "a fixture is listed by two cases"
    assert on_disk - set(listed) == set(), "new fixture files: add a case to their provider's PAYLOADS"
    assert set(listed) - on_disk == set(), "PAYLOADS list files that no longer exist"
