"""bot.bsp.registry: every provider named once, built from its own channel model."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from bot.bsp import registry
from bot.bsp.base import VerifiesHandshake
from bot.bsp.cloudapi.adapter import CloudApiProvider
from bot.bsp.dialog360.channel import Dialog360Channel
from bot.bsp.registry import build_provider
from bot.bsp.sandbox.adapter import SandboxProvider
from bot.bsp.sandbox.channel import SandboxChannel
from tests.bsp import clock, make_channel

BSP = Path(__file__).resolve().parents[2] / "bot" / "bsp"


async def test_registry_maps_every_bsp() -> None:
    async with httpx.AsyncClient() as http:
        assert isinstance(build_provider(make_channel(SandboxChannel), http, None, clock), SandboxProvider)
        channel = make_channel(
            Dialog360Channel,
            {"K": "key", "S": "secret"},
            api_key_env="K",
            webhook_secret_env="S",
            base_url="http://127.0.0.1:9",
        )
        provider = build_provider(channel, http, None, clock)
        assert type(provider).__module__ == "bot.bsp.dialog360.adapter"
        unknown = SandboxChannel.model_construct(id="x", name="X", number="+5511999990000", bsp="nosuch")
        with pytest.raises(
            ValueError, match="'nosuch'.*supported: 360dialog, cloudapi, fortics, gupshup, sandbox"
        ):
            build_provider(unknown, http, None, clock)


def test_each_provider_is_named_once_in_the_order_check_lists_them() -> None:
    assert registry.names() == ("360dialog", "fortics", "cloudapi", "gupshup", "twilio", "sandbox")
    assert [entry.name for entry in registry.PROVIDERS] == [e.channel.bsp_name() for e in registry.PROVIDERS]
    assert len({entry.adapter for entry in registry.PROVIDERS}) == len(registry.PROVIDERS)


def test_labels_decoding_and_handshakes() -> None:
    assert registry.label("cloudapi") == "Meta Cloud API" and registry.label("sandbox") == "Sandbox"
    assert registry.label("unknown") == "unknown"
    assert registry.decode_body("twilio", b"MessageSid=SM1&MessageStatus=sent") == (
        "MessageSid=SM1&MessageStatus=sent"
    )
    assert registry.decode_body("cloudapi", b'{"a": 1}') == {"a": 1}
    with pytest.raises(ValueError):
        registry.decode_body("360dialog", b"MessageSid=SM1")
    assert [e.name for e in registry.PROVIDERS if e.offers_handshake] == ["cloudapi"]
    assert issubclass(CloudApiProvider, VerifiesHandshake)
    assert not issubclass(SandboxProvider, VerifiesHandshake)


def test_channel_config_validates_as_the_model_its_bsp_names() -> None:
    channel = registry.ChannelConfig.model_validate(
        {"id": "s", "name": "S", "number": "+55 11 4000-0000", "bsp": "Sandbox"}
    )
    assert type(channel) is SandboxChannel and channel.bsp == "sandbox"


def test_each_provider_has_its_folder_with_adapter_and_channel() -> None:
    from bot.bsp import registry

    for entry in registry.PROVIDERS:
        folder = Path(entry.channel.__module__.replace(".", "/")).parent
        assert entry.adapter.__module__.replace(".", "/").startswith(str(folder)), entry.name
        assert (BSP.parents[1] / folder / "adapter.py").is_file()
        assert (BSP.parents[1] / folder / "channel.py").is_file()
