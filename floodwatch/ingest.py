"""Readings in: store them (repeats ignored, forecasts replaced), screen their quality, evaluate
the rules on the new ones. Works in the caller's transaction and returns the alert changes;
applying them is the alert lifecycle's job."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from floodwatch.alerts.changes import Change, Transition
from floodwatch.config import AnyRule, Level, Station
from floodwatch.readings import Reading
from floodwatch.rules import engine, quality
from floodwatch.rules.engine import Evaluator, Stored
from floodwatch.rules.threshold import Crossing
from floodwatch.store import Database
from floodwatch.store.bulk import bulk_for
from floodwatch.store.models import ReadingRow
from floodwatch.units import convert

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ingested:
    """What one batch of readings came to."""

    new: list[Reading]  # observed readings stored for the first time
    duplicates: int  # observed readings already stored
    rejected: int  # new readings that failed the station's quality screen
    changes: list[Change]
    # the readings evaluated: the new that passed the screen, and a held-back one it released
    accepted: list[Reading] = field(default_factory=list)


class Ingest:
    def __init__(
        self, db: Database, rules: Sequence[AnyRule], levels: Sequence[Level],
        stations: Sequence[Station],
    ) -> None:  # fmt: skip
        self._dialect = db.dialect
        self._series: dict[tuple[str, str], list[Evaluator]] = {}
        for ev in engine.build(rules, levels):
            self._series.setdefault((ev.station, ev.parameter), []).append(ev)
        self._forecast = {k for k, evs in self._series.items() if any(e.forecast for e in evs)}
        self._quality = {
            s.id: (s, quality.QualityRule(s.min, s.max, s.max_rate))
            for s in stations
            if s.min is not None or s.max is not None or s.max_rate is not None
        }
        self._bulk = bulk_for(db, sum(map(len, self._series.values())))

    def run(
        self, session: Session, readings: Sequence[Reading], now: datetime, feed: str | None
    ) -> Ingested:
        forecasts = [r for r in readings if (r.station, r.parameter) in self._forecast]
        observed = [r for r in readings if (r.station, r.parameter) not in self._forecast]
        unique = {r.key: r for r in observed}  # a batch may repeat itself
        new = self._bulk.store(session, unique, now, feed) if unique else []
        if forecasts:
            self._store_forecasts(session, forecasts, now, feed)
        accepted, rejected = self._screen(session, new)
        changes = self._evaluate(session, accepted, forecasts, now)
        return Ingested(new, len(observed) - len(new), rejected, changes, accepted)

    def _store_forecasts(
        self, session: Session, readings: list[Reading], now: datetime, feed: str | None
    ) -> None:
        """A forecast for an hour replaces the earlier forecast for that hour."""
        insert = pg_insert if self._dialect == "postgresql" else sqlite_insert
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
        for r in sorted(screened, key=_observed_at):
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
    ) -> list[Change]:
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
        changes: list[Change] = []
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


def _observed_at(reading: Reading) -> datetime:
    return reading.observed_at


def _from_crossing(ev: Evaluator, c: Crossing) -> Change:
    return Change(
        Transition(c.transition), ev.rule_type, ev.rule_id, ev.station, ev.parameter, ev.policy,
        c.level, c.previous, c.value, c.unit, c.reading.observed_at, dict(c.detail),
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
