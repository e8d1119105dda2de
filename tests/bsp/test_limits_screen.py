"""bot.bsp.limits: which characters make an identifier unstorable and what free text loses; an
event with nothing to clean comes back as it was."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.bsp.base import InboundMessage, ProviderError, StatusUpdate
from bot.bsp.limits import _screen, _Unstorable, clean_text, screen_events

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


# What the screen's one-pass check (`_status_kept_as_is`, `_inbound_kept_as_is`) sees: each value
# mostly one that needs nothing, now and then one around its column's width, empty, with a character
# that is refused or removed, a time out of range; so that both ways are taken often.
_clean_chars = st.sampled_from(["a", "0", ".", " ", "é", "😀", "\ue000", "\x80"])
_any_chars = st.sampled_from(["a", "é", "\x00", "\n", "\t", "\x1f", "\x7f", "\ud800", "\udfff"])


def _mostly(usual: st.SearchStrategy[Any], unusual: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`usual` nine times in ten (one_of would pick either half the time)."""
    return st.sampled_from(range(10)).flatmap(lambda i: unusual if i == 9 else usual)


def _text(limit: int) -> st.SearchStrategy[str]:
    usual = st.text(alphabet=_clean_chars, min_size=1, max_size=6)
    unusual = st.one_of(
        st.text(alphabet=_any_chars, max_size=6),
        st.builds(lambda n, c: "x" * n + c, st.sampled_from([limit - 2, limit - 1, limit]), _clean_chars),
    )
    return _mostly(usual, unusual)


def _maybe(limit: int) -> st.SearchStrategy[str | None]:
    return _mostly(st.none() | _text(limit), _text(limit))


_in_range = [datetime(2010, 1, 1, tzinfo=UTC), AT, NOW + timedelta(minutes=5)]
_times = _mostly(
    st.sampled_from(_in_range),
    st.sampled_from(
        [
            datetime(2009, 12, 31, 23, 59, tzinfo=UTC),
            NOW + timedelta(minutes=5, microseconds=1),
            NOW + timedelta(days=7),
            NOW + timedelta(days=7, seconds=1),
            AT.replace(tzinfo=None),  # no parser gives one; still decided the same way
        ]
    ),
)
_rarely = _mostly(st.just(False), st.just(True))
_statuses = st.builds(
    StatusUpdate,
    message_id=_text(255),
    status=_text(16),
    at=_times,
    recipient_wa_id=_mostly(_text(32), st.just("")),
    recipient_user_id=_maybe(128),
    conversation_id=_maybe(255),
    conversation_expires_at=_mostly(st.none(), _times),
    pricing_model=_maybe(64),
    pricing_category=_maybe(64),
    errors=_mostly(st.just(()), st.just((ProviderError(code="131047", title="t", detail="d"),))),
    source=st.sampled_from(["", "entry[0].changes[0].value.statuses[0]"]),
    at_receipt=_rarely,
)
_messages = st.builds(
    InboundMessage,
    message_id=_text(255),
    wa_id=_mostly(_text(32), st.just("")),
    at=_times,
    type=_text(16),
    user_id=_maybe(128),
    profile_name=_maybe(256),
    text=_maybe(65_536),
    referral=_mostly(st.none(), st.just({"source_id": "1"})),
    context_id=_maybe(255),
    source=st.sampled_from(["", "entry[0].changes[0].value.messages[0]"]),
    at_receipt=_rarely,
)


@settings(max_examples=2000, deadline=None)
@given(event=st.one_of(_statuses, _messages))
def test_the_one_pass_check_decides_as_the_field_by_field_screen(
    event: StatusUpdate | InboundMessage,
) -> None:
    try:
        expected, clamped = _screen(event, NOW)
    except _Unstorable as exc:
        screened = screen_events([event], NOW)
        assert not screened.events and [d.problem for d in screened.dropped] == [exc.problem]
        return
    except TypeError as exc:  # a naive time: no screen can compare it
        with pytest.raises(TypeError, match=re.escape(str(exc))):
            screen_events([event], NOW)
        return
    screened = screen_events([event], NOW)
    assert not screened.dropped and screened.clamped == clamped
    (checked,) = screened.events
    assert checked == expected and (checked is event) == (expected is event)
