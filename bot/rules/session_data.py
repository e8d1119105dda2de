"""How much of Meta's window data a channel's provider gives us: a domain fact the screen, the
windows report and the send checks reason about, so it lives with the rules, not with the BSPs."""

from __future__ import annotations

from enum import StrEnum


class SessionData(StrEnum):
    """How much of Meta's window data a provider gives us."""

    FULL = "full"  # conversation, pricing and referral pass through (Cloud API envelope)
    DERIVED = "derived"  # only customer messages: windows derived from their times
    NONE = "none"  # templates only: the screen says so
