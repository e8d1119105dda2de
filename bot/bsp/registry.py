"""Every provider, named once: its settings model, its adapter, its label, how its webhook body
is decoded. Adding a provider is adding its folder and one line to `PROVIDERS`.

The name (`bsp:` in contato.yml) comes from the settings model's `Literal`; the order below is
the order `contato-bot check` lists them in.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, Union, cast

import httpx
from pydantic import BeforeValidator, Field, TypeAdapter

from bot.bsp.adapter import Adapter, Clock
from bot.bsp.base import Provider, VerifiesHandshake
from bot.bsp.channel import ChannelConfig, lower_bsp
from bot.bsp.cloudapi.adapter import CloudApiProvider
from bot.bsp.cloudapi.channel import CloudApiChannel
from bot.bsp.dialog360.adapter import Dialog360Provider
from bot.bsp.dialog360.channel import Dialog360Channel
from bot.bsp.fortics.adapter import ForticsProvider
from bot.bsp.fortics.channel import ForticsChannel
from bot.bsp.gupshup.adapter import GupshupProvider
from bot.bsp.gupshup.channel import GupshupChannel
from bot.bsp.sandbox.adapter import SandboxProvider
from bot.bsp.sandbox.channel import SandboxChannel
from bot.bsp.twilio.adapter import TwilioProvider
from bot.bsp.twilio.channel import TwilioChannel
from bot.store.db import Store


def decode_json(raw: bytes) -> Any:
    """A JSON webhook body. Raises ValueError when it is not JSON."""
    return json.loads(raw)


def decode_form(raw: bytes) -> Any:
    """A form-encoded webhook body, as text for the provider's parser. Raises ValueError (not UTF-8)."""
    return raw.decode("utf-8")


JSON_TYPES = ("application/json", "text/json")
FORM_TYPES = ("application/x-www-form-urlencoded",)


@dataclass(frozen=True)
class ProviderEntry:
    """One provider: what `contato.yml` says (`channel`), what serves it (`adapter`), its label
    in Slack and how its webhook bodies are decoded."""

    channel: type[ChannelConfig]
    adapter: type[Adapter[Any]]  # build(channel, http, store, clock) -> a Provider
    label: str
    decode: Callable[[bytes], Any] = decode_json
    # What its webhooks declare as Content-Type (a request declaring another is refused with 415).
    content_types: tuple[str, ...] = JSON_TYPES

    @property
    def name(self) -> str:
        return self.channel.bsp_name()

    @property
    def offers_handshake(self) -> bool:
        """Whether its webhook URL answers a GET verification handshake (Meta's `hub.challenge`)."""
        return issubclass(self.adapter, VerifiesHandshake)


PROVIDERS: tuple[ProviderEntry, ...] = (
    ProviderEntry(Dialog360Channel, Dialog360Provider, "360dialog"),
    ProviderEntry(ForticsChannel, ForticsProvider, "Fortics"),
    ProviderEntry(CloudApiChannel, CloudApiProvider, "Meta Cloud API"),
    ProviderEntry(GupshupChannel, GupshupProvider, "Gupshup"),
    ProviderEntry(TwilioChannel, TwilioProvider, "Twilio", decode=decode_form, content_types=FORM_TYPES),
    ProviderEntry(SandboxChannel, SandboxProvider, "Sandbox"),
)

BY_NAME: Mapping[str, ProviderEntry] = {entry.name: entry for entry in PROVIDERS}


def names() -> tuple[str, ...]:
    """Every provider's name, in the registry's order."""
    return tuple(BY_NAME)


def entry(bsp: str) -> ProviderEntry | None:
    """The registry entry of `bsp`, or None."""
    return BY_NAME.get(bsp)


def label(bsp: str) -> str:
    """The provider's name as people know it ("Meta Cloud API"); an unknown one as written."""
    found = BY_NAME.get(bsp)
    return found.label if found is not None else bsp


def content_types(bsp: str) -> tuple[str, ...]:
    """The Content-Type values the provider's webhooks may declare."""
    found = BY_NAME.get(bsp)
    return found.content_types if found is not None else JSON_TYPES


def decode_body(bsp: str, raw: bytes) -> Any:
    """A webhook body as the provider's parser takes it (JSON, or text for form-encoded ones).
    Raises ValueError when it is not that."""
    found = BY_NAME.get(bsp)
    return (found.decode if found is not None else decode_json)(raw)


def handshake(provider: Provider) -> VerifiesHandshake | None:
    """The provider's verification handshake, if it offers one."""
    return provider if isinstance(provider, VerifiesHandshake) else None


if TYPE_CHECKING:
    AnyChannel = ChannelConfig
else:
    # Every provider's settings model, told apart by `bsp`.
    AnyChannel = Annotated[
        Union[tuple(entry.channel for entry in PROVIDERS)],  # noqa: UP007 (built from the registry)
        Field(discriminator="bsp"),
        BeforeValidator(lower_bsp),
    ]


@cache
def channel_adapter() -> TypeAdapter[ChannelConfig]:
    """Validates one channel's settings as the model its `bsp` names."""
    return cast(TypeAdapter[ChannelConfig], TypeAdapter(AnyChannel))


def build_provider(
    channel: ChannelConfig, http: httpx.AsyncClient, store: Store | None, clock: Clock
) -> Provider:
    """The Provider for `channel`. Raises ValueError for a BSP this app does not support."""
    found = BY_NAME.get(channel.bsp)
    if found is None or not isinstance(channel, found.channel):
        raise ValueError(
            f"channel {channel.id!r} uses BSP {channel.bsp or '(none)'!r}, which this app does not "
            f"support (supported: {', '.join(sorted(BY_NAME))})."
        )
    return cast(Provider, found.adapter.build(channel, http, store, clock))
