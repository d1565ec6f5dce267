"""Drills (演练) of the whole warning chain, on the real channels, marked from end to end.

`start` opens a drill alert at a station and level (rule type "drill", its own rule id, so a real
alert open at the same station is not touched), paged and escalated under the policy a real
alert there would follow; and a drill warning for each village (those that watch the station,
or those named): its round of 叫应 and its loudspeakers. Every message says 演练 / EXERCISE first;
CAP marks the drill's messages Exercise. `end` closes what the drill opened (the loudspeakers
say the drill is over) and `report` says who was reached, on which channel, who answered and how
fast, who never did, and which loudspeakers were dispatched.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from floodwatch.alerts import escalation
from floodwatch.alerts.lifecycle import AlertLifecycle
from floodwatch.config import AnyRule, Evacuation, RiseRule, Station, level_ids
from floodwatch.events import Cleared, DrillEnded, DrillStarted, Opened
from floodwatch.hooks import Hook
from floodwatch.i18n import Refused, Unknown, _
from floodwatch.notify.outbox import LOUDSPEAKER, Outbox
from floodwatch.office import Office
from floodwatch.roster.holder import RosterHolder
from floodwatch.store import Database
from floodwatch.store.events import record
from floodwatch.store.models import (
    AcknowledgementRow,
    AlertRow,
    DeliveryRow,
    DrillRow,
    EventRow,
    PageRow,
    VillageWarningRow,
)
from floodwatch.villages.desk import DRILL, VillageDesk, rule_id
from floodwatch.villages.model import MOVE_NOW, PREPARE, Villages
from floodwatch.villages.warnings import Warn

log = logging.getLogger(__name__)

SUCCEEDED = ("accepted", "delivered", "dispatched")


@dataclass(frozen=True)
class Contact:
    """One page of a drill to one person (or loudspeaker) on one channel, and its outcome."""

    channel: str
    status: str
    detail: str | None = None


@dataclass(frozen=True)
class Person:
    """A person the drill paged: why (their role), on which channels with what outcome,
    whether they owed an answer, and their answer."""

    person: str
    name: str
    role: str | None
    contacts: Sequence[Contact]
    owed: bool
    paged_at: datetime | None
    answered_at: datetime | None = None
    via: str | None = None

    @property
    def reached(self) -> bool:
        return any(c.status in SUCCEEDED for c in self.contacts)

    @property
    def seconds(self) -> int | None:
        if self.answered_at is None or self.paged_at is None:
            return None
        return int((self.answered_at - self.paged_at).total_seconds())


@dataclass(frozen=True)
class DrillReport:
    drill: DrillRow
    people: Sequence[Person]
    loudspeakers: Sequence[tuple[str, Contact]]  # (loudspeaker, its broadcast page)
    alerts: Sequence[int] = field(default_factory=tuple)

    @property
    def reached(self) -> list[Person]:
        return [p for p in self.people if p.reached]

    @property
    def answered(self) -> list[Person]:
        return [p for p in self.people if p.answered_at is not None]

    @property
    def never(self) -> list[Person]:
        return [p for p in self.people if p.owed and p.answered_at is None]

    @property
    def dispatched(self) -> list[str]:
        return [key for key, c in self.loudspeakers if c.status == "dispatched"]

    def as_json(self, zone: ZoneInfo) -> dict[str, Any]:
        def iso(when: datetime | None) -> str | None:
            return when.astimezone(zone).isoformat() if when else None

        d = self.drill
        return {
            "drill": d.id, "level": d.level, "station": d.station,
            "villages": list(d.villages.get("villages", [])), "started_at": iso(d.started_at),
            "started_by": d.started_by, "ended_at": iso(d.ended_at), "ended_by": d.ended_by,
            "alerts": list(self.alerts),
            "people": [
                {"person": p.person, "name": p.name, "role": p.role, "reached": p.reached,
                 "channels": [{"channel": c.channel, "status": c.status, "detail": c.detail}
                              for c in p.contacts],
                 "owed_answer": p.owed, "paged_at": iso(p.paged_at),
                 "answered_at": iso(p.answered_at), "via": p.via, "seconds": p.seconds}
                for p in self.people
            ],
            "never_answered": [p.person for p in self.never],
            "loudspeakers": [
                {"id": key, "channel": c.channel, "status": c.status, "detail": c.detail}
                for key, c in self.loudspeakers
            ],
            "counts": {"paged": len(self.people), "reached": len(self.reached),
                       "answered": len(self.answered), "never": len(self.never),
                       "loudspeakers": len(self.loudspeakers),
                       "dispatched": len(self.dispatched)},
        }  # fmt: skip


class Drills:
    def __init__(
        self, db: Database, desk: VillageDesk, lifecycle: AlertLifecycle, outbox: Outbox,
        office: Office, roster: RosterHolder, villages: Villages, stations: Sequence[Station],
        rules: Sequence[AnyRule], evacuation: Evacuation, pages_written: Hook,
    ) -> None:  # fmt: skip
        self.db = db
        self.desk = desk
        self.lifecycle = lifecycle
        self.outbox = outbox
        self.office = office
        self.roster = roster
        self.villages = villages
        self.stations = {s.id: s for s in stations}
        self.rules = list(rules)
        self.evacuation = evacuation
        self.pages_written = pages_written

    def start(
        self, level: str, station: str, village_ids: Sequence[str], by: str, now: datetime
    ) -> DrillRow:
        """Start a drill at `station` and `level` (an id or alias) for the villages named (by
        default those that watch the station). Only one drill runs at a time."""
        if by not in self.roster.current.people:
            raise Unknown(_("unknown person {person}: not in the rosters", person=repr(by)))
        ids = level_ids(self.office.levels)
        if level not in ids:
            known = ", ".join(lv.id for lv in self.office.levels)
            raise Refused(
                _("unknown level {level} (levels: {levels})", level=repr(level), levels=known)
            )
        level = ids[level]
        if station not in self.stations:
            stations = ", ".join(self.stations) or _("none configured")
            raise Unknown(
                _("unknown station {station} (stations: {stations})", station=repr(station),
                  stations=stations)
            )  # fmt: skip
        chosen = [self._village(v) for v in dict.fromkeys(village_ids)] or [
            v.id for v in self.villages.concerned_by(station)
        ]
        warning = self._warning(level)
        rule = next((r for r in self.rules if r.station == station), None)
        parameter = rule.parameter if rule else "stage"
        unit = rule.unit if rule else ""
        value = _threshold(rule, level, ids)
        name = self.lifecycle.policy_for(level, rule.escalation if rule else "default")
        policy = self.lifecycle.policies.get(name) or next(iter(self.lifecycle.policies.values()))
        with self.db.transaction() as session:
            running = session.scalars(select(DrillRow).where(DrillRow.ended_at.is_(None))).first()
            if running is not None:
                raise Refused(
                    _("drill #{id} is running (since {since}): end it first", id=running.id,
                      since=self.office.local(running.started_at))
                )  # fmt: skip
            drill = DrillRow(started_at=now, started_by=by, level=level, station=station,
                             villages={"villages": chosen})  # fmt: skip
            session.add(drill)
            session.flush()
            alert = AlertRow(
                rule_type=DRILL, station=station, parameter=parameter, rule_id=rule_id(drill.id),
                level=level, peak_level=level, state="open", value=value, unit=unit,
                opened_at=now, updated_at=now, policy=name, escalation_step=0,
                next_escalation_at=escalation.next_due(policy, 0, now),
            )  # fmt: skip
            session.add(alert)
            session.flush()
            drill.alert_id = alert.id
            opened = record(
                session, now,
                Opened(alert=alert.id, station=station, level=level, value=value, unit=unit,
                       rule=alert.rule_id, rule_type=DRILL, detail={"drill": drill.id}),
            )  # fmt: skip
            pages = self.outbox.page_alert(
                session, alert, opened, "opened", policy.steps[:1], now, step=0
            )
            record(
                session, now,
                DrillStarted(alert=alert.id, station=station, level=level, drill=drill.id, by=by,
                             villages=chosen),
            )  # fmt: skip
            for village_id in chosen:
                village = self.villages.by_id[village_id]
                cause = {"kind": "drill", "drill": drill.id}
                pages += self.desk.issue(
                    session, village, Warn(warning, None, cause), by, now, drill=drill.id
                )
        log.warning("drill #%d started by %s: %s at %s, villages %s", drill.id, by, level,
                    station, ", ".join(chosen) or "none")  # fmt: skip
        if pages:
            self.pages_written()
        return drill

    def running(self) -> DrillRow | None:
        with self.db.sessions() as session:
            return session.scalars(select(DrillRow).where(DrillRow.ended_at.is_(None))).first()

    def end(self, drill_id: int, by: str, now: datetime) -> DrillReport:
        """End a drill: its alert and its village warnings close (everyone told so far hears
        it is over; the loudspeakers say so, marked) and the report is recorded."""
        pages = 0
        with self.db.transaction() as session:
            drill = session.get(DrillRow, drill_id, with_for_update=True)
            if drill is None:
                raise Unknown(_("no drill #{id}", id=drill_id))
            if drill.ended_at is not None:
                raise Refused(
                    _("drill #{id} ended at {at}", id=drill_id,
                      at=self.office.local(drill.ended_at))
                )  # fmt: skip
            alert = session.get(AlertRow, drill.alert_id) if drill.alert_id else None
            if alert is not None and alert.state == "open":
                pages += self._close(session, alert, now)
            rows = session.scalars(
                select(VillageWarningRow).where(
                    VillageWarningRow.drill_id == drill.id, VillageWarningRow.state == "standing"
                )
            ).all()
            for row in rows:
                village = self.villages.get(row.village)
                if village is not None:
                    pages += self.desk.end_warning(session, village, row, by, now)
            drill.ended_at, drill.ended_by = now, by
            session.flush()
            report = self._report(session, drill)
            record(
                session, now,
                DrillEnded(alert=drill.alert_id, station=drill.station, level=drill.level,
                           drill=drill.id, by=by, reached=len(report.reached),
                           answered=len(report.answered), never=len(report.never),
                           dispatched=len(report.dispatched)),
            )  # fmt: skip
        log.warning("drill #%d ended by %s", drill_id, by)
        if pages:
            self.pages_written()
        return report

    def report(self, drill_id: int) -> DrillReport:
        with self.db.sessions() as session:
            drill = session.get(DrillRow, drill_id)
            if drill is None:
                raise Unknown(_("no drill #{id}", id=drill_id))
            return self._report(session, drill)

    # -- inside ----------------------------------------------------------------------------------

    def _village(self, village_id: str) -> str:
        if village_id not in self.villages.by_id:
            known = ", ".join(v.id for v in self.villages) or _("none configured")
            raise Unknown(
                _("unknown village {village} (villages: {villages})", village=repr(village_id),
                  villages=known)
            )  # fmt: skip
        return village_id

    def _warning(self, level: str) -> str:
        """A drill at `level` moves the villages (move_now) from the evacuation's move-now
        level up, and has them prepare below it."""
        order = self.office.level_ids
        ids = level_ids(self.office.levels)
        move_now = ids.get(self.evacuation.move_now_level, self.evacuation.move_now_level)
        if move_now in order and order.index(level) >= order.index(move_now):
            return MOVE_NOW
        return PREPARE

    def _close(self, session: Session, alert: AlertRow, now: datetime) -> int:
        policy = self.lifecycle.policies.get(alert.policy)
        previous = alert.level
        alert.state = "cleared"
        alert.cleared_at = alert.updated_at = now
        alert.next_escalation_at = None
        event = record(
            session, now,
            Cleared(alert=alert.id, station=alert.station, level=None, previous=previous,
                    value=alert.value, unit=alert.unit, rule=alert.rule_id, rule_type=DRILL),
        )  # fmt: skip
        if policy is None:
            return 0
        told = escalation.steps_so_far(policy, alert.escalation_step)
        return self.outbox.page_alert(session, alert, event, "cleared", told, now)

    def _report(self, session: Session, drill: DrillRow) -> DrillReport:
        alerts = {drill.alert_id} if drill.alert_id else set()
        drill_events: set[int] = set()
        for event in session.scalars(
            select(EventRow).where(
                EventRow.type.in_(("village_warned", "village_cleared", "village_unanswered"))
            )
        ):
            if event.data.get("drill") == drill.id:
                drill_events.add(event.id)
                if event.type == "village_warned" and event.alert_id is not None:
                    alerts.add(event.alert_id)
        pages = session.scalars(
            select(PageRow)
            .where((PageRow.alert_id.in_(alerts)) | (PageRow.event_id.in_(drill_events)))
            .order_by(PageRow.id)
        ).all()
        roster = self.roster.current
        people: dict[str, dict[str, Any]] = {}
        speakers: dict[str, Contact] = {}
        for page in pages:
            detail = session.scalar(
                select(DeliveryRow.detail).where(DeliveryRow.page_id == page.id)
                .order_by(DeliveryRow.id.desc()).limit(1)
            )  # fmt: skip
            contact = Contact(page.channel, page.status, detail)
            if page.role == LOUDSPEAKER:
                if page.status in SUCCEEDED or page.person not in speakers:
                    speakers[page.person] = contact
                continue
            entry = people.setdefault(
                page.person,
                {"role": page.role, "contacts": [], "owed": False, "paged_at": page.created_at},
            )
            entry["contacts"].append(contact)
            entry["owed"] |= page.alert_id in alerts and page.step is not None
        answers: dict[str, tuple[datetime | None, str | None]] = {}
        for person, at, via in session.execute(
            select(AcknowledgementRow.person, AcknowledgementRow.at, AcknowledgementRow.via)
            .where(AcknowledgementRow.alert_id.in_(alerts))
            .order_by(AcknowledgementRow.at)
        ):
            answers.setdefault(person, (at, via))
        out = []
        for person, entry in people.items():
            who = roster.people.get(person)
            answered_at, answered_via = answers.get(person, (None, None))
            out.append(
                Person(person, who.name if who else person, entry["role"],
                       tuple(_unique(entry["contacts"])), bool(entry["owed"]),
                       entry["paged_at"], answered_at, answered_via)
            )  # fmt: skip
        return DrillReport(drill, out, sorted(speakers.items()), sorted(alerts))


def _unique(contacts: Sequence[Contact]) -> list[Contact]:
    """A person's contacts, one per channel (the best outcome it had)."""
    best: dict[str, Contact] = {}
    for c in contacts:
        if c.channel not in best or c.status in SUCCEEDED:
            best[c.channel] = c
    return list(best.values())


def _threshold(rule: AnyRule | None, level: str, ids: Mapping[str, str]) -> float:
    """The value a real alert at `level` would have had (the rule's threshold), for messages."""
    if rule is None or isinstance(rule, RiseRule):
        return 0.0
    for step in rule.levels:
        value = getattr(step, "value", None)
        if ids.get(step.level, step.level) == level and isinstance(value, int | float):
            return float(value)
    return 0.0
