"""The transport fault matrix, run over every HTTP feed: a slow server, 5xx, 4xx, a body that is
empty, not JSON, or larger than `max_body` (with a length, or endless without one), a refused
connection. Each ends in FeedError after bounded, logged retries, or in recovery; none in a
crash. (Bad items inside a good payload are each feed's own tests.)"""

from __future__ import annotations

import logging
import socket
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from floodwatch.feeds.base import FeedError
from floodwatch.feeds.httpfeed import HttpFeed
from floodwatch.feeds.nws import NwsAlertsFeed
from floodwatch.feeds.open_meteo import OpenMeteoFeed
from floodwatch.feeds.uk_ea import UkEaFeed
from floodwatch.feeds.usgs import UsgsIvFeed

from .conftest import LocalHTTPServer
from .feed_support import Sleeps, chunked_server, context, raw


@dataclass(frozen=True)
class Case:
    """One HTTP feed: how to build it against a base URL, where it asks, what a fetch is."""

    id: str
    path: str
    fixture: str
    build: Callable[[str, dict[str, Any], Path], HttpFeed]
    fetch: Callable[[HttpFeed, datetime], list[Any]]
    now: datetime


def _usgs(base: str, extra: dict[str, Any], tmp: Path) -> HttpFeed:
    o = UsgsIvFeed.Options.model_validate(
        {"sites": ["01491000"], "base_url": base + "/nwis/iv/"} | extra
    )
    return UsgsIvFeed("usgs", o, context(tmp))


def _open_meteo(base: str, extra: dict[str, Any], tmp: Path) -> HttpFeed:
    o = OpenMeteoFeed.Options.model_validate(
        {"station": "toronto", "latitude": 43.7, "longitude": -79.4,
         "base_url": base + "/v1/forecast"} | extra
    )  # fmt: skip
    return OpenMeteoFeed("rain", o, context(tmp))


def _ea(base: str, extra: dict[str, Any], tmp: Path) -> HttpFeed:
    o = UkEaFeed.Options.model_validate(
        {"base_url": base + "/flood-monitoring", "stations": ["E21836"], "warnings": True} | extra
    )
    return UkEaFeed("ea", o, context(tmp))


def _nws(base: str, extra: dict[str, Any], tmp: Path) -> HttpFeed:
    o = NwsAlertsFeed.Options.model_validate({"base_url": base, "zones": ["ORZ004"]} | extra)
    return NwsAlertsFeed("nws", o, context(tmp))


def _readings(feed: HttpFeed, now: datetime) -> list[Any]:
    return list(feed.fetch(now))  # type: ignore[attr-defined]


def _warnings(feed: HttpFeed, now: datetime) -> list[Any]:
    return list(feed.fetch_warnings(now))  # type: ignore[attr-defined]


CASES = [
    Case("usgs_iv", "/nwis/iv/", "usgs_nwis/waterservices_iv.json", _usgs, _readings,
         datetime(2020, 2, 14, tzinfo=UTC)),
    Case("open_meteo", "/v1/forecast", "open_meteo/forecast_hourly_precipitation.json",
         _open_meteo, _readings, datetime(2026, 3, 6, 2, tzinfo=UTC)),
    Case("uk_ea readings", "/flood-monitoring/id/stations/E21836", "uk_ea/station_E21836.json",
         _ea, _readings, datetime(2022, 10, 8, 7, tzinfo=UTC)),
    Case("uk_ea warnings", "/flood-monitoring/id/floods", "uk_ea/floods.json", _ea, _warnings,
         datetime(2018, 10, 30, 13, tzinfo=UTC)),
    Case("nws_alerts", "/alerts/active", "nws_alerts/alerts_active_zone.json", _nws, _warnings,
         datetime(2019, 12, 20, 22, tzinfo=UTC)),
]  # fmt: skip


@pytest.fixture(params=CASES, ids=[c.id for c in CASES])
def case(request: pytest.FixtureRequest) -> Case:
    c: Case = request.param
    return c


def make(
    case: Case, server: LocalHTTPServer, tmp_path: Path, **extra: Any
) -> tuple[HttpFeed, Sleeps]:
    feed = case.build(server.url, extra, tmp_path)
    sleeps = Sleeps()
    feed.sleep = sleeps
    return feed, sleeps


def retry_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records
        if r.name == "floodwatch.feeds.httpfeed" and r.levelno == logging.WARNING
    ]  # fmt: skip


def test_the_recorded_payload_is_read(
    case: Case, http_server: LocalHTTPServer, fixtures_dir: Path, tmp_path: Path
) -> None:
    http_server.serve(case.path, raw(fixtures_dir, case.fixture))
    feed, sleeps = make(case, http_server, tmp_path)
    assert case.fetch(feed, case.now)
    assert (feed.degraded, sleeps.calls, feed.rejected) == (False, [], {})


def test_a_server_slower_than_the_timeout(
    case: Case,
    http_server: LocalHTTPServer,
    fixtures_dir: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    http_server.serve(case.path, raw(fixtures_dir, case.fixture), delay=5.0)
    feed, sleeps = make(case, http_server, tmp_path, timeout=0.05, retries=1, backoff=0.25)
    with pytest.raises(FeedError, match=r"failed after 2 attempt\(s\): no answer within 0.05s"):
        case.fetch(feed, case.now)
    assert sleeps.calls == [0.25]
    assert feed.degraded is True
    # two attempts, and no third: the server may not have read them yet (or at all, when the
    # 0.05 s ran out while connecting on a loaded machine), so it is asked for none too many
    assert len(http_server.requests) <= 2
    [line] = retry_lines(caplog)
    assert "(attempt 1 of 2): no answer within 0.05s; retrying in 0.25s" in line


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429, 408])
def test_a_server_error_is_retried_with_doubling_waits(
    case: Case,
    http_server: LocalHTTPServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    status: int,
) -> None:
    http_server.serve(case.path, b"<html>busy</html>", status=status, content_type="text/html")
    feed, sleeps = make(case, http_server, tmp_path)
    with pytest.raises(FeedError, match=rf"failed after 3 attempt\(s\): HTTP {status}"):
        case.fetch(feed, case.now)
    assert sleeps.calls == [1.0, 2.0]
    assert len(http_server.requests) == 3
    assert len(retry_lines(caplog)) == 2  # one line per failed attempt; the last is the error
    assert feed.degraded is True


def test_the_wait_doubles_up_to_its_cap(
    case: Case, http_server: LocalHTTPServer, tmp_path: Path
) -> None:
    http_server.serve(case.path, b"", status=500)
    feed, sleeps = make(case, http_server, tmp_path, retries=5, backoff=1, backoff_max=3)
    with pytest.raises(FeedError):
        case.fetch(feed, case.now)
    assert sleeps.calls == [1.0, 2.0, 3.0, 3.0, 3.0]


def test_retry_after_is_honoured_up_to_the_cap(
    case: Case, http_server: LocalHTTPServer, tmp_path: Path
) -> None:
    http_server.serve(case.path, b"", status=503, headers={"Retry-After": "7"})
    feed, sleeps = make(case, http_server, tmp_path, retries=2, backoff_max=10)
    with pytest.raises(FeedError):
        case.fetch(feed, case.now)
    assert sleeps.calls == [7.0, 7.0]


@pytest.mark.parametrize("status", [400, 403, 404, 410])
def test_a_refused_request_is_not_retried(
    case: Case, http_server: LocalHTTPServer, tmp_path: Path, status: int
) -> None:
    http_server.serve(case.path, b'{"error": "no"}', status=status)
    feed, sleeps = make(case, http_server, tmp_path)
    with pytest.raises(FeedError, match=rf"HTTP {status} .*not retried"):
        case.fetch(feed, case.now)
    assert (sleeps.calls, len(http_server.requests), feed.degraded) == ([], 1, True)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty body"),
        (b"  \n", "empty body"),
        (b'{"value": {"timeSeries": [', "not JSON"),
        (b"<html><body>Service Unavailable</body></html>", "not JSON"),
        (b"\xff\xfe\x00garbage", "not JSON"),
    ],
)
def test_a_body_that_is_not_json_is_retried_then_fails(
    case: Case, http_server: LocalHTTPServer, tmp_path: Path, body: bytes, message: str
) -> None:
    http_server.serve(case.path, body)
    feed, sleeps = make(case, http_server, tmp_path)
    with pytest.raises(FeedError, match=message):
        case.fetch(feed, case.now)
    assert (sleeps.calls, len(http_server.requests), feed.degraded) == ([1.0, 2.0], 3, True)


@pytest.mark.parametrize("body", [b"[]", b"{}", b"null", b'"ok"', b"42"])
def test_json_of_the_wrong_shape_fails_at_once(
    case: Case, http_server: LocalHTTPServer, tmp_path: Path, body: bytes
) -> None:
    http_server.serve(case.path, body)
    feed, sleeps = make(case, http_server, tmp_path)
    with pytest.raises(FeedError, match=f"feed {feed.name}: "):
        case.fetch(feed, case.now)
    assert (sleeps.calls, len(http_server.requests), feed.degraded) == ([], 1, True)


def test_a_refused_connection(case: Case, tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    feed = case.build(f"http://127.0.0.1:{port}", {"retries": 1}, tmp_path)
    sleeps = Sleeps()
    feed.sleep = sleeps
    with pytest.raises(FeedError, match="cannot connect"):
        case.fetch(feed, case.now)
    assert (sleeps.calls, feed.degraded) == ([1.0], True)


def test_a_retry_that_succeeds_loses_nothing(
    case: Case, http_server: LocalHTTPServer, fixtures_dir: Path, tmp_path: Path
) -> None:
    good = raw(fixtures_dir, case.fixture)
    http_server.serve(case.path, good)
    expected = case.fetch(case.build(http_server.url, {}, tmp_path), case.now)
    assert expected

    http_server.serve(case.path, b"", status=502)
    feed, _ = make(case, http_server, tmp_path)
    sleeps = Sleeps(lambda _: http_server.serve(case.path, good))  # the server recovers
    feed.sleep = sleeps

    assert case.fetch(feed, case.now) == expected
    assert sleeps.calls == [1.0]
    assert feed.degraded is False


def test_degraded_follows_the_last_fetch(
    case: Case, http_server: LocalHTTPServer, fixtures_dir: Path, tmp_path: Path
) -> None:
    feed, _ = make(case, http_server, tmp_path, retries=0)
    http_server.serve(case.path, b"", status=500)
    with pytest.raises(FeedError):
        case.fetch(feed, case.now)
    assert feed.degraded is True
    http_server.serve(case.path, raw(fixtures_dir, case.fixture))
    assert case.fetch(feed, case.now)
    assert feed.degraded is False
    http_server.serve(case.path, b"{", status=200)
    with pytest.raises(FeedError):
        case.fetch(feed, case.now)
    assert feed.degraded is True


def test_an_answer_larger_than_max_body_fails_at_once_naming_the_feed(
    case: Case, http_server: LocalHTTPServer, fixtures_dir: Path, tmp_path: Path
) -> None:
    body = raw(fixtures_dir, case.fixture)
    http_server.serve(case.path, body)
    exact, _ = make(case, http_server, tmp_path, max_body=len(body))
    assert case.fetch(exact, case.now)  # a body of exactly max_body is read

    feed, sleeps = make(case, http_server, tmp_path, max_body=len(body) - 1)
    with pytest.raises(FeedError) as caught:
        case.fetch(feed, case.now)
    assert str(caught.value) == (
        f"feed {feed.name}: GET {http_server.url}{case.path}: the answer is larger than "
        f"max_body ({len(body) - 1} bytes); not read"
    )
    assert (sleeps.calls, len(http_server.requests), feed.degraded) == ([], 2, True)


def test_an_endless_answer_is_cut_off_at_max_body_without_being_held(
    case: Case, tmp_path: Path
) -> None:
    body = b'{"value": [' + b"0, " * (7 * 1024 * 1024) + b"0]}"  # 21 MB, sent with no length
    with chunked_server(body) as (url, sent):
        feed = case.build(url, {"max_body": 1024 * 1024, "retries": 0}, tmp_path)
        tracemalloc.start()
        try:
            with pytest.raises(FeedError, match="the answer is larger than max_body"):
                case.fetch(feed, case.now)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak < 4 * 1024 * 1024, f"reading the answer took {peak} bytes at its peak"
    assert len(sent) == 1 and sent[0] < len(body)  # the server was stopped part of the way
