"""The daily duty report (值班日报): one office day, gathered from the database and the roster.

`DayReader.read(day, now)` returns a `DailyReport`: plain data, every figure counted from what
the database keeps (the events, acknowledgements, pages, hazards, the duty log). Rendering it
is `records.document` (markdown, HTML), `records.pdf` and `records.hydrograph` (the pictures).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from floodwatch.config import AnyRule, Level, Station, ThresholdRule, level_ids
from floodwatch.office import Office
from floodwatch.records import days, dutylog
from floodwatch.records.handover import RULE_TYPE as HANDOVER
from floodwatch.records.handover import record_for, roles_in_order
from floodwatch.records.hazards import due_day
from floodwatch.roster import handovers
from floodwatch.roster.holder import RosterHolder
from floodwatch.roster.model import Duty, Roster
from floodwatch.store import Database
from floodwatch.store.models import (
    AcknowledgementRow,
    AlertRow,
    EventRow,
    HandoverRow,
    HazardRow,
    ReadingRow,
)
from floodwatch.units import convert

_JUST_BEFORE = timedelta(microseconds=1)
PARAMETER_ZH = {"stage": "水位", "level": "水位", "discharge": "流量", "rain": "雨量"}
_MOVES = ("opened", "raised", "lowered", "cleared", "retired")


@dataclass(frozen=True)
class Stint:
    """`people` held `role` from `start` to `end` within the day."""

    role: str
    title: str
    people: tuple[str, ...]  # "王芳 (wang.fang)"
    start: datetime
    end: datetime


@dataclass(frozen=True)
class HandoverLine:
    """A shift change in the day, with the record written for it (if any)."""

    at: datetime
    outgoing: dict[str, tuple[str, ...]]  # role title -> names
    incoming: dict[str, tuple[str, ...]]
    record: int | None = None
    written_by: str | None = None
    written_at: datetime | None = None
    note: str = ""
    open_alerts: int = 0
    open_hazards: int = 0
    accepted_by: str | None = None
    accepted_via: str | None = None
    accepted_at: datetime | None = None


@dataclass(frozen=True)
class LevelLine:
    level: str  # id
    name: str  # 黄色（III级）
    value: float  # in the readings' unit


@dataclass(frozen=True)
class Span:
    """An alert's time within the day, for shading (`level`: its highest level)."""

    alert: int
    level: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Series:
    """One parameter's readings at a station in the day."""

    parameter: str
    unit: str
    points: tuple[tuple[datetime, float], ...]
    levels: tuple[LevelLine, ...] = ()
    rejected: int = 0  # readings screened out (out of range, spikes)


@dataclass(frozen=True)
class StationDay:
    station: str
    name: str
    series: tuple[Series, ...]
    alerts: tuple[Span, ...]


@dataclass(frozen=True)
class Answer:
    person: str  # name (id)
    via: str
    at: datetime


@dataclass(frozen=True)
class AlertLine:
    id: int
    station: str
    station_name: str
    rule_type: str
    peak_level: str
    state: str
    opened_at: datetime
    cleared_at: datetime | None
    first_ack_at: datetime | None
    answers: tuple[Answer, ...]

    @property
    def minutes_to_ack(self) -> int | None:
        if self.first_ack_at is None:
            return None
        return int((self.first_ack_at - self.opened_at).total_seconds() // 60)


@dataclass(frozen=True)
class HazardLine:
    id: int
    where: str
    what: str
    owner: str  # name (id)
    due: date
    village: str | None
    state: str  # open | done (as of the report's end)
    found_at: datetime
    done_at: datetime | None
    overdue: bool


@dataclass(frozen=True)
class Hazards:
    new: tuple[HazardLine, ...]
    done: tuple[HazardLine, ...]
    overdue: tuple[HazardLine, ...]
    open: tuple[HazardLine, ...]
    total: int  # found up to the end of the day
    rectified: int  # of those, done by then

    @property
    def rate(self) -> float | None:
        """整改率: rectified / found, up to the end of the day (None: nothing found yet)."""
        return self.rectified / self.total if self.total else None


@dataclass(frozen=True)
class DailyReport:
    office: str
    day: date
    start: datetime
    end: datetime
    as_of: datetime  # min(end, the time it was made): a report of today is so far
    zone_name: str
    stints: tuple[Stint, ...]
    handovers: tuple[HandoverLine, ...]
    stations: tuple[StationDay, ...]
    alerts: tuple[AlertLine, ...]
    pages: dict[str, dict[str, int]]  # channel -> {"queued", "sent", "failed", ...}
    broadcasts: tuple[tuple[datetime, str], ...]  # village warnings and broadcasts, as logged
    hazards: Hazards
    log: tuple[dutylog.LogLine, ...]
    levels: Mapping[str, Level] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.as_of >= self.end


class DayReader:
    """Reads one office day from the database (see the module's doc)."""

    def __init__(
        self, db: Database, roster: RosterHolder, office: Office, stations: Sequence[Station],
        rules: Sequence[AnyRule], day_starts: time,
    ) -> None:  # fmt: skip
        self.db = db
        self.roster = roster
        self.office = office
        self.stations = {s.id: s for s in stations}
        self.rules = rules
        self.day_starts = day_starts

    def day_of(self, now: datetime) -> date:
        return days.day_of(now, self.office.zone, self.day_starts)

    def read(self, day: date, now: datetime) -> DailyReport:
        zone = self.office.zone
        start, end = days.window(day, zone, self.day_starts)
        as_of = min(end, max(now, start))
        roster = self.roster.current
        with self.db.sessions() as session:
            alert_rows = self._alerts(session, start, as_of)
            report = DailyReport(
                office=self.office.name, day=day, start=start, end=end, as_of=as_of,
                zone_name=zone.key, stints=tuple(self._stints(roster, start, end)),
                handovers=tuple(self._handovers(session, roster, start, end)),
                stations=tuple(self._stations(session, start, as_of, alert_rows)),
                alerts=tuple(self._alert_lines(session, roster, alert_rows)),
                pages=_pages(session, start, as_of),
                broadcasts=tuple(_broadcasts(session, start, as_of)),
                hazards=self._hazards(session, roster, start, as_of),
                log=tuple(dutylog.lines(session, start, as_of)),
                levels={lv.id: lv for lv in self.office.levels},
            )  # fmt: skip
        return report

    def station(self, station: str, start: datetime, end: datetime) -> StationDay:
        """One station over [start, end): its readings, the level lines of its threshold rules
        and its alerts' spans (the duty console's hydrograph of the last 24 hours)."""
        with self.db.sessions() as session:
            alerts = [a for a in self._alerts(session, start, end) if a.station == station]
            found = [d for d in self._stations(session, start, end, alerts) if d.station == station]
        known = self.stations.get(station)
        return found[0] if found else StationDay(station, known.name if known else station, (), ())

    # -- duty ----------------------------------------------------------------------------------

    def _stints(self, roster: Roster, start: datetime, end: datetime) -> list[Stint]:
        out = []
        for role in roles_in_order(roster):
            title = roster.role(role).name or role
            for s, e, a in roster.segments(role, start, end):
                out.append(Stint(role, title, tuple(_who(roster, p) for p in a.people), s, e))
        return out

    def _handovers(
        self, session: Session, roster: Roster, start: datetime, end: datetime
    ) -> list[HandoverLine]:
        roles = roles_in_order(roster)

        def team(duty: Duty) -> dict[str, tuple[str, ...]]:
            return {
                roster.role(r).name or r: tuple(_who(roster, p) for p in duty.people(r))
                for r in roles
            }

        out = []
        for h in handovers.handovers(roster, start - _JUST_BEFORE, end - _JUST_BEFORE):
            before, after = roster.on_duty(h.at - _JUST_BEFORE), roster.on_duty(h.at)
            row = record_for(session, h.at)
            out.append(_handover_line(h.at, team(before), team(after), row, roster))
        return out

    # -- water ---------------------------------------------------------------------------------

    def _alerts(self, session: Session, start: datetime, as_of: datetime) -> list[AlertRow]:
        return list(
            session.scalars(
                select(AlertRow)
                .where(AlertRow.rule_type != HANDOVER, AlertRow.opened_at < as_of)
                .where(or_(AlertRow.cleared_at.is_(None), AlertRow.cleared_at >= start))
                .order_by(AlertRow.opened_at, AlertRow.id)
            )
        )

    def _stations(
        self, session: Session, start: datetime, as_of: datetime, alerts: list[AlertRow]
    ) -> list[StationDay]:
        rows = session.scalars(
            select(ReadingRow)
            .where(ReadingRow.observed_at >= start, ReadingRow.observed_at < as_of)
            .order_by(ReadingRow.station, ReadingRow.parameter, ReadingRow.observed_at)
        ).all()
        levels = _spans(session, alerts, start, as_of)
        by_station: dict[str, dict[str, list[ReadingRow]]] = {sid: {} for sid in self.stations}
        for r in rows:
            by_station.setdefault(r.station, {}).setdefault(r.parameter, []).append(r)
        out = []
        for sid, params in by_station.items():
            series = []
            for parameter, readings in params.items():
                good = [r for r in readings if r.quality is None]
                unit = (good or readings)[0].unit
                points = tuple((r.observed_at, r.value) for r in good if r.unit == unit)
                series.append(
                    Series(
                        parameter,
                        unit,
                        points,
                        tuple(self._levels(sid, parameter, unit)),
                        len(readings) - len(good),
                    )  # fmt: skip
                )
            spans = tuple(s for a in alerts if a.station == sid for s in levels[a.id])
            station = self.stations.get(sid)
            out.append(StationDay(sid, station.name if station else sid, tuple(series), spans))
        return out

    def _levels(self, station: str, parameter: str, unit: str) -> list[LevelLine]:
        """The warning levels of the threshold rules on this station and parameter, in the
        readings' unit (a rule whose unit cannot be converted draws no lines)."""
        ids = level_ids(self.office.levels)
        out = []
        for rule in self.rules:
            if not isinstance(rule, ThresholdRule):
                continue
            if rule.station != station or rule.parameter != parameter:
                continue
            for step in rule.levels:
                level = self.office.level(ids.get(step.level, step.level))
                try:
                    value = convert(step.value, rule.unit, unit)
                except ValueError:
                    continue
                out.append(LevelLine(level.id, f"{level.name_zh}（{level.grade}级）", value))
        return out

    def _alert_lines(
        self, session: Session, roster: Roster, alerts: list[AlertRow]
    ) -> list[AlertLine]:
        ids = [a.id for a in alerts]
        answers: dict[int, list[Answer]] = {}
        if ids:
            acks = session.scalars(
                select(AcknowledgementRow)
                .where(AcknowledgementRow.alert_id.in_(ids))
                .order_by(AcknowledgementRow.at, AcknowledgementRow.id)
            )
            for ack in acks:
                answers.setdefault(ack.alert_id, []).append(
                    Answer(_who(roster, ack.person), ack.via, ack.at)
                )
        out = []
        for a in alerts:
            mine = answers.get(a.id, [])
            station = self.stations.get(a.station)
            out.append(
                AlertLine(
                    a.id,
                    a.station,
                    station.name if station else a.station,
                    a.rule_type,
                    a.peak_level,
                    a.state,
                    a.opened_at,
                    a.cleared_at,
                    mine[0].at if mine else None,
                    tuple(mine),
                )  # fmt: skip
            )
        return out

    # -- hazards -------------------------------------------------------------------------------

    def _hazards(
        self, session: Session, roster: Roster, start: datetime, as_of: datetime
    ) -> Hazards:
        rows = session.scalars(
            select(HazardRow)
            .where(HazardRow.found_at < as_of)
            .order_by(HazardRow.due, HazardRow.id)
        ).all()
        zone = self.office.zone

        def line(h: HazardRow) -> HazardLine:
            done = h.done_at is not None and h.done_at < as_of
            return HazardLine(
                h.id, h.where, h.what, _who(roster, h.owner), due_day(h.due, zone), h.village,
                "done" if done else "open", h.found_at, h.done_at if done else None,
                not done and h.due <= as_of,
            )  # fmt: skip

        lines = [line(h) for h in rows]
        return Hazards(
            new=tuple(x for x in lines if x.found_at >= start),
            done=tuple(x for x in lines if x.done_at is not None and x.done_at >= start),
            overdue=tuple(x for x in lines if x.overdue),
            open=tuple(x for x in lines if x.state == "open"),
            total=len(lines),
            rectified=sum(1 for x in lines if x.state == "done"),
        )


def _spans(
    session: Session, alerts: list[AlertRow], start: datetime, as_of: datetime
) -> dict[int, list[Span]]:
    """Per alert, its stretches at each level within [start, as_of), from its events."""
    moves: dict[int, list[tuple[datetime, str, str | None]]] = {a.id: [] for a in alerts}
    if alerts:
        rows = session.execute(
            select(EventRow.alert_id, EventRow.at, EventRow.type, EventRow.level)
            .where(EventRow.alert_id.in_(list(moves)), EventRow.type.in_(_MOVES))
            .order_by(EventRow.at, EventRow.id)
        )
        for alert_id, at, kind, level in rows:
            if alert_id is not None:
                moves[alert_id].append((at, kind, level))
    out: dict[int, list[Span]] = {}
    for a in alerts:
        changes = moves[a.id] or [(a.opened_at, "opened", a.peak_level)]
        spans = []
        for (t, kind, level), nxt in zip(changes, [*changes[1:], None], strict=True):
            if kind in ("cleared", "retired"):
                break
            until = nxt[0] if nxt else (a.cleared_at or as_of)
            lo, hi = max(t, start), min(until, as_of)
            if lo < hi:
                spans.append(Span(a.id, level or a.level, lo, hi))
        out[a.id] = spans
    return out


def _who(roster: Roster, person: str) -> str:
    p = roster.people.get(person)
    return f"{p.name} ({p.id})" if p and p.name != p.id else person


def _handover_line(
    at: datetime, outgoing: dict[str, tuple[str, ...]], incoming: dict[str, tuple[str, ...]],
    row: HandoverRow | None, roster: Roster,
) -> HandoverLine:  # fmt: skip
    if row is None:
        return HandoverLine(at, outgoing, incoming)
    return HandoverLine(
        at, outgoing, incoming, record=row.id, written_by=_who(roster, row.by),
        written_at=row.at, note=row.note, open_alerts=len(row.open_alerts.get("alerts", [])),
        open_hazards=len(row.open_hazards.get("hazards", [])),
        accepted_by=_who(roster, row.accepted_by) if row.accepted_by else None,
        accepted_via=row.accepted_via, accepted_at=row.accepted_at,
    )  # fmt: skip


PAGE_COUNTS = {"page_queued": "queued", "page_sent": "sent", "page_failed": "failed",
               "page_unknown": "unknown"}  # fmt: skip


def _pages(session: Session, start: datetime, as_of: datetime) -> dict[str, dict[str, int]]:
    """Per channel: pages queued, sent (accepted or delivered), failed for good, unknown."""
    rows = session.execute(
        select(EventRow.type, EventRow.data).where(
            EventRow.at >= start, EventRow.at < as_of, EventRow.type.in_(list(PAGE_COUNTS))
        )
    ).all()
    counts: Counter[tuple[str, str]] = Counter(
        (str(data.get("channel")), PAGE_COUNTS[kind]) for kind, data in rows
    )
    channels = sorted({channel for channel, _ in counts})
    return {c: {k: counts[(c, k)] for k in PAGE_COUNTS.values()} for c in channels}


BROADCAST_KINDS = ("village_warned", "village_cleared", "broadcast")


def _broadcasts(session: Session, start: datetime, as_of: datetime) -> list[tuple[datetime, str]]:
    """The loudspeakers sounded: village warnings issued and cleared, broadcasts by hand, as
    the duty log tells them."""
    return [(e.at, e.text) for e in dutylog.entries(session, start, as_of, BROADCAST_KINDS)]
