"""Issue 13: the server enforces what the modal promises. A signed `view_submission` with 5,000
characters of free text, a 5,000-character variable or a variable with a newline or tab gets a
field error in the modal and nothing reaches the BSP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.blocks import modal
from bot.rules.templates import template_variables
from tests.e2e.harness import Clock, RunningApp, running_app, select_action, selected, typed, write_config
from tests.e2e.test_screen_e2e import (
    CONFIG,
    NOW,
    customer_writes,
    pick_utility_template,
    sends,
    wait_views,
)


@pytest.fixture
def app(tmp_path: Path, sqlite_url: str) -> Iterator[RunningApp]:
    with running_app(write_config(tmp_path, CONFIG), sqlite_url, Clock(NOW)) as running:
        yield running


def test_free_text_over_4096_characters_is_a_field_error(app: RunningApp) -> None:
    customer_writes(app, NOW - timedelta(hours=2))
    app.command("+55 11 98888-7777")
    view = wait_views(app, 1)
    answer = app.submit(
        view,
        {
            modal.BLOCK_CATEGORY: selected("service", modal.ACTION_CATEGORY),
            modal.BLOCK_FREE_TEXT: typed("a" * 5000, modal.ACTION_FREE_TEXT),
        },
    )
    body = answer.json()
    assert body["response_action"] == "errors"
    assert body["errors"] == {
        modal.BLOCK_FREE_TEXT: app.rt.catalog.t("screen.errors.free_text_too_long", limit="4096")
    }
    assert sends(app) == []


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ("linha 1\nlinha 2", "variable_whitespace"),
        ("a\tb", "variable_whitespace"),
        ("a     b", "variable_whitespace"),
        ("x" * 5000, "variable_too_long"),
    ],
)
def test_template_variables_meta_refuses_are_field_errors(app: RunningApp, value: str, key: str) -> None:
    app.command("+55 11 98888-7777")
    wait_views(app, 1)
    app.slack.wait_for("views.update", 1)  # the templates landed
    view = app.last_view()
    template = pick_utility_template(app)
    chosen = {
        modal.BLOCK_CATEGORY: selected("utility", modal.ACTION_CATEGORY),
        modal.BLOCK_TEMPLATE: selected(template.key, modal.ACTION_TEMPLATE),
    }
    before = len(app.slack.of("views.update"))
    app.block_action(
        view, select_action(modal.BLOCK_TEMPLATE, modal.ACTION_TEMPLATE, template.key), values=chosen
    )
    app.slack.wait_for("views.update", before + 1)
    view = app.last_view()
    variables = template_variables(template)
    values = dict(chosen)
    for variable in variables:
        values[f"var:{variable.key}"] = typed("ok", "var_value")
    values[f"var:{variables[0].key}"] = typed(value, "var_value")
    body = app.submit(view, values).json()
    assert body["response_action"] == "errors"
    assert list(body["errors"]) == [f"var:{variables[0].key}"]
    component = variables[0].key.split(".")[0]
    limit = {"limit": "60" if component == "header" else "1024"} if key == "variable_too_long" else {}
    assert body["errors"][f"var:{variables[0].key}"] == app.rt.catalog.t(f"screen.errors.{key}", **limit)
    assert sends(app) == []
