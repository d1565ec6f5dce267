"""What every real feed promises: registered as a plugin, strict options, the documented config
examples load, the health attributes exist; and the OfficialWarning record refuses nonsense."""

from __future__ import annotations

import inspect
import re
import time
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from floodwatch.config import FeedSettings
from floodwatch.feeds.mqtt import MqttFeed
from floodwatch.feeds.nws import NwsAlertsFeed
from floodwatch.feeds.official import OfficialWarning
from floodwatch.feeds.open_meteo import OpenMeteoFeed
from floodwatch.feeds.uk_ea import UkEaFeed
from floodwatch.feeds.usgs import UsgsIvFeed
from floodwatch.plugins import PluginContext, Registry
from floodwatch.yamlsource import loads

from .feed_support import context
from .helpers import ROOT

FEEDS: dict[str, type[Any]] = {
    "usgs_iv": UsgsIvFeed,
    "open_meteo": OpenMeteoFeed,
    "uk_ea": UkEaFeed,
    "nws_alerts": NwsAlertsFeed,
    "mqtt": MqttFeed,
}
# The feed documentation
DOCS = ROOT / "README.md"


def test_each_feed_is_registered_as_a_plugin() -> None:
    registry = Registry.from_entry_points()
    for name, cls in FEEDS.items():
        plugin: object = registry.feeds[name]
        assert plugin is cls, f"{name} is not in the floodwatch.feeds group"


@pytest.mark.parametrize("cls", FEEDS.values(), ids=FEEDS.keys())
def test_options_refuse_unknown_keys_and_the_constructor_has_the_plugin_shape(
    cls: type[Any],
) -> None:
    assert cls.Options.model_config["extra"] == "forbid"
    params = list(inspect.signature(cls.__init__).parameters)
    assert params == ["self", "name", "options", "context"]


def doc_examples() -> list[dict[str, Any]]:
    """Every feed entry of the YAML examples in the feed documentation, read as the config
    loader reads YAML (``${NAME}`` from the environment)."""
    text = DOCS.read_text(encoding="utf-8")
    entries: list[dict[str, Any]] = []
    for block in re.findall(r"```yaml\n(.*?)```", text, re.S):
        data = loads(block, DOCS.name, env={"MQTT_PASSWORD": "pw", "COUNTY_GAUGE_TOKEN": "t"}).data
        if isinstance(data, dict):
            entries += [f for f in data.get("feeds", []) if f.get("type") in FEEDS]
    return entries


def test_every_feed_has_a_documented_example() -> None:
    assert sorted({e["type"] for e in doc_examples()}) == sorted(FEEDS)


def test_the_documented_examples_validate_and_build(tmp_path: Path) -> None:
    registry = Registry.from_entry_points()
    ctx = context(tmp_path)
    for raw in doc_examples():
        entry = FeedSettings.model_validate(raw)  # name, type, interval; the rest are options
        plugin = registry.feeds[entry.type]
        feed = plugin(entry.name, plugin.Options.model_validate(entry.options), ctx)
        assert feed.name == entry.name  # building starts nothing: no request, no connection
        assert entry.interval >= timedelta(minutes=1)


@pytest.mark.parametrize("cls", FEEDS.values(), ids=FEEDS.keys())
def test_every_option_is_documented(cls: type[Any]) -> None:
    text = DOCS.read_text(encoding="utf-8")
    for key in cls.Options.model_fields:
        assert re.search(rf"`{re.escape(key)}`", text), f"{key!r} is not in {DOCS.name}"


def minimal(name: str) -> dict[str, Any]:
    options: dict[str, dict[str, Any]] = {
        "usgs_iv": {"sites": ["01491000"]},
        "open_meteo": {"station": "R01", "latitude": 30.0, "longitude": 120.0},
        "uk_ea": {"stations": ["E21836"], "warnings": True},
        "nws_alerts": {"zones": ["ORZ004"]},
        "mqtt": {"topic": "floodwatch/#"},
    }
    return options[name]


@pytest.mark.parametrize("name", FEEDS)
def test_health_is_visible_on_every_feed(name: str, tmp_path: Path) -> None:
    cls = FEEDS[name]
    feed = cls(name, cls.Options.model_validate(minimal(name)), context(tmp_path))
    assert isinstance(feed.rejected, Counter) and not feed.rejected
    assert feed.degraded is False
    if name != "mqtt":  # the MQTT client waits between reconnects itself
        assert feed.sleep is time.sleep


def test_the_warning_feeds_deliver_warnings(tmp_path: Path) -> None:
    ctx: PluginContext = context(tmp_path)
    nws = NwsAlertsFeed("nws", NwsAlertsFeed.Options(zones=("ORZ004",)), ctx)
    ea = UkEaFeed("ea", UkEaFeed.Options(warnings=True), ctx)
    for feed in (nws, ea):
        assert callable(feed.fetch_warnings) and callable(feed.fetch)
    assert nws.fetch(datetime.now(UTC)) == []
    assert ea.fetch(datetime.now(UTC)) == []  # no stations: no readings, no request


def warning(**changes: Any) -> OfficialWarning:
    fields: dict[str, Any] = {
        "source": "test", "id": "w1", "references": (), "msg_type": "Alert",
        "status": "Actual", "event": "Flood Warning", "severity": "Severe",
        "urgency": "Immediate", "certainty": "Likely", "headline": "h", "description": "d",
        "areas": ("A",), "sent": None, "effective": None, "expires": None, "in_force": True,
    }  # fmt: skip
    return OfficialWarning(**(fields | changes))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"msg_type": "Ack"}, "msg_type must be one of Alert, Update, Cancel"),
        ({"severity": "High"}, "severity must be one of Extreme, Severe"),
        ({"urgency": "Soon"}, "urgency must be one of"),
        ({"certainty": "Sure"}, "certainty must be one of"),
        ({"id": ""}, "needs an id"),
        ({"sent": datetime(2026, 7, 1, 8, 0)}, "sent must carry a time zone"),
    ],
)
def test_a_warning_refuses_values_cap_does_not_know(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        warning(**changes)


def test_warning_times_are_kept_in_utc() -> None:
    w = warning(expires=datetime(2026, 7, 1, 8, 0, tzinfo=timezone(timedelta(hours=8))))
    assert w.expires == datetime(2026, 7, 1, 0, 0, tzinfo=UTC)
    assert w.expires is not None and w.expires.tzinfo is UTC
