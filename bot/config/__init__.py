"""The config file (contato.yml) and the environment, validated with locations.

CONTRACT:
    load_config(path) -> AppConfig               raises ConfigError(problems) listing EVERY problem
    env_problems(config, environ, path) -> list  `*_env` names whose variable is unset or empty
    Settings()                                   SLACK_* tokens, DATABASE_URL, CONTATO_CONFIG, ...
    default_database_url(config_path) -> str     a SQLite file beside the config

Every problem is a sentence located like a compiler error, `contato.yml:12: teams[0].channels[1]:
no channel with id "vendass" ...`.

The package, by concern: `models` (the app and its teams; channels are the providers' models,
`bot.bsp.registry.AnyChannel`), `fields` (field types), `locator` (lines in the YAML),
`sentences` (pydantic's errors in words), `checks` (rules across keys), `loading`, `settings`.
`contato-bot check` prints them (bot/cli/check.py).
"""

from bot.bsp.channel import ChannelConfig
from bot.config.loading import env_problems, load_config
from bot.config.locator import ConfigError
from bot.config.models import (
    AlertsConfig,
    AppConfig,
    ConversationConfig,
    PricingConfig,
    RetentionConfig,
    TeamConfig,
    TemplatesConfig,
)
from bot.config.settings import Settings, default_database_url

__all__ = [
    "AlertsConfig",
    "AppConfig",
    "ChannelConfig",
    "ConfigError",
    "ConversationConfig",
    "PricingConfig",
    "RetentionConfig",
    "Settings",
    "TeamConfig",
    "TemplatesConfig",
    "default_database_url",
    "env_problems",
    "load_config",
]
