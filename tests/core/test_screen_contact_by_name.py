"""The contact an agent types by name (`/contato Ana Souza`): one match opens that contact's screen;
a contact whose whole name is the query wins over those that only contain it; several left are
ambiguous and the modal says so."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.blocks.state import ScreenInputs
from bot.core.screen import resolve_contact
from bot.store import contacts
from tests.core.test_webhook_hardening import NOW, make_runtime


@pytest.fixture
def rt(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    yield from make_runtime(db_url, tmp_path, monkeypatch)


def known(rt: Any, *people: tuple[str, str]) -> None:
    with rt.store.session() as session:
        for e164, name in people:
            contacts.upsert_contact(session, e164=e164, name=name, now=NOW)


def typed(rt: Any, query: str) -> tuple[str | None, str | None]:
    choice = resolve_contact(rt, ScreenInputs(contact_query=query))
    return choice.e164, choice.problem


def test_a_whole_name_wins_over_names_that_contain_it(rt: Any) -> None:
    known(rt, ("+5511911110001", "Ana Souza"), ("+5511911110002", "Ana Souza Lima"))
    assert typed(rt, "ana souza") == ("+5511911110001", None)  # case and accents folded
    assert typed(rt, "Ána  Souza") == ("+5511911110001", None)
    assert typed(rt, "\x00Ana Souza\ud800") == ("+5511911110001", None)  # a NUL, a lone surrogate: ignored


def test_a_part_of_two_names_is_ambiguous_and_the_modal_says_so(rt: Any) -> None:
    known(rt, ("+5511911110001", "Ana Souza"), ("+5511911110002", "Ana Souza Lima"))
    assert typed(rt, "Souza") == (None, "screen.errors.contact_unknown")


def test_one_contact_containing_the_query_is_found(rt: Any) -> None:
    known(rt, ("+5511911110001", "Ana Souza"), ("+5511911110002", "Bruno Lima"))
    assert typed(rt, "souz") == ("+5511911110001", None)


def test_two_contacts_with_the_same_whole_name_stay_ambiguous(rt: Any) -> None:
    known(rt, ("+5511911110001", "Ana Souza"), ("+5511911110002", "Ana Souza"))
    assert typed(rt, "Ana Souza") == (None, "screen.errors.contact_unknown")
