"""The facts the window and pricing rules are computed from.

These are the normalised, provider-independent events. Providers parse their webhooks into
`bot.bsp.base` events; the store keeps them; `bot.rules.windows` turns a set of them plus a
time into what is open. All datetimes are timezone-aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Category(StrEnum):
    """Meta's message categories, in the order the screen shows them."""

    SERVICE = "service"
    AUTHENTICATION = "authentication"
    UTILITY = "utility"
    MARKETING = "marketing"


@dataclass(frozen=True)
class CustomerMessage:
    """A message from the customer (any type but `system`): opens/extends the 24 h window.

    `at` is the payload's timestamp, never the receipt time. `from_ad` is true when the message
    carries a Click-to-WhatsApp `referral` (ad or page button).
    """

    message_id: str
    at: datetime
    from_ad: bool = False


@dataclass(frozen=True)
class BusinessMessage:
    """A message we sent (accepted by the BSP at `at`): a reply that may open the FEP."""

    message_id: str
    at: datetime


@dataclass(frozen=True)
class ConversationSeen:
    """A status webhook's `conversation` object with an expiry (CBP, or an FEP under PMP).

    `origin` is Meta's `conversation.origin.type` normalised: a `Category` value, or
    "referral_conversion" for the free entry point.
    """

    conversation_id: str
    origin: str
    expires_at: datetime


Event = CustomerMessage | BusinessMessage | ConversationSeen
