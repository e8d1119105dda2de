"""Issue 13: a database error's message (and so any traceback) never carries the row's values:
PostgreSQL restarts printed customers' phone numbers at ERROR."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from bot.store.db import Store
from bot.store.models import Contact

NOW = datetime(2026, 11, 24, 19, 0, tzinfo=UTC)


def test_sql_errors_do_not_print_parameters(store: Store) -> None:
    row = {"phone_key": "+5511988887777", "e164": "+5511988887777", "created_at": NOW, "updated_at": NOW}
    with store.session() as session:
        session.execute(insert(Contact), [row])
    with pytest.raises(IntegrityError) as caught, store.session() as session:
        session.execute(insert(Contact), [row])
    text = str(caught.value)
    assert "SQL parameters hidden due to hide_parameters=True" in text
    assert "'+5511988887777'" not in text  # no parameter list
    # PostgreSQL's own DETAIL may still name the key; the log handler masks it like any phone.
    from bot.logs import mask_phones

    assert "988887777" not in mask_phones(text)
