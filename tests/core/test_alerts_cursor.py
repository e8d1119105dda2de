"""Incremental expiry scans: each scan reads only the windows that became due since the previous
one, yet no window is ever skipped (every team's lead), and a late arrival (already inside the
lead when ingested) is claimed by the very next scan, in whichever order ingestion and the scan
commit."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from bot.bsp.base import InboundMessage
from bot.config import load_config
from bot.core.alerts import ScanCursor, claim_due
from bot.core.ingest import ingest_events
from bot.store.db import Store
from bot.store.models import AlertClaim, Contact, Window, WindowDueQueue

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


def late_message(n: int, wrote_at: datetime) -> InboundMessage:
    """A customer message the BSP delivers long after it was written."""
    return InboundMessage(message_id=f"wamid.late.{n}", wa_id=f"55119{80000000 + n}", at=wrote_at, text="Oi")


def test_a_window_arriving_inside_a_scanned_range_is_claimed_by_the_next_scan(
    tmp_path: Path, db_url: str
) -> None:
    (tmp_path / "contato.yml").write_text(CONFIG)
    config = load_config(tmp_path / "contato.yml")
    store = Store.from_url(db_url)
    store.migrate()
    cursor = ScanCursor()
    scan(store, config, cursor, T0)
    scan(store, config, cursor, T0 + SCAN)
    # Written 23 h 20 min ago, delivered now: its window closes in 40 min, a range the long-lead
    # team's edge passed before the message arrived.
    ingest_events(store, "sandbox", [late_message(1, T0 + SCAN - timedelta(hours=23, minutes=20))], T0 + SCAN)
    assert scan(store, config, cursor, T0 + 2 * SCAN) == 1
    assert [channel for _, channel in claims(store)] == ["CLONG"]
    # The short-lead team's turn comes when its own edge gets there, once.
    now = T0 + 2 * SCAN
    while now < T0 + timedelta(minutes=45):
        now += SCAN
        scan(store, config, cursor, now)
    assert sorted(channel for _, channel in claims(store)) == ["CLONG", "CSHORT"]
    store.dispose()


def test_a_late_window_committed_after_the_scan_passed_its_edge_is_not_lost(
    tmp_path: Path, db_url: str
) -> None:
    """Ingestion reads its clock, a scan runs with a later clock, and only then does ingestion
    commit: the window's expiry is already behind the scan's edge. The next scan claims it."""
    (tmp_path / "contato.yml").write_text(CONFIG)
    config = load_config(tmp_path / "contato.yml")
    store = Store.from_url(db_url)
    store.migrate()
    cursor = ScanCursor()
    scan(store, config, cursor, T0)
    ingested_at = T0 + SCAN  # ingestion's `now`, read before the scans below
    # Closes at T0 + 61 min: outside the long lead at T0 + 30 s, inside it by T0 + 90 s.
    wrote_at = T0 + timedelta(minutes=61) - timedelta(hours=24)
    scan(store, config, cursor, T0 + 2 * SCAN)  # its edge passes; the window is not written yet
    scan(store, config, cursor, T0 + 3 * SCAN)
    assert claims(store) == []
    # Commits only now, with the config's lead as serve passes it.
    ingest_events(
        store,
        "sandbox",
        [late_message(2, wrote_at)],
        ingested_at,
        longest_alert_lead=config.longest_alert_lead,
    )
    assert scan(store, config, cursor, T0 + 4 * SCAN) == 1
    assert [channel for _, channel in claims(store)] == ["CLONG"]
    with store.session() as session:
        assert session.scalars(select(WindowDueQueue)).all() == []  # consumed
    store.dispose()


def test_a_window_ingested_far_from_its_edge_is_not_queued_and_its_edge_claims_it(
    tmp_path: Path, db_url: str
) -> None:
    """The usual window (a message just written, 24 h to go) costs ingestion nothing extra."""
    (tmp_path / "contato.yml").write_text(CONFIG)
    config = load_config(tmp_path / "contato.yml")
    store = Store.from_url(db_url)
    store.migrate()
    ingest_events(store, "sandbox", [late_message(3, T0)], T0, longest_alert_lead=config.longest_alert_lead)
    with store.session() as session:
        assert session.scalars(select(WindowDueQueue)).all() == []
    cursor = ScanCursor()
    now = T0
    while now < T0 + timedelta(hours=23, minutes=1):
        scan(store, config, cursor, now)
        now += timedelta(minutes=10)
    assert [channel for _, channel in claims(store)] == ["CLONG"]
    store.dispose()


def test_a_scan_running_while_ingestion_has_not_committed_leaves_its_window_to_the_next_scan(
    tmp_path: Path, pg_url: str
) -> None:
    """On PostgreSQL, truly concurrent: ingestion has written the window and its queue row but not
    committed when a scan runs (it sees neither); once ingestion commits, the next scan claims it."""
    (tmp_path / "contato.yml").write_text(CONFIG)
    config = load_config(tmp_path / "contato.yml")
    ingesting, scanning = Store.from_url(pg_url), Store.from_url(pg_url)
    ingesting.migrate()
    cursor = ScanCursor()
    scan(scanning, config, cursor, T0)
    written, release = threading.Event(), threading.Event()

    def hold_commit(session: Session) -> None:
        if session.get_bind() is ingesting.engine:
            written.set()
            assert release.wait(timeout=30)

    event.listen(Session, "before_commit", hold_commit)
    try:
        ingestion = threading.Thread(
            target=ingest_events,
            args=(ingesting, "sandbox", [late_message(4, T0 - timedelta(hours=23, minutes=20))], T0),
            kwargs={"longest_alert_lead": config.longest_alert_lead},
        )
        ingestion.start()
        assert written.wait(timeout=30)
        assert scan(scanning, config, cursor, T0 + SCAN) == 0  # nothing committed yet
        release.set()
        ingestion.join(timeout=30)
        assert not ingestion.is_alive()
    finally:
        release.set()
        event.remove(Session, "before_commit", hold_commit)
    assert scan(scanning, config, cursor, T0 + 2 * SCAN) == 1
    assert [channel for _, channel in claims(scanning)] == ["CLONG"]
    ingesting.dispose()
    scanning.dispose()
