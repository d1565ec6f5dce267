"""The production pipeline on a simulated clock over recorded readings, channels captured.

Time jumps from one thing to the next: a reading, a scripted acknowledgement, a due escalation
or a page retry. Everything at one instant runs in this order: readings, acknowledgements,
escalations, deliveries.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from floodwatch.app import App, build_app
from floodwatch.clock import SimulatedClock
from floodwatch.durations import parse_duration
from floodwatch.i18n import Refused, _
from floodwatch.notify.base import DeliveryResult, Message, Outcome
from floodwatch.readings import Reading
from floodwatch.roster.model import Person
from floodwatch.store.events import as_json
from floodwatch.store.models import AlertRow, EventRow

_ACK = re.compile(r"^(?P<who>[A-Za-z0-9_.\-]+)@(?P<when>\+.+|\d{4}-.+)$")


class BadAck(Refused, ValueError):
    """An --ack that cannot be played: a ValueError (the CLI reports it as a bad --ack) whose
    message is in the catalogue."""


@dataclass(frozen=True)
class AckSpec:
    """`who` (a person id or a role on duty) acknowledges: `after` each alert opens, or `at`."""

    who: str
    after: timedelta | None = None
    at: datetime | None = None

    @classmethod
    def parse(cls, text: str) -> AckSpec:
        """``leader@+25m`` (25 min after each alert opens) or ``zhang@2018-05-27T16:00-05:00``."""
        m = _ACK.match(text.strip())
        if not m:
            raise BadAck(_("expected WHO@+DURATION or WHO@ISO-TIME, found {text}", text=repr(text)))
        when = m.group("when")
        if when.startswith("+"):
            return cls(m.group("who"), after=parse_duration(when[1:]))
        at = datetime.fromisoformat(when)
        if at.tzinfo is None:
            raise BadAck(_("{time} needs a UTC offset", time=repr(when)))
        return cls(m.group("who"), at=at)


class CaptureNotifier:
    """Stands in for a configured channel: records the page, delivers nothing."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.sent: list[Message] = []

    def address_for(self, person: Person) -> str | None:
        return person.id

    def send(self, message: Message) -> DeliveryResult:
        self.sent.append(message)
        return DeliveryResult(Outcome.DELIVERED, "captured by replay")


def replay(
    config_path: str | Path,
    readings: Sequence[Reading],
    acks: Sequence[AckSpec] = (),
    *,
    database_url: str | None = None,
) -> list[dict[str, Any]]:
    """Run the readings through the pipeline; return every event in time order, as JSON dicts."""
    if not readings:
        return []
    ordered = sorted(readings, key=lambda r: r.observed_at)
    with tempfile.TemporaryDirectory(prefix="floodwatch-replay-") as tmp:
        url = database_url or f"sqlite:///{Path(tmp) / 'replay.db'}"
        clock = SimulatedClock(ordered[0].observed_at)
        app = build_app(config_path, clock=clock, database_url=url, notifiers={})
        app.notifiers.update(
            {n.name: CaptureNotifier(n.name) for n in app.config.settings.notifiers}
        )
        try:
            for spec in acks:
                roster = app.roster.current
                if spec.who not in roster.people and spec.who not in roster.roles:
                    raise BadAck(
                        _("--ack {who}: neither a person nor a role in the rosters", who=spec.who)
                    )
            app.db.upgrade()
            _run(app, clock, ordered, acks)
            with app.db.sessions() as session:
                rows = session.scalars(select(EventRow).order_by(EventRow.at, EventRow.id)).all()
                zone = app.config.settings.timezone
                return [as_json(row, zone) for row in rows]
        finally:
            app.db.dispose()


def _run(app: App, clock: SimulatedClock, readings: list[Reading], acks: Sequence[AckSpec]) -> None:
    pipeline, lifecycle = app.pipeline, app.lifecycle
    dispatcher = app.dispatcher("replay", timer=lambda: clock.now().timestamp())
    end = readings[-1].observed_at
    pending_acks: list[tuple[datetime, str, int | None]] = [
        (a.at, a.who, None) for a in acks if a.at is not None
    ]
    relative = [a for a in acks if a.after is not None]
    scheduled: set[int] = set()
    i = 0
    while True:
        candidates = [t for t in (
            readings[i].observed_at if i < len(readings) else None,
            min((t for t, _, _ in pending_acks), default=None),
            lifecycle.next_escalation(),
            app.village_desk.next_due() if app.villages else None,
            dispatcher.next_due(),
        ) if t is not None and t <= end]  # fmt: skip
        if not candidates:
            break
        now = max(min(candidates), clock.now())
        clock.set(now)
        batch = []
        while i < len(readings) and readings[i].observed_at <= now:
            batch.append(readings[i])
            i += 1
        pipeline.ingest(batch, now, feed="replay")
        for opened_id, opened_at in _opened(app, scheduled):
            scheduled.add(opened_id)
            for spec in relative:
                assert spec.after is not None
                pending_acks.append((opened_at + spec.after, spec.who, opened_id))
        due = [a for a in pending_acks if a[0] <= now]
        pending_acks = [a for a in pending_acks if a[0] > now]
        for _at, who, alert_id in sorted(due, key=lambda a: a[0]):
            _acknowledge(app, who, alert_id, now)
        lifecycle.escalate(now)
        if app.villages:
            app.village_desk.tick(now)
        dispatcher.deliver_due(now)


def _opened(app: App, known: set[int]) -> list[tuple[int, datetime]]:
    with app.db.sessions() as session:
        rows = session.execute(select(AlertRow.id, AlertRow.opened_at)).all()
    return [(alert_id, opened) for alert_id, opened in rows if alert_id not in known]


def _acknowledge(app: App, who: str, alert_id: int | None, now: datetime) -> None:
    roster = app.roster.current
    if who in roster.people:
        person = who
    else:
        people = roster.on_duty(now).people(who)
        if not people:
            raise BadAck(_("--ack {who}: neither a person nor a role on duty", who=who))
        person = people[0]
    with app.db.sessions() as session:
        query = select(AlertRow.id).where(
            AlertRow.state == "open", AlertRow.acknowledged_at.is_(None)
        )
        if alert_id is not None:
            query = query.where(AlertRow.id == alert_id)
        targets = list(session.scalars(query))
    for target in targets:
        app.lifecycle.acknowledge(target, person, "cli", now)
