"""Where a value is in contato.yml: the YAML is composed (not just loaded) so each value keeps
its line, and a pydantic-style `loc` is walked through the node tree to find it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from bot.bsp.channel import Loc, loc_text


class ConfigError(Exception):
    """The config file cannot be used. `problems` are located sentences, one per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass
class Locator:
    """Finds the line of a value (by pydantic-style `loc`) in the composed YAML."""

    source: str
    root: yaml.Node | None

    def line(self, loc: Sequence[str | int]) -> int | None:
        """The line of the deepest node `loc` reaches (a missing key: its parent's line)."""
        node = self.root
        if node is None:
            return None
        line = node.start_mark.line + 1
        for part in loc:
            if isinstance(node, yaml.MappingNode) and isinstance(part, str):
                found = next(
                    ((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == part),
                    None,
                )
                if found is None:
                    break
                line = found[0].start_mark.line + 1
                node = found[1]
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
                node = node.value[part]
                line = node.start_mark.line + 1
            else:
                break
        return line

    def where(self, loc: Sequence[str | int]) -> str:
        line = self.line(loc)
        return f"{self.source}:{line}" if line is not None else self.source

    def problem(self, loc: Sequence[str | int], message: str) -> str:
        path = loc_text(loc)
        return f"{self.where(loc)}: {path}: {message}" if path else f"{self.where(loc)}: {message}"


def duplicate_keys(node: yaml.Node, loc: Loc, out: list[tuple[Loc, str, int]]) -> None:
    """YAML silently keeps the last of two equal keys; an admin almost never means that."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                line = key.start_mark.line + 1
                if key.value in seen:
                    out.append(
                        (
                            (*loc, key.value),
                            f"the key appears twice (first on line {seen[key.value]}); only the last "
                            "one would count, so keep one",
                            line,
                        )
                    )
                else:
                    seen[key.value] = line
                duplicate_keys(value, (*loc, key.value), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            duplicate_keys(item, (*loc, i), out)


def yaml_problem(source: str, exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    what = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    if context:
        what = f"{what} ({context})"
    if "'\\t'" in what:
        what += "; YAML indents with spaces, never tabs"
    if mark is None:
        return f"{source}: not valid YAML: {what}"
    return f"{source}:{mark.line + 1}: not valid YAML: {what} (column {mark.column + 1})"


def compose(text: str, source: str) -> tuple[yaml.Node | None, Any]:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        raise ConfigError([yaml_problem(source, exc)]) from None
    finally:
        loader.dispose()  # type: ignore[no-untyped-call]
    return node, data
