"""Fill a benchmark database fast: contacts, customer_events, windows and a template cache row.

`python -m bench.seed --db sqlite|postgres --contacts N --events M --windows W --templates T
[--app-root PATH]`

The schema is the measured app's: `Store.migrate` of the `bot` this process imports, which is the
`--app-root` checkout's (bench.common.select_app re-runs the benchmark with it). Bulk inserts
below the ORM (executemany on SQLite, COPY on PostgreSQL), rows shaped exactly as
bot/store/models.py writes them (naive UTC timestamps; SQLite's SQLAlchemy text format).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import WINDOW_CHANNELS, add_app_args, database_url, select_app
from bot.core.template_cache import template_to_json
from bot.rules.events import Category
from bot.rules.templates import Template, TemplateButton
from bot.store.db import Store

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # the benchmarks' "now"
CHUNK = 50_000


def phone(i: int) -> str:
    """The i-th contact's number: a valid Brazilian mobile (+55 11 9xxxx-xxxx), E.164."""
    return f"+55119{60_000_000 + i:08d}"


def _naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None)


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return _naive(value).strftime("%Y-%m-%d %H:%M:%S.%f")  # SQLAlchemy's SQLite storage format
    if isinstance(value, bool):
        return int(value)
    return value


def _pg_value(value: Any) -> Any:
    return _naive(value) if isinstance(value, datetime) else value


def bulk_insert(store: Store, table: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]) -> int:
    """Insert rows in chunks: executemany on SQLite, COPY on PostgreSQL. Returns the count."""
    count = 0
    raw = store.engine.raw_connection()
    try:
        cursor = raw.cursor()
        if store.dialect == "sqlite":
            sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
            cursor.execute("BEGIN")
            batch: list[tuple[Any, ...]] = []
            for row in rows:
                batch.append(tuple(_sqlite_value(v) for v in row))
                if len(batch) >= CHUNK:
                    cursor.executemany(sql, batch)
                    count += len(batch)
                    batch.clear()
            if batch:
                cursor.executemany(sql, batch)
                count += len(batch)
            cursor.execute("COMMIT")
        else:
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in rows:
                    copy.write_row(tuple(_pg_value(v) for v in row))
                    count += 1
            raw.commit()
    finally:
        raw.close()
    return count


def contact_rows(n: int) -> Iterator[tuple[Any, ...]]:
    created = NOW - timedelta(days=90)
    for i in range(1, n + 1):
        e164 = phone(i)
        name = f"Cliente {i}"
        yield (i, e164, e164, e164[1:], name, name.lower(), created, created)


def event_rows(contacts: int, events: int, channel_id: str) -> Iterator[tuple[Any, ...]]:
    """`events` events spread over the contacts: customer message, our reply, conversation, ...
    going back in time; about a third of the contacts wrote in the last 24 h (open windows)."""
    kinds = ("customer", "business", "conversation")
    for k in range(events):
        contact = k % contacts + 1
        j = k // contacts  # the contact's j-th event, newest first
        at = NOW - timedelta(hours=j * 20 + (contact % 72), minutes=contact % 60)
        kind = kinds[j % 3]
        expires = at + timedelta(hours=24) if kind == "conversation" else None
        origin = "service" if kind == "conversation" else None
        yield (k + 1, channel_id, contact, kind, f"seed.{contact}.{j}", at, False, origin, expires)


def window_rows(
    contacts: int, windows: int, spread: timedelta, start: datetime = NOW
) -> Iterator[tuple[Any, ...]]:
    """`windows` open windows (channel wa0..wa9 x contact x kind), expiries spread evenly over
    `spread` from NOW, so a scan every 30 s finds a steady trickle due."""
    kinds = ("customer_care", "ctwa", "ctwa_pending")
    step = spread / max(windows, 1)
    for k in range(windows):
        contact = k % contacts + 1
        channel = WINDOW_CHANNELS[(k // contacts) % len(WINDOW_CHANNELS)]
        kind = kinds[(k // (contacts * len(WINDOW_CHANNELS))) % 3]
        expires = start + step * (k * 7919 % windows) + timedelta(seconds=1)  # shuffled order
        yield (k + 1, channel, contact, kind, expires - timedelta(hours=24), expires, start)


def sample_templates(n: int) -> list[Template]:
    cats = [Category.UTILITY, Category.MARKETING, Category.AUTHENTICATION]
    return [
        Template(
            name=f"modelo_{i:04d}",
            language="pt_BR",
            category=cats[i % 3],
            status="APPROVED" if i % 10 else "PAUSED",
            raw_category=cats[i % 3].value.upper(),
            header_format="TEXT",
            header_text="Pedido {{1}}",
            body_text=f"Olá {{{{1}}}}, seu pedido {{{{2}}}} foi atualizado (modelo {i}). " * 3,
            footer_text="Loja Exemplo",
            buttons=(
                TemplateButton(type="QUICK_REPLY", text="Ok"),
                TemplateButton(type="URL", text="Ver", url="https://x.invalid/{{1}}"),
            ),
            provider_ref=f"tpl-{i}",
        )
        for i in range(n)
    ]


def seed(
    url: str,
    *,
    contacts: int,
    events: int = 0,
    windows: int = 0,
    templates: int = 0,
    window_spread: timedelta = timedelta(hours=24),
    window_start: datetime = NOW,
) -> dict[str, Any]:
    """Migrate a fresh database and fill it; returns counts and seconds taken."""
    started = time.perf_counter()
    store = Store.from_url(url)
    store.migrate()
    out: dict[str, Any] = {}
    out["contacts"] = bulk_insert(
        store,
        "contacts",
        ("id", "phone_key", "e164", "wa_id", "name", "name_search", "created_at", "updated_at"),
        contact_rows(contacts),
    )
    if events:
        out["customer_events"] = bulk_insert(
            store,
            "customer_events",
            ("id", "channel_id", "contact_id", "kind", "ref", "at", "from_ad", "origin", "expires_at"),
            event_rows(contacts, events, WINDOW_CHANNELS[0]),
        )
    if windows:
        out["windows"] = bulk_insert(
            store,
            "windows",
            ("id", "channel_id", "contact_id", "kind", "opened_at", "expires_at", "updated_at"),
            window_rows(contacts, windows, window_spread, window_start),
        )
    if templates:
        payload = {"templates": [template_to_json(t) for t in sample_templates(templates)]}
        with store.engine.begin() as conn:
            from bot.store.models import TemplateCache

            conn.execute(
                TemplateCache.__table__.insert(),  # type: ignore[attr-defined]
                [{"channel_id": cid, "fetched_at": NOW, "templates": payload} for cid in WINDOW_CHANNELS[:1]],
            )
        out["templates_per_channel"] = templates
    with store.engine.begin() as conn:
        if store.dialect == "postgresql":
            for table in ("contacts", "customer_events", "windows"):
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"coalesce((SELECT max(id) FROM {table}), 0) + 1, false)"
                )
            conn.exec_driver_sql("ANALYZE")  # what autovacuum would have done on a live database
    store.dispose()
    out["seconds"] = round(time.perf_counter() - started, 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="sqlite", choices=["sqlite", "postgres"])
    parser.add_argument("--name", default="seed")
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--windows", type=int, default=0)
    parser.add_argument("--templates", type=int, default=0)
    add_app_args(parser, workers=False)
    args = parser.parse_args()
    select_app(args)
    url = database_url(args.db, args.name)
    result = seed(
        url, contacts=args.contacts, events=args.events, windows=args.windows, templates=args.templates
    )
    out = json.dumps({"db": args.db, "url": url, **result})
    print(out)
    if args.out:
        Path(args.out).write_text(out)


if __name__ == "__main__":
    main()
