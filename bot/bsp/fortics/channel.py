"""A channel on Fortics (SZ.chat): its settings in contato.yml."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from bot.bsp.channel import ChannelConfig, EnvName, Text, env_var


class ForticsChannel(ChannelConfig):
    """`bsp: fortics`: the tenant, an integration user's login and the webhook's secret header."""

    required: ClassVar[tuple[tuple[str, ...], ...]] = (
        ("tenant",),
        ("email_env",),
        ("password_env",),
        ("webhook_secret_env",),
    )

    bsp: Literal["fortics"]
    tenant: Text | None = Field(default=None, description="the Fortics tenant: the part before .sz.chat")
    email_env: EnvName | None = Field(
        default=None, description=env_var("the Fortics integration user's e-mail")
    )
    password_env: EnvName | None = Field(
        default=None, description=env_var("the Fortics integration user's password")
    )
    fortics_channel_id: Text | None = Field(
        default=None, description="the SZ.chat channel id templates and sends are scoped to"
    )
