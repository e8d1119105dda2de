"""The conversation in the thread of the agent's confirmation: the customer's replies (one post
per burst), and what the app answers about the agent's own thread messages.

Everything the customer wrote is escaped (`escape_mrkdwn`), in the blocks and in the fallback
text alike: `<!channel>`, `<@U123>` or `<https://evil.example|banco>` show as typed and can
never mention anyone or hide a link target. What of it is kept at all is decided before it is
stored (`bot.core.conversation`, `conversation.show_customer_text`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.blocks.text import Texts, cut, escape_mrkdwn, mrkdwn, plain, single_line

REPLY_ACTION_ID = "conversation_reply"  # "Responder": the screen with free text chosen
TEMPLATES_ACTION_ID = "conversation_templates"  # window closed: the screen with the templates
LINE_TEXT = 2500  # one message's text in the post (full mode); the section caps at 3000
FALLBACK_TEXT = 300
MAX_LINES = 20  # a long burst shows its last messages; the rest is counted

# Message types with a line of their own (`conversation.kind.<type>`); others say their type.
_KINDS = {"text", "image", "video", "audio", "document", "sticker", "location", "contacts", "reaction"}


@dataclass(frozen=True)
class CustomerLine:
    """One customer message as stored for the thread: its type and only the text allowed."""

    at: datetime
    type: str
    text: str | None = None  # body, caption, button text or emoji (None under show_customer_text: none)
    filename: str | None = None


@dataclass(frozen=True)
class ThreadPost:
    contact_label: str
    lines: list[CustomerLine]
    show_text: bool  # False under show_customer_text: none (only that the customer replied)
    window_expires_at: datetime | None  # the customer service window, None when not open
    now: datetime
    contact_e164: str | None
    channel_id: str
    team_id: str


def _content(tx: Texts, line: CustomerLine, show_text: bool) -> str:
    """The message as one mrkdwn line (escaped): its text, or what kind of message it was."""
    text = escape_mrkdwn(single_line(line.text or "")) if show_text else ""
    name = escape_mrkdwn(single_line(line.filename or "")) if show_text else ""
    kind = line.type
    if kind == "text":
        return cut(text, LINE_TEXT) if text else tx.t("conversation.kind.text_hidden")
    if kind in ("button", "interactive"):
        if text:
            return tx.t("conversation.kind.button", text=cut(text, 200))
        return tx.t("conversation.kind.flow" if kind == "interactive" else "conversation.kind.button_hidden")
    if kind in _KINDS:
        detail = cut(name or text, 300)
        key = f"conversation.kind.{kind}"
        return tx.t(key + "_detail", detail=detail) if detail else tx.t(key)
    return tx.t("conversation.kind.other", type=escape_mrkdwn(cut(kind, 40)))


def _value(post: ThreadPost, **extra: str) -> str:
    return json.dumps(
        {"contact": post.contact_e164, "channel": post.channel_id, "team": post.team_id, **extra},
        separators=(",", ":"),
    )


def thread_post(lang: str, post: ThreadPost) -> tuple[str, list[dict[str, Any]]]:
    """Fallback text and blocks of one thread post: who wrote, when, what; the window now; and
    "Responder"."""
    tx = Texts(lang)
    contact = cut(single_line(post.contact_label), 200)
    header = tx.md("conversation.post.header", contact=contact)
    shown = post.lines[-MAX_LINES:]
    rows = [
        f"• {tx.time(line.at)}" + (f" · {_content(tx, line, post.show_text)}" if post.show_text else "")
        for line in shown
    ]
    if len(post.lines) > len(shown):
        rows.insert(0, tx.t("conversation.post.more", count=len(post.lines) - len(shown)))
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": mrkdwn(header + "\n" + "\n".join(rows))},
    ]
    if post.window_expires_at is not None and post.window_expires_at > post.now:
        # tx.t, not tx.md: both values are the app's own (a duration and a <!date^…> token).
        window = tx.t(
            "conversation.post.window_open",
            left=tx.remaining((post.window_expires_at - post.now).total_seconds()),
            until=tx.time(post.window_expires_at),
        )
    else:
        window = tx.md("conversation.post.window_unknown")
    blocks.append({"type": "context", "elements": [mrkdwn(window)]})
    blocks.append(
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": REPLY_ACTION_ID,
                    "text": plain(tx.t("conversation.post.reply_button"), 75),
                    "style": "primary",
                    "value": _value(post, mode="free_text"),
                }
            ],
        }
    )
    fallback = tx.t("conversation.post.fallback", contact=escape_mrkdwn(contact))
    return cut(fallback, FALLBACK_TEXT), blocks


def window_closed_notice(
    lang: str, *, closed_at: datetime | None, contact_e164: str | None, channel_id: str, team_id: str
) -> tuple[str, list[dict[str, Any]]]:
    """The ephemeral answer when the agent wrote in the thread with the window closed: why nothing
    was sent, and a button to the screen with the templates."""
    tx = Texts(lang)
    if closed_at is not None:
        # tx.t: the token is the app's own markup, which tx.md would escape.
        why = tx.t("conversation.closed.since", closed=tx.time(closed_at))
    else:
        why = tx.md("conversation.closed.never")
    value = json.dumps(
        {"contact": contact_e164, "channel": channel_id, "team": team_id, "mode": "template"},
        separators=(",", ":"),
    )
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": mrkdwn(why + "\n" + tx.md("conversation.closed.what_to_do"))},
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": TEMPLATES_ACTION_ID,
                    "text": plain(tx.t("conversation.closed.button"), 75),
                    "value": value,
                }
            ],
        },
    ]
    return cut(tx.t("conversation.closed.fallback"), FALLBACK_TEXT), blocks


def reply_notice(lang: str, key: str, **params: str) -> tuple[str, list[dict[str, Any]]]:
    """A short answer in the thread about the agent's message (`conversation.<key>`; params are
    escaped)."""
    tx = Texts(lang)
    return cut(tx.md(f"conversation.{key}", **params), FALLBACK_TEXT), [
        {"type": "section", "text": mrkdwn(tx.md(f"conversation.{key}", **params))}
    ]
