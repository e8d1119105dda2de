"""The cross checks: rules across keys, run on the raw YAML data so they are reported (with their
lines) even when other parts of the file fail validation."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from bot.bsp import registry
from bot.bsp.channel import ChannelConfig, Loc, loc_text, present
from bot.config.fields import EXAMPLE_FILE

# Keys every channel may have, whatever its BSP (every adapter accepts the secret header).
COMMON_CHANNEL_KEYS: frozenset[str] = frozenset(ChannelConfig.model_fields)


def items(data: Mapping[str, Any], key: str) -> list[tuple[int, Mapping[str, Any]]]:
    """The mappings of the list at `data[key]`, with their indexes."""
    value = data.get(key)
    if not isinstance(value, list):
        return []
    return [(i, item) for i, item in enumerate(value) if isinstance(item, Mapping)]


def suggest(word: str, choices: Iterable[str]) -> str:
    """` (did you mean "x"?)` for a close match, or ""."""
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f' (did you mean "{match[0]}"?)' if match else ""


def key_owners(key: str) -> list[str]:
    """The providers whose settings have `key` (beyond the keys every channel has)."""
    if key in COMMON_CHANNEL_KEYS:
        return []
    return [entry.name for entry in registry.PROVIDERS if key in entry.channel.model_fields]


def foreign_key_problem(bsp: str, key: str) -> str | None:
    """The sentence for a key another provider reads (almost always a copy-paste slip, such as a
    Fortics tenant on a 360dialog channel), or None when no provider reads it."""
    owners = key_owners(key)
    if not owners:
        return None
    return f"is not used by bsp {bsp} (it is a {' / '.join(owners)} key); remove it"


def team_rules(team: Mapping[str, Any]) -> list[tuple[Loc, str]]:
    """A team's own rules; locs relative to the team."""
    problems: list[tuple[Loc, str]] = []
    if not present(team, "members") and not present(team, "usergroup"):
        problems.append(
            (
                (),
                "has neither members nor a usergroup, so nobody can use it; add members: [U012ABCDEF] "
                '(Slack user ids, or ["*"] for everyone) or usergroup: S0123ABCD',
            )
        )
    if "channels" in team and team.get("channels") == []:
        problems.append((("channels",), "is empty; list the ids of the WhatsApp channels this team may use"))
    return problems


def channel_rules(channel: Mapping[str, Any]) -> list[tuple[Loc, str]]:
    """Per-BSP required and foreign keys; locs relative to the channel."""
    bsp = channel.get("bsp")
    found = registry.entry(bsp.strip().lower()) if isinstance(bsp, str) else None
    if found is None:
        return []  # an unknown BSP is reported by the model itself
    problems = found.channel.missing_keys(channel)
    own = found.channel.model_fields
    for key in channel:
        if not isinstance(key, str) or key in own or not present(channel, key):
            continue
        problem = foreign_key_problem(found.name, key)
        if problem:
            problems.append(((key,), problem))
    return problems


def app_rules(data: Mapping[str, Any], line_of: Callable[[Loc], int | None]) -> list[tuple[Loc, str]]:
    """Rules across teams and channels: duplicates, references, emptiness."""
    problems: list[tuple[Loc, str]] = []
    teams = items(data, "teams")
    channels = items(data, "channels")

    def where_else(loc: Loc) -> str:
        line = line_of(loc)
        return f"line {line}" if line is not None else loc_text(loc)

    for kind, listed in (("team", teams), ("channel", channels)):
        first: dict[str, Loc] = {}
        for i, item in listed:
            if not present(item, "id"):
                continue
            ident = str(item["id"]).strip()
            loc: Loc = (f"{kind}s", i, "id")
            if ident in first:
                twice = f'{kind} id "{ident}" is used twice (also on {{}}); ids must be unique'
                problems.append((loc, twice.format(where_else(first[ident]))))
                problems.append((first[ident], twice.format(where_else(loc))))
            else:
                first[ident] = loc

    defined = [str(c["id"]).strip() for _, c in channels if present(c, "id")]
    for i, team in teams:
        for rel, message in team_rules(team):
            problems.append((("teams", i, *rel), message))
        refs = team.get("channels")
        if not isinstance(refs, list):
            continue
        for k, ref in enumerate(refs):
            if not isinstance(ref, str | int) or str(ref).strip() in defined:
                continue
            known = ", ".join(defined) or "none"
            problems.append(
                (
                    ("teams", i, "channels", k),
                    f'no channel with id "{ref}"{suggest(str(ref), defined)} (channels defined: {known})',
                )
            )
    for key, what in (("teams", "teams"), ("channels", "WhatsApp channels")):
        if data.get(key) == []:
            problems.append(((key,), f"no {what} are defined; the example file {EXAMPLE_FILE} shows how"))
    return problems
