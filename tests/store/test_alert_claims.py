"""bot.store.alert_claims: a claim is inserted once, leased by one holder at a time, and either
posted or scheduled for another attempt, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from bot.store import alert_claims, contacts, outbound, windows
from bot.store.db import Store
from bot.store.models import WindowDueQueue

NOW = datetime(2026, 11, 24, 19, 0, tzinfo=UTC)
LEASE_UNTIL = NOW + timedelta(minutes=2)


def claim_row(contact_id: int, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "channel_id": "vendas",
        "contact_id": contact_id,
        "kind": "customer_care",
        "expires_at": NOW + timedelta(minutes=30),
        "slack_channel": "C_ALERTS",
        "claimed_at": NOW,
        "attempts": 0,
    }
    row.update(overrides)
    return row


def new_contact(store: Store) -> int:
    with store.session() as session:
        return contacts.upsert_contact(session, e164="+5511988887777", now=NOW).id


def test_a_claim_key_is_inserted_once(store: Store) -> None:
    contact_id = new_contact(store)
    rows = [claim_row(contact_id), claim_row(contact_id, slack_channel="C_OTHER")]
    with store.session() as session:
        assert alert_claims.insert_claims(session, rows) == 2
    with store.session() as session:
        assert alert_claims.insert_claims(session, rows) == 0
        assert alert_claims.insert_claims(session, []) == 0


def test_posted_claims_are_never_leased_again(store: Store) -> None:
    contact_id = new_contact(store)
    with store.session() as session:
        alert_claims.insert_claims(session, [claim_row(contact_id)])
    with store.session() as session:
        [leased] = alert_claims.lease_claims(session, NOW, LEASE_UNTIL, "a", limit=10)
    assert (leased.kind, leased.slack_channel, leased.attempts) == ("customer_care", "C_ALERTS", 0)
    with store.session() as session:
        alert_claims.mark_posted(session, [leased.id], "1700000000.000100", NOW)
    with store.session() as session:
        assert alert_claims.lease_claims(session, NOW + timedelta(hours=1), LEASE_UNTIL, "b", limit=10) == []


def test_a_failed_post_waits_for_its_next_attempt(store: Store) -> None:
    contact_id = new_contact(store)
    with store.session() as session:
        alert_claims.insert_claims(session, [claim_row(contact_id)])
    with store.session() as session:
        [leased] = alert_claims.lease_claims(session, NOW, LEASE_UNTIL, "a", limit=10)
    retry_at = NOW + timedelta(seconds=30)
    with store.session() as session:
        alert_claims.mark_failed(session, [(leased.id, 1, retry_at)])
    with store.session() as session:  # lease released, but not its turn yet
        assert (
            alert_claims.lease_claims(session, NOW + timedelta(seconds=1), LEASE_UNTIL, "b", limit=10) == []
        )
    with store.session() as session:
        [again] = alert_claims.lease_claims(session, retry_at, retry_at + timedelta(minutes=2), "b", limit=10)
    assert (again.id, again.attempts) == (leased.id, 1)


def test_the_due_queue_is_emptied_by_each_claim_and_only_due_windows_are_claimed(store: Store) -> None:
    route = alert_claims.AlertRoute("vendas", "C_ALERTS", NOW + timedelta(minutes=60), ("vendas",))
    with store.session() as session:
        ids = [contacts.upsert_contact(session, e164=f"+551198888777{n}", now=NOW).id for n in range(4)]
        due, expired, later, gone = ids
        for contact_id, expires_at in [
            (due, NOW + timedelta(minutes=30)),
            (expired, NOW - timedelta(minutes=1)),
            (later, NOW + timedelta(minutes=90)),  # not due yet: a later scan's edge reads it
        ]:
            windows.upsert_window(
                session,
                "vendas",
                contact_id,
                "customer_care",
                expires_at - timedelta(hours=24),
                expires_at,
                NOW,
            )
        windows.queue_due_windows(
            session, [("vendas", contact_id, "customer_care") for contact_id in ids], NOW
        )
    with store.session() as session:
        new = alert_claims.claim_due_windows(session, NOW, [route], ["vendas"], edges=[], scan_id="scan-1")
    assert new == 1
    with store.session() as session:
        claimed = [(c.contact_id, c.slack_channel) for c in alert_claims.list_claims(session)]
        queued = session.scalars(select(WindowDueQueue)).all()
    assert claimed == [(due, "C_ALERTS")] and queued == []
    assert gone not in [contact_id for contact_id, _ in claimed]


def test_routing_last_senders_team_else_the_channels_teams_one_claim_per_slack_channel(store: Store) -> None:
    """`removida` sent last but is no longer configured: the channel's teams get the alert;
    `muda` (configured, no alert channel) sent last: nobody does; two teams sharing one Slack
    channel make one claim."""
    closes = NOW + timedelta(minutes=30)
    routes = [
        alert_claims.AlertRoute("vendas", "C_SHARED", NOW + timedelta(minutes=60), ("loja",)),
        alert_claims.AlertRoute("suporte", "C_SHARED", NOW + timedelta(minutes=60), ("loja",)),
        alert_claims.AlertRoute("sac", "C_SAC", NOW + timedelta(minutes=60), ("loja",)),
    ]
    with store.session() as session:
        orphan, silent = (
            contacts.upsert_contact(session, e164=f"+55119888866{n}", now=NOW).id for n in (1, 2)
        )
        for n, (contact_id, team_id) in enumerate([(orphan, "removida"), (silent, "muda")]):
            outbound.create_outbound(
                session,
                idempotency_key=f"k{n}",
                channel_id="loja",
                contact_id=contact_id,
                agent_user_id="U1",
                team_id=team_id,
                kind="template",
                category="marketing",
                template_name="oi",
                language="pt_BR",
                parameters=None,
                text=None,
                status="sent",
                charge=None,
                estimated_price=None,
                currency=None,
                now=NOW - timedelta(hours=2),
            )
            windows.upsert_window(
                session, "loja", contact_id, "customer_care", closes - timedelta(hours=24), closes, NOW
            )
    with store.session() as session:
        new = alert_claims.claim_due_windows(
            session,
            NOW,
            routes,
            ["vendas", "suporte", "sac", "muda"],
            edges=[(None, NOW + timedelta(minutes=60))],
            scan_id="scan-2",
        )
        claimed = sorted((c.contact_id, c.slack_channel) for c in alert_claims.list_claims(session))
    assert new == 2
    assert claimed == [(orphan, "C_SAC"), (orphan, "C_SHARED")]
