"""A sandbox channel: nothing to set but what every channel has."""

from __future__ import annotations

from typing import Literal

from bot.bsp.channel import ChannelConfig


class SandboxChannel(ChannelConfig):
    """`bsp: sandbox`: try the app with no WhatsApp account (`webhook_secret_env` optional)."""

    bsp: Literal["sandbox"]
