"""The roster reference documents every key and option, and its worked example is the shipped
roster, in README.md."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from pydantic import BaseModel

from floodwatch.cli_roster import roster
from floodwatch.roster import diff, load_rosters
from floodwatch.roster.load import (
    OverrideEntry,
    PersonEntry,
    RoleEntry,
    RosterFile,
    RotationEntry,
    SeasonEntry,
    SwapEntry,
    SwapSide,
    UnavailableEntry,
)

from .helpers import TOWNSHIP_ROSTER
from .roster_support import SHANGHAI, local

ROOT = Path(__file__).resolve().parent.parent
DOCS = (ROOT / "README.md").read_text(encoding="utf-8")
MODELS: list[type[BaseModel]] = [
    RosterFile, PersonEntry, RoleEntry, RotationEntry, SeasonEntry, UnavailableEntry, SwapEntry,
    SwapSide, OverrideEntry,
]  # fmt: skip
KEYS = sorted({f.alias or name for m in MODELS for name, f in m.model_fields.items()})


@pytest.mark.parametrize("key", KEYS)
def test_every_roster_key_is_documented(key: str) -> None:
    assert f"`{key}`" in DOCS, f"roster key {key!r} is not documented"


@pytest.mark.parametrize("name", sorted(roster.commands))
def test_every_roster_command_and_option_is_documented(name: str) -> None:
    command = roster.commands[name]
    assert f"`floodwatch roster {name}" in DOCS
    for param in command.params:
        if isinstance(param, click.Option) and param.name != "config_path":
            for opt in param.opts:
                if opt.startswith("--"):
                    assert opt in DOCS, f"roster {name} {opt} is not documented"


def test_the_worked_example_is_the_shipped_roster(tmp_path: Path) -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", DOCS, re.DOTALL)
    example = next(b for b in blocks if "seasons:" in b and "overrides:" in b)
    path = tmp_path / "example.yaml"
    path.write_text(example, encoding="utf-8")
    documented = load_rosters([path], SHANGHAI)
    shipped = load_rosters([TOWNSHIP_ROSTER], SHANGHAI)
    assert not diff(shipped, documented, local("2026-01-01 00:00"), 366)
    assert documented.people.keys() == shipped.people.keys()
