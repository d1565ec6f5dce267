"""uk_ea on the recorded station and /id/floods answers, and on payloads with bad items; the
station's readings since the newest stored one, asked for when the latest may not reach back."""

from __future__ import annotations

import copy
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import ValidationError

from floodwatch.feeds.base import FeedError
from floodwatch.feeds.official import OfficialWarning
from floodwatch.feeds.uk_ea import READINGS_LIMIT, SEVERITY_LEVELS, UkEaFeed
from floodwatch.readings import Reading

from .conftest import LocalHTTPServer
from .feed_support import Sleeps, context, dumps, load, raw, spoiled

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


def test_one_byte_that_is_not_utf8_costs_only_its_measure(
    http_server: LocalHTTPServer, fixtures_dir: Path, tmp_path: Path
) -> None:
    bad = measure(fixtures_dir, stationReference="E21@@BAD@@836")
    other = measure(fixtures_dir, qualifier="Downstream Stage", reading_value=0.05)
    data = load(fixtures_dir, STATION)
    data["items"]["measures"] = [bad, other]
    http_server.serve(f"{BASE}/id/stations/E21836", spoiled(data, "@@BAD@@"))
    f = feed(http_server, tmp_path)
    assert f.fetch(NOW) == [Reading("E21836", "stage_downstream", 0.05, "m", AT)]
    assert f.rejected == {"undecodable": 1}


def test_a_garbled_letter_in_a_warning_text_keeps_the_warning_one_in_its_id_does_not(
    http_server: LocalHTTPServer, fixtures_dir: Path, tmp_path: Path
) -> None:
    items = load(fixtures_dir, FLOODS)["items"]
    items[5]["message"] = "River levels are rising at Hellesdon@@BAD@@."
    items[4]["floodAreaID"] = "122WAC9@@BAD@@55"
    http_server.serve(f"{BASE}/id/floods", spoiled({"items": items}, "@@BAD@@"))
    f = warnings_feed(http_server, tmp_path)
    warnings = f.fetch_warnings(NOW)
    assert [w.id for w in warnings] == [i["floodAreaID"] for i in items[:4]] + ["054WATBT2"]
    assert warnings[-1].description == "River levels are rising at Hellesdon\ufffd."
    assert f.rejected == {"undecodable": 1}


# -- readings since the newest stored one ------------------------------------------------------

AT = datetime(2022, 10, 8, 6, 30, tzinfo=UTC)  # the recorded latest reading
READINGS = f"{BASE}/id/stations/E21836/readings"


def listed(fixtures: Path, at: datetime, value: float) -> dict[str, Any]:
    """An item of EA's readings list: the recorded latestReading (exactly an item's shape, as
    EA's reference documents it; no readings list was recorded) at another time and value."""
    item: dict[str, Any] = copy.deepcopy(
        load(fixtures, STATION)["items"]["measures"]["latestReading"]
    )
    stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    item.update(dateTime=stamp, date=stamp[:10], value=value)
    item["@id"] = item["@id"].rsplit("/", 1)[0] + "/" + stamp.replace(":", "-")
    return item


def serve_readings(server: LocalHTTPServer, items: list[dict[str, Any]]) -> None:
    server.serve(READINGS, dumps({"items": items}))


def readings_asked(server: LocalHTTPServer) -> list[dict[str, list[str]]]:
    return [
        parse_qs(urlsplit(path).query, keep_blank_values=True)
        for _, path, _ in server.requests
        if urlsplit(path).path == READINGS
    ]


def test_after_resume_the_station_readings_since_the_stored_one_are_asked(
    http_server: LocalHTTPServer, fixtures_dir: Path, tmp_path: Path
) -> None:
    http_server.serve(f"{BASE}/id/stations/E21836", raw(fixtures_dir, STATION))
    times = [AT - timedelta(minutes=15 * i) for i in range(5)]  # 06:30 back to 05:30, newest first
    values = [0.081, 0.079, 0.078, 0.077, 0.076]
    serve_readings(
        http_server, [listed(fixtures_dir, t, v) for t, v in zip(times, values, strict=True)]
    )
    f = feed(http_server, tmp_path)
    f.resume(times[-1])

    readings = f.fetch(NOW)

    assert [(r.observed_at, r.value) for r in readings] == [
        (times[4], 0.076), (times[3], 0.077), (times[2], 0.078), (times[1], 0.079),
        (AT, 0.081),  # the latest reading, listed too: once
    ]  # fmt: skip
    assert f.rejected == {}  # the latest, listed again, is no duplicate of the source's
    assert readings_asked(http_server) == [
        {"_sorted": [""], "since": ["2022-10-08T05:30:00Z"], "_limit": [str(READINGS_LIMIT)]}
    ]
    f.commit(readings)
    assert f.fetch(NOW) == readings[-1:]
    assert len(readings_asked(http_server)) == 1  # caught up: the latest reading is enough


def test_readings_sent_in_a_batch_are_asked_for_even_when_caught_up(
    http_server: LocalHTTPServer, fixtures_dir: Path, tmp_path: Path
) -> None:
    http_server.serve(f"{BASE}/id/stations/E21836", raw(fixtures_dir, STATION))
    f = feed(http_server, tmp_path)
    f.commit(f.fetch(NOW))

    # the next transfer brings two hours at once: the latest is 8 periods after the stored one
    later = AT + timedelta(hours=2)
    batch = station_with(fixtures_dir, [measure(fixtures_dir, reading_dateTime=later.strftime(
        "%Y-%m-%dT%H:%M:%SZ"), reading_value=0.2)])  # fmt: skip
    http_server.serve(f"{BASE}/id/stations/E21836", batch)
    between = [AT + timedelta(minutes=15 * i) for i in range(8, 0, -1)]
    serve_readings(http_server, [listed(fixtures_dir, t, 0.1) for t in between])
    readings = f.fetch(NOW + timedelta(hours=2))
    assert [r.observed_at for r in readings] == sorted(between)
    assert [q["since"] for q in readings_asked(http_server)] == [["2022-10-08T06:30:00Z"]]

    # one period later: nothing can be between, so nothing more is asked
    f.commit(readings)
    step = later + timedelta(minutes=15)
    http_server.serve(f"{BASE}/id/stations/E21836", station_with(fixtures_dir, [measure(
        fixtures_dir, reading_dateTime=step.strftime("%Y-%m-%dT%H:%M:%SZ"))]))  # fmt: skip
    assert [r.observed_at for r in f.fetch(step)] == [step]
    assert len(readings_asked(http_server)) == 1


def test_a_listed_reading_of_a_measure_the_station_does_not_list_is_counted(
    http_server: LocalHTTPServer, fixtures_dir: Path, tmp_path: Path
) -> None:
    http_server.serve(f"{BASE}/id/stations/E21836", raw(fixtures_dir, STATION))
    stranger = listed(fixtures_dir, AT - timedelta(minutes=15), 1.0)
    stranger["measure"] = stranger["measure"].replace("level-stage", "flow--i")
    bad_time = listed(fixtures_dir, AT - timedelta(minutes=30), 1.0)
    bad_time["dateTime"] = "08/10/2022 06:00"
    serve_readings(
        http_server, [stranger, bad_time, listed(fixtures_dir, AT - timedelta(minutes=45), 0.07)]
    )
    f = feed(http_server, tmp_path)
    f.resume(AT - timedelta(hours=1))
    assert [(r.observed_at, r.value) for r in f.fetch(NOW)] == [
        (AT - timedelta(minutes=45), 0.07), (AT, 0.081),
    ]  # fmt: skip
    assert f.rejected == {"unknown_parameter": 1, "unparseable_time": 1}


def test_a_failing_readings_request_keeps_the_latest_and_is_made_again(
    http_server: LocalHTTPServer,
    fixtures_dir: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    http_server.serve(f"{BASE}/id/stations/E21836", raw(fixtures_dir, STATION))
    http_server.serve(READINGS, b"", status=503)
    f = feed(http_server, tmp_path, retries=0)
    f.resume(AT - timedelta(hours=1))
    latest = f.fetch(NOW)
    assert latest == [Reading("E21836", "stage", 0.081, "m", AT)]
    assert f.degraded is False  # the station answered; the gap is asked for again
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "readings?_sorted" in errors[0] and "HTTP 503" in errors[0]
    f.commit(latest)
    serve_readings(http_server, [listed(fixtures_dir, AT - timedelta(minutes=15), 0.079)])
    assert [r.observed_at for r in f.fetch(NOW)] == [AT - timedelta(minutes=15), AT]
    assert [q["since"] for q in readings_asked(http_server)] == [["2022-10-08T05:30:00Z"]] * 2


def test_the_window_is_cut_at_four_weeks_and_at_the_answer_limit(
    http_server: LocalHTTPServer, fixtures_dir: Path, tmp_path: Path
) -> None:
    http_server.serve(f"{BASE}/id/stations/E21836", raw(fixtures_dir, STATION))
    # as many as the limit, newest first, a minute apart: the answer was cut at the limit
    times = [AT - timedelta(minutes=i) for i in range(READINGS_LIMIT)]
    serve_readings(http_server, [listed(fixtures_dir, t, 0.08) for t in times])
    f = feed(http_server, tmp_path)
    stored = NOW - timedelta(days=40)
    f.resume(stored)
    assert len(f.fetch(NOW)) == READINGS_LIMIT
    cut = NOW - timedelta(days=28)
    assert [q["since"] for q in readings_asked(http_server)] == [["2022-09-10T07:00:00Z"]]
    assert f.uncovered == [(stored, cut), (cut, times[-1])]


def test_a_station_that_failed_while_others_were_stored_is_asked_from_where_it_stood(
    http_server: LocalHTTPServer, fixtures_dir: Path, tmp_path: Path
) -> None:
    def as_station(ref: str, body: bytes) -> bytes:
        return body.replace(b"E21836", ref.encode())

    other = f"{BASE}/id/stations/E21837"
    http_server.serve(f"{BASE}/id/stations/E21836", raw(fixtures_dir, STATION))
    http_server.serve(other, as_station("E21837", raw(fixtures_dir, STATION)))
    f = feed(http_server, tmp_path, stations=["E21836", "E21837"], retries=0)
    f.commit(f.fetch(NOW))

    http_server.serve(other, b"", status=500)  # E21837 is down for two hours
    later = AT + timedelta(hours=2)
    stamp = later.strftime("%Y-%m-%dT%H:%M:%SZ")
    moved = station_with(fixtures_dir, [measure(fixtures_dir, reading_dateTime=stamp)])
    http_server.serve(f"{BASE}/id/stations/E21836", moved)
    serve_readings(http_server, [])
    f.commit(f.fetch(later))  # E21836 is stored up to 08:30; the feed's newest is 08:30
    assert f.degraded_stations == {"E21837"}

    http_server.serve(other, as_station("E21837", moved))
    gap = [AT + timedelta(minutes=15 * i) for i in range(8, 0, -1)]
    http_server.serve(
        f"{other}/readings",
        as_station("E21837", dumps({"items": [listed(fixtures_dir, t, 0.09) for t in gap]})),
    )
    readings = f.fetch(later)
    assert [r.observed_at for r in readings if r.station == "E21837"] == sorted(gap)
    asked = [
        parse_qs(urlsplit(path).query)["since"]
        for _, path, _ in http_server.requests
        if urlsplit(path).path == f"{other}/readings"
    ]
    assert asked == [["2022-10-08T06:30:00Z"]]  # where E21837 stood, not the feed's newest


def test_a_station_whose_batch_comes_later_is_asked_from_its_own_newest_reading(
    http_server: LocalHTTPServer, fixtures_dir: Path, tmp_path: Path
) -> None:
    def at(ref: str, when: datetime) -> bytes:
        stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        body = station_with(fixtures_dir, [measure(fixtures_dir, reading_dateTime=stamp)])
        return body.replace(b"E21836", ref.encode())

    def batch(ref: str, times: list[datetime]) -> bytes:
        return dumps({"items": [listed(fixtures_dir, t, 0.09) for t in times]}).replace(
            b"E21836", ref.encode()
        )

    first, second = (f"{BASE}/id/stations/{ref}" for ref in ("E21836", "E21837"))
    for path, ref in ((first, "E21836"), (second, "E21837")):
        http_server.serve(path, at(ref, AT))
        http_server.serve(f"{path}/readings", batch(ref, []))
    f = feed(http_server, tmp_path, stations=["E21836", "E21837"])
    f.commit(f.fetch(NOW))

    # E21836's next batch arrives; E21837's is late: its latest stays at 06:30
    two_hours = [AT + timedelta(minutes=15 * i) for i in range(8, 0, -1)]
    http_server.serve(first, at("E21836", two_hours[0]))
    http_server.serve(f"{first}/readings", batch("E21836", two_hours))
    f.commit(f.fetch(NOW + timedelta(hours=2)))  # the feed's newest stored is now 08:30

    four_hours = [AT + timedelta(minutes=15 * i) for i in range(16, 0, -1)]
    http_server.serve(second, at("E21837", four_hours[0]))
    http_server.serve(f"{second}/readings", batch("E21837", four_hours))
    readings = f.fetch(NOW + timedelta(hours=4))
    assert [r.observed_at for r in readings if r.station == "E21837"] == sorted(four_hours)
    asked = [
        parse_qs(urlsplit(path).query)["since"]
        for _, path, _ in http_server.requests
        if urlsplit(path).path == f"{second}/readings"
    ]
    assert asked == [["2022-10-08T06:30:00Z"]]  # its own newest, not the feed's 08:30
