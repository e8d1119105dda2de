"""Issue 13: contacts known only by Meta's business-scoped user id (BSUID, the 2026 usernames):
stored with no phone, asked about by their BSUID in `sessions` and `preview`, found by the screen's
search, addressed the way Meta documents, and never sent an authentication template."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.bsp.base import TemplateSend
from bot.bsp.meta.send import build_template_body, build_text_body
from bot.cli import main
from bot.rules.events import Category
from bot.rules.templates import Template
from bot.store.models import Contact
from tests.core.test_webhook_hardening import drain, make_runtime, post

BSUID = "BR.1348210651929302"


@pytest.fixture
def rt(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    yield from make_runtime(db_url, tmp_path, monkeypatch)


def bsuid_only_inbound() -> bytes:
    # A customer with a username and no phone number: `from` is absent, `from_user_id` is the BSUID.
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "551140000000", "phone_number_id": "1"},
        "contacts": [{"profile": {"username": "joana.silva"}, "user_id": BSUID}],
        "messages": [
            {
                "from_user_id": BSUID,
                "id": "wamid.BSUID1",
                "timestamp": "1772445600",
                "type": "text",
                "text": {"body": "oi"},
            }
        ],
    }
    return json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
        }
    ).encode()


def test_a_bsuid_only_inbound_can_be_asked_about_by_its_bsuid(
    rt: Any, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    assert post(rt, bsuid_only_inbound()).status_code == 200
    drain(rt)
    with rt.store.session() as session:
        contact = session.scalars(select(Contact)).one()
        assert (contact.user_id, contact.e164, contact.wa_id, contact.name) == (
            BSUID,
            None,
            None,
            "joana.silva",
        )
    monkeypatch.setenv("DATABASE_URL", db_url)
    code = main(
        [
            "--config",
            str(tmp_path / "contato.yml"),
            "sessions",
            "vendas",
            BSUID,
            "--json",
            "--at",
            "2026-03-02T12:00:00Z",
        ]
    )
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    assert data["contact"] == BSUID
    assert data["customer_care"]["open"] is True
    assert data["customer_care"]["expires_at"] == "2026-03-03T10:00:00Z"
    assert data["categories"]["utility"]["charge"] == "free"  # priced as a Brazilian customer in the window


def test_the_search_finds_a_bsuid_contact_by_name_and_by_bsuid(rt: Any) -> None:
    from bot.core.screen import search_known

    post(rt, bsuid_only_inbound())
    drain(rt)
    assert search_known(rt, "joana", limit=5) == [(BSUID, "joana.silva")]
    assert search_known(rt, BSUID, limit=5) == [(BSUID, "joana.silva")]


def test_sends_address_a_bsuid_in_recipient() -> None:
    body = build_text_body(BSUID, "oi")
    assert body["recipient"] == BSUID and "to" not in body
    template = Template(
        name="t", language="pt_BR", category=Category.UTILITY, status="APPROVED", body_text="Oi"
    )
    assert build_template_body(BSUID, TemplateSend(template))["recipient"] == BSUID
    assert build_text_body("+5511988887777", "oi")["to"] == "5511988887777"


def test_authentication_templates_cannot_go_to_a_bsuid(rt: Any) -> None:
    from bot.core.sending import Problem, SendRequest, validate

    auth = Template(
        name="codigo",
        language="pt_BR",
        category=Category.AUTHENTICATION,
        status="APPROVED",
        body_text="{{1}}",
    )
    request = SendRequest(
        idempotency_key="k",
        agent_user_id="U1",
        team_id="t",
        channel_id="vendas",
        contact_e164=BSUID,
        category=Category.AUTHENTICATION,
        template=auth,
        values={"body.1": "123456"},
    )
    problems, _ = validate(rt, request, usergroup_members={}, now=rt.now())
    assert Problem("template", "authentication_to_bsuid") in problems
    assert rt.catalog.t("screen.errors.authentication_to_bsuid")


def test_preview_accepts_a_bsuid(
    rt: Any, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    post(rt, bsuid_only_inbound())
    drain(rt)
    monkeypatch.setenv("DATABASE_URL", db_url)
    code = main(
        [
            "--config",
            str(tmp_path / "contato.yml"),
            "preview",
            "vendas",
            BSUID,
            "--at",
            "2026-03-02T12:00:00Z",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "joana.silva" in out and BSUID in out


def test_the_screen_says_up_front_that_authentication_cannot_go_to_a_bsuid(
    rt: Any, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    post(rt, bsuid_only_inbound())
    drain(rt)
    monkeypatch.setenv("DATABASE_URL", db_url)
    config = str(tmp_path / "contato.yml")
    args = ["--config", config, "preview", "vendas", BSUID, "--at", "2026-03-02T12:00:00Z"]
    warning = rt.catalog.t("screen.errors.authentication_to_bsuid")
    assert main([*args, "--category", "authentication"]) == 0
    assert warning[:60] in capsys.readouterr().out
    assert main([*args, "--category", "utility"]) == 0
    assert warning[:60] not in capsys.readouterr().out


@pytest.mark.parametrize("channel, reachable", [("tw", False), ("vendas", True), ("gs", True)])
def test_a_bsuid_is_sent_only_through_providers_that_address_it(
    rt: Any, channel: str, reachable: bool
) -> None:
    """Twilio's API takes phone numbers only: the agent is told so (a field error on the contact),
    where Meta-body providers put the BSUID in `recipient`."""
    from bot.core.sending import Problem, SendRequest, validate

    request = SendRequest(
        idempotency_key="k",
        agent_user_id="U1",
        team_id="t",
        channel_id=channel,
        contact_e164=BSUID,
        category=Category.SERVICE,
        text="Oi!",
    )
    problems, _ = validate(rt, request, usergroup_members={}, now=rt.now())
    unreachable = Problem("contact", "bsuid_not_reachable", {"bsp": "Twilio"})
    assert (unreachable in problems) is not reachable
    assert "Twilio" in rt.catalog.t("screen.errors.bsuid_not_reachable", bsp="Twilio")
