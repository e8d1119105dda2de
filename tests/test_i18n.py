"""The catalogue: every key in both languages, the same placeholders, nothing empty, and every key
the code asks for defined."""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.i18n import LANGUAGES, Catalog, load_strings

ROOT = Path(__file__).resolve().parents[1]
I18N = ROOT / "bot" / "i18n"

# Keys bot/sending.py and the screen emit (screen.errors.<key>); the contract of issue 2.
REQUIRED_ERRORS = (
    "no_team",
    "team_not_allowed",
    "channel_not_allowed",
    "choose_template",
    "template_not_approved",
    "variable_missing",
    "variable_unknown",
    "free_text_empty",
    "free_text_window_closed",
    "free_text_no_window",
    "phone_empty",
    "phone_unparseable",
    "phone_invalid",
    "contact_unknown",
    "choose_contact",
    "choose_team",
    "choose_channel",
    "choose_category",
    "window_closed_meanwhile",
    "template_gone",
    "send_failed",
    "send_unknown",
    "already_sent",
)
REQUIRED_PARAMS = {
    "template_not_approved": {"status"},
    "variable_missing": {"name"},
    "variable_unknown": {"name"},
    "free_text_window_closed": {"ago"},  # a field error is plain text: how long ago (issue 10)
    "send_failed": {"reason"},
}


def _flatten(prefix: str, node: Any, into: dict[str, Any]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), value, into)
    else:
        into[prefix] = node


def area_strings(lang: str, area: str) -> dict[str, Any]:
    data = yaml.safe_load((I18N / lang / f"{area}.yml").read_text(encoding="utf-8")) or {}
    flat: dict[str, Any] = {}
    _flatten("", data, flat)
    return flat


def areas(lang: str) -> set[str]:
    return {path.stem for path in (I18N / lang).glob("*.yml")}


def placeholders(template: str) -> set[str]:
    return {name.split(".")[0].split("[")[0] for _, name, _, _ in string.Formatter().parse(template) if name}


ALL_AREAS = sorted(set().union(*(areas(lang) for lang in LANGUAGES)))


def test_every_language_has_the_same_area_files() -> None:
    found = {lang: areas(lang) for lang in LANGUAGES}
    assert all(found[lang] == found[LANGUAGES[0]] for lang in LANGUAGES), found
    assert {"screen", "messages"} <= found[LANGUAGES[0]]


@pytest.mark.parametrize("area", ALL_AREAS)
def test_every_key_in_both_languages_with_the_same_placeholders(area: str) -> None:
    present = [lang for lang in LANGUAGES if (I18N / lang / f"{area}.yml").exists()]
    assert present == list(LANGUAGES), f"{area}.yml is missing in {set(LANGUAGES) - set(present)}"
    strings = {lang: area_strings(lang, area) for lang in LANGUAGES}
    reference = strings[LANGUAGES[0]]
    for lang in LANGUAGES[1:]:
        assert set(strings[lang]) - set(reference) == set(), f"{area}: only in {lang}"
        assert set(reference) - set(strings[lang]) == set(), f"{area}: missing in {lang}"
    for key in reference:
        found = {}
        for lang in LANGUAGES:
            value = strings[lang][key]
            assert isinstance(value, str), f"{lang}/{area}.yml {key}: not a string ({value!r})"
            assert value.strip(), f"{lang}/{area}.yml {key}: empty"
            found[lang] = placeholders(value)  # also fails on unbalanced braces
        assert len({frozenset(names) for names in found.values()}) == 1, f"{area} {key}: {found}"


def test_the_merged_catalogue_loads_and_formats() -> None:
    for lang in LANGUAGES:
        strings = load_strings(lang)  # raises on a key defined twice across areas
        for key, template in strings.items():
            params = {name: 1 for name in placeholders(template)}
            Catalog(lang).t(key, **params)  # every placeholder formats with a number


def test_the_screen_errors_the_code_emits_exist_with_their_parameters() -> None:
    for lang in LANGUAGES:
        catalog = Catalog(lang)
        strings = load_strings(lang)
        for key in REQUIRED_ERRORS:
            assert catalog.has(f"screen.errors.{key}"), f"{lang}: screen.errors.{key}"
        for key, params in REQUIRED_PARAMS.items():
            assert params <= placeholders(strings[f"screen.errors.{key}"]), f"{lang}: {key} needs {params}"


def _code_files() -> list[Path]:
    return sorted((ROOT / "bot").rglob("*.py"))


def test_every_problem_key_in_the_code_has_a_sentence() -> None:
    emitted: set[str] = set()
    for path in _code_files():
        text = path.read_text(encoding="utf-8")
        emitted |= set(re.findall(r"Problem\(\s*[^,()]+,\s*\"([a-z_]+)\"", text))
        # Conditional keys: Problem(field, "a" if x else "b", ...)
        conditional = r"Problem\(\s*[^,()]+,\s*\"([a-z_]+)\" if [^\n]+? else \"([a-z_]+)\""
        for pair in re.findall(conditional, text):
            emitted |= set(pair)
    for lang in LANGUAGES:
        catalog = Catalog(lang)
        missing = sorted(key for key in emitted if not catalog.has(f"screen.errors.{key}"))
        assert not missing, f"{lang}: Problem keys without a sentence: {missing}"


def test_every_literal_key_in_the_code_exists() -> None:
    literal = re.compile(r"[\"']((?:screen|messages|bsp_errors|alerts|home)\.[a-z0-9_.]*[a-z0-9_])[\"']")
    used: set[tuple[str, str]] = set()
    for path in _code_files():
        for key in literal.findall(path.read_text(encoding="utf-8")):
            used.add((key, str(path.relative_to(ROOT))))
    for lang in LANGUAGES:
        catalog = Catalog(lang)
        missing = sorted(f"{key} ({where})" for key, where in used if not catalog.has(key))
        assert not missing, f"{lang}: {missing}"


def test_pt_br_says_modelo_never_template() -> None:
    # Issue 10: one vocabulary; "{template}" placeholders are names, not words the agent reads.
    for key, text in load_strings("pt-BR").items():
        words = re.sub(r"\{[^}]*\}", "", text)
        assert not re.search(r"\btemplates?\b", words, re.IGNORECASE), f"pt-BR {key}: {text}"
