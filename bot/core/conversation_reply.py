"""The agent answers in the thread of their confirmation: the message goes to the customer as
free text through `bot.core.sending`, the one path for every send.

Only a plain message (no subtype: not an edit, a deletion, a thread broadcast, a bot's message),
written in the thread of a confirmation by the agent who sent it, who still belongs to a team of
that WhatsApp channel. The message is claimed by its Slack identity (channel + ts) before
anything else, so Slack's retries (`X-Slack-Retry-Num`) and redeliveries never send twice; the
send's idempotency key is that identity too. With the customer service window closed nothing is
sent and the agent gets an ephemeral answer with a button to the screen with the templates.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.blocks.conversation import reply_notice, window_closed_notice
from bot.core import sending
from bot.core.sending import SendRequest
from bot.rules import phones
from bot.rules.events import Category
from bot.store import contacts
from bot.store import conversation as rows

if TYPE_CHECKING:
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.runtime import Runtime

log = logging.getLogger(__name__)

_LINK = re.compile(r"<([^<>|]+)\|([^<>]*)>")
_BARE = re.compile(r"<([^<>|]+)>")


def slack_to_plain(text: str) -> str:
    """Slack's message markup as the plain text a WhatsApp customer should read: links as
    "label (url)" or the url, mentions as "@U…", entities unescaped."""

    def labelled(match: re.Match[str]) -> str:
        target, label = match.group(1), match.group(2)
        if target.startswith(("@", "#", "!")):
            return "@" + label if target.startswith("@") else label
        return label if label == target else f"{label} ({target})"

    def bare(match: re.Match[str]) -> str:
        target = match.group(1)
        if target.startswith("!"):
            return "@" + target[1:].split("^", 1)[0]
        return target

    text = _BARE.sub(bare, _LINK.sub(labelled, text))
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


@dataclass(frozen=True)
class ThreadMessage:
    """The fields of a Slack `message` event this module reads."""

    channel: str
    ts: str
    thread_ts: str
    user: str
    text: str
    event_id: str | None


def thread_message(event: Mapping[str, Any], event_id: str | None) -> ThreadMessage | None:
    """The event as an agent's reply in a thread, or None for everything that must never reach a
    customer: subtypes (message_changed, message_deleted, thread_broadcast, bot_message...),
    bots (the app itself included), messages outside a thread, or the thread's parent."""
    if event.get("subtype") or event.get("bot_id") or event.get("bot_profile"):
        return None
    channel, ts, thread_ts, user = (event.get(k) for k in ("channel", "ts", "thread_ts", "user"))
    if not (channel and ts and thread_ts and user) or thread_ts == ts:
        return None
    return ThreadMessage(
        str(channel), str(ts), str(thread_ts), str(user), str(event.get("text") or ""), event_id
    )


@dataclass(frozen=True)
class _Claimed:
    outbound_id: int
    channel_id: str
    team_id: str
    contact_e164: str | None


def _claim(rt: Runtime, message: ThreadMessage) -> _Claimed | None:
    """The send whose thread this is, if the writer is its agent and the message is new."""
    now = rt.now()
    with rt.store.session() as session:
        send = rows.send_of_thread(session, message.channel, message.thread_ts)
        if send is None or send.agent_user_id != message.user:
            return None
        if not rows.claim_thread_reply(
            session,
            slack_channel=message.channel,
            slack_ts=message.ts,
            thread_ts=message.thread_ts,
            agent_user_id=message.user,
            event_id=message.event_id,
            now=now,
        ):
            return None  # a retry or redelivery of a message already handled
        contact = contacts.get_contact(session, send.contact_id)
        return _Claimed(send.id, send.channel_id, send.team_id, contact.e164 if contact else None)


def _settle(rt: Runtime, message: ThreadMessage, outcome: str, outbound_id: int | None = None) -> None:
    with rt.store.session() as session:
        rows.settle_thread_reply(session, message.channel, message.ts, outcome, outbound_id)


async def handle_thread_message(
    rt: Runtime, client: AsyncWebClient, message: ThreadMessage, members: Mapping[str, set[str]]
) -> str:
    """Send the agent's thread message to the customer when allowed; what happened (also stored)."""
    if not rt.config.conversation.enabled:
        return "disabled"
    claimed = await asyncio.to_thread(_claim, rt, message)
    if claimed is None or not claimed.contact_e164:
        return "ignored"
    teams = [t for t in rt.config.teams_of_user(message.user, members) if claimed.channel_id in t.channels]
    channel = rt.config.channel(claimed.channel_id)
    if not teams or channel is None:
        name = channel.name if channel is not None else claimed.channel_id
        await _ephemeral(rt, client, message, *reply_notice(rt.config.language, "not_allowed", channel=name))
        await asyncio.to_thread(_settle, rt, message, "not_allowed")
        return "not_allowed"
    team = next((t for t in teams if t.id == claimed.team_id), teams[0])
    request = SendRequest(
        idempotency_key=rows.thread_send_key(message.channel, message.ts),
        agent_user_id=message.user,
        team_id=team.id,
        channel_id=claimed.channel_id,
        contact_e164=claimed.contact_e164,
        category=Category.SERVICE,
        text=slack_to_plain(message.text).strip(),
    )
    now = rt.now()
    problems, report = await asyncio.to_thread(
        sending.validate, rt, request, usergroup_members=members, now=now
    )
    if problems:
        key = problems[0].key
        if key in ("free_text_window_closed", "free_text_no_window"):
            closed = report.windows.customer_care.expires_at if report is not None else None
            notice = window_closed_notice(
                rt.config.language,
                closed_at=closed if key == "free_text_window_closed" else None,
                contact_e164=claimed.contact_e164,
                channel_id=claimed.channel_id,
                team_id=team.id,
            )
            outcome = "window_closed"
        else:
            notice = reply_notice(
                rt.config.language,
                "empty" if key == "free_text_empty" else "not_allowed",
                channel=channel.name,
            )
            outcome = key[:32]
        await _ephemeral(rt, client, message, *notice)
        await asyncio.to_thread(_settle, rt, message, outcome)
        return outcome
    result = await sending.send(rt, request, report=report, now=now)
    await asyncio.to_thread(_settle, rt, message, result.status, result.outbound_id)
    log.info(
        "thread reply on channel %s to %s: %s",
        claimed.channel_id,
        phones.mask_phone(claimed.contact_e164),
        result.status,
    )
    if result.status in ("failed", "unknown"):
        from bot.core.confirmation import error_sentence

        if result.status == "failed":
            why = error_sentence(
                rt,
                result.error.code if result.error else None,
                result.error.message if result.error else None,
            )
            text, blocks = reply_notice(
                rt.config.language, "failed", error=why or rt.catalog.t("conversation.no_reason")
            )
            await client.reactions_add(channel=message.channel, timestamp=message.ts, name="x")
        else:
            text, blocks = reply_notice(rt.config.language, "unknown")
        await client.chat_postMessage(
            channel=message.channel, thread_ts=message.thread_ts, text=text, blocks=blocks
        )
    return result.status


async def _ephemeral(
    rt: Runtime, client: AsyncWebClient, message: ThreadMessage, text: str, blocks: list[dict[str, Any]]
) -> None:
    """An answer in the thread only the agent sees."""
    await client.chat_postEphemeral(
        channel=message.channel, user=message.user, thread_ts=message.thread_ts, text=text, blocks=blocks
    )
