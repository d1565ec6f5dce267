"""Running the service's jobs on a simulated clock, as the scheduler would, without sleeping."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from floodwatch.app import build_app
from floodwatch.clock import SimulatedClock
from floodwatch.service import Service

from .helpers import DEMO_READINGS, write_config

DEMO_FEED = {"name": "demo", "type": "csv", "path": str(DEMO_READINGS), "interval": "15m"}
# services a test built: conftest stops them when the test ends (lease connection, engines)
BUILT: list[Service] = []


def simulated(
    tmp_path: Path, start: datetime, node: str = "test", **overrides: object
) -> tuple[Service, SimulatedClock]:
    """A service over the demo flood's CSV feed on a simulated clock (no scheduler): the test
    runs its jobs. It has taken the leader lease if it could."""
    overrides.setdefault("feeds", [DEMO_FEED])
    clock = SimulatedClock(start)
    app = build_app(write_config(tmp_path, **overrides), clock=clock)
    service = Service(app, node=node)
    BUILT.append(service)
    service.prepare()
    return service, clock


def drive(service: Service, clock: SimulatedClock, until: datetime, step: timedelta) -> None:
    """Run the jobs as the scheduler would, in simulated time: the lease check, each feed
    polled at its interval, then escalation, the duty desk and delivery, every `step`."""
    app = service.app
    intervals = {f.name: f.interval for f in app.config.settings.feeds}
    next_poll = dict.fromkeys(intervals, clock.now())
    while clock.now() <= until:
        service.check_lease()
        for name, due in next_poll.items():
            if clock.now() >= due:
                service.poll(app.feeds[name])
                next_poll[name] = due + intervals[name]
        service.escalate()
        service.duty()
        service.dispatch()
        clock.advance(step)
