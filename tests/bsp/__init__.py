"""Tests of the BSP adapters, one folder per provider. Adapters are built from the real channel
settings models (`make_channel`), so a default that disagrees with the adapter fails a test."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

from bot.bsp.channel import ChannelConfig

C = TypeVar("C", bound=ChannelConfig)

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def utc(epoch: int) -> datetime:
    """An epoch time as aware UTC (payload timestamps)."""
    return datetime.fromtimestamp(epoch, UTC)


def clock() -> datetime:
    """The adapters' clock in these tests."""
    return NOW


def make_channel(model: type[C], env: dict[str, str] | None = None, **fields: Any) -> C:
    """A `model` channel with `fields` whose secrets are read from `env` (not the process's).

    Required keys are not enforced here (tests/config/test_config.py covers them): an adapter test may
    leave one out to see what the adapter says.
    """
    data = {"id": "sales", "name": "Sales", "number": "+5511999990000", "bsp": model.bsp_name(), **fields}
    channel = model.model_validate(data, context={"located_checks": True})
    return channel.with_environ(env or {})
