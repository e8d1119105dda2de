"""The field types of contato.yml's team and app sections (channels' live in bot/bsp/channel.py)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

from bot.bsp.channel import ConfigModel as ConfigModel
from bot.bsp.channel import Text as Text
from bot.bsp.channel import _strip

LANGUAGES: tuple[str, ...] = ("pt-BR", "en")
EXAMPLE_FILE = "contato.example.yml"
EVERYONE = "*"

_SLACK_USER = re.compile(r"^[UW][A-Z0-9]+$")
_SLACK_USERGROUP = re.compile(r"^S[A-Z0-9]+$")
_SLACK_CHANNEL = re.compile(r"^[CG][A-Z0-9]+$")


def as_list(value: Any) -> Any:
    """A single value where a list is expected is read as a one-item list (`members: U012ABC`)."""
    return [value] if isinstance(value, str | int) else value


def _member(value: str) -> str:
    if value != EVERYONE and not _SLACK_USER.match(value):
        raise ValueError(
            f"{value!r} is not a Slack user id; use ids like U012ABCDEF (Slack: profile, '...', "
            'Copy member ID), or "*" for every member of the workspace'
        )
    return value


def _usergroup(value: str) -> str:
    if not _SLACK_USERGROUP.match(value):
        raise ValueError(f"{value!r} is not a Slack user group id; use an id like S0123ABCD")
    return value


def _slack_channel(value: str) -> str:
    if not _SLACK_CHANNEL.match(value):
        raise ValueError(
            f"{value!r} is not a Slack channel id; use an id like C0123ABCD (Slack: channel details, "
            "at the bottom), not the channel's name"
        )
    return value


SlackUser = Annotated[str, BeforeValidator(_strip), Field(min_length=1), AfterValidator(_member)]
Usergroup = Annotated[str, BeforeValidator(_strip), Field(min_length=1), AfterValidator(_usergroup)]
SlackChannel = Annotated[str, BeforeValidator(_strip), Field(min_length=1), AfterValidator(_slack_channel)]
