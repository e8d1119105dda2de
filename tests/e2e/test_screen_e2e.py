"""Issue 2, end to end: the real app over HTTP with Slack-signed requests, a fake Slack Web API,
the built-in sandbox BSP and a real database (SQLite and PostgreSQL)."""

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
from bot.bsp.base import InboundMessage, StatusUpdate
from bot.core.ingest import ingest_events
from bot.rules.events import Category
from bot.rules.templates import template_variables
from bot.store.models import OutboundMessage, SandboxSend
from tests.blocks.limits import assert_view_within_limits
from tests.e2e.fake_slack import Failure
from tests.e2e.harness import Clock, RunningApp, running_app, select_action, selected, typed, write_config

NOW = datetime(2026, 11, 24, 19, 0, tzinfo=UTC)
CUSTOMER = "+5511988887777"

CONFIG = """
language: pt-BR
teams:
  - id: suporte
    name: Suporte
    members: [UAGENT]
    alert_channel: CSUPERVISORS
    channels: [sandbox]
  - id: outra
    name: Outra equipe
    members: [UOTHER]
    channels: [outro]
  - id: grupo
    name: Equipe do grupo
    usergroup: S0GROUP
    channels: [outro]
channels:
  - id: sandbox
    name: Sandbox
    number: "+55 11 4000-0000"
    bsp: sandbox
  - id: outro
    name: Outro canal
    number: "+55 11 4000-0001"
    bsp: sandbox
"""


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def app(tmp_path: Path, db_url: str, clock: Clock) -> Iterator[RunningApp]:
    with running_app(write_config(tmp_path, CONFIG), db_url, clock) as running:
        yield running


def customer_writes(app: RunningApp, at: datetime, message_id: str = "wamid.IN1") -> None:
    """The customer writes (through the same ingestion a webhook takes)."""
    event = InboundMessage(
        message_id=message_id, wa_id=CUSTOMER.lstrip("+"), at=at, text="Oi", profile_name="Maria"
    )
    ingest_events(app.rt.store, "sandbox", [event], at)


def all_text(view: dict[str, Any]) -> str:
    return json.dumps(view, ensure_ascii=False)


def block_ids(view: dict[str, Any]) -> list[str]:
    return [b.get("block_id", "") for b in view["blocks"]]


def sends(app: RunningApp) -> list[SandboxSend]:
    with app.rt.store.session() as session:
        return list(session.scalars(select(SandboxSend).order_by(SandboxSend.id)))


def wait_views(app: RunningApp, count: int) -> dict[str, Any]:
    app.slack.wait_for("views.open" if count == 1 else "views.update", 1 if count == 1 else count - 1)
    return app.last_view()


def opened(app: RunningApp, count: int) -> dict[str, Any]:
    """The view of the `count`-th views.open (not a later update of an earlier modal)."""
    call = app.slack.wait_for("views.open", count)[count - 1]
    assert call.response is not None
    return dict(call.response["view"])


def pick_utility_template(app: RunningApp) -> Any:
    cached = app.rt.templates.get("sandbox", revalidate=False).templates
    candidates = [
        t for t in cached if t.approved and t.category == Category.UTILITY and len(template_variables(t)) >= 2
    ]
    assert candidates, "the sandbox must offer a utility template with variables"
    return sorted(candidates, key=lambda t: t.name)[0]


def test_contato_opens_the_screen_then_sends_a_template(app: RunningApp) -> None:
    response = app.command("+55 11 98888-7777")
    assert response.status_code == 200
    view = wait_views(app, 1)
    assert view["callback_id"] == modal.CALLBACK_ID
    text = all_text(view)
    assert "Customer Care" in text and "Click to WhatsApp" in text
    for name in ("Serviço", "Autenticação", "Utilidade", "Marketing"):
        assert name in text
    assert_view_within_limits(view)

    # The sandbox's templates were not cached yet: the view is redrawn once they land.
    app.slack.wait_for("views.update", 1)
    view = app.last_view()

    # Choose the category: the templates of that category appear.
    app.block_action(
        view,
        select_action(modal.BLOCK_CATEGORY, modal.ACTION_CATEGORY, "utility"),
        values={modal.BLOCK_CATEGORY: selected("utility", modal.ACTION_CATEGORY)},
    )
    app.slack.wait_for("views.update", 2)
    view = app.last_view()
    # The template select's block id follows the category (issue 10).
    template_block = modal.template_block_id(Category.UTILITY)
    assert template_block in block_ids(view)
    template = pick_utility_template(app)

    # Choose a template: one input per variable.
    before = len(app.slack.of("views.update"))
    app.block_action(
        view,
        select_action(template_block, modal.ACTION_TEMPLATE, template.key),
        values={
            modal.BLOCK_CATEGORY: selected("utility", modal.ACTION_CATEGORY),
            template_block: selected(template.key, modal.ACTION_TEMPLATE),
        },
    )
    app.slack.wait_for("views.update", before + 1)
    view = app.last_view()
    variables = template_variables(template)
    for variable in variables:
        assert f"var:{variable.key}" in block_ids(view)
    assert_view_within_limits(view)

    chosen = {
        modal.BLOCK_CATEGORY: selected("utility", modal.ACTION_CATEGORY),
        template_block: selected(template.key, modal.ACTION_TEMPLATE),
    }
    # Submit with one variable missing: a field error on that variable, nothing sent.
    partial = dict(chosen)
    for variable in variables[:-1]:
        partial[f"var:{variable.key}"] = typed(f"valor {variable.name}", "var_value")
    answer = app.submit(view, partial)
    assert answer.status_code == 200
    body = answer.json()
    assert body["response_action"] == "errors"
    assert list(body["errors"]) == [f"var:{variables[-1].key}"]
    assert sends(app) == []

    # Submit valid: the sandbox records the send; the agent gets the confirmation.
    complete = dict(partial)
    complete[f"var:{variables[-1].key}"] = typed("último", "var_value")
    answer = app.submit(view, complete)
    assert answer.status_code == 200
    assert not answer.content or "errors" not in answer.json()
    confirmation = app.slack.wait_for("chat.postMessage")[0]
    recorded = sends(app)
    assert len(recorded) == 1
    wire = recorded[0].payload
    assert recorded[0].to.endswith("5511988887777")
    assert wire["type"] == "template"
    assert wire["template"]["name"] == template.name
    assert wire["template"]["language"]["code"] == template.language
    sent_texts = [
        p.get("text")
        for component in wire["template"].get("components", [])
        for p in component.get("parameters", [])
    ]
    assert "último" in sent_texts
    assert confirmation.args["channel"] == "UAGENT"
    message = json.dumps(confirmation.args, ensure_ascii=False)
    assert template.name in message and "Sandbox" in message
    wait_until(lambda: confirmation_recorded(app))
    with app.rt.store.session() as session:
        row = session.scalars(select(OutboundMessage)).one()
        assert (row.template_name, row.language, row.team_id, row.agent_user_id) == (
            template.name,
            template.language,
            "suporte",
            "UAGENT",
        )
        assert row.bsp_message_id == recorded[0].message_id
        assert confirmation.response is not None
        assert (row.slack_channel, row.slack_ts) == (
            confirmation.response["channel"],
            confirmation.response["ts"],
        )

    # The same submission again (a retried request): nothing is sent twice.
    app.submit(view, complete)
    assert len(sends(app)) == 1


def confirmation_recorded(app: RunningApp) -> bool:
    with app.rt.store.session() as session:
        return any(row.slack_ts for row in session.scalars(select(OutboundMessage)))


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_free_text_offered_and_sent_inside_the_window(app: RunningApp) -> None:
    customer_writes(app, NOW - timedelta(hours=2))
    app.command("+55 11 98888-7777")
    view = wait_views(app, 1)
    assert modal.BLOCK_FREE_TEXT in block_ids(view)  # the window is open: Serviço, free text
    answer = app.submit(
        view,
        {
            modal.BLOCK_CATEGORY: selected("service", modal.ACTION_CATEGORY),
            modal.BLOCK_FREE_TEXT: typed("Olá Maria, <tudo> & certo?", modal.ACTION_FREE_TEXT),
        },
    )
    assert answer.status_code == 200
    app.slack.wait_for("chat.postMessage")
    recorded = sends(app)
    assert [s.kind for s in recorded] == ["text"]
    assert recorded[0].payload["text"]["body"] == "Olá Maria, <tudo> & certo?"


def test_free_text_refused_when_the_customer_wrote_25_hours_ago(app: RunningApp) -> None:
    customer_writes(app, NOW - timedelta(hours=25))
    app.command("+55 11 98888-7777")
    view = wait_views(app, 1)
    assert modal.BLOCK_FREE_TEXT not in block_ids(view)
    assert "25/11" not in all_text(view)  # closed since yesterday 19:00 (not a future time)
    # A crafted submission with free text anyway: refused with the reason, nothing sent.
    answer = app.submit(
        view,
        {
            modal.BLOCK_CATEGORY: selected("service", modal.ACTION_CATEGORY),
            modal.BLOCK_FREE_TEXT: typed("Oi", modal.ACTION_FREE_TEXT),
        },
    )
    body = answer.json()
    assert body["response_action"] == "errors"
    (message,) = body["errors"].values()
    assert "24/11" in message or "fechou" in message.lower() or "janela" in message.lower()
    assert sends(app) == []


def test_window_that_closed_while_the_modal_was_open(app: RunningApp, clock: Clock) -> None:
    customer_writes(app, NOW - timedelta(hours=23, minutes=50))
    app.command("+55 11 98888-7777")
    view = wait_views(app, 1)
    assert modal.BLOCK_FREE_TEXT in block_ids(view)
    clock.at = NOW + timedelta(minutes=15)  # the agent typed slowly; the window closed meanwhile
    answer = app.submit(
        view,
        {
            modal.BLOCK_CATEGORY: selected("service", modal.ACTION_CATEGORY),
            modal.BLOCK_FREE_TEXT: typed("Oi", modal.ACTION_FREE_TEXT),
        },
    )
    body = answer.json()
    assert body["response_action"] == "errors"
    assert modal.BLOCK_FREE_TEXT in body["errors"]
    assert sends(app) == []


def test_bad_input_gets_a_specific_message_and_sends_nothing(app: RunningApp) -> None:
    catalog = app.rt.catalog
    # An unparseable number: the modal opens and says what is wrong with it.
    app.command("+55 11 12")
    view = wait_views(app, 1)
    assert catalog.t("screen.errors.phone_invalid") in all_text(view) or catalog.t(
        "screen.errors.phone_unparseable"
    ) in all_text(view)
    # An unknown contact (a name nobody has).
    app.command("Fulano Inexistente")
    assert catalog.t("screen.errors.contact_unknown") in all_text(opened(app, 2))
    # A user in no team: the modal explains and offers no submit.
    app.command("+55 11 98888-7777", user="UNOBODY")
    lonely = opened(app, 3)
    assert "submit" not in lonely
    assert catalog.t("screen.errors.no_team") in all_text(lonely) or "equipe" in all_text(lonely).lower()

    # A channel outside the user's teams, in a crafted submission.
    app.command("+55 11 98888-7777")
    view = opened(app, 4)
    answer = app.submit(
        view,
        {
            modal.BLOCK_CHANNEL: selected("outro", modal.ACTION_CHANNEL),
            modal.BLOCK_CATEGORY: selected("marketing", modal.ACTION_CATEGORY),
        },
    )
    body = answer.json()
    assert body["response_action"] == "errors"
    assert catalog.t("screen.errors.channel_not_allowed") in body["errors"].values()
    # ...and in a crafted block_actions: the screen never shows the foreign channel.
    before = len(app.slack.of("views.update"))
    app.block_action(
        view,
        select_action(modal.BLOCK_CHANNEL, modal.ACTION_CHANNEL, "outro"),
        values={modal.BLOCK_CHANNEL: selected("outro", modal.ACTION_CHANNEL)},
    )
    app.slack.wait_for("views.update", before + 1)
    assert "Outro canal" not in all_text(app.last_view())
    assert sends(app) == []


def test_a_request_with_a_bad_signature_is_refused(app: RunningApp) -> None:
    response = app.post_slack(
        {"command": "/contato", "text": "", "user_id": "UAGENT", "trigger_id": "t"},
        headers={"X-Slack-Signature": "v0=deadbeef"},
    )
    assert response.status_code == 401
    assert app.slack.of("views.open") == []


def test_contact_search_offers_known_contacts(app: RunningApp) -> None:
    customer_writes(app, NOW - timedelta(hours=1))
    response = app.interact(
        {
            "type": "block_suggestion",
            "user": {"id": "UAGENT"},
            "action_id": modal.ACTION_CONTACT_SEARCH,
            "block_id": modal.BLOCK_CONTACT,
            "value": "mari",
            "view": {"id": "V1", "callback_id": modal.CALLBACK_ID},
        }
    )
    options = response.json()["options"]
    assert [o["value"] for o in options] == [CUSTOMER]
    assert "Maria" in options[0]["text"]["text"]


def test_a_price_that_changed_while_the_modal_was_open_is_shown_before_sending(
    app: RunningApp, clock: Clock
) -> None:
    # An ad lead answered 71 h 50 min ago: the free entry point (72 h) closes in 10 minutes, and
    # marketing templates are free until then.
    lead_at = NOW - timedelta(hours=72)
    lead = InboundMessage(
        message_id="wamid.AD",
        wa_id=CUSTOMER.lstrip("+"),
        at=lead_at,
        text="Vi o anúncio",
        referral={"source_type": "ad", "source_id": "123"},
    )
    reply = StatusUpdate(
        message_id="wamid.REPLY",
        status="sent",
        at=NOW - timedelta(hours=71, minutes=50),
        recipient_wa_id=CUSTOMER.lstrip("+"),
    )
    ingest_events(app.rt.store, "sandbox", [lead, reply], NOW)
    app.command("+55 11 98888-7777")
    app.slack.wait_for("views.open")
    app.slack.wait_for("views.update", 1)  # templates landed
    view = app.last_view()
    app.block_action(
        view,
        select_action(modal.BLOCK_CATEGORY, modal.ACTION_CATEGORY, "marketing"),
        values={modal.BLOCK_CATEGORY: selected("marketing", modal.ACTION_CATEGORY)},
    )
    app.slack.wait_for("views.update", 2)
    cached = app.rt.templates.get("sandbox", revalidate=False).templates
    template = sorted(
        (t for t in cached if t.approved and t.category == Category.MARKETING), key=lambda t: t.name
    )[0]
    view = app.last_view()
    template_block = modal.template_block_id(Category.MARKETING)
    chosen = {
        modal.BLOCK_CATEGORY: selected("marketing", modal.ACTION_CATEGORY),
        template_block: selected(template.key, modal.ACTION_TEMPLATE),
    }
    app.block_action(view, select_action(template_block, modal.ACTION_TEMPLATE, template.key), values=chosen)
    app.slack.wait_for("views.update", 3)
    view = app.last_view()
    assert json.loads(view["private_metadata"])["sc"].startswith("marketing:free")
    values = dict(chosen)
    for variable in template_variables(template):
        values[f"var:{variable.key}"] = typed("x", "var_value")

    clock.at = NOW + timedelta(minutes=20)  # the free entry point closed meanwhile
    answer = app.submit(view, values).json()
    assert answer["response_action"] == "update"
    assert app.rt.catalog.t("screen.notice.price_changed") in json.dumps(answer["view"], ensure_ascii=False)
    assert json.loads(answer["view"]["private_metadata"])["sc"].startswith("marketing:paid:0.0625")
    assert sends(app) == []

    # Submitting again, having seen the new cost, sends (once).
    seen_now = {**answer["view"], "id": view["id"], "hash": "h-after"}
    again = app.submit(seen_now, values)
    assert again.status_code == 200 and not again.content
    app.slack.wait_for("chat.postMessage")
    assert len(sends(app)) == 1


def test_a_team_by_slack_user_group(tmp_path: Path, db_url: str, clock: Clock) -> None:
    groups = {"S0GROUP": ["UGROUPIE"]}
    with running_app(write_config(tmp_path, CONFIG), db_url, clock, usergroups=groups) as app:
        # Read once at start, in the background: /contato never waits on Slack for it.
        app.slack.wait_for("usergroups.users.list")
        app.command("+55 11 98888-7777", user="UGROUPIE")
        view = wait_views(app, 1)
        text = all_text(view)
        assert "Equipe do grupo" in text and "Outro canal" in text
        assert "Suporte" not in text  # not a member of that team
        assert [c.args["usergroup"] for c in app.slack.of("usergroups.users.list")] == ["S0GROUP"]


def test_contact_search_is_capped_at_100_options(app: RunningApp) -> None:
    events = [
        InboundMessage(
            message_id=f"wamid.M{i}",
            wa_id=f"55119{80000000 + i}",
            at=NOW - timedelta(hours=1),
            text="Oi",
            profile_name=f"Maria {'da Silva ' * 10}{i}",
        )
        for i in range(150)
    ]
    ingest_events(app.rt.store, "sandbox", events, NOW)
    response = app.interact(
        {
            "type": "block_suggestion",
            "user": {"id": "UAGENT"},
            "action_id": modal.ACTION_CONTACT_SEARCH,
            "block_id": modal.BLOCK_CONTACT,
            "value": "maria",
            "view": {"id": "V1", "callback_id": modal.CALLBACK_ID},
        }
    )
    options = response.json()["options"]
    assert len(options) == 100
    assert all(len(o["text"]["text"]) <= 75 and len(o["value"]) <= 150 for o in options)
    assert any(o["text"]["text"].endswith("…") for o in options)


def test_when_slack_refuses_the_modal_the_agent_is_told(app: RunningApp) -> None:
    app.slack.fail_next("views.open", Failure(200, {"ok": False, "error": "expired_trigger_id"}))
    assert app.command("+55 11 98888-7777").status_code == 200
    (said,) = app.slack.wait_for("response_url")
    assert said.args["response_type"] == "ephemeral"
    assert "expired_trigger_id" in said.args["text"] and "/contato" in said.args["text"]
