"""One storage contract, run on SQLite and on PostgreSQL."""

from __future__ import annotations

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
from floodwatch.store import Database
from floodwatch.store.models import AlertRow, Base, EventRow, ReadingRow

from .helpers import demo_readings, write_config

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
