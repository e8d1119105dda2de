"""The walls between layers (docs/architecture.md), each the equivalent of a one-line grep.

Each wall is (files it applies to, a pattern that must not appear there). A failure names every
offending line, so the fix is obvious. To see one work: add `from bot.store import db` to any
module under bot/rules/ and run this file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

BOT = Path(__file__).resolve().parent.parent / "bot"


@dataclass(frozen=True)
class Wall:
    name: str
    grep: str  # the shell one-liner this wall is; documentation for the reader
    files: tuple[str, ...]  # globs under bot/
    forbidden: str  # a regex, matched line by line
    except_files: tuple[str, ...] = ()  # globs under bot/ the wall does not apply to


IMPORT = r"^\s*(?:from|import)\s+"

WALLS = (
    Wall(
        "rules/ imports nothing of ours but rules/",
        r"grep -rnE '^\s*(from|import) bot\.' bot/rules | grep -v 'bot\.rules'",
        ("rules/**/*.py",),
        IMPORT + r"bot(?!\.rules\b)\b",
    ),
    Wall(
        "blocks/ imports neither store/ nor bsp/",
        r"grep -rnE '^\s*(from|import) bot\.(store|bsp)' bot/blocks",
        ("blocks/**/*.py",),
        IMPORT + r"bot\.(?:store|bsp)\b",
    ),
    Wall(
        "bsp/ knows no Slack and no ingestion",
        r"grep -rnE '^\s*(from|import) (slack|bot\.(handlers|blocks|core|app|cli|runtime))' bot/bsp",
        ("bsp/**/*.py",),
        IMPORT + r"(?:slack_sdk|slack_bolt|bot\.(?:handlers|blocks|core|app|cli|runtime))\b",
    ),
    Wall(
        "only the app imports the Slack handlers",
        r"grep -rnE '^\s*(from|import) bot(\.handlers| import handlers)' bot | grep -vE 'app\.py|handlers/'",
        ("**/*.py",),
        IMPORT + r"bot(?:\.handlers\b|\s+import\s+handlers\b)",
        ("app.py", "handlers/**/*.py"),
    ),
    Wall(
        "SQL is written only under store/",
        r"grep -rnE '\b(select|insert)\(|\.execute\(' bot | grep -v '^bot/store/'",
        ("**/*.py",),
        r"(?<![\w.])(?:select|insert)\(|\.execute\(",
        ("store/**/*.py",),
    ),
    Wall(
        "time is passed in: no clock read in rules/, bsp/ or the alerts",
        r"grep -rnE 'datetime\.now|datetime\.utcnow|time\.time\(' bot/rules bot/bsp bot/core/alerts",
        ("rules/**/*.py", "bsp/**/*.py", "core/alerts/**/*.py"),
        r"datetime\.(?:now|utcnow)\(|\btime\.time\(",
    ),
)


def _files(globs: tuple[str, ...], excluded: tuple[str, ...], root: Path) -> list[Path]:
    chosen = {p for g in globs for p in root.glob(g)}
    skipped = {p for g in excluded for p in root.glob(g)}
    return sorted(chosen - skipped)


def violations(wall: Wall, root: Path = BOT) -> list[str]:
    """`path:line: text` for every line under `root` that breaks the wall."""
    pattern = re.compile(wall.forbidden)
    found = []
    for path in _files(wall.files, wall.except_files, root):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if pattern.search(code):
                found.append(f"{path.relative_to(root.parent)}:{number}: {line.strip()}")
    return found


@pytest.mark.parametrize("wall", WALLS, ids=[w.name for w in WALLS])
def test_wall_holds(wall: Wall) -> None:
    broken = violations(wall)
    assert not broken, f"{wall.name} (check: {wall.grep}):\n" + "\n".join(broken)


@pytest.mark.parametrize("wall", WALLS, ids=[w.name for w in WALLS])
def test_wall_catches_a_violation(wall: Wall, tmp_path: Path) -> None:
    """Each wall's pattern really fires: a scratch tree with one offending line per wall."""
    offending = {
        "rules/ imports nothing of ours but rules/": ("rules/x.py", "from bot.store import db"),
        "blocks/ imports neither store/ nor bsp/": ("blocks/x.py", "from bot.bsp.base import Provider"),
        "bsp/ knows no Slack and no ingestion": ("bsp/x.py", "from bot.core.ingest import ingest_events"),
        "only the app imports the Slack handlers": ("core/x.py", "from bot import handlers"),
        "SQL is written only under store/": ("core/x.py", "rows = session.execute(select(Contact))"),
        "time is passed in: no clock read in rules/, bsp/ or the alerts": (
            "bsp/x.py",
            "now = datetime.now(UTC)",
        ),
    }[wall.name]
    path = tmp_path / "bot" / offending[0]
    path.parent.mkdir(parents=True)
    path.write_text(f'"""scratch"""\n{offending[1]}\n')
    assert violations(wall, tmp_path / "bot") == [f"bot/{offending[0]}:2: {offending[1]}"]
