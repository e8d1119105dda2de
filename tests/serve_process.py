"""Running `contato-bot serve` as a real process in a test: this checkout's code, and waiting
until it answers `/healthz` (or failing with what it printed)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent  # the checkout


def contato_bot() -> list[str]:
    """The `contato-bot` command of this venv (or `python -m bot.cli` when it has no script)."""
    script = Path(sys.executable).parent / "contato-bot"
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli"]


def checkout_env(extra: Mapping[str, str]) -> dict[str, str]:
    """The environment plus `extra`, with this checkout first on PYTHONPATH: the process runs this
    tree's code, not whatever checkout the venv's script was installed from."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, **extra, "PYTHONPATH": path}


def wait_until_serving(port: int, process: subprocess.Popen[bytes], timeout: float = 30) -> httpx.Response:
    """The first answer of `/healthz`; fails with the process's output if it dies or never answers."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
        except httpx.TransportError:
            output = process.stderr or process.stdout
            assert process.poll() is None, output.read().decode() if output else ""
            assert time.monotonic() < deadline, f"serve did not answer in {timeout:.0f} s"
            time.sleep(0.2)
