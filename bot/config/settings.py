"""The process environment (pydantic-settings) and the default database beside the config."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """The process environment. Secrets are SecretStr so they never print by accident."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", env_ignore_empty=True)

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    database_url: str | None = None
    contato_config: str = "contato.yml"
    slack_api_url: str | None = None
    log_level: str = "INFO"
    # `GET /metrics` requires `Authorization: Bearer <this>` when set; unset, /metrics is served
    # only on `serve --metrics-port` (a port you keep private), never on the public one.
    metrics_token: SecretStr | None = None


def default_database_url(config_path: str | Path) -> str:
    """`sqlite:///<absolute directory of the config>/contato.db`: zero set-up, beside the config."""
    return f"sqlite:///{Path(config_path).resolve().parent / 'contato.db'}"
