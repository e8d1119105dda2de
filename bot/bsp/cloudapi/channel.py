"""A channel on Meta's Cloud API, direct: its settings in contato.yml."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from bot.bsp.channel import ChannelConfig, EnvName, Text, env_var

# The newest Graph API version Meta documents (v26.0, July 2026); the one place the default is written.
DEFAULT_GRAPH_VERSION = "v26.0"


class CloudApiChannel(ChannelConfig):
    """`bsp: cloudapi`: a system-user token, the app secret (signatures) and the verify token."""

    required: ClassVar[tuple[tuple[str, ...], ...]] = (
        ("access_token_env",),
        ("app_secret_env",),
        ("verify_token_env",),
        ("waba_id",),
        ("phone_number_id",),
    )

    bsp: Literal["cloudapi"]
    access_token_env: EnvName | None = Field(
        default=None, description=env_var("the system user's access token")
    )
    app_secret_env: EnvName | None = Field(
        default=None, description=env_var("the Meta app secret (webhook signatures)")
    )
    verify_token_env: EnvName | None = Field(default=None, description=env_var("the webhook verify token"))
    waba_id: Text | None = Field(default=None, description="the WhatsApp Business Account id")
    phone_number_id: Text | None = Field(default=None, description="the Cloud API phone number id")
    graph_version: Text = Field(
        default=DEFAULT_GRAPH_VERSION, description="the Graph API version the calls use (like v26.0)"
    )
