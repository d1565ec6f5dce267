"""A flood day replayed for the records' tests: the demo flood (Patapsco, 27-28 May 2018)
through the production pipeline on a simulated clock, with the duty desk's jobs, scripted
acknowledgements, a handover record and its confirmation, hazards and duty-log entries."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from floodwatch.app import App, build_app
from floodwatch.clock import SimulatedClock
from floodwatch.notify.base import DeliveryResult, Message, Outcome
from floodwatch.replay import CaptureNotifier
from floodwatch.roster.model import Person

from .helpers import DEMO_READINGS, write_config
from .roster_support import SHANGHAI, local

# the report's day: the flood crests in the small hours of 28 May, Shanghai time
DAY = "2018-05-28"
DAY_START = local("2018-05-28 00:00", SHANGHAI)
DAY_END = local("2018-05-29 00:00", SHANGHAI)


class RefusingNotifier(CaptureNotifier):
    """A channel that refuses one person for good (a number that does not exist)."""

    def __init__(self, name: str, refuses: str) -> None:
        super().__init__(name)
        self.refuses = refuses

    def address_for(self, person: Person) -> str | None:
        return person.id

    def send(self, message: Message) -> DeliveryResult:
        if message.person == self.refuses:
            return DeliveryResult(Outcome.PERMANENT, "no such subscriber")
        return super().send(message)


def records_app(
    tmp_path: Path, start: datetime, url: str | None = None, **overrides: Any
) -> tuple[App, SimulatedClock]:
    """The demo's rules and the township roster on a simulated clock, channels captured: `sms`
    refuses tom.baker; `file` takes everything. SQLite in `tmp_path` unless `url` is given."""
    clock = SimulatedClock(start)
    settings: dict[str, Any] = {
        "notifiers": [{"name": "sms", "type": "console"}, {"name": "file", "type": "console"}],
        **overrides,
    }
    config = write_config(tmp_path, **settings)
    app = build_app(
        config, clock=clock, database_url=url or f"sqlite:///{tmp_path / 'floodwatch.db'}",
        notifiers={"sms": RefusingNotifier("sms", "tom.baker"), "file": CaptureNotifier("file")},
    )  # fmt: skip
    app.db.upgrade()
    return app, clock


@dataclass
class Script:
    """What people do during the replayed day, at given instants."""

    actions: list[tuple[datetime, Callable[[App, datetime], None]]] = field(default_factory=list)

    def at(self, when: datetime, action: Callable[[App, datetime], None]) -> None:
        self.actions.append((when, action))


def run_day(app: App, clock: SimulatedClock, script: Script, until: datetime) -> None:
    """Step the clock from reading to reading (and to each scripted action) up to `until`,
    doing at each instant what the service does: store and evaluate, people's actions,
    escalate, deliver, handovers, the records' tick."""
    from floodwatch.feeds.csv import parse_floodwatch_csv

    parsed = parse_floodwatch_csv(DEMO_READINGS.read_text(encoding="utf-8"), str(DEMO_READINGS))
    readings = sorted(parsed.readings, key=lambda r: r.observed_at)
    dispatcher = app.dispatcher("test", timer=lambda: clock.now().timestamp())
    instants = sorted(
        {r.observed_at for r in readings if clock.now() <= r.observed_at <= until}
        | {t for t, _ in script.actions if t <= until}
        | {until}
    )
    app.handovers.tick(clock.now())  # the first tick marks where counting starts
    done = 0
    actions = sorted(script.actions, key=lambda a: a[0])
    i = 0
    for now in instants:
        clock.set(now)
        batch = []
        while i < len(readings) and readings[i].observed_at <= now:
            batch.append(readings[i])
            i += 1
        app.pipeline.ingest(batch, now, feed="replay")
        while done < len(actions) and actions[done][0] <= now:
            actions[done][1](app, now)
            done += 1
        app.pipeline.tick(now)
        dispatcher.deliver_due(now)
        app.handovers.tick(now)
        app.records.tick(now)
        dispatcher.deliver_due(now)


def demo_clock_config(tmp_path: Path, start: str) -> Path:
    """A config on a demo clock that read `start` just now (speed 1), its database made: every
    command run with it tells the same, moving time, as with a running demo."""
    from floodwatch.store import Database, state

    config = write_config(tmp_path, clock={"start": start, "speed": 1})
    db = Database(f"sqlite:///{tmp_path / 'floodwatch.db'}")
    try:
        db.upgrade()
        state.put(db, state.DEMO_ORIGIN, {"origin": datetime.now(UTC).isoformat()})
    finally:
        db.dispose()
    return config


def at(text: str) -> datetime:
    """A Shanghai wall-clock time on the flood's days."""
    return local(text, SHANGHAI)


def later(when: datetime, minutes: int) -> datetime:
    return when + timedelta(minutes=minutes)


def write_demo_report(folder: Path) -> Path:
    """The flood day of tests/test_records_report.py replayed, its report written to
    folder/report.md (with its picture beside it): README's excerpt and picture are made so:

        .venv/bin/python -m tests.records_support /tmp/demo-report
        cp /tmp/demo-report/report-01589025.png config/demo-report.png
    """
    from datetime import date

    from .test_records_report import flood_script

    folder.mkdir(parents=True, exist_ok=True)
    app, clock = records_app(folder, at("2018-05-27 13:00"))
    run_day(app, clock, flood_script(), DAY_END)
    out = folder / "report.md"
    app.reports.make(date.fromisoformat(DAY), clock.now(), "md", out)
    app.db.dispose()
    return out


if __name__ == "__main__":
    import sys

    print(write_demo_report(Path(sys.argv[1])))  # noqa: T201
