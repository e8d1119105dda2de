"""Expiry alerts: the scan, the claim, the digest, on APScheduler.

Exactly once, with several app instances on one database, restarts and a flaky Slack:

1. Claim. Every due (window, expiry, Slack channel) becomes one `alert_claims` row, inserted by
   one INSERT .. SELECT with ON CONFLICT DO NOTHING on the unique key (the routing is in the SQL).
   A repeated scan, a restart or a second instance inserts nothing; a window extended by a new
   customer message has a new `expires_at`, hence its own claim (its own alert, later). A scan
   reads the expiries that crossed a lead's edge since the previous one, and the windows
   ingestion queued because they arrived already close to closing (`window_due_queue`).
2. Lease. Unposted claims whose turn has come are leased with one UPDATE .. RETURNING (on
   PostgreSQL the candidate rows are picked FOR UPDATE SKIP LOCKED, and the UPDATE re-checks the
   lease on the locked row), committed before anything is posted: only one instance holds a claim.
   A lease that runs out (the instance died between lease and post) makes the claim pending again.
3. Post. One digest `chat.postMessage` per Slack channel (more only past Slack's 50 blocks), then
   `posted_at`/`slack_ts` are written. On a Slack failure (HTTP 5xx, 429, `ok: false`, network) the
   claims get `next_attempt_at` (Retry-After when Slack gives one, else exponential backoff) and
   the lease is released: retried, never lost.

The one gap no database can close: an instance that dies after Slack accepted a post and before
`posted_at` is written; that digest is posted again when the lease runs out (short: LEASE).

The package: `scan` (claims, leases, what each alert says; App Home's `due_items`), `digest`
(posting to Slack, retries) and `scheduler` (`run_scan` and the APScheduler job).
"""

from __future__ import annotations

from bot.blocks.alerts import RESUME_ACTION_ID, AlertItem
from bot.core.alerts.digest import BACKOFF_BASE, BACKOFF_MAX, backoff
from bot.core.alerts.scan import (
    LEASE,
    LEASE_BATCH,
    ScanCursor,
    ScanResult,
    claim_due,
    due_items,
    lease,
)
from bot.core.alerts.scheduler import MAX_ROUNDS, default_instance_id, run_scan, start_scheduler
from bot.rules.windows import WINDOW_KINDS as KINDS

__all__ = [
    "BACKOFF_BASE",
    "BACKOFF_MAX",
    "KINDS",
    "LEASE",
    "LEASE_BATCH",
    "MAX_ROUNDS",
    "RESUME_ACTION_ID",
    "AlertItem",
    "ScanCursor",
    "ScanResult",
    "backoff",
    "claim_due",
    "default_instance_id",
    "due_items",
    "lease",
    "run_scan",
    "start_scheduler",
]
