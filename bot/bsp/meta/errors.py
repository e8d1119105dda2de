"""Graph's error body as a `BspError` (other Meta-shaped providers fall back to it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.bsp.base import BspError
from bot.bsp.meta.shape import _opt_str, provider_error


def parse_error(data: Any, http_status: int | None) -> BspError:
    """A Graph error (`{"error": {code, message, error_data: {details}}}`) as BspError."""
    error = data.get("error") if isinstance(data, Mapping) else None
    if not isinstance(error, Mapping):
        return BspError(
            f"http_{http_status}" if http_status else "unknown",
            "the provider answered with an error and no explanation",
            http_status=http_status,
        )
    parsed = provider_error(error)
    message = _opt_str(error.get("message")) or parsed.title
    details = parsed.detail if parsed.detail != message else ""
    return BspError(
        parsed.code,
        f"{message} ({details})" if message and details else message or details,
        http_status=http_status,
    )
