"""What every feed registered in setup.cfg promises, checked by fetching from real local sources
(tests/feed_contract_support.py has one harness per feed): sound readings from a recorded
payload, a harmless second fetch, garbage and bad items that never become readings, failures
that are FeedErrors naming the feed, and health attributes that follow each outcome. A feed with
a position (`Positioned`) returns what was not committed again, and an HTTP one asks for a window
that reaches back to the newest stored observation. Also: the registration, the documented
examples, strict options, and the OfficialWarning record.

The transport faults in depth (timeouts, retries, backoff) are tests/test_feeds_faults.py's;
each feed's own parsing is its tests/test_feeds_*.py.
"""

from __future__ import annotations

import configparser
import importlib
import math
import re
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from floodwatch.config import FeedSettings
from floodwatch.feeds.base import FeedError, Positioned
from floodwatch.feeds.official import MESSAGE_TYPES, OfficialWarning
from floodwatch.plugins import Registry
from floodwatch.readings import Reading
from floodwatch.yamlsource import loads

from .conftest import LocalHTTPServer
from .feed_contract_support import (
    GARBAGE,
    HARNESSES,
    Fails,
    FeedHarness,
    HttpHarness,
    Skipped,
)
from .feed_support import context
from .helpers import ROOT, readme_env

DOCS = ROOT / "README.md"


def registered() -> dict[str, str]:
    """setup.cfg's floodwatch.feeds group: name -> "module:Class"."""
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg", encoding="utf-8")
    group = cfg["options.entry_points"]["floodwatch.feeds"]
    lines = (line.split("=", 1) for line in group.strip().splitlines())
    return {name.strip(): target.strip() for name, target in lines}


# -- registration and documentation ----------------------------------------------------------


def test_every_registered_feed_has_a_contract_harness() -> None:
    assert sorted(registered()) == sorted({h.feed_type for h in HARNESSES}), (
        "each feed in setup.cfg's floodwatch.feeds group needs a harness in "
        "tests/feed_contract_support.py (and only those)"
    )


def test_the_installed_plugins_are_the_registered_classes() -> None:
    feeds = Registry.from_entry_points().feeds
    for name, target in registered().items():
        module, attribute = target.split(":")
        assert name in feeds, f"{name} is not installed: pip install -e . again"
        assert feeds[name] is getattr(importlib.import_module(module), attribute)


def doc_examples() -> list[dict[str, Any]]:
    """Every feed entry of the YAML examples in the README, read as the config loader reads
    YAML (``${NAME}`` from the environment)."""
    text = DOCS.read_text(encoding="utf-8")
    entries: list[dict[str, Any]] = []
    for block in re.findall(r"```yaml\n(.*?)```", text, re.S):
        data = loads(block, DOCS.name, env=readme_env(text)).data
        if isinstance(data, dict):
            entries += [f for f in data.get("feeds", []) if f.get("type") in registered()]
    return entries


def test_every_feed_has_a_documented_example() -> None:
    assert sorted({e["type"] for e in doc_examples()}) == sorted(registered())


@pytest.mark.parametrize("example", doc_examples(), ids=lambda e: f"{e['type']}:{e['name']}")
def test_a_documented_example_builds_and_its_options_refuse_an_unknown_key(
    example: dict[str, Any], tmp_path: Path
) -> None:
    entry = FeedSettings.model_validate(example)  # name, type, interval; the rest are options
    plugin = Registry.from_entry_points().feeds[entry.type]
    # as the application builds it; building starts nothing: no request, no connection
    feed = plugin(entry.name, plugin.Options.model_validate(entry.options), context(tmp_path))
    assert feed.name == entry.name
    assert entry.interval >= timedelta(minutes=1)
    with pytest.raises(ValidationError, match="intervall\n  Extra inputs are not permitted"):
        plugin.Options.model_validate(entry.options | {"intervall": "5m"})


@pytest.mark.parametrize("name", sorted(registered()))
def test_every_option_is_documented(name: str) -> None:
    text = DOCS.read_text(encoding="utf-8")
    for key in Registry.from_entry_points().feeds[name].Options.model_fields:
        assert re.search(rf"`{re.escape(key)}`", text), f"{name}: {key!r} is not in {DOCS.name}"


# -- the harnesses ---------------------------------------------------------------------------


def harness_id(h: type[FeedHarness]) -> str:
    return h.feed_type if h.delivers == "readings" else f"{h.feed_type}-warnings"


@pytest.fixture(params=HARNESSES, ids=harness_id)
def harness(request: pytest.FixtureRequest) -> FeedHarness:
    h: FeedHarness = request.param(request)
    return h


# feeds of readings with a position; those of them polled over HTTP ask for a window
POSITIONED = [h for h in HARNESSES if h.delivers == "readings" and h.positioned]
WINDOWED = [h for h in POSITIONED if issubclass(h, HttpHarness)]


def stored(h: FeedHarness, feed: Any, items: list[Any]) -> None:
    """What the service does once the readings of a fetch are stored."""
    if h.positioned and h.delivers == "readings":
        feed.commit(items)


def fails_naming_the_feed(h: FeedHarness, feed: Any, pattern: str) -> None:
    with pytest.raises(FeedError) as caught:
        h.fetch(feed)
    message = str(caught.value)
    assert message.startswith(f"feed {h.name}: "), message
    assert re.search(pattern, message), f"{pattern!r} not in {message!r}"


def stations_after_failure(h: FeedHarness, feed: Any) -> None:
    if h.failing_stations is None:
        assert not hasattr(feed, "degraded_stations")  # a new one: say so in its harness
    else:
        assert feed.degraded_stations == h.failing_stations


def healthy(h: FeedHarness, feed: Any) -> None:
    assert feed.degraded is False
    if h.failing_stations is not None:
        assert feed.degraded_stations == set()


def sound_readings(h: FeedHarness, items: list[Any]) -> None:
    for r in items:
        assert type(r) is Reading
        assert r.observed_at.tzinfo is UTC
        for text in (r.station, r.parameter, r.unit):
            assert isinstance(text, str) and text and text == text.strip(), r
        assert type(r.value) is float and math.isfinite(r.value), r
        if h.forecast:
            assert r.observed_at > h.now, r
        else:
            assert r.observed_at <= h.now + h.clock_skew, r
    times = [r.observed_at for r in items]
    assert times == sorted(times), "readings come in time order"


def sound_warnings(h: FeedHarness, items: list[Any]) -> None:
    for w in items:
        assert type(w) is OfficialWarning
        assert w.id and w.source and w.msg_type in MESSAGE_TYPES
        for when in (w.sent, w.effective, w.expires):
            assert when is None or when.tzinfo is UTC, w


def the_known_item(h: FeedHarness, items: list[Any]) -> dict[str, Any]:
    key = ("station", "parameter", "observed_at") if h.delivers == "readings" else ("id",)
    found = [x for x in items if all(getattr(x, k) == h.known[k] for k in key)]
    assert len(found) == 1, f"{ {k: h.known[k] for k in key} } is not once in the fetch"
    return {k: getattr(found[0], k) for k in h.known}


# -- 1. a good payload -----------------------------------------------------------------------


def test_a_recorded_payload_gives_sound_items(harness: FeedHarness) -> None:
    feed = harness.build()
    harness.offer(feed)
    items = harness.fetch(feed)
    assert len(items) == harness.count
    (sound_readings if harness.delivers == "readings" else sound_warnings)(harness, items)
    assert the_known_item(harness, items) == harness.known
    assert feed.rejected == Counter()
    healthy(harness, feed)


# -- 2. nothing new --------------------------------------------------------------------------


def test_a_second_fetch_with_nothing_new_is_harmless(harness: FeedHarness) -> None:
    feed = harness.build()
    harness.offer(feed)
    first = harness.fetch(feed)
    assert len(first) == harness.count
    stored(harness, feed, first)
    # a poll of an HTTP source returns what it says now; a file and a broker return each once
    assert harness.fetch(feed) == (first if harness.repeats else [])
    assert feed.rejected == Counter()
    healthy(harness, feed)


# -- 2a. a position that moves only on commit ------------------------------------------------


def test_a_feed_has_a_position_exactly_where_its_harness_says(harness: FeedHarness) -> None:
    feed = harness.build()
    assert isinstance(feed, Positioned) is harness.positioned


@pytest.mark.parametrize("cls", POSITIONED, ids=harness_id)
def test_a_fetch_without_commit_returns_the_same_readings_again(
    request: pytest.FixtureRequest, cls: type[FeedHarness]
) -> None:
    h = cls(request)
    feed = h.build()
    h.offer(feed)
    first = h.fetch(feed)
    assert len(first) == h.count
    # the database refused them twice: nothing was committed, nothing is lost
    assert h.fetch(feed) == first
    assert h.fetch(feed) == first
    feed.commit(first)
    assert h.fetch(feed) == (first if h.repeats else [])
    assert feed.rejected == Counter()  # read once, counted once
    healthy(h, feed)


@pytest.mark.parametrize("cls", WINDOWED, ids=harness_id)
def test_after_resume_the_first_request_reaches_back_to_the_stored_observation(
    request: pytest.FixtureRequest, cls: type[HttpHarness]
) -> None:
    h = cls(request)
    feed = h.build()
    h.offer(feed)
    last = h.known["observed_at"] - timedelta(hours=6)  # stored before the service stopped
    feed.resume(last)
    assert len(h.fetch(feed)) == h.count
    assert h.asked_since() == [last]


@pytest.mark.parametrize("cls", WINDOWED, ids=harness_id)
def test_after_a_fetch_that_was_not_stored_the_window_covers_the_last_stored_observation(
    request: pytest.FixtureRequest, cls: type[HttpHarness]
) -> None:
    h = cls(request)
    feed = h.build()
    h.offer(feed)
    first = h.fetch(feed)
    feed.commit(first)
    newest = max(r.observed_at for r in first)
    second = h.fetch(feed)  # the database refused these: no commit
    asked = len(h.asked_since())
    assert h.fetch(feed) == second
    since = h.asked_since()[asked:]
    assert len(since) == 1 and since[0] is not None and since[0] <= newest, since


# -- 3. garbage and bad items ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "kind"),
    [(h, kind) for h in HARNESSES for kind in GARBAGE],
    ids=[f"{harness_id(h)}-{kind}" for h in HARNESSES for kind in GARBAGE],
)
def test_garbage_is_a_feed_error_or_skipped_never_a_reading(
    request: pytest.FixtureRequest, cls: type[FeedHarness], kind: str
) -> None:
    h = cls(request)
    feed = h.build()
    h.offer_garbage(feed, kind)
    expected = h.garbage[kind]
    if isinstance(expected, Fails):
        fails_naming_the_feed(h, feed, expected.match)
        assert feed.degraded is True
        assert feed.rejected == Counter()
    else:
        assert isinstance(expected, Skipped)
        assert h.fetch(feed) == []
        assert feed.rejected == expected.rejected
        assert feed.degraded is False


@pytest.mark.parametrize(
    ("cls", "defect"),
    [(h, d) for h in HARNESSES for d in h.defects],
    ids=[f"{harness_id(h)}-{d}" for h in HARNESSES for d in h.defects],
)
def test_a_bad_item_is_skipped_and_counted_and_the_good_ones_come_through(
    request: pytest.FixtureRequest, cls: type[FeedHarness], defect: str
) -> None:
    h = cls(request)
    reference = h.build()
    h.offer(reference)
    good = h.fetch(reference)

    feed = h.build()
    h.offer_spoiled(feed, defect)
    assert h.fetch(feed) == good
    assert feed.rejected == {h.defects[defect]: 1}
    healthy(h, feed)  # a bad item is the source's, not a failure of the feed


# -- 4. a source that fails ------------------------------------------------------------------


def test_an_unreachable_source_is_a_feed_error_naming_the_feed(harness: FeedHarness) -> None:
    feed = harness.build_unreachable()
    fails_naming_the_feed(harness, feed, harness.unreachable)
    assert feed.degraded is True
    stations_after_failure(harness, feed)


# -- 5. health follows the outcome -----------------------------------------------------------


def test_health_follows_the_outcome_of_each_fetch(harness: FeedHarness) -> None:
    feed = harness.build()
    harness.offer(feed)
    items = harness.fetch(feed)
    assert len(items) == harness.count
    stored(harness, feed, items)
    healthy(harness, feed)

    harness.interrupt(feed)  # HTTP 503, the file gone, the broker connection dropped
    fails_naming_the_feed(harness, feed, harness.interrupted)
    assert feed.degraded is True
    stations_after_failure(harness, feed)

    harness.resume(feed)
    items = harness.fetch(feed)
    assert len(items) == harness.count
    stored(harness, feed, items)
    healthy(harness, feed)
    assert feed.rejected == Counter()

    defect, reason = next(iter(harness.defects.items()))
    harness.offer_spoiled(feed, defect)
    assert len(harness.fetch(feed)) == harness.count
    assert feed.rejected == {reason: 1}
    healthy(harness, feed)


# -- warnings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("feed_type", "options"),
    [("nws_alerts", {"zones": ["ORZ004"]}), ("uk_ea", {"warnings": True})],
)
def test_a_feed_of_warnings_only_fetches_no_readings_and_asks_nothing(
    http_server: LocalHTTPServer, tmp_path: Path, feed_type: str, options: dict[str, Any]
) -> None:
    plugin = Registry.from_entry_points().feeds[feed_type]
    base = http_server.url + ("/flood-monitoring" if feed_type == "uk_ea" else "")
    o = plugin.Options.model_validate(options | {"base_url": base})
    feed = plugin("warnings", o, context(tmp_path))
    assert feed.fetch(datetime.now(UTC)) == []
    assert http_server.requests == []


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
