"""Tables. Every time column is timezone-aware UTC (stored as UTC)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """SQLite drops tzinfo; store naive UTC and give back aware UTC on every backend."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


# Named constraints: Alembic's batch mode (SQLite ALTERs) needs a name for every constraint.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSON, datetime: UtcDateTime}


# The name search's substring index. On SQLite an FTS5 table (trigram tokenizer) over
# contacts.name_search, kept in step by triggers: a virtual table (with its shadow tables
# `contacts_name_fts_*`), so not a model here; migration 0007_search creates it.
NAME_SEARCH_FTS = "contacts_name_fts"
# On PostgreSQL a trigram GIN index (pg_trgm), declared below for PostgreSQL only.
NAME_SEARCH_TRGM_INDEX = "ix_contacts_name_search_trgm"


def in_schema_comparison(dialect: str) -> Callable[[Any, str | None, str, bool, Any], bool]:
    """Alembic's `include_object` for comparing a `dialect` database with these models: the
    SQLite search tables are not models, and a PostgreSQL-only index exists only there."""

    def include(_obj: Any, name: str | None, type_: str, _reflected: bool, _compare_to: Any) -> bool:
        if type_ == "table" and name is not None and name.startswith(NAME_SEARCH_FTS):
            return dialect != "sqlite"
        if type_ == "index" and name == NAME_SEARCH_TRGM_INDEX:
            return dialect == "postgresql"
        return True

    return include


class Contact(Base):
    """A customer. `phone_key` is the canonical E.164 (Brazilian mobiles with the 9th digit),
    so the two Brazilian forms are one contact; `wa_id` is what WhatsApp last reported."""

    __tablename__ = "contacts"
    __table_args__ = (
        # PostgreSQL: a trigram index for `name_search LIKE '%...%'` (pg_trgm). Migration
        # 0007_search leaves it out, with a warning, where the extension cannot be created.
        # fastupdate off: no pending list for searches to scan (and for the planner to shy away
        # from); contacts are written far less often than they are searched.
        Index(
            NAME_SEARCH_TRGM_INDEX,
            "name_search",
            postgresql_using="gin",
            postgresql_ops={"name_search": "gin_trgm_ops"},
            postgresql_with={"fastupdate": "off"},
        ).ddl_if(dialect="postgresql"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    phone_key: Mapped[str | None] = mapped_column(String(20), unique=True)
    e164: Mapped[str | None] = mapped_column(String(20))
    wa_id: Mapped[str | None] = mapped_column(String(32), index=True)
    user_id: Mapped[str | None] = mapped_column(String(128), unique=True)  # business-scoped user id
    name: Mapped[str | None] = mapped_column(String(256))
    name_search: Mapped[str | None] = mapped_column(String(256), index=True)  # lowercased, unaccented
    # When the event that last set name / wa_id / user_id happened: an older event arriving later
    # does not overwrite them (webhooks come in any order).
    identity_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class CustomerEvent(Base):
    """A window-relevant fact for (channel, contact): inbound message, our reply, or a
    conversation seen in a status. Unique per (channel, kind, ref) so re-deliveries are no-ops."""

    __tablename__ = "customer_events"
    __table_args__ = (
        UniqueConstraint("channel_id", "kind", "ref", name="uq_customer_events_ref"),
        Index("ix_customer_events_lookup", "channel_id", "contact_id", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(64))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    kind: Mapped[str] = mapped_column(String(16))  # customer | business | conversation
    ref: Mapped[str] = mapped_column(String(255))  # wamid, or conversation id
    at: Mapped[datetime]
    from_ad: Mapped[bool] = mapped_column(Boolean, default=False)
    origin: Mapped[str | None] = mapped_column(String(32))  # conversation origin
    expires_at: Mapped[datetime | None]
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # e.g. the referral


class Window(Base):
    """The current state of each (channel, contact, kind) window, recomputed by ingest from the
    events; what the expiry scan reads (indexed on expires_at). kind: customer_care | ctwa |
    ctwa_pending."""

    __tablename__ = "windows"
    __table_args__ = (
        UniqueConstraint("channel_id", "contact_id", "kind", name="uq_windows"),
        Index("ix_windows_expires_at", "expires_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(64))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    kind: Mapped[str] = mapped_column(String(16))
    opened_at: Mapped[datetime | None]
    expires_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class WindowDueQueue(Base):
    """Windows that ingestion wrote already close to their expiry (within the longest alert lead,
    plus a margin, of ingestion's clock): the next expiry scan reads each of them, claims what is
    due and deletes the row, whatever its clock says. See `bot.store.alert_claims.claim_due_windows`
    for why that is safe in any commit order. Small: rows live one scan interval."""

    __tablename__ = "window_due_queue"

    channel_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    contact_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    queued_at: Mapped[datetime]
    # The scan that is consuming the row (set and deleted inside its one transaction).
    taken_by: Mapped[str | None] = mapped_column(String(32))


class OutboundMessage(Base):
    """Something an agent sent (or tried to). `idempotency_key` makes a double submit send once."""

    __tablename__ = "outbound_messages"
    __table_args__ = (
        UniqueConstraint("idempotency_key", name="uq_outbound_idempotency"),
        Index("ix_outbound_bsp_message_id", "channel_id", "bsp_message_id"),
        Index("ix_outbound_agent", "agent_user_id", "created_at"),
        # The expiry scan asks, per due window, whose agent wrote to the contact last.
        Index("ix_outbound_last_send", "contact_id", "channel_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(255))
    channel_id: Mapped[str] = mapped_column(String(64))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    agent_user_id: Mapped[str] = mapped_column(String(32))
    team_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # template | text
    category: Mapped[str] = mapped_column(String(16))
    template_name: Mapped[str | None] = mapped_column(String(512))
    language: Mapped[str | None] = mapped_column(String(16))
    parameters: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    text: Mapped[str | None] = mapped_column(Text)
    bsp_message_id: Mapped[str | None] = mapped_column(String(255))
    wa_id: Mapped[str | None] = mapped_column(String(32))
    # pending -> sent -> delivered -> read; failed; unknown (timeout: may or may not have left)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    status_rank: Mapped[int] = mapped_column(Integer, default=0)
    status_at: Mapped[datetime | None]
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_detail: Mapped[str | None] = mapped_column(Text)
    charge: Mapped[str | None] = mapped_column(String(16))
    estimated_price: Mapped[float | None] = mapped_column(Float)
    currency: Mapped[str | None] = mapped_column(String(8))
    slack_channel: Mapped[str | None] = mapped_column(String(32))  # where the confirmation is
    slack_ts: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class StatusEvent(Base):
    """Every (message, status) seen once: deduplicates re-deliveries."""

    __tablename__ = "status_events"
    __table_args__ = (UniqueConstraint("channel_id", "message_id", "status", name="uq_status_events"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(64))
    message_id: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime]
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class WebhookDelivery(Base):
    """A webhook body accepted, stored before the 200 so nothing acknowledged is lost."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_pending", "processed_at"),
        # The drainers' queue (store.deliveries.claim_due): only the rows still to ingest, by id.
        Index(
            "ix_webhook_deliveries_due",
            "id",
            postgresql_where=text("processed_at IS NULL AND failed_at IS NULL"),
            sqlite_where=text("processed_at IS NULL AND failed_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime]
    body: Mapped[bytes] = mapped_column(LargeBinary)
    processed_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)  # the error class, never SQL parameters
    # Ingestion failures: retried with backoff until `attempts` reaches the limit, then parked
    # (`failed_at` set): no longer picked up at start, listed for the operator, `webhook replay`able.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]


class TemplateCache(Base):
    """The channel's templates as last fetched (normalised JSON), for a modal that never waits."""

    __tablename__ = "template_cache"

    channel_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    fetched_at: Mapped[datetime]
    templates: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Set by ingestion (in any process) when a template webhook says the list changed; every
    # process's cache sees it and refreshes (bot.core.template_cache). Cleared by a newer fetch.
    invalidated_at: Mapped[datetime | None]


class AlertClaim(Base):
    """One row per (window, expiry) alert: the unique key is what makes an alert exactly-once."""

    __tablename__ = "alert_claims"
    __table_args__ = (
        # Expiry first: claims are made in expiry order, so inserts append to the index.
        UniqueConstraint(
            "expires_at", "channel_id", "contact_id", "kind", "slack_channel", name="uq_alert_claims"
        ),
        Index("ix_alert_claims_pending", "posted_at", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(64))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    kind: Mapped[str] = mapped_column(String(16))
    expires_at: Mapped[datetime]
    slack_channel: Mapped[str] = mapped_column(String(32))
    claimed_at: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    posted_at: Mapped[datetime | None]  # set when the claim is done: posted or dropped
    slack_ts: Mapped[str | None] = mapped_column(String(32))
    # posted | superseded | expired (window closed first) | given_up (retried too long)
    outcome: Mapped[str | None] = mapped_column(String(16))
    last_error: Mapped[str | None] = mapped_column(Text)  # Slack's error at the last failed attempt


class SandboxSend(Base):
    """What the built-in `sandbox` BSP was asked to send, in Meta's wire format, for people trying
    the app (and tests) to look at. No message ever leaves the machine."""

    __tablename__ = "sandbox_sends"
    __table_args__ = (
        UniqueConstraint("message_id", name="uq_sandbox_sends_message_id"),
        Index("ix_sandbox_sends_channel", "channel_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(64))
    to: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))  # template | text
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)  # the body Meta's /messages would get
    message_id: Mapped[str] = mapped_column(String(255))  # "wamid.SANDBOX..."
    created_at: Mapped[datetime]


class ConversationPost(Base):
    """A customer message to be shown in the thread of the agent's confirmation: one row per
    message (the unique key makes it posted once whatever the duplicates, the order of webhooks
    or the number of instances), leased and posted like the alert claims. Rows of one contact
    that share `due_at` (a burst) go in one thread post. `content` holds only what the thread may
    show under `conversation.show_customer_text`."""

    __tablename__ = "conversation_posts"
    __table_args__ = (
        UniqueConstraint("channel_id", "message_id", name="uq_conversation_posts_message"),
        Index("ix_conversation_posts_pending", "posted_at", "due_at"),
        Index("ix_conversation_posts_outbound", "outbound_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(64))
    message_id: Mapped[str] = mapped_column(String(255))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    outbound_id: Mapped[int] = mapped_column(  # whose thread
        BigInteger().with_variant(Integer, "sqlite"), ForeignKey("outbound_messages.id")
    )
    at: Mapped[datetime]  # when the customer wrote
    content: Mapped[dict[str, Any]] = mapped_column(JSON)  # type, text/caption/filename as allowed
    claimed_at: Mapped[datetime]
    due_at: Mapped[datetime]  # the burst's first message + batch_seconds
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    posted_at: Mapped[datetime | None]
    slack_ts: Mapped[str | None] = mapped_column(String(32))


class ThreadReply(Base):
    """A message an agent wrote in a confirmation's thread, claimed once by its Slack identity
    (channel + ts, the same in every redelivery of the event), before anything is sent: Slack's
    retries never send twice. `outbound_id` is the free-text send it became (None: not sent)."""

    __tablename__ = "thread_replies"
    __table_args__ = (
        UniqueConstraint("slack_channel", "slack_ts", name="uq_thread_replies_message"),
        Index("ix_thread_replies_outbound", "outbound_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    slack_channel: Mapped[str] = mapped_column(String(32))
    slack_ts: Mapped[str] = mapped_column(String(32))
    thread_ts: Mapped[str] = mapped_column(String(32))
    agent_user_id: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str | None] = mapped_column(String(64))
    outbound_id: Mapped[int | None] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), ForeignKey("outbound_messages.id")
    )
    outcome: Mapped[str] = mapped_column(String(32))  # claimed | sent | failed | window_closed | ...
    created_at: Mapped[datetime]
