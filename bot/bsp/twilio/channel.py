"""A channel on Twilio (form-encoded API and webhooks): its settings in contato.yml."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from bot.bsp.channel import ChannelConfig, EnvName, Phone, Text, env_var


class TwilioChannel(ChannelConfig):
    """`bsp: twilio`: the account SID and auth token, and a messaging service or a sender."""

    required: ClassVar[tuple[tuple[str, ...], ...]] = (
        ("account_sid",),
        ("auth_token_env",),
        ("messaging_service_sid", "from_number"),
    )

    bsp: Literal["twilio"]
    account_sid: Text | None = Field(default=None, description="the Twilio account SID (AC...)")
    auth_token_env: EnvName | None = Field(default=None, description=env_var("the Twilio auth token"))
    messaging_service_sid: Text | None = Field(
        default=None, description="the Twilio messaging service SID (MG...)"
    )
    from_number: Phone | None = Field(
        default=None, description="the WhatsApp sender number registered at Twilio"
    )
