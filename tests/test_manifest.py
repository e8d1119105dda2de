"""manifest.yml and the code agree: command, request URLs, events and scopes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from jsonschema import Draft7Validator

from bot.app import SLACK_EVENTS_PATH
from bot.handlers.commands import COMMAND

MANIFEST = yaml.safe_load((Path(__file__).parents[1] / "manifest.yml").read_text())


def test_slash_command_is_the_one_the_app_registers() -> None:
    commands = MANIFEST["features"]["slash_commands"]
    assert [c["command"] for c in commands] == [COMMAND]
    assert commands[0]["url"].endswith(SLACK_EVENTS_PATH)
    assert commands[0]["should_escape"] is False  # the handler parses the raw text itself


def test_every_request_url_points_at_the_bolt_endpoint() -> None:
    settings = MANIFEST["settings"]
    urls = [
        settings["event_subscriptions"]["request_url"],
        settings["interactivity"]["request_url"],
        settings["interactivity"]["message_menu_options_url"],  # the contact search (external_select)
    ]
    assert all(url.endswith(SLACK_EVENTS_PATH) for url in urls)
    assert settings["interactivity"]["is_enabled"] is True


def test_events_and_scopes_cover_what_the_code_calls() -> None:
    # app_home_opened: App Home; message.*: the agent's answers in a confirmation's thread (the
    # app's DM, or a public/private channel), bot.handlers.messages.
    assert MANIFEST["settings"]["event_subscriptions"]["bot_events"] == [
        "app_home_opened",
        "message.im",
        "message.channels",
        "message.groups",
    ]
    assert MANIFEST["features"]["app_home"]["home_tab_enabled"] is True
    # The agent writes in the thread of the confirmation in the app's DM: the tab must accept it.
    assert MANIFEST["features"]["app_home"]["messages_tab_read_only_enabled"] is False
    scopes = set(MANIFEST["oauth_config"]["scopes"]["bot"])
    # commands: /contato; chat:write: confirmations (to the agent's DM with the app), alerts and
    # thread posts; usergroups:read: teams defined by a user group; im/channels/groups:history:
    # the message events of the thread answers; reactions:write: their delivery marks;
    # channels:read/groups:read: `check --online` sees whether the app is in each alert channel.
    # Nothing more is asked of the admin.
    assert scopes == {
        "commands",
        "chat:write",
        "usergroups:read",
        "im:history",
        "channels:history",
        "groups:history",
        "reactions:write",
        "channels:read",
        "groups:read",
    }


def test_the_manifest_passes_slacks_manifest_schema() -> None:
    # SchemaStore's slack-app-manifest.json, vendored in tests/schemas (see SOURCES.md there).
    schema = json.loads((Path(__file__).parent / "schemas" / "slack-app-manifest.json").read_text())
    errors = sorted(Draft7Validator(schema).iter_errors(MANIFEST), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]


def test_names_and_the_command_speak_to_the_workspace() -> None:
    assert MANIFEST["display_information"]["name"] == "Contato Ativo"
    # Slack's rule for a bot's display name (stricter than the schema's \\w).
    assert re.fullmatch(r"[a-z0-9._-]+", MANIFEST["features"]["bot_user"]["display_name"])
    [command] = MANIFEST["features"]["slash_commands"]
    assert command["description"] == "Iniciar um contato ativo pelo WhatsApp"
    assert command["usage_hint"] == "[telefone ou nome]"
