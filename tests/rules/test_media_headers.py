"""Media and location headers (issue 10): what the agent gives, how it is checked, what is sent."""

from __future__ import annotations

import pytest

from bot.rules.events import Category
from bot.rules.media_headers import header_parameter, media_keys, media_problems
from bot.rules.templates import Template, unknown_variables


def with_header(kind: str | None) -> Template:
    return Template(
        name="nota",
        language="pt_BR",
        category=Category.UTILITY,
        status="APPROVED",
        header_format=kind,
        body_text="Olá {{1}}",
    )


@pytest.mark.parametrize(
    ("kind", "value", "problem"),
    [
        ("IMAGE", "", "media_missing"),
        ("IMAGE", "http://x.com/a.jpg", "media_not_https"),
        ("IMAGE", "https://x.com/a.pdf", "media_wrong_type"),
        ("VIDEO", "https://x.com/a.mp4", None),
        ("DOCUMENT", "https://x.com/boleto.pdf", None),
        ("IMAGE", "1234567890", None),  # the id of media uploaded to the BSP
        ("IMAGE", "https://x.com/imagem", None),  # no extension: the BSP checks the content type
    ],
)
def test_a_media_link_is_checked_for_its_type(kind: str, value: str, problem: str | None) -> None:
    found = media_problems(with_header(kind), {"header.media": value})
    assert [p.problem for p in found] == ([problem] if problem else [])
    assert all(p.key == "header.media" for p in found)


def test_parameters_meta_expects() -> None:
    document = header_parameter(with_header("DOCUMENT"), {"header.media": "https://x.com/nf/boleto.pdf"})
    assert document == {
        "type": "document",
        "document": {"link": "https://x.com/nf/boleto.pdf", "filename": "boleto.pdf"},
    }
    assert header_parameter(with_header("VIDEO"), {"header.media": "998877"}) == {
        "type": "video",
        "video": {"id": "998877"},
    }
    values = {
        "header.location.latitude": "-23,5614",
        "header.location.longitude": "-46.6559",
        "header.location.name": "Loja Paulista",
        "header.location.address": "Av. Paulista, 1000",
    }
    assert header_parameter(with_header("LOCATION"), values) == {
        "type": "location",
        "location": {
            "latitude": "-23.5614",
            "longitude": "-46.6559",
            "name": "Loja Paulista",
            "address": "Av. Paulista, 1000",
        },
    }
    assert media_problems(with_header("LOCATION"), values) == []
    bad = media_problems(with_header("LOCATION"), {**values, "header.location.latitude": "norte"})
    assert [(p.key, p.problem) for p in bad] == [("header.location.latitude", "location_invalid")]
    assert header_parameter(with_header("TEXT"), {}) is None and media_keys(with_header("TEXT")) == []


def test_header_inputs_are_not_unknown_variables_to_the_screen() -> None:
    template = with_header("IMAGE")
    assert media_keys(template) == ["header.media"]
    # `unknown_variables` knows only text variables; sending asks media_keys for the rest.
    assert unknown_variables(template, {"body.1": "x", "header.media": "1"}) == ["header.media"]


def test_nothing_given_builds_no_header_parameter() -> None:
    assert header_parameter(with_header("IMAGE"), {}) is None
    assert header_parameter(with_header("LOCATION"), {}) is None
