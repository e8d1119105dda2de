"""The one string catalogue: bot/i18n/<language>/<area>.yml, merged per language.

Each area file is a nested YAML mapping; keys are the dotted paths to its leaves
(`screen.card.customer_care.title`). Values are `str.format` templates.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

LANGUAGES = ("pt-BR", "en")
DEFAULT_LANGUAGE = "pt-BR"
_ROOT = Path(__file__).parent


class CatalogError(ValueError):
    """A catalogue file is malformed or defines a key twice."""


def _flatten(prefix: str, node: Any, into: dict[str, str], source: Path) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), value, into, source)
        return
    if prefix in into:
        raise CatalogError(f"{source}: key {prefix!r} is defined twice in the catalogue")
    into[prefix] = str(node)


@cache
def load_strings(language: str) -> dict[str, str]:
    """All strings of one language, from every area file."""
    if language not in LANGUAGES:
        raise CatalogError(f"unknown language {language!r}; use one of {', '.join(LANGUAGES)}")
    strings: dict[str, str] = {}
    for path in sorted((_ROOT / language).glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise CatalogError(f"{path}: the top level must be a mapping")
        _flatten("", data, strings, path)
    return strings


class Catalog:
    """Strings of one language. A missing key falls back to the key itself (and tests catch it)."""

    def __init__(self, language: str = DEFAULT_LANGUAGE) -> None:
        self.language = language
        self._strings = load_strings(language)

    def t(self, key: str, **kwargs: Any) -> str:
        """The string for `key`, formatted with `kwargs`."""
        template = self._strings.get(key)
        if template is None:
            return key
        return template.format(**kwargs) if kwargs else template

    def has(self, key: str) -> bool:
        return key in self._strings
