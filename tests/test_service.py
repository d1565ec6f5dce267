"""The service on APScheduler: polls, escalation and delivery on a fast demo clock."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import func, select

from floodwatch.app import build_app
from floodwatch.service import Service
from floodwatch.store.models import EventRow, PageRow

from .helpers import DEMO_READINGS, write_config


def fast_demo(tmp_path: Path, speed: float, **overrides: object) -> Path:
    settings: dict[str, object] = {
        "clock": {"start": "2018-05-27T15:20:00-05:00", "speed": speed, "fresh_start": True},
        "feeds": [{"name": "demo", "type": "csv", "path": str(DEMO_READINGS), "interval": "15m"}],
    }
    settings.update(overrides)
    return write_config(tmp_path, **settings)


def wait_for(predicate, deadline_s: float = 30.0) -> bool:  # type: ignore[no-untyped-def]
    """Poll until `predicate()` holds; a bounded wait for work done by the service's threads."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_pages_are_delivered_when_written_not_at_the_next_sweep(tmp_path: Path) -> None:
    # a sweep every 24 simulated hours is 96 real seconds at this speed: only the wake-up
    # that follows the outbox write can deliver the opening's pages within the wait below
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


def test_the_whole_flood_runs_through_the_service(tmp_path: Path) -> None:
    # 10 simulated hours per real second: open, escalate and clear within a few seconds
    config = fast_demo(tmp_path, 36000)
    app = build_app(config)
    service = Service(app)
    service.start()
    try:

        def kinds() -> list[str]:
            with app.db.sessions() as s:
                return list(s.scalars(select(EventRow.type).order_by(EventRow.id)))

        assert wait_for(lambda: "cleared" in kinds())
        assert wait_for(lambda: kinds().count("page_sent") == kinds().count("page_queued"))
        seen = [k for k in kinds() if k in ("opened", "escalated", "raised", "cleared")]
        assert seen[:2] == ["opened", "escalated"] or seen[:2] == ["opened", "raised"]
        assert seen[-1] == "cleared"
        # the 08:00 Shanghai handover falls inside the flood: the duty desk announced it
        assert wait_for(lambda: "handover" in kinds())
    finally:
        service.stop()
