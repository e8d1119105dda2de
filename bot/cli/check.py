"""`contato-bot check`: every problem of the config file and the environment (exit 1), or a
summary of what will run (exit 0)."""

from __future__ import annotations

import argparse
from pathlib import Path

from pydantic import ValidationError

from bot.bsp.channel import loc_text
from bot.config import AppConfig, ConfigError, Settings, default_database_url, env_problems, load_config


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("check", help="validate the config file and the environment")
    parser.add_argument(
        "--online",
        action="store_true",
        help="also ask the database, Slack and each BSP whether they accept what is configured",
    )


def run(args: argparse.Namespace, config_path: str) -> int:
    return run_check(config_path, online=args.online)


def _rules_file(config: AppConfig, config_path: Path) -> Path | None:
    if config.pricing.rules_file is None:
        return None
    rules = Path(config.pricing.rules_file)
    # Relative to the config file, as build_runtime resolves it.
    return rules if rules.is_absolute() else config_path.parent / rules


def _rate_card_problems(config: AppConfig, config_path: Path) -> list[str]:
    """`pricing.rate_card_file` read as the app will read it (a CSV or YAML rate card)."""
    from bot.rules.pricing import RuleSetError
    from bot.rules.rate_cards import load_rate_card

    pricing = config.pricing
    if not pricing.rate_card_file:
        return []
    card = Path(pricing.rate_card_file)
    card = card if card.is_absolute() else config_path.parent / card
    try:
        load_rate_card(card, currency=pricing.rate_card_currency, effective_from=pricing.rate_card_from)
    except RuleSetError as exc:
        return [f"{card}: {problem}" for problem in exc.problems]
    return []


def _safe_url(url: str) -> str:
    """A database URL without its password, for printing."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def run_check(config_path: str | Path, *, online: bool = False) -> int:
    """`contato-bot check`: print every problem (exit 1) or a summary of what will run (exit 0).
    `online`: the database, Slack and the BSPs too (bot.core.online_check), even when the config
    file has errors."""
    from bot.rules.pricing import RuleSetError, load_rule_set

    path = Path(config_path)
    problems: list[str] = []
    notes: list[str] = []
    config: AppConfig | None = None
    try:
        config = load_config(path)
    except ConfigError as exc:
        problems.extend(exc.problems)

    rules_file: Path | None = None
    if config is not None:
        problems.extend(env_problems(config, path=path))
        rules_file = _rules_file(config, path)
        if rules_file is not None:
            assert config._locator is not None
            if not rules_file.is_file():
                problems.append(
                    config._locator.problem(
                        ("pricing", "rules_file"), f"the pricing rules file {rules_file} does not exist"
                    )
                )
            else:
                try:
                    load_rule_set(rules_file)
                except RuleSetError as exc:
                    problems.extend(f"{rules_file}: {problem}" for problem in exc.problems)
        problems.extend(_rate_card_problems(config, path))

    settings: Settings | None = None
    try:
        settings = Settings()
    except ValidationError as exc:
        for error in exc.errors():
            name = loc_text(tuple(error["loc"])).upper()
            problems.append(f"environment: {name}: {error['msg']}")
    database_url = raw_database_url = ""
    if settings is not None:
        for name, value in (
            ("SLACK_BOT_TOKEN", settings.slack_bot_token),
            ("SLACK_SIGNING_SECRET", settings.slack_signing_secret),
        ):
            if value is None or not value.get_secret_value().strip():
                problems.append(
                    f"environment: {name} is not set (needed by serve; see README, 'Create the Slack app')"
                )
        if settings.slack_app_token is None:
            notes.append("SLACK_APP_TOKEN is not set: needed only for serve --socket-mode")
        raw_database_url = settings.database_url or default_database_url(path)
        try:
            database_url = _safe_url(raw_database_url)
        except Exception:  # never echo it: a malformed URL may still hold a password
            problems.append(
                "environment: DATABASE_URL is not a database URL (like postgresql+psycopg://user@host/db "
                "or sqlite:////abs/path/contato.db)"
            )

    if online:
        from bot.core.online_check import run_online

        report = run_online(path, config, settings, raw_database_url if database_url else "")
        problems.extend(report.problems)
        notes.extend(report.notes)

    if problems:
        for problem in problems:
            print(problem)
        count = len(problems)
        again = "contato-bot check --online" if online else "contato-bot check"
        print(f"{count} problem{'s' if count != 1 else ''} found; fix and run '{again}' again.")
        return 1
    assert config is not None
    _print_summary(config, path, database_url, rules_file, notes)
    return 0


def _print_summary(
    config: AppConfig, path: Path, database_url: str, rules_file: Path | None, notes: list[str]
) -> None:
    print(f"{path}: OK")
    print(f"language: {config.language}")
    print(f"teams ({len(config.teams)}):")
    for team in config.teams:
        who: list[str] = []
        if team.everyone:
            who.append("everyone in the workspace")
        elif team.members:
            who.append(f"{len(team.members)} member{'s' if len(team.members) != 1 else ''}")
        if team.usergroup:
            who.append(f"usergroup {team.usergroup}")
        alerts = (
            f"alerts to {team.alert_channel} {team.alert_lead_minutes} min before expiry"
            if team.alert_channel
            else "no alerts"
        )
        print(f"  {team.id} ({team.name}): {', '.join(who)}; channels: {', '.join(team.channels)}; {alerts}")
    print(f"channels ({len(config.channels)}):")
    for channel in config.channels:
        teams = [t.id for t in config.teams_for_channel(channel.id)]
        print(
            f"  {channel.id} ({channel.name}): bsp {channel.bsp}, number {channel.number}, "
            f"webhook POST /webhooks/{channel.id}, teams: {', '.join(teams) or 'none'}"
        )
        if not teams:
            notes.append(f"channel {channel.id} is not used by any team, so nobody can send through it")
    print(f"database: {database_url}")
    print(f"pricing rules: {rules_file if rules_file is not None else 'built-in (bot/rules/pricing.yml)'}")
    print(
        f"alert scan: every {config.alerts.scan_seconds} s; "
        f"retries given up after {config.alerts.give_up_after_minutes} min"
    )
    kept = config.retention

    def days(value: int | None) -> str:
        return f"{value} days" if value else "forever"

    print(f"retention: processed webhooks {days(kept.webhook_days)}, message texts {days(kept.message_days)}")
    print(f"template cache: {config.templates.ttl_seconds} s")
    for note in notes:
        print(f"note: {note}")
