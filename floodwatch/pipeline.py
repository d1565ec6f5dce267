"""One step of the system, given `now`: store readings, evaluate rules, change alerts, enqueue
pages, advance due escalations. Each step is one transaction: the alert change, its events and
its pages are committed together before any notifier is called (the outbox)."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect
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
from floodwatch.store.models import (
    AlertRow,
    EventRow,
    PageRow,
    ReadingRow,
    RuleStateRow,
    UTCDateTime,
)

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
        # per series, what evaluating it needs: rule, ladder, level name -> index in the ladder
        self._series: dict[tuple[str, str], list[_Evaluation]] = {}
        for key, rules in self._rules.items():
            for rule in rules:
                ladder = self._ladders[rule.id]
                index: dict[str | None, int] = {}
                for i, (name, _) in enumerate(ladder.levels):
                    index.setdefault(name, i)
                self._series.setdefault(key, []).append((rule, ladder, index))
        db = app.db
        self._bulk = (
            _SqliteBulk(db.engine.dialect, len(self._ladders))
            if db.dialect == "sqlite"
            else _Bulk(db.dialect)
        )

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
        return self._bulk.store(session, unique, now, feed)

    def _evaluate(
        self, session: Session, readings: list[Reading]
    ) -> list[tuple[ThresholdRule, Crossing]]:
        by_series: dict[tuple[str, str], list[Reading]] = {}
        evaluated = self._series
        for r in readings:
            key = (r.station, r.parameter)
            if key in evaluated:
                series = by_series.get(key)
                if series is None:
                    by_series[key] = [r]
                else:
                    series.append(r)
        if not by_series:
            return []
        saved = self._bulk.load_states(
            session, [rule.id for key in by_series for rule, _, _ in evaluated[key]]
        )
        states: dict[tuple[int, datetime | None, datetime | None], RuleState] = {}
        crossings: list[tuple[ThresholdRule, Crossing]] = []
        changed: list[_SavedState] = []
        added: list[_SavedState] = []
        for key, series in by_series.items():
            if len(series) > 1:
                series.sort(key=_observed_at)
            for rule, ladder, index in evaluated[key]:
                row = saved.get(rule.id)
                if row is None:
                    before = _NO_STATE
                else:
                    # a poll's states share their instants: one RuleState for equal ones
                    k = (index.get(row[1], -1), row[2], row[3])
                    before = states.get(k) or states.setdefault(k, RuleState(*k))
                state = before
                for reading in series:
                    if reading.unit != rule.unit:
                        log.error(
                            "rule %s: reading in %s but the rule is in %s; not evaluated",
                            rule.id, reading.unit, rule.unit,
                        )  # fmt: skip
                        continue
                    state, crossing = evaluate(ladder, state, reading)
                    if crossing:
                        crossings.append((rule, crossing))
                if state is before or (
                    state.last_observed_at == before.last_observed_at and state == before
                ):
                    continue
                level = ladder.levels[state.level][0] if state.level >= 0 else None
                saving = (rule.id, level, state.below_since, state.last_observed_at)
                (added if row is None else changed).append(saving)
        self._bulk.save_states(session, changed, added)
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


_NO_STATE = RuleState()


def _observed_at(reading: Reading) -> datetime:
    return reading.observed_at


_Evaluation = tuple[ThresholdRule, Ladder, dict[str | None, int]]
# (rule id, level, below since, last observed at): one row of rule_states
_SavedState = tuple[str, str | None, datetime | None, datetime | None]


class _Bulk:
    """The ingest path's bulk reads and writes, through SQLAlchemy Core (any database)."""

    def __init__(self, dialect: str) -> None:
        self._insert = pg_insert if dialect == "postgresql" else sqlite_insert

    def store(
        self, session: Session, unique: dict[tuple[str, str, datetime], Reading],
        now: datetime, feed: str | None,
    ) -> list[Reading]:  # fmt: skip
        """Insert the readings not stored yet; return those, in `unique`'s order."""
        rows = [
            {
                "station": r.station, "parameter": r.parameter, "value": r.value, "unit": r.unit,
                "observed_at": r.observed_at, "received_at": now, "feed": feed,
            }
            for r in unique.values()
        ]  # fmt: skip
        stmt = (
            self._insert(ReadingRow)
            .on_conflict_do_nothing(index_elements=["station", "parameter", "observed_at"])
            .returning(ReadingRow.station, ReadingRow.parameter, ReadingRow.observed_at)
        )
        inserted: set[tuple[str, str, datetime]] = set()
        for i in range(0, len(rows), 5000):
            result = session.execute(stmt, rows[i : i + 5000])
            inserted.update((s, p, o) for s, p, o in result.all())
        return [r for k, r in unique.items() if k in inserted]

    def load_states(self, session: Session, rule_ids: list[str]) -> dict[str, _SavedState]:
        t = RuleStateRow
        columns = (t.rule_id, t.level, t.below_since, t.last_observed_at)
        out: dict[str, _SavedState] = {}
        for i in range(0, len(rule_ids), _IN_CHUNK):
            chunk = rule_ids[i : i + _IN_CHUNK]
            for rule_id, level, below, last in session.execute(
                select(*columns).where(t.rule_id.in_(chunk))
            ):
                out[rule_id] = (rule_id, level, below, last)
        return out

    def save_states(
        self, session: Session, changed: list[_SavedState], added: list[_SavedState]
    ) -> None:
        conn = session.connection()
        if changed:
            conn.execute(
                update(RuleStateRow)
                .where(RuleStateRow.rule_id == bindparam("id_"))
                .values(
                    level=bindparam("level_"),
                    below_since=bindparam("below_"),
                    last_observed_at=bindparam("last_"),
                ),
                [{"id_": i, "level_": lv, "below_": b, "last_": o} for i, lv, b, o in changed],
            )
        if added:
            conn.execute(
                insert(RuleStateRow),
                [
                    {"rule_id": i, "level": lv, "below_since": b, "last_observed_at": o}
                    for i, lv, b, o in added
                ],
            )


class _SqliteBulk(_Bulk):
    """SQLite: the same statements, each run once for many rows by the DBAPI cursor.

    SQLAlchemy's per-row parameter handling costs several times what SQLite itself needs to
    insert a row, and a poll of a few thousand stations is the hot path (see
    benchmarks/pipeline.py). Times are converted by the column type's own processors, so they
    are stored exactly as SQLAlchemy stores them; each distinct instant once per call.
    """

    INSERT_READINGS = (
        "INSERT INTO readings (station, parameter, value, unit, observed_at, received_at, feed) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (station, parameter, observed_at) DO NOTHING"
    )
    UPDATE_STATE = (
        "UPDATE rule_states SET level = ?, below_since = ?, last_observed_at = ? WHERE rule_id = ?"
    )
    INSERT_STATE = (
        "INSERT INTO rule_states (rule_id, level, below_since, last_observed_at) "
        "VALUES (?, ?, ?, ?)"
    )

    def __init__(self, dialect: Dialect, rules: int) -> None:
        super().__init__(dialect.name)
        self._rules = rules  # how many rules are configured
        time_type = UTCDateTime().dialect_impl(dialect)
        to_db = time_type.bind_processor(dialect)
        from_db = time_type.result_processor(dialect, None)
        assert to_db is not None and from_db is not None
        self._to_db: Callable[[datetime | None], str | None] = to_db
        self._from_db: Callable[[str | None], datetime | None] = from_db

    def store(
        self, session: Session, unique: dict[tuple[str, str, datetime], Reading],
        now: datetime, feed: str | None,
    ) -> list[Reading]:  # fmt: skip
        to_db = _memo(self._to_db)
        received = to_db(now)
        rows = [
            (r.station, r.parameter, float(r.value), r.unit, to_db(r.observed_at), received, feed)
            for r in unique.values()
        ]
        # A poll usually brings only new readings, or only repeats: insert all at once and
        # count. When some of them were stored before, undo, and ask which are new the
        # portable way.
        savepoint = session.begin_nested()
        inserted = session.connection().exec_driver_sql(self.INSERT_READINGS, rows).rowcount
        if inserted in (0, len(rows)):
            savepoint.commit()
            return list(unique.values()) if inserted else []
        savepoint.rollback()
        return super().store(session, unique, now, feed)

    def load_states(self, session: Session, rule_ids: list[str]) -> dict[str, _SavedState]:
        conn = session.connection()
        from_db = _memo(self._from_db)
        out: dict[str, _SavedState] = {}
        if 2 * len(rule_ids) >= self._rules:  # most of them: one scan beats many lookups
            wanted = set(rule_ids)
            sql = "SELECT rule_id, level, below_since, last_observed_at FROM rule_states"
            for rule_id, level, below, last in conn.exec_driver_sql(sql):
                if rule_id in wanted:
                    out[rule_id] = (rule_id, level, from_db(below), from_db(last))
            return out
        for i in range(0, len(rule_ids), _IN_CHUNK):
            chunk = tuple(rule_ids[i : i + _IN_CHUNK])
            sql = (
                "SELECT rule_id, level, below_since, last_observed_at FROM rule_states "
                f"WHERE rule_id IN ({', '.join('?' * len(chunk))})"
            )
            for rule_id, level, below, last in conn.exec_driver_sql(sql, chunk):
                out[rule_id] = (rule_id, level, from_db(below), from_db(last))
        return out

    def save_states(
        self, session: Session, changed: list[_SavedState], added: list[_SavedState]
    ) -> None:
        conn = session.connection()
        to_db = _memo(self._to_db)
        # After a poll most states differ only in the poll's instant: one UPDATE for each
        # group of equal new values, the rest one row at a time.
        groups: dict[tuple[str | None, str | None, str | None], list[str]] = {}
        for rule_id, level, below, last in changed:
            groups.setdefault((level, to_db(below), to_db(last)), []).append(rule_id)
        one_by_one: list[tuple[str | None, ...]] = []
        for values, ids in groups.items():
            if len(ids) < _GROUP:
                one_by_one.extend((*values, rule_id) for rule_id in ids)
                continue
            for i in range(0, len(ids), _IN_CHUNK):
                chunk = ids[i : i + _IN_CHUNK]
                conn.exec_driver_sql(
                    "UPDATE rule_states SET level = ?, below_since = ?, last_observed_at = ? "
                    f"WHERE rule_id IN ({', '.join('?' * len(chunk))})",
                    (*values, *chunk),
                )
        if one_by_one:
            conn.exec_driver_sql(self.UPDATE_STATE, one_by_one)
        if added:
            conn.exec_driver_sql(
                self.INSERT_STATE, [(i, lv, to_db(b), to_db(o)) for i, lv, b, o in added]
            )


_IN_CHUNK = 500  # ids per IN (...): old SQLite builds allow 999 parameters
_GROUP = 32  # from this many rows on, one statement for all beats one execution per row

_K = TypeVar("_K")
_V = TypeVar("_V")


def _memo(fn: Callable[[_K], _V]) -> Callable[[_K], _V]:
    """`fn` remembering its results for one call of the caller (values repeat within a poll)."""
    seen: dict[_K, _V] = {}

    def cached(key: _K) -> _V:
        try:
            return seen[key]
        except KeyError:
            value = seen[key] = fn(key)
            return value

    return cached
