"""Two real `contato-bot serve` processes on one PostgreSQL receive the same customer messages,
each several times and in both processes: every message reaches the confirmation's thread
exactly once (issue 11). The processes talk to one fake Slack Web API."""

from __future__ import annotations

import json
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bot.bsp.sandbox.samples import inbound_payload
from bot.store import contacts, outbound
from bot.store.db import Store
from tests.e2e.fake_slack import FakeSlack, free_port
from tests.serve_process import checkout_env, contato_bot, wait_until_serving

CONFIG = """
conversation:
  batch_seconds: 0
teams:
  - id: suporte
    name: Suporte
    members: [UAGENT]
    channels: [sandbox]
channels:
  - id: sandbox
    name: Sandbox
    number: "+55 11 4000-0000"
    bsp: sandbox
    webhook_secret_env: TWO_SERVE_SECRET
"""
CUSTOMER = "+5511988887777"
THREAD = ("DAGENT", "1700000000.000001")
MESSAGES = 6


def seed_a_followed_send(store: Store, now: datetime) -> None:
    """A template the agent sent a minute ago, its confirmation in the agent's DM."""
    with store.session() as session:
        contact = contacts.upsert_contact(session, e164=CUSTOMER, now=now)
        row, _ = outbound.create_outbound(
            session,
            idempotency_key="seed",
            channel_id="sandbox",
            contact_id=contact.id,
            agent_user_id="UAGENT",
            team_id="suporte",
            kind="template",
            category="utility",
            template_name="pedido_enviado",
            language="pt_BR",
            parameters={},
            text=None,
            status="sent",
            charge=None,
            estimated_price=None,
            currency=None,
            now=now,
        )
        outbound.set_confirmation(session, row.id, *THREAD)


def test_two_serve_processes_post_each_customer_message_once(tmp_path: Path, pg_url: str) -> None:
    config = tmp_path / "contato.yml"
    config.write_text(CONFIG)
    store = Store.from_url(pg_url)
    store.migrate()
    now = datetime.now(UTC)
    seed_a_followed_send(store, now)
    store.dispose()

    slack = FakeSlack().start()
    ports = [free_port(), free_port()]
    env = checkout_env(
        {
            "SLACK_BOT_TOKEN": "xoxb-two",
            "SLACK_SIGNING_SECRET": "secret",
            "SLACK_API_URL": slack.url,
            "DATABASE_URL": pg_url,
            "LOG_LEVEL": "WARNING",
            "TWO_SERVE_SECRET": "s3cret",
        }
    )
    processes = [
        subprocess.Popen(
            [*contato_bot(), "--config", str(config), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for port in ports
    ]
    try:
        for port, process in zip(ports, processes, strict=True):
            wait_until_serving(port, process)
        bodies = []
        for i in range(MESSAGES):
            body = inbound_payload("+55 11 4000-0000", CUSTOMER.lstrip("+"), f"mensagem-{i}", now, ctwa=False)
            body["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = f"wamid.TWO.{i}"
            bodies.append(json.dumps(body).encode())
        headers = {"Content-Type": "application/json", "X-Webhook-Secret": "s3cret"}
        for _ in range(3):  # every message three times, to both processes
            for body in bodies:
                for port in ports:
                    answer = httpx.post(
                        f"http://127.0.0.1:{port}/webhooks/sandbox", content=body, headers=headers
                    )
                    assert answer.status_code == 200

        def in_thread() -> list[str]:
            texts = []
            for call in slack.of("chat.postMessage"):
                if call.args.get("thread_ts") == THREAD[1] and call.response is not None:
                    sent = json.dumps(call.args.get("blocks"), ensure_ascii=False)
                    texts += [f"mensagem-{i}" for i in range(MESSAGES) if f"mensagem-{i}" in sent]
            return texts

        deadline = time.monotonic() + 30
        while len(set(in_thread())) < MESSAGES and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(3)  # both processes poll every second: nothing more may be posted
        texts = in_thread()
        assert sorted(texts) == sorted(f"mensagem-{i}" for i in range(MESSAGES))
        assert all(c.args.get("channel") == THREAD[0] for c in slack.of("chat.postMessage"))
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=15)
        slack.stop()
