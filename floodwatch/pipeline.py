"""One step of the system, given `now`: store readings, evaluate rules, change alerts, enqueue
pages, advance due escalations. Each step is one transaction: the alert change, its events and
its pages are committed together before any notifier is called (the outbox)."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from floodwatch.alerts import escalation
from floodwatch.app import App
from floodwatch.config import EscalationStep, ThresholdRule
from floodwatch.errors import FloodwatchError, NotFound
from floodwatch.notify.templates import AlertFacts, render
from floodwatch.readings import Reading
from floodwatch.roster.model import Person
from floodwatch.rules.threshold import Crossing, Ladder, RuleState, evaluate
from floodwatch.store.events import record
from floodwatch.store.models import AlertRow, EventRow, PageRow, ReadingRow, RuleStateRow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StepResult:
    stored: int = 0
    duplicates: int = 0
    crossings: int = 0
    pages: int = 0


class Pipeline:
    def __init__(self, app: App) -> None:
        self.app = app
        settings = app.config.settings
        self._rules: dict[tuple[str, str], list[ThresholdRule]] = defaultdict(list)
        for rule in settings.rules:
            self._rules[(rule.station, rule.parameter)].append(rule)
        self._zone = settings.timezone
        self._ladders = {
            r.id: Ladder(tuple((s.level, s.value) for s in r.levels), r.deadband, r.hold)
            for r in settings.rules
        }

    # -- readings ------------------------------------------------------------------------------

    def ingest(
        self, readings: Sequence[Reading], now: datetime, feed: str | None = None
    ) -> StepResult:
        """Store readings (repeats ignored), evaluate the new ones, apply alert changes."""
        if not readings:
            return StepResult()
        with self.app.db.transaction() as session:
            new = self._store(session, readings, now, feed)
            crossings = self._evaluate(session, new)
            pages = sum(self._apply(session, rule, c, now) for rule, c in crossings)
        if pages:
            self.app.pages_written()
        return StepResult(len(new), len(readings) - len(new), len(crossings), pages)

    def _store(
        self, session: Session, readings: Sequence[Reading], now: datetime, feed: str | None
    ) -> list[Reading]:
        unique = {r.key: r for r in readings}  # a batch may repeat itself
        rows = [
            {
                "station": r.station, "parameter": r.parameter, "value": r.value, "unit": r.unit,
                "observed_at": r.observed_at, "received_at": now, "feed": feed,
            }
            for r in unique.values()
        ]  # fmt: skip
        insert = pg_insert if self.app.db.dialect == "postgresql" else sqlite_insert
        stmt = (
            insert(ReadingRow)
            .on_conflict_do_nothing(index_elements=["station", "parameter", "observed_at"])
            .returning(ReadingRow.station, ReadingRow.parameter, ReadingRow.observed_at)
        )
        inserted: set[tuple[str, str, datetime]] = set()
        for i in range(0, len(rows), 5000):
            result = session.execute(stmt, rows[i : i + 5000])
            inserted.update((s, p, o) for s, p, o in result.all())
        return [r for k, r in unique.items() if k in inserted]

    def _evaluate(
        self, session: Session, readings: list[Reading]
    ) -> list[tuple[ThresholdRule, Crossing]]:
        by_series: dict[tuple[str, str], list[Reading]] = defaultdict(list)
        for r in readings:
            if (r.station, r.parameter) in self._rules:
                by_series[(r.station, r.parameter)].append(r)
        rules = [rule for key in by_series for rule in self._rules[key]]
        if not rules:
            return []
        rows = {
            row.rule_id: row
            for row in session.scalars(
                select(RuleStateRow).where(RuleStateRow.rule_id.in_([r.id for r in rules]))
            )
        }
        crossings: list[tuple[ThresholdRule, Crossing]] = []
        for rule in rules:
            ladder = self._ladders[rule.id]
            row = rows.get(rule.id)
            before = _state(row, ladder)
            state = before
            for reading in sorted(
                by_series[(rule.station, rule.parameter)], key=lambda r: r.observed_at
            ):
                if reading.unit != rule.unit:
                    log.error(
                        "rule %s: reading in %s but the rule is in %s; not evaluated",
                        rule.id, reading.unit, rule.unit,
                    )  # fmt: skip
                    continue
                state, crossing = evaluate(ladder, state, reading)
                if crossing:
                    crossings.append((rule, crossing))
            if state != before:
                if row is None:
                    row = RuleStateRow(rule_id=rule.id)
                    session.add(row)
                row.level = ladder.levels[state.level][0] if state.level >= 0 else None
                row.below_since = state.below_since
                row.last_observed_at = state.last_observed_at
        return crossings

    # -- alerts --------------------------------------------------------------------------------

    def _apply(self, session: Session, rule: ThresholdRule, c: Crossing, now: datetime) -> int:
        policy = self.app.config.settings.escalation[rule.escalation]
        reading = c.reading
        alert = session.scalars(
            select(AlertRow).where(
                AlertRow.station == rule.station,
                AlertRow.rule_id == rule.id,
                AlertRow.state == "open",
            )
        ).one_or_none()
        if c.kind == "opened" or alert is None:
            if alert is not None or c.level is None:
                log.error("rule %s: %s with alert %s open; ignored", rule.id, c.kind, alert)
                return 0
            alert = AlertRow(
                station=rule.station, parameter=rule.parameter, rule_id=rule.id, level=c.level,
                peak_level=c.level, state="open", value=reading.value, unit=reading.unit,
                opened_at=now, updated_at=now, policy=rule.escalation, escalation_step=0,
                next_escalation_at=escalation.next_due(policy, 0, now),
            )  # fmt: skip
            session.add(alert)
            session.flush()
            event = self._event(session, "opened", alert, now, c)
            return self._page(session, alert, event, "opened", [policy.steps[0]], now)

        alert.value = reading.value
        alert.updated_at = now
        steps = escalation.steps_so_far(policy, alert.escalation_step)
        if c.kind == "raised":
            assert c.level is not None
            alert.level = c.level
            if self._rank(c.level) > self._rank(alert.peak_level):
                alert.peak_level = c.level
            if alert.acknowledged_at is not None:
                # a higher level needs a fresh acknowledgement; escalation resumes
                alert.acknowledged_at = None
                alert.acknowledged_by = None
                alert.next_escalation_at = escalation.next_due(policy, alert.escalation_step, now)
        elif c.kind == "lowered":
            assert c.level is not None
            alert.level = c.level
        else:  # cleared
            alert.state = "cleared"
            alert.cleared_at = now
            alert.next_escalation_at = None
        event = self._event(session, c.kind, alert, now, c)
        return self._page(session, alert, event, c.kind, steps, now)

    def escalate(self, now: datetime) -> int:
        """Advance every open, unacknowledged alert whose next step is due; returns pages queued."""
        pages = 0
        with self.app.db.transaction() as session:
            due = session.scalars(
                select(AlertRow)
                .where(
                    AlertRow.state == "open",
                    AlertRow.acknowledged_at.is_(None),
                    AlertRow.next_escalation_at <= now,
                )
                .order_by(AlertRow.next_escalation_at, AlertRow.id)
                .with_for_update(skip_locked=True)
            ).all()
            for alert in due:
                policy = self.app.config.settings.escalation[alert.policy]
                step = escalation.advance(policy, alert.escalation_step, now)
                alert.escalation_step = step.step
                alert.next_escalation_at = step.next_due
                alert.updated_at = now
                log.info("alert #%d escalated to step %d", alert.id, step.step)
                event = record(
                    session, now, "escalated", alert_id=alert.id, station=alert.station,
                    level=alert.level, step=step.step, repeat=step.repeat,
                )  # fmt: skip
                pages += self._page(session, alert, event, "escalated", [step.page], now)
        if pages:
            self.app.pages_written()
        return pages

    def next_escalation(self) -> datetime | None:
        """When the earliest pending escalation is due (replay steps its clock to it)."""
        with self.app.db.sessions() as session:
            return session.scalar(
                select(AlertRow.next_escalation_at)
                .where(AlertRow.state == "open", AlertRow.acknowledged_at.is_(None))
                .where(AlertRow.next_escalation_at.is_not(None))
                .order_by(AlertRow.next_escalation_at)
                .limit(1)
            )

    def acknowledge(self, alert_id: int, person_id: str, now: datetime) -> AlertRow:
        """A person on the roster takes responsibility: escalation stops."""
        if person_id not in self.app.roster.people:
            raise NotFound(f"unknown person {person_id!r}: not in the rosters")
        with self.app.db.transaction() as session:
            alert = session.get(AlertRow, alert_id, with_for_update=True)
            if alert is None:
                raise NotFound(f"no alert #{alert_id}")
            if alert.state != "open":
                raise FloodwatchError(f"alert #{alert_id} is {alert.state}, not open")
            if alert.acknowledged_at is not None:
                raise FloodwatchError(
                    f"alert #{alert_id} was already acknowledged by {alert.acknowledged_by} "
                    f"at {alert.acknowledged_at.astimezone(self._zone):%Y-%m-%d %H:%M %Z}"
                )
            alert.acknowledged_at = now
            alert.acknowledged_by = person_id
            alert.next_escalation_at = None
            alert.updated_at = now
            role = self._role_of(person_id, now)
            log.info("alert #%d acknowledged by %s", alert.id, person_id)
            record(
                session, now, "acknowledged", alert_id=alert.id, station=alert.station,
                level=alert.level, by=person_id, role=role,
            )  # fmt: skip
            return alert

    # -- pages ---------------------------------------------------------------------------------

    def _page(
        self, session: Session, alert: AlertRow, event: EventRow, kind: str,
        steps: Iterable[EscalationStep], now: datetime,
    ) -> int:  # fmt: skip
        """Write one page per (person, channel) reached by `steps` to the outbox."""
        facts = self._facts(alert, kind, event, now)
        where: dict[str, Any] = {
            "alert_id": alert.id,
            "station": alert.station,
            "level": alert.level,
        }
        count = 0
        for role, person, channel in self._recipients(session, steps, now, where):
            address = self.app.notifiers[channel].address_for(person)
            if address is None:
                record(
                    session, now, "unreachable", **where, to=person.id, role=role, channel=channel
                )
                continue
            subject, body = render(kind, person.language, facts)
            page = PageRow(
                idempotency_key=f"{event.id}:{person.id}:{channel}", alert_id=alert.id,
                event_id=event.id, person=person.id, role=role, channel=channel, address=address,
                language=person.language, subject=subject, body=body, status="pending",
                attempts=0, created_at=now, next_attempt_at=now,
            )  # fmt: skip
            session.add(page)
            session.flush()
            record(
                session, now, "page_queued", **where, to=person.id, role=role, channel=channel,
                page=page.id, cause=kind,
            )  # fmt: skip
            count += 1
        return count

    def _recipients(
        self, session: Session, steps: Iterable[EscalationStep], now: datetime,
        where: dict[str, Any],
    ) -> list[tuple[str, Person, str]]:  # fmt: skip
        """(role, person, channel) for everyone on duty in the steps' roles, each pair once."""
        duty = self.app.roster.on_duty(now)
        out: dict[tuple[str, str], tuple[str, Person, str]] = {}
        for step in steps:
            for role in step.notify:
                people = duty.people(role)
                if not people:
                    record(session, now, "nobody_on_duty", **where, role=role)
                for person_id in people:
                    for channel in step.channels or list(self.app.notifiers):
                        person = self.app.roster.person(person_id)
                        out.setdefault((person_id, channel), (role, person, channel))
        return list(out.values())

    def _facts(self, alert: AlertRow, kind: str, event: EventRow, now: datetime) -> AlertFacts:
        cfg = self.app.config
        zone = cfg.settings.timezone
        previous = event.data.get("from")
        level = None if kind == "cleared" else cfg.level(alert.level)
        waited = 0
        if kind == "escalated":
            waited = int((now - alert.opened_at).total_seconds() // 60)
        return AlertFacts(
            alert_id=alert.id,
            office=cfg.settings.office,
            station=cfg.station(alert.station).name,
            parameter=alert.parameter,
            value=alert.value,
            unit=alert.unit,
            level=level,
            previous=cfg.level(previous) if previous else None,
            at=now.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z"),
            waited_minutes=waited,
        )

    def _event(
        self, session: Session, kind: str, alert: AlertRow, now: datetime, c: Crossing
    ) -> EventRow:
        log.info(
            "alert #%d %s: %s %s -> %s at %g %s", alert.id, kind, alert.station,
            c.previous or "-", c.level or "-", c.reading.value, c.reading.unit,
        )  # fmt: skip
        return record(
            session, now, kind, alert_id=alert.id, station=alert.station,
            level=c.level, **{"from": c.previous}, value=c.reading.value, unit=c.reading.unit,
            observed_at=c.reading.observed_at.isoformat(), rule=alert.rule_id,
        )  # fmt: skip

    def _rank(self, level: str) -> int:
        return [lv.id for lv in self.app.config.settings.levels].index(level)

    def _role_of(self, person_id: str, now: datetime) -> str | None:
        duty = self.app.roster.on_duty(now)
        return next((role for role, a in duty.assignments.items() if person_id in a.people), None)


def _state(row: RuleStateRow | None, ladder: Ladder) -> RuleState:
    if row is None:
        return RuleState()
    names = [name for name, _ in ladder.levels]
    level = names.index(row.level) if row.level in names else -1
    return RuleState(level, row.below_since, row.last_observed_at)
