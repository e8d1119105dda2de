"""Slack's Block Kit limits (shared/docs/slack.md), checked on every view and message we build.

Slack refuses a view that breaks one (`invalid_arguments`), and slack_sdk's own validation only
covers some of them, so these helpers check every limit the docs list, then run slack_sdk's too.
Used by the block tests and the end-to-end tests.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

SCHEMAS = Path(__file__).parents[1] / "schemas"  # vendored, with their sources: schemas/SOURCES.md


@cache
def block_kit_validator(definition: str | None) -> Draft202012Validator:
    """The community Block Kit schema (TightknitAI/slack-block-kit-validator), for a view
    (`modal_view`, `home_view`) or, with None, a message's blocks."""
    schema = json.loads((SCHEMAS / "slack-block-kit.schema.json").read_text())
    if definition is not None:
        schema = {"$schema": schema["$schema"], "$ref": f"#/$defs/{definition}", "$defs": schema["$defs"]}
    return Draft202012Validator(schema)


def assert_block_kit_schema(payload: Any, definition: str | None) -> None:
    errors = sorted(block_kit_validator(definition).iter_errors(payload), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message[:300]}" for e in errors[:5])


VIEW_TEXT = 24  # modal title, submit, close
MAX_VIEW_BLOCKS = 100
MAX_MESSAGE_BLOCKS = 50
PRIVATE_METADATA = 3000
ID = 255
SECTION_TEXT = 3000
FIELDS = 10
FIELD_TEXT = 2000
HEADER_TEXT = 150
CONTEXT_ELEMENTS = 10
CONTEXT_TEXT = 3000
SELECT_OPTIONS = 100
OPTION_TEXT = 75
OPTION_VALUE = 150
OPTION_DESCRIPTION = 75
INPUT_MAX_LENGTH = 3000
PLACEHOLDER = 150
LABEL = 2000
HINT = 2000
BUTTON_TEXT = 75
BUTTON_VALUE = 2000
ACTIONS_ELEMENTS = 25


def _text_object(obj: Any, limit: int, where: str, *, kind: str | None = None) -> None:
    assert isinstance(obj, dict), f"{where}: a text object, got {obj!r}"
    assert obj.get("type") in ("plain_text", "mrkdwn"), f"{where}: text type {obj.get('type')!r}"
    if kind is not None:
        assert obj["type"] == kind, f"{where}: must be {kind}, is {obj['type']}"
    text = obj.get("text")
    assert isinstance(text, str) and text, f"{where}: empty text (Slack refuses it)"
    assert len(text) <= limit, f"{where}: {len(text)} characters > {limit}"


def _id(value: Any, where: str) -> None:
    assert isinstance(value, str) and value, f"{where}: missing id"
    assert len(value) <= ID, f"{where}: id of {len(value)} characters > {ID}"


def _option(option: dict[str, Any], where: str) -> None:
    _text_object(option.get("text"), OPTION_TEXT, f"{where}.text", kind="plain_text")
    value = option.get("value")
    assert isinstance(value, str) and 0 < len(value) <= OPTION_VALUE, f"{where}.value {value!r}"
    if "description" in option:
        _text_object(option["description"], OPTION_DESCRIPTION, f"{where}.description", kind="plain_text")


def _element(element: dict[str, Any], where: str, action_ids: set[str]) -> None:
    kind = element.get("type")
    if "action_id" in element:
        _id(element["action_id"], f"{where}.action_id")
        assert element["action_id"] not in action_ids, f"{where}: action_id repeated in its block"
        action_ids.add(element["action_id"])
    if "placeholder" in element:
        _text_object(element["placeholder"], PLACEHOLDER, f"{where}.placeholder", kind="plain_text")
    if kind in ("static_select", "multi_static_select"):
        options = element.get("options") or []
        groups = element.get("option_groups") or []
        assert options or groups, f"{where}: a select without options"
        assert len(options) <= SELECT_OPTIONS and len(groups) <= SELECT_OPTIONS, f"{where}: too many options"
        values = [o.get("value") for o in options]
        assert len(values) == len(set(values)), f"{where}: repeated option values"
        for i, option in enumerate(options):
            _option(option, f"{where}.options[{i}]")
        if "initial_option" in element:
            assert element["initial_option"] in options, f"{where}: initial_option is not one of the options"
    elif kind == "external_select":
        if "initial_option" in element:
            _option(element["initial_option"], f"{where}.initial_option")
        assert int(element.get("min_query_length", 3)) >= 0
    elif kind == "plain_text_input":
        max_length = element.get("max_length", INPUT_MAX_LENGTH)
        assert 0 < max_length <= INPUT_MAX_LENGTH, f"{where}: max_length {max_length} > {INPUT_MAX_LENGTH}"
        initial = element.get("initial_value")
        if initial is not None:
            assert isinstance(initial, str) and len(initial) <= max_length, f"{where}: initial_value too long"
    elif kind == "button":
        _text_object(element.get("text"), BUTTON_TEXT, f"{where}.text", kind="plain_text")
        assert len(element.get("value", "")) <= BUTTON_VALUE, f"{where}: button value too long"


def _block(block: dict[str, Any], where: str, *, in_modal: bool) -> None:
    kind = block.get("type")
    action_ids: set[str] = set()
    if kind == "section":
        assert "text" in block or "fields" in block, f"{where}: a section needs text or fields"
        if "text" in block:
            _text_object(block["text"], SECTION_TEXT, f"{where}.text")
        fields = block.get("fields") or []
        assert len(fields) <= FIELDS, f"{where}: {len(fields)} fields > {FIELDS}"
        for i, item in enumerate(fields):
            _text_object(item, FIELD_TEXT, f"{where}.fields[{i}]")
        if "accessory" in block:
            _element(block["accessory"], f"{where}.accessory", action_ids)
    elif kind == "header":
        _text_object(block.get("text"), HEADER_TEXT, f"{where}.text", kind="plain_text")
    elif kind == "context":
        elements = block.get("elements") or []
        assert 0 < len(elements) <= CONTEXT_ELEMENTS, f"{where}: {len(elements)} context elements"
        for i, item in enumerate(elements):
            if item.get("type") in ("plain_text", "mrkdwn"):
                _text_object(item, CONTEXT_TEXT, f"{where}.elements[{i}]")
    elif kind == "input":
        assert in_modal, f"{where}: input blocks belong in modals"
        _text_object(block.get("label"), LABEL, f"{where}.label", kind="plain_text")
        if "hint" in block:
            _text_object(block["hint"], HINT, f"{where}.hint", kind="plain_text")
        _element(block.get("element") or {}, f"{where}.element", action_ids)
    elif kind == "actions":
        elements = block.get("elements") or []
        assert 0 < len(elements) <= ACTIONS_ELEMENTS, f"{where}: {len(elements)} action elements"
        for i, item in enumerate(elements):
            _element(item, f"{where}.elements[{i}]", action_ids)
    elif kind == "divider":
        pass
    else:
        raise AssertionError(f"{where}: unexpected block type {kind!r}")


def _blocks(blocks: list[dict[str, Any]], *, in_modal: bool) -> None:
    seen: set[str] = set()
    for i, block in enumerate(blocks):
        where = f"blocks[{i}]({block.get('block_id', block.get('type'))})"
        if "block_id" in block:
            _id(block["block_id"], f"{where}.block_id")
            assert block["block_id"] not in seen, f"{where}: block_id {block['block_id']!r} is not unique"
            seen.add(block["block_id"])
        _block(block, where, in_modal=in_modal)
        Block.parse(block).validate_json()  # type: ignore[union-attr]


def assert_view_within_limits(view: dict[str, Any]) -> None:
    """Every limit of a modal view in slack.md, plus slack_sdk's own validation."""
    assert view.get("type") == "modal"
    _text_object(view.get("title"), VIEW_TEXT, "title", kind="plain_text")
    for name in ("submit", "close"):
        if name in view:
            _text_object(view[name], VIEW_TEXT, name, kind="plain_text")
    _id(view.get("callback_id"), "callback_id")
    metadata = view.get("private_metadata", "")
    assert isinstance(metadata, str) and len(metadata) <= PRIVATE_METADATA, (
        f"private_metadata of {len(metadata)} characters > {PRIVATE_METADATA}"
    )
    blocks = view.get("blocks") or []
    assert len(blocks) <= MAX_VIEW_BLOCKS, f"{len(blocks)} blocks > {MAX_VIEW_BLOCKS}"
    _blocks(blocks, in_modal=True)
    if any(b.get("type") == "input" for b in blocks):
        assert "submit" in view, (
            "a modal with input blocks needs a submit button (Slack refuses it otherwise)"
        )
    View(**view).validate_json()
    # What the app sends (a view as Slack echoes it back also carries its id, hash and state).
    sent = {key: value for key, value in view.items() if key not in ("id", "hash", "state")}
    assert_block_kit_schema(sent, "modal_view")


def assert_message_within_limits(blocks: list[dict[str, Any]]) -> None:
    """Every limit of a message's blocks in slack.md, plus slack_sdk's own validation."""
    assert 0 < len(blocks) <= MAX_MESSAGE_BLOCKS, f"{len(blocks)} blocks in a message"
    _blocks(blocks, in_modal=False)
    assert_block_kit_schema(blocks, None)


def assert_home_view_within_limits(view: dict[str, Any]) -> None:
    """A Home tab view: 100 blocks, the per-block checks, slack_sdk's and the schema's."""
    assert view["type"] == "home"
    blocks = view["blocks"]
    assert 0 < len(blocks) <= MAX_VIEW_BLOCKS
    for start in range(0, len(blocks), MAX_MESSAGE_BLOCKS):
        _blocks(blocks[start : start + MAX_MESSAGE_BLOCKS], in_modal=False)
    View(**view).validate_json()
    assert_block_kit_schema(view, "home_view")
