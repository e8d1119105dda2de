"""What `/slack/events` checks before Bolt sees a request: size, signature, freshness, replays and
content type. Each refusal is a 4xx with no body logged.

Bolt verifies signatures too, but only after reading a body of any size, and it logs a refused
request's whole body at INFO; odd headers (`X-Slack-Request-Timestamp: abc`, a non-ASCII
signature) or an unparseable signed body made it answer 500. Here a request is refused before any
of that, and Bolt only ever gets authentic, well-formed requests it has not seen before.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs

log = logging.getLogger(__name__)

# Slack's own payloads (a view with 100 blocks included) are far below this.
MAX_SLACK_BODY_BYTES = 1024 * 1024
# Slack signs the request time; older (or further ahead) than this is refused, as Slack advises.
SIGNATURE_VALIDITY_SECONDS = 5 * 60
REPLAY_CACHE_MAX = 100_000
_FORM = "application/x-www-form-urlencoded"
_JSON = "application/json"


@dataclass(frozen=True)
class Refusal:
    status: int
    error: str


class ReplayCache:
    """Signatures seen within their validity: the same signed request a second time is a replay.
    Per process: with several instances a replay sent to another one gets through (sends still
    keep their idempotency key); bounded, so a flood of valid requests cannot grow it forever."""

    def __init__(self, clock: Callable[[], float] = time.time, limit: int = REPLAY_CACHE_MAX) -> None:
        self.clock = clock
        self.limit = limit
        self._seen: dict[str, float] = {}  # signature -> when it stops being valid

    def first_time(self, signature: str, timestamp: int) -> bool:
        """Record the signature; False if it was already seen (and still valid)."""
        now = self.clock()
        if len(self._seen) >= self.limit:
            self._seen = {sig: until for sig, until in self._seen.items() if until > now}
            while len(self._seen) >= self.limit:  # still full of valid ones: forget the oldest
                self._seen.pop(next(iter(self._seen)))
        until = self._seen.get(signature)
        if until is not None and until > now:
            return False
        self._seen[signature] = timestamp + SIGNATURE_VALIDITY_SECONDS
        return True


def check_request(
    headers: Mapping[str, str],
    body: bytes,
    signing_secret: str,
    replays: ReplayCache,
) -> Refusal | None:
    """None when the request may go to Bolt, else why not (the body is never logged)."""
    timestamp_text = headers.get("x-slack-request-timestamp", "")
    signature = headers.get("x-slack-signature", "")
    if not timestamp_text.isascii() or not timestamp_text.isdigit() or len(timestamp_text) > 12:
        return _refuse(401, "invalid_timestamp")
    timestamp = int(timestamp_text)
    if abs(replays.clock() - timestamp) > SIGNATURE_VALIDITY_SECONDS:
        return _refuse(401, "stale_request")
    if not signature.isascii() or not signature.startswith("v0="):
        return _refuse(401, "invalid_signature")
    expected = hmac.new(
        signing_secret.encode(), f"v0:{timestamp_text}:".encode() + body, hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(f"v0={expected}".encode(), signature.encode()):
        return _refuse(401, "invalid_signature")
    if not replays.first_time(signature, timestamp):
        return _refuse(401, "replayed_request")
    return _check_body(headers.get("content-type", ""), body)


def _check_body(content_type: str, body: bytes) -> Refusal | None:
    kind = content_type.split(";")[0].strip().lower()
    if kind not in (_FORM, _JSON):
        return _refuse(415, "unsupported_media_type")
    try:
        text = body.decode("utf-8")
        if kind == _JSON:
            parsed = json.loads(text)
            return None if isinstance(parsed, dict) else _refuse(400, "invalid_body")
        form = parse_qs(text, keep_blank_values=True)
        if "payload" in form:  # interactivity: the form field is Slack's JSON
            parsed = json.loads(form["payload"][0])
            return None if isinstance(parsed, dict) else _refuse(400, "invalid_body")
    except (UnicodeDecodeError, ValueError, RecursionError):
        return _refuse(400, "invalid_body")
    return None


def _refuse(status: int, error: str) -> Refusal:
    log.warning("slack request refused: %s", error)
    return Refusal(status, error)
