"""Which adapter serves a channel: `channel.bsp` -> a module with `build(channel, http, store)`.

Modules are imported only when a channel uses them, so one provider's import problem never
stops the others.
"""

from __future__ import annotations

import importlib
from typing import Any, cast

import httpx

from bot.bsp.base import Provider

MODULES: dict[str, str] = {
    "sandbox": "bot.bsp.sandbox",
    "360dialog": "bot.bsp.dialog360",
    "cloudapi": "bot.bsp.cloudapi",
    "fortics": "bot.bsp.fortics",
    "gupshup": "bot.bsp.gupshup",
    "twilio": "bot.bsp.twilio",
}


def build_provider(channel: Any, http: httpx.AsyncClient, store: Any) -> Provider:
    """The Provider for `channel` (a `config.ChannelConfig`). Raises ValueError for an unknown BSP."""
    bsp = str(getattr(channel, "bsp", "") or "").strip().lower()
    module_name = MODULES.get(bsp)
    if module_name is None:
        known = ", ".join(sorted(MODULES))
        raise ValueError(
            f"channel {getattr(channel, 'id', '?')!r} uses BSP {bsp or '(none)'!r}, which this app does not "
            f"support (supported: {known})."
        )
    module = importlib.import_module(module_name)
    return cast(Provider, module.build(channel, http, store))
