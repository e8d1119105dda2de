"""bot.store.windows: one row per (channel, contact, kind), the due ranges the expiry scan asks,
and App Home's closing windows, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.store import contacts, windows
from bot.store.db import Store

NOW = datetime(2026, 11, 24, 19, 0, tzinfo=UTC)


def add_contact(store: Store, e164: str, name: str | None = None) -> int:
    with store.session() as session:
        return contacts.upsert_contact(session, e164=e164, name=name, now=NOW).id


def test_upsert_keeps_one_row_per_kind(store: Store) -> None:
    contact_id = add_contact(store, "+5511988887777")
    with store.session() as session:
        windows.upsert_window(
            session, "vendas", contact_id, "customer_care", NOW, NOW + timedelta(hours=24), NOW
        )
        windows.upsert_window(
            session, "vendas", contact_id, "customer_care", NOW, NOW + timedelta(hours=25), NOW
        )
        windows.upsert_window(session, "vendas", contact_id, "ctwa", None, NOW + timedelta(hours=72), NOW)
    with store.session() as session:
        rows = windows.window_rows_of(session, "vendas", [contact_id])[contact_id]
        assert {kind: row.expires_at for kind, row in rows.items()} == {
            "customer_care": NOW + timedelta(hours=25),
            "ctwa": NOW + timedelta(hours=72),
        }
        windows.delete_windows(session, [rows["ctwa"].id])
    with store.session() as session:
        assert set(windows.window_rows_of(session, "vendas", [contact_id])[contact_id]) == {"customer_care"}
        assert windows.expiries_of(session, [contact_id]) == {
            ("vendas", contact_id, "customer_care"): NOW + timedelta(hours=25)
        }


def test_closing_windows_with_their_contacts_soonest_first(store: Store) -> None:
    ana = add_contact(store, "+5511988887777", "Ana")
    bia = add_contact(store, "+5511977776666", "Bia")
    with store.session() as session:
        windows.upsert_window(session, "vendas", ana, "customer_care", None, NOW + timedelta(hours=2), NOW)
        windows.upsert_window(session, "vendas", bia, "customer_care", None, NOW + timedelta(hours=1), NOW)
        windows.upsert_window(session, "outro", bia, "customer_care", None, NOW + timedelta(hours=1), NOW)
        windows.upsert_window(session, "vendas", bia, "ctwa", None, NOW + timedelta(hours=9), NOW)
    with store.session() as session:
        rows = windows.closing_windows(session, ["vendas"], NOW, NOW + timedelta(hours=6), limit=10)
        assert [(w.kind, c.name) for w, c in rows] == [("customer_care", "Bia"), ("customer_care", "Ana")]
        assert len(windows.closing_windows(session, ["vendas"], NOW, NOW + timedelta(hours=6), limit=1)) == 1
