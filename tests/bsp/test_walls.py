"""What bot/bsp/ must not do, checked on its source: read the clock, write SQL, or reach for
ingestion, the runtime or Slack (adapters get what they need injected)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

BSP = Path(__file__).resolve().parents[2] / "bot" / "bsp"
SOURCES = sorted(BSP.rglob("*.py"))

FORBIDDEN = {
    "reads the clock": re.compile(r"datetime\.now\(|datetime\.utcnow\(|time\.time\("),
    "writes SQL": re.compile(r"\bselect\(|\binsert\(|\.execute\("),
    "imports ingestion, the runtime or the windows report": re.compile(
        r"^\s*(from|import) bot\.(core|runtime|handlers|slack|cli)\b", re.M
    ),
    "imports Slack": re.compile(r"^\s*(from|import) slack", re.M),
}


@pytest.mark.parametrize("wall", sorted(FORBIDDEN))
def test_bsp_keeps_its_walls(wall: str) -> None:
    assert SOURCES, "bot/bsp/ has no sources?"
    broken = [str(path.relative_to(BSP)) for path in SOURCES if FORBIDDEN[wall].search(path.read_text())]
    assert broken == [], f"bot/bsp/ {wall}: {broken}"


def test_each_provider_has_its_folder_with_adapter_and_channel() -> None:
    from bot.bsp import registry

    for entry in registry.PROVIDERS:
        folder = Path(entry.channel.__module__.replace(".", "/")).parent
        assert entry.adapter.__module__.replace(".", "/").startswith(str(folder)), entry.name
        assert (BSP.parents[1] / folder / "adapter.py").is_file()
        assert (BSP.parents[1] / folder / "channel.py").is_file()
