"""Contacts: who a phone number, wa_id or business-scoped user id belongs to, and the search.

Every function takes an open SQLAlchemy `Session` (from `Store.session()`); the caller owns the
transaction. Inserts that can race (two webhooks for one new contact) run inside a SAVEPOINT and
fall back to reading the row the other transaction wrote, so they are safe on SQLite and
PostgreSQL alike.
"""

from __future__ import annotations

import logging
import unicodedata
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnClause,
    Engine,
    Integer,
    Select,
    Table,
    bindparam,
    column,
    literal_column,
    or_,
    select,
    table,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from bot.rules import phones
from bot.rules.bsuid import is_bsuid
from bot.store.db import update_rows
from bot.store.models import NAME_SEARCH_FTS, Contact

log = logging.getLogger(__name__)

T = TypeVar("T")

# Column widths (models.py): a key or wa_id that does not fit is not a phone number anyway.
_PHONE_KEY_MAX = 20
_WA_ID_MAX = 32
# What people type around the digits of a phone number.
_PHONE_PUNCTUATION = set("+-(). /")
# A trigram index answers substrings of at least three characters; shorter ones are scanned.
_TRIGRAM = 3
# SQLite's FTS5 table over contacts.name_search (migration 0007_search): its rowid is the contact's id,
# and MATCH against the table's own name searches every column.
_NAME_FTS = table(NAME_SEARCH_FTS, column("rowid", Integer))
_NAME_FTS_MATCH: ColumnClause[Any] = literal_column(NAME_SEARCH_FTS)
_engines_with_name_fts: weakref.WeakSet[Engine] = weakref.WeakSet()
_SQLITE_MASTER = table("sqlite_master", column("type"), column("name"))


# ---- helpers --------------------------------------------------------------------------------------


def name_search_key(name: str | None) -> str | None:
    """A name as searched: lowercased, accents removed, spaces collapsed ("José  Ávila" -> "jose avila")."""
    if not name:
        return None
    name = "".join(ch for ch in name if ch != "\x00" and not 0xD800 <= ord(ch) <= 0xDFFF)
    decomposed = unicodedata.normalize("NFKD", name)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    folded = " ".join(plain.casefold().split())
    return folded[:256] or None


def _key_of(number: str | None) -> str | None:
    """phone_key of an E.164 or wa_id, or None when it is not a usable number."""
    if not number:
        return None
    try:
        key = phones.phone_key(number)
    except phones.InvalidPhone:
        return None
    return key if len(key) <= _PHONE_KEY_MAX else None


def _wa_id_forms(number: str) -> set[str]:
    """Every wa_id (digits) the same person may appear under: both Brazilian forms."""
    key = _key_of(number)
    forms = {number.strip().removeprefix("+")}
    if key is not None:
        forms |= {variant.removeprefix("+") for variant in phones.phone_variants(key)}
    return {form for form in forms if form}


def _in_savepoint(session: Session, attempt: Callable[[], T], retry: Callable[[], T | None]) -> T:
    """Run `attempt` (an insert + flush) in a SAVEPOINT; on a unique violation roll back to it
    and return what `retry` reads instead (the row a concurrent transaction wrote)."""
    try:
        with session.begin_nested():
            return attempt()
    except IntegrityError:
        found = retry()
        if found is None:
            raise
        return found


# ---- contacts -----------------------------------------------------------------------------------


def find_contact(
    session: Session,
    *,
    phone: str | None = None,
    wa_id: str | None = None,
    user_id: str | None = None,
) -> Contact | None:
    """The contact known by any of: a phone number (either Brazilian form), a wa_id (either
    form), or a business-scoped user id. The first one given that matches wins. A BSUID given as
    `phone` (what the screen and `sessions` pass on) is looked up as the user id."""
    if is_bsuid(phone):
        user_id, phone = (phone or "").strip(), None
    for number in (phone, wa_id):
        if not number:
            continue
        key = _key_of(number)
        if key is not None:
            found = session.scalar(select(Contact).where(Contact.phone_key == key))
            if found is not None:
                return found
        forms = _wa_id_forms(number)
        if forms:
            found = session.scalars(
                select(Contact).where(Contact.wa_id.in_(sorted(forms))).order_by(Contact.id)
            ).first()
            if found is not None:
                return found
    if user_id:
        return session.scalar(select(Contact).where(Contact.user_id == user_id))
    return None


def upsert_contact(
    session: Session,
    *,
    e164: str | None = None,
    wa_id: str | None = None,
    user_id: str | None = None,
    name: str | None = None,
    now: datetime,
    at: datetime | None = None,
) -> Contact:
    """The contact for these identifiers, created if new, with missing fields filled in.

    Matches on phone_key (both Brazilian forms are one contact), wa_id (either form) or user id
    (users with a username may come with `wa_id == ""`). `at` is when the event saying so
    happened: the newest event decides the name and the wa_id whatever order webhooks arrive
    in (an older one only fills what is empty). Without `at` (a send's own response) a new
    non-empty wa_id replaces the old one (WhatsApp's word on which form to send to).
    """
    if is_bsuid(e164):  # a BSUID-only contact chosen on the screen: no phone number
        user_id, e164 = (e164 or "").strip(), None
    wa_id = _clean_wa_id(wa_id)
    user_id = (user_id or "").strip() or None
    e164 = (e164 or "").strip() or None
    if not (e164 or wa_id or user_id):
        raise ValueError("a contact needs a phone number, a wa_id or a user id")
    key = _key_of(e164) or _key_of(wa_id)

    def find() -> Contact | None:
        return find_contact(session, phone=e164, wa_id=wa_id, user_id=user_id)

    contact = find()
    if contact is None:

        def insert() -> Contact:
            row = Contact(
                phone_key=key,
                e164=e164 or key,
                wa_id=wa_id,
                user_id=user_id,
                name=name or None,
                name_search=name_search_key(name),
                identity_at=at,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            session.flush()
            return row

        contact = _in_savepoint(session, insert, find)
    _fill(session, contact, key=key, e164=e164, wa_id=wa_id, user_id=user_id, name=name, now=now, at=at)
    return contact


@dataclass(slots=True)
class BatchContact:
    """A contact as `ContactBatch` reads and fills it: plain (no ORM object to build, track and
    flush), its changes written by `ContactBatch.write`."""

    id: int
    phone_key: str | None
    e164: str | None
    wa_id: str | None
    user_id: str | None
    name: str | None
    name_search: str | None
    identity_at: datetime | None
    updated_at: datetime


_BATCH_COLUMNS = tuple(field.name for field in fields(BatchContact))
_CONTACTS: Table = Contact.__table__  # type: ignore[assignment]
_CONTACTS_BY_KEY = select(*(_CONTACTS.c[name] for name in _BATCH_COLUMNS)).where(
    _CONTACTS.c.phone_key.in_(bindparam("keys", expanding=True))
)


class ContactBatch:
    """The contacts of one ingestion batch, read by phone_key in one query per chunk, so each
    event of a known customer costs no lookup. Same matching as `upsert_contact` (phone_key first),
    which it falls back to for anyone not found that way."""

    def __init__(self, session: Session, wa_ids: Iterable[str | None]) -> None:
        self._session = session
        keys = sorted({key for wa_id in wa_ids if (key := _key_of(_clean_wa_id(wa_id)))})
        self._by_key: dict[str, BatchContact] = {}
        # Changes not written yet: contact id -> (contact, columns).
        self._pending: dict[int, tuple[BatchContact, set[str]]] = {}
        self._written: set[int] = set()  # contacts whose ORM objects `write` brought up to date
        for start in range(0, len(keys), 500):
            for row in session.execute(_CONTACTS_BY_KEY, {"keys": keys[start : start + 500]}):
                contact = BatchContact(*row)
                if contact.phone_key:
                    self._by_key[contact.phone_key] = contact

    def forget(self) -> None:
        """A number moved (user_changed_number): answer from the database from now on."""
        self._by_key.clear()

    def write(self) -> None:
        """Write the batch's changes (`upsert`): one UPDATE per set of columns changed. Before
        anything else reads contacts from the database. A contact the session also holds as an ORM
        object (`upsert_contact` read it) has that object brought up to date, as if it had flushed."""
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for contact, columns in self._pending.values():
            names = ("id", *sorted(columns))
            by_columns.setdefault(names, []).append({name: getattr(contact, name) for name in names})
            loaded = self._session.identity_map.get(identity_key(Contact, contact.id))
            if loaded is not None:
                for name in columns:
                    set_committed_value(loaded, name, getattr(contact, name))
                self._written.add(contact.id)
        self._pending.clear()
        for rows in by_columns.values():
            update_rows(self._session, _CONTACTS, sorted(rows, key=lambda row: row["id"]))

    def expire(self) -> None:
        """The batch's savepoint rolled back: the ORM objects `write` brought up to date are read
        again when next used (the session's own bookkeeping never saw those changes, so the
        rollback would not undo them in memory)."""
        self._pending.clear()
        for contact_id in self._written:
            loaded = self._session.identity_map.get(identity_key(Contact, contact_id))
            if loaded is not None:
                self._session.expire(loaded)
        self._written.clear()

    def upsert(
        self,
        *,
        wa_id: str | None,
        user_id: str | None = None,
        name: str | None = None,
        now: datetime,
        at: datetime | None = None,
    ) -> BatchContact:
        """`upsert_contact(wa_id=, user_id=, name=, at=)`, answered from the batch when possible."""
        clean = _clean_wa_id(wa_id)
        key = _key_of(clean)
        contact = self._by_key.get(key) if key else None
        if contact is None:
            self.write()  # what it finds must be what the database holds
            found = upsert_contact(self._session, wa_id=wa_id, user_id=user_id, name=name, now=now, at=at)
            contact = BatchContact(*(getattr(found, name) for name in _BATCH_COLUMNS))
        else:
            changed = _fill(
                self._session,
                contact,
                key=key,
                e164=None,
                wa_id=clean,
                user_id=(user_id or "").strip() or None,
                name=name,
                now=now,
                at=at,
                flush=False,
            )
            if changed:
                self._pending.setdefault(contact.id, (contact, set()))[1].update(changed)
                # A unique column (phone_key, e164, user_id) is written now, as `upsert_contact`
                # does, so a clash shows where it happens.
                if changed & _UNIQUE_OR_KEY:
                    self.write()
        if contact.phone_key:
            self._by_key[contact.phone_key] = contact
        return contact


_UNIQUE_OR_KEY = frozenset({"phone_key", "e164", "user_id"})


def _clean_wa_id(wa_id: str | None) -> str | None:
    return (wa_id or "").strip().removeprefix("+")[:_WA_ID_MAX] or None


def _fill(
    session: Session,
    contact: Contact | BatchContact,
    *,
    key: str | None,
    e164: str | None,
    wa_id: str | None,
    user_id: str | None,
    name: str | None,
    now: datetime,
    at: datetime | None = None,
    flush: bool = True,
) -> set[str]:
    """Fill in what the contact lacks, and take the newest identity; the columns changed (with
    `flush` False, left for the caller to write: a `BatchContact`'s always are)."""
    changed: set[str] = set()
    # Is this the newest word on who the contact is? (None: a send's response, not an event.)
    newest = at is not None and (contact.identity_at is None or at >= contact.identity_at)
    if key and contact.phone_key is None and _free(session, Contact.phone_key, key, contact.id):
        contact.phone_key = key
        changed.add("phone_key")
    if contact.e164 is None and (e164 or key):
        contact.e164 = e164 or key
        changed.add("e164")
    if wa_id and contact.wa_id != wa_id and (at is None or newest or contact.wa_id is None):
        contact.wa_id = wa_id
        changed.add("wa_id")
    if (
        user_id
        and contact.user_id != user_id
        and (contact.user_id is None or newest)
        and _free(session, Contact.user_id, user_id, contact.id)
    ):
        contact.user_id = user_id
        changed.add("user_id")
    if name and contact.name != name and (not contact.name or newest):
        contact.name, contact.name_search = name, name_search_key(name)
        changed |= {"name", "name_search"}
    if newest and (wa_id or user_id or name) and contact.identity_at != at:
        contact.identity_at = at
        changed.add("identity_at")
    if changed:
        contact.updated_at = now
        changed.add("updated_at")
        if flush:
            session.flush()
    return changed


def _free(session: Session, column: Any, value: str, contact_id: int) -> bool:
    """No other contact holds `value` in this unique column."""
    return session.scalar(select(Contact.id).where(column == value, Contact.id != contact_id)) is None


def set_contact_wa_id(session: Session, contact_id: int, wa_id: str, *, now: datetime) -> None:
    """Record the wa_id a send response reported (`contacts[].wa_id`): what to send to next time."""
    contact = session.get(Contact, contact_id)
    wa_id = (wa_id or "").strip().removeprefix("+")[:_WA_ID_MAX]
    if contact is None or not wa_id:
        return
    _fill(session, contact, key=_key_of(wa_id), e164=None, wa_id=wa_id, user_id=None, name=None, now=now)


def move_contact_number(session: Session, old_wa_id: str, new_wa_id: str, now: datetime) -> Contact | None:
    """`user_changed_number`: the contact known by `old_wa_id` is now reached at `new_wa_id`.

    When another contact already holds the new number the two are left apart (merging histories
    is not ours to guess) and that other contact is returned.
    """
    new_key = _key_of(new_wa_id)
    existing = find_contact(session, wa_id=new_wa_id)
    contact = find_contact(session, wa_id=old_wa_id) if old_wa_id else None
    if contact is None:
        if existing is not None:
            return existing
        return upsert_contact(session, wa_id=new_wa_id, now=now)
    if existing is not None and existing.id != contact.id:
        log.info(
            "number change %s -> %s: the new number is already contact %s; left apart",
            phones.mask_phone(old_wa_id),
            phones.mask_phone(new_wa_id),
            existing.id,
        )
        return existing
    contact.wa_id = new_wa_id.strip().removeprefix("+")[:_WA_ID_MAX]
    if new_key is not None:
        contact.phone_key = new_key
        contact.e164 = new_key
    contact.updated_at = now
    session.flush()
    return contact


def search_contacts(session: Session, query: str, limit: int = 20) -> list[Contact]:
    """Known contacts whose name (accent- and case-insensitive) or number contains `query`,
    ordered by name. Prefix matches are found through the b-tree indexes (name_search,
    phone_key); substring matches fill the rest, names through a trigram index."""
    # A NUL made PostgreSQL fail and SQLite match everyone; a lone surrogate cannot be encoded.
    text = "".join(ch for ch in (query or "") if ch.isprintable() and not 0xD800 <= ord(ch) <= 0xDFFF).strip()
    if not text or limit <= 0:
        return []
    if is_bsuid(text):  # a username-only customer, by the id Meta gave us
        query_id = text.strip()
        return list(session.scalars(select(Contact).where(Contact.user_id == query_id).limit(limit)))
    digits = "".join(ch for ch in text if ch.isdigit())
    is_number = bool(digits) and all(ch.isdigit() or ch in _PHONE_PUNCTUATION for ch in text)
    needle = digits if is_number else name_search_key(text) or ""
    if not needle or (is_number and len(digits) < 2):
        return []

    if is_number:
        # Range scans on the unique index of phone_key: the number as typed, and read as national.
        prefixes = {"+" + digits, f"+{phones.BRAZIL_CALLING_CODE}{digits}"}
        prefix_clause = or_(*(_prefix(Contact.phone_key, p) for p in sorted(prefixes)))
        # phone_key holds every number in its canonical form (wa_ids included).
        substring = select(Contact).where(Contact.phone_key.contains(digits, autoescape=True))
    else:
        prefix_clause = _prefix(Contact.name_search, needle)
        substring = _names_containing(session, needle)

    order = (Contact.name_search, Contact.id)
    found = list(session.scalars(select(Contact).where(prefix_clause).order_by(*order).limit(limit)))
    if len(found) < limit:
        seen = {contact.id for contact in found}
        more = session.scalars(substring.order_by(*order).limit(limit + len(seen)))
        found += [contact for contact in more if contact.id not in seen]
    found.sort(key=lambda c: (c.name_search is None, c.name_search or "", c.id))
    return found[:limit]


def contacts_named(session: Session, name: str, limit: int) -> list[Contact]:
    """Known contacts whose whole name is `name` (accent- and case-insensitive), oldest first: one
    equality read on the name_search b-tree."""
    key = name_search_key(name)
    if key is None or limit <= 0:
        return []
    return list(
        session.scalars(select(Contact).where(Contact.name_search == key).order_by(Contact.id).limit(limit))
    )


def _names_containing(session: Session, needle: str) -> Select[Contact]:
    """Contacts whose name_search contains `needle` (already folded), through the trigram index.

    PostgreSQL: `LIKE '%...%'` is what the pg_trgm GIN index answers (the planner picks it, or the
    ordered b-tree when most contacts match). SQLite: a MATCH on the FTS5 trigram table, whose
    quoted phrase is a substring. Without either index (migration 0007_search logged why), and
    for needles too short for trigrams, the same LIKE scans."""
    if len(needle) >= _TRIGRAM and _has_name_fts(session):
        phrase = '"' + needle.replace('"', '""') + '"'  # an FTS5 string: every character literal
        return (
            select(Contact)
            .join(_NAME_FTS, _NAME_FTS.c.rowid == Contact.id)
            .where(_NAME_FTS_MATCH.match(phrase))
        )
    return select(Contact).where(Contact.name_search.contains(needle, autoescape=True))


def _has_name_fts(session: Session) -> bool:
    """The database is SQLite with the FTS5 name table (remembered per engine once seen)."""
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    if engine.dialect.name != "sqlite":
        return False
    if engine in _engines_with_name_fts:
        return True
    found = session.scalar(
        select(_SQLITE_MASTER.c.name).where(
            _SQLITE_MASTER.c.type == "table", _SQLITE_MASTER.c.name == NAME_SEARCH_FTS
        )
    )
    if found:
        _engines_with_name_fts.add(engine)
    return bool(found)


def _prefix(column: Any, prefix: str) -> Any:
    # A range, not LIKE: it uses the b-tree index on both SQLite and PostgreSQL whatever the
    # collation or LIKE case rules.
    return (column >= prefix) & (column < prefix + "\U0010ffff")


def get_contact(session: Session, contact_id: int) -> Contact | None:
    """The contact with this id."""
    return session.get(Contact, contact_id)


def contacts_by_id(session: Session, contact_ids: Iterable[int]) -> dict[int, Contact]:
    """The contacts with these ids, by id (missing ones left out)."""
    ids = sorted(set(contact_ids))
    if not ids:
        return {}
    return {c.id: c for c in session.scalars(select(Contact).where(Contact.id.in_(ids)))}
