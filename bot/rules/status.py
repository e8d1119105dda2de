"""Delivery statuses of an outbound message and the one rule for which one wins.

A message's status only moves forward. Which status wins depends only on the set of statuses
seen, never on the order they arrive in (webhooks come shuffled and repeated): `failed` beats
sent/delivered (it is an end state) but never read/played, which prove the message arrived.
"""

from __future__ import annotations

from enum import StrEnum


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # recorded, not handed to the BSP yet
    ACCEPTED = "accepted"  # the BSP took it
    UNKNOWN = "unknown"  # the BSP call timed out: the outcome is not known
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    PLAYED = "played"  # a voice message listened to
    FAILED = "failed"


# THE precedence table: a status replaces the current one only when it stands higher here.
PRECEDENCE: dict[DeliveryStatus, float] = {
    DeliveryStatus.PENDING: 0,
    DeliveryStatus.ACCEPTED: 1,
    DeliveryStatus.UNKNOWN: 1,
    DeliveryStatus.SENT: 2,
    DeliveryStatus.DELIVERED: 3,
    DeliveryStatus.FAILED: 3.5,
    DeliveryStatus.READ: 4,
    DeliveryStatus.PLAYED: 5,
}


def is_ranked(status: str) -> bool:
    """A status the precedence knows (providers may report others; those are ignored)."""
    return status in PRECEDENCE


def supersedes(new: str, current: str) -> bool:
    """`new` replaces `current` (an unknown `current` counts as pending; an unknown `new` never wins)."""
    known_new, known_current = _known(new), _known(current)
    if known_new is None:
        return False
    return PRECEDENCE[known_new] > (PRECEDENCE[known_current] if known_current is not None else 0)


def stored_rank(status: str) -> int:
    """The number kept in `outbound_messages.status_rank`, derived from the table above: the
    whole step of the status, except `failed`, an end state, stored after every other step (6).
    These are the values rows have held since the first migration, so old and new rows agree."""
    known = _known(status)
    if known is None:
        return 0
    if known is DeliveryStatus.FAILED:
        return int(max(PRECEDENCE.values())) + 1
    return int(PRECEDENCE[known])


def _known(status: str) -> DeliveryStatus | None:
    try:
        return DeliveryStatus(status)
    except ValueError:
        return None
