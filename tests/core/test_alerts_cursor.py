"""Incremental expiry scans: each scan reads only the windows that became due since the previous
one, yet no window is ever skipped (every team's lead), and a late arrival is caught by the
periodic full sweep."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from bot.config import load_config
from bot.core.alerts import FULL_SWEEP_EVERY, ScanCursor, claim_due
from bot.store.db import Store
from bot.store.models import AlertClaim, Contact, Window

CONFIG = """
teams:
  - id: longa
    name: Lead de 60 min
    members: [U1]
    alert_channel: CLONG
    alert_lead_minutes: 60
    channels: [sandbox]
  - id: curta
    name: Lead de 10 min
    members: [U2]
    alert_channel: CSHORT
    alert_lead_minutes: 10
    channels: [sandbox]
channels:
  - id: sandbox
    name: Sandbox
    number: "+55 11 4000-0000"
    bsp: sandbox
"""
T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SCAN = timedelta(seconds=30)


def add_window(store: Store, n: int, expires_at: datetime) -> None:
    with store.session() as session:
        contact = Contact(
            e164=f"+55119{70000000 + n}", phone_key=f"+55119{70000000 + n}", created_at=T0, updated_at=T0
        )
        session.add(contact)
        session.flush()
        session.add(
            Window(
                channel_id="sandbox",
                contact_id=contact.id,
                kind="customer_care",
                opened_at=expires_at - timedelta(hours=24),
                expires_at=expires_at,
                updated_at=T0,
            )
        )


def claims(store: Store) -> list[tuple[int, str]]:
    with store.session() as session:
        return sorted((c.contact_id, c.slack_channel) for c in session.scalars(select(AlertClaim)))


def scan(store: Store, config: object, cursor: ScanCursor, now: datetime) -> int:
    since = cursor.since_for(now)
    with store.session() as session:
        new = claim_due(session, config, now, since=since)
    cursor.scanned(now, full=since is None)
    return new


def test_incremental_scans_claim_every_window_once_for_every_lead(tmp_path: Path, db_url: str) -> None:
    (tmp_path / "contato.yml").write_text(CONFIG)
    config = load_config(tmp_path / "contato.yml")
    store = Store.from_url(db_url)
    store.migrate()
    # Expiries spread over the next 90 minutes, one every 37 s (never on a scan boundary).
    for n in range(146):
        add_window(store, n, T0 + timedelta(seconds=37 * n + 1))
    cursor = ScanCursor()
    now = T0
    while now <= T0 + timedelta(minutes=95):
        scan(store, config, cursor, now)
        now += SCAN
    got = claims(store)
    # Every window got one claim for each team, each made while it was within that team's lead.
    assert len(got) == 2 * 146 and len(set(got)) == len(got)
    with store.session() as session:
        for claim in session.scalars(select(AlertClaim)):
            lead = timedelta(minutes=60 if claim.slack_channel == "CLONG" else 10)
            assert claim.expires_at - lead <= claim.claimed_at < claim.expires_at
            assert claim.claimed_at > claim.expires_at - lead - SCAN  # not later than one scan
    store.dispose()


def test_a_window_arriving_inside_a_scanned_range_is_caught_by_the_full_sweep(
    tmp_path: Path, db_url: str
) -> None:
    (tmp_path / "contato.yml").write_text(CONFIG)
    config = load_config(tmp_path / "contato.yml")
    store = Store.from_url(db_url)
    store.migrate()
    cursor = ScanCursor()
    scan(store, config, cursor, T0)  # full sweep
    # A customer message delivered late by the BSP: its window closes in 40 min, already inside
    # the range the long-lead team's edge has passed.
    add_window(store, 1, T0 + timedelta(minutes=40))
    assert scan(store, config, cursor, T0 + SCAN) == 0  # incremental: not in the new slice
    later = T0 + FULL_SWEEP_EVERY
    assert cursor.since_for(later) is None  # time for a full sweep
    assert scan(store, config, cursor, later) == 1
    assert [channel for _, channel in claims(store)] == ["CLONG"]
    store.dispose()
