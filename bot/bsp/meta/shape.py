"""Small readers of Meta's JSON shapes, shared by the webhook, send and template modules.

Each raises `WebhookShapeError` with the path of the problem, or reads leniently (`_opt_str`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.bsp.base import ProviderError, WebhookShapeError

# Epoch values above this are milliseconds (10^11 s is the year 5138; 10^11 ms is 1973).
_MS_THRESHOLD = 10**11
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# At most this many ASCII digits are always seconds (below the threshold) and always in range.
_SECONDS_DIGITS = len(str(_MS_THRESHOLD)) - 1


def _dict(node: Any, path: str) -> Mapping[str, Any]:
    if type(node) is dict:  # what json.loads gives: spares the abstract-class check
        return node
    if not isinstance(node, Mapping):
        raise WebhookShapeError(path, f"expected an object, got {_kind(node)}")
    return node


def _list(node: Any, path: str, *, required: bool = False) -> list[Any]:
    if node is None and not required:
        return []
    if not isinstance(node, list):
        raise WebhookShapeError(path, "missing" if node is None else f"expected a list, got {_kind(node)}")
    return node


def _str(node: Any, path: str, *, required: bool = True) -> str:
    if node is None and not required:
        return ""
    if isinstance(node, bool) or not isinstance(node, str | int):
        raise WebhookShapeError(path, "missing" if node is None else f"expected a string, got {_kind(node)}")
    text = str(node)
    if required and not text:
        raise WebhookShapeError(path, "empty")
    return text


def _str_at(node: Any, path: str, suffix: str) -> str:
    """`_str(node, path + suffix)`, the path built only for an error: a webhook's every event reads
    several required strings, nearly always plain non-empty ones."""
    if type(node) is str and node:
        return node
    return _str(node, f"{path}{suffix}")


def _opt_str(node: Any) -> str | None:
    if type(node) is str:  # the usual case, checked first: called for most fields of every event
        return node or None
    return str(node) if isinstance(node, str | int) and not isinstance(node, bool) and str(node) else None


def _kind(node: Any) -> str:
    if node is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(node), type(node).__name__
    )


def timestamp_at(value: Any, path: str, suffix: str) -> datetime:
    """`parse_timestamp(value, path + suffix)`, the path built only for an error. What Meta sends,
    a string of up to 11 ASCII digits, is read directly: seconds, in range, as the general path
    reads them."""
    if type(value) is str and len(value) <= _SECONDS_DIGITS and value.isascii() and value.isdigit():
        return _EPOCH + timedelta(0, int(value))
    return parse_timestamp(value, f"{path}{suffix}")


def parse_timestamp(value: Any, path: str) -> datetime:
    """Epoch seconds (int, or a string of digits) as aware UTC; milliseconds when > 10^11."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise WebhookShapeError(
            path, "missing" if value is None else f"expected a timestamp, got {_kind(value)}"
        )
    text = value.strip() if isinstance(value, str) else value
    number: int | float
    if isinstance(text, str):
        try:
            number = int(text) if text.isdigit() else float(text)
        except ValueError:
            raise WebhookShapeError(path, f"not an epoch timestamp: {text[:40]!r}") from None
    else:
        number = text
    if number != number or number < 0 or number == float("inf"):
        raise WebhookShapeError(path, f"not an epoch timestamp: {value!r}")
    try:
        if number > _MS_THRESHOLD:
            # Integer milliseconds stay exact (a float division could lose the last digit).
            return _EPOCH + timedelta(milliseconds=number)
        return _EPOCH + timedelta(seconds=number)
    except (OverflowError, ValueError):
        raise WebhookShapeError(path, f"timestamp out of range: {value!r}") from None


def provider_error(node: Any) -> ProviderError:
    """One Meta error object (`{code, title, message, error_data: {details}}`)."""
    if not isinstance(node, Mapping):
        return ProviderError(code="unknown", detail=str(node)[:500])
    code = _opt_str(node.get("code")) or "unknown"
    title = _opt_str(node.get("title")) or _opt_str(node.get("message")) or ""
    data = node.get("error_data")
    details = data.get("details") if isinstance(data, Mapping) else None
    detail = _opt_str(details) or _opt_str(node.get("message")) or _opt_str(node.get("details")) or ""
    return ProviderError(code=code, title=title, detail=detail)


def _errors(node: Any, path: str) -> tuple[ProviderError, ...]:
    if node is None:  # most statuses carry no errors
        return ()
    return tuple(provider_error(item) for item in _list(node, path))


def _errors_at(node: Any, path: str, suffix: str) -> tuple[ProviderError, ...]:
    """`_errors(node, path + suffix)`, the path built only when there are errors."""
    return () if node is None else _errors(node, f"{path}{suffix}")
