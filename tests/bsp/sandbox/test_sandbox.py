"""The built-in sandbox BSP: sample templates, Meta wire bodies recorded locally, webhook auth,
the provider registry, and `contato-bot sandbox inbound` / `sessions` through the real CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.bsp.base import InboundMessage, SessionData, TemplateSend
from bot.bsp.sandbox import adapter as sandbox
from bot.bsp.sandbox import samples
from bot.bsp.sandbox.channel import SandboxChannel
from bot.rules.events import Category
from bot.rules.templates import Template, template_variables
from bot.store.db import Store
from bot.store.models import SandboxSend
from tests.bsp import clock, make_channel
from tests.conftest import load_fixture


def built(store: Store | None = None, channel: SandboxChannel | None = None) -> sandbox.SandboxProvider:
    """The sandbox as the registry builds it (no HTTP; sends recorded in `store`)."""
    return sandbox.SandboxProvider.build(channel or make_channel(SandboxChannel), None, store, clock)


def template(name: str) -> Template:
    return next(t for t in samples.sample_templates() if t.name == name)


async def sent_payload(
    store: Store, provider: sandbox.SandboxProvider, to: str, send: TemplateSend
) -> dict[str, Any]:
    result = await provider.send_template(to, send)
    with store.session() as session:
        row = session.scalars(select(SandboxSend).where(SandboxSend.message_id == result.message_id)).one()
        assert (row.channel_id, row.to, row.kind) == ("sales", to, "template")
        return dict(row.payload)


# ---- templates ----------------------------------------------------------------------------------


async def test_templates_cover_every_category_and_case() -> None:
    templates = await built().list_templates()
    approved = [t for t in templates if t.approved]
    assert {t.category for t in approved} == set(Category)
    paused = [t for t in templates if not t.approved]
    assert [(t.category, t.status) for t in paused] == [(Category.MARKETING, "PAUSED")]
    assert len({t.key for t in templates}) == len(templates)
    assert all(t.language == "pt_BR" for t in templates)

    positional = template("pedido_enviado")
    assert [v.key for v in template_variables(positional)] == ["header.1", "body.1", "body.2"]
    assert {b.type for b in positional.buttons} == {"QUICK_REPLY"}
    named = template("entrega_hoje")
    assert named.parameter_format == "NAMED"
    assert [v.key for v in template_variables(named)] == ["body.nome", "body.pedido", "button.0"]
    marketing = template("promocao_semana")
    assert marketing.footer_text and marketing.buttons
    auth = template("codigo_verificacao")
    assert [(b.type, b.otp_type) for b in auth.buttons] == [("OTP", "COPY_CODE")]
    assert [v.key for v in template_variables(auth)] == ["body.1"]


def test_provider_identity() -> None:
    provider = built()
    assert provider.name == "sandbox" and provider.session_data is SessionData.FULL


# ---- sends --------------------------------------------------------------------------------------


async def test_positional_template_with_header(store: Store) -> None:
    provider = built(store)
    values = {"header.1": "#123", "body.1": "Maria", "body.2": "#123"}
    payload = await sent_payload(
        store, provider, "+5511988887777", TemplateSend(template("pedido_enviado"), values)
    )
    assert payload == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "5511988887777",
        "type": "template",
        "template": {
            "name": "pedido_enviado",
            "language": {"code": "pt_BR"},
            "components": [
                {"type": "header", "parameters": [{"type": "text", "text": "#123"}]},
                {
                    "type": "body",
                    "parameters": [{"type": "text", "text": "Maria"}, {"type": "text", "text": "#123"}],
                },
            ],
        },
    }


async def test_named_template_with_url_button(store: Store) -> None:
    provider = built(store)
    values = {"body.nome": "Maria", "body.pedido": "A-77", "button.0": "A-77"}
    payload = await sent_payload(
        store, provider, "+5511988887777", TemplateSend(template("entrega_hoje"), values)
    )
    assert payload["template"]["components"] == [
        {
            "type": "body",
            "parameters": [
                {"type": "text", "text": "Maria", "parameter_name": "nome"},
                {"type": "text", "text": "A-77", "parameter_name": "pedido"},
            ],
        },
        {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "A-77"}]},
    ]


async def test_copy_code_otp_matches_metas_example(store: Store) -> None:
    provider = built(store)
    payload = await sent_payload(
        store, provider, "+12015553931", TemplateSend(template("codigo_verificacao"), {"body.1": "J$FpnYnP"})
    )
    expected = load_fixture("cloudapi-send-auth-copy-code-request.json")
    expected["template"]["name"], expected["template"]["language"] = "codigo_verificacao", {"code": "pt_BR"}
    assert payload == expected


async def test_free_text_and_the_send_result(store: Store) -> None:
    provider = built(store)
    result = await provider.send_text("+5511988887777", "Olá!")
    assert (
        result.message_id.startswith("wamid.SANDBOX.")
        and len(result.message_id) == len("wamid.SANDBOX.") + 32
    )
    assert result.wa_id == "5511988887777"
    assert result.raw is not None and result.raw["messages"] == [{"id": result.message_id}]
    again = await provider.send_text("+5511988887777", "Olá!")
    assert again.message_id != result.message_id
    with store.session() as session:
        rows = list(session.scalars(select(SandboxSend).order_by(SandboxSend.id)))
    assert [r.payload for r in rows] == [
        {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "5511988887777",
            "type": "text",
            "text": {"body": "Olá!"},
        }
    ] * 2


# ---- webhooks -----------------------------------------------------------------------------------


def test_webhook_secret() -> None:
    channel = make_channel(SandboxChannel, {"SANDBOX_SECRET": "s3cret"}, webhook_secret_env="SANDBOX_SECRET")
    provider = built(channel=channel)
    assert provider.authenticate_webhook({"X-Webhook-Secret": "s3cret"}, b"{}")
    assert provider.authenticate_webhook({"x-webhook-secret": "s3cret"}, b"{}")
    assert not provider.authenticate_webhook({"X-Webhook-Secret": "nope"}, b"{}")
    assert not provider.authenticate_webhook({}, b"{}")
    # No secret configured: refused (the CLI is the way in).
    assert not built().authenticate_webhook({"X-Webhook-Secret": ""}, b"{}")
    unset = make_channel(SandboxChannel, {}, webhook_secret_env="SANDBOX_SECRET")
    assert not built(channel=unset).authenticate_webhook({"X-Webhook-Secret": ""}, b"{}")


def test_inbound_payload_parses_as_a_meta_webhook() -> None:
    at = datetime(2026, 11, 24, 19, 0, tzinfo=UTC)
    payload = samples.inbound_payload("+55 11 4000-0000", "5511988887777", "Oi", at, ctwa=True)
    events = built().parse_webhook(json.loads(json.dumps(payload)))
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, InboundMessage)
    assert (event.wa_id, event.at, event.text) == ("5511988887777", at, "Oi")
    assert event.referral is not None and event.referral["source_type"] == "ad"
    plain = samples.inbound_payload("+551140000000", "5511988887777", "Oi", at, ctwa=False)
    assert "referral" not in plain["entry"][0]["changes"][0]["value"]["messages"][0]


# ---- the command line ---------------------------------------------------------------------------

CONFIG = """
language: pt-BR
teams:
  - id: suporte
    name: Suporte
    members: [UAGENT]
    channels: [sandbox, vendas]
channels:
  - id: sandbox
    name: Sandbox
    number: "+55 11 4000-0000"
    bsp: sandbox
  - id: vendas
    name: Vendas
    number: "+55 11 4000-0001"
    bsp: 360dialog
    api_key_env: SANDBOX_TEST_D360_KEY
    webhook_secret_env: SANDBOX_TEST_D360_SECRET
"""


@pytest.fixture
def config_path(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    pytest.importorskip("bot.config", reason="bot.config not written yet")
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("SANDBOX_TEST_D360_KEY", "key")
    monkeypatch.setenv("SANDBOX_TEST_D360_SECRET", "secret")
    path = tmp_path / "contato.yml"
    path.write_text(CONFIG)
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    from bot.cli import main

    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_sandbox_inbound_then_sessions(config_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys,
        "--config",
        config_path,
        "sandbox",
        "inbound",
        "sandbox",
        "(11) 98888-7777",
        "Oi, tudo bem?",
        "--at",
        "2026-11-24T17:30:00Z",
    )
    assert code == 0, err
    printed = json.loads(out)
    assert printed["changes"]["customer_messages"] == 1
    assert printed["sessions"]["contact"] == "+5511988887777"
    assert printed["sessions"]["customer_care"]["expires_at"] == "2026-11-25T17:30:00Z"

    code, out, err = run(
        capsys,
        "--config",
        config_path,
        "sessions",
        "sandbox",
        "+55 11 98888-7777",
        "--json",
        "--at",
        "2026-11-24T19:00:00Z",
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["at"] == "2026-11-24T19:00:00Z"
    assert data["customer_care"] == {
        "open": True,
        "opened_at": "2026-11-24T17:30:00Z",
        "expires_at": "2026-11-25T17:30:00Z",
        "remaining_seconds": 81000,
    }
    assert data["free_text_allowed"] is True

    code, out, _ = run(
        capsys, "--config", config_path, "sessions", "sandbox", "11988887777", "--at", "2026-11-24T19:00:00"
    )
    assert code == 0 and "customer_care" in out and "yes" in out


def test_cli_sandbox_inbound_from_an_ad(config_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys,
        "--config",
        config_path,
        "sandbox",
        "inbound",
        "sandbox",
        "+5511988887777",
        "Vi o anúncio",
        "--ctwa",
        "--at",
        "2099-01-01T10:00:00Z",
    )
    assert code == 0, err
    assert json.loads(out)["sessions"]["ctwa"]["pending_until"] == "2099-01-02T10:00:00Z"


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["sandbox", "inbound", "vendas", "+5511988887777", "Oi"], "not a sandbox channel"),
        (["sandbox", "inbound", "nosuch", "+5511988887777", "Oi"], "not in the config"),
        (["sandbox", "inbound", "sandbox", "12", "Oi"], "not a phone number"),
        (["sandbox", "inbound", "sandbox", "+5511988887777", "Oi", "--at", "ontem"], "ISO 8601"),
        (["sessions", "nosuch", "+5511988887777"], "channels: sandbox, vendas"),
        (["sessions", "sandbox", "abc"], "not a phone number"),
        (["sessions", "sandbox", "+5511988887777", "--at", "2026-13-45"], "ISO 8601"),
    ],
)
def test_cli_refusals(
    config_path: str, capsys: pytest.CaptureFixture[str], argv: list[str], needle: str
) -> None:
    code, out, err = run(capsys, "--config", config_path, *argv)
    assert code == 2
    assert out == ""
    assert needle in err and "Traceback" not in err
