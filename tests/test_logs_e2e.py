"""Issue 13: the end-to-end suite run with LOG_LEVEL=DEBUG leaves no unmasked phone number and no
secret in the logs (Bolt's and slack_sdk's bodies, SQL parameters, webhook bodies included)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.e2e.harness import BOT_TOKEN, SIGNING_SECRET

ROOT = Path(__file__).resolve().parent.parent
# Every customer number the e2e tests use, in any of the forms they are written in.
PHONE = re.compile(r"8888\D{0,3}7777|(?<!\d)5511\d{8,9}(?!\d)")


def test_the_e2e_suite_at_debug_logs_no_phone_and_no_secret(tmp_path: Path) -> None:
    log_file = tmp_path / "debug.log"
    env = {**os.environ, "CONTATO_E2E_LOG_FILE": str(log_file), "LOG_LEVEL": "DEBUG"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "sqlite", "tests/e2e"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    text = log_file.read_text(encoding="utf-8")
    assert len(text) > 10_000  # the run did log, at DEBUG
    leaks = sorted({m.group(0) for m in PHONE.finditer(text)})
    assert leaks == [], [line for line in text.splitlines() if any(leak in line for leak in leaks)][:5]
    assert SIGNING_SECRET not in text and BOT_TOKEN not in text
    # No request or response body at any level (slack_sdk's "body: {...}", Bolt's refused bodies).
    bodies = [line for line in text.splitlines() if "body: " in line or "'payload'" in line]
    assert bodies == [], bodies[:3]
