"""Harnesses for the feed contract suite (tests/test_feeds_contract.py).

Each harness builds one registered feed the way the application does (the entry point's class and
its `Options`) against a real local source holding real data: the local HTTP server serving a
recorded payload from ../shared/fixtures/feeds, a CSV file holding the demo's USGS readings, or
the Mosquitto broker on 127.0.0.1:1883. It says what the recorded payload holds and how the source
can misbehave (garbage, one bad item, unreachable, failing between two fetches), whether the feed
keeps a position (`Positioned`), and for an HTTP feed with one, where its requests reach back to;
the contract tests check the promises against that. A new feed joins with a harness class and one
entry in `HARNESSES`; the suite fails while a registered feed has none.
"""

from __future__ import annotations

import copy
import json
import math
import os
import socket
import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import parse_qs, urlsplit

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from floodwatch.plugins import Registry

from .conftest import LocalHTTPServer, need_service, port_open
from .feed_support import context, dumps, load, raw
from .helpers import DEMO_READINGS


@dataclass(frozen=True)
class Fails:
    """The fetch raises FeedError; its message starts "feed NAME: " and matches `match`."""

    match: str


@dataclass(frozen=True)
class Skipped:
    """The fetch raises nothing, returns nothing, and counts what it skipped in `rejected`."""

    rejected: Mapping[str, int]


# Garbage in place of the whole payload: unparseable (an HTML error page, bytes that are not
# UTF-8), the wrong shape (another source's recorded answer, another CSV), and nothing at all.
GARBAGE = ("unparseable", "wrong_shape", "empty")

# One bad item beside good ones, and the reason every reading feed counts it under (README,
# "What every feed does when things go wrong").
READING_DEFECTS: dict[str, str] = {
    "null_value": "empty",
    "text_value": "unparseable_value",
    "boolean_value": "unparseable_value",  # JSON true: float(True) would be an invented 1.0
    "nan_value": "nan",
    "bad_time": "unparseable_time",
}
# ... and the feeds that read observations as they come (not a file that is replayed as time
# passes, not a forecast) refuse one observed after `now`
OBSERVED_DEFECTS: dict[str, str] = READING_DEFECTS | {"future_time": "future"}
# how a JSON source spells each value defect (NaN goes out as the bare literal); CSV as text
JSON_VALUES: Mapping[str, Any] = {
    "null_value": None, "text_value": "high", "boolean_value": True, "nan_value": math.nan,
}  # fmt: skip
CSV_VALUES: Mapping[str, str] = {
    "null_value": "", "text_value": "high", "boolean_value": "true", "nan_value": "nan",
}  # fmt: skip
BAD_TIME = "yesterday"
TIME_DEFECTS = ("bad_time", "future_time")

HTML_PAGE = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
MQTT_HOST, MQTT_PORT = "127.0.0.1", 1883
WAIT = 10.0  # the most a harness waits for a broker; things take milliseconds


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def bad_time(defect: str, now: datetime) -> str:
    """The time a time defect puts in an item: not a time, or an hour after `now`."""
    return (now + timedelta(hours=1)).isoformat() if defect == "future_time" else BAD_TIME


class FeedHarness(ABC):
    """One registered feed against a real local source."""

    feed_type: ClassVar[str]  # the entry point's name in setup.cfg
    name: ClassVar[str]  # the feed's name in the config; its errors must say it
    delivers: ClassVar[Literal["readings", "warnings"]] = "readings"
    now: ClassVar[datetime]  # when the fetches happen
    count: ClassVar[int]  # how many items a fetch of the recorded payload returns at `now`
    known: ClassVar[Mapping[str, Any]]  # one of them, field by field, read off the fixture
    forecast: ClassVar[bool] = False  # readings are for the hours after `now`, not before
    clock_skew: ClassVar[timedelta] = timedelta(0)  # how far after `now` a reading may be
    repeats: ClassVar[bool] = True  # a second fetch returns the same items again; else none
    defects: ClassVar[Mapping[str, str]] = READING_DEFECTS  # bad item -> `rejected` reason
    garbage: ClassVar[Mapping[str, Fails | Skipped]]  # for each of GARBAGE
    unreachable: ClassVar[str]  # what FeedError says when the source cannot be reached
    interrupted: ClassVar[str]  # ... when it fails after a good fetch
    # `degraded_stations` after a failed fetch; None: the feed does not name failing stations
    failing_stations: ClassVar[frozenset[str] | None] = None
    # the feed implements Positioned: its position moves on only when told (`commit`)
    positioned: ClassVar[bool] = True

    def __init__(self, request: pytest.FixtureRequest) -> None:
        self.tmp_path: Path = request.getfixturevalue("tmp_path")
        self.fixtures: Path = request.getfixturevalue("fixtures_dir")
        self.plugin = Registry.from_entry_points().feeds[self.feed_type]

    def build(self, **changes: Any) -> Any:
        """The feed as the application builds it: registered class, validated options."""
        options = self.plugin.Options.model_validate(self.options() | changes)
        return self.plugin(self.name, options, context(self.tmp_path, self.now))

    def fetch(self, feed: Any) -> list[Any]:
        return list(feed.fetch(self.now))

    @abstractmethod
    def options(self) -> dict[str, Any]:
        """The feed's options, pointing at the local source."""

    @abstractmethod
    def offer(self, feed: Any) -> None:
        """The source now holds the recorded payload."""

    @abstractmethod
    def offer_spoiled(self, feed: Any, defect: str) -> None:
        """The recorded payload with a bad copy of one item (`defect`) before the good ones."""

    @abstractmethod
    def offer_garbage(self, feed: Any, kind: str) -> None:
        """The source now holds garbage of `kind` (one of GARBAGE) instead."""

    @abstractmethod
    def build_unreachable(self) -> Any:
        """A feed whose source cannot be reached at all."""

    @abstractmethod
    def interrupt(self, feed: Any) -> None:
        """The source fails from now on."""

    @abstractmethod
    def resume(self, feed: Any) -> None:
        """The source works again and holds the recorded payload."""


# -- HTTP feeds ------------------------------------------------------------------------------


class HttpHarness(FeedHarness):
    """An HTTP feed against the local server; one attempt per fetch (the retries, backoff and
    timeouts are tests/test_feeds_faults.py's)."""

    path: ClassVar[str]  # where the feed asks
    fixture: ClassVar[str]  # the recorded payload, under fixtures/feeds
    wrong_shape_fixture: ClassVar[str]  # another source's recorded payload
    unreachable = r"GET http://127\.0\.0\.1:\d+/\S* failed after 1 attempt\(s\): cannot connect"
    interrupted = r"GET \S+ failed after 1 attempt\(s\): HTTP 503 Service Unavailable"

    def __init__(self, request: pytest.FixtureRequest) -> None:
        super().__init__(request)
        self.server: LocalHTTPServer = request.getfixturevalue("http_server")
        self.base = self.server.url

    @abstractmethod
    def add_bad_item(self, data: Any, defect: str) -> None:
        """Put a copy of the payload's first item, with the defect, in front of it: should the
        feed miss the defect, the copy shows in the fetch or displaces the good item."""

    def offer(self, feed: Any) -> None:
        self.server.serve(self.path, raw(self.fixtures, self.fixture))

    def offer_spoiled(self, feed: Any, defect: str) -> None:
        data = load(self.fixtures, self.fixture)
        self.add_bad_item(data, defect)
        self.server.serve(self.path, dumps(data))

    def offer_garbage(self, feed: Any, kind: str) -> None:
        if kind == "unparseable":
            self.server.serve(self.path, HTML_PAGE, content_type="text/html")
        elif kind == "wrong_shape":
            self.server.serve(self.path, raw(self.fixtures, self.wrong_shape_fixture))
        else:
            self.server.serve(self.path, b"")

    def build_unreachable(self) -> Any:
        self.base = f"http://127.0.0.1:{closed_port()}"
        return self.build()

    def interrupt(self, feed: Any) -> None:
        self.server.serve(self.path, HTML_PAGE, status=503, content_type="text/html")

    # where the window asked for starts: (path of the request, its query parameter)
    window: ClassVar[tuple[str, str] | None] = None

    def asked_since(self) -> list[datetime | None]:
        """For each request the feed made for its readings' window (`window`), in order, the
        time that request reached back to (None: it did not say, the latest values only)."""
        assert self.window is not None
        path, parameter = self.window
        out: list[datetime | None] = []
        for _, target, _ in self.server.requests:
            url = urlsplit(target)
            if url.path == path:
                values = parse_qs(url.query).get(parameter)
                out.append(
                    datetime.fromisoformat(values[0].replace("Z", "+00:00")) if values else None
                )
        return out

    def resume(self, feed: Any) -> None:
        self.offer(feed)


def http_garbage(wrong_shape: str) -> dict[str, Fails | Skipped]:
    """What every HTTP feed does with garbage; `wrong_shape` is what it says of another
    source's answer (JSON, but not what it reads)."""
    return {
        "unparseable": Fails(r"failed after 1 attempt\(s\): the body is not JSON"),
        "wrong_shape": Fails(wrong_shape),
        "empty": Fails(r"failed after 1 attempt\(s\): HTTP 200 with an empty body"),
    }


def first_copied(items: list[Any]) -> Any:
    """A copy of the first item, put in front of it."""
    bad = copy.deepcopy(items[0])
    items.insert(0, bad)
    return bad


def add_bad_series(data: Any, defect: str, now: datetime) -> None:
    """A WaterML-JSON answer gets a bad copy of its first time series."""
    point = first_copied(data["value"]["timeSeries"])["values"][0]["value"][0]
    if defect in TIME_DEFECTS:
        point["dateTime"] = bad_time(defect, now)
    else:
        point["value"] = JSON_VALUES[defect]


class UsgsHarness(HttpHarness):
    feed_type = "usgs_iv"
    name = "choptank-potomac"
    path = "/nwis/iv/"
    window = ("/nwis/iv/", "startDT")
    fixture = "usgs_nwis/waterservices_iv.json"
    wrong_shape_fixture = "open_meteo/forecast_hourly_precipitation.json"
    garbage = http_garbage(r"not a WaterML-JSON answer \(no value\.timeSeries\)")
    defects = OBSERVED_DEFECTS
    now = utc(2020, 2, 14)
    count = 4  # two sites, gage height and discharge, the latest value of each
    known = {"station": "01491000", "parameter": "discharge", "value": 439.0,
             "unit": "ft3/s", "observed_at": utc(2020, 2, 13, 22, 15)}  # fmt: skip

    def options(self) -> dict[str, Any]:
        return {"sites": ["01491000", "01645000"], "base_url": self.base + self.path,
                "retries": 0}  # fmt: skip

    def add_bad_item(self, data: Any, defect: str) -> None:
        add_bad_series(data, defect, self.now)


class HttpJsonHarness(HttpHarness):
    """http_json mapped onto the same real USGS answer, as tests/test_feeds_http_json.py does."""

    feed_type = "http_json"
    name = "county-gauges"
    path = "/iv"
    window = ("/iv", "since")  # the `since` option names it
    fixture = "usgs_nwis/waterservices_iv.json"
    wrong_shape_fixture = "uk_ea/floods.json"
    garbage = http_garbage(r"expected a list at 'value\.timeSeries'")
    defects = OBSERVED_DEFECTS
    now = utc(2020, 2, 14)
    count = 4
    known = {"station": "01645000", "parameter": "00065", "value": 2.68, "unit": "ft",
             "observed_at": utc(2020, 2, 13, 21, 50)}  # fmt: skip

    def options(self) -> dict[str, Any]:
        return {
            "url": self.base + self.path,
            "items": "value.timeSeries",
            "fields": {
                "station": "sourceInfo.siteCode.0.value",
                "parameter": "variable.variableCode.0.value",
                "value": "values.0.value.0.value",
                "unit": "variable.unit.unitCode",
                "observed_at": "values.0.value.0.dateTime",
            },
            "since": "since",
            "retries": 0,
        }

    def add_bad_item(self, data: Any, defect: str) -> None:
        add_bad_series(data, defect, self.now)


class OpenMeteoHarness(HttpHarness):
    """Forecast readings: only the hours ending after `now`, in mm although the answer is in
    inches, at times the answer gives in Toronto's local time (UTC-5)."""

    feed_type = "open_meteo"
    name = "town-rain-forecast"
    path = "/v1/forecast"
    fixture = "open_meteo/forecast_hourly_precipitation.json"
    wrong_shape_fixture = "usgs_nwis/waterservices_iv.json"
    garbage = http_garbage(r"not an hourly precipitation forecast \(no 'hourly_units'\)")
    now = utc(2026, 3, 5, 19)  # 14:00 in Toronto, before the afternoon's rain
    count = 153  # of 192 hours, those ending after 14:00 local on 5 March
    forecast = True
    positioned = False  # the window is the hours ahead of each poll
    known = {"station": "R01", "parameter": "rain_forecast", "value": 0.067 * 25.4,
             "unit": "mm", "observed_at": utc(2026, 3, 5, 22)}  # fmt: skip

    def options(self) -> dict[str, Any]:
        return {"station": "R01", "latitude": 43.7, "longitude": -79.4,
                "base_url": self.base + self.path, "retries": 0}  # fmt: skip

    def add_bad_item(self, data: Any, defect: str) -> None:
        # the items are two parallel lists; the bad hour is that of `known` (17:00 local)
        when, value = "2026-03-05T17:00", JSON_VALUES.get(defect)
        if defect == "bad_time":
            when, value = BAD_TIME, 0.067
        data["hourly"]["time"].insert(0, when)
        data["hourly"]["precipitation"].insert(0, value)


class UkEaHarness(HttpHarness):
    """EA readings. The station's readings list (``/readings?since=``, asked for when the
    latest reading may not reach back to the stored one) is served as EA's reference documents
    it, ``{"items": [...]}``, holding the recorded ``latestReading``: no real readings list is
    recorded (fixtures SOURCES.md), and that object is exactly one item's shape."""

    feed_type = "uk_ea"
    name = "norfolk-ea"
    path = "/flood-monitoring/id/stations/E21836"
    window = ("/flood-monitoring/id/stations/E21836/readings", "since")
    fixture = "uk_ea/station_E21836.json"
    wrong_shape_fixture = "nws_alerts/alerts_active_zone.json"
    garbage = http_garbage(r"station E21836: no items in the answer")
    defects = OBSERVED_DEFECTS
    now = utc(2022, 10, 8, 7)
    count = 1  # the station's one measure
    known = {"station": "E21836", "parameter": "stage", "value": 0.081, "unit": "m",
             "observed_at": utc(2022, 10, 8, 6, 30)}  # fmt: skip
    failing_stations = frozenset({"E21836"})

    def options(self) -> dict[str, Any]:
        return {"stations": ["E21836"], "base_url": self.base + "/flood-monitoring",
                "retries": 0}  # fmt: skip

    def offer(self, feed: Any) -> None:
        super().offer(feed)
        latest = load(self.fixtures, self.fixture)["items"]["measures"]["latestReading"]
        self.server.serve(self.path + "/readings", dumps({"items": [latest]}))

    def add_bad_item(self, data: Any, defect: str) -> None:
        station = data["items"]
        station["measures"] = [station["measures"]]  # one measure comes as a bare object
        latest = first_copied(station["measures"])["latestReading"]
        if defect in TIME_DEFECTS:
            latest["dateTime"] = bad_time(defect, self.now)
        else:
            latest["value"] = JSON_VALUES[defect]


class UkEaWarningsHarness(HttpHarness):
    """uk_ea's other half: the flood warnings at /id/floods."""

    feed_type = "uk_ea"
    name = "norfolk-ea"
    delivers = "warnings"
    path = "/flood-monitoring/id/floods"
    fixture = "uk_ea/floods.json"
    wrong_shape_fixture = "uk_ea/station_E21836.json"
    garbage = http_garbage(r"/id/floods answered without an items list")
    now = utc(2018, 10, 30, 13)
    count = 6
    known = {"id": "054WATBT2", "msg_type": "Alert", "status": "Actual", "event": "Flood Alert",
             "severity": "Moderate", "urgency": "Expected", "certainty": "Possible",
             "sent": utc(2018, 10, 30, 10, 33), "expires": None, "in_force": True,
             "area_codes": ("054WATBT2",)}  # fmt: skip
    defects = {"no_id": "malformed", "unknown_severity": "unknown_severity",
               "bad_time": "unparseable_time"}  # fmt: skip
    failing_stations = frozenset()  # a warnings fetch names no stations

    def options(self) -> dict[str, Any]:
        return {"warnings": True, "base_url": self.base + "/flood-monitoring", "retries": 0}

    def fetch(self, feed: Any) -> list[Any]:
        return list(feed.fetch_warnings(self.now))

    def add_bad_item(self, data: Any, defect: str) -> None:
        item = first_copied(data["items"])
        if defect == "no_id":
            del item["floodAreaID"]
        elif defect == "unknown_severity":
            item["severityLevel"] = 9
        else:
            item["timeRaised"] = BAD_TIME


class NwsHarness(HttpHarness):
    """NWS alerts are warnings only (`fetch` returns no readings)."""

    feed_type = "nws_alerts"
    name = "portland-nws"
    delivers = "warnings"
    positioned = False  # each poll asks for what is active now: the whole state
    path = "/alerts/active"
    fixture = "nws_alerts/alerts_active_zone.json"
    wrong_shape_fixture = "uk_ea/floods.json"
    garbage = http_garbage(r"not a GeoJSON FeatureCollection")
    now = utc(2019, 12, 20, 22)
    count = 1
    known = {"id": "NWS-IDP-PROD-3965873-3369046", "msg_type": "Update", "status": "Actual",
             "event": "Flood Watch", "severity": "Severe", "urgency": "Future",
             "certainty": "Possible", "sent": utc(2019, 12, 20, 21, 34),
             "expires": utc(2019, 12, 21, 13, 30), "in_force": True,
             "references": ("NWS-IDP-PROD-3964821-3368352", "NWS-IDP-PROD-3965324-3368680",
                            "NWS-IDP-PROD-3965155-3368578", "NWS-IDP-PROD-3963421-3367361")}  # fmt: skip
    defects = {"no_id": "malformed", "ack_message": "unknown_msg_type",
               "bad_time": "unparseable_time"}  # fmt: skip

    def options(self) -> dict[str, Any]:
        return {"zones": ["ORZ004"], "base_url": self.base, "retries": 0}

    def fetch(self, feed: Any) -> list[Any]:
        return list(feed.fetch_warnings(self.now))

    def add_bad_item(self, data: Any, defect: str) -> None:
        item = first_copied(data["features"])
        props = item["properties"]
        if defect == "no_id":
            del item["id"], props["id"]
        elif defect == "ack_message":
            props["messageType"] = "Ack"
        else:
            props["sent"] = BAD_TIME


# -- a file ----------------------------------------------------------------------------------


class CsvHarness(FeedHarness):
    """A CSV file in tmp_path holding the demo's real USGS readings (Patapsco, May 2018). Rows
    are returned as their time passes, until committed; a replaced file is read again from the
    top."""

    feed_type = "csv"
    name = "patapsco"
    now = utc(2018, 5, 27, 18)
    count = 106  # rows observed by 18:00 UTC; the rest wait for their time
    known = {"station": "01589025", "parameter": "discharge", "value": 295.0, "unit": "ft3/s",
             "observed_at": utc(2018, 5, 27, 5)}  # fmt: skip
    repeats = False
    defects = READING_DEFECTS | {"mangled_line": "malformed"}
    garbage = {
        # line 1, the header, is not UTF-8: no row can be read
        "unparseable": Fails(r"\S+:1:1: expected the header \S+; not UTF-8 text"),
        "wrong_shape": Fails(r"expected the header station,parameter,value,unit,observed_at"),
        "empty": Fails(r"expected the header station,parameter,value,unit,observed_at; the file"),
    }
    unreachable = r"cannot read \S+/missing\.csv: \[Errno 2\] No such file or directory"
    interrupted = r"cannot read \S+/patapsco\.csv: \[Errno 2\] No such file or directory"

    def __init__(self, request: pytest.FixtureRequest) -> None:
        super().__init__(request)
        self.file = self.tmp_path / "patapsco.csv"
        self._writes = 0

    def options(self) -> dict[str, Any]:
        return {"path": self.file.name}

    def write(self, data: bytes) -> None:
        self.file.write_bytes(data)
        # a new modification time each write, whatever the file system's resolution
        self._writes += 1
        when = 1_700_000_000 + self._writes
        os.utime(self.file, (when, when))

    def offer(self, feed: Any) -> None:
        self.write(DEMO_READINGS.read_bytes())

    def offer_spoiled(self, feed: Any, defect: str) -> None:
        header, first, *rest = DEMO_READINGS.read_text(encoding="utf-8").splitlines()
        cells = first.split(",")
        if defect == "mangled_line":
            cells = cells[:3]  # a row cut short: a copy interrupted mid-line
        elif defect == "bad_time":
            cells[4] = BAD_TIME
        else:
            cells[2] = CSV_VALUES[defect]
        lines = [header, ",".join(cells), first, *rest]
        self.write(("\n".join(lines) + "\n").encode("utf-8"))

    def offer_garbage(self, feed: Any, kind: str) -> None:
        text = DEMO_READINGS.read_text(encoding="utf-8")
        if kind == "unparseable":
            # what a spreadsheet's "Unicode text" export writes
            self.write(text.encode("utf-16"))
        elif kind == "wrong_shape":
            self.write(text.replace("observed_at", "datetime", 1).encode("utf-8"))
        else:
            self.write(b"")

    def build_unreachable(self) -> Any:
        return self.build(path="missing.csv")

    def interrupt(self, feed: Any) -> None:
        self.file.unlink()

    def resume(self, feed: Any) -> None:
        self.offer(feed)


# -- a broker --------------------------------------------------------------------------------


class MqttHarness(FeedHarness):
    """The Mosquitto broker on 127.0.0.1:1883 (skipped without it, failed under
    FLOODWATCH_REQUIRE_SERVICES=1), a topic of the test's own; the sensors' messages carry the
    demo's real USGS readings, in each shape the feed documents. Readings are returned until
    committed (their messages acknowledged)."""

    feed_type = "mqtt"
    name = "reservoir-sensors"
    defects = OBSERVED_DEFECTS
    now = utc(2018, 5, 27, 5, 30)
    count = 4
    # the message that gives its time in Unix seconds
    known = {"station": "01589025", "parameter": "stage", "value": 11.57, "unit": "ft",
             "observed_at": utc(2018, 5, 27, 5)}  # fmt: skip
    clock_skew = timedelta(seconds=60)  # max_clock_skew's default: a sensor's clock may run ahead
    repeats = False
    garbage = {
        "unparseable": Skipped({"malformed": 1}),
        "wrong_shape": Skipped({"missing_field": 1}),
        "empty": Skipped({"malformed": 1}),
    }
    unreachable = (
        r"not subscribed to 'floodwatch-test/\w+' on 127\.0\.0\.1:(\d+): "
        r"cannot connect to 127\.0\.0\.1:\1$"
    )
    interrupted = (
        r"not subscribed to 'floodwatch-test/\w+' on 127\.0\.0\.1:1883: "
        r"disconnected from 127\.0\.0\.1:1883"
    )

    def __init__(self, request: pytest.FixtureRequest) -> None:
        reachable = port_open(MQTT_HOST, MQTT_PORT)
        need_service("Mosquitto", reachable, f"nothing listens on {MQTT_HOST}:{MQTT_PORT}")
        super().__init__(request)
        self.topic = f"floodwatch-test/{uuid.uuid4().hex}"
        self.feeds: list[Any] = []
        self.clients: list[paho.Client] = []
        request.addfinalizer(self.close)
        self.publisher = self.client(f"floodwatch-test-pub-{uuid.uuid4().hex[:8]}")
        self.usurper: paho.Client | None = None

    def client(self, client_id: str) -> paho.Client:
        c = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        c.connect(MQTT_HOST, MQTT_PORT)
        c.loop_start()
        self.clients.append(c)
        return c

    def options(self) -> dict[str, Any]:
        # a client id of its own, for interrupt() to take over; a reconnect within 2 s
        return {"host": MQTT_HOST, "port": MQTT_PORT, "topic": self.topic, "qos": 1,
                "client_id": f"floodwatch-test-{uuid.uuid4().hex[:8]}",
                "backoff": 2, "backoff_max": 2}  # fmt: skip

    def build(self, **changes: Any) -> Any:
        feed = super().build(**changes)
        self.feeds.append(feed)
        return feed

    def close(self) -> None:
        """Disconnect the feeds built and the harness's own clients."""
        for feed in self.feeds:
            feed.close()
        for c in self.clients:
            c.disconnect()
            c.loop_stop()

    def messages(self) -> list[Any]:
        """The first four rows of the demo readings as sensors send them: an object with an ISO
        time, one with Unix seconds, and an array of two."""
        rows = DEMO_READINGS.read_text(encoding="utf-8").splitlines()[1:5]
        readings: list[dict[str, Any]] = []
        for row in rows:
            station, parameter, value, unit, observed_at = row.split(",")
            readings.append({"station": station, "parameter": parameter,
                             "value": float(value), "unit": unit, "observed_at": observed_at})  # fmt: skip
        readings[1]["observed_at"] = datetime.fromisoformat(rows[1].split(",")[4]).timestamp()
        return [readings[0], readings[1], readings[2:]]

    def publish(self, feed: Any, payloads: list[Any]) -> None:
        assert feed.start(), f"not subscribed to {self.topic} within {feed.options.timeout}s"
        before = feed.received
        for payload in payloads:
            data = payload if isinstance(payload, bytes) else dumps(payload)
            info = self.publisher.publish(self.topic, data, qos=1)
            info.wait_for_publish(timeout=WAIT)
        assert feed.wait(before + len(payloads), WAIT), "the messages did not arrive"

    def offer(self, feed: Any) -> None:
        self.publish(feed, self.messages())

    def offer_spoiled(self, feed: Any, defect: str) -> None:
        messages = self.messages()
        bad = dict(messages[0])
        if defect in TIME_DEFECTS:
            bad["observed_at"] = bad_time(defect, self.now)  # an hour ahead: beyond the skew
        else:
            bad["value"] = JSON_VALUES[defect]
        self.publish(feed, [bad, *messages])

    def offer_garbage(self, feed: Any, kind: str) -> None:
        payload = {
            "unparseable": HTML_PAGE,
            "wrong_shape": json.dumps({"temperature": 21.5, "humidity": 80}).encode(),
            "empty": b"",
        }[kind]
        self.publish(feed, [payload])

    def build_unreachable(self) -> Any:
        return self.build(port=closed_port(), timeout=0.5)

    def interrupt(self, feed: Any) -> None:
        # a second client with the feed's id makes the broker drop the feed's connection
        self.usurper = self.client(feed.options.client_id)
        assert feed.wait_subscribed(False, WAIT), "the broker kept the feed connected"

    def resume(self, feed: Any) -> None:
        assert self.usurper is not None
        self.usurper.disconnect()
        self.usurper.loop_stop()
        self.clients.remove(self.usurper)
        assert feed.wait_subscribed(True, WAIT), "the feed did not reconnect"
        self.offer(feed)


# One entry per harness; every feed in setup.cfg's floodwatch.feeds group needs at least one.
HARNESSES: tuple[type[FeedHarness], ...] = (
    CsvHarness,
    HttpJsonHarness,
    UsgsHarness,
    OpenMeteoHarness,
    UkEaHarness,
    UkEaWarningsHarness,
    NwsHarness,
    MqttHarness,
)
