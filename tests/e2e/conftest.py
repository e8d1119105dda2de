"""When CONTATO_E2E_LOG_FILE is set (tests/test_logs_e2e.py runs this suite that way), every log
record of the run goes through the app's own handler at DEBUG into that file, as `serve` would
write it with LOG_LEVEL=DEBUG."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="session")
def _debug_log_file() -> Iterator[None]:
    path = os.environ.get("CONTATO_E2E_LOG_FILE")
    if not path:
        yield
        return
    from bot.logs import add_secrets, setup_logging
    from tests.e2e.harness import BOT_TOKEN, SIGNING_SECRET

    with open(path, "a", encoding="utf-8") as stream:
        setup_logging("DEBUG", "text", environ={}, stream=stream, force=True)
        add_secrets([BOT_TOKEN, SIGNING_SECRET])  # what `serve` reads from the environment
        yield
