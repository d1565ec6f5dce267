"""The coverage monitor: once a day, the roster administrators are paged about every gap (a role
with fewer people than its shift needs) in the coming days."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from floodwatch.config import DutySettings
from floodwatch.duty.messages import DutyMessages, role_title
from floodwatch.events import CoverageGaps
from floodwatch.hooks import Hook
from floodwatch.notify.templates import DutyFacts
from floodwatch.records import dutylog
from floodwatch.roster.coverage import gaps
from floodwatch.roster.holder import RosterHolder
from floodwatch.store import Database, state
from floodwatch.store.events import record

CHECKED = "coverage_checked_on"
ADMIN_ROLE = "roster_admin"  # the role pages to roster administrators are sent in


class CoverageMonitor:
    def __init__(
        self, db: Database, roster: RosterHolder, messages: DutyMessages, duty: DutySettings,
        pages_written: Hook,
    ) -> None:  # fmt: skip
        self.db = db
        self.roster = roster
        self.messages = messages
        self.duty = duty
        self.pages_written = pages_written

    def check(self, now: datetime, force: bool = False) -> int:
        """At `duty.coverage_at` (local), once a day: page the roster administrators about every
        gap in the next `duty.coverage_days` days. Returns pages queued."""
        office, duty = self.messages.office, self.duty
        roster = self.roster.current
        local = now.astimezone(office.zone)
        hour, minute = map(int, duty.coverage_at.split(":"))
        with self.db.transaction() as session:
            done = state.get_in(session, CHECKED)
            today = local.date().isoformat()
            if not force and ((done and done["day"] == today) or local.time() < time(hour, minute)):
                return 0
            state.put_in(session, CHECKED, {"day": today})
            found = gaps(roster, now, now + timedelta(days=duty.coverage_days))
            if not found:
                text = f"未来 {duty.coverage_days} 天排班无缺口"
                dutylog.write(session, now, "coverage", text, {"gaps": []})
                return 0
            lines = [
                f"{role_title(roster, g.role)} {g.start.astimezone(office.zone):%m-%d %H:%M}–"
                f"{g.end.astimezone(office.zone):%m-%d %H:%M}: {len(g.present)}/{g.required}"
                for g in found
            ]
            # the duty-log entry is written with the event (records.dutylog)
            event = record(session, now, CoverageGaps(gaps=lines))
            facts = DutyFacts(office.name, office.local(now), lines=lines)
            admins = tuple(duty.roster_admins)
            pages = self.messages.tell(
                session, event, roster, ADMIN_ROLE, admins, "coverage_gaps", facts, now
            )
        if pages:
            self.pages_written()
        return pages
