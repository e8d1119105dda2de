"""contato.yml as models: the app, its teams, and (from bot.bsp.registry) its channels."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field, PrivateAttr, ValidationInfo, model_validator

from bot.bsp.channel import ChannelConfig, plain, skip_cross_checks
from bot.bsp.registry import AnyChannel
from bot.config.checks import app_rules, team_rules
from bot.config.fields import EVERYONE, ConfigModel, SlackChannel, SlackUser, Text, Usergroup, as_list
from bot.config.locator import Locator


class AlertsConfig(ConfigModel):
    scan_seconds: int = Field(default=30, ge=1, le=3600)
    # A digest Slack keeps refusing is retried with backoff, then given up (logged, counted) after
    # this long since its claim, so a broken channel never piles up retries forever.
    give_up_after_minutes: int = Field(default=120, ge=1, le=10080)


class RetentionConfig(ConfigModel):
    """How long customer data is kept (LGPD): `contato-bot prune` and the daily prune in `serve`.
    None keeps it forever."""

    webhook_days: int | None = Field(default=30, ge=1, le=3650)  # processed webhook bodies
    message_days: int | None = Field(default=180, ge=1, le=3650)  # texts agents sent, referrals


class TemplatesConfig(ConfigModel):
    ttl_seconds: int = Field(default=300, ge=10, le=86400)


class PricingConfig(ConfigModel):
    rules_file: Text | None = None
    # A rate card in the invoice's currency (CSV export or one YAML card), see bot/rules/rate_cards.py.
    rate_card_file: Text | None = None
    rate_card_currency: Text | None = None  # when the CSV has no currency column
    rate_card_from: date | None = None  # the day a CSV card takes effect
    # Show prices converted to this currency ("BRL"), always labelled as an estimate.
    display_currency: Text | None = None
    exchange_rate: float | None = Field(default=None, gt=0)  # 1 unit of the card's currency in it


def _valid_zone(value: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r} (an IANA name like America/Sao_Paulo)") from exc
    return value


class ConversationConfig(ConfigModel):
    """The customer's replies in the thread of the agent's confirmation, and the agent's answers."""

    enabled: bool = True
    # full: the whole text; preview: its first PREVIEW_CHARS characters; none: only that they replied.
    show_customer_text: Literal["full", "preview", "none"] = "preview"
    follow_days: int = Field(default=7, ge=1, le=30)
    batch_seconds: int = Field(default=10, ge=0, le=300)


# The longest alert lead a team may set (a customer-care window's whole 24 h).
MAX_ALERT_LEAD_MINUTES = 1440


class TeamConfig(ConfigModel):
    """A team of agents: who is in it and which WhatsApp channels it may use."""

    id: Text
    name: Text
    members: Annotated[list[SlackUser], BeforeValidator(as_list)] = []
    usergroup: Usergroup | None = None
    alert_channel: SlackChannel | None = None
    alert_lead_minutes: int = Field(default=60, ge=1, le=MAX_ALERT_LEAD_MINUTES)
    channels: Annotated[list[Text], BeforeValidator(as_list)]

    @property
    def everyone(self) -> bool:
        """Whether every workspace member is in the team (`members: ["*"]`)."""
        return EVERYONE in self.members

    @model_validator(mode="after")
    def _needs_people(self, info: ValidationInfo) -> TeamConfig:
        if not skip_cross_checks(info):
            problems = team_rules(self.model_dump(exclude_unset=True))
            if problems:
                raise ValueError("; ".join(plain(loc, msg) for loc, msg in problems))
        return self


class AppConfig(ConfigModel):
    """The whole contato.yml."""

    language: Literal["pt-BR", "en"] = "pt-BR"
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    templates: TemplatesConfig = Field(default_factory=TemplatesConfig)
    pricing: PricingConfig = Field(default_factory=PricingConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    conversation: ConversationConfig = Field(default_factory=ConversationConfig)
    # The team's zone: where "today" starts for App Home's spend, and the fallback text of times
    # (Slack itself shows every time in each reader's own zone).
    timezone: Annotated[str, AfterValidator(_valid_zone)] = "America/Sao_Paulo"
    teams: list[TeamConfig]
    channels: list[AnyChannel]

    # Where each value came from (set by load_config), so later checks can cite lines too.
    _locator: Locator | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _cross_references(self, info: ValidationInfo) -> AppConfig:
        if not skip_cross_checks(info):
            problems = app_rules(self.model_dump(exclude_unset=True), lambda loc: None)
            if problems:
                raise ValueError("; ".join(plain(loc, msg) for loc, msg in problems))
        return self

    def team(self, team_id: str) -> TeamConfig | None:
        """The team with this id, or None."""
        return next((t for t in self.teams if t.id == team_id), None)

    def channel(self, channel_id: str) -> ChannelConfig | None:
        """The channel with this id, or None."""
        return next((c for c in self.channels if c.id == channel_id), None)

    def teams_of_user(self, user_id: str, usergroup_members: Mapping[str, set[str]]) -> list[TeamConfig]:
        """The teams `user_id` belongs to: listed in `members`, in the team's usergroup, or the
        team has `members: ["*"]` (every workspace member; the easy way to try the app)."""
        return [
            team
            for team in self.teams
            if user_id in team.members
            or team.everyone
            or (team.usergroup is not None and user_id in usergroup_members.get(team.usergroup, ()))
        ]

    def usergroups(self) -> list[str]:
        """Every Slack user group id the teams use (each once, in config order)."""
        return list(dict.fromkeys(t.usergroup for t in self.teams if t.usergroup))

    @property
    def longest_alert_lead(self) -> timedelta:
        """The longest alert_lead_minutes of the teams that post alerts (zero when none does):
        how close to its expiry a window written by ingestion must be queued for the next scan."""
        minutes = [t.alert_lead_minutes for t in self.teams if t.alert_channel]
        return timedelta(minutes=max(minutes, default=0))

    def teams_for_channel(self, channel_id: str) -> list[TeamConfig]:
        """The teams allowed to use a WhatsApp channel."""
        return [t for t in self.teams if channel_id in t.channels]
