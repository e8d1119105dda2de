"""Two serve processes on one PostgreSQL, 200 windows due in the same minute: every alert is posted
exactly once. Real OS processes, real database, a fake Slack recording every post."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.store.db import Store
from bot.store.models import AlertClaim, Contact, Window
from tests.core.test_alerts import CONFIG, items_of
from tests.e2e.fake_slack import Failure, FakeSlack

ROOT = Path(__file__).resolve().parents[2]
WINDOWS = 200

# One serve process's scanner: the runtime as `serve` builds it, run_scan in a loop.
SCANNER = r"""
import asyncio, json, sys, time
from datetime import UTC, datetime
from pathlib import Path
from slack_sdk.web.async_client import AsyncWebClient
from bot.core.alerts import run_scan, ScanResult

config_path, db_url, slack_url, start_at, rounds = sys.argv[1:6]
try:
    from bot.config import Settings
    from bot.runtime import build_runtime
    settings = Settings(database_url=db_url, slack_api_url=slack_url)
    rt = build_runtime(config_path, settings=settings, migrate=False)
except ImportError:  # bot.config not written yet: the same holder the unit tests use
    from bot.store.db import Store
    from tests.core.test_alerts import Rt, make_config
    path = Path(config_path)
    rt = Rt(make_config(path.parent, path.read_text()), Store.from_url(db_url))

async def main():
    client = AsyncWebClient(token="xoxb-test", base_url=slack_url)
    totals = {"claimed": 0, "posted": 0, "messages": 0, "failed": 0}
    time.sleep(max(0.0, float(start_at) - time.time()))  # both processes start together
    for _ in range(int(rounds)):
        result = await run_scan(rt, client, now=datetime.now(UTC))
        for key in totals:
            totals[key] += getattr(result, key)
        await asyncio.sleep(0.05)
    print(json.dumps(totals))

asyncio.run(main())
"""


def test_two_processes_post_every_alert_exactly_once(tmp_path: Path, pg_url: str) -> None:
    config = tmp_path / "contato.yml"
    config.write_text(CONFIG)
    store = Store.from_url(pg_url)
    store.migrate()
    now = datetime.now(UTC)
    expiry = now.replace(second=0, microsecond=0) + timedelta(minutes=30)
    with store.session() as s:
        for n in range(WINDOWS):
            phone = f"+55119{n:08d}"
            contact = Contact(phone_key=phone, e164=phone, created_at=now, updated_at=now)
            s.add(contact)
            s.flush()
            s.add(
                Window(
                    channel_id="loja" if n % 2 else "sac",
                    contact_id=contact.id,
                    kind="customer_care",
                    expires_at=expiry + timedelta(milliseconds=n * 250),
                    updated_at=now,
                )
            )
    slack = FakeSlack().start()
    # Slack pushes back once; Retry-After 0 so the retry happens within this test.
    refused = Failure(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "0"})
    slack.fail_next("chat.postMessage", refused)
    try:
        start_at = time.time() + 3  # enough for both interpreters to import everything
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", SCANNER, str(config), pg_url, slack.url, str(start_at), "12"],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        outputs = [p.communicate(timeout=120) for p in procs]
        for proc, (_out, err) in zip(procs, outputs, strict=True):
            assert proc.returncode == 0, err
        totals = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
        accepted = slack.of("chat.postMessage")[1:]  # the first one was refused with 429
    finally:
        slack.stop()

    contacts = Counter(item["contact"] for call in accepted for item in items_of(call))
    assert len(contacts) == WINDOWS
    assert set(contacts.values()) == {1}, [c for c, k in contacts.items() if k > 1]
    assert sum(t["claimed"] for t in totals) == WINDOWS
    assert sum(t["posted"] for t in totals) == WINDOWS
    assert all(len(call.args["blocks"]) <= 50 for call in accepted)
    with store.session() as s:
        rows = list(s.query(AlertClaim))
    assert len(rows) == WINDOWS and all(r.posted_at is not None and r.slack_ts for r in rows)
    store.dispose()
