"""bot.rules.status: one precedence for delivery statuses, and the rank stored with each row."""

from __future__ import annotations

import itertools

import pytest

from bot.rules.status import PRECEDENCE, DeliveryStatus, is_ranked, stored_rank, supersedes


def final(statuses: tuple[str, ...]) -> str:
    current = "accepted"
    for status in statuses:
        if supersedes(status, current):
            current = status
    return current


@pytest.mark.parametrize(
    ("seen", "wins"),
    [
        (("sent", "delivered", "read"), "read"),
        (("sent", "failed"), "failed"),
        (("delivered", "failed"), "failed"),
        (("read", "failed"), "read"),  # read proves the message arrived
        (("failed", "played"), "played"),
        (("sent", "made_up"), "sent"),
    ],
)
def test_the_winner_depends_only_on_the_set_seen(seen: tuple[str, ...], wins: str) -> None:
    assert {final(order) for order in itertools.permutations(seen)} == {wins}


def test_every_status_is_ranked_once_and_unknown_ones_never_win() -> None:
    assert set(PRECEDENCE) == set(DeliveryStatus)
    assert not is_ranked("made_up") and is_ranked("played")
    assert not supersedes("made_up", "pending")
    assert supersedes("sent", "made_up")  # an unknown current status counts as pending


def test_stored_ranks_keep_the_values_rows_already_hold() -> None:
    assert {s.value: stored_rank(s) for s in DeliveryStatus} == {
        "pending": 0,
        "accepted": 1,
        "unknown": 1,
        "sent": 2,
        "delivered": 3,
        "read": 4,
        "played": 5,
        "failed": 6,
    }
    assert stored_rank("made_up") == 0
