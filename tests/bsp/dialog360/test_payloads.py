"""360dialog: every real payload it sends, as a table of cases (as courier's testdata/)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bot.bsp import meta
from bot.bsp.dialog360 import adapter as dialog360
from bot.rules.events import Category
from tests.conftest import load_fixture


def check_360dialog_error(data: object) -> None:
    error = dialog360.parse_error(data, 401)
    assert error.code == "invalid_api_key"
    assert error.message == "Invalid api_key or token expired"
    # The payload itself says 404 (doc inconsistency): still a bad key.
    assert dialog360.parse_error(data, 404).code == "invalid_api_key"


def check_360dialog_templates(data: dict) -> None:
    templates = meta.parse_template_items(data["waba_templates"], "c")
    assert len(templates) == len(data["waba_templates"]) == 10
    assert {t.language for t in templates if t.name == "hello"} == {"en", "en_GB", "fr"}
    hello_fr = next(t for t in templates if t.key == "hello:fr")
    assert hello_fr.approved and hello_fr.body_text == "Bonjour {{1}}"
    assert hello_fr.category is Category.UTILITY and hello_fr.raw_category == "ISSUE_RESOLUTION"
    assert hello_fr.namespace == "xxxxxxxx_xxxx_xxxx_xxxx_xxxxxxxxxxxx"
    image = next(t for t in templates if t.name == "missing_text_component")
    assert image.header_format == "IMAGE" and image.header_text is None and image.body_text == ""
    assert next(t for t in templates if t.name == "invalid_component").body_text == ""
    assert next(t for t in templates if t.name == "invalid_status").status == "UNKNOWN"
    workout = next(t for t in templates if t.name == "workout_activity")
    assert workout.header_format == "TEXT" and workout.footer_text == "Remember to drink water."


# case name -> real payload (tests/fixtures/whatsapp) -> what it must produce
PAYLOADS = [
    pytest.param("360dialog-error-invalid-api-key.json", check_360dialog_error, id="invalid_api_key"),
    pytest.param(
        "360dialog-templates-list-v1-configs-rapidpro.json",
        check_360dialog_templates,
        id="templates_list_rapidpro",
    ),
]


@pytest.mark.parametrize(("fixture", "check"), PAYLOADS)
def test_real_payload(fixture: str, check: Callable[[Any], None]) -> None:
    check(load_fixture(fixture))
