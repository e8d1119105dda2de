"""A local server that plays the Slack Web API, the way bolt-python tests itself.

It records every call (method, arguments, token) and answers `{"ok": true, ...}` with plausible
data. Tests can queue failures per method (HTTP 500, 429 with Retry-After, `ok: false`).
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import uvicorn
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass
class SlackCall:
    method: str
    args: dict[str, Any]
    token: str | None
    response: dict[str, Any] | None = None  # what the fake answered (None: a queued failure)


@dataclass
class Failure:
    status: int = 500
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# An app installed from this repository's manifest.yml is granted exactly its bot scopes.
MANIFEST_BOT_SCOPES: tuple[str, ...] = tuple(
    yaml.safe_load((Path(__file__).resolve().parents[2] / "manifest.yml").read_text())["oauth_config"][
        "scopes"
    ]["bot"]
)


class FakeSlack:
    def __init__(self) -> None:
        self.calls: list[SlackCall] = []
        self.failures: dict[str, deque[Failure]] = defaultdict(deque)
        self.usergroups: dict[str, list[str]] = {}
        # What auth.test reports in its `x-oauth-scopes` header: the scopes the app was granted.
        self.scopes: list[str] = list(MANIFEST_BOT_SCOPES)
        # conversations.info: channel id -> whether the app is a member (others: channel_not_found).
        self.channels: dict[str, bool] = {}
        self._lock = threading.Lock()
        self._ts = itertools.count(1)
        self._views = itertools.count(1)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/api/"
        app = Starlette(routes=[Route("/api/{method}", self._handle, methods=["POST", "GET"])])
        self._server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        )
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def start(self) -> FakeSlack:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake Slack did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)

    def fail_next(self, method: str, *failures: Failure) -> None:
        with self._lock:
            self.failures[method].extend(failures)

    async def _handle(self, request: Request) -> Response:
        method = request.path_params["method"]
        raw = await request.body()
        content_type = request.headers.get("content-type", "")
        args: dict[str, Any]
        if "json" in content_type:
            args = json.loads(raw or b"{}")
        else:
            args = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        args = {**dict(request.query_params), **args}  # GET methods send their arguments as a query
        for key in ("view", "blocks"):
            if isinstance(args.get(key), str):
                args[key] = json.loads(args[key])
        auth = request.headers.get("authorization", "")
        token = auth.removeprefix("Bearer ") or None
        call = SlackCall(method, args, token)
        with self._lock:
            failure = self.failures[method].popleft() if self.failures[method] else None
            if failure is None:
                call.response = self._answer(method, args)
            self.calls.append(call)
        if failure is not None:
            return JSONResponse(
                failure.body or {"ok": False, "error": "fatal_error"},
                status_code=failure.status,
                headers=failure.headers,
            )
        headers = {"x-oauth-scopes": ",".join(self.scopes)} if method == "auth.test" else None
        return JSONResponse(call.response, headers=headers)

    def _answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {"ok": True, "user_id": "UBOT", "bot_id": "BBOT", "team_id": "T1", "team": "Test"}
        if method in ("views.open", "views.update", "views.push", "views.publish"):
            view = dict(args.get("view") or {})
            view_id = args.get("view_id") or f"V{next(self._views):05d}"
            view.update({"id": view_id, "hash": f"h{next(self._ts)}"})
            return {"ok": True, "view": view}
        if method in ("chat.postMessage", "chat.update", "chat.postEphemeral"):
            ts = args.get("ts") or f"1700000000.{next(self._ts):06d}"
            return {"ok": True, "channel": args.get("channel"), "ts": ts, "message_ts": ts}
        if method == "usergroups.users.list":
            return {"ok": True, "users": self.usergroups.get(str(args.get("usergroup")), [])}
        if method == "conversations.info":
            channel = str(args.get("channel"))
            if channel not in self.channels:
                return {"ok": False, "error": "channel_not_found"}
            info = {"id": channel, "name": channel.lower(), "is_member": self.channels[channel]}
            return {"ok": True, "channel": info}
        if method == "usergroups.list":
            return {"ok": True, "usergroups": [{"id": g, "handle": g.lower()} for g in self.usergroups]}
        if method == "conversations.open":
            return {"ok": True, "channel": {"id": "D" + str(args.get("users", "X"))[1:]}}
        return {"ok": True}

    # ---- assertions helpers ----
    def of(self, method: str) -> list[SlackCall]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def wait_for(self, method: str, count: int = 1, timeout: float = 10.0) -> list[SlackCall]:
        """Wait until `count` calls of `method` arrived (the app acks first, then calls Slack)."""
        deadline = time.monotonic() + timeout
        while True:
            calls = self.of(method)
            if len(calls) >= count:
                return calls
            if time.monotonic() > deadline:
                seen = [c.method for c in self.calls]
                raise AssertionError(f"expected {count} {method} call(s), got {len(calls)}; calls: {seen}")
            time.sleep(0.01)
