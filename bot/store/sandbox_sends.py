"""The `sandbox_sends` table: what the built-in sandbox BSP was asked to send."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.store.db import Store
from bot.store.models import SandboxSend


def record_send(
    store: Store,
    *,
    channel_id: str,
    to: str,
    kind: str,
    payload: dict[str, Any],
    message_id: str,
    at: datetime,
) -> None:
    """Keep one sandbox send (`kind` template | text) with the body Meta's /messages would get."""
    with store.session() as session:
        session.add(
            SandboxSend(
                channel_id=channel_id, to=to, kind=kind, payload=payload, message_id=message_id, created_at=at
            )
        )
