"""The service: its jobs driven on a simulated clock through the real flood, and once on
APScheduler itself for the dispatcher's wake-up."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from floodwatch.app import App, build_app
from floodwatch.service import Service
from floodwatch.store.models import EventRow, PageRow

from .helpers import DEMO_READINGS, write_config
from .roster_support import local
from .service_support import drive, simulated


def fast_demo(tmp_path: Path, speed: float, **overrides: object) -> Path:
    settings: dict[str, object] = {
        "clock": {"start": "2018-05-27T15:20:00-05:00", "speed": speed, "fresh_start": True},
        "feeds": [{"name": "demo", "type": "csv", "path": str(DEMO_READINGS), "interval": "15m"}],
    }
    settings.update(overrides)
    return write_config(tmp_path, **settings)


def types(app: App) -> list[str]:
    with app.db.sessions() as s:
        return list(s.scalars(select(EventRow.type).order_by(EventRow.id)))


def test_the_whole_flood_runs_through_the_service_jobs(tmp_path: Path) -> None:
    start = local("2018-05-28 04:00")  # 15:00 EST, half an hour before the river reaches 20 ft
    service, clock = simulated(tmp_path, start)
    drive(service, clock, local("2018-05-28 19:00"), timedelta(minutes=5))
    seen = [t for t in types(service.app) if t in ("opened", "escalated", "raised", "lowered",
                                                   "cleared", "handover")]  # fmt: skip
    # opened 15:30 EST (polled at 15:30), nobody answers: the leader at 15:45, then orange at
    # 15:52 (polled 16:00); the 08:00 Shanghai handover; lowered twice; cleared
    assert seen[:3] == ["opened", "escalated", "raised"]
    assert "handover" in seen and seen[-1] == "cleared"
    with service.app.db.sessions() as s:
        opened = s.scalars(select(EventRow).where(EventRow.type == "opened")).one()
        statuses = dict(
            s.execute(select(PageRow.status, func.count()).group_by(PageRow.status)).all()
        )
    assert opened.at == local("2018-05-28 04:30") and opened.data["value"] == 20.63
    assert statuses == {"delivered": sum(statuses.values())}  # every page delivered
    assert types(service.app).count("page_sent") == types(service.app).count("page_queued")


def test_a_service_restarted_mid_flood_announces_nothing_twice(tmp_path: Path) -> None:
    service, clock = simulated(tmp_path, local("2018-05-28 04:00"))
    drive(service, clock, local("2018-05-28 07:00"), timedelta(minutes=5))
    before = types(service.app)
    again = Service(build_app(service.app.config.path, clock=clock), node="test-2")
    again.prepare()
    assert not again.leader  # the first still holds the lease (a lock beside the SQLite file)
    drive(again, clock, local("2018-05-28 07:30"), timedelta(minutes=5))
    assert types(again.app) == before  # a standby polls, escalates and announces nothing
    service.stop()  # the first stops; the second takes over at its next lease check
    again.check_lease()
    assert again.leader
    drive(again, clock, local("2018-05-28 09:00"), timedelta(minutes=5))
    after = types(again.app)
    assert after[: len(before)] == before
    assert after.count("opened") == 1 and after.count("handover") == 1


def wait_for(predicate, deadline_s: float = 30.0) -> bool:  # type: ignore[no-untyped-def]
    """Poll until `predicate()` holds; a bounded wait for work done by the scheduler's threads."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_pages_are_delivered_when_written_not_at_the_next_sweep(tmp_path: Path) -> None:
    # the one test on APScheduler itself: a sweep every 24 simulated hours is 96 real seconds at
    # this speed, so only the wake-up that follows the outbox write can deliver the opening's
    # pages within the wait below
    config = fast_demo(tmp_path, 900, delivery={"sweep": "24h"})
    app = build_app(config)
    service = Service(app)
    service.start()
    try:

        def delivered() -> int:
            with app.db.sessions() as s:
                return s.scalar(select(func.count()).where(PageRow.status == "delivered")) or 0

        assert wait_for(lambda: delivered() >= 2, deadline_s=20)
        with app.db.sessions() as s:
            first = s.scalars(select(EventRow).order_by(EventRow.id)).first()
        assert first is not None and first.type == "opened"
    finally:
        service.stop()


def test_a_fresh_start_on_a_fresh_clone_makes_the_database_folder(tmp_path: Path) -> None:
    """A fresh clone has no var/: the demo's fresh start empties nothing and `upgrade` makes the
    folder, instead of a database outage at the first start."""
    config = fast_demo(tmp_path, 900, database="sqlite:///var/demo.db")
    assert not (tmp_path / "var").exists()
    service = Service(build_app(config), node="test")
    service.prepare()
    try:
        assert (tmp_path / "var" / "demo.db").is_file() and service.leader
        with service.app.db.sessions() as s:
            assert s.scalar(select(func.count(EventRow.id))) == 0
    finally:
        service.stop()
