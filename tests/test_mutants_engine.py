"""The rule engine's evaluators (rules/engine.py) on the recorded Open-Meteo forecast for Toronto:
which hours a forecast rule counts, what it remembers, and what its crossings say.

Written for mutants that survived the rest of the suite (tests/README.md)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from floodwatch.app import App, build_app
from floodwatch.clock import SimulatedClock
from floodwatch.readings import Reading
from floodwatch.rules.engine import ForecastEvaluator, Stored
from floodwatch.rules.threshold import Crossing, Ladder
from floodwatch.store.models import EventRow

from .helpers import demo_readings, write_config
from .test_rainfall import TORONTO

H = timedelta(hours=1)
MM_PER_INCH = 25.4


def forecast(fixtures: Path) -> list[Reading]:
    """Open-Meteo's hourly precipitation forecast, in mm, as the forecast feed delivers it."""
    data = json.loads(
        (fixtures / "feeds/open_meteo/forecast_hourly_precipitation.json").read_text()
    )
    return [
        Reading("toronto", "rain_forecast", inches * MM_PER_INCH, "mm",
                datetime.fromisoformat(t).replace(tzinfo=TORONTO))
        for t, inches in zip(data["hourly"]["time"], data["hourly"]["precipitation"], strict=True)
    ]  # fmt: skip


def evaluator(window: timedelta) -> ForecastEvaluator:
    ladder = Ladder((("blue", 10.0), ("yellow", 20.0)))
    return ForecastEvaluator("f", "toronto", "rain_forecast", "mm", "default", ladder, window)


def test_the_window_starts_after_now_and_ends_with_its_last_hour(fixtures_dir: Path) -> None:
    # at midnight on the 7th the next hour is 01:00 (1.008 in); the 00:00 value (0.256 in) is
    # the hour just ended, not a forecast
    now = datetime(2026, 3, 7, 0, tzinfo=TORONTO)
    readings = forecast(fixtures_dir)
    stored, [opened] = evaluator(H).evaluate(Stored(), readings, now)
    one = next(r for r in readings if r.observed_at == now + H)
    assert opened == Crossing(
        "opened", "yellow", None, replace(one, value=25.6032), 25.6032, "mm",
        {"window": "1h", "until": "2026-03-07T06:00:00+00:00"},
    )  # fmt: skip
    assert stored == Stored("yellow", None, now)


def test_the_same_forecast_again_keeps_the_level_and_says_nothing(fixtures_dir: Path) -> None:
    now = datetime(2026, 3, 6, 12, tzinfo=TORONTO)
    readings = forecast(fixtures_dir)
    ev = evaluator(24 * H)
    stored, [opened] = ev.evaluate(Stored(), readings, now)
    # next 24 h: 1.651 in = 41.9354 mm (the same sum as the pipeline test)
    assert (opened.level, opened.value) == ("yellow", 41.9354)
    assert opened.detail == {"window": "24h", "until": "2026-03-07T17:00:00+00:00"}
    later = now + H
    again, crossings = ev.evaluate(stored, readings, later)
    assert crossings == [] and again == Stored("yellow", None, later)


def test_a_dry_revision_clears_from_the_level_it_was_at(fixtures_dir: Path) -> None:
    now = datetime(2026, 3, 6, 12, tzinfo=TORONTO)
    readings = forecast(fixtures_dir)
    ev = evaluator(24 * H)
    stored, _ = ev.evaluate(Stored(), readings, now)
    dry = [replace(r, value=0.0) for r in readings]
    after, [cleared] = ev.evaluate(stored, dry, now + H)
    assert (cleared.transition, cleared.level, cleared.previous) == ("cleared", None, "yellow")
    assert cleared.value == 0.0
    assert after == Stored(None, None, now + H)


@pytest.mark.parametrize(("window", "label"), [(30 * timedelta(minutes=1), "0.5h"), (6 * H, "6h")])
def test_the_window_is_named_in_hours(fixtures_dir: Path, window: timedelta, label: str) -> None:
    now = datetime(2026, 3, 7, 0, 30, tzinfo=TORONTO)
    _, [opened] = evaluator(window).evaluate(Stored(), forecast(fixtures_dir), now)
    assert opened.detail["window"] == label


def test_the_flood_read_one_poll_at_a_time_decides_as_in_one_batch(tmp_path: Path) -> None:
    # between polls a rule's state lives in the database: the level, and since when the water
    # has been below it (the hold), must come back from there as they were left
    flood = demo_readings()

    def changes(app: App) -> list[tuple[str, str | None, str | None, str]]:
        with app.db.sessions() as s:
            rows = s.scalars(
                select(EventRow)
                .where(EventRow.type.in_(("opened", "raised", "lowered", "cleared")))
                .order_by(EventRow.id)
            )
            return [(e.type, e.level, e.data["from"], e.data["observed_at"]) for e in rows]

    def app_in(directory: Path) -> App:
        directory.mkdir()
        app = build_app(write_config(directory), clock=SimulatedClock(flood[0].observed_at))
        app.db.upgrade()
        return app

    batch, polled = app_in(tmp_path / "batch"), app_in(tmp_path / "polled")
    batch.pipeline.ingest(flood, flood[-1].observed_at)
    for r in flood:
        polled.pipeline.ingest([r], r.observed_at)
    assert changes(polled) == changes(batch)
    assert changes(batch) == [
        ("opened", "yellow", None, "2018-05-27T20:30:00+00:00"),
        ("raised", "orange", "yellow", "2018-05-27T20:52:00+00:00"),
        ("lowered", "yellow", "orange", "2018-05-28T00:00:00+00:00"),
        ("lowered", "blue", "yellow", "2018-05-28T01:30:00+00:00"),
        ("cleared", None, "blue", "2018-05-28T09:15:00+00:00"),
    ]
