"""The real app served over real HTTP (uvicorn in a thread), driven with Slack-signed requests.

Only Slack's edge is fake (`FakeSlack`); the app, its database and the sandbox BSP are real.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import uvicorn
from pydantic import SecretStr

from tests.e2e.fake_slack import FakeSlack, free_port

SIGNING_SECRET = "e2e-signing-secret"
BOT_TOKEN = "xoxb-e2e"


class Clock:
    """A clock the test moves; the app reads it through Runtime.clock."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def sign(body: bytes, timestamp: int | None = None, secret: str = SIGNING_SECRET) -> dict[str, str]:
    """Slack's request signature: v0=HMAC-SHA256("v0:{ts}:{body}")."""
    ts = str(timestamp if timestamp is not None else int(time.time()))
    digest = hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


class RunningApp:
    def __init__(self, base_url: str, slack: FakeSlack, runtime: Any) -> None:
        self.url = base_url
        self.slack = slack
        self.rt = runtime
        self.http = httpx.Client(base_url=base_url, timeout=15)

    # ---- Slack requests ----
    def post_slack(self, form: dict[str, str], *, headers: dict[str, str] | None = None) -> httpx.Response:
        body = urlencode(form).encode()
        sent = {"Content-Type": "application/x-www-form-urlencoded", **sign(body), **(headers or {})}
        return self.http.post("/slack/events", content=body, headers=sent)

    def event(self, event: dict[str, Any]) -> httpx.Response:
        """An Events API callback (JSON body), signed."""
        body = json.dumps(
            {
                "token": "legacy",
                "team_id": "T1",
                "api_app_id": "A1",
                "type": "event_callback",
                "event_id": f"Ev{time.monotonic_ns()}",
                "event_time": int(time.time()),
                "event": event,
            }
        ).encode()
        return self.http.post(
            "/slack/events", content=body, headers={"Content-Type": "application/json", **sign(body)}
        )

    def command(self, text: str, user: str = "UAGENT", channel: str = "CSUPPORT") -> httpx.Response:
        return self.post_slack(
            {
                "command": "/contato",
                "text": text,
                "user_id": user,
                "user_name": "agent",
                "channel_id": channel,
                "team_id": "T1",
                "trigger_id": f"trigger-{time.monotonic_ns()}",
                "response_url": f"{self.slack.url}response_url",
                "api_app_id": "A1",
            }
        )

    def interact(self, payload: dict[str, Any]) -> httpx.Response:
        payload = {"team": {"id": "T1"}, "api_app_id": "A1", "token": "legacy", **payload}
        return self.post_slack({"payload": json.dumps(payload)})

    def block_action(
        self,
        view: dict[str, Any],
        action: dict[str, Any],
        user: str = "UAGENT",
        values: dict[str, dict[str, Any]] | None = None,
    ) -> httpx.Response:
        return self.interact(
            {
                "type": "block_actions",
                "user": {"id": user},
                "trigger_id": f"trigger-{time.monotonic_ns()}",
                "view": with_state(view, values or {}),
                "actions": [action],
                "container": {"type": "view", "view_id": view["id"]},
            }
        )

    def submit(
        self, view: dict[str, Any], values: dict[str, dict[str, Any]], user: str = "UAGENT"
    ) -> httpx.Response:
        return self.interact(
            {
                "type": "view_submission",
                "user": {"id": user},
                "trigger_id": f"trigger-{time.monotonic_ns()}",
                "view": with_state(view, values),
            }
        )

    def last_view(self) -> dict[str, Any]:
        """The view Slack now shows: what the app last opened or updated (with id and hash)."""
        calls = [c for c in self.slack.calls if c.method in ("views.open", "views.update")]
        assert calls, "no view opened yet"
        call = calls[-1]
        view = dict(call.args["view"])
        view.setdefault("id", call.args.get("view_id") or "V00001")
        view.setdefault("hash", "h1")
        return view


def with_state(view: dict[str, Any], values: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The view as Slack sends it back: with `state.values` {block_id: {action_id: value}}."""
    out = dict(view)
    out.setdefault("id", "V00001")
    out.setdefault("hash", "h1")
    out["state"] = {"values": values}
    return out


def selected(value: str, action_id: str, kind: str = "static_select") -> dict[str, Any]:
    """A select's state entry."""
    return {
        action_id: {
            "type": kind,
            "selected_option": {"value": value, "text": {"type": "plain_text", "text": value}},
        }
    }


def typed(value: str, action_id: str) -> dict[str, Any]:
    return {action_id: {"type": "plain_text_input", "value": value}}


def select_action(block_id: str, action_id: str, value: str, kind: str = "static_select") -> dict[str, Any]:
    return {
        "type": kind,
        "block_id": block_id,
        "action_id": action_id,
        "selected_option": {"value": value, "text": {"type": "plain_text", "text": value}},
        "action_ts": str(time.time()),
    }


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "contato.yml"
    path.write_text(text)
    return path


@contextmanager
def running_app(
    config_path: Path,
    database_url: str,
    clock: Callable[[], datetime] | None = None,
    *,
    with_scheduler: bool = False,
    env: dict[str, str] | None = None,
    usergroups: dict[str, list[str]] | None = None,
) -> Iterator[RunningApp]:
    """Build the runtime the way `serve` does, serve the ASGI app on a free port, tear it down."""
    from bot.app import build_asgi_app, build_bolt_app
    from bot.config import Settings
    from bot.runtime import build_runtime

    slack = FakeSlack().start()
    slack.usergroups.update(usergroups or {})  # Slack's state before the app starts
    settings = Settings(
        slack_bot_token=SecretStr(BOT_TOKEN),
        slack_signing_secret=SecretStr(SIGNING_SECRET),
        database_url=database_url,
        slack_api_url=slack.url,
    )
    rt = build_runtime(config_path, settings=settings, clock=clock or (lambda: datetime.now(UTC)))
    bolt = build_bolt_app(rt)
    asgi = build_asgi_app(rt, bolt, with_scheduler=with_scheduler)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(asgi, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the app did not start")
        time.sleep(0.02)
    app = RunningApp(f"http://127.0.0.1:{port}", slack, rt)
    try:
        yield app
    finally:
        app.http.close()
        server.should_exit = True
        thread.join(timeout=10)
        slack.stop()
