"""bot.bsp.limits: which characters make an identifier unstorable and what free text loses; an
event with nothing to clean comes back as it was."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.bsp.base import InboundMessage, ProviderError, StatusUpdate
from bot.bsp.limits import clean_text, screen_events

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
AT = datetime(2026, 3, 2, 11, 0, tzinfo=UTC)


@pytest.mark.parametrize("bad", ["\x00", "\x01", "\t", "\n", "\x1f", "\x7f", "\ud800", "\udfff"])
def test_an_identifier_with_a_control_character_or_a_lone_surrogate_is_dropped(bad: str) -> None:
    screened = screen_events(
        [
            StatusUpdate(message_id=f"wamid.A{bad}B", status="read", at=AT),
            StatusUpdate("wamid.OK", "read", AT),
        ],
        NOW,
    )
    assert [event.message_id for event in screened.events] == ["wamid.OK"]  # type: ignore[union-attr]
    assert [d.problem for d in screened.dropped] == ["contains a control character or a lone surrogate"]


@pytest.mark.parametrize("fine", [" ", "~", "\x80", "é", "\ue000", "😀"])
def test_other_characters_in_identifiers_are_kept(fine: str) -> None:
    screened = screen_events([StatusUpdate(message_id=f"wamid.{fine}", status="read", at=AT)], NOW)
    assert not screened.dropped and screened.events[0].message_id == f"wamid.{fine}"  # type: ignore[union-attr]


def test_free_text_loses_nuls_and_lone_surrogates_only() -> None:
    assert clean_text("a\x00b\ud83dc\tline\nend😀", 100) == "abc\tline\nend😀"
    assert clean_text("\x00\udc00", 100) is None
    assert clean_text("abcdef", 3) == "abc"
    message = InboundMessage("wamid.T", "5511987654321", AT, profile_name="An\x00a", text="oi\ud800")
    (cleaned,) = screen_events([message], NOW).events
    assert (cleaned.profile_name, cleaned.text) == ("Ana", "oi")  # type: ignore[union-attr]


def test_an_event_with_nothing_to_clean_is_returned_as_it_was() -> None:
    status = StatusUpdate(
        "wamid.S", "failed", AT, errors=(ProviderError(code="131047", title="Re-engagement", detail="24h"),)
    )
    message = InboundMessage("wamid.M", "5511987654321", AT, profile_name="Ana", text="oi")
    assert screen_events([status, message], NOW).events == [status, message]
    dirty = StatusUpdate("wamid.D", "failed", AT, errors=(ProviderError(code="1\x00", title="t", detail=""),))
    (cleaned,) = screen_events([dirty], NOW).events
    assert cleaned.errors == (ProviderError(code="1", title="t", detail=""),)  # type: ignore[union-attr]
