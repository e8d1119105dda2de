"""What every channel's settings share, and the typed fields a provider's settings are made of.

Each provider folder declares its own model (`CloudApiChannel`, `TwilioChannel`, ...) as a
subclass of `ChannelConfig`, with `bsp: Literal["<name>"]` (the one place a provider's name is
written) and every key documented with `Field(description=...)`: `contato-bot check` quotes the
description when a required key is missing. `bot.config` puts them together as a union
discriminated on `bsp` (see `bot.bsp.registry.AnyChannel`).

Secrets never live in the file: credentials are the NAMES of environment variables (`*_env`
keys), read only when a provider needs them (`ChannelConfig.secret`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Annotated, Any, ClassVar, Self, cast, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    model_validator,
)

from bot.rules.phones import InvalidPhone, normalize_phone

Loc = tuple[str | int, ...]

_SLUG = re.compile(r"^[a-z0-9_-]+$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


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
Url = Annotated[str, BeforeValidator(_strip), Field(min_length=1), AfterValidator(_url)]
Phone = Annotated[str, BeforeValidator(_strip), AfterValidator(_phone)]


def env_var(what: str) -> str:
    """The description of a `*_env` key: it names the variable, never holds the secret."""
    return f"the name of the environment variable holding {what}"


def skip_cross_checks(info: ValidationInfo) -> bool:
    """`load_config` runs the cross checks itself, on the raw YAML, so it can locate them."""
    return bool(info.context and info.context.get("located_checks"))


def present(item: Mapping[str, Any], key: str) -> bool:
    """A key with a value (not missing, null, "" or [])."""
    value = item.get(key)
    return value is not None and value != "" and value != []


def plain(loc: Loc, message: str) -> str:
    """A problem without a file location: `teams[0].channels[1]: message`."""
    path = loc_text(loc)
    return f"{path}: {message}" if path else message


def loc_text(loc: Iterable[str | int]) -> str:
    """('teams', 0, 'channels', 1) -> 'teams[0].channels[1]'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def lower_bsp(value: Any) -> Any:
    """`bsp: CloudAPI` is the admin's intent: the name is compared in lower case."""
    if isinstance(value, Mapping) and isinstance(value.get("bsp"), str):
        return {**value, "bsp": value["bsp"].strip().lower()}
    return value


class ConfigModel(BaseModel):
    # Numbers where text is expected (`waba_id: 1022...`) are the admin's intent, not an error.
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)


class ChannelConfig(ConfigModel):
    """A WhatsApp number reached through one BSP: the keys every provider shares.

    `ChannelConfig.model_validate(data)` picks the provider's model by `bsp`.
    """

    # What the provider cannot work without; a tuple of alternatives means "one of these".
    required: ClassVar[tuple[tuple[str, ...], ...]] = ()

    id: Slug = Field(description="the channel's id, part of its webhook URL (/webhooks/<id>)")
    name: Text = Field(description="the name agents see in Slack")
    number: Phone = Field(description="the WhatsApp number, with its country code")
    bsp: str = Field(description="which provider serves this number")
    base_url: Url | None = Field(default=None, description="the provider's API address, to override it")
    webhook_secret_env: EnvName | None = Field(
        default=None,
        description=env_var("the secret the BSP sends in the X-Webhook-Secret header of every webhook"),
    )

    # Where secrets are read from: the process environment unless `with_environ` says otherwise.
    _environ: Mapping[str, str] | None = PrivateAttr(default=None)

    @classmethod
    def bsp_name(cls) -> str:
        """The provider's name, as written after `bsp:` (from the model's `Literal`)."""
        (name,) = get_args(cls.model_fields["bsp"].annotation)
        return str(name)

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> Self:
        """On `ChannelConfig` itself, validate as the provider model `bsp` names."""
        if cls is ChannelConfig:
            from bot.bsp.registry import channel_adapter

            return cast(Self, channel_adapter().validate_python(obj, *args, **kwargs))
        return super().model_validate(obj, *args, **kwargs)

    @model_validator(mode="before")
    @classmethod
    def _lower_bsp(cls, value: Any) -> Any:
        return lower_bsp(value)

    @classmethod
    def missing_keys(cls, channel: Mapping[str, Any]) -> list[tuple[Loc, str]]:
        """This provider's required keys that `channel` (raw data) lacks; locs relative to it."""
        problems: list[tuple[Loc, str]] = []
        bsp = cls.bsp_name()
        for alternatives in cls.required:
            if any(present(channel, key) for key in alternatives):
                continue
            if len(alternatives) == 1:
                key = alternatives[0]
                help_ = cls.model_fields[key].description
                problems.append(((key,), f"is missing; bsp {bsp} needs it{f': {help_}' if help_ else ''}"))
            else:
                choices = " or ".join(alternatives)
                problems.append(((alternatives[0],), f"is missing; bsp {bsp} needs {choices}"))
        return problems

    @model_validator(mode="after")
    def _required_keys(self, info: ValidationInfo) -> Self:
        if not skip_cross_checks(info):
            problems = self.missing_keys(self.model_dump(exclude_unset=True))
            if problems:
                raise ValueError("; ".join(plain(loc, msg) for loc, msg in problems))
        return self

    def env_fields(self) -> list[str]:
        """The `*_env` fields this channel sets, in declaration order."""
        return [name for name in type(self).model_fields if name.endswith("_env") and getattr(self, name)]

    def with_environ(self, environ: Mapping[str, str]) -> Self:
        """A copy whose secrets are read from `environ` instead of the process environment."""
        copy = self.model_copy()
        copy._environ = environ
        return copy

    def secret(self, field_name: str, environ: Mapping[str, str] | None = None) -> str | None:
        """The value of the environment variable named by `field_name` (e.g. "api_key_env").

        None when the field is unset or the variable is unset or empty.
        """
        if not field_name.endswith("_env") or field_name not in _credential_fields():
            raise AttributeError(f"no provider has a credential field {field_name!r}")
        env_name = getattr(self, field_name, None)  # another provider's key: unset here
        if not env_name:
            return None
        source = environ if environ is not None else self._environ
        source = os.environ if source is None else source
        return source.get(env_name) or None


@cache
def _credential_fields() -> frozenset[str]:
    """Every `*_env` key any provider's settings have."""
    from bot.bsp.registry import PROVIDERS

    return frozenset(
        name for entry in PROVIDERS for name in entry.channel.model_fields if name.endswith("_env")
    )
