"""Gupshup: every real payload it sends, as a table of cases (as courier's testdata/)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bot.bsp.base import StatusUpdate
from bot.bsp.gupshup import adapter as gupshup
from tests.bsp import utc
from tests.conftest import load_fixture


def check_gupshup_v3(data: object) -> None:
    (event,) = gupshup.parse_gupshup_webhook(data)
    assert isinstance(event, StatusUpdate)
    assert event.message_id == "{{WA_MESSAGE_ID}}" and event.status == "sent"
    assert event.at == utc(1710930461) and event.conversation_expires_at == utc(1710936120)
    # Doc inconsistency kept as sent: origin "service" next to pricing category "marketing".
    assert event.conversation_origin == "service" and event.pricing_category == "marketing"


# case name -> real payload (tests/fixtures/whatsapp) -> what it must produce
PAYLOADS = [
    pytest.param("gupshup-v3-status-sent-pmp.json", check_gupshup_v3, id="v3_status_sent_pmp"),
]


@pytest.mark.parametrize(("fixture", "check"), PAYLOADS)
def test_real_payload(fixture: str, check: Callable[[Any], None]) -> None:
    check(load_fixture(fixture))
