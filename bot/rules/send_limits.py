"""What Meta refuses in a send, checked on the server before the BSP is called (the modal's own
`max_length` is only the browser's promise; a crafted `view_submission` skips it).

- free text: at most 4,096 characters (Cloud API text messages);
- a template parameter: no newline, no tab, no more than four spaces in a row (error 132018);
  a header parameter at most 60 characters, a body parameter at most 1,024 (32,768 when the body
  is the template's only component), a button parameter (URL suffix, coupon code) at most 2,000 /
  15 as Meta documents for URL buttons and copy-code coupons;
- the rendered text header at most 60 characters and the rendered body at most 1,024 (32,768 when
  the body is alone).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from bot.rules.templates import Template, is_authentication, render_preview

FREE_TEXT_MAX = 4096
HEADER_MAX = 60
BODY_MAX = 1024
BODY_ALONE_MAX = 32_768
URL_SUFFIX_MAX = 2000
COUPON_MAX = 15
_BAD_WHITESPACE = re.compile(r"[\n\r\t]| {5,}")


@dataclass(frozen=True)
class LimitProblem:
    """`field` is the screen field ("free_text", "template" or a variable key), `key` the
    catalogue key under screen.errors, `limit` the number the sentence names (0: none)."""

    field: str
    key: str
    limit: int = 0


def free_text_problems(text: str) -> list[LimitProblem]:
    """The free text is too long for WhatsApp."""
    return (
        [LimitProblem("free_text", "free_text_too_long", FREE_TEXT_MAX)] if len(text) > FREE_TEXT_MAX else []
    )


def _body_max(t: Template) -> int:
    alone = t.header_text is None and t.header_format is None and t.footer_text is None and not t.buttons
    return BODY_ALONE_MAX if alone else BODY_MAX


def _parameter_max(t: Template, key: str) -> int:
    component = key.split(".", 1)[0]
    if component == "header":
        return HEADER_MAX
    if component == "button":
        index = key.split(".", 1)[1]
        button = t.buttons[int(index)] if index.isdigit() and int(index) < len(t.buttons) else None
        return COUPON_MAX if button is not None and button.type.upper() == "COPY_CODE" else URL_SUFFIX_MAX
    return _body_max(t)


def template_problems(t: Template, values: Mapping[str, str]) -> list[LimitProblem]:
    """Every parameter Meta would refuse, then the rendered header and body lengths."""
    problems: list[LimitProblem] = []
    for key, value in values.items():
        if _BAD_WHITESPACE.search(value):
            problems.append(LimitProblem(key, "variable_whitespace"))
        elif len(value) > (limit := _parameter_max(t, key)):
            problems.append(LimitProblem(key, "variable_too_long", limit))
    if problems or is_authentication(t):
        return problems
    rendered = render_preview(t, dict(values))
    if rendered.header is not None and t.header_text is not None and len(rendered.header) > HEADER_MAX:
        problems.append(LimitProblem("template", "template_header_too_long", HEADER_MAX))
    if len(rendered.body) > (limit := _body_max(t)):
        problems.append(LimitProblem("template", "template_body_too_long", limit))
    return problems
