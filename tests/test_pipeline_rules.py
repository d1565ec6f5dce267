"""Every kind of rule and alert source through the real pipeline and database."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from floodwatch.app import App, build_app
from floodwatch.clock import SimulatedClock
from floodwatch.feeds.nws import NwsAlertsFeed
from floodwatch.pipeline import Pipeline
from floodwatch.readings import Reading
from floodwatch.store.models import AlertRow, EventRow, PageRow, ReadingRow

from .conftest import LocalHTTPServer
from .feed_support import context, raw
from .helpers import demo_readings, write_config
from .test_rainfall import TABLE, TORONTO, rain

FLOOD = demo_readings()
EST_1530 = datetime(2018, 5, 27, 20, 30, tzinfo=UTC)


def app_with(
    tmp_path: Path, url: str, start: datetime, **overrides: Any
) -> tuple[App, SimulatedClock]:
    clock = SimulatedClock(start)
    app = build_app(write_config(tmp_path, **overrides), clock=clock, database_url=url)
    app.db.upgrade()
    return app, clock


def events(app: App, *types: str) -> list[EventRow]:
    with app.db.sessions() as s:
        q = select(EventRow).order_by(EventRow.id)
        if types:
            q = q.where(EventRow.type.in_(types))
        return list(s.scalars(q))


def alerts(app: App) -> list[AlertRow]:
    with app.db.sessions() as s:
        return list(s.scalars(select(AlertRow).order_by(AlertRow.id)))


def bodies(app: App) -> list[str]:
    with app.db.sessions() as s:
        return list(s.scalars(select(PageRow.body).order_by(PageRow.id)))


def feed_in_steps(pipeline: Pipeline, clock: SimulatedClock, readings: list[Reading]) -> None:
    """As a poll every reading interval would deliver them, ticking the clock along."""
    for r in sorted(readings, key=lambda r: r.observed_at):
        clock.set(max(clock.now(), r.observed_at))
        pipeline.ingest([r], clock.now())
        pipeline.tick(clock.now())


def test_a_rainfall_rule_from_the_config(
    tmp_path: Path, database_url: str, fixtures_dir: Path
) -> None:
    levels = [
        {"level": name, "over": {f"{int(w.total_seconds() // 3600)}h": v for w, rows in TABLE.items()
                                 for v, n in rows if n == name}}
        for name in ("blue", "yellow", "orange", "red")
    ]  # fmt: skip
    rule = {"id": "toronto-rain", "type": "rainfall", "station": "toronto", "cadence": "1h",
            "levels": levels}  # fmt: skip
    stations = [{"id": "toronto", "name": "多伦多雨量站"}]
    readings = rain(fixtures_dir)
    app, clock = app_with(
        tmp_path, database_url, readings[0].observed_at, rules=[rule], stations=stations
    )
    feed_in_steps(app.pipeline, clock, [r for r in readings if r.observed_at.day <= 7])
    opened = events(app, "opened")[0]
    assert (opened.level, opened.data["rule_type"], opened.data["detail"]["window"]) == (
        "yellow",
        "rainfall",
        "3h",
    )
    assert opened.at == datetime(2026, 3, 7, 1, tzinfo=TORONTO)
    assert opened.data["value"] == 32.1056 and opened.data["unit"] == "mm"
    assert "多伦多雨量站3h累计雨量32.1056 mm，已达黄色（III级）预警。" in bodies(app)[0]


def test_rate_of_rise_and_a_threshold_in_metres_on_a_gauge_in_feet(
    tmp_path: Path, database_url: str
) -> None:
    rules = [
        {"id": "rise", "type": "rate_of_rise", "station": "01589025", "unit": "m", "rise": 0.3,
         "level": "yellow"},
        # 20 ft = 6.096 m: the same flood stage, written in metres
        {"id": "stage-m", "station": "01589025", "parameter": "stage", "unit": "m",
         "levels": [{"level": "警戒", "value": 6.096}], "hold": "1h", "deadband": 0.3},
    ]  # fmt: skip
    app, clock = app_with(tmp_path, database_url, FLOOD[0].observed_at, rules=rules)
    feed_in_steps(app.pipeline, clock, FLOOD[:80])
    opened: dict[str, EventRow] = {}
    for e in events(app, "opened"):
        opened.setdefault(e.data["rule"], e)  # the first opening of each rule
    # 0.3 m/h = 0.98 ft/h: confirmed at 15:15 EST, as in feet; 警戒 is yellow
    assert opened["rise"].at == EST_1530 - timedelta(minutes=15)
    assert opened["rise"].data["unit"] == "m/h"
    assert opened["stage-m"].at == EST_1530 and opened["stage-m"].level == "yellow"
    assert opened["stage-m"].data["value"] == 20.63 * 0.3048


def test_a_spike_is_stored_marked_and_raises_nothing(tmp_path: Path, database_url: str) -> None:
    stations = [{"id": "01589025", "name": "Patapsco", "min": 0, "max": 60, "max_rate": 30}]
    spike_at = FLOOD[0].observed_at + timedelta(hours=10)
    spiked = [replace(r, value=31.4) if r.observed_at == spike_at else r for r in FLOOD[:50]]
    app, clock = app_with(tmp_path, database_url, FLOOD[0].observed_at, stations=stations)
    feed_in_steps(app.pipeline, clock, spiked)
    assert alerts(app) == []
    with app.db.sessions() as s:
        marked = s.execute(select(ReadingRow.observed_at, ReadingRow.quality)
                           .where(ReadingRow.quality.is_not(None))).all()  # fmt: skip
    assert marked == [(spike_at, "spike")]


def test_maintenance_logs_but_does_not_page(tmp_path: Path, database_url: str) -> None:
    stations = [{"id": "01589025", "name": "Patapsco", "maintenance": [
        {"start": "2018-05-27T15:00:00-05:00", "end": "2018-05-27T17:00:00-05:00", "reason": "校准"}]}]  # fmt: skip
    app, clock = app_with(tmp_path, database_url, FLOOD[0].observed_at, stations=stations)
    feed_in_steps(
        app.pipeline, clock, [r for r in FLOOD if r.observed_at <= EST_1530 + timedelta(hours=2)]
    )
    [alert] = alerts(app)
    assert alert.level == "orange"  # evaluated as usual
    suppressed = events(app, "page_suppressed")
    assert {e.data["cause"] for e in suppressed} >= {"opened", "raised"}
    assert all(e.data["reason"] == "校准" for e in suppressed)
    assert bodies(app) == []


def test_a_silent_station_raises_a_data_alert_and_the_water_level_holds(
    tmp_path: Path, database_url: str
) -> None:
    stations = [{"id": "01589025", "name": "Patapsco", "expect_every": "15m"}]
    app, clock = app_with(tmp_path, database_url, FLOOD[0].observed_at, stations=stations)
    pipeline = app.pipeline
    up_to = EST_1530 + timedelta(minutes=30)  # at orange
    feed_in_steps(pipeline, clock, [r for r in FLOOD if r.observed_at <= up_to])
    clock.set(up_to + timedelta(minutes=45))  # exactly 3 x 15 min: not yet
    pipeline.tick(clock.now())
    assert not any(a.rule_type == "silence" for a in alerts(app))
    clock.set(up_to + timedelta(minutes=46))
    pipeline.tick(clock.now())
    silence = [a for a in alerts(app) if a.rule_type == "silence"]
    assert [(a.state, a.value, a.unit) for a in silence] == [("open", 46.0, "min")]
    assert any("已46分钟无数据" in b for b in bodies(app))
    clock.set(up_to + timedelta(hours=6))
    pipeline.tick(clock.now())
    water = next(a for a in alerts(app) if a.rule_type == "threshold")
    assert (water.state, water.level) == ("open", "orange")  # silence lowers nothing
    back = next(r for r in FLOOD if r.observed_at > up_to)
    pipeline.ingest([back], clock.now())
    assert [a.state for a in alerts(app) if a.rule_type == "silence"] == ["cleared"]
    assert any("数据已恢复" in b for b in bodies(app))


def test_official_warnings_open_update_and_end_alerts(
    tmp_path: Path, database_url: str, fixtures_dir: Path, http_server: LocalHTTPServer
) -> None:
    http_server.serve("/alerts/active", raw(fixtures_dir, "nws_alerts/alerts_active_zone.json"))
    now = datetime(2019, 12, 20, 22, 0, tzinfo=UTC)
    feed = NwsAlertsFeed(
        "nws",
        NwsAlertsFeed.Options(base_url=http_server.url, zones=("ORZ004",)),
        context(tmp_path, now),
    )
    [watch] = feed.fetch_warnings(now)
    app, clock = app_with(tmp_path, database_url, now)
    pipeline = app.pipeline
    pipeline.apply_warnings("nws", [watch], now)
    pipeline.apply_warnings("nws", [watch], now)  # the same message again changes nothing
    [alert] = alerts(app)
    assert (alert.rule_type, alert.level, alert.external_id) == ("official", "orange", watch.id)
    assert watch.severity == "Severe"
    assert bodies(app) and watch.headline.split()[0] in bodies(app)[0]
    drill = replace(watch, id="EXERCISE-1", status="Exercise", references=())
    assert pipeline.apply_warnings("nws", [drill], now) == 0
    cancel = replace(watch, id="NWS-CANCEL-1", msg_type="Cancel", references=(watch.id,))
    pipeline.apply_warnings("nws", [cancel], now + timedelta(hours=1))
    [ended] = alerts(app)
    assert (ended.state, ended.external_id) == ("cleared", "NWS-CANCEL-1")
    assert [e.type for e in events(app, "opened", "cleared", "warning_not_actual")] == [
        "opened", "warning_not_actual", "cleared",
    ]  # fmt: skip


def test_a_forecast_advisory_follows_the_latest_forecast(
    tmp_path: Path, database_url: str, fixtures_dir: Path
) -> None:
    data = json.loads(
        (fixtures_dir / "feeds/open_meteo/forecast_hourly_precipitation.json").read_text()
    )
    hours = [datetime.fromisoformat(t).replace(tzinfo=TORONTO) for t in data["hourly"]["time"]]
    forecast = [Reading("toronto", "rain_forecast", v * 25.4, "mm", t)
                for t, v in zip(hours, data["hourly"]["precipitation"], strict=True)]  # fmt: skip
    rule = {"id": "toronto-forecast", "type": "forecast", "station": "toronto", "window": "24h",
            "levels": [{"level": "blue", "value": 30}]}  # fmt: skip
    now = datetime(2026, 3, 6, 12, tzinfo=TORONTO)
    app, clock = app_with(tmp_path, database_url, now, rules=[rule],
                          stations=[{"id": "toronto", "name": "Toronto"}])  # fmt: skip
    pipeline = app.pipeline
    pipeline.ingest(forecast, now)
    # next 24 h from 12:00 on the 6th: 0.016 + 0.028 + 0.126 + 0.256 + 1.008 + 0.016 + 0.016
    # + 0.043 + 0.016 + 0.071 + 0.055 in = 1.651 in = 41.9354 mm
    [opened] = events(app, "opened")
    assert opened.data["value"] == 41.9354 and opened.data["rule_type"] == "forecast"
    # a revised forecast replaces the old one and the advisory ends with it
    dry = [replace(r, value=0.0) for r in forecast]
    clock.set(now + timedelta(hours=1))
    pipeline.ingest(dry, clock.now())
    assert [a.state for a in alerts(app)] == ["cleared"]
    with app.db.sessions() as s:
        assert s.scalar(select(ReadingRow.value).where(ReadingRow.observed_at == hours[49])) == 0.0


def test_stale_readings_from_a_real_feed_raise_a_silence_alert_where_due(
    tmp_path: Path, database_url: str, fixtures_dir: Path, http_server: LocalHTTPServer
) -> None:
    from floodwatch.feeds.usgs import UsgsIvFeed

    http_server.serve("/nwis/iv/", raw(fixtures_dir, "usgs_nwis/waterservices_iv.json"))
    now = datetime(2020, 2, 13, 22, 50, tzinfo=UTC)
    feed = UsgsIvFeed("usgs", UsgsIvFeed.Options(sites=("01491000", "01645000"),
                      base_url=f"{http_server.url}/nwis/iv/"), context(tmp_path, now))  # fmt: skip
    stations = [{"id": s, "name": s, "expect_every": "15m"} for s in ("01491000", "01645000")]
    app, clock = app_with(tmp_path, database_url, now, stations=stations, rules=[])
    pipeline = app.pipeline
    pipeline.ingest(feed.fetch(now), now)
    pipeline.ingest(feed.fetch(now), now)  # the same stale answer again: nothing new
    pipeline.tick(now)
    # 01491000 last reported 22:15 UTC (35 min ago: within 3 x 15 min); 01645000 at 21:50 (60 min)
    silent = [(a.station, a.value) for a in alerts(app) if a.rule_type == "silence"]
    assert silent == [("01645000", 60.0)]


def test_a_failing_feed_marks_its_stations_degraded_until_it_recovers(
    tmp_path: Path, database_url: str, fixtures_dir: Path, http_server: LocalHTTPServer
) -> None:
    from floodwatch.service import Service

    from .feed_support import Sleeps

    payload = raw(fixtures_dir, "usgs_nwis/waterservices_iv.json")
    http_server.serve("/nwis/iv/", payload)
    feed = {"name": "usgs", "type": "usgs_iv", "sites": ["01491000", "01645000"],
            "base_url": f"{http_server.url}/nwis/iv/", "retries": 1}  # fmt: skip
    now = datetime(2020, 2, 13, 22, 50, tzinfo=UTC)
    app, clock = app_with(tmp_path, database_url, now, feeds=[feed], rules=[])
    service = Service(app)
    service.prepare()  # the only node: it takes the leader lease
    app.feeds["usgs"].sleep = Sleeps()  # type: ignore[attr-defined]
    service.poll(app.feeds["usgs"])
    assert service.app.feed_health.degraded_stations() == {}
    http_server.serve("/nwis/iv/", b"busy", status=503, content_type="text/plain")
    service.poll(app.feeds["usgs"])
    service.poll(app.feeds["usgs"])  # still failing: told once
    assert service.app.feed_health.degraded_stations() == {"01491000": "usgs", "01645000": "usgs"}
    http_server.serve("/nwis/iv/", payload)
    service.poll(app.feeds["usgs"])
    assert service.app.feed_health.degraded_stations() == {}
    told = [(e.type, e.data["stations"]) for e in events(app, "feed_degraded", "feed_recovered")]
    assert told == [
        ("feed_degraded", ["01491000", "01645000"]),
        ("feed_recovered", ["01491000", "01645000"]),
    ]
