"""Tests of the BSP adapters. `fake_channel` stands in for bot.config.ChannelConfig."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

CHANNEL_FIELDS = [
    "base_url",
    "api_key_env",
    "webhook_secret_env",
    "access_token_env",
    "app_secret_env",
    "verify_token_env",
    "waba_id",
    "phone_number_id",
    "graph_version",
    "tenant",
    "email_env",
    "password_env",
    "fortics_channel_id",
    "app_id",
    "app_token_env",
    "source_number",
    "account_sid",
    "auth_token_env",
    "messaging_service_sid",
    "from_number",
]


def fake_channel(env: dict[str, str] | None = None, **fields: Any) -> SimpleNamespace:
    """A channel with `fields` (others None) whose secret(field) reads `env` by the field's env name."""
    values: dict[str, Any] = {name: None for name in CHANNEL_FIELDS}
    values.update(id="sales", name="Sales", number="+5511999990000", bsp="test")
    values.update(fields)
    channel = SimpleNamespace(**values)
    env = env or {}

    def secret(field: str) -> str | None:
        name = getattr(channel, field, None)
        return env.get(name) if name else None

    channel.secret = secret
    return channel
