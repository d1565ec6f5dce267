"""What the console's pages and the API's GETs show, read from the roster and the database: plain
data (times aware, in UTC), rendered by the templates or dumped as JSON. Nothing here writes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from floodwatch.alerts.lifecycle import OWN_DESK
from floodwatch.clock import Clock
from floodwatch.config import AnyRule, Level, RainfallRule, RiseRule, Station, ThresholdRule
from floodwatch.feed_health import feed_key
from floodwatch.office import Office
from floodwatch.records import days, dutylog
from floodwatch.records.handover import roles_in_order
from floodwatch.records.hydrograph import colour
from floodwatch.roster.holder import RosterHolder
from floodwatch.roster.model import Roster
from floodwatch.roster.table import shifts
from floodwatch.store import Database, state
from floodwatch.store.models import (
    AcknowledgementRow,
    AlertRow,
    DeliveryRow,
    EventRow,
    PageRow,
    ReadingRow,
)

TREND_OVER = timedelta(hours=1)  # a station's trend: its change over the last hour
STEADY = 0.01  # a change per hour smaller than this (in the reading's unit) is steady


@dataclass(frozen=True)
class Who:
    id: str
    name: str


@dataclass(frozen=True)
class RoleOnDuty:
    role: str
    title: str  # the role's name in the roster (带班领导)
    people: tuple[Who, ...]
    start: datetime
    end: datetime
    short: int  # seats the shift lacks


@dataclass(frozen=True)
class DutyNow:
    at: datetime
    roles: tuple[RoleOnDuty, ...]
    next_handover: datetime


@dataclass(frozen=True)
class Paged:
    """A page of an alert and what became of it."""

    id: int
    person: Who
    role: str | None
    channel: str
    step: int | None
    status: str  # pending, sending, delivered, accepted, failed, unknown
    at: datetime
    detail: str | None = None


@dataclass(frozen=True)
class Answered:
    person: Who
    via: str
    at: datetime
    step: int


@dataclass(frozen=True)
class AlertView:
    id: int
    rule_type: str
    rule: str
    station: str
    station_name: str
    level: Level
    peak_level: str
    colour: str
    state: str
    value: float
    unit: str
    opened_at: datetime
    cleared_at: datetime | None
    acknowledged_by: Who | None
    acknowledged_at: datetime | None
    acknowledged_via: str | None
    escalation_step: int
    next_escalation_at: datetime | None
    paged: tuple[Who, ...]  # everyone paged about it, once each, in order
    answered: tuple[Answered, ...]
    degraded_feed: str | None  # the station's feed is failing: the value may be stale
    clearable: bool  # a leader may clear it here (not a village's or a handover's)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "rule_type": self.rule_type, "rule": self.rule,
            "station": self.station, "station_name": self.station_name,
            "level": self.level.id, "level_name_zh": self.level.name_zh,
            "level_name_en": self.level.name_en, "peak_level": self.peak_level,
            "state": self.state, "value": self.value, "unit": self.unit,
            "opened_at": self.opened_at, "cleared_at": self.cleared_at,
            "acknowledged_by": self.acknowledged_by.id if self.acknowledged_by else None,
            "acknowledged_at": self.acknowledged_at,
            "acknowledged_via": self.acknowledged_via,
            "escalation_step": self.escalation_step,
            "next_escalation_at": self.next_escalation_at,
            "paged": [p.id for p in self.paged],
            "answered": [{"person": a.person.id, "via": a.via, "at": a.at, "step": a.step}
                         for a in self.answered],
            "degraded_feed": self.degraded_feed,
        }  # fmt: skip


@dataclass(frozen=True)
class TimelineItem:
    at: datetime
    type: str  # an event type, or "page"
    data: Mapping[str, Any]
    page: Paged | None = None


@dataclass(frozen=True)
class DegradedFeed:
    feed: str
    stations: tuple[str, ...]
    since: datetime | None
    why: str | None


@dataclass(frozen=True)
class Now:
    duty: DutyNow
    alerts: tuple[AlertView, ...]
    degraded: tuple[DegradedFeed, ...]


@dataclass(frozen=True)
class Latest:
    parameter: str
    value: float
    unit: str
    observed_at: datetime
    per_hour: float | None  # the change over the last hour, per hour (None: no earlier reading)

    @property
    def trend(self) -> str:
        if self.per_hour is None:
            return "unknown"
        if abs(self.per_hour) < STEADY:
            return "steady"
        return "rising" if self.per_hour > 0 else "falling"


@dataclass(frozen=True)
class StationView:
    station: Station
    latest: tuple[Latest, ...]
    level: Level | None  # the highest level of its open alerts (None: none open)
    colour: str
    alerts: tuple[int, ...]  # its open alerts
    rules: tuple[AnyRule, ...] = ()
    degraded_feed: str | None = None


@dataclass(frozen=True)
class DutyLog:
    day: date
    start: datetime
    end: datetime
    entries: tuple[dutylog.LogLine, ...]


@dataclass(frozen=True)
class TableRow:
    start: datetime
    end: datetime
    people: Mapping[str, tuple[Who, ...]]  # role -> who holds it


@dataclass(frozen=True)
class RosterView:
    roles: tuple[tuple[str, str], ...]  # (role, title), in the roster's order
    rows: tuple[TableRow, ...]
    people: tuple[Who, ...]  # everyone who holds a shift in a rotation
    today: date


@dataclass
class Views:
    db: Database
    clock: Clock
    roster: RosterHolder
    office: Office
    stations: Sequence[Station]
    rules: Sequence[AnyRule]
    feeds: Sequence[str]
    day_starts: str = "00:00"
    _names: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self._names = {s.id: s.name for s in self.stations}

    # -- now -----------------------------------------------------------------------------------

    def duty(self, at: datetime | None = None) -> DutyNow:
        roster = self.roster.current
        at = at or self.clock.now()
        duty = roster.on_duty(at)
        roles = []
        for role in roles_in_order(roster):
            a = duty.assignments[role]
            people = tuple(_who(roster, p) for p in a.people)
            roles.append(
                RoleOnDuty(role, roster.role(role).name or role, people, a.start, a.end, a.short)
            )
        return DutyNow(at, tuple(roles), duty.end)

    def now(self) -> Now:
        with self.db.sessions() as session:
            degraded = self._degraded(session)
            serving = {s: d.feed for d in degraded for s in d.stations}
            rows = list(
                session.scalars(
                    select(AlertRow).where(AlertRow.state == "open").order_by(AlertRow.id)
                )
            )
            alerts = tuple(self._alert(session, a, serving) for a in rows)
        return Now(self.duty(), alerts, degraded)

    def open_alerts(self) -> tuple[AlertView, ...]:
        return self.now().alerts

    def alert(self, alert_id: int) -> tuple[AlertView, tuple[TimelineItem, ...]] | None:
        """An alert and its timeline: every event and every page, in time order."""
        with self.db.sessions() as session:
            row = session.get(AlertRow, alert_id)
            if row is None:
                return None
            serving = {s: d.feed for d in self._degraded(session) for s in d.stations}
            view = self._alert(session, row, serving)
            roster = self.roster.current
            items = [
                TimelineItem(e.at, e.type, {"level": e.level, **e.data})
                for e in session.scalars(
                    select(EventRow).where(EventRow.alert_id == alert_id).order_by(EventRow.id)
                )
            ]
            items += [
                TimelineItem(p.at, "page", {}, p) for p in _pages(session, roster, [alert_id])
            ]
        items.sort(key=lambda i: (i.at, i.type == "page"))
        return view, tuple(items)

    # -- stations ------------------------------------------------------------------------------

    def stations_now(self) -> tuple[StationView, ...]:
        now = self.clock.now()
        with self.db.sessions() as session:
            serving = {s: d.feed for d in self._degraded(session) for s in d.stations}
            open_by_station: dict[str, list[AlertRow]] = {}
            for a in session.scalars(select(AlertRow).where(AlertRow.state == "open")):
                if a.rule_type not in OWN_DESK:
                    open_by_station.setdefault(a.station, []).append(a)
            return tuple(
                self._station(session, s, open_by_station.get(s.id, []), serving, now)
                for s in self.stations
            )

    def station(self, station_id: str) -> StationView | None:
        return next((s for s in self.stations_now() if s.station.id == station_id), None)

    # -- records -------------------------------------------------------------------------------

    def duty_log(self, day: date | None = None) -> DutyLog:
        zone = self.office.zone
        starts = days.starts(self.day_starts)
        day = day or days.day_of(self.clock.now(), zone, starts)
        start, end = days.window(day, zone, starts)
        with self.db.sessions() as session:
            lines = tuple(dutylog.lines(session, start, end))
        return DutyLog(day, start, end, lines)

    def roster_table(self, start: date | None = None, days_ahead: int = 14) -> RosterView:
        roster = self.roster.current
        today = self.clock.now().astimezone(roster.timezone).date()
        start = start or today
        roles = tuple((r, roster.role(r).name or r) for r in roles_in_order(roster))
        rows = tuple(
            TableRow(
                row.start,
                row.end,
                {r: tuple(_who(roster, p) for p in a.people) for r, a in row.assignments.items()},
            )  # fmt: skip
            for row in shifts(roster, start, days_ahead)
        )
        members = dict.fromkeys(p for rot in roster.rotations for p in rot.members)
        people = tuple(_who(roster, p) for p in members)
        return RosterView(roles, rows, people, today)

    # -- inside --------------------------------------------------------------------------------

    def _degraded(self, session: Session) -> tuple[DegradedFeed, ...]:
        out = []
        for name in self.feeds:
            value = state.get_in(session, feed_key(name))
            if value and value.get("degraded"):
                since = value.get("since")
                out.append(
                    DegradedFeed(
                        name,
                        tuple(str(s) for s in value.get("stations") or ()),
                        datetime.fromisoformat(str(since)) if since else None,
                        str(value["why"]) if value.get("why") else None,
                    )  # fmt: skip
                )
        return tuple(out)

    def _level(self, level_id: str) -> Level:
        found = next((lv for lv in self.office.levels if lv.id == level_id), None)
        if found is None:  # a level no longer in the config: shown by its id
            return Level(id=level_id, name_zh=level_id, name_en=level_id, grade="",
                         cap_severity="Minor")  # fmt: skip
        return found

    def _alert(self, session: Session, a: AlertRow, serving: Mapping[str, str]) -> AlertView:
        roster = self.roster.current
        paged = dict.fromkeys(
            session.scalars(
                select(PageRow.person).where(PageRow.alert_id == a.id).order_by(PageRow.id)
            )
        )
        answered = tuple(
            Answered(_who(roster, r.person), r.via, r.at, r.step)
            for r in session.scalars(
                select(AcknowledgementRow)
                .where(AcknowledgementRow.alert_id == a.id)
                .order_by(AcknowledgementRow.id)
            )
        )
        return AlertView(
            id=a.id, rule_type=a.rule_type, rule=a.rule_id, station=a.station,
            station_name=self._names.get(a.station, a.station), level=self._level(a.level),
            peak_level=a.peak_level, colour=colour(a.level), state=a.state, value=a.value,
            unit=a.unit, opened_at=a.opened_at, cleared_at=a.cleared_at,
            acknowledged_by=_who(roster, a.acknowledged_by) if a.acknowledged_by else None,
            acknowledged_at=a.acknowledged_at, acknowledged_via=a.acknowledged_via,
            escalation_step=a.escalation_step, next_escalation_at=a.next_escalation_at,
            paged=tuple(_who(roster, p) for p in paged), answered=answered,
            degraded_feed=serving.get(a.station),
            clearable=a.state == "open" and a.rule_type not in OWN_DESK,
        )  # fmt: skip

    def _station(
        self, session: Session, station: Station, alerts: list[AlertRow],
        serving: Mapping[str, str], now: datetime,
    ) -> StationView:  # fmt: skip
        latest = []
        parameters = session.scalars(
            select(ReadingRow.parameter)
            .where(ReadingRow.station == station.id, ReadingRow.observed_at <= now)
            .distinct()
        ).all()
        for parameter in sorted(parameters):
            series = (ReadingRow.station == station.id, ReadingRow.parameter == parameter,
                      ReadingRow.quality.is_(None), ReadingRow.observed_at <= now)  # fmt: skip
            last = session.scalars(
                select(ReadingRow).where(*series).order_by(ReadingRow.observed_at.desc()).limit(1)
            ).one_or_none()
            if last is None:
                continue
            before = session.scalars(
                select(ReadingRow)
                .where(*series, ReadingRow.observed_at <= last.observed_at - TREND_OVER)
                .order_by(ReadingRow.observed_at.desc())
                .limit(1)
            ).one_or_none()
            per_hour = None
            if before is not None and before.unit == last.unit:
                hours = (last.observed_at - before.observed_at).total_seconds() / 3600
                per_hour = (last.value - before.value) / hours if hours else None
            latest.append(Latest(parameter, last.value, last.unit, last.observed_at, per_hour))
        order = self.office.level_ids
        top = max((a.level for a in alerts), key=lambda x: order.index(x) if x in order else -1,
                  default=None)  # fmt: skip
        rules = tuple(r for r in self.rules if r.station == station.id)
        return StationView(
            station, tuple(latest), self._level(top) if top else None,
            colour(top) if top else "", tuple(a.id for a in alerts), rules,
            serving.get(station.id),
        )  # fmt: skip


def _who(roster: Roster, person: str) -> Who:
    p = roster.people.get(person)
    return Who(person, p.name if p else person)


def _pages(session: Session, roster: Roster, alert_ids: Sequence[int]) -> list[Paged]:
    """The alerts' pages, each with its latest delivery attempt's detail."""
    last_attempt = (
        select(DeliveryRow.page_id, func.max(DeliveryRow.id).label("last"))
        .group_by(DeliveryRow.page_id)
        .subquery()
    )
    rows = session.execute(
        select(PageRow, DeliveryRow.detail)
        .where(PageRow.alert_id.in_(list(alert_ids)))
        .outerjoin(last_attempt, last_attempt.c.page_id == PageRow.id)
        .outerjoin(DeliveryRow, DeliveryRow.id == last_attempt.c.last)
        .order_by(PageRow.id)
    ).all()
    return [
        Paged(
            p.id, _who(roster, p.person), p.role, p.channel, p.step, p.status, p.created_at, detail
        )  # fmt: skip
        for p, detail in rows
    ]


def rule_summary(rule: AnyRule) -> dict[str, Any]:
    """A rule as the station page lists it: its type and its levels."""
    if isinstance(rule, ThresholdRule):
        steps = [(s.level, f"≥ {s.value:g} {rule.unit}") for s in rule.levels]
    elif isinstance(rule, RainfallRule):
        steps = [
            (s.level, ", ".join(f"{w} ≥ {v:g} {rule.unit}" for w, v in s.over.items()))
            for s in rule.levels
        ]
    elif isinstance(rule, RiseRule):
        steps = [(rule.level, f"+{rule.rise:g} {rule.unit} / {rule.per}")]
    else:
        steps = [(s.level, f"≥ {s.value:g} {rule.unit}") for s in rule.levels]
    return {"id": rule.id, "type": rule.type, "parameter": rule.parameter, "steps": steps}
