"""The customer's replies in the thread of the agent's confirmation.

1. Claim (`claim_new_replies`): right after ingestion, every customer message it stored for the
   first time, on a channel where an agent sent to that contact through the app in the last
   `conversation.follow_days`, becomes one `conversation_posts` row (unique per channel + message
   id: duplicates, replays and other instances insert nothing). Only what
   `conversation.show_customer_text` allows is stored. A message joins the contact's burst not
   posted yet, so a burst within `conversation.batch_seconds` is one post.
2. Post (`post_due`, the scheduler's job every POLL_SECONDS, and right after a webhook): due rows
   are leased like the alert claims (one instance at a time), posted with `chat.postMessage` in
   the thread of the confirmation, marked posted, and the confirmation is redrawn ("💬 respondeu",
   never undone by a later delivery status). A Slack failure releases the lease with a backoff.
3. Reactions (`after_statuses`): the agent's own thread messages sent to the customer
   (bot.core.conversation_reply) get a reaction per status, and a thread reply when they fail.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError

from bot.blocks.conversation import CustomerLine, ThreadPost, reply_notice, thread_post
from bot.blocks.text import cut
from bot.bsp.base import InboundMessage
from bot.core.alerts.scheduler import default_instance_id
from bot.core.screen import display_number
from bot.store import contacts, outbound
from bot.store import conversation as rows
from bot.store import windows as window_rows
from bot.store.models import ConversationPost

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler
    from slack_sdk.web.async_client import AsyncWebClient
    from sqlalchemy.orm import Session

    from bot.runtime import Runtime

log = logging.getLogger(__name__)

POLL_SECONDS = 1  # how often the scheduler looks for due posts (one indexed query)
PREVIEW_CHARS = 200
FULL_CHARS = 2500
LEASE = timedelta(seconds=60)
LEASE_BATCH = 200
MAX_ATTEMPTS = 6
SAME_SECOND = timedelta(seconds=1)
# Reactions on the agent's thread message as its delivery status moves.
REACTIONS = {"sent": "heavy_check_mark", "delivered": "white_check_mark", "read": "eyes", "failed": "x"}


# ---- 1. claim -------------------------------------------------------------------------------


def stored_content(message: InboundMessage, show: str) -> dict[str, Any]:
    """What the thread may show of a message, decided once, before anything is stored."""
    content: dict[str, Any] = {"type": message.type}
    if show == "none":
        return content
    limit = PREVIEW_CHARS if show == "preview" else FULL_CHARS
    if message.text:
        content["text"] = cut(message.text.strip(), limit)
    if message.filename:
        content["filename"] = cut(message.filename.strip(), limit)
    return content


def claim_new_replies(
    rt: Runtime, channel_id: str, new_inbound: Sequence[tuple[int, InboundMessage]], now: datetime
) -> int:
    """Claim the newly stored customer messages that belong in a followed thread; how many were
    claimed now (0 for duplicates)."""
    if not rt.config.conversation.enabled or not new_inbound:
        return 0
    with rt.store.session() as session:
        return claim_new_replies_in(session, rt, channel_id, new_inbound, now)


def claim_new_replies_in(
    session: Session,
    rt: Runtime,
    channel_id: str,
    new_inbound: Sequence[tuple[int, InboundMessage]],
    now: datetime,
) -> int:
    """`claim_new_replies` inside the caller's transaction (the drainers': claimed together with
    the delivery that brought the messages, or not at all)."""
    settings = rt.config.conversation
    if not settings.enabled or not new_inbound:
        return 0
    follow = timedelta(days=settings.follow_days)
    batch = timedelta(seconds=settings.batch_seconds)
    claimed = 0
    followed = rows.contacts_with_sends(
        session,
        channel_id,
        [contact_id for contact_id, _ in new_inbound],
        min(message.at for _, message in new_inbound) - follow,
        max(message.at for _, message in new_inbound) + SAME_SECOND,
    )
    for contact_id, message in new_inbound:
        if contact_id not in followed:  # most customers: no send of ours to follow
            continue
        # A reply follows a send of the follow_days before it was written (so a replayed old
        # message goes to the thread it belonged to, and one written before any send to none).
        # WhatsApp's timestamps have whole seconds: a reply within the send's second counts.
        send = rows.followed_send(
            session, channel_id, contact_id, message.at - follow, message.at + SAME_SECOND
        )
        if send is None:
            continue
        due_at = rows.open_burst_due_at(session, channel_id, contact_id, now) or now + batch
        claimed += rows.insert_posts(
            session,
            [
                {
                    "channel_id": channel_id,
                    "message_id": message.message_id,
                    "contact_id": contact_id,
                    "outbound_id": send.id,
                    "at": message.at,
                    "content": stored_content(message, settings.show_customer_text),
                    "claimed_at": now,
                    "due_at": due_at,
                    "attempts": 0,
                }
            ],
        )
    return claimed


# ---- 2. post --------------------------------------------------------------------------------


def _lease(rt: Runtime, now: datetime, instance_id: str) -> list[ConversationPost]:
    with rt.store.session() as session:
        leased = rows.lease_posts(session, now, now + LEASE, instance_id, LEASE_BATCH)
        session.expunge_all()
        return leased


def _post_message(
    rt: Runtime, posts: Sequence[ConversationPost], now: datetime
) -> tuple[str, str, tuple[str, list[dict[str, Any]]]] | None:
    """(Slack channel, thread ts, message) for one thread's leased rows; None when the thread is
    gone (its rows are then dropped)."""
    first = posts[0]
    with rt.store.session() as session:
        send = outbound.get_outbound(session, first.outbound_id)
        if send is None or not send.slack_channel or not send.slack_ts:
            return None
        contact = contacts.get_contact(session, first.contact_id)
        care = window_rows.window_rows_of(session, first.channel_id, [first.contact_id])[
            first.contact_id
        ].get("customer_care")
        number = display_number(contact.e164) if contact and contact.e164 else ""
        label = f"{contact.name} · {number}" if contact and contact.name and number else (number or "?")
        post = ThreadPost(
            contact_label=label,
            lines=[
                CustomerLine(
                    at=p.at,
                    type=str(p.content.get("type") or "text"),
                    text=p.content.get("text"),
                    filename=p.content.get("filename"),
                )
                for p in posts
            ],
            show_text=rt.config.conversation.show_customer_text != "none",
            window_expires_at=care.expires_at if care is not None else None,
            now=now,
            contact_e164=contact.e164 if contact else None,
            channel_id=first.channel_id,
            team_id=send.team_id,
        )
        return send.slack_channel, send.slack_ts, thread_post(rt.config.language, post)


def _settle(rt: Runtime, ids: list[int], ts: str | None, now: datetime) -> None:
    with rt.store.session() as session:
        rows.mark_posted(session, ids, ts, now)


def _retry(rt: Runtime, ids: list[int], attempts: int, now: datetime) -> None:
    with rt.store.session() as session:
        if attempts >= MAX_ATTEMPTS:
            rows.mark_posted(session, ids, None, now)  # given up: logged by the caller
        else:
            rows.mark_failed(session, ids, attempts, now + timedelta(seconds=min(300, 5 * 2**attempts)))


async def post_due(rt: Runtime, client: AsyncWebClient, instance_id: str, now: datetime | None = None) -> int:
    """Post every due burst in its thread, then redraw those confirmations; how many posts."""
    now = now or rt.now()
    leased = await asyncio.to_thread(_lease, rt, now, instance_id)
    by_thread: dict[int, list[ConversationPost]] = defaultdict(list)
    for post in leased:
        by_thread[post.outbound_id].append(post)
    posted: list[int] = []
    for outbound_id, posts in by_thread.items():
        ids = [p.id for p in posts]
        found = await asyncio.to_thread(_post_message, rt, posts, now)
        if found is None:
            await asyncio.to_thread(_settle, rt, ids, None, now)
            continue
        slack_channel, thread_ts, (text, blocks) = found
        try:
            response = await client.chat_postMessage(
                channel=slack_channel, thread_ts=thread_ts, text=text, blocks=blocks, unfurl_links=False
            )
        except Exception as exc:  # Slack down, 429 after retries, ok: false: released, retried later
            attempts = max(p.attempts for p in posts) + 1
            error = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
            log.warning("thread post for outbound %s failed (%s), attempt %d", outbound_id, error, attempts)
            await asyncio.to_thread(_retry, rt, ids, attempts, now)
            continue
        await asyncio.to_thread(_settle, rt, ids, response.get("ts"), now)
        posted.append(outbound_id)
    if posted:
        from bot.core.confirmation import update_confirmations

        await update_confirmations(rt, client, posted)
    return len(posted)


def schedule_posts(scheduler: AsyncIOScheduler, rt: Runtime, client: AsyncWebClient) -> None:
    """Post due bursts every POLL_SECONDS on the app's scheduler (the alerts' one), one run at a
    time; nothing when the feature is off."""
    if not rt.config.conversation.enabled:
        return
    instance_id = f"{default_instance_id()}:conversation"

    async def post_replies() -> None:
        try:
            await post_due(rt, client, instance_id)
        except Exception:  # the next run tries again; never let the job die silently
            log.exception("conversation thread posts failed")

    scheduler.add_job(
        post_replies,
        "interval",
        seconds=POLL_SECONDS,
        id="conversation_posts",
        max_instances=1,
        coalesce=True,
        next_run_time=rt.now(),
        misfire_grace_time=None,
    )


# ---- 3. reactions on the agent's thread messages ---------------------------------------------


def _reaction_targets(
    rt: Runtime, changes: Sequence[tuple[int, str]]
) -> list[tuple[str, str, str, str, str | None]]:
    """(Slack channel, message ts, thread ts, status, failure sentence) for status changes of
    sends that came from a thread message."""
    from bot.core.confirmation import error_sentence

    with rt.store.session() as session:
        places = rows.thread_replies_of(session, [outbound_id for outbound_id, _ in changes])
        targets = []
        for outbound_id, status in changes:
            place = places.get(outbound_id)
            if place is None or status not in REACTIONS:
                continue
            why = None
            if status == "failed":
                row = outbound.get_outbound(session, outbound_id)
                why = error_sentence(rt, row.error_code, row.error_detail) if row is not None else None
            targets.append((*place, status, why))
        return targets


async def after_statuses(rt: Runtime, client: AsyncWebClient, changes: Iterable[tuple[int, str]]) -> None:
    """React on the agent's thread messages whose send moved (and explain a failure in the thread)."""
    targets = await asyncio.to_thread(_reaction_targets, rt, list(changes))
    for slack_channel, ts, thread_ts, status, why in targets:
        try:
            await client.reactions_add(channel=slack_channel, timestamp=ts, name=REACTIONS[status])
            if status == "failed":
                text, blocks = reply_notice(
                    rt.config.language,
                    "failed",
                    error=why or rt.catalog.t("conversation.no_reason"),
                )
                await client.chat_postMessage(
                    channel=slack_channel, thread_ts=thread_ts, text=text, blocks=blocks
                )
        except SlackApiError as exc:
            # already_reacted: a redelivered status; anything else is logged, the send is unchanged
            if exc.response.get("error") != "already_reacted":
                log.warning("reaction %s failed: %s", REACTIONS[status], exc.response.get("error"))
