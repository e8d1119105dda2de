"""A channel on 360dialog: its settings in contato.yml."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from bot.bsp.channel import ChannelConfig, EnvName, env_var


class Dialog360Channel(ChannelConfig):
    """`bsp: 360dialog`: the number's D360-API-KEY and the webhook's secret header."""

    required: ClassVar[tuple[tuple[str, ...], ...]] = (("api_key_env",), ("webhook_secret_env",))

    bsp: Literal["360dialog"]
    api_key_env: EnvName | None = Field(default=None, description=env_var("the API key"))
