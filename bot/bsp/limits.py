"""Accept only what can be stored: every parsed event checked against the columns it goes into,
before the webhook answers 200.

The decision (README, webhook section): a body whose *shape* is wrong is refused whole (422, as
before); an event whose *values* the store cannot keep is dropped alone and named in the 200's
`dropped` list, so its valid siblings are still stored and applied. Which values:

- identifiers (message ids, wa_ids, BSUIDs, statuses, conversation ids) with a NUL, another
  control character or a lone surrogate, or longer than their column: the event is dropped (an id
  that is not what WhatsApp sent cannot be matched to anything anyway);
- free text (profile name, error titles and details, referral fields, message text): NULs and
  lone surrogates removed and cut to the column, never a reason to drop;
- an event whose body has no time (Twilio) is timed at the receipt time;
- times before 2010 (no WhatsApp Business API then): dropped; times more than `FUTURE_SKEW` ahead of
  the receipt time: clamped to the receipt time (a customer's clock, or a forged body, must not
  stretch a window past what `sessions` shows); a conversation expiry more than `MAX_EXPIRY_AHEAD`
  ahead: the conversation is left out of the status (the status itself is kept).

Pure: the receipt time is passed in. The same screen runs at the endpoint and when a stored body is
parsed again (after a restart, `webhook replay`), with the delivery's own receipt time, so both give
the same events.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.bsp.base import (
    InboundMessage,
    NumberChanged,
    ProviderError,
    StatusUpdate,
    WebhookEvent,
)

log = logging.getLogger(__name__)

# Column widths (bot/store/models.py; tests/bsp/test_limits.py checks they agree).
MESSAGE_ID_MAX = 255  # customer_events.ref, status_events.message_id, outbound bsp_message_id
STATUS_MAX = 16  # status_events.status
WA_ID_MAX = 32  # contacts.wa_id
USER_ID_MAX = 128  # contacts.user_id
NAME_MAX = 256  # contacts.name
ERROR_CODE_MAX = 64  # outbound_messages.error_code
TEXT_MAX = 65_536  # free text kept in JSON / Text columns: generous, but bounded

EARLIEST = datetime(2010, 1, 1, tzinfo=UTC)
FUTURE_SKEW = timedelta(minutes=5)
MAX_EXPIRY_AHEAD = timedelta(days=7)  # Meta's conversations last 24 h (72 h from an ad)

# Field names as Meta's JSON spells them, for the path in `dropped` (other providers: the attribute).
_META_NAMES = {
    "message_id": "id",
    "wa_id": "from",
    "user_id": "from_user_id",
    "at": "timestamp",
    "status": "status",
    "recipient_wa_id": "recipient_id",
    "recipient_user_id": "recipient_user_id",
    "conversation_id": "conversation.id",
    "old_wa_id": "from",
    "new_wa_id": "system.wa_id",
}


@dataclass(frozen=True)
class Dropped:
    """An event left out: where it was read and why (no value: it may hold personal data)."""

    path: str
    problem: str

    def to_dict(self) -> dict[str, str]:
        """JSON for the 200's `dropped` list."""
        return {"path": self.path, "problem": self.problem}


@dataclass
class Screened:
    """The events to store and apply, what was dropped, and how many times were clamped."""

    events: list[WebhookEvent] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)
    clamped: int = 0


class _Unstorable(Exception):
    def __init__(self, attribute: str, problem: str) -> None:
        super().__init__(problem)
        self.attribute = attribute
        self.problem = problem


def screen_events(events: list[WebhookEvent], received_at: datetime) -> Screened:
    """Check, clean and clamp one body's events (see the module docstring)."""
    result = Screened()
    latest = received_at + FUTURE_SKEW
    expiry_limit = received_at + MAX_EXPIRY_AHEAD
    for index, event in enumerate(events):
        if (type(event) is StatusUpdate and _status_kept_as_is(event, latest, expiry_limit)) or (
            type(event) is InboundMessage and _inbound_kept_as_is(event, latest)
        ):
            result.events.append(event)
            continue
        try:
            checked, clamped = _screen(event, received_at)
        except _Unstorable as exc:
            source = getattr(event, "source", "")
            name = _META_NAMES.get(exc.attribute, exc.attribute) if source else exc.attribute
            path = f"{source}.{name}" if source else f"events[{index}].{exc.attribute}"
            result.dropped.append(Dropped(path, exc.problem))
            # A stable message (counted by whoever reads the logs); the value is never printed.
            log.warning("webhook event dropped: %s: %s", path, exc.problem)
            continue
        result.events.append(checked)
        result.clamped += clamped
    if result.clamped:
        log.warning("webhook event timestamps clamped to receipt time: %d", result.clamped)
    return result


# Nearly every event needs nothing: its identifiers fit and hold no control character, its text needs
# no cleaning, its times are in range. These two say so in one pass over the event's values (one
# regex search over them all, no copy); only when they cannot is it screened field by field by
# `_screen`, which then decides exactly as it always did. Each condition is one of `_screen`'s
# checks passed, so an event they keep is one `_screen` would return unchanged (and unclamped).


def _status_kept_as_is(event: StatusUpdate, latest: datetime, expiry_limit: datetime) -> bool:
    message_id, status, wa_id = event.message_id, event.status, event.recipient_wa_id
    user_id, conversation_id = event.recipient_user_id, event.conversation_id
    model, category, expires = event.pricing_model, event.pricing_category, event.conversation_expires_at
    return (
        type(message_id) is str
        and 0 < len(message_id) <= MESSAGE_ID_MAX
        and type(status) is str
        and 0 < len(status) <= STATUS_MAX
        and type(wa_id) is str
        and len(wa_id) <= WA_ID_MAX
        and (user_id is None or (type(user_id) is str and len(user_id) <= USER_ID_MAX))
        and (
            conversation_id is None
            or (type(conversation_id) is str and len(conversation_id) <= MESSAGE_ID_MAX)
        )
        and (model is None or (type(model) is str and 0 < len(model) <= ERROR_CODE_MAX))
        and (category is None or (type(category) is str and 0 < len(category) <= ERROR_CODE_MAX))
        and not event.errors
        and not event.at_receipt
        # Free text's forbidden characters are among the identifiers': one search covers both.
        and _BAD_IN_IDENT.search(
            f"{message_id}{status}{wa_id}{user_id or ''}{conversation_id or ''}{model or ''}{category or ''}"
        )
        is None
        # Times last, as `_screen` compares them after the identifiers.
        and EARLIEST <= event.at <= latest
        and (expires is None or EARLIEST <= expires <= expiry_limit)
    )


def _inbound_kept_as_is(event: InboundMessage, latest: datetime) -> bool:
    message_id, wa_id, user_id, context_id = event.message_id, event.wa_id, event.user_id, event.context_id
    kind, name, text = event.type, event.profile_name, event.text
    return (
        type(message_id) is str
        and 0 < len(message_id) <= MESSAGE_ID_MAX
        and type(wa_id) is str
        and len(wa_id) <= WA_ID_MAX
        and (user_id is None or (type(user_id) is str and len(user_id) <= USER_ID_MAX))
        and (context_id is None or (type(context_id) is str and len(context_id) <= MESSAGE_ID_MAX))
        and type(kind) is str
        and 0 < len(kind) <= STATUS_MAX
        and (name is None or (type(name) is str and 0 < len(name) <= NAME_MAX))
        and (text is None or (type(text) is str and 0 < len(text) <= TEXT_MAX))
        and event.referral is None  # cleaned into a new dict whatever it holds
        and not event.at_receipt
        and _BAD_IN_IDENT.search(f"{message_id}{wa_id}{user_id or ''}{context_id or ''}") is None
        and _BAD_IN_TEXT.search(f"{kind}{name or ''}{text or ''}") is None
        and EARLIEST <= event.at <= latest  # last, as `_screen` compares it after the identifiers
    )


def _screen(event: WebhookEvent, received_at: datetime) -> tuple[WebhookEvent, int]:
    if isinstance(event, InboundMessage):
        _ident(event, "message_id", MESSAGE_ID_MAX, required=True)
        _ident(event, "wa_id", WA_ID_MAX)
        _ident(event, "user_id", USER_ID_MAX)
        _ident(event, "context_id", MESSAGE_ID_MAX, required=False, drop=False)
        at, clamped = _time(event, "at", received_at)
        return (
            _with(
                event,
                at=at,
                type=clean_text(event.type, STATUS_MAX) or "unknown",
                profile_name=clean_text(event.profile_name, NAME_MAX),
                text=clean_text(event.text, TEXT_MAX),
                referral=_clean_json(event.referral) if event.referral is not None else None,
                context_id=event.context_id if _storable(event.context_id, MESSAGE_ID_MAX) else None,
            ),
            clamped,
        )
    if isinstance(event, StatusUpdate):
        _ident(event, "message_id", MESSAGE_ID_MAX, required=True)
        _ident(event, "status", STATUS_MAX, required=True)
        _ident(event, "recipient_wa_id", WA_ID_MAX)
        _ident(event, "recipient_user_id", USER_ID_MAX)
        _ident(event, "conversation_id", MESSAGE_ID_MAX)
        at, clamped = _time(event, "at", received_at)
        expires = event.conversation_expires_at
        conversation_id = event.conversation_id
        if expires is not None and not (EARLIEST <= expires <= received_at + MAX_EXPIRY_AHEAD):
            expires = conversation_id = None
            clamped += 1
        return (
            _with(
                event,
                at=at,
                conversation_id=conversation_id,
                conversation_expires_at=expires,
                pricing_model=clean_text(event.pricing_model, ERROR_CODE_MAX),
                pricing_category=clean_text(event.pricing_category, ERROR_CODE_MAX),
                errors=_clean_errors(event.errors),
            ),
            clamped,
        )
    if isinstance(event, NumberChanged):
        _ident(event, "message_id", MESSAGE_ID_MAX)
        _ident(event, "old_wa_id", WA_ID_MAX)
        _ident(event, "new_wa_id", WA_ID_MAX, required=True)
        at, clamped = _time(event, "at", received_at)
        return _with(event, at=at), clamped
    return event, 0


# What an identifier must not hold: a control character (NUL included), DEL, a lone surrogate.
# One regex search, not a Python test per character: every event of every webhook goes through it.
_BAD_IN_IDENT = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")
# What free text loses: NULs (PostgreSQL text cannot hold one) and lone surrogates (not UTF-8).
_BAD_IN_TEXT = re.compile("[\x00\ud800-\udfff]")


def _storable(value: str | None, limit: int) -> bool:
    return value is None or (len(value) <= limit and _BAD_IN_IDENT.search(value) is None)


def _ident(event: Any, attribute: str, limit: int, *, required: bool = False, drop: bool = True) -> None:
    value = getattr(event, attribute)
    if value is None or value == "":
        if required:
            raise _Unstorable(attribute, "empty")
        return
    if not drop:
        return
    if not isinstance(value, str):
        raise _Unstorable(attribute, "not a string")
    if len(value) > limit:
        raise _Unstorable(attribute, f"longer than {limit} characters")
    if _BAD_IN_IDENT.search(value) is not None:
        raise _Unstorable(attribute, "contains a control character or a lone surrogate")


def _time(event: Any, attribute: str, received_at: datetime) -> tuple[datetime, int]:
    if getattr(event, "at_receipt", False):
        return received_at, 0
    value: datetime = getattr(event, attribute)
    if value < EARLIEST:
        raise _Unstorable(attribute, "before 2010")
    if value > received_at + FUTURE_SKEW:
        return received_at, 1
    return value, 0


def clean_text(value: str | None, limit: int) -> str | None:
    """Free text as the store can keep it: no NUL, no lone surrogate, at most `limit` characters."""
    if value is None:
        return None
    if _BAD_IN_TEXT.search(value) is not None:
        value = _BAD_IN_TEXT.sub("", value)
    return value[:limit] or None


def _with(event: Any, **values: Any) -> Any:
    """`event` with `values`; the event itself when each value is already the very object it holds
    (the usual case: nothing needed cleaning), sparing a copy (events are frozen)."""
    if all(getattr(event, name) is value for name, value in values.items()):
        return event
    return replace(event, **values)


def _clean_errors(errors: tuple[ProviderError, ...]) -> tuple[ProviderError, ...]:
    cleaned = tuple(_clean_error(error) for error in errors)
    return errors if all(a is b for a, b in zip(cleaned, errors, strict=True)) else cleaned


def _clean_error(error: ProviderError) -> ProviderError:
    return _with(
        error,
        code=clean_text(error.code, ERROR_CODE_MAX) or "unknown",
        title=clean_text(error.title, TEXT_MAX) or "",
        detail=clean_text(error.detail, TEXT_MAX) or "",
    )


def _clean_json(value: Any) -> Any:
    """A referral (JSON column) with every string, key included, cleaned."""
    if isinstance(value, Mapping):
        return {clean_text(str(k), TEXT_MAX) or "": _clean_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean_json(v) for v in value]
    if isinstance(value, str):
        return clean_text(value, TEXT_MAX) or ""
    return value
