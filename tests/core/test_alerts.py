"""Expiry alerts: due windows are claimed once, posted once per (window, expiry), in one digest per
Slack channel, retried when Slack fails, and never repeated after a restart (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import httpx
import pytest
import yaml
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import delete, select, update

from bot.core.alerts import RESUME_ACTION_ID, run_scan
from bot.store.db import Store
from bot.store.models import AlertClaim, Contact, OutboundMessage, Window
from tests.e2e.fake_slack import Failure, FakeSlack, SlackCall

if TYPE_CHECKING:
    from bot.runtime import Runtime

NOW = datetime(2026, 11, 24, 19, 0, tzinfo=UTC)

CONFIG = """
language: pt-BR
alerts:
  scan_seconds: 60
teams:
  - id: vendas
    name: Vendas
    members: [UVENDAS]
    alert_channel: CVENDAS
    alert_lead_minutes: 60
    channels: [loja, compartilhado]
  - id: suporte
    name: Suporte
    members: [USUPORTE]
    alert_channel: CSUPORTE
    alert_lead_minutes: 120
    channels: [sac, compartilhado]
  - id: sem_alerta
    name: Sem alerta
    members: [USEM]
    channels: [mudo]
channels:
  - {id: loja, name: Loja, number: "+55 11 4000-0001", bsp: sandbox}
  - {id: sac, name: SAC, number: "+55 11 4000-0002", bsp: sandbox}
  - {id: compartilhado, name: Compartilhado, number: "+55 11 4000-0003", bsp: sandbox}
  - {id: mudo, name: Mudo, number: "+55 11 4000-0004", bsp: sandbox}
"""


# ---- config: the real one when bot.config is there, else a stand-in with the same contract -----


@dataclass
class _Team:
    id: str
    name: str
    members: list[str] = field(default_factory=list)
    usergroup: str | None = None
    alert_channel: str | None = None
    alert_lead_minutes: int = 60
    channels: list[str] = field(default_factory=list)


@dataclass
class _Channel:
    id: str
    name: str


@dataclass
class _Alerts:
    scan_seconds: int = 60


@dataclass
class _Config:
    language: str
    teams: list[_Team]
    channels: list[_Channel]
    alerts: _Alerts

    def team(self, team_id: str) -> _Team | None:
        return next((t for t in self.teams if t.id == team_id), None)

    def channel(self, channel_id: str) -> _Channel | None:
        return next((c for c in self.channels if c.id == channel_id), None)

    def teams_for_channel(self, channel_id: str) -> list[_Team]:
        return [t for t in self.teams if channel_id in t.channels]

    def teams_of_user(self, user_id: str, members: Any) -> list[_Team]:
        return [
            t
            for t in self.teams
            if user_id in t.members or (t.usergroup and user_id in members.get(t.usergroup, ()))
        ]


def make_config(tmp_path: Path, text: str = CONFIG) -> Any:
    """`bot.config.load_config` of `text` once bot.config exists; a stand-in until then."""
    path = tmp_path / "contato.yml"
    path.write_text(text)
    try:
        from bot.config import load_config
    except ImportError:
        data = yaml.safe_load(text)
        return _Config(
            language=data.get("language", "pt-BR"),
            teams=[_Team(**t) for t in data["teams"]],
            channels=[_Channel(c["id"], c["name"]) for c in data["channels"]],
            alerts=_Alerts(**(data.get("alerts") or {})),
        )
    return load_config(path)


@dataclass
class Rt:
    """What the scan uses of bot.runtime.Runtime: config, store and the clock."""

    config: Any
    store: Store
    at: datetime = NOW

    def now(self) -> datetime:
        return self.at


def make_rt(tmp_path: Path, store: Store, text: str = CONFIG) -> Runtime:
    """A bot.runtime.Runtime on `store` with the clock at NOW (the stand-in until bot.config lands)."""
    config = make_config(tmp_path, text)
    try:
        from bot.config import Settings
        from bot.rules.pricing import load_rule_set
        from bot.runtime import assemble_runtime
    except ImportError:
        return cast("Runtime", Rt(config, store))
    return assemble_runtime(
        config=config,
        settings=Settings(),
        store=store,
        rules=load_rule_set(),
        config_path=tmp_path / "contato.yml",
        http=httpx.AsyncClient(),
        clock=lambda: NOW,
    )


# ---- rows -------------------------------------------------------------------------------------


def add_contact(store: Store, e164: str, name: str | None = None) -> int:
    with store.session() as s:
        contact = Contact(
            phone_key=e164, e164=e164, wa_id=e164[1:], name=name, created_at=NOW, updated_at=NOW
        )
        s.add(contact)
        s.flush()
        return contact.id


def set_window(store: Store, channel: str, contact_id: int, kind: str, expires_at: datetime) -> None:
    """What ingest keeps in `windows`: one row per (channel, contact, kind)."""
    with store.session() as s:
        row = s.scalar(
            select(Window).where(
                Window.channel_id == channel, Window.contact_id == contact_id, Window.kind == kind
            )
        )
        if row is None:
            s.add(
                Window(
                    channel_id=channel,
                    contact_id=contact_id,
                    kind=kind,
                    opened_at=None,
                    expires_at=expires_at,
                    updated_at=NOW,
                )
            )
        else:
            row.expires_at = expires_at


def add_outbound(
    store: Store,
    channel: str,
    contact_id: int,
    team: str,
    agent: str,
    at: datetime,
    template: str = "promo_nov",
    **extra: Any,
) -> None:
    with store.session() as s:
        s.add(
            OutboundMessage(
                idempotency_key=f"{channel}-{contact_id}-{at.isoformat()}-{template}",
                channel_id=channel,
                contact_id=contact_id,
                agent_user_id=agent,
                team_id=team,
                kind="template",
                category="marketing",
                template_name=template,
                status=extra.pop("status", "delivered"),
                created_at=at,
                updated_at=at,
                **extra,
            )
        )


def claims(store: Store) -> list[AlertClaim]:
    with store.session() as s:
        return list(s.scalars(select(AlertClaim).order_by(AlertClaim.id)))


# ---- what Slack saw ---------------------------------------------------------------------------


def posts(slack: FakeSlack) -> list[SlackCall]:
    return slack.of("chat.postMessage")


def items_of(call: SlackCall) -> list[dict[str, Any]]:
    """The resume buttons' values of one digest: one per window shown."""
    return [
        json.loads(b["accessory"]["value"])
        for b in call.args["blocks"]
        if b.get("type") == "section" and b.get("accessory", {}).get("action_id") == RESUME_ACTION_ID
    ]


def ok_posts(slack: FakeSlack, failed: int = 0) -> list[SlackCall]:
    """Posts Slack accepted: the fake records failed calls too, and fails the first `failed`."""
    return posts(slack)[failed:]


# ---- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.stop()


@pytest.fixture
def client(slack: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token="xoxb-test", base_url=slack.url)


@pytest.fixture
def rt(tmp_path: Path, store: Store) -> Runtime:
    return make_rt(tmp_path, store)


# ---- the "done shows" -----------------------------------------------------------------


async def test_customer_message_23h30_ago_gives_exactly_one_alert(
    rt: Runtime, store: Store, slack: FakeSlack, client: AsyncWebClient
) -> None:
    maria = add_contact(store, "+5511988887777", "Maria <Silva>")
    wrote = NOW - timedelta(hours=23, minutes=30)
    set_window(store, "loja", maria, "customer_care", wrote + timedelta(hours=24))
    add_outbound(store, "loja", maria, "vendas", "UVENDAS", NOW - timedelta(hours=2))

    result = await run_scan(rt, client, now=NOW)
    for minute in range(1, 5):  # the next scans repeat nothing
        await run_scan(rt, client, now=NOW + timedelta(minutes=minute))

    assert (result.claimed, result.posted, result.messages) == (1, 1, 1)
    [call] = posts(slack)
    assert call.args["channel"] == "CVENDAS"
    assert items_of(call) == [{"channel": "loja", "contact": "+5511988887777", "team": "vendas"}]
    section = call.args["blocks"][1]["text"]["text"]
    assert "Maria &lt;Silva&gt;" in section and "Loja" in section  # who, where, escaped
    assert "<@UVENDAS>" in section and "promo_nov" in section  # last agent and what was sent
    [claim] = claims(store)
    assert claim.posted_at == NOW and claim.slack_ts and claim.attempts == 0


async def test_only_windows_within_the_lead_are_due(
    rt: Runtime, store: Store, slack: FakeSlack, client: AsyncWebClient
) -> None:
    c1 = add_contact(store, "+5511900000001")
    c2 = add_contact(store, "+5511900000002")
    c3 = add_contact(store, "+5511900000003")
    set_window(store, "loja", c1, "customer_care", NOW + timedelta(minutes=61))  # vendas: lead 60
    set_window(store, "loja", c2, "customer_care", NOW - timedelta(minutes=1))  # already closed
    set_window(store, "sac", c3, "customer_care", NOW + timedelta(minutes=90))  # suporte: lead 120

    await run_scan(rt, client, now=NOW)

    [call] = posts(slack)
    assert call.args["channel"] == "CSUPORTE"
    assert [i["contact"] for i in items_of(call)] == ["+5511900000003"]
    # A minute later the first one is due; the closed one never is.
    await run_scan(rt, client, now=NOW + timedelta(minutes=1, seconds=1))
    assert [i["contact"] for c in posts(slack) for i in items_of(c)] == ["+5511900000003", "+5511900000001"]


async def test_several_due_in_one_scan_make_one_digest_per_slack_channel(
    rt: Runtime, store: Store, slack: FakeSlack, client: AsyncWebClient
) -> None:
    for n in range(3):
        contact = add_contact(store, f"+551190000001{n}")
        set_window(store, "loja", contact, "customer_care", NOW + timedelta(minutes=10 + n))
    for n in range(2):
        contact = add_contact(store, f"+551190000002{n}")
        set_window(store, "sac", contact, "ctwa", NOW + timedelta(minutes=20 + n))
    lead = add_contact(store, "+5511900000030")
    set_window(store, "sac", lead, "ctwa_pending", NOW + timedelta(minutes=5))

    result = await run_scan(rt, client, now=NOW)

    assert (result.posted, result.messages) == (6, 2)
    by_channel = {c.args["channel"]: items_of(c) for c in posts(slack)}
    assert len(by_channel["CVENDAS"]) == 3
    suporte = [i["contact"] for i in by_channel["CSUPORTE"]]
    assert suporte == ["+5511900000030", "+5511900000020", "+5511900000021"]  # soonest first
    text = json.dumps(by_channel) + json.dumps([c.args["blocks"] for c in posts(slack)], ensure_ascii=False)
    assert "Lead de anúncio sem resposta" in text  # the ad lead says what is at stake


async def test_team_of_the_last_agent_else_every_team_of_the_channel(
    rt: Runtime, store: Store, slack: FakeSlack, client: AsyncWebClient
) -> None:
    answered = add_contact(store, "+5511900000041")
    nobody = add_contact(store, "+5511900000042")
    add_outbound(store, "compartilhado", answered, "suporte", "USUPORTE", NOW - timedelta(hours=3))
    add_outbound(store, "loja", answered, "vendas", "UVENDAS", NOW - timedelta(hours=1))  # other channel
    set_window(store, "compartilhado", answered, "customer_care", NOW + timedelta(minutes=30))
    set_window(store, "compartilhado", nobody, "customer_care", NOW + timedelta(minutes=30))

    await run_scan(rt, client, now=NOW)

    by_channel = {c.args["channel"]: items_of(c) for c in posts(slack)}
    assert by_channel["CSUPORTE"] == [
        {"channel": "compartilhado", "contact": "+5511900000041", "team": "suporte"},
        {"channel": "compartilhado", "contact": "+5511900000042", "team": "suporte"},
    ]
    assert by_channel["CVENDAS"] == [
        {"channel": "compartilhado", "contact": "+5511900000042", "team": "vendas"}
    ]


async def test_team_without_alert_channel_is_skipped(
    rt: Runtime, store: Store, slack: FakeSlack, client: AsyncWebClient
) -> None:
    contact = add_contact(store, "+5511900000051")
    set_window(store, "mudo", contact, "customer_care", NOW + timedelta(minutes=30))

    result = await run_scan(rt, client, now=NOW)

    assert posts(slack) == [] and claims(store) == []
    assert result.skipped_teams == ["sem_alerta"]


async def test_extended_window_gets_its_own_alert_later(
    rt: Runtime, store: Store, slack: FakeSlack, client: AsyncWebClient
) -> None:
    contact = add_contact(store, "+5511900000061")
    first = NOW + timedelta(minutes=30)
    set_window(store, "loja", contact, "customer_care", first)
    await run_scan(rt, client, now=NOW)
    # The customer writes again 10 minutes later: the window now closes 24 h after that.
    second = NOW + timedelta(minutes=10, hours=24)
    set_window(store, "loja", contact, "customer_care", second)
    for minutes in (11, 60, 600):
        await run_scan(rt, client, now=NOW + timedelta(minutes=minutes))
    assert len(posts(slack)) == 1

    await run_scan(rt, client, now=second - timedelta(minutes=59))
    await run_scan(rt, client, now=second - timedelta(minutes=58))

    assert len(posts(slack)) == 2
    assert [c.expires_at for c in claims(store)] == [first, second]
    assert all(c.posted_at is not None for c in claims(store))


async def test_restart_repeats_nothing(
    tmp_path: Path, db_url: str, rt: Runtime, store: Store, slack: FakeSlack, client: AsyncWebClient
) -> None:
    for n in range(3):
        contact = add_contact(store, f"+551190000007{n}")
        set_window(store, "loja", contact, "customer_care", NOW + timedelta(minutes=30))
    await run_scan(rt, client, now=NOW, instance_id="before-restart")

    restarted = Store.from_url(db_url)  # a new process: new engine, new instance id
    try:
        again = make_rt(tmp_path, restarted)
        result = await run_scan(again, AsyncWebClient(token="xoxb-test", base_url=slack.url), now=NOW)
        result2 = await run_scan(again, client, now=NOW + timedelta(minutes=3))
    finally:
        restarted.dispose()

    assert len(posts(slack)) == 1 and len(items_of(posts(slack)[0])) == 3
    assert (result.claimed, result.posted, result2.claimed, result2.posted) == (0, 0, 0, 0)


async def test_slack_500_then_429_then_ok_posts_once(
    rt: Runtime, store: Store, slack: FakeSlack, client: AsyncWebClient
) -> None:
    contact = add_contact(store, "+5511900000081")
    set_window(store, "loja", contact, "customer_care", NOW + timedelta(minutes=50))
    slack.fail_next(
        "chat.postMessage",
        Failure(500),
        Failure(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"}),
    )

    first = await run_scan(rt, client, now=NOW)
    assert first.failed == 1 and len(posts(slack)) == 1
    [claim] = claims(store)
    assert claim.posted_at is None and claim.lease_until is None and claim.attempts == 1
    assert claim.next_attempt_at is not None and claim.next_attempt_at > NOW

    await run_scan(rt, client, now=NOW + timedelta(seconds=5))  # backing off: Slack not called
    assert len(posts(slack)) == 1

    at = claim.next_attempt_at
    second = await run_scan(rt, client, now=at)  # 429, Retry-After: 1
    assert second.failed == 1 and len(posts(slack)) == 2
    [claim] = claims(store)
    assert claim.next_attempt_at == at + timedelta(seconds=1)

    third = await run_scan(rt, client, now=at + timedelta(seconds=1))
    for seconds in (2, 60, 3600):
        await run_scan(rt, client, now=at + timedelta(seconds=seconds))

    assert third.posted == 1
    assert len(posts(slack)) == 3  # two refused, one accepted, nothing after
    assert items_of(posts(slack)[2]) == [{"channel": "loja", "contact": "+5511900000081", "team": "vendas"}]
    [claim] = claims(store)
    assert claim.posted_at == at + timedelta(seconds=1) and claim.attempts == 2


async def test_network_error_is_retried(
    rt: Runtime, store: Store, client: AsyncWebClient, slack: FakeSlack
) -> None:
    contact = add_contact(store, "+5511900000091")
    set_window(store, "loja", contact, "customer_care", NOW + timedelta(minutes=50))
    dead = AsyncWebClient(token="xoxb-test", base_url="http://127.0.0.1:9/api/", timeout=2)

    failed = await run_scan(rt, dead, now=NOW)
    later = await run_scan(rt, client, now=NOW + timedelta(minutes=5))

    assert failed.failed == 1 and later.posted == 1
    assert len(posts(slack)) == 1


async def test_crash_between_claim_and_post_is_posted_once_after_the_lease(
    rt: Runtime, store: Store, slack: FakeSlack, client: AsyncWebClient
) -> None:
    dead = add_contact(store, "+5511900000101")
    busy = add_contact(store, "+5511900000102")
    for contact in (dead, busy):
        set_window(store, "loja", contact, "customer_care", NOW + timedelta(minutes=40))
    with store.session() as s:  # what a process left when killed right after leasing
        for contact, lease in ((dead, NOW - timedelta(seconds=1)), (busy, NOW + timedelta(minutes=1))):
            s.add(
                AlertClaim(
                    channel_id="loja",
                    contact_id=contact,
                    kind="customer_care",
                    expires_at=NOW + timedelta(minutes=40),
                    slack_channel="CVENDAS",
                    claimed_at=NOW - timedelta(minutes=3),
                    claimed_by="killed",
                    lease_until=lease,
                )
            )

    result = await run_scan(rt, client, now=NOW)
    assert result.claimed == 0  # the claims exist already
    assert [i["contact"] for c in posts(slack) for i in items_of(c)] == ["+5511900000101"]

    for minutes in (2, 3, 10):  # the other lease runs out: posted once too
        await run_scan(rt, client, now=NOW + timedelta(minutes=minutes))
    assert [i["contact"] for c in posts(slack) for i in items_of(c)] == ["+5511900000101", "+5511900000102"]


async def test_claim_whose_window_closed_while_retrying_is_dropped_not_posted_late(
    rt: Runtime, store: Store, slack: FakeSlack, client: AsyncWebClient
) -> None:
    """Issue 12: an alert about a window that has already closed only misleads; it is dropped
    (counted as expired), never posted late."""
    contact = add_contact(store, "+5511900000111")
    set_window(store, "loja", contact, "customer_care", NOW + timedelta(minutes=5))
    slack.fail_next("chat.postMessage", *[Failure(503)] * 4)
    at = NOW
    expired = 0
    for _ in range(5):  # 30 s, 60 s, 120 s, 240 s of backoff: the window closes meanwhile
        result = await run_scan(rt, client, now=at)
        expired += result.expired
        [claim] = claims(store)
        at = claim.next_attempt_at or at
    await run_scan(rt, client, now=at + timedelta(minutes=10))

    assert ok_posts(slack, failed=4) == []
    [claim] = claims(store)
    assert (claim.outcome, claim.attempts, expired) == ("expired", 4, 1)
    assert claim.last_error == "fatal_error"


async def test_retries_stop_after_give_up_after_minutes_with_a_counted_give_up(
    tmp_path: Path, store: Store, slack: FakeSlack, client: AsyncWebClient
) -> None:
    """Issue 12: Slack refusing for longer than alerts.give_up_after_minutes ends the retries
    (outcome given_up, Slack's error kept) instead of retrying until the window closes."""
    from bot import metrics

    config = CONFIG.replace("scan_seconds: 60", "scan_seconds: 60\n  give_up_after_minutes: 3")
    rt = make_rt(tmp_path, store, config)
    before = metrics.REGISTRY.get_sample_value("contato_alerts_total", {"outcome": "given_up"}) or 0.0
    contact = add_contact(store, "+5511900000112")
    set_window(store, "loja", contact, "customer_care", NOW + timedelta(minutes=50))
    slack.fail_next("chat.postMessage", *[Failure(200, {"ok": False, "error": "not_in_channel"})] * 10)
    at, given_up = NOW, 0
    for _ in range(6):  # 30 s, 60 s, then the next backoff (120 s) would pass 3 min: give up
        result = await run_scan(rt, client, now=at)
        given_up += result.given_up
        [claim] = claims(store)
        at = claim.next_attempt_at or at

    assert len(posts(slack)) == 3  # three attempts, then no more
    assert (claim.outcome, claim.attempts, claim.last_error) == ("given_up", 3, "not_in_channel")
    assert claim.posted_at is not None and given_up == 1
    assert metrics.REGISTRY.get_sample_value("contato_alerts_total", {"outcome": "given_up"}) == before + 1


async def test_extended_or_answered_before_posting_is_not_posted_stale(
    rt: Runtime, store: Store, slack: FakeSlack, client: AsyncWebClient
) -> None:
    care = add_contact(store, "+5511900000121")
    lead = add_contact(store, "+5511900000122")
    set_window(store, "loja", care, "customer_care", NOW + timedelta(minutes=30))
    set_window(store, "loja", lead, "ctwa_pending", NOW + timedelta(minutes=30))
    slack.fail_next("chat.postMessage", Failure(500))
    await run_scan(rt, client, now=NOW)
    # Before the retry: the customer wrote again, and an agent answered the ad lead.
    set_window(store, "loja", care, "customer_care", NOW + timedelta(hours=24))
    with store.session() as s:
        s.execute(delete(Window).where(Window.contact_id == lead))

    result = await run_scan(rt, client, now=NOW + timedelta(minutes=2))

    assert result.superseded == 2 and len(posts(slack)) == 1  # only the failed attempt
    assert all(c.posted_at is not None and c.slack_ts is None for c in claims(store))


async def test_a_hundred_due_at_once_fit_slack_limits_and_each_is_posted_once(
    rt: Runtime, store: Store, slack: FakeSlack, client: AsyncWebClient
) -> None:
    for n in range(100):
        contact = add_contact(store, f"+55119{n:08d}")
        set_window(store, "loja", contact, "customer_care", NOW + timedelta(minutes=30, seconds=n))

    result = await run_scan(rt, client, now=NOW)

    assert result.posted == 100
    assert all(len(c.args["blocks"]) <= 50 for c in posts(slack))
    contacts = [i["contact"] for c in posts(slack) for i in items_of(c)]
    assert sorted(contacts) == sorted(f"+55119{n:08d}" for n in range(100))
    assert len(posts(slack)) == 3  # 48 + 48 + 4, not 100 messages


async def test_lease_is_taken_by_one_instance_only(rt: Runtime, store: Store) -> None:
    from bot.core.alerts import claim_due, lease

    contact = add_contact(store, "+5511900000131")
    set_window(store, "loja", contact, "customer_care", NOW + timedelta(minutes=30))
    with store.session() as s:
        assert claim_due(s, rt.config, NOW) == 1
    with store.session() as s:
        assert claim_due(s, rt.config, NOW) == 0
    with store.session() as s:
        first = lease(s, NOW, "a")
    with store.session() as s:
        second = lease(s, NOW, "b")
    assert len(first) == 1 and second == []
    with store.session() as s:  # lease ran out: "b" may take it
        s.execute(update(AlertClaim).values(lease_until=NOW - timedelta(seconds=1)))
    with store.session() as s:
        assert len(lease(s, NOW, "b")) == 1


async def test_scheduler_scans_right_away_then_every_scan_seconds(
    rt: Runtime, store: Store, slack: FakeSlack, client: AsyncWebClient
) -> None:
    import asyncio

    from bot.core.alerts import start_scheduler

    contact = add_contact(store, "+5511900000141")
    set_window(store, "loja", contact, "customer_care", NOW + timedelta(minutes=30))

    scheduler = start_scheduler(rt, client)
    try:
        [job] = scheduler.get_jobs()
        assert (job.max_instances, job.coalesce) == (1, True)
        assert job.trigger.interval == timedelta(seconds=rt.config.alerts.scan_seconds)
        for _ in range(200):
            if posts(slack):
                break
            await asyncio.sleep(0.05)
    finally:
        scheduler.shutdown(wait=False)

    assert [i["contact"] for c in posts(slack) for i in items_of(c)] == ["+5511900000141"]
