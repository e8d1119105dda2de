"""The conversation's pure parts and its ingestion hook: which Slack messages may reach a customer,
how Slack markup reads in WhatsApp, and which customer messages are new."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.bsp.base import InboundMessage
from bot.core.conversation_reply import slack_to_plain, thread_message
from bot.core.ingest import ingest_events
from bot.store.db import Store

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
REPLY = {"type": "message", "channel": "D1", "user": "UAGENT", "text": "oi", "ts": "2.0", "thread_ts": "1.0"}


def test_an_agent_reply_in_a_thread_is_read() -> None:
    found = thread_message(REPLY, "Ev1")
    assert found is not None and (found.channel, found.ts, found.thread_ts, found.user) == (
        "D1",
        "2.0",
        "1.0",
        "UAGENT",
    )


@pytest.mark.parametrize(
    "change",
    [
        {"subtype": "message_changed"},
        {"subtype": "message_deleted"},
        {"subtype": "thread_broadcast"},
        {"subtype": "bot_message", "bot_id": "B1"},
        {"bot_id": "B1"},
        {"bot_profile": {"id": "B1"}},
        {"thread_ts": None},  # not in a thread
        {"thread_ts": "2.0"},  # the thread's parent itself
        {"user": None},
    ],
)
def test_what_never_reaches_a_customer(change: dict[str, object]) -> None:
    assert thread_message({**REPLY, **change}, "Ev1") is None


def test_slack_markup_reads_as_plain_text() -> None:
    assert slack_to_plain("Veja <https://a.example/p|o pedido> &amp; <https://b.example> &lt;3") == (
        "Veja o pedido (https://a.example/p) & https://b.example <3"
    )
    assert slack_to_plain("<@U123|maria> <!here> <#C1|geral>") == "@maria @here geral"


def test_ingest_reports_only_the_customer_messages_it_stored_first(store: Store) -> None:
    message = InboundMessage("wamid.N1", "5511988887777", NOW, text="oi")
    first = ingest_events(store, "sandbox", [message, message], NOW)
    assert [m.message_id for _, m in first.new_inbound] == ["wamid.N1"]
    again = ingest_events(store, "sandbox", [message], NOW)
    assert again.new_inbound == []
