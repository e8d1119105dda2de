"""bot.rules.send_limits: what Meta refuses in a send."""

from __future__ import annotations

from bot.rules.send_limits import LimitProblem, free_text_problems, template_problems
from bot.rules.templates import Template, TemplateButton


def template(**kw: object) -> Template:
    base: dict[str, object] = {"name": "t", "language": "pt_BR", "category": None, "status": "APPROVED"}
    return Template(**{**base, **kw})  # type: ignore[arg-type]


def test_free_text_limit_is_4096() -> None:
    assert free_text_problems("a" * 4096) == []
    assert free_text_problems("a" * 4097) == [LimitProblem("free_text", "free_text_too_long", 4096)]


def test_whitespace_meta_refuses() -> None:
    t = template(body_text="Oi {{1}}")
    for bad in ("a\nb", "a\tb", "a\rb", "a     b"):
        assert template_problems(t, {"body.1": bad}) == [LimitProblem("body.1", "variable_whitespace")]
    assert template_problems(t, {"body.1": "a    b"}) == []  # four spaces are fine


def test_parameter_lengths_by_component() -> None:
    t = template(header_text="Pedido {{1}}", header_format="TEXT", body_text="Oi {{1}}", footer_text="f")
    assert template_problems(t, {"header.1": "x" * 61, "body.1": "ok"}) == [
        LimitProblem("header.1", "variable_too_long", 60)
    ]
    assert template_problems(t, {"header.1": "x", "body.1": "x" * 1025}) == [
        LimitProblem("body.1", "variable_too_long", 1024)
    ]
    alone = template(body_text="Oi {{1}}")
    assert template_problems(alone, {"body.1": "x" * 5000}) == []  # body alone: 32,768


def test_rendered_totals() -> None:
    t = template(
        header_text="Pedido número {{1}}", header_format="TEXT", body_text="{{1}} {{2}}", footer_text="f"
    )
    values = {"header.1": "x" * 50, "body.1": "y" * 600, "body.2": "z" * 600}
    assert template_problems(t, values) == [
        LimitProblem("template", "template_header_too_long", 60),
        LimitProblem("template", "template_body_too_long", 1024),
    ]


def test_coupon_button() -> None:
    t = template(body_text="Oi", buttons=(TemplateButton(type="COPY_CODE", text="Copiar"),))
    assert template_problems(t, {"button.0": "C" * 16}) == [LimitProblem("button.0", "variable_too_long", 15)]
