"""The generic http_json feed: fields mapped by dotted paths, on a real USGS payload, with the
retries, counters and degraded flag every HTTP feed has; readings held until stored, and the
optional `since` parameter."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from floodwatch.feeds.base import FeedError
from floodwatch.feeds.http_json import HttpJsonFeed

from .conftest import LocalHTTPServer
from .feed_support import Sleeps, context, load, raw, spoiled

NOW = datetime(2020, 2, 14, tzinfo=UTC)


def feed(tmp_path: Path, url: str, **options: object) -> HttpJsonFeed:
    settings: dict[str, object] = {
        "url": url,
        "items": "value.timeSeries",
        "fields": {
            "station": "sourceInfo.siteCode.0.value",
            "parameter": "variable.variableCode.0.value",
            "value": "values.0.value.0.value",
            "unit": "variable.unit.unitCode",
            "observed_at": "values.0.value.0.dateTime",
        },
        "retries": 2,
    }
    settings.update(options)
    f = HttpJsonFeed(
        "county", HttpJsonFeed.Options.model_validate(settings), context(tmp_path, NOW)
    )
    f.sleep = Sleeps()
    return f


def test_fields_are_read_where_the_config_says(
    tmp_path: Path, http_server: LocalHTTPServer, fixtures_dir: Path
) -> None:
    url = http_server.serve("/iv", raw(fixtures_dir, "usgs_nwis/waterservices_iv.json"))
    got = {(r.station, r.parameter, r.value, r.unit, r.observed_at.isoformat())
           for r in feed(tmp_path, url).fetch(NOW)}  # fmt: skip
    assert got == {
        ("01491000", "00060", 439.0, "ft3/s", "2020-02-13T22:15:00+00:00"),
        ("01491000", "00065", 4.36, "ft", "2020-02-13T22:15:00+00:00"),
        ("01645000", "00060", 260.0, "ft3/s", "2020-02-13T21:50:00+00:00"),
        ("01645000", "00065", 2.68, "ft", "2020-02-13T21:50:00+00:00"),
    }


def test_bad_items_are_counted_and_skipped(
    tmp_path: Path, http_server: LocalHTTPServer, fixtures_dir: Path
) -> None:
    data = load(fixtures_dir, "usgs_nwis/waterservices_iv.json")
    series = data["value"]["timeSeries"]
    series[0]["values"][0]["value"][0]["value"] = "NaN"
    series[1]["values"][0]["value"][0]["value"] = ""
    series[2]["values"][0]["value"][0]["dateTime"] = "2020-02-13 16:50"
    url = http_server.serve("/iv", json.dumps(data))
    f = feed(tmp_path, url)
    assert [r.station for r in f.fetch(NOW)] == ["01645000"]
    assert f.rejected == {"nan": 1, "empty": 1, "unparseable_time": 1}
    assert not f.degraded


def test_a_failing_server_is_retried_then_marks_the_feed_degraded(
    tmp_path: Path, http_server: LocalHTTPServer
) -> None:
    url = http_server.serve("/iv", b"oops", status=503, content_type="text/plain")
    f = feed(tmp_path, url, backoff=1.0)
    with pytest.raises(FeedError, match="feed county: GET .* failed after 3 attempt"):
        f.fetch(NOW)
    assert f.sleep.calls == [1.0, 2.0]  # type: ignore[attr-defined]
    assert f.degraded


def test_a_body_of_the_wrong_shape_is_a_feed_error(
    tmp_path: Path, http_server: LocalHTTPServer
) -> None:
    url = http_server.serve("/iv", b'{"value": {"timeSeries": {"not": "a list"}}}')
    with pytest.raises(FeedError, match="expected a list at 'value.timeSeries'"):
        feed(tmp_path, url).fetch(NOW)


def test_the_shared_item_checks_apply(
    tmp_path: Path, http_server: LocalHTTPServer, fixtures_dir: Path
) -> None:
    data = load(fixtures_dir, "usgs_nwis/waterservices_iv.json")
    series = data["value"]["timeSeries"]
    series[0]["sourceInfo"]["siteCode"][0]["value"] = None  # not a station named "None"
    series[1]["values"][0]["value"][0]["value"] = "-999999"  # USGS's "no data"
    series.append(copy.deepcopy(series[3]))  # the same station, parameter and time again
    series[-1]["values"][0]["value"][0]["value"] = "9.99"
    url = http_server.serve("/iv", json.dumps(data))
    f = feed(tmp_path, url)
    assert [(r.station, r.parameter, r.value) for r in f.fetch(NOW)] == [
        ("01645000", "00060", 260.0),
        ("01645000", "00065", 2.68),  # the first of the two is kept
    ]
    assert f.rejected == {"missing_field": 1, "no_data_value": 1, "duplicate": 1}


def test_a_path_that_does_not_fit_the_item_is_malformed(
    tmp_path: Path, http_server: LocalHTTPServer, fixtures_dir: Path
) -> None:
    url = http_server.serve("/iv", raw(fixtures_dir, "usgs_nwis/waterservices_iv.json"))
    fields = {"station": "sourceInfo.siteCode.value", "parameter": "variable.variableCode.0.value",
              "value": "values.0.value.0.value", "unit": "variable.unit.unitCode",
              "observed_at": "values.0.value.0.dateTime"}  # fmt: skip
    f = feed(tmp_path, url, fields=fields)  # siteCode is a list: "value" is no index
    assert f.fetch(NOW) == []
    assert f.rejected == {"malformed": 4}


def test_one_byte_that_is_not_utf8_and_one_oversized_unit_cost_their_items_only(
    tmp_path: Path, http_server: LocalHTTPServer, fixtures_dir: Path
) -> None:
    data = load(fixtures_dir, "usgs_nwis/waterservices_iv.json")
    series = data["value"]["timeSeries"]
    series[0]["sourceInfo"]["siteCode"][0]["value"] = "0149@@BAD@@1000"
    series[1]["variable"]["unit"]["unitCode"] = "ft" * 101
    url = http_server.serve("/iv", spoiled(data, "@@BAD@@"))
    f = feed(tmp_path, url)
    assert [(r.station, r.parameter, r.value) for r in f.fetch(NOW)] == [
        ("01645000", "00060", 260.0),
        ("01645000", "00065", 2.68),
    ]
    assert f.rejected == {"undecodable": 1, "oversized": 1}


def test_readings_not_stored_come_again_though_the_service_has_moved_on(
    tmp_path: Path, http_server: LocalHTTPServer, fixtures_dir: Path
) -> None:
    data = load(fixtures_dir, "usgs_nwis/waterservices_iv.json")
    url = http_server.serve("/iv", json.dumps(data))
    f = feed(tmp_path, url)
    first = f.fetch(NOW)  # the database refuses these
    later = data["value"]["timeSeries"][3]  # 01645000 gage height: a new value, alone
    later["values"][0]["value"][0].update(value="4.40", dateTime="2020-02-13T17:30:00.000-05:00")
    data["value"]["timeSeries"] = [later]
    http_server.serve("/iv", json.dumps(data))
    second = f.fetch(NOW)
    assert second[:4] == first
    assert [(r.station, r.value) for r in second[4:]] == [("01645000", 4.40)]
    f.commit(second)
    assert [r.value for r in f.fetch(NOW)] == [4.40]  # what the service says now, no more


def test_since_names_the_parameter_that_gets_the_newest_stored_observation(
    tmp_path: Path, http_server: LocalHTTPServer, fixtures_dir: Path
) -> None:
    url = http_server.serve("/iv", raw(fixtures_dir, "usgs_nwis/waterservices_iv.json"))
    f = feed(tmp_path, url, since="after", params={"state": "MD"})
    f.commit(f.fetch(NOW))  # nothing stored before: no "after" in the first request
    f.fetch(NOW)  # the database refuses these: the next request reaches back as far
    f.fetch(NOW)
    queries = [parse_qs(urlsplit(path).query) for _, path, _ in http_server.requests]
    newest = ["2020-02-13T22:15:00+00:00"]
    assert queries == [
        {"state": ["MD"]},
        {"state": ["MD"], "after": newest},
        {"state": ["MD"], "after": newest},
    ]


def test_without_since_no_time_is_sent(
    tmp_path: Path, http_server: LocalHTTPServer, fixtures_dir: Path
) -> None:
    url = http_server.serve("/iv", raw(fixtures_dir, "usgs_nwis/waterservices_iv.json"))
    f = feed(tmp_path, url)
    f.resume(datetime(2020, 2, 13, tzinfo=UTC))
    f.commit(f.fetch(NOW))
    f.fetch(NOW)
    assert [urlsplit(path).query for _, path, _ in http_server.requests] == ["", ""]
