"""Hazards to rectify (隐患整改): found on patrol, given an owner and a due day, done.

Each hazard keeps its whole history in `hazard_events` (added, reminded, overdue, done). Its
deadline is the end of its due day, local. `HazardBook.tick` pages the owner once when the
deadline is `records.hazard_reminder` away, and the leader on duty once when it has passed
(`nudge` decides which, purely).
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from floodwatch.duty.messages import DutyMessages, names
from floodwatch.events import HazardAdded, HazardDone, HazardOverdue, HazardReminded
from floodwatch.hooks import Hook
from floodwatch.i18n import Refused, Unknown, _
from floodwatch.notify.templates import DutyFacts
from floodwatch.office import Office
from floodwatch.records.dutylog import SYSTEM
from floodwatch.roster.holder import RosterHolder
from floodwatch.roster.model import Roster
from floodwatch.store import Database
from floodwatch.store.events import record
from floodwatch.store.models import HazardEventRow, HazardRow

log = logging.getLogger(__name__)

OWNER_ROLE = "hazard_owner"  # the role a reminder to a hazard's owner is sent in
MAX_TEXT = 500  # where and what: a line on the duty table, not an essay


class Nudge(StrEnum):
    """What a hazard needs from the duty desk now."""

    REMIND = "remind"  # page the owner: the deadline is near
    OVERDUE = "overdue"  # page the leader on duty: the deadline has passed


def nudge(
    due: datetime, reminded: bool, overdue_told: bool, done: bool, now: datetime, lead: timedelta
) -> Nudge | None:
    """Pure: a hazard due at `due` (its deadline), at `now`. Each nudge happens once; a hazard
    found already overdue is not reminded, only reported."""
    if done:
        return None
    if now >= due:
        return None if overdue_told else Nudge.OVERDUE
    if now >= due - lead and not reminded:
        return Nudge.REMIND
    return None


def deadline(day: date, zone: ZoneInfo) -> datetime:
    """The instant a hazard due on `day` becomes overdue: the end of that day, local."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)


def due_day(due: datetime, zone: ZoneInfo) -> date:
    """The due day of a deadline (the inverse of `deadline`)."""
    return (due.astimezone(zone) - timedelta(microseconds=1)).date()


def is_overdue(h: HazardRow, now: datetime) -> bool:
    return h.state == "open" and now >= h.due


class HazardBook:
    def __init__(
        self, db: Database, roster: RosterHolder, office: Office, messages: DutyMessages,
        reminder: timedelta, pages_written: Hook,
    ) -> None:  # fmt: skip
        self.db = db
        self.roster = roster
        self.office = office
        self.messages = messages
        self.reminder = reminder
        self.pages_written = pages_written

    # -- people's work -------------------------------------------------------------------------

    def add(
        self, where: str, what: str, owner: str, due: date, by: str, now: datetime,
        village: str | None = None,
    ) -> HazardRow:  # fmt: skip
        """Record a hazard found on patrol; its owner must rectify it by the end of `due`."""
        roster = self.roster.current
        for who, option in ((by, "--by"), (owner, "--owner")):
            if who not in roster.people:
                raise Unknown(
                    _("{option}: unknown person {person}: not in the rosters", option=option,
                      person=repr(who))
                )  # fmt: skip
        where, what = _text(where, "--where"), _text(what, "--what")
        today = now.astimezone(self.office.zone).date()
        if due < today:
            raise Refused(
                _("--due: {due} has passed (today is {today})", due=due.isoformat(),
                  today=today.isoformat())
            )  # fmt: skip
        with self.db.transaction() as session:
            row = HazardRow(
                found_at=now, found_by=by, where=where, what=what, owner=owner,
                due=deadline(due, self.office.zone), village=(village or "").strip() or None,
                state="open",
            )  # fmt: skip
            session.add(row)
            session.flush()
            session.add(HazardEventRow(hazard_id=row.id, at=now, by=by, kind="added",
                                       note=f"{where}：{what}"))  # fmt: skip
            record(
                session, now,
                HazardAdded(hazard=row.id, where=where, what=what, owner=owner,
                            due=due.isoformat(), village=row.village, by=by),
            )  # fmt: skip
        return row

    def done(self, hazard_id: int, by: str, note: str, now: datetime) -> HazardRow:
        """The hazard is rectified: `note` says how."""
        if by not in self.roster.current.people:
            raise Unknown(
                _("{option}: unknown person {person}: not in the rosters", option="--by",
                  person=repr(by))
            )  # fmt: skip
        note = _text(note, "--note")
        with self.db.transaction() as session:
            row = session.get(HazardRow, hazard_id, with_for_update=True)
            if row is None:
                raise Unknown(_("no hazard #{id}", id=hazard_id))
            if row.state == "done":
                raise Refused(
                    _("hazard #{id} was already done by {person} at {at}", id=hazard_id,
                      person=row.done_by, at=self.office.local(row.done_at or now))
                )  # fmt: skip
            row.state, row.done_at, row.done_by = "done", now, by
            session.add(HazardEventRow(hazard_id=row.id, at=now, by=by, kind="done", note=note))
            record(session, now, HazardDone(hazard=row.id, by=by, note=note))
        return row

    def listing(
        self, now: datetime, overdue_only: bool = False, include_done: bool = False
    ) -> list[HazardRow]:
        """Open hazards (with `include_done`, every one), by deadline; or only overdue ones."""
        query = select(HazardRow).order_by(HazardRow.due, HazardRow.id)
        if overdue_only:
            query = query.where(HazardRow.state == "open", HazardRow.due <= now)
        elif not include_done:
            query = query.where(HazardRow.state == "open")
        with self.db.sessions() as session:
            return list(session.scalars(query))

    def history(self, hazard_id: int) -> tuple[HazardRow, list[HazardEventRow]]:
        with self.db.sessions() as session:
            row = session.get(HazardRow, hazard_id)
            if row is None:
                raise Unknown(_("no hazard #{id}", id=hazard_id))
            events = session.scalars(
                select(HazardEventRow)
                .where(HazardEventRow.hazard_id == hazard_id)
                .order_by(HazardEventRow.at, HazardEventRow.id)
            ).all()
            return row, list(events)

    # -- time ----------------------------------------------------------------------------------

    def tick(self, now: datetime) -> int:
        """Remind owners of deadlines near, page the leader on duty about hazards overdue; each
        once (rows claimed FOR UPDATE SKIP LOCKED, so two nodes never page twice). Returns
        pages queued."""
        pages = 0
        roster = self.roster.current
        with self.db.transaction() as session:
            rows = session.scalars(
                select(HazardRow)
                .where(HazardRow.state == "open", HazardRow.due <= now + self.reminder)
                .where(HazardRow.overdue_at.is_(None))
                .order_by(HazardRow.due, HazardRow.id)
                .with_for_update(skip_locked=True)
            ).all()
            for h in rows:
                what = nudge(h.due, h.reminded_at is not None, h.overdue_at is not None,
                             h.state == "done", now, self.reminder)  # fmt: skip
                if what is Nudge.REMIND:
                    pages += self._remind(session, roster, h, now)
                elif what is Nudge.OVERDUE:
                    pages += self._overdue(session, roster, h, now)
        if pages:
            self.pages_written()
        return pages

    def _remind(self, session: Session, roster: Roster, h: HazardRow, now: datetime) -> int:
        h.reminded_at = now
        day = due_day(h.due, self.office.zone).isoformat()
        session.add(HazardEventRow(hazard_id=h.id, at=now, by=SYSTEM, kind="reminded",
                                   note=f"{h.owner}"))  # fmt: skip
        event = record(session, now, HazardReminded(hazard=h.id, owner=h.owner, due=day))
        facts = DutyFacts(self.office.name, self.office.local(now), until=day,
                          names=names(roster, (h.owner,)), lines=[self._line(h)])  # fmt: skip
        log.info("hazard #%d: %s reminded (due %s)", h.id, h.owner, day)
        return self.messages.tell(
            session, event, roster, OWNER_ROLE, (h.owner,), "hazard_due", facts, now
        )

    def _overdue(self, session: Session, roster: Roster, h: HazardRow, now: datetime) -> int:
        h.overdue_at = now
        day = due_day(h.due, self.office.zone).isoformat()
        role = "leader" if "leader" in roster.roles else None
        duty = roster.on_duty(now)
        roles = (role,) if role else tuple(sorted(roster.roles))
        told = [p for r in roles for p in duty.people(r)]
        session.add(HazardEventRow(hazard_id=h.id, at=now, by=SYSTEM, kind="overdue",
                                   note="、".join(told)))  # fmt: skip
        event = record(session, now, HazardOverdue(hazard=h.id, owner=h.owner, due=day))
        facts = DutyFacts(self.office.name, self.office.local(now), until=day,
                          names=names(roster, (h.owner,)), lines=[self._line(h)])  # fmt: skip
        log.warning("hazard #%d overdue (due %s): %s paged", h.id, day, ", ".join(told))
        return sum(
            self.messages.tell(session, event, roster, r, duty.people(r), "hazard_overdue",
                               facts, now)
            for r in roles
        )  # fmt: skip

    def _line(self, h: HazardRow) -> str:
        village = f"（{h.village}）" if h.village else ""
        return f"隐患 #{h.id}：{h.where}{village}，{h.what}"


def _text(value: str, option: str) -> str:
    value = " ".join(value.split())
    if not value:
        raise Refused(_("{option}: empty", option=option))
    if len(value) > MAX_TEXT:
        raise Refused(
            _("{option}: {n} characters, at most {max}", option=option, n=len(value),
              max=MAX_TEXT)
        )  # fmt: skip
    return value
