"""Issue 13: Twilio inbound messages (timed at receipt) and Gupshup's own v2 events feed the same
windows as Meta's envelope, and `sessions --json` shows them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from bot.cli import main
from tests.core.test_webhook_hardening import NOW, SECRET, drain, make_runtime, post


@pytest.fixture
def rt(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    yield from make_runtime(db_url, tmp_path, monkeypatch)


TW_FORM = "application/x-www-form-urlencoded"


def sessions(tmp_path: Path, db_url: str, channel: str, contact: str, at: str, capsys: Any) -> dict[str, Any]:
    capsys.readouterr()
    code = main(
        ["--config", str(tmp_path / "contato.yml"), "sessions", channel, contact, "--json", "--at", at]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    return dict(json.loads(out))


def twilio_inbound(sid: str = "SM0001") -> str:
    # The fields Twilio posts for a customer's WhatsApp message (no event time among them).
    return urlencode(
        {
            "SmsMessageSid": sid,
            "NumMedia": "0",
            "ProfileName": "Maria",
            "MessageType": "text",
            "SmsSid": sid,
            "WaId": "5511988887777",
            "SmsStatus": "received",
            "Body": "Oi, tudo bem?",
            "To": "whatsapp:+551140000003",
            "NumSegments": "1",
            "ReferralNumMedia": "0",
            "MessageSid": sid,
            "AccountSid": "AC123",
            "From": "whatsapp:+5511988887777",
            "ApiVersion": "2010-04-01",
        }
    )


def test_twilio_inbound_opens_the_window_timed_at_receipt(
    rt: Any,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    response = post(rt, twilio_inbound(), {"X-Webhook-Secret": SECRET, "Content-Type": TW_FORM}, "tw")
    assert response.status_code == 200, response.text
    # Processed later (a restart): still timed by the stored receipt time, not the processing time.
    rt.clock.now = NOW + timedelta(hours=3)
    drain(rt)
    at = (NOW + timedelta(hours=4)).strftime("%Y-%m-%dT%H:%M:%SZ")
    data = sessions(tmp_path, db_url, "tw", "+55 11 98888-7777", at, capsys)
    care = data["customer_care"]
    assert care["open"] is True
    assert care["expires_at"] == (NOW + timedelta(hours=24)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_webhook_replay_of_a_saved_twilio_body_takes_received_at(
    rt: Any,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    saved = tmp_path / "twilio.txt"
    saved.write_text(twilio_inbound("SM0002"))
    received = "2026-03-02T08:00:00Z"
    code = main(
        [
            "--config",
            str(tmp_path / "contato.yml"),
            "webhook",
            "replay",
            "tw",
            str(saved),
            "--received-at",
            received,
        ]
    )
    assert code == 0
    data = sessions(tmp_path, db_url, "tw", "5511988887777", "2026-03-02T12:00:00Z", capsys)
    assert data["customer_care"]["expires_at"] == "2026-03-03T08:00:00Z"


def gupshup_v2_message(ms: int) -> bytes:
    return json.dumps(
        {
            "app": "DemoApp",
            "timestamp": ms,
            "version": 2,
            "type": "message",
            "payload": {
                "id": "ABEGkYaYVSEEAhAL3SLAWwHKeKrt6s3FKB0c",
                "source": "5511988887777",
                "type": "text",
                "payload": {"text": "Oi"},
                "sender": {
                    "phone": "5511988887777",
                    "name": "Maria",
                    "country_code": "55",
                    "dial_code": "11988887777",
                },
            },
        }
    ).encode()


def test_gupshup_v2_message_opens_the_window(
    rt: Any,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    wrote_at = NOW - timedelta(hours=2)
    response = post(rt, gupshup_v2_message(int(wrote_at.timestamp() * 1000)), {}, "gs")
    assert response.status_code == 200, response.text
    drain(rt)
    data = sessions(tmp_path, db_url, "gs", "+5511988887777", "2026-03-02T12:00:00Z", capsys)
    care = data["customer_care"]
    assert care["open"] is True and care["expires_at"] == "2026-03-03T10:00:00Z"


def test_gupshup_v2_sent_event_with_a_conversation(
    rt: Any,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    sent_at = int((NOW - timedelta(hours=1)).timestamp())
    event = {
        "app": "DemoAPI",
        "timestamp": sent_at * 1000,
        "version": 2,
        "type": "message-event",
        "payload": {
            "id": "gBEGkYaYVSEEAgnZxQ3JmKK6Wvg",
            "gsId": "ee4a68a0-1203-4c85-8dc3-49d0b3226a35",
            "type": "sent",
            "destination": "5511988887777",
            "payload": {"ts": sent_at},
            "conversation": {
                "id": "532b57b5f6e63595ccd74c6010e5c5c7",
                "expiresAt": sent_at + 86400,
                "type": "UIC",
            },
            "pricing": {"policy": "CBP", "category": "UIC"},
        },
    }
    assert post(rt, json.dumps(event).encode(), {}, "gs").status_code == 200
    drain(rt)
    data = sessions(tmp_path, db_url, "gs", "+5511988887777", "2026-03-02T12:00:00Z", capsys)
    # A UIC (user-initiated) conversation: the service category is open until its expiry.
    service = data["categories"]["service"]
    assert service["open"] is True
    assert service["expires_at"] == (NOW + timedelta(hours=23)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert data["sessions_supported"] is True


@pytest.mark.parametrize("channel", ["tw", "gs"])
def test_the_cards_no_longer_say_no_session_data(
    rt: Any, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any, channel: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    code = main(["--config", str(tmp_path / "contato.yml"), "preview", channel, "+5511988887777"])
    out = capsys.readouterr().out
    assert code == 0
    assert "screen" in out  # the modal was printed
    assert rt.catalog.t("screen.cards.no_session_data") not in out  # pt-BR: "não informa dados de sessão"
    assert "não informa" not in out
