"""A channel on Gupshup (partner API): its settings in contato.yml."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from bot.bsp.channel import ChannelConfig, EnvName, Text, env_var


class GupshupChannel(ChannelConfig):
    """`bsp: gupshup`: the app id and its partner app token (or API key)."""

    required: ClassVar[tuple[tuple[str, ...], ...]] = (("app_id",), ("app_token_env", "api_key_env"))

    bsp: Literal["gupshup"]
    app_id: Text | None = Field(default=None, description="the Gupshup app id")
    app_token_env: EnvName | None = Field(default=None, description=env_var("the Gupshup partner app token"))
    api_key_env: EnvName | None = Field(default=None, description=env_var("the API key"))
    source_number: Text | None = Field(default=None, description="the app's registered source number")
