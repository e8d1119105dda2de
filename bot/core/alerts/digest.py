"""Posting the expiry digests: one `chat.postMessage` per Slack channel (more only past Slack's
50 blocks); on a Slack failure the claims get their next attempt (Retry-After, else backoff)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from bot.blocks.alerts import DIGEST_MAX_ITEMS, AlertItem, alert_digest
from bot.core.alerts.scan import ScanResult
from bot.rules.phones import mask_phone
from bot.store import alert_claims
from bot.store.alert_claims import LeasedClaim

if TYPE_CHECKING:
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.runtime import Runtime

log = logging.getLogger(__name__)

BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_MAX = timedelta(minutes=30)


def _retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    for name, value in dict(headers).items():
        if str(name).lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                return None
    return None


def _describe(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    error = None
    data = getattr(response, "data", None)
    if isinstance(data, dict):
        error = data.get("error")
    return f"{type(exc).__name__} status={status} error={error}"


def backoff(attempts: int, retry_after: float | None = None) -> timedelta:
    """When to try again after the `attempts`-th failure: Slack's Retry-After if it gave one,
    else 30 s doubling per attempt up to 30 min."""
    if retry_after is not None:
        return timedelta(seconds=retry_after)
    step = BACKOFF_BASE * (2 ** max(0, attempts - 1))
    return min(step, BACKOFF_MAX)


def slack_error(exc: BaseException) -> str:
    """Slack's error code (`not_in_channel`, `ratelimited`...) or the exception's name."""
    response = getattr(exc, "response", None)
    data = getattr(response, "data", None)
    if isinstance(data, dict) and data.get("error"):
        return str(data["error"])
    return type(exc).__name__


def split_give_up(
    claims: Sequence[LeasedClaim], now: datetime, retry_after: float | None, give_up_after: timedelta
) -> tuple[list[tuple[LeasedClaim, datetime]], list[LeasedClaim]]:
    """The failed claims to retry (with their next attempt), and those to give up: their next
    attempt would come more than `give_up_after` after they became due."""
    retry: list[tuple[LeasedClaim, datetime]] = []
    give_up: list[LeasedClaim] = []
    for claim in claims:
        next_at = now + backoff(claim.attempts + 1, retry_after)
        started = claim.claimed_at or now
        if next_at - started > give_up_after:
            give_up.append(claim)
        else:
            retry.append((claim, next_at))
    return retry, give_up


def _mark_failed(
    session: Session,
    retry: Sequence[tuple[LeasedClaim, datetime]],
    give_up: Sequence[LeasedClaim],
    now: datetime,
    error: str,
) -> None:
    alert_claims.mark_failed(session, [(c.id, c.attempts + 1, at) for c, at in retry], error)
    if give_up:
        alert_claims.mark_failed(session, [(c.id, c.attempts + 1, now) for c in give_up], error)
        alert_claims.mark_posted(session, [c.id for c in give_up], None, now, outcome="given_up")


async def post_channel(
    rt: Runtime,
    client: AsyncWebClient,
    slack_channel: str,
    claims: list[LeasedClaim],
    items: dict[int, AlertItem],
    now: datetime,
    result: ScanResult,
) -> None:
    """Post the digest(s) of one Slack channel; on failure schedule every remaining claim."""
    claims = sorted(claims, key=lambda c: (items[c.id].expires_at, c.id))
    chunks = [claims[i : i + DIGEST_MAX_ITEMS] for i in range(0, len(claims), DIGEST_MAX_ITEMS)]
    for index, chunk in enumerate(chunks):
        text, blocks = alert_digest(rt.config.language, [items[c.id] for c in chunk], now, rt.config.timezone)
        try:
            response = await client.chat_postMessage(
                channel=slack_channel, text=text, blocks=blocks, unfurl_links=False, unfurl_media=False
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # SlackApiError (5xx, 429, ok: false), network errors, timeouts
            rest = [c for chunk_ in chunks[index:] for c in chunk_]
            give_up_after = timedelta(minutes=rt.config.alerts.give_up_after_minutes)
            retry, give_up = split_give_up(rest, now, _retry_after(exc), give_up_after)
            error = slack_error(exc)
            await asyncio.to_thread(_in_session, rt, _mark_failed, retry, give_up, now, error)
            result.failed += len(retry)
            result.given_up += len(give_up)
            if retry:
                log.warning(
                    "expiry alert digest to %s failed (%s); %d alert(s) retried later",
                    slack_channel,
                    _describe(exc),
                    len(retry),
                )
            if give_up:
                log.error(
                    "expiry alert digest to %s failed (%s); %d alert(s) given up after %d min of "
                    "retries (alerts.give_up_after_minutes)",
                    slack_channel,
                    _describe(exc),
                    len(give_up),
                    rt.config.alerts.give_up_after_minutes,
                )
            return
        ts = response.get("ts") if hasattr(response, "get") else None
        await asyncio.to_thread(_in_session, rt, alert_claims.mark_posted, [c.id for c in chunk], ts, now)
        result.posted += len(chunk)
        result.messages += 1
        for c in chunk:
            phone = items[c.id].contact_e164
            log.info(
                "expiry alert posted to %s: %s %s expires %s",
                slack_channel,
                c.kind,
                mask_phone(phone) if phone else "-",
                c.expires_at.isoformat(),
            )


def _in_session(rt: Runtime, fn: Callable[..., Any], *args: Any) -> Any:
    with rt.store.session() as session:
        return fn(session, *args)
