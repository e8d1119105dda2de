"""Issue 11, end to end: the conversation goes on in Slack. The customer's reply reaches the thread
of the agent's confirmation (once, escaped, with "Responder"); the agent's answer in that thread
reaches the customer as free text (once, marked as its status moves), or is refused with an
explanation when the window is closed. Real app over signed HTTP, fake Slack, sandbox BSP,
`contato-bot sandbox inbound` for the customer, SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.blocks import modal
from bot.blocks.conversation import REPLY_ACTION_ID, TEMPLATES_ACTION_ID
from bot.bsp.sandbox.samples import inbound_payload
from bot.cli import main
from bot.i18n import Catalog
from bot.rules.events import Category
from bot.rules.media_headers import media_keys
from bot.rules.templates import template_variables
from bot.store.models import ConversationPost, OutboundMessage, SandboxSend
from tests.blocks.limits import assert_message_within_limits
from tests.e2e.fake_slack import SlackCall
from tests.e2e.harness import RunningApp, running_app, selected, sign, typed, write_config

CUSTOMER = "+5511988887777"
EVIL = "<!channel> <@U123> <https://evil.example|banco>"

CONFIG = """
language: pt-BR
alerts:
  scan_seconds: 60
conversation:
  enabled: {enabled}
  show_customer_text: {show}
  batch_seconds: {batch}
teams:
  - id: suporte
    name: Suporte
    members: [UAGENT]
    channels: [sandbox]
  - id: outra
    name: Outra
    members: [UOTHER]
    channels: [sandbox]
channels:
  - id: sandbox
    name: Sandbox
    number: "+55 11 4000-0000"
    bsp: sandbox
    webhook_secret_env: E2E_SANDBOX_SECRET
"""
SECRET = "sandbox-webhook-secret"


def start(
    tmp_path: Path,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    *,
    show: str = "preview",
    batch: int = 0,
    enabled: bool = True,
) -> Any:
    config = write_config(tmp_path, CONFIG.format(show=show, batch=batch, enabled=str(enabled).lower()))
    # `contato-bot sandbox inbound` runs in this process against the app's database.
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("CONTATO_CONFIG", str(config))
    monkeypatch.setenv("E2E_SANDBOX_SECRET", SECRET)
    return running_app(config, db_url, lambda: datetime.now(UTC), with_scheduler=True)


@pytest.fixture
def app(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningApp]:
    with start(tmp_path, db_url, monkeypatch) as running:
        yield running


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def customer_writes(text: str, *, at: datetime | None = None) -> None:
    argv = ["sandbox", "inbound", "sandbox", CUSTOMER, text]
    if at is not None:
        argv += ["--at", at.isoformat()]
    assert main(argv) == 0


def sends(app: RunningApp) -> list[SandboxSend]:
    with app.rt.store.session() as session:
        return list(session.scalars(select(SandboxSend).order_by(SandboxSend.id)))


def sent_ids(app: RunningApp) -> set[str | None]:
    """The BSP message ids of the sends recorded as accepted."""
    with app.rt.store.session() as session:
        return set(session.scalars(select(OutboundMessage.bsp_message_id)))


def send_template(app: RunningApp) -> SlackCall:
    """/contato -> a utility template -> the confirmation in the agent's DM (its place recorded)."""
    app.command(CUSTOMER)
    app.slack.wait_for("views.open")
    app.slack.wait_for("views.update")  # the sandbox's templates landed
    cached = app.rt.templates.get("sandbox", revalidate=False).templates
    # A utility template with text variables only (the sandbox also has one with a document header).
    template = sorted(
        (t for t in cached if t.approved and t.category == Category.UTILITY and not media_keys(t)),
        key=lambda t: t.name,
    )[0]
    values = {
        modal.BLOCK_CATEGORY: selected("utility", modal.ACTION_CATEGORY),
        modal.BLOCK_TEMPLATE: selected(template.key, modal.ACTION_TEMPLATE),
    }
    for variable in template_variables(template):
        values[f"var:{variable.key}"] = typed("x", modal.ACTION_VARIABLE)
    answer = app.submit(app.last_view(), values)
    assert answer.status_code == 200 and (not answer.content or "errors" not in answer.json())
    confirmation = app.slack.wait_for("chat.postMessage")[0]

    def recorded() -> bool:
        with app.rt.store.session() as session:
            return any(row.slack_ts for row in session.scalars(select(OutboundMessage)))

    wait_until(recorded)
    return confirmation


def thread_posts(app: RunningApp, ts: str) -> list[SlackCall]:
    return [c for c in app.slack.of("chat.postMessage") if c.args.get("thread_ts") == ts]


def buttons(call: SlackCall) -> list[dict[str, Any]]:
    return [
        element
        for block in call.args.get("blocks") or []
        for element in block.get("elements", [])
        if isinstance(element, dict) and element.get("type") == "button"
    ]


def slack_event(app: RunningApp, event: dict[str, Any], *, event_id: str, retry: int | None = None) -> int:
    """A signed `event_callback`, optionally marked as Slack's retry."""
    body = json.dumps(
        {
            "token": "legacy",
            "team_id": "T1",
            "api_app_id": "A1",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "event": event,
        }
    ).encode()
    # Slack signs each delivery when it sends it: a retry goes out later, with its own timestamp
    # (an identical signature would be a replay, which the app refuses).
    signed_at = int(time.time()) + (retry or 0)
    headers = {"Content-Type": "application/json", **sign(body, signed_at)}
    if retry is not None:
        headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
    return app.http.post("/slack/events", content=body, headers=headers).status_code


def thread_message(confirmation: SlackCall, text: str, ts: str, **extra: Any) -> dict[str, Any]:
    assert confirmation.response is not None
    return {
        "type": "message",
        "channel": confirmation.response["channel"],
        "channel_type": "im",
        "user": "UAGENT",
        "text": text,
        "ts": ts,
        "thread_ts": confirmation.response["ts"],
        "event_ts": ts,
        **extra,
    }


def webhook(app: RunningApp, body: dict[str, Any]) -> None:
    response = app.http.post(
        "/webhooks/sandbox",
        content=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "X-Webhook-Secret": SECRET},
    )
    assert response.status_code == 200


def status_body(message_id: str, status: str) -> dict[str, Any]:
    """A Meta-envelope delivery status, as the BSP posts it."""
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "551140000000", "phone_number_id": "SANDBOX"},
        "statuses": [
            {
                "id": message_id,
                "status": status,
                "timestamp": str(int(time.time())),
                "recipient_id": CUSTOMER.lstrip("+"),
            }
        ],
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "SANDBOX", "changes": [{"field": "messages", "value": value}]}],
    }


def test_a_customer_reply_is_posted_once_in_the_thread_escaped_with_responder(app: RunningApp) -> None:
    confirmation = send_template(app)
    assert confirmation.response is not None
    ts = confirmation.response["ts"]

    customer_writes(EVIL)
    posted = app.slack.wait_for("chat.postMessage", 2)
    wait_until(lambda: len(thread_posts(app, ts)) == 1)
    post = thread_posts(app, ts)[0]
    assert post.args["channel"] == confirmation.response["channel"]
    sent = json.dumps(post.args, ensure_ascii=False)
    # Escaped: shown as typed, never a mention, a @channel or a link to evil.example.
    assert "&lt;!channel&gt; &lt;@U123&gt; &lt;https://evil.example|banco&gt;" in sent
    for forbidden in ("<!channel>", "<@U123>", "<https://evil"):
        assert forbidden not in sent
    assert "Janela de atendimento aberta" in sent and "texto livre permitido" in sent
    assert "<!date^" in sent
    assert [b["action_id"] for b in buttons(post)] == [REPLY_ACTION_ID]
    assert_message_within_limits(post.args["blocks"])

    # The confirmation now says the customer replied.
    replied = Catalog("pt-BR").t("messages.status.replied")
    wait_until(
        lambda: any(
            u.args.get("ts") == ts and replied in json.dumps(u.args, ensure_ascii=False)
            for u in app.slack.of("chat.update")
        )
    )

    # A later delivery status (read) redraws the confirmation: it still says the customer replied.
    updates = len(app.slack.of("chat.update"))
    webhook(app, status_body(sends(app)[0].message_id, "read"))
    wait_until(lambda: len(app.slack.of("chat.update")) > updates)
    assert replied in json.dumps(app.slack.of("chat.update")[-1].args, ensure_ascii=False)

    # The same customer message again, three times, as a webhook: nothing more is posted.
    with app.rt.store.session() as session:
        message_id = session.scalars(select(ConversationPost.message_id)).one()
    body = inbound_payload("+55 11 4000-0000", CUSTOMER.lstrip("+"), EVIL, datetime.now(UTC), ctwa=False)
    body["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = message_id
    for _ in range(3):
        webhook(app, body)
    time.sleep(2.5)  # the poster runs every second
    assert len(thread_posts(app, ts)) == 1
    assert len(app.slack.of("chat.postMessage")) == len(posted)

    # "Responder" opens the screen for that contact and channel with free text (service) chosen.
    app.interact(
        {
            "type": "block_actions",
            "user": {"id": "UAGENT"},
            "trigger_id": "trigger-reply",
            "container": {"type": "message", "channel_id": post.args["channel"], "message_ts": "1.1"},
            "actions": [{**buttons(post)[0], "block_id": "b", "action_ts": "1"}],
        }
    )
    opened = [c for c in app.slack.wait_for("views.open", 2) if c.args["trigger_id"] == "trigger-reply"]
    assert len(opened) == 1
    view = opened[0].args["view"]
    metadata = json.dumps(json.loads(view["private_metadata"]))
    assert CUSTOMER in metadata and "sandbox" in metadata and "service" in metadata
    assert modal.BLOCK_FREE_TEXT in json.dumps(view)


def test_a_burst_of_messages_is_one_thread_post(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with start(tmp_path, db_url, monkeypatch, batch=3) as app:
        confirmation = send_template(app)
        assert confirmation.response is not None
        for text in ("Oi", "tudo bem?", "quero saber do pedido"):
            customer_writes(text)
        wait_until(lambda: len(thread_posts(app, confirmation.response["ts"])) == 1)  # type: ignore[index]
        time.sleep(2)
        posts = thread_posts(app, confirmation.response["ts"])
        assert len(posts) == 1
        sent = json.dumps(posts[0].args, ensure_ascii=False)
        assert "tudo bem?" in sent and "quero saber do pedido" in sent


def test_the_agent_answers_in_the_thread_once_and_statuses_react(app: RunningApp) -> None:
    confirmation = send_template(app)
    customer_writes("Oi, pode falar")  # opens the customer service window
    assert confirmation.response is not None
    wait_until(lambda: len(thread_posts(app, confirmation.response["ts"])) == 1)  # type: ignore[index]
    assert len(sends(app)) == 1  # the template

    message = thread_message(
        confirmation, "Claro! Veja <https://loja.example/p|o pedido> &amp; o prazo", "1800000000.000100"
    )
    assert slack_event(app, message, event_id="Ev1") == 200
    wait_until(lambda: len(sends(app)) == 2)
    wait_until(lambda: sent_ids(app) >= {s.message_id for s in sends(app)})
    text_send = sends(app)[1]
    assert text_send.kind == "text" and text_send.to.endswith(CUSTOMER.lstrip("+"))
    assert text_send.payload["text"]["body"] == "Claro! Veja o pedido (https://loja.example/p) & o prazo"

    # Slack retries the same event: nothing more is sent.
    assert slack_event(app, message, event_id="Ev1", retry=1) == 200
    time.sleep(1)
    assert len(sends(app)) == 2

    # Never sent: another user, a bot (the app itself too), an edit, a thread broadcast.
    others = [
        thread_message(confirmation, "eu respondo", "1800000000.000200", user="UOTHER"),
        thread_message(confirmation, "bot", "1800000000.000300", bot_id="BBOT", subtype="bot_message"),
        thread_message(confirmation, "app", "1800000000.000350", bot_id="BBOT", user="UBOT"),
        thread_message(
            confirmation,
            "",
            "1800000000.000400",
            subtype="message_changed",
            message={"text": "editado", "user": "UAGENT", "ts": "1800000000.000100"},
        ),
        thread_message(confirmation, "para todos", "1800000000.000500", subtype="thread_broadcast"),
    ]
    for i, event in enumerate(others):
        assert slack_event(app, event, event_id=f"EvOther{i}") == 200
    time.sleep(1)
    assert len(sends(app)) == 2
    assert app.slack.of("chat.postEphemeral") == []

    # A status webhook for the answer: the agent's message gets the reaction.
    webhook(app, status_body(text_send.message_id, "delivered"))
    reaction = app.slack.wait_for("reactions.add")[0]
    assert reaction.args["timestamp"] == "1800000000.000100"
    assert reaction.args["channel"] == message["channel"]
    assert reaction.args["name"] == "white_check_mark"

    # A second answer fails at WhatsApp: ❌ on it, and a reply in the thread saying why.
    second = thread_message(confirmation, "Mais uma coisa", "1800000000.000600")
    assert slack_event(app, second, event_id="Ev2") == 200
    wait_until(lambda: len(sends(app)) == 3)
    # The status comes once the send is recorded as accepted: a status that beats the send's own
    # bookkeeping is ingest's matter, not the thread's.
    wait_until(lambda: sent_ids(app) >= {s.message_id for s in sends(app)})
    failed = status_body(sends(app)[2].message_id, "failed")
    failed["entry"][0]["changes"][0]["value"]["statuses"][0]["errors"] = [
        {"code": 131047, "title": "Re-engagement message", "message": "Re-engagement message"}
    ]
    webhook(app, failed)
    wait_until(lambda: any(r.args["name"] == "x" for r in app.slack.of("reactions.add")))
    [cross] = [r for r in app.slack.of("reactions.add") if r.args["name"] == "x"]
    assert cross.args["timestamp"] == "1800000000.000600"
    wait_until(lambda: len(thread_posts(app, message["thread_ts"])) == 2)
    why = json.dumps(thread_posts(app, message["thread_ts"])[-1].args, ensure_ascii=False)
    assert "não chegou ao cliente" in why


def test_with_the_window_closed_nothing_is_sent_and_the_agent_is_told_why(app: RunningApp) -> None:
    customer_writes("Oi", at=datetime.now(UTC) - timedelta(hours=25))  # the window closed 1 h ago
    confirmation = send_template(app)
    message = thread_message(confirmation, "Oi de novo", "1800000000.000100")
    assert slack_event(app, message, event_id="EvClosed") == 200
    ephemeral = app.slack.wait_for("chat.postEphemeral")[0]
    time.sleep(0.5)
    assert len(sends(app)) == 1  # only the template
    assert ephemeral.args["user"] == "UAGENT"
    assert ephemeral.args["thread_ts"] == message["thread_ts"]
    text = json.dumps(ephemeral.args, ensure_ascii=False)
    assert "janela de atendimento" in text
    [button] = buttons(ephemeral)
    assert button["action_id"] == TEMPLATES_ACTION_ID
    assert_message_within_limits(ephemeral.args["blocks"])

    # The button opens the screen with the templates (no category forced to free text).
    app.interact(
        {
            "type": "block_actions",
            "user": {"id": "UAGENT"},
            "trigger_id": "trigger-templates",
            "container": {"type": "message", "channel_id": message["channel"], "message_ts": "1.1"},
            "actions": [{**button, "block_id": "b", "action_ts": "1"}],
        }
    )
    opened = [c for c in app.slack.wait_for("views.open", 2) if c.args["trigger_id"] == "trigger-templates"]
    metadata = json.loads(opened[0].args["view"]["private_metadata"])
    assert CUSTOMER in json.dumps(metadata) and "service" not in json.dumps(metadata)


def test_show_customer_text_none_posts_no_customer_text(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with start(tmp_path, db_url, monkeypatch, show="none") as app:
        confirmation = send_template(app)
        customer_writes("meu segredo 4242")
        assert confirmation.response is not None
        wait_until(lambda: len(thread_posts(app, confirmation.response["ts"])) == 1)  # type: ignore[index]
        post = thread_posts(app, confirmation.response["ts"])[0]
        assert "respondeu" in json.dumps(post.args, ensure_ascii=False)
        everything = json.dumps([c.args for c in app.slack.calls], ensure_ascii=False)
        assert "segredo" not in everything and "4242" not in everything
        with app.rt.store.session() as session:
            contents = json.dumps(list(session.scalars(select(ConversationPost.content))))
        assert "segredo" not in contents


def test_switched_off_nothing_is_posted_nor_sent(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with start(tmp_path, db_url, monkeypatch, enabled=False) as app:
        confirmation = send_template(app)
        customer_writes("Oi, pode falar")
        assert slack_event(app, thread_message(confirmation, "Olá", "1800000000.000100"), event_id="E") == 200
        time.sleep(2)  # the poster would have run twice
        assert confirmation.response is not None
        assert thread_posts(app, confirmation.response["ts"]) == []
        assert len(sends(app)) == 1  # the template only
        assert app.slack.of("chat.postEphemeral") == []
