"""open_meteo on the recorded Toronto forecast (imperial units, local time), and on bad items."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import ValidationError

from floodwatch.feeds.base import FeedError
from floodwatch.feeds.open_meteo import OpenMeteoFeed
from floodwatch.readings import Reading

from .conftest import LocalHTTPServer
from .feed_support import Sleeps, context, dumps, load, raw, spoiled

FORECAST = "open_meteo/forecast_hourly_precipitation.json"
# the payload's current.time, 2026-03-05T21:00 at its utc_offset_seconds of -18000
NOW = datetime(2026, 3, 6, 2, 0, tzinfo=UTC)


def feed(server: LocalHTTPServer, tmp_path: Path, **options: Any) -> OpenMeteoFeed:
    opts = {
        "station": "toronto",
        "latitude": 43.70455,
        "longitude": -79.404625,
        "base_url": server.url + "/v1/forecast",
    } | options
    f = OpenMeteoFeed(
        "rain-forecast", OpenMeteoFeed.Options.model_validate(opts), context(tmp_path)
    )
    f.sleep = Sleeps()
    return f


def rain(hour_utc: datetime, inches: float) -> Reading:
    return Reading("toronto", "rain_forecast", inches * 25.4, "mm", hour_utc)


def test_the_recorded_forecast_in_millimetres(
    http_server: LocalHTTPServer, fixtures_dir: Path, tmp_path: Path
) -> None:
    http_server.serve("/v1/forecast", raw(fixtures_dir, FORECAST))
    f = feed(http_server, tmp_path)

    readings = f.fetch(NOW)

    # 192 hours from 2026-03-04T00:00 local; the 46 up to 21:00 on the 5th are not forecast
    assert len(readings) == 146
    assert readings[0] == Reading("toronto", "rain_forecast", 0.0, "mm", NOW + timedelta(hours=1))
    assert readings[-1] == Reading(
        "toronto", "rain_forecast", 0.0, "mm", datetime(2026, 3, 12, 4, 0, tzinfo=UTC)
    )
    by_hour = {r.observed_at: r for r in readings}
    # the wettest hour: 1.008 in, local 2026-03-07T01:00 (-05:00)
    assert by_hour[datetime(2026, 3, 7, 6, 0, tzinfo=UTC)] == rain(
        datetime(2026, 3, 7, 6, 0, tzinfo=UTC), 1.008
    )
    assert by_hour[datetime(2026, 3, 7, 6, 0, tzinfo=UTC)].value == pytest.approx(25.6032)
    assert by_hour[datetime(2026, 3, 7, 5, 0, tzinfo=UTC)].value == pytest.approx(6.5024)
    # Open-Meteo keeps one offset for the whole series, past the DST change of 8 March:
    # local 2026-03-11T05:00 is 10:00 UTC, not 09:00 (0.047 in)
    assert by_hour[datetime(2026, 3, 11, 10, 0, tzinfo=UTC)].value == pytest.approx(0.047 * 25.4)
    steps = {b.observed_at - a.observed_at for a, b in zip(readings, readings[1:], strict=False)}
    assert steps == {timedelta(hours=1)}
    assert sum(r.value for r in readings) == pytest.approx(1.928 * 25.4)
    assert f.rejected == {}
    assert f.degraded is False
    [(_, path, _)] = http_server.requests
    assert parse_qs(urlsplit(path).query) == {
        "latitude": ["43.70455"], "longitude": ["-79.404625"], "hourly": ["precipitation"],
        "precipitation_unit": ["mm"], "timezone": ["GMT"], "forecast_hours": ["48"],
    }  # fmt: skip


def test_metric_units_and_unix_times_are_taken_as_given(
    http_server: LocalHTTPServer, fixtures_dir: Path, tmp_path: Path
) -> None:
    data = load(fixtures_dir, FORECAST)
    data["utc_offset_seconds"] = 0
    data["hourly_units"].update(precipitation="mm", time="unixtime")
    start = int(datetime(2026, 3, 4, tzinfo=UTC).timestamp())
    data["hourly"]["time"] = [start + 3600 * i for i in range(192)]
    http_server.serve("/v1/forecast", dumps(data))

    readings = feed(http_server, tmp_path).fetch(datetime(2026, 3, 7, tzinfo=UTC))

    assert readings[0].observed_at == datetime(2026, 3, 7, 1, 0, tzinfo=UTC)
    assert readings[0].value == 1.008  # already millimetres: not converted
    assert len(readings) == 192 - 73


def edit(fixtures: Path, change: Any) -> bytes:
    data = load(fixtures, FORECAST)
    change(data["hourly"])
    return dumps(data)


WET = 72  # index of 2026-03-07T00:00 local, 0.256 in


@pytest.mark.parametrize(
    ("change", "reason", "lost"),
    [
        (lambda h: h["precipitation"].__setitem__(WET, float("nan")), "nan", 0.256),
        (lambda h: h["precipitation"].__setitem__(WET, None), "empty", 0.256),
        (lambda h: h["precipitation"].__setitem__(WET, -999999), "no_data_value", 0.256),
        (lambda h: h["precipitation"].__setitem__(WET, -0.5), "negative", 0.256),
        (lambda h: h["precipitation"].__setitem__(WET, "lots"), "unparseable_value", 0.256),
        (lambda h: h["time"].__setitem__(WET, "7 March"), "unparseable_time", 0.256),
        (lambda h: h["time"].__setitem__(WET, None), "unparseable_time", 0.256),
        (lambda h: h["precipitation"].pop(), "malformed", 0.0),
    ],
)
def test_a_bad_hour_is_skipped_and_counted(
    http_server: LocalHTTPServer,
    fixtures_dir: Path,
    tmp_path: Path,
    change: Any,
    reason: str,
    lost: float,
) -> None:
    http_server.serve("/v1/forecast", edit(fixtures_dir, change))
    f = feed(http_server, tmp_path)
    readings = f.fetch(NOW)
    assert f.rejected == {reason: 1}
    assert len(readings) == 145
    assert sum(r.value for r in readings) == pytest.approx((1.928 - lost) * 25.4)
    assert f.degraded is False


def test_duplicates_and_disorder(
    http_server: LocalHTTPServer, fixtures_dir: Path, tmp_path: Path
) -> None:
    def shuffle(h: dict[str, Any]) -> None:
        h["time"] = list(reversed(h["time"])) + [h["time"][WET]]
        h["precipitation"] = list(reversed(h["precipitation"])) + [9.9]

    http_server.serve("/v1/forecast", edit(fixtures_dir, shuffle))
    f = feed(http_server, tmp_path)
    readings = f.fetch(NOW)
    assert len(readings) == 146
    assert readings == sorted(readings, key=lambda r: r.observed_at)
    assert f.rejected == {"duplicate": 1}
    assert sum(r.value for r in readings) == pytest.approx(1.928 * 25.4)  # the first is kept


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["hourly_units"].update(precipitation="furlong"), "unknown precipitation unit"),
        (lambda d: d["hourly_units"].pop("precipitation"), "not an hourly precipitation"),
        (lambda d: d.pop("hourly"), "not an hourly precipitation"),
        (lambda d: d.update(utc_offset_seconds="-5h"), "not an offset"),
        (lambda d: d["hourly"].update(time="2026-03-04T00:00"), "not lists"),
    ],
)
def test_a_payload_that_cannot_be_read_fails_the_fetch(
    http_server: LocalHTTPServer, fixtures_dir: Path, tmp_path: Path, change: Any, message: str
) -> None:
    data = load(fixtures_dir, FORECAST)
    change(data)
    http_server.serve("/v1/forecast", dumps(data))
    f = feed(http_server, tmp_path)
    with pytest.raises(FeedError, match=message):
        f.fetch(NOW)
    assert f.degraded is True
    assert len(http_server.requests) == 1  # a well-formed answer of the wrong shape: no retry


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"latitude": 91}, "less than or equal to 90"),
        ({"forecast_hours": 0}, "greater than or equal to 1"),
        ({"station": ""}, "at least 1"),
        ({"hourly": "rain"}, "Extra inputs"),
    ],
)
def test_options_are_checked(options: dict[str, Any], message: str) -> None:
    base = {"station": "toronto", "latitude": 43.7, "longitude": -79.4}
    with pytest.raises(ValidationError, match=message):
        OpenMeteoFeed.Options.model_validate(base | options)


def test_an_hour_with_a_byte_that_is_not_utf8_is_skipped_and_counted(
    http_server: LocalHTTPServer, fixtures_dir: Path, tmp_path: Path
) -> None:
    data = load(fixtures_dir, FORECAST)
    data["hourly"]["time"][WET] = "2026-03-07T00:00@@BAD@@"
    http_server.serve("/v1/forecast", spoiled(data, "@@BAD@@"))
    f = feed(http_server, tmp_path)
    readings = f.fetch(NOW)
    assert len(readings) == 145
    assert sum(r.value for r in readings) == pytest.approx((1.928 - 0.256) * 25.4)
    assert f.rejected == {"undecodable": 1}
