"""uk_ea on the recorded station and /id/floods answers, and on payloads with bad items."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import ValidationError

from floodwatch.feeds.base import FeedError
from floodwatch.feeds.official import OfficialWarning
from floodwatch.feeds.uk_ea import SEVERITY_LEVELS, UkEaFeed
from floodwatch.readings import Reading

from .conftest import LocalHTTPServer
from .feed_support import Sleeps, context, dumps, load, raw

STATION = "uk_ea/station_E21836.json"
FLOODS = "uk_ea/floods.json"
BASE = "/flood-monitoring"
NOW = datetime(2022, 10, 8, 7, 0, tzinfo=UTC)


def feed(server: LocalHTTPServer, tmp_path: Path, **options: Any) -> UkEaFeed:
    opts = {"base_url": server.url + BASE, "stations": ["E21836"]} | options
    f = UkEaFeed("ea", UkEaFeed.Options.model_validate(opts), context(tmp_path))
    f.sleep = Sleeps()
    return f


def test_the_latest_reading_of_the_recorded_station(
    http_server: LocalHTTPServer, fixtures_dir: Path, tmp_path: Path
) -> None:
    http_server.serve(f"{BASE}/id/stations/E21836", raw(fixtures_dir, STATION))
    f = feed(http_server, tmp_path)

    readings = f.fetch(NOW)

    assert readings == [
        Reading("E21836", "stage", 0.081, "m", datetime(2022, 10, 8, 6, 30, tzinfo=UTC))
    ]
    assert f.rejected == {}
    assert f.degraded is False
    assert f.degraded_stations == set()
    assert f.fetch_warnings(NOW) == []  # warnings not asked for: nothing fetched
    assert len(http_server.requests) == 1


def measure(fixtures: Path, **changes: Any) -> dict[str, Any]:
    m: dict[str, Any] = copy.deepcopy(load(fixtures, STATION)["items"]["measures"])
    for key, value in changes.items():
        if key.startswith("reading_"):
            m["latestReading"][key.removeprefix("reading_")] = value
        else:
            m[key] = value
    return m


def station_with(fixtures: Path, measures: list[dict[str, Any]]) -> bytes:
    data = load(fixtures, STATION)
    data["items"]["measures"] = measures
    return dumps(data)


def test_several_measures_map_to_parameters_and_datums(
    http_server: LocalHTTPServer, fixtures_dir: Path, tmp_path: Path
) -> None:
    measures = [
        measure(fixtures_dir),
        measure(fixtures_dir, unitName="mAOD", reading_value=28.522),
        measure(fixtures_dir, qualifier="Downstream Stage", reading_value=0.05),
        measure(fixtures_dir, parameter="flow", qualifier="", unitName="m3/s", reading_value=1.4),
        measure(fixtures_dir, parameter="rainfall", qualifier="Tipping Bucket Raingauge",
                unitName="mm", reading_value=0.2),
    ]  # fmt: skip
    http_server.serve(f"{BASE}/id/stations/E21836", station_with(fixtures_dir, measures))
    f = feed(http_server, tmp_path)
    at = datetime(2022, 10, 8, 6, 30, tzinfo=UTC)
    assert f.fetch(NOW) == [
        Reading("E21836", "discharge", 1.4, "m3/s", at),
        Reading("E21836", "rain", 0.2, "mm", at),
        Reading("E21836", "stage", 0.081, "m", at),
        Reading("E21836", "stage_aod", 28.522, "m", at),
        Reading("E21836", "stage_downstream", 0.05, "m", at),
    ]
    assert f.rejected == {}


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"reading_value": float("nan")}, "nan"),
        ({"reading_value": -999999}, "no_data_value"),
        ({"reading_value": None}, "empty"),
        ({"reading_value": [0.081, 0.082]}, "ambiguous_value"),
        ({"reading_value": "high"}, "unparseable_value"),
        ({"reading_dateTime": "08/10/2022 06:30"}, "unparseable_time"),
        ({"reading_dateTime": "2022-10-08T08:30:00Z"}, "future"),
        ({"latestReading": "http://environment.data.gov.uk/flood-monitoring/data/readings/x"},
         "empty"),
        ({"parameter": "wind"}, "unknown_parameter"),
        ({"qualifier": "Logged"}, "unknown_parameter"),
        ({"unitName": "mBDAT"}, "unknown_unit"),
    ],
)  # fmt: skip
def test_a_bad_measure_is_skipped_and_counted(
    http_server: LocalHTTPServer,
    fixtures_dir: Path,
    tmp_path: Path,
    changes: dict[str, Any],
    reason: str,
) -> None:
    other = measure(fixtures_dir, qualifier="Downstream Stage", reading_value=0.05)
    bad = measure(fixtures_dir, **changes)
    http_server.serve(f"{BASE}/id/stations/E21836", station_with(fixtures_dir, [bad, other]))
    f = feed(http_server, tmp_path)
    assert [r.parameter for r in f.fetch(NOW)] == ["stage_downstream"]
    assert f.rejected == {reason: 1}
    assert f.degraded is False


def test_duplicates_and_disorder(
    http_server: LocalHTTPServer, fixtures_dir: Path, tmp_path: Path
) -> None:
    late = measure(fixtures_dir, parameter="flow", unitName="m3/s", reading_value=2.0)
    early = measure(fixtures_dir, qualifier="Downstream Stage",
                    reading_dateTime="2022-10-08T06:00:00Z", reading_value=0.04)  # fmt: skip
    first = measure(fixtures_dir)
    again = measure(fixtures_dir, reading_value=0.5)  # the same time, another value
    http_server.serve(
        f"{BASE}/id/stations/E21836", station_with(fixtures_dir, [late, first, early, again])
    )
    f = feed(http_server, tmp_path)
    readings = f.fetch(NOW)
    assert [(r.parameter, r.value) for r in readings] == [
        ("stage_downstream", 0.04), ("discharge", 2.0), ("stage", 0.081),
    ]  # fmt: skip
    assert f.rejected == {"duplicate": 1}


def test_one_failing_station_does_not_lose_the_others(
    http_server: LocalHTTPServer,
    fixtures_dir: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    http_server.serve(f"{BASE}/id/stations/E21836", raw(fixtures_dir, STATION))
    http_server.serve(f"{BASE}/id/stations/E99999", b"", status=500)
    f = feed(http_server, tmp_path, stations=["E21836", "E99999"], retries=1)

    assert [r.value for r in f.fetch(NOW)] == [0.081]
    assert f.degraded is True
    assert f.degraded_stations == {"E99999"}
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "E99999" in errors[0] and "HTTP 500" in errors[0]

    http_server.serve(f"{BASE}/id/stations/E99999", raw(fixtures_dir, STATION))
    f.fetch(NOW)
    assert f.degraded is False
    assert f.degraded_stations == set()


def test_every_station_failing_fails_the_fetch(
    http_server: LocalHTTPServer, tmp_path: Path
) -> None:
    f = feed(http_server, tmp_path, stations=["E1", "E2"], retries=0)
    with pytest.raises(FeedError, match="all 2 stations failed"):
        f.fetch(NOW)
    assert f.degraded is True
    assert f.degraded_stations == {"E1", "E2"}


# -- warnings --------------------------------------------------------------------------------


def warnings_feed(server: LocalHTTPServer, tmp_path: Path, **options: Any) -> UkEaFeed:
    return feed(server, tmp_path, stations=[], warnings=True, **options)


def test_the_recorded_flood_warnings(
    http_server: LocalHTTPServer, fixtures_dir: Path, tmp_path: Path
) -> None:
    http_server.serve(f"{BASE}/id/floods", raw(fixtures_dir, FLOODS))
    f = warnings_feed(http_server, tmp_path)

    got = f.fetch_warnings(datetime(2018, 10, 30, 13, 0, tzinfo=UTC))

    assert [(w.id, w.msg_type, w.in_force) for w in got] == [
        ("122WAC952", "Cancel", False),
        ("122WAC955", "Cancel", False),
        ("122WAC953", "Cancel", False),
        ("122WAC954", "Cancel", False),
        ("122WAC956", "Cancel", False),
        ("054WATBT2", "Alert", True),
    ]
    assert got[0] == OfficialWarning(
        source="uk_ea",
        id="122WAC952",
        references=(),
        msg_type="Cancel",
        status="Actual",
        event="Warning no longer in force",
        severity="Minor",
        urgency="Past",
        certainty="Unlikely",
        headline="Warning no longer in force: "
        "North Sea coast from Staithes to Whitby including tidal River Esk",
        description="Winds and tides are now reducing.",
        areas=("North Sea coast from Staithes to Whitby including tidal River Esk",),
        area_codes=("122WAC952",),
        sent=datetime(2018, 10, 30, 11, 12, tzinfo=UTC),
        effective=datetime(2018, 10, 30, 11, 12, tzinfo=UTC),
        expires=None,
        in_force=False,
    )
    yare = got[-1]
    assert (yare.event, yare.severity, yare.urgency, yare.certainty) == (
        "Flood Alert", "Moderate", "Expected", "Possible",
    )  # fmt: skip
    assert (
        yare.headline == "Flood Alert: The tidal River Yare from Thorpe St Andrew to Breydon Water"
    )
    assert yare.description.startswith("This message has been issued because there is a possib")
    assert yare.description.endswith("We are monitoring the situation and will update this "
                                      "message as necessary.")  # fmt: skip
    assert yare.sent == yare.effective == datetime(2018, 10, 30, 10, 33, tzinfo=UTC)
    assert yare.area_codes == ("054WATBT2",)
    assert f.rejected == {}
    assert f.degraded is False
    assert f.fetch(NOW) == []  # no stations configured: no readings, no request
    assert len(http_server.requests) == 1


def flood_item(fixtures: Path, **changes: Any) -> dict[str, Any]:
    item: dict[str, Any] = load(fixtures, FLOODS)["items"][5]
    item.update(changes)
    return item


@pytest.mark.parametrize(
    ("level", "event", "severity", "urgency", "certainty", "msg_type", "in_force"),
    [
        (1, "Severe Flood Warning", "Extreme", "Immediate", "Likely", "Alert", True),
        (2, "Flood Warning", "Severe", "Immediate", "Likely", "Alert", True),
        (3, "Flood Alert", "Moderate", "Expected", "Possible", "Alert", True),
        (4, "Warning no longer in force", "Minor", "Past", "Unlikely", "Cancel", False),
    ],
)
def test_each_severity_level_maps_explicitly(
    http_server: LocalHTTPServer,
    fixtures_dir: Path,
    tmp_path: Path,
    level: int,
    event: str,
    severity: str,
    urgency: str,
    certainty: str,
    msg_type: str,
    in_force: bool,
) -> None:
    item = flood_item(fixtures_dir, severityLevel=level)
    del item["severity"]  # the mapping, not EA's text, names the event
    http_server.serve(f"{BASE}/id/floods", dumps({"items": [item]}))
    [w] = warnings_feed(http_server, tmp_path).fetch_warnings(NOW)
    assert (w.event, w.severity, w.urgency, w.certainty, w.msg_type, w.in_force) == (
        event, severity, urgency, certainty, msg_type, in_force,
    )  # fmt: skip
    assert SEVERITY_LEVELS[level].name == event


def test_a_changed_message_is_an_update(
    http_server: LocalHTTPServer, fixtures_dir: Path, tmp_path: Path
) -> None:
    item = flood_item(fixtures_dir, severityLevel=2, timeSeverityChanged="2018-10-30T12:00:00",
                      timeMessageChanged="2018-10-30T12:05:00")  # fmt: skip
    http_server.serve(f"{BASE}/id/floods", dumps({"items": [item]}))
    [w] = warnings_feed(http_server, tmp_path).fetch_warnings(NOW)
    assert (w.id, w.msg_type, w.severity) == ("054WATBT2", "Update", "Severe")
    assert w.sent == datetime(2018, 10, 30, 12, 5, tzinfo=UTC)
    assert w.effective == datetime(2018, 10, 30, 12, 0, tzinfo=UTC)


def test_naive_warning_times_are_read_in_the_configured_zone(
    http_server: LocalHTTPServer, fixtures_dir: Path, tmp_path: Path
) -> None:
    item = flood_item(fixtures_dir, timeRaised="2018-07-30T10:33:00",
                      timeMessageChanged="2018-07-30T10:33:00")  # fmt: skip
    http_server.serve(f"{BASE}/id/floods", dumps({"items": [item]}))
    f = warnings_feed(http_server, tmp_path, naive_time_zone="Europe/London")
    [w] = f.fetch_warnings(NOW)
    assert w.sent == datetime(2018, 7, 30, 9, 33, tzinfo=UTC)  # BST


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"severityLevel": 5}, "unknown_severity"),
        ({"severityLevel": "3"}, "unknown_severity"),
        ({"severityLevel": None}, "unknown_severity"),
        ({"floodAreaID": None}, "malformed"),
        ({"timeRaised": "30/10/2018"}, "unparseable_time"),
    ],
)
def test_a_bad_warning_is_skipped_and_counted(
    http_server: LocalHTTPServer,
    fixtures_dir: Path,
    tmp_path: Path,
    changes: dict[str, Any],
    reason: str,
) -> None:
    items = load(fixtures_dir, FLOODS)["items"]
    items[5].update(changes)
    items.append("not an object")
    http_server.serve(f"{BASE}/id/floods", dumps({"items": items}))
    f = warnings_feed(http_server, tmp_path)
    assert len(f.fetch_warnings(NOW)) == 5
    expected = {reason: 1, "malformed": 1} if reason != "malformed" else {"malformed": 2}
    assert f.rejected == expected


def test_warnings_are_filtered_and_deduplicated(
    http_server: LocalHTTPServer, fixtures_dir: Path, tmp_path: Path
) -> None:
    items = load(fixtures_dir, FLOODS)["items"]
    http_server.serve(f"{BASE}/id/floods", dumps({"items": items + [items[5]]}))
    f = warnings_feed(
        http_server, tmp_path, county="Norfolk", min_severity=3,
        flood_areas=["054WATBT2", "122WAC955"],
    )  # fmt: skip
    assert [w.id for w in f.fetch_warnings(NOW)] == ["122WAC955", "054WATBT2"]
    assert f.rejected == {"duplicate": 1}
    query = parse_qs(urlsplit(http_server.requests[0][1]).query)
    assert query == {"county": ["Norfolk"], "min-severity": ["3"]}


def test_one_feed_reads_stations_and_warnings(
    http_server: LocalHTTPServer, fixtures_dir: Path, tmp_path: Path
) -> None:
    http_server.serve(f"{BASE}/id/stations/E21836", raw(fixtures_dir, STATION))
    http_server.serve(f"{BASE}/id/floods", raw(fixtures_dir, FLOODS))
    f = feed(http_server, tmp_path, warnings=True)
    assert len(f.fetch(NOW)) == 1
    assert len(f.fetch_warnings(NOW)) == 6


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "set stations, or warnings: true"),
        ({"stations": ["E 21836"]}, "not EA station references"),
        ({"warnings": True, "min_severity": 5}, "less than or equal to 4"),
        ({"warnings": True, "naive_time_zone": "Mars/Olympus"}, "unknown time zone"),
        ({"warnings": True, "station": "E21836"}, "Extra inputs"),
    ],
)
def test_options_are_checked(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        UkEaFeed.Options.model_validate(options)
