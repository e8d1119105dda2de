"""The On-Premises API (read by Meta's envelope parser): its real payloads as a table of cases."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bot.bsp import meta
from bot.bsp.base import StatusUpdate
from tests.bsp import utc
from tests.conftest import load_fixture


def check_onprem_470(data: object) -> None:
    (event,) = meta.parse_envelope(data)
    assert isinstance(event, StatusUpdate)
    assert event.status == "failed" and event.at == utc(1533332775)
    assert event.recipient_wa_id == "12064001000"
    assert event.errors[0].code == "470"
    assert event.errors[0].title.startswith("Failed to send message because you are outside the support")


# case name -> real payload (tests/fixtures/whatsapp) -> what it must produce
PAYLOADS = [
    pytest.param("onprem-legacy-status-failed-470.json", check_onprem_470, id="onprem_status_failed_470"),
]


@pytest.mark.parametrize(("fixture", "check"), PAYLOADS)
def test_real_payload(fixture: str, check: Callable[[Any], None]) -> None:
    check(load_fixture(fixture))
