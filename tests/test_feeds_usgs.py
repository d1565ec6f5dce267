"""usgs_iv on the recorded WaterML-JSON answers, and on payloads with bad items in them; the
window it asks for when it has fallen behind what is stored."""

from __future__ import annotations

import copy
import logging
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import ValidationError

from floodwatch.feeds.base import FeedError
from floodwatch.feeds.usgs import QualifiedReading, UsgsIvFeed
from floodwatch.readings import Reading

from .conftest import LocalHTTPServer
from .feed_support import Sleeps, context, dumps, load, raw, scripted_server, spoiled

LATEST = "usgs_nwis/waterservices_iv.json"
P1D = "usgs_nwis/iv_P1D_two_sites_00060_00065.json"
EST = timezone(timedelta(hours=-5))
CDT = EST  # the P1D file's Texas sites report -05:00 (CDT) in April


def feed(server: LocalHTTPServer, tmp_path: Path, **options: Any) -> UsgsIvFeed:
    opts = {"sites": ["01491000", "01645000"], "base_url": server.url + "/nwis/iv/"} | options
    f = UsgsIvFeed("usgs", UsgsIvFeed.Options.model_validate(opts), context(tmp_path))
    f.sleep = Sleeps()
    return f


def test_latest_values_of_two_sites_in_one_request(
    http_server: LocalHTTPServer, fixtures_dir: Path, tmp_path: Path
) -> None:
    http_server.serve("/nwis/iv/", raw(fixtures_dir, LATEST))
    f = feed(http_server, tmp_path)

    got = f.fetch_qualified(datetime(2020, 2, 14, tzinfo=UTC))

    greensboro = datetime(2020, 2, 13, 17, 15, tzinfo=EST)
    monocacy = datetime(2020, 2, 13, 16, 50, tzinfo=EST)
    assert got == [
        QualifiedReading(Reading("01645000", "discharge", 260.0, "ft3/s", monocacy), ("P",)),
        QualifiedReading(Reading("01645000", "stage", 2.68, "ft", monocacy), ("P",)),
        QualifiedReading(Reading("01491000", "discharge", 439.0, "ft3/s", greensboro), ("P",)),
        QualifiedReading(Reading("01491000", "stage", 4.36, "ft", greensboro), ("P",)),
    ]
    assert got[0].reading.observed_at == datetime(2020, 2, 13, 21, 50, tzinfo=UTC)
    assert f.qualifier_descriptions == {"P": "Provisional data subject to revision."}
    assert f.rejected == {}
    assert f.degraded is False
    [(method, path, headers)] = http_server.requests
    assert parse_qs(urlsplit(path).query) == {
        "format": ["json"], "sites": ["01491000,01645000"], "parameterCd": ["00065,00060"],
    }  # fmt: skip
    assert headers["User-Agent"].startswith("floodwatch/")


def test_fetch_returns_the_readings_without_qualifiers(
    http_server: LocalHTTPServer, fixtures_dir: Path, tmp_path: Path
) -> None:
    http_server.serve("/nwis/iv/", raw(fixtures_dir, LATEST))
    readings = feed(http_server, tmp_path).fetch(datetime(2020, 2, 14, tzinfo=UTC))
    assert [(r.station, r.parameter, r.value) for r in readings] == [
        ("01645000", "discharge", 260.0), ("01645000", "stage", 2.68),
        ("01491000", "discharge", 439.0), ("01491000", "stage", 4.36),
    ]  # fmt: skip


def test_a_day_of_fifteen_minute_values(
    http_server: LocalHTTPServer, fixtures_dir: Path, tmp_path: Path
) -> None:
    http_server.serve("/nwis/iv/", raw(fixtures_dir, P1D))
    f = feed(http_server, tmp_path, sites=["08061540", "08055000"], period="P1D")

    readings = f.fetch(datetime(2021, 4, 8, tzinfo=UTC))

    assert len(readings) == 93 + 93 + 95 + 95
    series = {
        (s, p): [r for r in readings if (r.station, r.parameter) == (s, p)]
        for s in ("08055000", "08061540") for p in ("stage", "discharge")
    }  # fmt: skip
    start = datetime(2021, 4, 6, 17, 30, tzinfo=CDT)
    assert series["08055000", "discharge"][0] == Reading(
        "08055000", "discharge", 321.0, "ft3/s", start
    )
    assert series["08055000", "discharge"][-1] == Reading(
        "08055000", "discharge", 163.0, "ft3/s", datetime(2021, 4, 7, 16, 30, tzinfo=CDT)
    )
    assert series["08055000", "stage"][0].value == 6.60
    assert series["08055000", "stage"][-1].value == 5.82
    assert series["08061540", "stage"][0] == Reading("08061540", "stage", 5.20, "ft", start)
    assert series["08061540", "stage"][-1] == Reading(
        "08061540", "stage", 5.19, "ft", datetime(2021, 4, 7, 17, 0, tzinfo=CDT)
    )
    assert series["08061540", "discharge"][-1].value == 98.3
    for rows in series.values():  # every 15 minutes, in order, no gap in this file
        steps = {b.observed_at - a.observed_at for a, b in zip(rows, rows[1:], strict=False)}
        assert steps == {timedelta(minutes=15)}
    assert parse_qs(urlsplit(http_server.requests[0][1]).query)["period"] == ["P1D"]
    assert f.rejected == {}


def test_values_observed_after_now_are_left_for_later(
    http_server: LocalHTTPServer, fixtures_dir: Path, tmp_path: Path
) -> None:
    http_server.serve("/nwis/iv/", raw(fixtures_dir, P1D))
    f = feed(http_server, tmp_path, sites=["08061540", "08055000"])
    readings = f.fetch(datetime(2021, 4, 7, 21, 30, tzinfo=UTC))
    assert max(r.observed_at for r in readings) == datetime(2021, 4, 7, 21, 30, tzinfo=UTC)
    assert f.rejected == {"future": 2 * 2}  # 08061540's 21:45 and 22:00, stage and discharge


def edit(fixtures: Path, change: Any) -> bytes:
    data = load(fixtures, LATEST)
    change(data["value"]["timeSeries"])
    return dumps(data)


def _value(series: list[Any], i: int) -> dict[str, Any]:
    point: dict[str, Any] = series[i]["values"][0]["value"][0]
    return point


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda s: _value(s, 0).update(value="-999999"), "no_data_value"),
        (lambda s: _value(s, 0).update(value="-999999.0", qualifiers=["Ice"]), "no_data_value"),
        (lambda s: _value(s, 0).update(value="NaN"), "nan"),
        (lambda s: _value(s, 0).update(value=float("nan")), "nan"),
        (lambda s: _value(s, 0).update(value="Infinity"), "nan"),
        (lambda s: _value(s, 0).update(value=""), "empty"),
        (lambda s: _value(s, 0).update(value=None), "empty"),
        (lambda s: _value(s, 0).pop("value"), "empty"),
        (lambda s: _value(s, 0).update(value="4.3x"), "unparseable_value"),
        (lambda s: _value(s, 0).update(dateTime="2020-02-13T17:15:00.000"), "unparseable_time"),
        (lambda s: _value(s, 0).update(dateTime="yesterday"), "unparseable_time"),
        (lambda s: _value(s, 0).pop("dateTime"), "unparseable_time"),
        (lambda s: s[0]["variable"]["variableCode"][0].update(value="00045"), "unknown_parameter"),
        (lambda s: s[0]["variable"]["unit"].update(unitCode="furlong/fortnight"), "unknown_unit"),
        (lambda s: s[0].pop("sourceInfo"), "malformed"),
        (lambda s: s[0]["values"][0]["value"].append("439"), "malformed"),
        (lambda s: s[0]["sourceInfo"]["siteCode"][0].update(value="0" * 201), "oversized"),
        (lambda s: s[0]["variable"]["unit"].update(unitCode="f" * 201), "oversized"),
        (lambda s: _value(s, 0).update(value="4" * 201), "oversized"),
    ],
)
def test_a_bad_item_is_skipped_and_counted(
    http_server: LocalHTTPServer,
    fixtures_dir: Path,
    tmp_path: Path,
    change: Any,
    reason: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    http_server.serve("/nwis/iv/", edit(fixtures_dir, change))
    f = feed(http_server, tmp_path)
    readings = f.fetch(datetime(2020, 2, 14, tzinfo=UTC))
    assert f.rejected == {reason: 1}
    assert len(readings) in (3, 4)  # the other series still arrive
    assert ("01491000", "stage", 4.36) in [(r.station, r.parameter, r.value) for r in readings]
    assert f.degraded is False
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert skipped == [f"feed usgs: skipped 1 item(s): {reason}=1"]


def test_duplicates_and_disorder(
    http_server: LocalHTTPServer, fixtures_dir: Path, tmp_path: Path
) -> None:
    data = load(fixtures_dir, P1D)
    for series in data["value"]["timeSeries"]:
        points = series["values"][0]["value"]
        points.reverse()
        points.append(copy.deepcopy(points[0]))  # the newest value, twice
    # a second method's series repeats the first one's times
    data["value"]["timeSeries"].append(copy.deepcopy(data["value"]["timeSeries"][0]))
    http_server.serve("/nwis/iv/", dumps(data))
    f = feed(http_server, tmp_path, sites=["08061540", "08055000"])

    readings = f.fetch(datetime(2021, 4, 8, tzinfo=UTC))

    assert len(readings) == 93 + 93 + 95 + 95
    assert readings == sorted(readings, key=lambda r: (r.observed_at, r.station, r.parameter))
    assert f.rejected == {"duplicate": 4 + 94}


def test_a_series_in_other_units_is_converted(
    http_server: LocalHTTPServer, fixtures_dir: Path, tmp_path: Path
) -> None:
    def metric(series: list[Any]) -> None:
        series[1]["variable"]["unit"]["unitCode"] = "m"  # 01491000 gage height
        _value(series, 1)["value"] = "1.2192"

    http_server.serve("/nwis/iv/", edit(fixtures_dir, metric))
    readings = feed(http_server, tmp_path).fetch(datetime(2020, 2, 14, tzinfo=UTC))
    [stage] = [r for r in readings if (r.station, r.parameter) == ("01491000", "stage")]
    assert stage.unit == "ft"
    assert stage.value == pytest.approx(4.0, abs=1e-12)


def test_sites_are_split_into_requests(
    http_server: LocalHTTPServer, fixtures_dir: Path, tmp_path: Path
) -> None:
    http_server.serve("/nwis/iv/", raw(fixtures_dir, LATEST))
    f = feed(http_server, tmp_path, sites_per_request=1)
    readings = f.fetch(datetime(2020, 2, 14, tzinfo=UTC))
    sites = [parse_qs(urlsplit(p).query)["sites"] for _, p, _ in http_server.requests]
    assert sites == [["01491000"], ["01645000"]]
    assert len(readings) == 4  # the local server answers both with both sites: repeats dropped
    assert f.rejected == {"duplicate": 4}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"sites": []}, "at least 1"),
        ({"sites": ["1491000x"]}, "not USGS site numbers"),
        ({"sites": ["01491000", "01491000"]}, "listed twice"),
        ({"sites": ["01491000"], "parameters": ["00045"]}, "unknown parameter codes 00045"),
        ({"sites": ["01491000"], "period": "7 days"}, "pattern"),
        ({"sites": ["01491000"], "base_url": "ftp://x"}, "pattern"),
        ({"sites": ["01491000"], "timeout": 0}, "greater than 0"),
        ({"sites": ["01491000"], "site": "01491000"}, "Extra inputs"),
    ],
)
def test_options_are_checked(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        UsgsIvFeed.Options.model_validate(options)


def test_one_byte_that_is_not_utf8_costs_only_its_value(
    http_server: LocalHTTPServer, fixtures_dir: Path, tmp_path: Path
) -> None:
    data = load(fixtures_dir, LATEST)
    point = _value(data["value"]["timeSeries"], 0)  # 01491000 discharge, "439"
    point["value"] = "43@@BAD@@9"
    http_server.serve("/nwis/iv/", spoiled(data, "@@BAD@@"))
    f = feed(http_server, tmp_path)
    readings = f.fetch(datetime(2020, 2, 14, tzinfo=UTC))
    assert [(r.station, r.parameter, r.value) for r in readings] == [
        ("01645000", "discharge", 260.0), ("01645000", "stage", 2.68),
        ("01491000", "stage", 4.36),
    ]  # fmt: skip
    assert f.rejected == {"undecodable": 1}
    assert f.degraded is False


# -- the window: from the newest stored observation when behind it ----------------------------

NOW = datetime(2020, 2, 14, tzinfo=UTC)
NEWEST = datetime(2020, 2, 13, 22, 15, tzinfo=UTC)  # the recorded answer's newest value


def asked(server: LocalHTTPServer) -> list[dict[str, list[str]]]:
    return [parse_qs(urlsplit(path).query) for _, path, _ in server.requests]


def test_after_resume_the_request_asks_from_the_newest_stored_observation(
    http_server: LocalHTTPServer, fixtures_dir: Path, tmp_path: Path
) -> None:
    http_server.serve("/nwis/iv/", raw(fixtures_dir, LATEST))
    f = feed(http_server, tmp_path)
    f.resume(datetime(2020, 2, 13, 20, 0, tzinfo=UTC))  # the service was down two hours
    readings = f.fetch(NOW)
    assert len(readings) == 4
    [first] = asked(http_server)
    assert first["startDT"] == ["2020-02-13T20:00:00+00:00"]
    assert "period" not in first

    f.commit(readings)
    f.fetch(NOW)
    assert "startDT" not in asked(http_server)[1]  # caught up: the latest values again
    assert f.uncovered == []


def test_a_store_that_failed_makes_the_next_request_reach_back_to_the_last_stored(
    http_server: LocalHTTPServer, fixtures_dir: Path, tmp_path: Path
) -> None:
    http_server.serve("/nwis/iv/", raw(fixtures_dir, LATEST))
    f = feed(http_server, tmp_path)
    f.commit(f.fetch(NOW))
    held = f.fetch(NOW)  # the database refuses these
    assert f.fetch(NOW) == held
    assert [q.get("startDT") for q in asked(http_server)] == [None, None, [NEWEST.isoformat()]]


def test_a_source_outage_makes_the_next_request_reach_back_to_the_last_stored(
    http_server: LocalHTTPServer, fixtures_dir: Path, tmp_path: Path
) -> None:
    http_server.serve("/nwis/iv/", raw(fixtures_dir, LATEST))
    f = feed(http_server, tmp_path, retries=0)
    f.commit(f.fetch(NOW))
    http_server.serve("/nwis/iv/", b"", status=503)
    with pytest.raises(FeedError):
        f.fetch(NOW)
    http_server.serve("/nwis/iv/", raw(fixtures_dir, LATEST))
    f.commit(f.fetch(NOW))
    f.fetch(NOW)
    # the fetch before, the failing one, the one after (reaching back), and caught up again
    assert [q.get("startDT") for q in asked(http_server)] == [
        None, None, [NEWEST.isoformat()], None,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("stored", "window"),
    [
        (timedelta(hours=2), {"period": ["P1D"]}),  # the look-back covers it: asked as it is
        (timedelta(days=3), {"startDT": ["2020-02-11T00:00:00+00:00"]}),
    ],
)
def test_a_period_is_kept_while_it_reaches_back_far_enough(
    http_server: LocalHTTPServer,
    fixtures_dir: Path,
    tmp_path: Path,
    stored: timedelta,
    window: dict[str, list[str]],
) -> None:
    http_server.serve("/nwis/iv/", raw(fixtures_dir, LATEST))
    f = feed(http_server, tmp_path, period="P1D")
    f.resume(NOW - stored)
    f.fetch(NOW)
    [query] = asked(http_server)
    assert {k: v for k, v in query.items() if k in ("period", "startDT")} == window


def test_a_window_beyond_120_days_is_cut_and_the_lost_span_logged_once(
    http_server: LocalHTTPServer,
    fixtures_dir: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    http_server.serve("/nwis/iv/", raw(fixtures_dir, LATEST))
    f = feed(http_server, tmp_path)
    stored = NOW - timedelta(days=200)
    f.resume(stored)
    assert len(f.fetch(NOW)) == 4
    assert len(f.fetch(NOW)) == 4  # not stored: asked again, the same way
    cut = NOW - timedelta(days=120)
    assert [q["startDT"] for q in asked(http_server)] == [[cut.isoformat()]] * 2
    assert f.uncovered == [(stored, cut)]
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert lines == [
        "feed usgs: readings from 2019-07-29T00:00:00+00:00 to 2019-10-17T00:00:00+00:00 "
        "cannot be asked for: the USGS IV service keeps 120 days"
    ]


def test_qualifiers_stay_beside_readings_returned_again(
    http_server: LocalHTTPServer, fixtures_dir: Path, tmp_path: Path
) -> None:
    http_server.serve("/nwis/iv/", raw(fixtures_dir, LATEST))
    f = feed(http_server, tmp_path)
    first = f.fetch_qualified(NOW)
    http_server.serve("/nwis/iv/", dumps({"value": {"timeSeries": []}}))  # nothing new
    assert f.fetch_qualified(NOW) == first  # not stored: returned again, qualifiers and all


def test_a_request_that_failed_while_the_others_were_stored_asks_from_where_its_sites_stood(
    fixtures_dir: Path, tmp_path: Path
) -> None:
    recorded = load(fixtures_dir, LATEST)

    def only(site: str, moved: timedelta = timedelta(0)) -> bytes:
        data = copy.deepcopy(recorded)
        series = data["value"]["timeSeries"]
        data["value"]["timeSeries"] = [
            s for s in series if s["sourceInfo"]["siteCode"][0]["value"] == site
        ]
        for s in data["value"]["timeSeries"]:
            point = s["values"][0]["value"][0]
            when = datetime.fromisoformat(point["dateTime"]) + moved
            point["dateTime"] = when.isoformat()
        return dumps(data)

    down: set[str] = set()
    moved = {"01491000": timedelta(0), "01645000": timedelta(0)}
    asked: list[tuple[str, str | None]] = []

    def answer(path: str, query: dict[str, list[str]]) -> tuple[int, bytes]:
        [site] = query["sites"]
        asked.append((site, query.get("startDT", [None])[0]))
        return (503, b"") if site in down else (200, only(site, moved[site]))

    with scripted_server(answer) as url:
        opts = {"sites": ["01491000", "01645000"], "base_url": url + "/nwis/iv/",
                "sites_per_request": 1, "retries": 0}  # fmt: skip
        f = UsgsIvFeed("usgs", UsgsIvFeed.Options.model_validate(opts), context(tmp_path))
        f.commit(f.fetch(NOW))  # 01491000 stands at 22:15 UTC, 01645000 at 21:50

        down.add("01645000")  # for two hours, while 01491000 reports and is stored
        for hours in (1, 2):
            moved["01491000"] = timedelta(hours=hours)
            f.commit(f.fetch(NOW + timedelta(hours=hours)))
        assert f.stored == NEWEST + timedelta(hours=2)

        down.clear()
        moved["01645000"] = timedelta(hours=2)
        readings = f.fetch(NOW + timedelta(hours=2))
    assert {r.station for r in readings} == {"01491000", "01645000"}
    assert asked[-1] == ("01645000", "2020-02-13T21:50:00+00:00")  # its own, not 00:15
