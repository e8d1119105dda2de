"""The config file (contato.yml) and the environment, validated with locations; `contato-bot check`.

CONTRACT:
    load_config(path) -> AppConfig               raises ConfigError(problems) listing EVERY problem
    env_problems(config, environ, path) -> list  `*_env` names whose variable is unset or empty
    Settings()                                   SLACK_* tokens, DATABASE_URL, CONTATO_CONFIG, ...
    default_database_url(config_path) -> str     a SQLite file beside the config
    run_check(config_path) -> int                prints every problem (1) or a summary (0)

Every problem is a sentence located like a compiler error, `contato.yml:12: teams[0].channels[1]:
no channel with id "vendass" ...`. The YAML is composed (not just loaded) so each value keeps its
line; pydantic's error `loc` is then walked through the node tree to find it.

Secrets never live in the file: credentials are the NAMES of environment variables (`*_env`
keys), read only when a provider needs them (`ChannelConfig.secret`).
"""

from __future__ import annotations

import contextlib
import difflib
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.rules.phones import InvalidPhone, normalize_phone

LANGUAGES: tuple[str, ...] = ("pt-BR", "en")
BSPS: tuple[str, ...] = ("360dialog", "fortics", "cloudapi", "gupshup", "twilio", "sandbox")
DEFAULT_GRAPH_VERSION = "v21.0"
EXAMPLE_FILE = "contato.example.yml"

# Keys every channel may have, whatever its BSP (every adapter accepts the secret header).
COMMON_CHANNEL_KEYS: tuple[str, ...] = ("id", "name", "number", "bsp", "base_url", "webhook_secret_env")

# Provider keys: which BSP reads which key. A key of another BSP is almost always a copy-paste
# slip (a Fortics tenant on a 360dialog channel), so it is reported rather than ignored.
PROVIDER_KEYS: dict[str, tuple[str, ...]] = {
    "cloudapi": (
        "access_token_env",
        "app_secret_env",
        "verify_token_env",
        "waba_id",
        "phone_number_id",
        "graph_version",
    ),
    "360dialog": ("api_key_env",),
    "fortics": ("tenant", "email_env", "password_env", "fortics_channel_id"),
    "gupshup": ("app_id", "app_token_env", "api_key_env", "source_number"),
    "twilio": ("account_sid", "auth_token_env", "messaging_service_sid", "from_number"),
    "sandbox": (),
}

# What each BSP cannot work without; a tuple of alternatives means "one of these".
REQUIRED_KEYS: dict[str, tuple[tuple[str, ...], ...]] = {
    "cloudapi": (
        ("access_token_env",),
        ("app_secret_env",),
        ("verify_token_env",),
        ("waba_id",),
        ("phone_number_id",),
    ),
    "360dialog": (("api_key_env",), ("webhook_secret_env",)),
    "fortics": (("tenant",), ("email_env",), ("password_env",), ("webhook_secret_env",)),
    "gupshup": (("app_id",), ("app_token_env", "api_key_env")),
    "twilio": (("account_sid",), ("auth_token_env",), ("messaging_service_sid", "from_number")),
    "sandbox": (),
}

# Said when a required key is missing, so the admin knows what to put there.
KEY_HELP: dict[str, str] = {
    "api_key_env": "the name of the environment variable holding the API key",
    "webhook_secret_env": (
        "the name of the environment variable holding the secret the BSP sends in the "
        "X-Webhook-Secret header of every webhook"
    ),
    "access_token_env": "the name of the environment variable holding the system user's access token",
    "app_secret_env": "the name of the environment variable holding the Meta app secret (webhook signatures)",
    "verify_token_env": "the name of the environment variable holding the webhook verify token",
    "waba_id": "the WhatsApp Business Account id",
    "phone_number_id": "the Cloud API phone number id",
    "tenant": "the Fortics tenant: the part before .sz.chat",
    "email_env": "the name of the environment variable holding the Fortics integration user's e-mail",
    "password_env": "the name of the environment variable holding the Fortics integration user's password",
    "app_id": "the Gupshup app id",
    "app_token_env": "the name of the environment variable holding the Gupshup partner app token",
    "account_sid": "the Twilio account SID (AC...)",
    "auth_token_env": "the name of the environment variable holding the Twilio auth token",
    "messaging_service_sid": "the Twilio messaging service SID (MG...)",
    "from_number": "the WhatsApp sender number registered at Twilio",
}

_SLUG = re.compile(r"^[a-z0-9_-]+$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SLACK_USER = re.compile(r"^[UW][A-Z0-9]+$")
_SLACK_USERGROUP = re.compile(r"^S[A-Z0-9]+$")
_SLACK_CHANNEL = re.compile(r"^[CG][A-Z0-9]+$")
EVERYONE = "*"

Loc = tuple[str | int, ...]


class ConfigError(Exception):
    """The config file cannot be used. `problems` are located sentences, one per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


# ---- locations ---------------------------------------------------------------------------------


@dataclass
class _Locator:
    """Finds the line of a value (by pydantic-style `loc`) in the composed YAML."""

    source: str
    root: yaml.Node | None

    def line(self, loc: Sequence[str | int]) -> int | None:
        """The line of the deepest node `loc` reaches (a missing key: its parent's line)."""
        node = self.root
        if node is None:
            return None
        line = node.start_mark.line + 1
        for part in loc:
            if isinstance(node, yaml.MappingNode) and isinstance(part, str):
                found = next(
                    ((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == part),
                    None,
                )
                if found is None:
                    break
                line = found[0].start_mark.line + 1
                node = found[1]
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
                node = node.value[part]
                line = node.start_mark.line + 1
            else:
                break
        return line

    def where(self, loc: Sequence[str | int]) -> str:
        line = self.line(loc)
        return f"{self.source}:{line}" if line is not None else self.source

    def problem(self, loc: Sequence[str | int], message: str) -> str:
        path = loc_text(loc)
        return f"{self.where(loc)}: {path}: {message}" if path else f"{self.where(loc)}: {message}"


def loc_text(loc: Iterable[str | int]) -> str:
    """('teams', 0, 'channels', 1) -> 'teams[0].channels[1]'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _plain(loc: Loc, message: str) -> str:
    path = loc_text(loc)
    return f"{path}: {message}" if path else message


# ---- field types -------------------------------------------------------------------------------


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _as_list(value: Any) -> Any:
    """A single value where a list is expected is read as a one-item list (`members: U012ABC`)."""
    return [value] if isinstance(value, str | int) else value


def _slug(value: str) -> str:
    if not _SLUG.match(value):
        raise ValueError(
            f"{value!r} is not a valid channel id: use only lowercase letters, digits, '-' and '_' "
            "(it is part of the webhook URL)"
        )
    return value


def _env_name(value: str) -> str:
    # The value is not echoed: a pasted secret here would otherwise end up on the screen.
    if not _ENV_NAME.match(value):
        raise ValueError(
            "must be the NAME of an environment variable (letters, digits and _, like "
            "D360_API_KEY_VENDAS), never the secret itself"
        )
    return value


def _member(value: str) -> str:
    if value != EVERYONE and not _SLACK_USER.match(value):
        raise ValueError(
            f"{value!r} is not a Slack user id; use ids like U012ABCDEF (Slack: profile, '...', "
            'Copy member ID), or "*" for every member of the workspace'
        )
    return value


def _usergroup(value: str) -> str:
    if not _SLACK_USERGROUP.match(value):
        raise ValueError(f"{value!r} is not a Slack user group id; use an id like S0123ABCD")
    return value


def _slack_channel(value: str) -> str:
    if not _SLACK_CHANNEL.match(value):
        raise ValueError(
            f"{value!r} is not a Slack channel id; use an id like C0123ABCD (Slack: channel details, "
            "at the bottom), not the channel's name"
        )
    return value


def _url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError(f"{value!r} is not a URL; it must start with https:// (or http://)")
    return value


def _phone(value: str) -> str:
    try:
        return normalize_phone(value)
    except InvalidPhone as exc:
        reasons = {
            "empty": "is empty",
            "unparseable": "is not a phone number",
            "invalid": "is not a valid phone number",
        }
        raise ValueError(
            f"{reasons.get(exc.reason, 'is not a valid phone number')}; write it with the country code, "
            'like "+55 11 4000-0000"'
        ) from None


Text = Annotated[str, BeforeValidator(_strip), Field(min_length=1)]
Slug = Annotated[str, BeforeValidator(_strip), Field(min_length=1), AfterValidator(_slug)]
EnvName = Annotated[str, BeforeValidator(_strip), Field(min_length=1), AfterValidator(_env_name)]
SlackUser = Annotated[str, BeforeValidator(_strip), Field(min_length=1), AfterValidator(_member)]
Usergroup = Annotated[str, BeforeValidator(_strip), Field(min_length=1), AfterValidator(_usergroup)]
SlackChannel = Annotated[str, BeforeValidator(_strip), Field(min_length=1), AfterValidator(_slack_channel)]
Url = Annotated[str, BeforeValidator(_strip), Field(min_length=1), AfterValidator(_url)]
Phone = Annotated[str, BeforeValidator(_strip), AfterValidator(_phone)]


def _skip_cross_checks(info: ValidationInfo) -> bool:
    """`load_config` runs the cross checks itself, on the raw YAML, so it can locate them."""
    return bool(info.context and info.context.get("located_checks"))


class _Model(BaseModel):
    # Numbers where text is expected (`waba_id: 1022...`) are the admin's intent, not an error.
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)


# ---- the models --------------------------------------------------------------------------------


class AlertsConfig(_Model):
    scan_seconds: int = Field(default=30, ge=1, le=3600)


class TemplatesConfig(_Model):
    ttl_seconds: int = Field(default=300, ge=10, le=86400)


class PricingConfig(_Model):
    rules_file: Text | None = None


class TeamConfig(_Model):
    """A team of agents: who is in it and which WhatsApp channels it may use."""

    id: Text
    name: Text
    members: Annotated[list[SlackUser], BeforeValidator(_as_list)] = []
    usergroup: Usergroup | None = None
    alert_channel: SlackChannel | None = None
    alert_lead_minutes: int = Field(default=60, ge=1, le=1440)
    channels: Annotated[list[Text], BeforeValidator(_as_list)]

    @property
    def everyone(self) -> bool:
        """Whether every workspace member is in the team (`members: ["*"]`)."""
        return EVERYONE in self.members

    @model_validator(mode="after")
    def _needs_people(self, info: ValidationInfo) -> TeamConfig:
        if not _skip_cross_checks(info):
            problems = _team_rules(self.model_dump(exclude_unset=True))
            if problems:
                raise ValueError("; ".join(_plain(loc, msg) for loc, msg in problems))
        return self


class ChannelConfig(_Model):
    """A WhatsApp number reached through one BSP. Credentials are env var NAMES (`*_env`)."""

    id: Slug
    name: Text
    number: Phone
    bsp: Literal["360dialog", "fortics", "cloudapi", "gupshup", "twilio", "sandbox"]
    base_url: Url | None = None
    api_key_env: EnvName | None = None
    webhook_secret_env: EnvName | None = None
    # Meta Cloud API direct
    access_token_env: EnvName | None = None
    app_secret_env: EnvName | None = None
    verify_token_env: EnvName | None = None
    waba_id: Text | None = None
    phone_number_id: Text | None = None
    graph_version: Text = DEFAULT_GRAPH_VERSION
    # Fortics (SZ.chat)
    tenant: Text | None = None
    email_env: EnvName | None = None
    password_env: EnvName | None = None
    fortics_channel_id: Text | None = None
    # Gupshup
    app_id: Text | None = None
    app_token_env: EnvName | None = None
    source_number: Text | None = None
    # Twilio
    account_sid: Text | None = None
    auth_token_env: EnvName | None = None
    messaging_service_sid: Text | None = None
    from_number: Phone | None = None

    @field_validator("bsp", mode="before")
    @classmethod
    def _lower_bsp(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _provider_keys(self, info: ValidationInfo) -> ChannelConfig:
        if not _skip_cross_checks(info):
            problems = _channel_rules(self.model_dump(exclude_unset=True) | {"bsp": self.bsp})
            if problems:
                raise ValueError("; ".join(_plain(loc, msg) for loc, msg in problems))
        return self

    def env_fields(self) -> list[str]:
        """The `*_env` fields this channel sets, in declaration order."""
        return [name for name in type(self).model_fields if name.endswith("_env") and getattr(self, name)]

    def secret(self, field_name: str, environ: Mapping[str, str] | None = None) -> str | None:
        """The value of the environment variable named by `field_name` (e.g. "api_key_env").

        None when the field is unset or the variable is unset or empty.
        """
        if field_name not in type(self).model_fields or not field_name.endswith("_env"):
            raise AttributeError(f"ChannelConfig has no credential field {field_name!r}")
        env_name = getattr(self, field_name)
        if not env_name:
            return None
        value = (os.environ if environ is None else environ).get(env_name)
        return value or None


class AppConfig(_Model):
    """The whole contato.yml."""

    language: Literal["pt-BR", "en"] = "pt-BR"
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    templates: TemplatesConfig = Field(default_factory=TemplatesConfig)
    pricing: PricingConfig = Field(default_factory=PricingConfig)
    teams: list[TeamConfig]
    channels: list[ChannelConfig]

    # Where each value came from (set by load_config), so later checks can cite lines too.
    _locator: _Locator | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _cross_references(self, info: ValidationInfo) -> AppConfig:
        if not _skip_cross_checks(info):
            problems = _app_rules(self.model_dump(exclude_unset=True), lambda loc: None)
            if problems:
                raise ValueError("; ".join(_plain(loc, msg) for loc, msg in problems))
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

    def teams_for_channel(self, channel_id: str) -> list[TeamConfig]:
        """The teams allowed to use a WhatsApp channel."""
        return [t for t in self.teams if channel_id in t.channels]


# ---- environment -------------------------------------------------------------------------------


class Settings(BaseSettings):
    """The process environment. Secrets are SecretStr so they never print by accident."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", env_ignore_empty=True)

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    database_url: str | None = None
    contato_config: str = "contato.yml"
    slack_api_url: str | None = None
    log_level: str = "INFO"


def default_database_url(config_path: str | Path) -> str:
    """`sqlite:///<absolute directory of the config>/contato.db`: zero set-up, beside the config."""
    return f"sqlite:///{Path(config_path).resolve().parent / 'contato.db'}"


# ---- cross checks (on raw data, so they run even when other parts fail) ------------------------


def _present(item: Mapping[str, Any], key: str) -> bool:
    value = item.get(key)
    return value is not None and value != "" and value != []


def _items(data: Mapping[str, Any], key: str) -> list[tuple[int, Mapping[str, Any]]]:
    value = data.get(key)
    if not isinstance(value, list):
        return []
    return [(i, item) for i, item in enumerate(value) if isinstance(item, Mapping)]


def _suggest(word: str, choices: Iterable[str]) -> str:
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f' (did you mean "{match[0]}"?)' if match else ""


def _team_rules(team: Mapping[str, Any]) -> list[tuple[Loc, str]]:
    """A team's own rules; locs relative to the team."""
    problems: list[tuple[Loc, str]] = []
    if not _present(team, "members") and not _present(team, "usergroup"):
        problems.append(
            (
                (),
                "has neither members nor a usergroup, so nobody can use it; add members: [U012ABCDEF] "
                '(Slack user ids, or ["*"] for everyone) or usergroup: S0123ABCD',
            )
        )
    if "channels" in team and team.get("channels") == []:
        problems.append((("channels",), "is empty; list the ids of the WhatsApp channels this team may use"))
    return problems


def _channel_rules(channel: Mapping[str, Any]) -> list[tuple[Loc, str]]:
    """Per-BSP required and foreign keys; locs relative to the channel."""
    bsp = channel.get("bsp")
    bsp = bsp.strip().lower() if isinstance(bsp, str) else bsp
    if bsp not in PROVIDER_KEYS:
        return []  # an unknown BSP is reported by the model itself
    problems: list[tuple[Loc, str]] = []
    for alternatives in REQUIRED_KEYS[bsp]:
        if any(_present(channel, key) for key in alternatives):
            continue
        if len(alternatives) == 1:
            key = alternatives[0]
            help_ = f": {KEY_HELP[key]}" if key in KEY_HELP else ""
            problems.append(((key,), f"is missing; bsp {bsp} needs it{help_}"))
        else:
            choices = " or ".join(alternatives)
            problems.append(((alternatives[0],), f"is missing; bsp {bsp} needs {choices}"))
    own = set(COMMON_CHANNEL_KEYS) | set(PROVIDER_KEYS[bsp])
    for key in channel:
        if not isinstance(key, str) or key in own or not _present(channel, key):
            continue
        owners = [name for name, keys in PROVIDER_KEYS.items() if key in keys]
        if owners:
            problems.append(
                ((key,), f"is not used by bsp {bsp} (it is a {' / '.join(owners)} key); remove it")
            )
    return problems


def _app_rules(data: Mapping[str, Any], line_of: Callable[[Loc], int | None]) -> list[tuple[Loc, str]]:
    """Rules across teams and channels: duplicates, references, emptiness."""
    problems: list[tuple[Loc, str]] = []
    teams = _items(data, "teams")
    channels = _items(data, "channels")

    def where_else(loc: Loc) -> str:
        line = line_of(loc)
        return f"line {line}" if line is not None else loc_text(loc)

    for kind, items in (("team", teams), ("channel", channels)):
        first: dict[str, Loc] = {}
        for i, item in items:
            if not _present(item, "id"):
                continue
            ident = str(item["id"]).strip()
            loc: Loc = (f"{kind}s", i, "id")
            if ident in first:
                twice = f'{kind} id "{ident}" is used twice (also on {{}}); ids must be unique'
                problems.append((loc, twice.format(where_else(first[ident]))))
                problems.append((first[ident], twice.format(where_else(loc))))
            else:
                first[ident] = loc

    defined = [str(c["id"]).strip() for _, c in channels if _present(c, "id")]
    for i, team in teams:
        for rel, message in _team_rules(team):
            problems.append((("teams", i, *rel), message))
        refs = team.get("channels")
        if not isinstance(refs, list):
            continue
        for k, ref in enumerate(refs):
            if not isinstance(ref, str | int) or str(ref).strip() in defined:
                continue
            known = ", ".join(defined) or "none"
            problems.append(
                (
                    ("teams", i, "channels", k),
                    f'no channel with id "{ref}"{_suggest(str(ref), defined)} (channels defined: {known})',
                )
            )
    for key, what in (("teams", "teams"), ("channels", "WhatsApp channels")):
        if data.get(key) == []:
            problems.append(((key,), f"no {what} are defined; the example file {EXAMPLE_FILE} shows how"))
    return problems


# ---- translating pydantic's errors into sentences ----------------------------------------------


def _model_at(loc: Loc) -> type[BaseModel] | None:
    """Which model the mapping at `loc` is validated against."""
    if not loc:
        return AppConfig
    head = loc[0]
    nested: dict[str, type[BaseModel]] = {
        "alerts": AlertsConfig,
        "templates": TemplatesConfig,
        "pricing": PricingConfig,
    }
    if len(loc) == 1 and isinstance(head, str) and head in nested:
        return nested[head]
    if len(loc) == 2 and head == "teams":
        return TeamConfig
    if len(loc) == 2 and head == "channels":
        return ChannelConfig
    return None


_TYPE_WORDS = {
    "string_type": "must be text",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "list_type": "must be a list, like [a, b]",
    "model_type": "must be a mapping of keys (key: value lines)",
    "dict_type": "must be a mapping of keys (key: value lines)",
    "model_attributes_type": "must be a mapping of keys (key: value lines)",
}


def _sentence(error: Mapping[str, Any]) -> str:
    kind = str(error["type"])
    loc: Loc = tuple(error["loc"])
    key = str(loc[-1]) if loc else ""
    value = error.get("input")
    secret_like = key.endswith("_env")
    if kind == "extra_forbidden":
        model = _model_at(loc[:-1])
        known = list(model.model_fields) if model is not None else []
        hint = _suggest(key, known) if known else ""
        if not hint and known:
            hint = f" (known keys: {', '.join(known)})"
        return f"unknown key{hint}"
    if kind == "missing":
        return "is required but missing"
    if kind == "literal_error":
        choices = {"bsp": BSPS, "language": LANGUAGES}.get(key)
        expected = ", ".join(choices) if choices else str(error.get("ctx", {}).get("expected", ""))
        hint = _suggest(str(value), choices) if choices else ""
        noun = {"bsp": "BSP", "language": "language"}.get(key, "value")
        shown = "" if secret_like else f" {value!r}"
        return f"unknown {noun}{shown}{hint}; use one of: {expected}"
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    if kind == "string_too_short":
        return "is empty"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return _range_sentence(loc)
    if kind in _TYPE_WORDS:
        got = "" if secret_like or isinstance(value, Mapping | list) else f" (got {value!r})"
        return _TYPE_WORDS[kind] + got
    return str(error["msg"]).replace("Input should be", "must be")


def _range_sentence(loc: Loc) -> str:
    model = _model_at(loc[:-1])
    if model is not None and isinstance(loc[-1], str) and loc[-1] in model.model_fields:
        low = high = None
        for meta in model.model_fields[loc[-1]].metadata:
            low = getattr(meta, "ge", low)
            high = getattr(meta, "le", high)
        if low is not None and high is not None:
            return f"must be between {low} and {high}"
    return "is out of range"


# ---- loading -----------------------------------------------------------------------------------


def _duplicate_keys(node: yaml.Node, loc: Loc, out: list[tuple[Loc, str, int]]) -> None:
    """YAML silently keeps the last of two equal keys; an admin almost never means that."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                line = key.start_mark.line + 1
                if key.value in seen:
                    out.append(
                        (
                            (*loc, key.value),
                            f"the key appears twice (first on line {seen[key.value]}); only the last "
                            "one would count, so keep one",
                            line,
                        )
                    )
                else:
                    seen[key.value] = line
                _duplicate_keys(value, (*loc, key.value), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _duplicate_keys(item, (*loc, i), out)


def _yaml_problem(source: str, exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    what = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    if context:
        what = f"{what} ({context})"
    if "'\\t'" in what:
        what += "; YAML indents with spaces, never tabs"
    if mark is None:
        return f"{source}: not valid YAML: {what}"
    return f"{source}:{mark.line + 1}: not valid YAML: {what} (column {mark.column + 1})"


def _compose(text: str, source: str) -> tuple[yaml.Node | None, Any]:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        raise ConfigError([_yaml_problem(source, exc)]) from None
    finally:
        loader.dispose()  # type: ignore[no-untyped-call]
    return node, data


def load_config(path: str | Path) -> AppConfig:
    """Read and validate contato.yml. Raises `ConfigError` listing every problem, each located."""
    source = str(path)
    file = Path(path)
    if not file.exists():
        raise ConfigError(
            [
                f"{source}: the config file does not exist; copy {EXAMPLE_FILE} to {source} and edit it "
                "(or point --config / CONTATO_CONFIG at your file)"
            ]
        )
    if file.is_dir():
        raise ConfigError([f"{source}: is a directory, not a config file"])
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{source}: cannot be read ({getattr(exc, 'strerror', None) or exc})"]) from None
    node, data = _compose(text, source)
    if data is None:
        raise ConfigError(
            [f"{source}: the config file is empty; start from {EXAMPLE_FILE} (it documents every key)"]
        )
    locator = _Locator(source, node)
    if not isinstance(data, dict):
        raise ConfigError(
            [f"{locator.where(())}: the file must be a mapping of keys (language, teams, channels, ...)"]
        )

    found: list[tuple[int, str]] = []

    def add(loc: Loc, message: str, line: int | None = None) -> None:
        line = line if line is not None else locator.line(loc)
        found.append((line or 0, locator.problem(loc, message)))

    if node is not None:
        duplicates: list[tuple[Loc, str, int]] = []
        _duplicate_keys(node, (), duplicates)
        for loc, message, line in duplicates:
            path_text = loc_text(loc)
            found.append((line, f"{source}:{line}: {path_text}: {message}"))

    config: AppConfig | None = None
    try:
        config = AppConfig.model_validate(data, context={"located_checks": True})
    except ValidationError as exc:
        for error in exc.errors():
            add(tuple(error["loc"]), _sentence(error))
    for loc, message in _app_rules(data, locator.line):
        add(loc, message)
    for i, channel in _items(data, "channels"):
        for rel, message in _channel_rules(channel):
            add(("channels", i, *rel), message)

    if found or config is None:
        # Sorted by line, each once: the order an admin fixes them in.
        ordered = sorted(dict.fromkeys(found), key=lambda item: item[0])
        raise ConfigError([problem for _, problem in ordered] or [f"{source}: invalid configuration"])
    config._locator = locator
    return config


def env_problems(
    config: AppConfig, environ: Mapping[str, str] | None = None, path: str | Path | None = None
) -> list[str]:
    """Every `*_env` the channels reference whose environment variable is unset or empty.

    Not raised by `load_config`: the app starts, and only that channel fails when used.
    """
    environ = os.environ if environ is None else environ
    locator = config._locator
    if locator is None:
        locator = _Locator(str(path) if path is not None else "contato.yml", None)
        if path is not None:
            with contextlib.suppress(OSError, UnicodeDecodeError, ConfigError):
                locator = _Locator(str(path), _compose(Path(path).read_text(encoding="utf-8"), str(path))[0])
    problems: list[tuple[int, str]] = []
    for i, channel in enumerate(config.channels):
        for field_name in channel.env_fields():
            env_name = getattr(channel, field_name)
            value = environ.get(env_name)
            if value is None:
                state = "is not set"
            elif not value.strip():
                state = "is empty"
            else:
                continue
            loc: Loc = ("channels", i, field_name)
            problem = locator.problem(loc, f"environment variable {env_name} {state}")
            problems.append((locator.line(loc) or 0, problem))
    return [problem for _, problem in sorted(problems, key=lambda item: item[0])]


# ---- contato-bot check -------------------------------------------------------------------------


def _rules_file(config: AppConfig, config_path: Path) -> Path | None:
    if config.pricing.rules_file is None:
        return None
    rules = Path(config.pricing.rules_file)
    # Relative to the config file, as build_runtime resolves it.
    return rules if rules.is_absolute() else config_path.parent / rules


def _safe_url(url: str) -> str:
    """A database URL without its password, for printing."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def run_check(config_path: str | Path) -> int:
    """`contato-bot check`: print every problem (exit 1) or a summary of what will run (exit 0)."""
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

    settings: Settings | None = None
    try:
        settings = Settings()
    except ValidationError as exc:
        for error in exc.errors():
            name = loc_text(tuple(error["loc"])).upper()
            problems.append(f"environment: {name}: {error['msg']}")
    database_url = ""
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
        database_url = settings.database_url or default_database_url(path)
        try:
            database_url = _safe_url(database_url)
        except Exception:  # never echo it: a malformed URL may still hold a password
            problems.append(
                "environment: DATABASE_URL is not a database URL (like postgresql+psycopg://user@host/db "
                "or sqlite:////abs/path/contato.db)"
            )

    if problems:
        for problem in problems:
            print(problem)
        count = len(problems)
        print(f"{count} problem{'s' if count != 1 else ''} found; fix and run 'contato-bot check' again.")
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
    print(f"alert scan: every {config.alerts.scan_seconds} s")
    print(f"template cache: {config.templates.ttl_seconds} s")
    for note in notes:
        print(f"note: {note}")
