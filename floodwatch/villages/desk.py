"""The village desk: village warnings and their 叫应 chain, around the pure decisions of
`villages.warnings`. It reads and writes the warning rows, opens each round's alert, records the
events and writes the pages (people) and broadcasts (loudspeakers) to the outbox, in one
transaction.

- `readings` (called by the pipeline, in its transaction): the batch's new readings warn the
  villages that watch them (only upward);
- `warn`, `clear` (the leader on duty), `moved` (a responsible person's report), `broadcast`
  (anyone on the roster, by hand);
- `tick` (the service's duty job): who has not answered by the village's `wait` is named to
  the leader on duty; the leader is reminded of every warning that stands;
- `chain`: the state of every village, for `floodwatch villages`.

Each warning level is one round of 叫应: an alert (rule type "village", station the village's
id) under the village's policy (`ack: all`), paged to every responsible person. Their answers,
by any path (SMS reply, keypress, web, `floodwatch ack`), are the alert's acknowledgements,
through the one `AlertLifecycle.acknowledge`. The alert never escalates by itself: the desk
names who has not answered, in a page of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from floodwatch.alerts.lifecycle import AlertLifecycle
from floodwatch.config import EscalationStep, Evacuation, level_ids
from floodwatch.errors import FloodwatchError
from floodwatch.events import (
    Broadcast,
    VillageCleared,
    VillageMoved,
    VillageReminded,
    VillageUnanswered,
    VillageWarned,
)
from floodwatch.hooks import Hook
from floodwatch.i18n import Refused, Text, Unknown, _
from floodwatch.notify.outbox import LOUDSPEAKER, About, BroadcastPage, Outbox, Recipient
from floodwatch.notify.templates import (
    BroadcastFacts,
    VillageFacts,
    render_broadcast,
    render_village,
)
from floodwatch.office import Office
from floodwatch.readings import Reading
from floodwatch.roster.holder import RosterHolder
from floodwatch.roster.model import Roster, mask_phone
from floodwatch.store import Database
from floodwatch.store.events import record
from floodwatch.store.models import (
    AcknowledgementRow,
    AlertRow,
    DeliveryRow,
    EvacuationReportRow,
    EventRow,
    PageRow,
    ReadingRow,
    RuleStateRow,
    VillageWarningRow,
)
from floodwatch.units import convert
from floodwatch.villages import warnings
from floodwatch.villages.model import (
    MOVE_NOW,
    PREPARE,
    ROLE_ZH,
    WARNINGS,
    LevelTrigger,
    Trigger,
    Village,
    Villages,
)
from floodwatch.villages.warnings import Figure, Round, VillageState, Warn

log = logging.getLogger(__name__)

SYSTEM = "floodwatch"  # who issued a warning the readings caused
RULE_TYPE = "village"  # a round of 叫应's alert
DRILL = "drill"  # a drill's alerts (villages.drills)
PARAMETER = "evacuation"
STATE_PREFIX = "village:"  # rule_states: a village's memory
MAX_TEXT = 500  # characters of a broadcast by hand: a loudspeaker says it in about 2 minutes
# a warning as a refusal names it, in the reader's language (the CLI's words for it in English)
WARNING_NAMES = {PREPARE: _("prepare"), MOVE_NOW: _("move_now")}


def rule_id(drill: int | None) -> str:
    """The rule id of a round's alert: one open round per village, and one per drill."""
    return f"drill-{drill}" if drill is not None else RULE_TYPE


@dataclass(frozen=True)
class Answer:
    """A responsible person in a round of 叫应: when they were paged, and their answer."""

    person: str
    name: str
    role: str
    paged_at: datetime | None
    answered_at: datetime | None = None
    via: str | None = None

    @property
    def seconds(self) -> int | None:
        """How long they took to answer, from their first page."""
        if self.answered_at is None or self.paged_at is None:
            return None
        return int((self.answered_at - self.paged_at).total_seconds())


@dataclass(frozen=True)
class Sounding:
    """A loudspeaker and what became of its latest broadcast page."""

    key: str
    channel: str
    address: str
    group: str | None
    status: str | None = None
    detail: str | None = None
    at: datetime | None = None


@dataclass(frozen=True)
class Chain:
    """One village's warning chain now: the warning standing (None: no warning), its round of
    叫应, the households and people reported moved, its loudspeakers."""

    village: Village
    warning: VillageWarningRow | None
    answers: Sequence[Answer] = ()
    moved: tuple[int, int] = (0, 0)
    reports: Sequence[EvacuationReportRow] = ()
    speakers: Sequence[Sounding] = ()
    named_at: datetime | None = None  # when the leader was told who has not answered
    notes: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self, zone: ZoneInfo) -> dict[str, Any]:
        def iso(when: datetime | None) -> str | None:
            return when.astimezone(zone).isoformat() if when else None

        v, w = self.village, self.warning
        return {
            "village": v.id, "name": v.name, "households": v.households,
            "residents": v.residents, "evacuation": v.sites(),
            "warning": None if w is None else {
                "id": w.id, "level": w.level, "alert": w.alert_id, "issued_at": iso(w.issued_at),
                "issued_by": w.issued_by, "raised_at": iso(w.raised_at), "raised_by": w.raised_by,
                "cause": w.cause, "answer_by": iso(w.answer_by), "remind_at": iso(w.remind_at),
                "drill": w.drill_id,
            },
            "responsible": [
                {"person": a.person, "name": a.name, "role": a.role, "paged_at": iso(a.paged_at),
                 "answered_at": iso(a.answered_at), "via": a.via, "seconds": a.seconds}
                for a in self.answers
            ],
            "moved": {
                "households": self.moved[0], "people": self.moved[1],
                "reports": [{"by": r.by, "at": iso(r.at), "via": r.via,
                             "households": r.households, "people": r.people}
                            for r in self.reports],
            },
            "loudspeakers": [
                {"id": s.key, "channel": s.channel, "address": s.address, "group": s.group,
                 "status": s.status, "detail": s.detail, "at": iso(s.at)}
                for s in self.speakers
            ],
        }  # fmt: skip


class VillageDesk:
    def __init__(
        self, db: Database, villages: Villages, evacuation: Evacuation, office: Office,
        roster: RosterHolder, outbox: Outbox, lifecycle: AlertLifecycle, pages_written: Hook,
        station_names: Mapping[str, str] | None = None,
    ) -> None:  # fmt: skip
        self.db = db
        self.villages = villages
        self.evacuation = evacuation
        self.office = office
        self.roster = roster
        self.outbox = outbox
        self.lifecycle = lifecycle
        self.pages_written = pages_written
        self.station_names = dict(station_names or {})
        ids = level_ids(office.levels)
        self.levels = {
            PREPARE: ids.get(evacuation.prepare_level, evacuation.prepare_level),
            MOVE_NOW: ids.get(evacuation.move_now_level, evacuation.move_now_level),
        }

    # -- readings (the pipeline's transaction) -------------------------------------------------

    def readings(self, session: Session, new: Sequence[Reading], now: datetime) -> int:
        """The villages that watch the new readings' series: warned if the readings call for
        it (never lowered). In the caller's transaction; returns pages written."""
        touched = {(r.station, r.parameter) for r in new} & self.villages.series
        if not touched:
            return 0
        times = sorted({r.observed_at for r in new if (r.station, r.parameter) in touched})
        stored = _Stored(session, touched, times[0], self.villages)
        pages = 0
        for village in self.villages:
            triggers = [t for t in village.triggers if (t.station, t.parameter) in touched]
            if not triggers:
                continue
            figures = _figures(triggers, stored, times)
            if not figures:
                continue
            row, state = self._state(session, village)
            state, warn = warnings.observe(state, figures)
            if warn is not None:
                pages += self.issue(session, village, warn, None, now)
            self._save(session, village, row, state)
        return pages

    # -- people --------------------------------------------------------------------------------

    def warn(self, village_id: str, warning: str, by: str, now: datetime) -> VillageWarningRow:
        """The leader on duty warns a village by hand (it only raises a warning)."""
        village = self._village(village_id)
        if warning not in WARNINGS:
            raise Refused(
                _("unknown warning {warning} (prepare or move_now)", warning=repr(warning))
            )
        self._leader_only(by, now, _("warn a village"))
        with self.db.transaction() as session:
            row, state = self._state(session, village)
            name = self.roster.current.person(by).name
            warn = warnings.by_hand(state, warning, {"kind": "hand", "by": by, "name": name})
            if warn is None:
                has = WARNING_NAMES.get(state.warning or "", str(state.warning))
                raise Refused(
                    _("{village} ({id}) already has the {warning} warning", village=village.name,
                      id=village.id, warning=has)
                )  # fmt: skip
            pages = self.issue(session, village, warn, by, now)
            self._save(session, village, row, warnings.warned(state, warn))
            standing = self._standing(session, village.id, None)
        self._written(pages)
        if standing is None:  # only a hand-edited database gets here
            raise Refused(_("the warning of {village} was not recorded", village=village.id))
        return standing

    def clear(self, village_id: str, by: str, now: datetime) -> VillageWarningRow:
        """The leader on duty clears a village's warning: it is over, its round closes, the
        responsible persons are told and the loudspeakers say so. Nobody else may."""
        village = self._village(village_id)
        self._leader_only(by, now, _("clear a village's warning"))
        with self.db.transaction() as session:
            row = self._standing(session, village.id, None, lock=True)
            if row is None:
                raise Refused(
                    _("{village} ({id}) has no warning to clear", village=village.name,
                      id=village.id)
                )  # fmt: skip
            pages = self.end_warning(session, village, row, by, now)
            state_row, state = self._state(session, village)
            self._save(session, village, state_row, warnings.cleared(state))
        self._written(pages)
        return row

    def moved(
        self, village_id: str, households: int, people: int, by: str, via: str, now: datetime,
        drill: int | None = None,
    ) -> tuple[int, int]:  # fmt: skip
        """`by` reports `households` and `people` of the village moved (their latest report
        counts; the village's figure is the sum over those who reported). A responsible person
        of the village may, and anyone on duty (taking a report by phone). A report is also the
        reporter's answer to the round, if they owe one. Returns the village's figures."""
        village = self._village(village_id)
        roster = self.roster.current
        if by not in roster.people:
            raise Unknown(_("unknown person {person}: not in the rosters", person=repr(by)))
        duty = roster.on_duty(now)
        on_duty = any(by in a.people for a in duty.assignments.values())
        if by not in village.people and not on_duty:
            raise Refused(
                _("{person} is neither a responsible person of {village} nor on duty: ask one "
                  "of them to report ({people})",
                  person=by, village=village.name, people=", ".join(village.people))
            )  # fmt: skip
        if not (0 <= households <= village.households and 0 <= people <= village.residents):
            raise Refused(
                _("{village} has {households} households and {residents} people: {reported} "
                  "households and {moved} people cannot be right",
                  village=village.name, households=village.households,
                  residents=village.residents, reported=households, moved=people)
            )  # fmt: skip
        if by in village.people:
            self._answer(village, by, via, now, drill)
        with self.db.transaction() as session:
            row = self._standing(session, village.id, drill, lock=True)
            if row is None:
                raise Refused(
                    _("{village} ({id}) has no warning standing", village=village.name,
                      id=village.id)
                )  # fmt: skip
            session.add(EvacuationReportRow(warning_id=row.id, at=now, by=by, via=via,
                                            households=households, people=people))  # fmt: skip
            session.flush()
            total = _moved(session, row.id)
            record(
                session, now,
                VillageMoved(alert=row.alert_id, station=village.id, level=self.levels[row.level],
                             village=village.id, by=by, via=via, households=households,
                             people=people, total_households=total[0], total_people=total[1],
                             drill=drill),
            )  # fmt: skip
        log.info("%s: %s reports %d households, %d people moved (in all %d, %d)", village.id,
                 by, households, people, *total)  # fmt: skip
        return total

    def broadcast(
        self, village_ids: Sequence[str], text: str, by: str, now: datetime
    ) -> tuple[int, int]:
        """`by` (anyone on the roster) broadcasts `text` to every loudspeaker of the villages;
        recorded with who and where (a `broadcast` event, and so the duty log). Returns the
        event's id and how many loudspeakers were queued."""
        if by not in self.roster.current.people:
            raise Unknown(_("unknown person {person}: not in the rosters", person=repr(by)))
        text = " ".join(text.split())
        if not text:
            raise Refused(_("the text is empty: write what the loudspeakers should say"))
        if len(text) > MAX_TEXT:
            raise Refused(
                _("the text has {n} characters; a broadcast has at most {max}", n=len(text),
                  max=MAX_TEXT)
            )  # fmt: skip
        chosen = [self._village(v) for v in dict.fromkeys(village_ids)]
        if not chosen:
            raise Refused(_("name the villages to broadcast to"))
        speakers = [s.key for v in chosen for s in v.loudspeakers]
        if not speakers:
            names = ", ".join(v.id for v in chosen)
            raise Refused(_("{villages}: no loudspeakers are configured", villages=names))
        with self.db.transaction() as session:
            event = record(
                session, now,
                Broadcast(by=by, villages=[v.id for v in chosen], loudspeakers=speakers,
                          text=text),
            )  # fmt: skip
            pages = sum(
                self._sound(session, v, event, About(), "manual", None, now, None, text)
                for v in chosen
            )
        log.info("%s broadcast to %s: %s", by, ", ".join(v.id for v in chosen), text)
        self._written(pages)
        return event.id, pages

    # -- time ----------------------------------------------------------------------------------

    def tick(self, now: datetime) -> int:
        """What time alone causes: the responsible persons who have not answered by the
        village's wait are named to the leader on duty; the leader is reminded of every warning
        that stands, every `evacuation.remind_every`. Returns pages queued."""
        pages = 0
        with self.db.transaction() as session:
            due = session.scalars(
                select(VillageWarningRow)
                .where(VillageWarningRow.state == "standing", VillageWarningRow.answer_by <= now)
                .order_by(VillageWarningRow.id)
                .with_for_update(skip_locked=True)
            ).all()
            for row in due:
                pages += self._name_pending(session, row, now)
            reminders = session.scalars(
                select(VillageWarningRow)
                .where(
                    VillageWarningRow.state == "standing", VillageWarningRow.drill_id.is_(None),
                    VillageWarningRow.remind_at <= now,
                )
                .order_by(VillageWarningRow.id)
                .with_for_update(skip_locked=True)
            ).all()  # fmt: skip
            for row in reminders:
                pages += self._remind(session, row, now)
        self._written(pages)
        return pages

    def next_due(self) -> datetime | None:
        """When `tick` next has something to do (replay steps its clock to it)."""
        with self.db.sessions() as session:
            standing = VillageWarningRow.state == "standing"
            times = [
                session.scalar(select(func.min(VillageWarningRow.answer_by)).where(standing)),
                session.scalar(  # drills are not reminded (tick skips them)
                    select(func.min(VillageWarningRow.remind_at)).where(
                        standing, VillageWarningRow.drill_id.is_(None)
                    )
                ),
            ]
        found = [t for t in times if t is not None]
        return min(found) if found else None

    # -- the chain -----------------------------------------------------------------------------

    def chain(self, drill: int | None = None) -> list[Chain]:
        """Every village's chain: its warning standing (a drill's, with `drill`), who answered
        its round and when, what was reported moved, what its loudspeakers did."""
        roster = self.roster.current
        out = []
        with self.db.sessions() as session:
            for village in self.villages:
                row = self._standing(session, village.id, drill)
                if row is None and drill is not None:
                    row = session.scalars(
                        select(VillageWarningRow)
                        .where(VillageWarningRow.village == village.id,
                               VillageWarningRow.drill_id == drill)
                        .order_by(VillageWarningRow.id.desc()).limit(1)
                    ).one_or_none()  # fmt: skip
                    if row is None:
                        continue
                out.append(self._chain(session, roster, village, row))
        return out

    def _chain(
        self, session: Session, roster: Roster, village: Village, row: VillageWarningRow | None
    ) -> Chain:
        speakers = [
            _sounding(session, s.key, s.channel, s.address, s.group, row)
            for s in village.loudspeakers
        ]
        if row is None:
            return Chain(village, None, speakers=speakers)
        answers = _answers(session, roster, village, row.alert_id)
        reports = list(
            session.scalars(
                select(EvacuationReportRow)
                .where(EvacuationReportRow.warning_id == row.id)
                .order_by(EvacuationReportRow.id)
            )
        )
        named = session.scalar(
            select(func.max(EventRow.at)).where(
                EventRow.type == VillageUnanswered.type, EventRow.alert_id == row.alert_id
            )
        )
        return Chain(village, row, answers, _moved(session, row.id), reports, speakers, named)

    # -- inside --------------------------------------------------------------------------------

    def _village(self, village_id: str) -> Village:
        village = self.villages.get(village_id)
        if village is None:
            known = ", ".join(v.id for v in self.villages) or _("none configured")
            raise Unknown(
                _("unknown village {village} (villages: {villages})", village=repr(village_id),
                  villages=known)
            )  # fmt: skip
        return village

    def _leader_only(self, by: str, now: datetime, what: Text) -> None:
        roster = self.roster.current
        if by not in roster.people:
            raise Unknown(_("unknown person {person}: not in the rosters", person=repr(by)))
        leaders = roster.on_duty(now).people(self.evacuation.leader)
        if by not in leaders:
            who = ", ".join(leaders) or _("nobody")
            raise Refused(
                _("only the leader on duty may {what}: {person} is not ({role} on duty now: "
                  "{people})", what=what, person=by, role=self.evacuation.leader, people=who)
            )  # fmt: skip

    def _state(
        self, session: Session, village: Village
    ) -> tuple[RuleStateRow | None, VillageState]:
        row = session.get(RuleStateRow, f"{STATE_PREFIX}{village.id}", with_for_update=True)
        sources = [t.source for t in village.triggers]
        return row, VillageState.from_data(row.data if row else {}, sources)

    def _save(
        self, session: Session, village: Village, row: RuleStateRow | None, state: VillageState
    ) -> None:
        if row is None:
            row = RuleStateRow(rule_id=f"{STATE_PREFIX}{village.id}")
            session.add(row)
        row.level = state.warning
        row.data = state.as_data()

    def _standing(
        self, session: Session, village_id: str, drill: int | None, lock: bool = False
    ) -> VillageWarningRow | None:
        query = select(VillageWarningRow).where(
            VillageWarningRow.village == village_id, VillageWarningRow.state == "standing",
            VillageWarningRow.drill_id.is_(None) if drill is None
            else VillageWarningRow.drill_id == drill,
        )  # fmt: skip
        if lock:
            query = query.with_for_update()
        return session.scalars(query.order_by(VillageWarningRow.id.desc()).limit(1)).one_or_none()

    def issue(
        self, session: Session, village: Village, warn: Warn, by: str | None, now: datetime,
        drill: int | None = None,
    ) -> int:  # fmt: skip
        """Put `warn` in force, in the caller's transaction: a warning (or its raise), a new
        round of 叫应 paged to every responsible person, and the loudspeakers sounded (a drill's,
        with `drill`). Returns pages written."""
        row = self._standing(session, village.id, drill, lock=True)
        level = self.levels[warn.warning]
        cause = dict(warn.cause)
        if row is None:
            row = VillageWarningRow(
                village=village.id, drill_id=drill, level=warn.warning, state="standing",
                issued_at=now, issued_by=by or SYSTEM, cause=cause, answer_by=now + village.wait,
                remind_at=None if drill is not None else now + self.evacuation.remind_every,
            )  # fmt: skip
            session.add(row)
        else:
            self._close_round(session, row, now)
            row.level, row.cause = warn.warning, cause
            row.raised_at, row.raised_by = now, by or SYSTEM
            row.answer_by = now + village.wait
        value = cause.get("value")
        alert = AlertRow(
            rule_type=DRILL if drill is not None else RULE_TYPE, station=village.id,
            parameter=PARAMETER, rule_id=rule_id(drill), level=level, peak_level=level,
            state="open", value=float(value) if isinstance(value, int | float) else 0.0,
            unit=str(cause.get("unit") or ""), opened_at=now, updated_at=now,
            policy=village.policy, escalation_step=0, next_escalation_at=None,
        )  # fmt: skip
        session.add(alert)
        session.flush()
        row.alert_id = alert.id
        log.warning("village %s: %s%s (alert #%d)", village.id, warn.warning,
                    f" from {warn.previous}" if warn.previous else "", alert.id)  # fmt: skip
        event = record(
            session, now,
            VillageWarned(alert=alert.id, station=village.id, level=level, village=village.id,
                          warning=warn.warning, previous=warn.previous, by=by, cause=cause,
                          drill=drill),
        )  # fmt: skip
        about = About(alert.id, village.id, level)
        facts = self._facts(village, warn.warning, now, alert.id, cause, drill)
        roster = self.roster.current
        recipients = [
            Recipient(village.roles_of(p)[0].role, roster.person(p), self.evacuation.channels)
            for p in village.people
            if p in roster.people
        ]
        pages = self.outbox.page(
            session, event, recipients, lambda lang: render_village("warned", lang, facts), now,
            about, VillageWarned.type, step=0,
        )  # fmt: skip
        # a real loudspeaker that fails is told to the officers on duty (the page's alert);
        # a drill's is told in the drill's report, never in a notice that could be mistaken
        sounded = about if drill is None else About(None, village.id, level)
        return pages + self._sound(session, village, event, sounded, "warned", warn.warning,
                                   now, drill)  # fmt: skip

    def end_warning(
        self, session: Session, village: Village, row: VillageWarningRow, by: str, now: datetime
    ) -> int:
        """End a warning, in the caller's transaction (the leader's clear, or a drill's end):
        its round closes, the responsible persons are told, the loudspeakers say it is over.
        Returns pages written."""
        row.state = "cleared"
        row.cleared_at, row.cleared_by = now, by
        row.answer_by = row.remind_at = None
        self._close_round(session, row, now)
        level = self.levels[row.level]
        event = record(
            session, now,
            VillageCleared(alert=row.alert_id, station=village.id, level=level, village=village.id,
                           warning=row.level, by=by, drill=row.drill_id),
        )  # fmt: skip
        roster = self.roster.current
        name = roster.person(by).name if by in roster.people else by
        facts = self._facts(village, row.level, now, row.alert_id, row.cause, row.drill_id,
                            names=name)  # fmt: skip
        recipients = [
            Recipient(village.roles_of(p)[0].role, roster.person(p), self.evacuation.channels)
            for p in village.people
            if p in roster.people
        ]
        about = About(None, village.id, level)  # nothing to answer: no reply code
        pages = self.outbox.page(
            session, event, recipients, lambda lang: render_village("cleared", lang, facts), now,
            about, VillageCleared.type,
        )  # fmt: skip
        log.warning("village %s: %s warning cleared by %s", village.id, row.level, by)
        return pages + self._sound(session, village, event, about, "cleared", row.level, now,
                                   row.drill_id)  # fmt: skip

    def _close_round(self, session: Session, row: VillageWarningRow, now: datetime) -> None:
        alert = session.get(AlertRow, row.alert_id) if row.alert_id else None
        if alert is not None and alert.state == "open":
            alert.state = "cleared"
            alert.cleared_at = alert.updated_at = now
            alert.next_escalation_at = None

    def _answer(
        self, village: Village, by: str, via: str, now: datetime, drill: int | None
    ) -> None:
        """A responsible person's report counts as their answer to the round, if they owe one."""
        with self.db.sessions() as session:
            row = self._standing(session, village.id, drill)
            alert_id = row.alert_id if row is not None else None
            owed = alert_id is not None and not session.scalar(
                select(func.count(AcknowledgementRow.id)).where(
                    AcknowledgementRow.alert_id == alert_id, AcknowledgementRow.person == by
                )
            )
        if owed and alert_id is not None:
            try:
                self.lifecycle.acknowledge(alert_id, by, via, now)
            except FloodwatchError as exc:  # answered meanwhile, or the round closed
                log.info("%s's report for %s: not an answer: %s", by, village.id, exc)

    def _facts(
        self, village: Village, warning: str, now: datetime, alert_id: int | None,
        cause: Mapping[str, Any], drill: int | None, **more: Any,
    ) -> VillageFacts:  # fmt: skip
        shown = dict(cause)
        if "station" in shown:
            shown["station"] = self.station_names.get(shown["station"], shown["station"])
        if shown.get("kind") == "hand":
            shown["by"] = shown.get("name") or shown.get("by")
        return VillageFacts(
            office=self.office.name, village_id=village.id, village=village.name,
            warning=warning, at=self.office.local(now), alert_id=alert_id, cause=shown,
            site=village.sites(), groups="、".join(g.name for g in village.groups),
            households=village.households, residents=village.residents,
            drill=drill is not None, **more,
        )  # fmt: skip

    def _sound(
        self, session: Session, village: Village, event: EventRow, about: About, message: str,
        warning: str | None, now: datetime, drill: int | None, text: str = "",
    ) -> int:  # fmt: skip
        """Every loudspeaker of the village says `message`, in its broadcast lane."""
        sends = []
        for s in village.loudspeakers:
            group = village.group(s.group)
            facts = BroadcastFacts(
                village=village.name, group=group.name if group else "", warning=warning,
                site=village.site(s.group), text=text, drill=drill is not None,
            )  # fmt: skip
            subject, body = render_broadcast(message, village.language, facts)
            sends.append(BroadcastPage(s.key, s.channel, s.address, subject, body,
                                       village.language))  # fmt: skip
        return self.outbox.broadcast(session, event, sends, now, about, event.type)

    def _round(self, session: Session, village: Village, row: VillageWarningRow) -> Round:
        answered: dict[str, datetime] = {}
        for person, at in session.execute(
            select(AcknowledgementRow.person, AcknowledgementRow.at)
            .where(AcknowledgementRow.alert_id == row.alert_id)
            .order_by(AcknowledgementRow.at)
        ):
            answered.setdefault(person, at)
        return Round(village.people, answered, row.answer_by)

    def _name_pending(self, session: Session, row: VillageWarningRow, now: datetime) -> int:
        """The round's wait is over: name who has not answered to the leader on duty."""
        village = self.villages.get(row.village)
        if village is None:
            self._retire(row, now)
            return 0
        pending = self._round(session, village, row).overdue(now)
        row.answer_by = None
        if not pending:
            return 0
        roster = self.roster.current
        level = self.levels[row.level]
        about = About(row.alert_id, village.id, level)
        leaders = self._leaders(session, roster, now, about)
        event = record(
            session, now,
            VillageUnanswered(alert=row.alert_id, station=village.id, level=level,
                              village=village.id, warning=row.level, pending=pending,
                              told=[r.person.id for r in leaders], drill=row.drill_id),
        )  # fmt: skip
        lines = []
        for person in pending:
            who = roster.people.get(person)
            roles = "、".join(ROLE_ZH.get(r.role, r.role) for r in village.roles_of(person))
            phone = f" {mask_phone(who.phone)}" if who is not None and who.phone else ""
            lines.append(f"{who.name if who else person}（{roles}）{phone}")
        round_began = row.raised_at or row.issued_at
        waited = int((now - round_began).total_seconds() // 60)
        facts = self._facts(village, row.level, now, row.alert_id, row.cause, row.drill_id,
                            lines=lines, waited=waited)  # fmt: skip
        log.warning("village %s: no answer from %s; the leader on duty is told", village.id,
                    ", ".join(pending))  # fmt: skip
        return self.outbox.page(
            session, event, leaders, lambda lang: render_village("unanswered", lang, facts), now,
            About(None, village.id, level), VillageUnanswered.type,
        )  # fmt: skip

    def _remind(self, session: Session, row: VillageWarningRow, now: datetime) -> int:
        village = self.villages.get(row.village)
        if village is None:
            self._retire(row, now)
            return 0
        row.remind_at = warnings.next_reminder(row.remind_at, self.evacuation.remind_every, now)
        roster = self.roster.current
        level = self.levels[row.level]
        about = About(None, village.id, level)
        leaders = self._leaders(session, roster, now, about)
        since = self.office.local(row.issued_at)
        event = record(
            session, now,
            VillageReminded(alert=row.alert_id, station=village.id, level=level,
                            village=village.id, warning=row.level, since=since,
                            told=[r.person.id for r in leaders]),
        )  # fmt: skip
        households, people = _moved(session, row.id)
        facts = self._facts(village, row.level, now, row.alert_id, row.cause, None, since=since,
                            moved_households=households, moved_people=people)  # fmt: skip
        return self.outbox.page(
            session, event, leaders, lambda lang: render_village("reminder", lang, facts), now,
            about, VillageReminded.type,
        )  # fmt: skip

    def _leaders(
        self, session: Session, roster: Roster, now: datetime, about: About
    ) -> list[Recipient]:
        """The leader(s) on duty (a role with nobody on duty is recorded as such)."""
        step = EscalationStep(notify=[self.evacuation.leader])
        return self.outbox.on_duty(session, roster, [step], now, about)

    def _retire(self, row: VillageWarningRow, now: datetime) -> None:
        """A warning of a village no longer in the config: it can never be cleared by its desk."""
        log.warning("village %s is no longer configured: its warning #%d is closed", row.village,
                    row.id)  # fmt: skip
        row.state = "retired"
        row.cleared_at = now
        row.answer_by = row.remind_at = None

    def _written(self, pages: int) -> None:
        if pages:
            self.pages_written()


# -- reading the stored figures ----------------------------------------------------------------


class _Stored:
    """The accepted readings of the touched series from the earliest a trigger needs, once."""

    def __init__(
        self, session: Session, series: set[tuple[str, str]], first: datetime, villages: Villages
    ) -> None:
        longest: dict[tuple[str, str], Any] = {}
        for v in villages:
            for t in v.rain:
                key = (t.station, t.parameter)
                longest[key] = max(longest.get(key, t.windows[-1]), t.windows[-1])
        self.rows: dict[tuple[str, str], list[tuple[datetime, float, str]]] = {}
        for station, parameter in series:
            start = (
                first - longest[(station, parameter)] if (station, parameter) in longest else first
            )
            self.rows[(station, parameter)] = [
                (at, value, unit)
                for at, value, unit in session.execute(
                    select(ReadingRow.observed_at, ReadingRow.value, ReadingRow.unit)
                    .where(
                        ReadingRow.station == station, ReadingRow.parameter == parameter,
                        ReadingRow.quality.is_(None), ReadingRow.observed_at >= start,
                    )
                    .order_by(ReadingRow.observed_at)
                )
            ]  # fmt: skip


def _figures(
    triggers: Sequence[Trigger], stored: _Stored, times: Sequence[datetime]
) -> list[Figure]:
    """What each trigger's source says at each new reading's time, in time order."""
    wanted = set(times)
    timed: list[tuple[datetime, int, Figure]] = []
    for k, t in enumerate(triggers):
        rows = stored.rows.get((t.station, t.parameter), [])
        if isinstance(t, LevelTrigger):
            for at, value, unit in rows:
                if at in wanted:
                    try:
                        figure = warnings.level_figure(t, Reading(t.station, t.parameter, value,
                                                                  unit, at))  # fmt: skip
                    except ValueError as exc:
                        log.error("village trigger at %s: %s; not evaluated", t.station, exc)
                        break
                    timed.append((at, k, figure))
            continue
        try:
            amounts = [(at, convert(value, unit, t.unit)) for at, value, unit in rows]
        except ValueError as exc:
            log.error("village rain trigger at %s: %s; not evaluated", t.station, exc)
            continue
        for at, _value, _unit in rows:
            if at in wanted:
                timed.append((at, k, warnings.rain_figure(t, amounts, at)))
    return [f for _, _, f in sorted(timed, key=lambda x: (x[0], x[1]))]


def _moved(session: Session, warning_id: int) -> tuple[int, int]:
    """A warning's figures: each reporter's latest report, summed."""
    latest: dict[str, tuple[int, int]] = {}
    for by, households, people in session.execute(
        select(EvacuationReportRow.by, EvacuationReportRow.households, EvacuationReportRow.people)
        .where(EvacuationReportRow.warning_id == warning_id)
        .order_by(EvacuationReportRow.id)
    ):
        latest[by] = (households, people)
    return sum(h for h, _ in latest.values()), sum(p for _, p in latest.values())


def _answers(
    session: Session, roster: Roster, village: Village, alert_id: int | None
) -> list[Answer]:
    paged_at: dict[str, datetime] = {}
    answered: dict[str, tuple[datetime | None, str | None]] = {}
    if alert_id is not None:
        for person, at in session.execute(
            select(PageRow.person, PageRow.created_at)
            .where(PageRow.alert_id == alert_id, PageRow.role != LOUDSPEAKER)
            .order_by(PageRow.id)
        ):
            paged_at.setdefault(person, at)
        for person, at, via in session.execute(
            select(AcknowledgementRow.person, AcknowledgementRow.at, AcknowledgementRow.via)
            .where(AcknowledgementRow.alert_id == alert_id)
            .order_by(AcknowledgementRow.at)
        ):
            answered.setdefault(person, (at, via))
    out = []
    for person in village.people:
        who = roster.people.get(person)
        role = "、".join(r.role for r in village.roles_of(person))
        answer_at, answer_via = answered.get(person, (None, None))
        name = who.name if who else person
        out.append(Answer(person, name, role, paged_at.get(person), answer_at, answer_via))
    return out


def _sounding(
    session: Session, key: str, channel: str, address: str, group: str | None,
    row: VillageWarningRow | None,
) -> Sounding:  # fmt: skip
    """A loudspeaker's latest broadcast page (since the warning was issued, when there is one)."""
    query = select(PageRow).where(PageRow.person == key, PageRow.role == LOUDSPEAKER)
    if row is not None:
        query = query.where(PageRow.created_at >= row.issued_at)
    page = session.scalars(query.order_by(PageRow.id.desc()).limit(1)).one_or_none()
    if page is None:
        return Sounding(key, channel, address, group)
    said = session.scalar(
        select(DeliveryRow.detail).where(DeliveryRow.page_id == page.id)
        .order_by(DeliveryRow.id.desc()).limit(1)
    )  # fmt: skip
    return Sounding(key, channel, address, group, page.status, said, page.created_at)
