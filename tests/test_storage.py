"""One storage contract, run on SQLite and on PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, StatementError

from floodwatch.app import build_app
from floodwatch.clock import SimulatedClock
from floodwatch.readings import Reading
from floodwatch.rules.engine import RainfallEvaluator, Stored, ThresholdEvaluator
from floodwatch.rules.threshold import Ladder
from floodwatch.store import Database
from floodwatch.store.bulk import bulk_for
from floodwatch.store.models import AlertRow, Base, EventRow, ReadingRow

from .helpers import demo_readings, write_config
from .test_rainfall import TORONTO, rain
from .test_rainfall import rule as rain_rule

EST = timezone(timedelta(hours=-5))


def test_migrations_build_exactly_the_models(database_url: str) -> None:
    db = Database(database_url)
    db.upgrade()
    db.upgrade()  # idempotent
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    db.dispose()
    assert diff == []


def test_times_go_in_aware_and_come_back_in_utc(database_url: str) -> None:
    db = Database(database_url)
    db.upgrade()
    local = datetime(2018, 5, 27, 15, 52, tzinfo=EST)
    with db.transaction() as s:
        s.add(ReadingRow(station="s", parameter="stage", value=27.16, unit="ft",
                         observed_at=local, received_at=local))  # fmt: skip
    with db.sessions() as s:
        row = s.scalars(select(ReadingRow)).one()
    assert row.observed_at == local and row.observed_at.tzinfo == UTC
    assert row.observed_at.hour == 20
    with pytest.raises(StatementError, match="naive datetime"), db.transaction() as s:
        s.add(ReadingRow(station="s", parameter="stage", value=1.0, unit="ft",
                         observed_at=datetime(2018, 5, 27), received_at=local))  # fmt: skip
    db.dispose()


def test_repeated_readings_are_stored_once(tmp_path: Path, database_url: str) -> None:
    readings = demo_readings()[:96]
    clock = SimulatedClock(readings[-1].observed_at)
    app = build_app(write_config(tmp_path), clock=clock, database_url=database_url)
    app.db.upgrade()
    pipeline = app.pipeline
    first = pipeline.ingest(readings, clock.now())
    again = pipeline.ingest(readings[:50] + readings[:50], clock.now())
    same_instant = Reading("01589025", "stage", 99.0, "ft", readings[0].observed_at)
    third = pipeline.ingest([same_instant], clock.now())
    assert (first.stored, first.duplicates) == (96, 0)
    assert (again.stored, again.duplicates) == (0, 100)
    assert (third.stored, third.duplicates) == (0, 1)  # the first value observed stays
    with app.db.sessions() as s:
        assert s.scalar(select(ReadingRow.value).where(
            ReadingRow.observed_at == readings[0].observed_at)) == readings[0].value  # fmt: skip
    app.db.dispose()


def test_a_batch_mixing_stored_and_new_readings_reports_and_evaluates_only_the_new(
    tmp_path: Path, database_url: str
) -> None:
    readings = demo_readings()
    opening = next(i for i, r in enumerate(readings) if r.value >= 20)  # 15:30 EST, 20.63 ft
    clock = SimulatedClock(readings[opening].observed_at)
    app = build_app(write_config(tmp_path), clock=clock, database_url=database_url)
    app.db.upgrade()
    first = app.pipeline.ingest(readings[: opening + 1], clock.now())
    assert (first.stored, first.changes) == (opening + 1, 1)
    # a feed's overlapping window: the last five again, and ten new ones
    mixed = readings[opening - 4 : opening + 11]
    clock.set(mixed[-1].observed_at)
    second = app.pipeline.ingest(mixed, clock.now())
    assert (second.stored, second.duplicates) == (10, 5)
    with app.db.sessions() as s:
        assert s.scalar(select(func.count(ReadingRow.id))) == opening + 11
        opened = s.scalars(select(EventRow).where(EventRow.type == "opened")).all()
    assert len(opened) == 1  # the repeated 20.63 ft was not evaluated again
    app.db.dispose()


def test_at_most_one_open_alert_per_station_and_rule(database_url: str) -> None:
    db = Database(database_url)
    db.upgrade()
    t = datetime(2018, 5, 27, 20, 30, tzinfo=UTC)

    def alert(state: str) -> AlertRow:
        return AlertRow(station="01589025", parameter="stage", rule_id="r", level="blue",
                        peak_level="blue", state=state, value=18.0, unit="ft", opened_at=t,
                        updated_at=t, policy="default", escalation_step=0)  # fmt: skip

    with db.transaction() as s:
        s.add_all([alert("cleared"), alert("cleared"), alert("open")])
    with pytest.raises(IntegrityError), db.transaction() as s:
        s.add(alert("open"))
    db.dispose()


def _stage_state(until: datetime) -> Stored:
    """The demo rule's state after the flood's readings up to `until`."""
    ladder = Ladder((("blue", 18.0), ("yellow", 20.0), ("orange", 25.0)), 1.0, timedelta(hours=1))
    rule = ThresholdEvaluator("patapsco-stage", "01589025", "stage", "ft", "default", ladder)
    readings = [r for r in demo_readings() if r.observed_at <= until]
    return rule.evaluate(Stored(), readings, until)[0]


def test_rule_states_come_back_as_they_were_saved(database_url: str, fixtures_dir: Path) -> None:
    # what a rule remembers between polls: the level, since when the water has been below it
    # (the hold), the last reading seen (older ones are ignored) and a rain rule's history
    orange = _stage_state(datetime(2018, 5, 27, 17, 0, tzinfo=EST))  # below 24 ft since 16:45
    yellow = _stage_state(datetime(2018, 5, 27, 19, 30, tzinfo=EST))
    assert orange.below_since and orange.last_observed_at
    assert orange.below_since < orange.last_observed_at and orange.level == "orange"
    readings = [
        r for r in rain(fixtures_dir) if r.observed_at <= datetime(2026, 3, 7, 2, tzinfo=TORONTO)
    ]
    rainfall = RainfallEvaluator("toronto-rain", "toronto", "rain", "mm", "default", rain_rule())
    wet = rainfall.evaluate(Stored(), readings, readings[-1].observed_at)[0]
    assert wet.level == "yellow" and len(wet.data["history"]) == 24

    db = Database(database_url)
    db.upgrade()
    gauges = [f"stage-{i:02d}" for i in range(40)]  # one rule per gauge of a county
    bulk = bulk_for(db, len(gauges) + 1)
    first = {g: orange for g in gauges} | {"toronto-rain": wet}
    with db.transaction() as s:
        bulk.save_states(s, {}, first)
    with db.sessions() as s:
        assert bulk.load_states(s, list(first)) == first  # all of them
        assert bulk.load_states(s, ["stage-07", "toronto-rain", "gone"]) == {
            "stage-07": orange, "toronto-rain": wet,
        }  # a few of them  # fmt: skip
    # the next poll: most gauges move on together, a few each their own way
    second = {g: yellow for g in gauges[:35]} | {"stage-35": Stored(), "toronto-rain": orange}
    with db.transaction() as s:
        bulk.save_states(s, second, {})
    with db.sessions() as s:
        assert bulk.load_states(s, list(first)) == first | second
    db.dispose()


def test_a_poll_of_thousands_of_readings_is_stored_whole(tmp_path: Path, database_url: str) -> None:
    # the flood's hydrograph at 16 gauges in one batch: 6,160 readings, more than one statement
    # takes at a time
    flood = demo_readings()
    readings = [replace(r, station=f"0158{i:04d}") for i in range(16) for r in flood]
    clock = SimulatedClock(flood[-1].observed_at)
    app = build_app(write_config(tmp_path, rules=[]), clock=clock, database_url=database_url)
    app.db.upgrade()
    assert app.pipeline.ingest(readings, clock.now()).stored == len(readings) == 6160
    with app.db.sessions() as s:
        assert s.scalar(select(func.count(ReadingRow.id))) == 6160
    # 5,000 stored ones and a new one: the new one found among them (5,001st of the batch)
    new = replace(flood[0], station="01589025")
    again = app.pipeline.ingest(readings[-5000:] + [new, readings[0]], clock.now())
    assert (again.stored, again.duplicates) == (1, 5001)
    app.db.dispose()
