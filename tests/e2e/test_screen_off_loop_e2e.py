"""Issue 14: the Slack listeners never open a database session on the event loop.

One blocking read on the loop (a cold template cache, SQLite's writer lock held by ingestion)
stalls every Slack request and webhook the process serves. The real app is driven over signed
HTTP through the screen, the contact search, a send, a thread reply and App Home, with the store
instrumented: every session the app opens is recorded with whether an event loop was running in
the thread that opened it. No timing is measured.
"""

from __future__ import annotations

import asyncio
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from bot.blocks import modal
from bot.blocks.state import ScreenInputs, encode_metadata
from bot.store.db import Store
from tests.e2e.harness import RunningApp, running_app, select_action, selected, typed, write_config
from tests.e2e.test_screen_e2e import (
    CONFIG,
    NOW,
    Clock,
    confirmation_recorded,
    customer_writes,
    sends,
    wait_until,
)


class SessionWatch:
    """Store.session() and Store.read_session() instrumented: where each session was opened, on
    the loop or off it."""

    def __init__(self, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
        self.test_thread = threading.get_ident()
        self.on_loop: list[str] = []  # the stacks that opened a session on the event loop
        self.off_loop = 0  # sessions the app opened in worker threads
        for name in ("session", "read_session"):
            monkeypatch.setattr(store, name, self._watched(getattr(store, name)))

    def _watched(self, original: Callable[[], AbstractContextManager[Session]]) -> Callable[[], Any]:
        @contextmanager
        def session() -> Iterator[Session]:
            self._record()
            with original() as opened:
                yield opened

        return session

    def _record(self) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            if threading.get_ident() != self.test_thread:
                self.off_loop += 1
            return
        self.on_loop.append("".join(traceback.format_stack(limit=12)[:-2]))


@pytest.fixture
def app(tmp_path: Path, db_url: str) -> Iterator[RunningApp]:
    with running_app(write_config(tmp_path, CONFIG), db_url, Clock(NOW)) as running:
        yield running


def test_the_screen_a_send_a_thread_reply_and_app_home_read_the_database_off_the_loop(
    app: RunningApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer_writes(app, NOW - timedelta(hours=1))  # Maria, whose service window is open
    watch = SessionWatch(app.rt.store, monkeypatch)

    # /contato by name, with the template cache cold (nothing in memory, nothing in the database).
    assert app.command("Maria").status_code == 200
    app.slack.wait_for("views.open")
    app.slack.wait_for("views.update")  # the templates landed
    view = app.last_view()
    assert "Maria" in str(view["blocks"])

    # The contact search and a change inside the screen.
    suggestion = app.interact(
        {
            "type": "block_suggestion",
            "user": {"id": "UAGENT"},
            "action_id": modal.ACTION_CONTACT_SEARCH,
            "block_id": modal.BLOCK_CONTACT,
            "value": "mari",
            "view": {"id": "V1", "callback_id": modal.CALLBACK_ID},
        }
    )
    assert [o["value"] for o in suggestion.json()["options"]] == ["+5511988887777"]
    app.block_action(
        view,
        select_action(modal.BLOCK_CATEGORY, modal.ACTION_CATEGORY, "utility"),
        values={modal.BLOCK_CATEGORY: selected("utility", modal.ACTION_CATEGORY)},
    )
    app.slack.wait_for("views.update", 2)
    # "Atualizar modelos": the list asked for again, then the view redrawn.
    app.block_action(
        app.last_view(),
        {"type": "button", "action_id": modal.ACTION_REFRESH_TEMPLATES, "block_id": "refresh"},
        values={modal.BLOCK_CATEGORY: selected("utility", modal.ACTION_CATEGORY)},
    )
    app.slack.wait_for("views.update", 3)

    # A submit with a field error, then a free-text send and its confirmation.
    refused = app.submit(view, {modal.BLOCK_CATEGORY: selected("utility", modal.ACTION_CATEGORY)})
    assert refused.json()["response_action"] == "errors"
    answer = app.submit(
        view,
        {
            modal.BLOCK_CATEGORY: selected("service", modal.ACTION_CATEGORY),
            modal.BLOCK_FREE_TEXT: typed("Olá Maria", modal.ACTION_FREE_TEXT),
        },
    )
    assert answer.status_code == 200
    confirmation = app.slack.wait_for("chat.postMessage")[0]
    assert confirmation.response is not None
    wait_until(lambda: len(sends(app)) == 1)
    wait_until(lambda: confirmation_recorded(app))  # the thread is known before the agent answers in it

    # The agent answers in the confirmation's thread: sent as free text.
    reply = {
        "type": "message",
        "channel": confirmation.response["channel"],
        "user": "UAGENT",
        "text": "Mais uma coisa",
        "ts": "1800000000.000100",
        "thread_ts": confirmation.response["ts"],
    }
    assert app.event(reply).status_code == 200
    wait_until(lambda: len(sends(app)) == 2)

    # App Home.
    assert app.event({"type": "app_home_opened", "user": "UAGENT", "tab": "home"}).status_code == 200
    app.slack.wait_for("views.publish")

    assert watch.off_loop > 0, "the instrumented store saw none of the app's sessions"
    assert watch.on_loop == [], "sessions opened on the event loop:\n\n" + "\n\n".join(watch.on_loop)


def test_a_submit_reaching_a_process_with_a_cold_template_cache_reads_it_off_the_loop(
    app: RunningApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer_writes(app, NOW - timedelta(hours=1))
    watch = SessionWatch(app.rt.store, monkeypatch)

    # A template submit reaching a process whose template cache is cold (the modal was opened
    # before a restart): the list is read in the worker thread, the refresh started on the loop.
    before_restart = ScreenInputs(
        contact_e164="+5511988887777", team_id="suporte", channel_id="sandbox", idempotency_key="k0"
    )
    cold = {
        "id": "V0",
        "type": "modal",
        "hash": "h0",
        "callback_id": modal.CALLBACK_ID,
        "private_metadata": encode_metadata(before_restart),
    }
    refused = app.submit(cold, {modal.BLOCK_CATEGORY: selected("utility", modal.ACTION_CATEGORY)})
    assert refused.json()["response_action"] == "errors"

    # ...and the refresh it needed was started: the list is there for the next screen.
    wait_until(lambda: bool(app.rt.templates.get("sandbox", revalidate=False).templates))

    assert watch.off_loop > 0, "the instrumented store saw none of the app's sessions"
    assert watch.on_loop == [], "sessions opened on the event loop:\n\n" + "\n\n".join(watch.on_loop)
