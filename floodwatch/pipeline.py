"""One step of the system, given `now`: store readings, screen them, evaluate rules, change
alerts, enqueue pages, advance due escalations, notice silent stations, apply official warnings.
Each step is one transaction: the alert change, its events and its pages are committed together
before any notifier is called (the outbox)."""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from floodwatch.alerts import escalation
from floodwatch.app import App
from floodwatch.config import EscalationPolicy, Station, level_ids
from floodwatch.errors import FloodwatchError, NotFound
from floodwatch.feeds.official import OfficialWarning
from floodwatch.notify.outbox import Outbox
from floodwatch.readings import Reading
from floodwatch.rules import engine, quality
from floodwatch.rules.engine import Evaluator, Stored
from floodwatch.rules.threshold import Crossing
from floodwatch.store import state
from floodwatch.store.bulk import bulk_for
from floodwatch.store.events import record
from floodwatch.store.models import AlertRow, EventRow, LogEntryRow, ReadingRow
from floodwatch.units import convert

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StepResult:
    stored: int = 0
    duplicates: int = 0
    crossings: int = 0
    pages: int = 0
    rejected: int = 0


@dataclass(frozen=True)
class _Change:
    """A move of one alert: from a rule's crossing, a silent station or an official warning."""

    kind: str  # opened, raised, lowered, cleared
    rule_kind: str
    rule_id: str
    station: str
    parameter: str
    escalation: str
    level: str | None
    previous: str | None
    value: float
    unit: str
    data: dict[str, Any]
    external_id: str | None = None


class Pipeline:
    def __init__(self, app: App) -> None:
        self.app = app
        settings = app.config.settings
        self.outbox = Outbox(app)
        self._zone = settings.timezone
        self._levels = [lv.id for lv in settings.levels]
        self._series: dict[tuple[str, str], list[Evaluator]] = {}
        for ev in engine.build(settings.rules, settings.levels):
            self._series.setdefault((ev.station, ev.parameter), []).append(ev)
        self._forecast = {k for k, evs in self._series.items() if any(e.forecast for e in evs)}
        self._quality = {
            s.id: (s, quality.QualityRule(s.min, s.max, s.max_rate))
            for s in settings.stations
            if s.min is not None or s.max is not None or s.max_rate is not None
        }
        self._bulk = bulk_for(app.db, sum(map(len, self._series.values())))

    # -- readings ------------------------------------------------------------------------------

    def ingest(
        self, readings: Sequence[Reading], now: datetime, feed: str | None = None
    ) -> StepResult:
        """Store readings (repeats ignored, forecasts replaced), screen and evaluate the new ones,
        apply alert changes."""
        if not readings:
            return StepResult()
        forecasts = [r for r in readings if (r.station, r.parameter) in self._forecast]
        observed = [r for r in readings if (r.station, r.parameter) not in self._forecast]
        with self.app.db.transaction() as session:
            unique = {r.key: r for r in observed}  # a batch may repeat itself
            new = self._bulk.store(session, unique, now, feed) if unique else []
            if forecasts:
                self._store_forecasts(session, forecasts, now, feed)
            accepted, rejected = self._screen(session, new)
            changes = self._evaluate(session, accepted, forecasts, now)
            pages = sum(self._apply(session, c, now) for c in changes)
            pages += self._heard_from(session, {r.station for r in new}, now)
        if pages:
            self.app.pages_written()
        return StepResult(len(new), len(observed) - len(new), len(changes), pages, rejected)

    def _store_forecasts(
        self, session: Session, readings: list[Reading], now: datetime, feed: str | None
    ) -> None:
        """A forecast for an hour replaces the earlier forecast for that hour."""
        insert = pg_insert if self.app.db.dialect == "postgresql" else sqlite_insert
        rows = {
            r.key: {
                "station": r.station, "parameter": r.parameter, "value": r.value, "unit": r.unit,
                "observed_at": r.observed_at, "received_at": now, "feed": feed,
            }
            for r in readings
        }  # fmt: skip
        stmt = insert(ReadingRow)
        stmt = stmt.on_conflict_do_update(
            index_elements=["station", "parameter", "observed_at"],
            set_={"value": stmt.excluded.value, "unit": stmt.excluded.unit, "received_at": now},
        )
        session.execute(stmt, list(rows.values()))

    def _screen(self, session: Session, readings: list[Reading]) -> tuple[list[Reading], int]:
        """Data quality per station: hard limits and spikes (rules.quality). Returns the
        readings to evaluate (a held-back suspect is released with the reading after it)."""
        if not self._quality:
            return readings, 0
        screened = [r for r in readings if r.station in self._quality]
        if not screened:
            return readings, 0
        passed = [r for r in readings if r.station not in self._quality]
        keys = sorted({f"quality:{r.station}:{r.parameter}" for r in screened})
        saved = self._bulk.load_states(session, keys)
        states = {k: _quality_state(saved.get(k)) for k in keys}
        rejected: list[tuple[Reading, str]] = []
        for r in sorted(screened, key=lambda r: r.observed_at):
            station, rule = self._quality[r.station]
            key = f"quality:{r.station}:{r.parameter}"
            try:
                probe = _in(station, r)
            except ValueError as exc:
                log.error("station %s: %s; quality limits not applied", r.station, exc)
                passed.append(r)
                continue
            states[key], out = quality.screen(rule, states[key], probe)
            passed += [_original(x, r) for x in out.accepted]
            rejected += [(_original(x, r), why) for x, why in out.rejected]
        self._bulk.save_states(
            session,
            {k: _quality_stored(st) for k, st in states.items() if k in saved},
            {k: _quality_stored(st) for k, st in states.items() if k not in saved},
        )
        for reading, why in rejected:
            session.execute(
                update(ReadingRow)
                .where(
                    ReadingRow.station == reading.station,
                    ReadingRow.parameter == reading.parameter,
                    ReadingRow.observed_at == reading.observed_at,
                )
                .values(quality=why)
            )
        if rejected:
            counts = Counter(why for _, why in rejected)
            log.warning("rejected %d reading(s): %s", len(rejected), dict(counts))
        return passed, len(rejected)

    def _evaluate(
        self, session: Session, readings: list[Reading], forecasts: list[Reading], now: datetime
    ) -> list[_Change]:
        by_series: dict[tuple[str, str], list[Reading]] = {}
        for r in [*readings, *forecasts]:
            key = (r.station, r.parameter)
            if key in self._series:
                by_series.setdefault(key, []).append(r)
        if not by_series:
            return []
        evaluators = [ev for key in by_series for ev in self._series[key]]
        saved = self._bulk.load_states(session, [ev.rule_id for ev in evaluators])
        changed: dict[str, Stored] = {}
        added: dict[str, Stored] = {}
        changes: list[_Change] = []
        for key, series in by_series.items():
            if len(series) > 1:
                series.sort(key=_observed_at)
            units = {r.unit for r in series}
            for ev in self._series[key]:
                try:
                    converted = (
                        series if units == {ev.unit} else [engine.in_unit(ev, r) for r in series]
                    )
                except ValueError as exc:
                    log.error("rule %s: %s; not evaluated", ev.rule_id, exc)
                    continue
                before = saved.get(ev.rule_id)
                after, crossings = ev.evaluate(before or Stored(), converted, now)
                if after != before:
                    (added if before is None else changed)[ev.rule_id] = after
                changes += [_from_crossing(ev, c) for c in crossings]
        self._bulk.save_states(session, changed, added)
        return changes

    # -- alerts --------------------------------------------------------------------------------

    def _apply(self, session: Session, c: _Change, now: datetime) -> int:
        policy = self._policy(c.escalation)
        alert = session.scalars(
            select(AlertRow).where(
                AlertRow.station == c.station,
                AlertRow.rule_id == c.rule_id,
                AlertRow.state == "open",
            )
        ).one_or_none()
        if c.kind == "opened" or alert is None:
            if alert is not None or c.level is None:
                log.error("rule %s: %s with alert %s open; ignored", c.rule_id, c.kind, alert)
                return 0
            alert = AlertRow(
                kind=c.rule_kind, station=c.station, parameter=c.parameter, rule_id=c.rule_id,
                external_id=c.external_id, level=c.level, peak_level=c.level, state="open",
                value=c.value, unit=c.unit, opened_at=now, updated_at=now, policy=c.escalation,
                escalation_step=0, next_escalation_at=escalation.next_due(policy, 0, now),
            )  # fmt: skip
            session.add(alert)
            session.flush()
            event = self._event(session, "opened", alert, now, c)
            return self.outbox.page_alert(session, alert, event, "opened", [policy.steps[0]], now)

        alert.value, alert.unit, alert.updated_at = c.value, c.unit, now
        alert.external_id = c.external_id or alert.external_id
        steps = escalation.steps_so_far(policy, alert.escalation_step)
        if c.kind == "raised":
            assert c.level is not None
            alert.level = c.level
            if self._levels.index(c.level) > self._levels.index(alert.peak_level):
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
        return self.outbox.page_alert(session, alert, event, c.kind, steps, now)

    def _event(
        self, session: Session, kind: str, alert: AlertRow, now: datetime, c: _Change
    ) -> EventRow:
        log.info(
            "alert #%d %s: %s %s -> %s at %g %s", alert.id, kind, alert.station,
            c.previous or "-", c.level or "-", c.value, c.unit,
        )  # fmt: skip
        return record(
            session, now, kind, alert_id=alert.id, station=alert.station, level=c.level,
            **{"from": c.previous}, value=c.value, unit=c.unit, rule=alert.rule_id,
            kind=alert.kind, **c.data,
        )  # fmt: skip

    def _policy(self, name: str) -> EscalationPolicy:
        return self.app.config.settings.escalation[name]

    def tick(self, now: datetime) -> int:
        """What time alone causes: silent stations, due escalations. Returns pages queued."""
        return self.check_silence(now) + self.escalate(now)

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
                policy = self._policy(alert.policy)
                step = escalation.advance(policy, alert.escalation_step, now)
                alert.escalation_step = step.step
                alert.next_escalation_at = step.next_due
                alert.updated_at = now
                log.info("alert #%d escalated to step %d", alert.id, step.step)
                event = record(
                    session, now, "escalated", alert_id=alert.id, station=alert.station,
                    level=alert.level, step=step.step, repeat=step.repeat,
                )  # fmt: skip
                pages += self.outbox.page_alert(
                    session, alert, event, "escalated", [step.page], now
                )
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
            duty = self.app.roster.on_duty(now)
            role = next((r for r, a in duty.assignments.items() if person_id in a.people), None)
            log.info("alert #%d acknowledged by %s", alert.id, person_id)
            record(
                session, now, "acknowledged", alert_id=alert.id, station=alert.station,
                level=alert.level, by=person_id, role=role,
            )  # fmt: skip
            return alert

    # -- silence -------------------------------------------------------------------------------

    def check_silence(self, now: datetime) -> int:
        """Open a data alert for each station silent longer than its cadence x the factor.

        Only data alerts: a water alert keeps its level while its station is silent."""
        watched = {s.id: s for s in self.app.config.settings.stations if s.expect_every}
        if not watched:
            return 0
        silence = self.app.config.settings.silence
        pages = 0
        with self.app.db.transaction() as session:
            last_seen = dict(
                session.execute(
                    select(ReadingRow.station, func.max(ReadingRow.observed_at))
                    .where(ReadingRow.station.in_(list(watched)))
                    .group_by(ReadingRow.station)
                ).all()
            )
            open_ = set(
                session.scalars(
                    select(AlertRow.station).where(
                        AlertRow.kind == "silence", AlertRow.state == "open"
                    )
                )
            )
            for station_id, station in watched.items():
                last = last_seen.get(station_id)
                assert station.expect_every is not None
                if last is None or station_id in open_:
                    continue
                if now - last > station.expect_every * silence.factor:
                    minutes = int((now - last) / timedelta(minutes=1))
                    change = self._silence_change(station, "opened", minutes, last)
                    pages += self._apply(session, change, now)
        if pages:
            self.app.pages_written()
        return pages

    def _heard_from(self, session: Session, stations: set[str], now: datetime) -> int:
        """New readings from a station clear its data alert."""
        if not stations:
            return 0
        silent = session.scalars(
            select(AlertRow).where(
                AlertRow.kind == "silence", AlertRow.state == "open", AlertRow.station.in_(stations)
            )
        ).all()
        pages = 0
        for alert in silent:
            station = self.outbox.station(alert.station)
            assert station is not None
            pages += self._apply(session, self._silence_change(station, "cleared", 0, None), now)
        return pages

    def _silence_change(
        self, station: Station, kind: str, minutes: int, last: datetime | None
    ) -> _Change:
        silence = self.app.config.settings.silence
        level = engine_level(self.app, silence.level)
        data = {"last_observed_at": last.isoformat()} if last else {}
        return _Change(
            kind, "silence", f"silence:{station.id}", station.id, "*", silence.escalation,
            level if kind == "opened" else None, None if kind == "opened" else level,
            float(minutes), "min", data,
        )  # fmt: skip

    # -- feed health ---------------------------------------------------------------------------

    def feed_health(
        self, feed: str, degraded: bool, stations: Sequence[str] | None, now: datetime
    ) -> None:
        """Record when a feed becomes degraded or recovers, with the stations it serves (those
        it named, else every station it has delivered readings for): an event and a duty-log
        entry on each change, and the current state in `service_state` ("feed:NAME")."""
        key = f"feed:{feed}"
        with self.app.db.transaction() as session:
            before = state.get_in(session, key)
            if bool(before and before["degraded"]) == degraded:
                return
            if not stations:
                stations = list(
                    session.scalars(
                        select(ReadingRow.station).where(ReadingRow.feed == feed).distinct()
                    )
                )
            names = sorted(stations)
            state.put_in(session, key, {"degraded": degraded, "stations": names,
                                        "since": now.isoformat()})  # fmt: skip
            kind = "feed_degraded" if degraded else "feed_recovered"
            record(session, now, kind, feed=feed, stations=names)
            what = "degraded" if degraded else "recovered"
            text = f"feed {feed} {what}; stations: {', '.join(names) or '-'}"
            session.add(LogEntryRow(at=now, kind=kind, author="floodwatch", text=text,
                                    data={"feed": feed, "stations": names}))  # fmt: skip
        (log.warning if degraded else log.info)("%s", text)

    def degraded_stations(self) -> dict[str, str]:
        """Station -> the degraded feed that serves it, for what duty officers are shown."""
        out: dict[str, str] = {}
        with self.app.db.sessions() as session:
            for name in self.app.feeds:
                value = state.get_in(session, f"feed:{name}")
                if value and value["degraded"]:
                    out.update({s: name for s in value["stations"]})
        return out

    # -- official warnings -----------------------------------------------------------------------

    def apply_warnings(self, feed: str, warnings: Sequence[OfficialWarning], now: datetime) -> int:
        """Official warnings become alerts of their own; an Update or Cancel that references an
        earlier message updates or ends its alert. Exercises and tests are recorded, not paged."""
        pages = 0
        with self.app.db.transaction() as session:
            for w in warnings:
                if w.status != "Actual":
                    record(
                        session, now, "warning_not_actual", station=feed, id=w.id, status=w.status
                    )
                    continue
                known = (w.id, *w.references)
                alert = session.scalars(
                    select(AlertRow).where(
                        AlertRow.kind == "official", AlertRow.state == "open",
                        AlertRow.external_id.in_(known),
                    )
                ).first()  # fmt: skip
                if (
                    alert is not None
                    and alert.external_id == w.id
                    and w.in_force
                    and w.msg_type != "Cancel"
                ):
                    continue  # the same message again
                ended = (
                    w.msg_type == "Cancel"
                    or not w.in_force
                    or (w.expires is not None and w.expires <= now)
                )
                level = self._warning_level(w.severity)
                data = {"headline": w.headline or w.event, "id": w.id, "msg_type": w.msg_type}
                rule_id = (
                    alert.rule_id
                    if alert
                    else "official:" + hashlib.sha1(w.id.encode()).hexdigest()[:16]
                )
                if alert is None:
                    if ended:
                        continue
                    change = _Change(
                        "opened", "official", rule_id, feed, w.event, "default", level, None,
                        0.0, "", data, w.id,
                    )  # fmt: skip
                else:
                    old = self._levels.index(alert.level)
                    new = self._levels.index(level)
                    kind = (
                        "cleared"
                        if ended
                        else "raised"
                        if new > old
                        else "lowered"
                        if new < old
                        else ""
                    )
                    if not kind:
                        alert.external_id = w.id
                        record(
                            session,
                            now,
                            "updated",
                            alert_id=alert.id,
                            station=feed,
                            level=alert.level,
                            **data,
                        )
                        continue
                    change = _Change(
                        kind, "official", rule_id, feed, w.event, alert.policy,
                        None if ended else level, alert.level, 0.0, "", data, w.id,
                    )  # fmt: skip
                pages += self._apply(session, change, now)
        if pages:
            self.app.pages_written()
        return pages

    def _warning_level(self, severity: str) -> str:
        """The lowest level whose CAP severity matches; Unknown maps to the lowest level."""
        for lv in self.app.config.settings.levels:
            if lv.cap_severity == severity:
                return lv.id
        return self._levels[0]


def engine_level(app: App, name: str) -> str:
    """A level name or alias as the level's id."""
    return level_ids(app.config.settings.levels)[name]


def _observed_at(reading: Reading) -> datetime:
    return reading.observed_at


def _from_crossing(ev: Evaluator, c: Crossing) -> _Change:
    data = dict(c.detail)
    data["observed_at"] = c.reading.observed_at.isoformat()
    return _Change(
        c.kind, ev.kind, ev.rule_id, ev.station, ev.parameter, ev.escalation, c.level,
        c.previous, c.value, c.unit, data,
    )  # fmt: skip


def _in(station: Station, r: Reading) -> Reading:
    """The reading in the station's unit for its quality limits (unchanged without one)."""
    if station.unit is None or station.unit == r.unit:
        return r
    return Reading(
        r.station, r.parameter, convert(r.value, r.unit, station.unit), station.unit, r.observed_at
    )


def _original(screened: Reading, latest: Reading) -> Reading:
    """Quality works in the station's unit; evaluation gets the reading as it came."""
    if screened.unit == latest.unit:
        return screened
    value = convert(screened.value, screened.unit, latest.unit)
    return Reading(screened.station, screened.parameter, value, latest.unit, screened.observed_at)


def _quality_state(stored: Stored | None) -> quality.QualityState:
    if stored is None:
        return quality.QualityState()

    def reading(data: Any) -> Reading | None:
        if not data:
            return None
        station, parameter, value, unit, observed_at = data
        return Reading(station, parameter, float(value), unit, datetime.fromisoformat(observed_at))

    return quality.QualityState(
        reading(stored.data.get("last")), reading(stored.data.get("suspect"))
    )


def _quality_stored(state: quality.QualityState) -> Stored:
    def plain(r: Reading | None) -> list[Any] | None:
        return [r.station, r.parameter, r.value, r.unit, r.observed_at.isoformat()] if r else None

    return Stored(data={"last": plain(state.last), "suspect": plain(state.suspect)})
