"""Template items (Graph `message_templates`, 360dialog `waba_templates`) as `Template`s."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from bot.bsp.meta.shape import _kind, _opt_str
from bot.rules.templates import Template, TemplateButton, normalise_category

log = logging.getLogger(__name__)


def _button(node: Mapping[str, Any]) -> TemplateButton:
    return TemplateButton(
        type=(_opt_str(node.get("type")) or "").upper(),
        text=_opt_str(node.get("text")) or "",
        url=_opt_str(node.get("url")),
        phone_number=_opt_str(node.get("phone_number")),
        otp_type=(_opt_str(node.get("otp_type")) or "").upper() or None,
    )


def _examples(component: Mapping[str, Any], part: str) -> list[tuple[str, str]]:
    """Meta's example values of a HEADER or BODY component, keyed like the variables."""
    example = component.get("example")
    if not isinstance(example, Mapping):
        return []
    found: list[tuple[str, str]] = []
    positional = example.get(f"{part}_text")
    rows = positional[0] if part == "body" and isinstance(positional, list) and positional else positional
    if isinstance(rows, list):
        found += [
            (f"{part}.{i}", str(v)) for i, v in enumerate(rows, start=1) if isinstance(v, str | int | float)
        ]
    for named in example.get(f"{part}_text_named_params") or []:
        if (
            isinstance(named, Mapping)
            and _opt_str(named.get("param_name"))
            and named.get("example") is not None
        ):
            found.append((f"{part}.{named['param_name']}", str(named["example"])))
    return found


def _button_example(node: Mapping[str, Any]) -> str | None:
    """The part of a URL button's example that fills its {{1}} (Meta gives the whole URL)."""
    example = node.get("example")
    value = example[0] if isinstance(example, list) and example else None
    url = _opt_str(node.get("url")) or ""
    if not isinstance(value, str):
        return None
    prefix = url.split("{{", 1)[0]
    return value[len(prefix) :] if prefix and value.startswith(prefix) else value


def parse_graph_template(item: Any) -> Template:
    """One template item (Graph `message_templates`, 360dialog `waba_templates`) as a Template.

    Unknown component types are skipped; legacy categories are mapped by `normalise_category`
    (an unknown one gives `category=None`, kept raw). Raises ValueError with no name or language.
    """
    if not isinstance(item, Mapping):
        raise ValueError(f"a template must be an object, got {_kind(item)}")
    name = _opt_str(item.get("name"))
    language = _opt_str(item.get("language"))
    if not name or not language:
        raise ValueError("a template without a name or a language")
    header_format = header_text = footer_text = None
    body_text = ""
    buttons: list[TemplateButton] = []
    examples: list[tuple[str, str]] = []
    for component in item.get("components") or []:
        if not isinstance(component, Mapping):
            continue
        kind = (_opt_str(component.get("type")) or "").upper()
        if kind == "HEADER":
            header_text = _opt_str(component.get("text"))
            header_format = (_opt_str(component.get("format")) or "TEXT").upper()
            examples += _examples(component, "header")
        elif kind == "BODY":
            body_text = _opt_str(component.get("text")) or ""
            examples += _examples(component, "body")
        elif kind == "FOOTER":
            footer_text = _opt_str(component.get("text"))
        elif kind == "BUTTONS":
            for node in component.get("buttons") or []:
                if not isinstance(node, Mapping):
                    continue
                example = _button_example(node)
                if example:
                    examples.append((f"button.{len(buttons)}", example))
                buttons.append(_button(node))
    raw_category = _opt_str(item.get("category")) or ""
    return Template(
        name=name,
        language=language,
        category=normalise_category(raw_category),
        status=(_opt_str(item.get("status")) or "UNKNOWN").upper(),
        raw_category=raw_category,
        parameter_format=(_opt_str(item.get("parameter_format")) or "POSITIONAL").upper(),
        header_format=header_format,
        header_text=header_text,
        body_text=body_text,
        footer_text=footer_text,
        buttons=tuple(buttons),
        provider_ref=_opt_str(item.get("id")),
        namespace=_opt_str(item.get("namespace")),
        examples=tuple(examples),
    )


def parse_template_items(items: list[Any], channel_id: str) -> list[Template]:
    """Template items as Templates; an item that is not a template is skipped with a warning, so
    one odd template never hides the others."""
    templates = []
    for item in items:
        try:
            templates.append(parse_graph_template(item))
        except ValueError as exc:
            log.warning("channel %s: skipped a template: %s", channel_id, exc)
    return templates
