"""Handovers and their reminders, told to the teams and written to the duty log.

Like escalation, handovers are computed for the interval since the last check (kept in the
database), so a restart or a clock jump announces each one exactly once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from floodwatch.duty.messages import DutyMessages, names, role_title
from floodwatch.events import Handover, HandoverReminder
from floodwatch.hooks import Hook
from floodwatch.notify.templates import DutyFacts
from floodwatch.records import handover as handover_record
from floodwatch.roster import handovers
from floodwatch.roster.holder import RosterHolder
from floodwatch.roster.model import Roster
from floodwatch.store import Database, state
from floodwatch.store.events import record
from floodwatch.store.models import AlertRow

CHECKED = "duty_checked_at"


def handover_note(session: Session, roster: Roster, at: datetime) -> str:
    """The note of the handover record written for the shift change at `at`, as the incoming
    team's page shows it; or that none was written."""
    row = handover_record.record_for(session, at)
    if row is None:
        return "交班留言：本次交接班未填写交接班记录 / no handover record was written"
    by = roster.person(row.by).name if row.by in roster.people else row.by
    return f"交班留言（{by}，交接班记录 #{row.id}）/ handover note: {row.note or '无 / none'}"


class HandoverAnnouncer:
    def __init__(
        self, db: Database, roster: RosterHolder, messages: DutyMessages,
        reminder: timedelta | None, pages_written: Hook,
    ) -> None:  # fmt: skip
        self.db = db
        self.roster = roster
        self.messages = messages
        self.reminder = reminder
        self.pages_written = pages_written

    def tick(self, now: datetime) -> int:
        """Announce the handovers and reminders due since the last tick; returns pages queued."""
        roster = self.roster.current
        pages = 0
        with self.db.transaction() as session:
            saved = state.get_in(session, CHECKED)
            if saved is None:  # the first tick: count from here, announce nothing from before
                state.put_in(session, CHECKED, {"at": now.isoformat()})
                return 0
            since = datetime.fromisoformat(saved["at"])
            if now <= since:
                return 0
            for h in handovers.handovers(roster, since, now):
                pages += self._handover(session, roster, h, now)
            if self.reminder:
                for h in handovers.reminders(roster, since, now, self.reminder):
                    pages += self._reminder(session, roster, h, now)
            state.put_in(session, CHECKED, {"at": now.isoformat()})
        if pages:
            self.pages_written()
        return pages

    def _handover(
        self, session: Session, roster: Roster, h: handovers.Handover, now: datetime
    ) -> int:
        office, tell = self.messages.office, self.messages.tell
        open_alerts = self._open_alerts(session)
        outgoing = {r: names(roster, p) for r, p in h.outgoing.items()}
        incoming = {r: names(roster, p) for r, p in h.incoming.items()}
        note = handover_note(session, roster, h.at)
        event = record(session, now, Handover(
            at_local=office.local(h.at),
            incoming={r: list(p) for r, p in h.incoming.items()},
            outgoing={r: list(p) for r, p in h.outgoing.items()},
        ))  # fmt: skip
        pages = 0
        duty = roster.on_duty(h.at)
        for role, people in h.incoming.items():
            facts = DutyFacts(
                office.name, office.local(h.at), role_title(roster, role),
                office.local(duty.assignments[role].end), outgoing.get(role, ""), open_alerts,
                [note],
            )  # fmt: skip
            pages += tell(session, event, roster, role, people, "handover_in", facts, now)
        for role, people in h.outgoing.items():
            released = tuple(p for p in people if p not in h.incoming.get(role, ()))
            facts = DutyFacts(office.name, office.local(h.at), role_title(roster, role),
                              names=incoming.get(role, ""))  # fmt: skip
            pages += tell(session, event, roster, role, released, "handover_out", facts, now)
        return pages

    def _reminder(
        self, session: Session, roster: Roster, h: handovers.Handover, now: datetime
    ) -> int:
        office = self.messages.office
        event = record(session, now, HandoverReminder(at_local=office.local(h.at)))
        pages = 0
        duty = roster.on_duty(h.at)
        for role, people in h.incoming.items():
            end = duty.assignments[role].end
            facts = DutyFacts(
                office.name, office.local(h.at), role_title(roster, role), office.local(end)
            )
            pages += self.messages.tell(
                session, event, roster, role, people, "handover_reminder", facts, now
            )
        return pages

    def _open_alerts(self, session: Session) -> list[str]:
        rows = session.scalars(
            select(AlertRow)
            .where(AlertRow.state == "open", AlertRow.rule_type != handover_record.RULE_TYPE)
            .order_by(AlertRow.id)
        )
        return [
            f"#{a.id} {self.messages.outbox.station_name(a.station)} {a.level} "
            f"({a.value:g} {a.unit})"
            for a in rows
        ]
