"""pydantic's errors as sentences an admin can act on (`unknown key (did you mean "channels"?)`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from bot.bsp import registry
from bot.bsp.channel import ChannelConfig, Loc
from bot.config.checks import foreign_key_problem, suggest
from bot.config.fields import LANGUAGES
from bot.config.models import (
    AlertsConfig,
    AppConfig,
    ConversationConfig,
    PricingConfig,
    RetentionConfig,
    TeamConfig,
    TemplatesConfig,
)


def channel_loc(loc: Loc) -> tuple[Loc, str | None]:
    """A loc inside `channels[i]` without the union's tag (`channels.0.cloudapi.waba_id` ->
    `channels.0.waba_id`), and the BSP that tag names (None when the loc has none)."""
    if len(loc) >= 3 and loc[0] == "channels" and isinstance(loc[2], str) and registry.entry(loc[2]):
        return (*loc[:2], *loc[3:]), loc[2]
    return loc, None


def _model_at(loc: Loc, bsp: str | None = None) -> type[BaseModel] | None:
    """Which model the mapping at `loc` is validated against."""
    if not loc:
        return AppConfig
    head = loc[0]
    nested: dict[str, type[BaseModel]] = {
        "alerts": AlertsConfig,
        "templates": TemplatesConfig,
        "pricing": PricingConfig,
        "retention": RetentionConfig,
        "conversation": ConversationConfig,
    }
    if len(loc) == 1 and isinstance(head, str) and head in nested:
        return nested[head]
    if len(loc) == 2 and head == "teams":
        return TeamConfig
    if len(loc) == 2 and head == "channels":
        found = registry.entry(bsp) if bsp else None
        return found.channel if found is not None else ChannelConfig
    return None


_TYPE_WORDS = {
    "string_type": "must be text",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "list_type": "must be a list, like [a, b]",
    "model_type": "must be a mapping of keys (key: value lines)",
    "dict_type": "must be a mapping of keys (key: value lines)",
    "model_attributes_type": "must be a mapping of keys (key: value lines)",
}


def located(error: Mapping[str, Any]) -> tuple[Loc, str]:
    """Where a pydantic error is (as the YAML reads) and its sentence."""
    loc, bsp = channel_loc(tuple(error["loc"]))
    kind = str(error["type"])
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        # The channel's `bsp` is what picks its model: a missing or unknown one is that key's.
        loc = (*loc, "bsp")
        if kind == "union_tag_not_found":
            return loc, "is required but missing"
        tag = str(error.get("ctx", {}).get("tag", ""))
        choices = registry.names()
        return loc, f"unknown BSP {tag!r}{suggest(tag, choices)}; use one of: {', '.join(choices)}"
    if kind == "extra_forbidden" and bsp is not None:
        foreign = foreign_key_problem(bsp, str(loc[-1]))
        if foreign:
            return loc, foreign
    return loc, _sentence(error, loc, bsp)


def _sentence(error: Mapping[str, Any], loc: Loc, bsp: str | None) -> str:
    kind = str(error["type"])
    key = str(loc[-1]) if loc else ""
    value = error.get("input")
    secret_like = key.endswith("_env")
    if kind == "extra_forbidden":
        model = _model_at(loc[:-1], bsp)
        known = list(model.model_fields) if model is not None else []
        hint = suggest(key, known) if known else ""
        if not hint and known:
            hint = f" (known keys: {', '.join(known)})"
        return f"unknown key{hint}"
    if kind == "missing":
        return "is required but missing"
    if kind == "literal_error":
        choices = {"language": LANGUAGES}.get(key)
        expected = ", ".join(choices) if choices else str(error.get("ctx", {}).get("expected", ""))
        hint = suggest(str(value), choices) if choices else ""
        noun = {"language": "language"}.get(key, "value")
        shown = "" if secret_like else f" {value!r}"
        return f"unknown {noun}{shown}{hint}; use one of: {expected}"
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    if kind == "string_too_short":
        return "is empty"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return _range_sentence(loc, bsp)
    if kind in _TYPE_WORDS:
        got = "" if secret_like or isinstance(value, Mapping | list) else f" (got {value!r})"
        return _TYPE_WORDS[kind] + got
    return str(error["msg"]).replace("Input should be", "must be")


def _range_sentence(loc: Loc, bsp: str | None) -> str:
    model = _model_at(loc[:-1], bsp)
    if model is not None and isinstance(loc[-1], str) and loc[-1] in model.model_fields:
        low = high = None
        for meta in model.model_fields[loc[-1]].metadata:
            low = getattr(meta, "ge", low)
            high = getattr(meta, "le", high)
        if low is not None and high is not None:
            return f"must be between {low} and {high}"
    return "is out of range"
