"""The one seam between the BSP adapters and the network: reads retried, sends never.

Every adapter talks through `read()` and `send()` over an injected `httpx.AsyncClient`, so the
client's timeout applies to every call and tests replace the transport (respx) without patching.

- READS (template listings, logins) are idempotent: retried with backoff on 5xx, 429 and network
  errors, at most `MAX_TRIES` tries in all.
- SENDS are not: a timeout or a broken connection after the request may have left the machine
  means the message may have gone out, so it becomes `BspError("timeout", outcome_unknown=True)`
  and is never repeated here. Only a failure to connect at all (nothing left) is a plain error.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

import httpx

from bot.bsp.base import BspError

log = logging.getLogger(__name__)

MAX_TRIES = 3
DEFAULT_DELAYS: tuple[float, ...] = (0.5, 2.0)  # seconds before the 2nd and 3rd tries

ErrorParser = Callable[[httpx.Response], BspError]


class ChannelLike(Protocol):
    """What `require_secret` and friends need of a channel (`bot.bsp.channel.ChannelConfig`)."""

    id: str

    def secret(self, name: str) -> str | None: ...


def require_secret(channel: ChannelLike, field: str) -> str:
    """The value of the env var named by `channel.<field>`, or BspError("missing_credentials").

    The message names the env var (never its value) so an admin knows what to set.
    """
    env_name = getattr(channel, field, None)
    value = channel.secret(field) if env_name else None
    if value:
        return value
    if env_name:
        message = f"the environment variable {env_name} (channel {channel.id}, {field}) is not set"
    else:
        message = f"channel {channel.id} has no {field} in contato.yml"
    raise BspError("missing_credentials", message)


def optional_secret(channel: ChannelLike, field: str) -> str | None:
    """The secret named by `channel.<field>` if both the field and its env var are set."""
    return channel.secret(field) if getattr(channel, field, None) else None


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by case-insensitive name, from Starlette's Headers or a plain dict."""
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, candidate in headers.items():
        if key.lower() == lowered:
            return candidate
    return None


WEBHOOK_SECRET_HEADER = "X-Webhook-Secret"


def rotating_secrets(value: str | None) -> list[str]:
    """The secrets an env var holds: one, or two comma-separated while a key is rotated (the new
    one and the old one, both accepted until the BSP sends only the new one)."""
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def webhook_secret_ok(channel: Any, headers: Mapping[str, str]) -> bool:
    """For BSPs that do not sign webhooks (360dialog, Fortics, Gupshup, the sandbox): the header
    `X-Webhook-Secret` must equal the channel's `webhook_secret_env` value (either value while it
    holds two, comma-separated), compared in constant time. With no secret configured every
    request is refused (fail closed)."""
    expected = optional_secret(channel, "webhook_secret_env")
    if not expected:
        log.warning("channel %s: no webhook secret configured; refusing the webhook", channel.id)
        return False
    return secret_matches(expected, header(headers, WEBHOOK_SECRET_HEADER))


def secret_matches(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison with each of the expected secrets (`rotating_secrets`: every one
    is compared, so timing does not tell which matched); an unset one never matches (fail closed)."""
    candidates = rotating_secrets(expected)
    if not candidates or given is None:
        return False
    # Bytes, not str: compare_digest raises TypeError on non-ASCII text (an attacker's header).
    given_bytes = given.encode("utf-8", "surrogateescape")
    matched = [hmac.compare_digest(candidate.encode(), given_bytes) for candidate in candidates]
    return any(matched)


def json_or_none(response: httpx.Response) -> Any:
    """The response's JSON, or None when the body is not JSON (HTML error pages, empty)."""
    try:
        return response.json()
    except ValueError:
        return None


def mapping(node: Any) -> Mapping[str, Any]:
    """`node` if it is a JSON object, else an empty one (optional sub-objects of a response)."""
    return node if isinstance(node, Mapping) else {}


def _is_retryable(response: httpx.Response) -> bool:
    return response.status_code == 429 or response.status_code >= 500


async def read(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    parse_error: ErrorParser,
    delays: Sequence[float] = DEFAULT_DELAYS,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    **kwargs: Any,
) -> httpx.Response:
    """An idempotent request: retried on 5xx/429/network errors; a 2xx response or BspError."""
    last: BspError | None = None
    for attempt in range(MAX_TRIES):
        if attempt:
            await sleep(delays[min(attempt - 1, len(delays) - 1)] if delays else 0)
        try:
            response = await http.request(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            last = BspError(
                "timeout", f"no answer from {_host(url)} in time ({type(exc).__name__})", retryable=True
            )
            continue
        except httpx.TransportError as exc:
            last = BspError("network", f"could not reach {_host(url)} ({type(exc).__name__})", retryable=True)
            continue
        if response.is_success:
            return response
        error = parse_error(response)
        if not _is_retryable(response):
            raise error
        error.retryable = True
        last = error
        log.info(
            "read %s %s: HTTP %s, try %d of %d",
            method,
            _host(url),
            response.status_code,
            attempt + 1,
            MAX_TRIES,
        )
    assert last is not None
    raise last


async def send(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    parse_error: ErrorParser,
    **kwargs: Any,
) -> httpx.Response:
    """A non-idempotent request, made once: a 2xx response or BspError.

    A timeout after connecting, or a connection lost mid-exchange, may have delivered the
    request: `outcome_unknown=True` so nobody resends blindly.
    """
    try:
        response = await http.request(method, url, **kwargs)
    except (httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ConnectError) as exc:
        # Nothing left the machine: safe to say it failed (and safe for a person to retry).
        raise BspError(
            "network", f"could not reach {_host(url)} ({type(exc).__name__})", retryable=True
        ) from exc
    except httpx.TransportError as exc:  # read/write timeouts, dropped connections
        raise BspError(
            "timeout",
            f"no complete answer from {_host(url)} ({type(exc).__name__}); the message may have been sent",
            outcome_unknown=True,
        ) from exc
    if not response.is_success:
        raise parse_error(response)
    return response


def _host(url: str) -> str:
    try:
        return httpx.URL(url).host or url
    except Exception:  # an unparsable URL still deserves a message
        return url
