"""Retention (LGPD): delete what is no longer needed, never what is still to be processed.

- Webhook bodies hold customers' numbers and texts. A processed one (ingested, no error) is only
  kept for `webhook replay`; one not processed yet, or whose processing recorded an error, is
  never deleted here: it is the only copy of what the BSP sent.
- Texts agents wrote (free text, template variable values), the ad referrals of customer
  events, and the sandbox's copies of what it "sent" are emptied or deleted past their age; the
  facts the windows, alerts and spend are computed from (times, kinds, ids, prices) are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, null, or_, update
from sqlalchemy.orm import Session

from bot.store.models import CustomerEvent, OutboundMessage, SandboxSend, WebhookDelivery


@dataclass
class Pruned:
    """What one prune removed (row counts)."""

    webhook_bodies: int = 0  # processed deliveries deleted
    message_texts: int = 0  # outbound messages whose text/variables were emptied
    referrals: int = 0  # customer events whose ad referral was emptied
    sandbox_sends: int = 0  # sandbox copies deleted

    def to_dict(self) -> dict[str, int]:
        return dict(vars(self))


def delete_processed_deliveries(session: Session, received_before: datetime) -> int:
    """Delete deliveries received before the cut-off that were processed without error."""
    result = session.execute(
        delete(WebhookDelivery).where(
            WebhookDelivery.received_at < received_before,
            WebhookDelivery.processed_at.is_not(None),
            WebhookDelivery.error.is_(None),
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def scrub_message_texts(session: Session, created_before: datetime) -> tuple[int, int, int]:
    """Empty the texts of messages older than the cut-off: (outbound, customer events, sandbox)."""
    outbound = session.execute(
        update(OutboundMessage)
        .where(
            OutboundMessage.created_at < created_before,
            or_(OutboundMessage.text.is_not(None), OutboundMessage.parameters.is_not(None)),
        )
        .values(text=None, parameters=null())  # SQL NULL, not JSON null
    )
    referrals = session.execute(
        update(CustomerEvent)
        .where(CustomerEvent.at < created_before, CustomerEvent.data.is_not(None))
        .values(data=null())
    )
    sandbox = session.execute(delete(SandboxSend).where(SandboxSend.created_at < created_before))
    return (
        int(outbound.rowcount or 0),  # type: ignore[attr-defined]
        int(referrals.rowcount or 0),  # type: ignore[attr-defined]
        int(sandbox.rowcount or 0),  # type: ignore[attr-defined]
    )
