"""The README's paging channels: every YAML example with `notifiers:` is a valid config whose
channels build, every channel has one, and every code of the channels' tables is documented."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from floodwatch.config import NotifierSettings
from floodwatch.notify.channels.aliyun_sms import ALIYUN_CODES
from floodwatch.notify.channels.robots import DINGTALK_CODES, FEISHU_CODES, WECOM_CODES
from floodwatch.plugins import Registry
from floodwatch.yamlsource import loads

from .harness_channels import context
from .helpers import readme_env

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
CHANNELS = ("email", "webhook", "wecom", "dingtalk", "feishu", "aliyun_sms", "apprise")
SECTION = README.split("#### Paging channels: what they share", 1)[1].split(
    "Third-party packages add feeds and notifiers", 1
)[0]


def notifier_examples() -> list[dict[str, Any]]:
    """Every notifier entry of the README's YAML blocks that have `notifiers:`, read as the
    config loader reads them."""
    entries: list[dict[str, Any]] = []
    for block in re.findall(r"```yaml\n(.*?)```", README, re.S):
        if "notifiers:" in block:
            data = loads(block, "README.md", env=readme_env(README)).data
            entries += data["notifiers"]
    return entries


def test_every_channel_has_a_documented_example() -> None:
    documented = {e["type"] for e in notifier_examples()}
    assert set(CHANNELS) <= documented


@pytest.mark.parametrize(
    "example",
    [e for e in notifier_examples() if e.get("type") in CHANNELS],
    ids=lambda e: f"{e['type']}:{e['name']}",
)
def test_a_documented_example_is_valid_and_builds(example: dict[str, Any], tmp_path: Path) -> None:
    entry = NotifierSettings.model_validate(example)
    plugin = Registry.from_entry_points().notifiers[entry.type]
    options = plugin.Options.model_validate(entry.options)
    for key, value in entry.options.items():
        if key.endswith("_file"):  # the secrets the example reads from files
            (tmp_path / value).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / value).write_text("a-secret-value\n", encoding="utf-8")
    notifier = plugin(entry.name, options, context(tmp_path))
    assert notifier.name == entry.name


def test_every_code_of_the_tables_is_in_the_readme() -> None:
    for table in (WECOM_CODES, DINGTALK_CODES, FEISHU_CODES, ALIYUN_CODES):
        for rule in table:
            assert f"`{rule.code}`" in SECTION or f"`{rule.code}," in SECTION, rule.code


@pytest.mark.parametrize("channel", CHANNELS)
def test_every_option_of_each_channel_is_in_its_section(channel: str) -> None:
    plugin = Registry.from_entry_points().notifiers[channel]
    for key in plugin.Options.model_fields:
        assert f"`{key}`" in SECTION, f"{channel}: {key}"
