"""The README's villages section: every key of the village files, of `evacuation` and `cap`
and of the broadcast channels is documented; its YAML examples are valid (the village file is
the shipped demo's, its notifiers build)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from floodwatch.config import Cap, Evacuation, NotifierSettings, Settings
from floodwatch.notify.channels.broadcast_http import Success
from floodwatch.plugins import Registry
from floodwatch.villages.load import (
    AreaEntry,
    GroupEntry,
    LevelEntry,
    LoudspeakerEntry,
    RainEntry,
    ResponsibleEntry,
    VillageEntry,
    VillagesFile,
    load_villages,
)
from floodwatch.yamlsource import loads

from .harness_channels import context
from .villages_support import DEMO_VILLAGES, known

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
SECTION = README.split("## Villages: warnings, loudspeakers and 叫应", 1)[1].split("\n## ", 1)[0]
BLOCKS = re.findall(r"```yaml\n(.*?)```", SECTION, re.S)
MODELS: list[type[BaseModel]] = [
    VillagesFile, VillageEntry, GroupEntry, ResponsibleEntry, LoudspeakerEntry, LevelEntry,
    RainEntry, AreaEntry, Evacuation, Cap, Success,
]  # fmt: skip
BROADCAST = ("broadcast_http", "broadcast_mqtt", "broadcast_call", "broadcast_sms")


@pytest.mark.parametrize(
    "key", sorted({f.alias or n for m in MODELS for n, f in m.model_fields.items()})
)
def test_every_key_is_documented_in_the_villages_section(key: str) -> None:
    assert f"`{key}`" in SECTION, key


@pytest.mark.parametrize("channel", BROADCAST)
def test_every_option_of_each_broadcast_channel_is_documented(channel: str) -> None:
    plugin = Registry.from_entry_points().notifiers[channel]
    own = set(plugin.Options.model_fields)
    if channel in ("broadcast_call", "broadcast_sms"):  # twilio_voice's and twilio_sms's
        own = {"calls_per_second"} if channel == "broadcast_call" else set()
    for key in own:
        assert f"`{key}`" in SECTION or f"{key}:" in SECTION, f"{channel}: {key}"


def test_the_config_keys_are_in_the_key_table() -> None:
    for key in ("villages", "evacuation", "cap"):
        assert key in Settings.model_fields
        assert f"| `{key}` |" in README


def test_the_example_village_file_is_the_shipped_one(tmp_path: Path) -> None:
    [example] = [b for b in BLOCKS if "id: hekou" in b]
    assert DEMO_VILLAGES.read_text(encoding="utf-8").endswith(example)  # but its head comment
    path = tmp_path / "villages.yaml"
    path.write_text(example, encoding="utf-8")
    documented = load_villages([path])
    shipped = load_villages([DEMO_VILLAGES])
    assert [(v.id, v.households, v.loudspeakers, v.levels) for v in documented] == [
        (v.id, v.households, v.loudspeakers, v.levels) for v in shipped
    ]


def test_every_village_example_loads(tmp_path: Path) -> None:
    examples = [b for b in BLOCKS if b.startswith("version: 1\nvillages:")]
    assert len(examples) == 2
    for k, block in enumerate(examples):
        path = tmp_path / f"example-{k}.yaml"
        path.write_text(block, encoding="utf-8")
        load_villages([path], known())


def notifier_examples() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for block in BLOCKS:
        if "notifiers:" in block:
            env = {"MQTT_PASSWORD": "x", "TWILIO_AUTH_TOKEN": "y"}
            out += loads(block, "README.md", env=env).data["notifiers"]
    return out


def test_every_broadcast_channel_has_an_example_that_builds(tmp_path: Path) -> None:
    examples = notifier_examples()
    assert {e["type"] for e in examples} == set(BROADCAST)
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "gb.key").write_text("a-key\n", encoding="utf-8")
    env = {"MQTT_PASSWORD": "x", "TWILIO_AUTH_TOKEN": "y"}
    for block in BLOCKS:
        if "notifiers:" not in block:
            continue
        doc = loads(block, "README.md", env=env)
        for entry in doc.data["notifiers"]:
            settings = NotifierSettings.model_validate(entry)
            plugin = Registry.from_entry_points().notifiers[settings.type]
            options = plugin.Options.model_validate(settings.options)
            notifier = plugin(settings.name, options, context(tmp_path))
            assert notifier.name == settings.name
            close = getattr(notifier, "close", None)
            if callable(close):
                close()


def test_the_config_examples_are_valid_sections() -> None:
    for block in BLOCKS:
        env = {"MQTT_PASSWORD": "x", "TWILIO_AUTH_TOKEN": "y"}
        data = loads(block, "README.md", env=env).data
        if "evacuation" in data:
            Evacuation.model_validate(data["evacuation"])
        if "cap" in data:
            Cap.model_validate(data["cap"])
