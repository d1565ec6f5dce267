"""The generic http_json feed: fields mapped by dotted paths, on a real USGS payload, with the
retries, counters and degraded flag every HTTP feed has."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from floodwatch.feeds.base import FeedError
from floodwatch.feeds.http_json import HttpJsonFeed

from .conftest import LocalHTTPServer
from .feed_support import Sleeps, context, load, raw

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
