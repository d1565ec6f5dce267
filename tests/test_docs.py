"""The README documents every command, option and config key: a test fails when one is not."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from pydantic import BaseModel

from floodwatch.cli import main
from floodwatch.config import (
    Delivery,
    DemoClock,
    DutySettings,
    EscalationPolicy,
    EscalationStep,
    ForecastRule,
    Heartbeat,
    Leader,
    Level,
    Maintenance,
    Outage,
    RainfallRule,
    RainStep,
    Records,
    Report,
    RiseRule,
    Settings,
    Silence,
    Station,
    Step,
    ThresholdRule,
    Web,
)
from floodwatch.plugins import Registry

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def commands(group: click.Group, prefix: str = "floodwatch") -> list[tuple[str, click.Command]]:
    out = []
    for name, cmd in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        if isinstance(cmd, click.Group):
            out.extend(commands(cmd, path))
        else:
            out.append((path, cmd))
    return out


@pytest.mark.parametrize(("path", "cmd"), commands(main), ids=lambda v: str(v))
def test_every_command_and_option_is_in_the_readme(path: str, cmd: click.Command) -> None:
    assert f"`{path}" in README, f"{path} is not documented in README.md"
    for param in cmd.params:
        if isinstance(param, click.Option) and param.name != "config_path":
            for opt in param.opts:
                if opt.startswith("--"):
                    assert opt in README, f"{path} {opt} is not documented in README.md"


MODELS: list[type[BaseModel]] = [
    Settings, Level, Station, ThresholdRule, Step, EscalationPolicy, EscalationStep, Delivery,
    DemoClock, Silence, DutySettings, RainfallRule, RainStep, RiseRule, ForecastRule, Maintenance,
    Outage, Heartbeat, Leader, Web, Records, Report,
]  # fmt: skip


def keys() -> list[str]:
    found = {name for model in MODELS for name in model.model_fields}
    registry = Registry.from_entry_points()
    for plugins in (registry.feeds, registry.notifiers):
        for plugin in plugins.values():
            found.update(plugin.Options.model_fields)
    return sorted(found | {"interval"})


@pytest.mark.parametrize("key", keys())
def test_every_config_key_is_in_the_readme(key: str) -> None:
    assert re.search(rf"`{re.escape(key)}`|\b{re.escape(key)}:", README), (
        f"config key {key!r} is not documented in README.md"
    )


def test_the_event_table_is_the_event_types_in_the_code() -> None:
    from floodwatch.events import EVENT_TYPES

    section = README.split("#### Event types", 1)[1].split("\n#", 1)[0]
    rows = re.findall(r"^\| `([a-z_]+)` \| (.*?) \| (.*?) \|$", section, re.M)
    documented = {t: re.findall(r"`([a-z_]+)`", fields) for t, fields, _ in rows}
    assert documented == {t: cls.json_fields() for t, cls in EVENT_TYPES.items()}
    assert all(meaning == EVENT_TYPES[t].doc for t, _, meaning in rows)


def test_every_event_type_in_the_json_example_has_its_documented_shape() -> None:
    import json

    from floodwatch.events import COMMON, EVENT_TYPES

    block = README.split("### Rehearsing a flood with `replay`", 1)[1].split("```json\n", 1)[1]
    for line in block.split("```", 1)[0].splitlines():
        event = json.loads(line)
        fields = EVENT_TYPES[event["type"]].json_fields()
        assert list(event) == ["type", "at", *COMMON, *fields]
