"""`contato-bot check --online`: what only the network can say, each problem one located sentence.

- the database answers and is migrated (its Alembic revision is the newest this code knows);
- Slack: `auth.test` accepts the bot token, the scopes granted (auth.test's `x-oauth-scopes`
  header) cover manifest.yml's bot scopes, each `alert_channel` exists with the app in it
  (`conversations.info` -> `is_member`), each `usergroup` exists (`usergroups.list`);
- each channel's BSP credentials work (its template listing, the cheapest authenticated read
  every provider has) and, where the BSP reports it, its webhook URL ends in /webhooks/<channel>.

The environment checks (database, token, scopes) run even when the config file has errors.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import yaml

from bot.bsp.base import BspError, ReportsWebhookUrl

if TYPE_CHECKING:
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.config import AppConfig, Settings

# manifest.yml's bot scopes, for an installed package with no manifest.yml beside the config
# (tests/test_manifest.py keeps the two equal).
DEFAULT_BOT_SCOPES = (
    "commands",
    "chat:write",
    "usergroups:read",
    "im:history",
    "channels:history",
    "groups:history",
    "reactions:write",
    "channels:read",
    "groups:read",
)
REFUSED_CREDENTIALS = ("invalid_api_key", "unauthorized", "missing_credentials", "190")  # 190: Graph token
MANIFEST = Path(__file__).resolve().parent.parent.parent / "manifest.yml"


@dataclass
class OnlineReport:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def manifest_scopes(config_path: Path) -> tuple[str, set[str]]:
    """(where they came from, manifest.yml's bot scopes): the one beside the config, else the
    project's, else the built-in list."""
    for path in (config_path.parent / "manifest.yml", MANIFEST):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            return str(path), set(data["oauth_config"]["scopes"]["bot"])
        except (OSError, yaml.YAMLError, KeyError, TypeError):
            continue
    return "the built-in manifest", set(DEFAULT_BOT_SCOPES)


def _first_line(exc: BaseException, secret: str | None) -> str:
    text = (str(exc).strip().splitlines() or [""])[0][:200]
    if secret:
        text = text.replace(secret, "***")
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def database_problems(database_url: str, report: OnlineReport) -> None:
    """The database answers and is at the newest migration."""
    from sqlalchemy.engine import make_url

    from bot.store.db import Store

    try:
        url = make_url(database_url)
        shown, password = url.render_as_string(hide_password=True), url.password
    except Exception:
        return  # the offline check already says the URL is malformed
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        # Not created by a check: `serve` (or `migrate`) creates and migrates it.
        report.notes.append(
            f"the SQLite database {url.database} does not exist yet; serve or migrate creates it"
        )
        return
    store = None
    try:
        store = Store.from_url(database_url)
        current, head = store.migration_state()
    except Exception as exc:
        reason = _first_line(exc, password)
        report.problems.append(
            f"environment: DATABASE_URL: the database at {shown} does not answer ({reason})."
        )
        return
    finally:
        if store is not None:
            store.dispose()
    if current != head:
        report.problems.append(
            f"environment: DATABASE_URL: the database at {shown} is at migration {current or 'none'}, "
            f"not {head}; run 'contato-bot migrate'."
        )


def _slack_error(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    data = getattr(response, "data", None)
    if isinstance(data, dict) and data.get("error"):
        return str(data["error"])
    return type(exc).__name__


def _where(config: AppConfig, loc: Sequence[str | int], message: str) -> str:
    locator = config._locator
    return locator.problem(loc, message) if locator is not None else f"{'.'.join(map(str, loc))}: {message}"


async def slack_problems(
    client: AsyncWebClient,
    config: AppConfig | None,
    scopes_from: str,
    wanted_scopes: set[str],
    report: OnlineReport,
) -> None:
    """auth.test, the granted scopes, the alert channels and the user groups."""
    try:
        auth = await client.auth_test()
    except Exception as exc:
        error = _slack_error(exc)
        if error in ("invalid_auth", "not_authed", "token_revoked", "account_inactive"):
            report.problems.append(f"environment: SLACK_BOT_TOKEN: Slack refused the token ({error}).")
        else:
            report.problems.append(f"environment: Slack's Web API did not answer auth.test ({error}).")
        return
    header = next((v for k, v in (auth.headers or {}).items() if k.lower() == "x-oauth-scopes"), "")
    granted = {scope.strip() for scope in str(header).split(",") if scope.strip()}
    for scope in sorted(wanted_scopes - granted):
        report.problems.append(
            f"Slack: the app was not granted the scope {scope} that {scopes_from} asks for; "
            "reinstall the app to the workspace (Install App in the app's settings)."
        )
    if config is None:
        return
    for index, team in enumerate(config.teams):
        if team.alert_channel:
            await _alert_channel(client, config, index, team.alert_channel, report)
    wanted_groups = [(i, t.usergroup) for i, t in enumerate(config.teams) if t.usergroup]
    if wanted_groups:
        try:
            listed = await client.usergroups_list()
            known = {str(group.get("id")) for group in listed.get("usergroups") or []}
        except Exception as exc:
            report.problems.append(
                f"Slack: usergroups.list failed ({_slack_error(exc)}), so user groups were not checked."
            )
            return
        for index, group in wanted_groups:
            if group not in known:
                report.problems.append(
                    _where(
                        config,
                        ("teams", index, "usergroup"),
                        f"Slack has no user group {group} in this workspace.",
                    )
                )


async def _alert_channel(
    client: AsyncWebClient, config: AppConfig, index: int, channel: str, report: OnlineReport
) -> None:
    loc = ("teams", index, "alert_channel")
    try:
        info = await client.conversations_info(channel=channel)
    except Exception as exc:
        error = _slack_error(exc)
        if error == "missing_scope":  # installed before channels:read/groups:read were asked for
            report.notes.append(
                _where(config, loc, f"channel {channel} not checked: conversations.info needs channels:read.")
            )
        elif error == "channel_not_found":
            report.problems.append(
                _where(
                    config, loc, f"Slack has no channel {channel}, or it is private and the app is not in it."
                )
            )
        else:
            report.problems.append(_where(config, loc, f"conversations.info for {channel} failed ({error})."))
        return
    details = info.get("channel") or {}
    if not details.get("is_member"):
        name = details.get("name") or channel
        report.problems.append(
            _where(
                config, loc, f"the app is not in #{name} ({channel}): invite it with /invite in that channel."
            )
        )


async def bsp_problems(
    config: AppConfig, http: httpx.AsyncClient, build: Callable[[Any, httpx.AsyncClient], Any]
) -> list[str]:
    """Each channel's credentials (its template listing) and, where the BSP reports it, the
    webhook URL set there."""
    from bot.bsp import registry

    problems: list[str] = []
    for index, channel in enumerate(config.channels):
        entry = registry.entry(channel.bsp)
        label = entry.label if entry is not None else channel.bsp

        def problem(message: str, index: int = index) -> None:
            problems.append(_where(config, ("channels", index), message))

        try:
            provider = build(channel, http)
            await provider.list_templates()
        except BspError as exc:
            reason = f"{exc.code}: {(exc.message or exc.code).rstrip('.')}"
            if exc.code in REFUSED_CREDENTIALS or exc.http_status in (401, 403):
                problem(f"{label} refused the credentials of channel {channel.id} ({reason}).")
            else:
                problem(f"listing the templates of channel {channel.id} at {label} failed ({reason}).")
            continue
        except Exception as exc:
            problem(f"channel {channel.id} could not be checked ({type(exc).__name__}).")
            continue
        if isinstance(provider, ReportsWebhookUrl):
            try:
                url = await provider.registered_webhook_url()
            except BspError:
                continue  # not every account may read it; the credentials work, which is the point
            suffix = f"/webhooks/{channel.id}"
            if url is None:
                problem(f"{label} has no webhook URL set for channel {channel.id}.")
            elif not url.rstrip("/").endswith(suffix):
                problem(
                    f"{label} sends channel {channel.id}'s webhooks to {url}, "
                    f"not to a URL ending in {suffix}."
                )
    return problems


def run_online(
    config_path: Path, config: AppConfig | None, settings: Settings | None, database_url: str
) -> OnlineReport:
    """Every online check; the caller prints the report."""
    report = OnlineReport()
    if database_url:
        database_problems(database_url, report)
    asyncio.run(_network(config_path, config, settings, report))
    return report


async def _network(
    config_path: Path, config: AppConfig | None, settings: Settings | None, report: OnlineReport
) -> None:
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.bsp.registry import build_provider
    from bot.runtime import BSP_TIMEOUT, utc_now

    token = settings.slack_bot_token.get_secret_value() if settings and settings.slack_bot_token else ""
    if token.strip():
        client = AsyncWebClient(token=token, timeout=15)
        if settings is not None and settings.slack_api_url:
            base = settings.slack_api_url
            client.base_url = base if base.endswith("/") else base + "/"
        scopes_from, scopes = manifest_scopes(config_path)
        await slack_problems(client, config, scopes_from, scopes, report)
    if config is not None:
        async with httpx.AsyncClient(timeout=BSP_TIMEOUT) as http:
            report.problems.extend(
                await bsp_problems(
                    config, http, lambda channel, client: build_provider(channel, client, None, utc_now)
                )
            )
