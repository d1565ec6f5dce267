"""The duty desk: handovers, reminders, the coverage monitor and roster reloads.

Each is told to the people concerned through the outbox and written to the duty log in the same
transaction. Like escalation, handovers are computed for the interval since the last check (kept
in the database), so a restart or a clock jump announces each one exactly once.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from floodwatch.app import App
from floodwatch.errors import ConfigError
from floodwatch.notify.outbox import Outbox
from floodwatch.notify.templates import DutyFacts, render_duty
from floodwatch.roster import Roster, load_rosters
from floodwatch.roster.changes import diff
from floodwatch.roster.coverage import gaps
from floodwatch.roster.handovers import Handover, handovers, reminders
from floodwatch.roster.model import Person
from floodwatch.store import state
from floodwatch.store.events import record
from floodwatch.store.models import AlertRow, LogEntryRow

log = logging.getLogger(__name__)

CHECKED = "duty_checked_at"
COVERAGE = "coverage_checked_on"


@dataclass(frozen=True)
class Reload:
    """What a roster check found: nothing new, a roster taken into force, or one rejected."""

    outcome: str  # unchanged | reloaded | rejected
    lines: tuple[str, ...] = ()


class DutyDesk:
    def __init__(self, app: App, outbox: Outbox) -> None:
        self.app = app
        self.outbox = outbox
        self._files = self._signature()
        self._rejected: tuple[tuple[str, float, int], ...] | None = None

    # -- handovers -----------------------------------------------------------------------------

    def tick(self, now: datetime) -> int:
        """Announce the handovers and reminders due since the last tick; returns pages queued."""
        settings = self.app.config.settings
        pages = 0
        with self.app.db.transaction() as session:
            saved = state.get_in(session, CHECKED)
            if saved is None:  # the first tick: count from here, announce nothing from before
                state.put_in(session, CHECKED, {"at": now.isoformat()})
                return 0
            since = datetime.fromisoformat(saved["at"])
            if now <= since:
                return 0
            for h in handovers(self.app.roster, since, now):
                pages += self._handover(session, h, now)
            ahead = settings.duty.handover_reminder
            if ahead:
                for h in reminders(self.app.roster, since, now, ahead):
                    pages += self._reminder(session, h, now)
            state.put_in(session, CHECKED, {"at": now.isoformat()})
        if pages:
            self.app.pages_written()
        return pages

    def _handover(self, session: Session, h: Handover, now: datetime) -> int:
        open_alerts = self._open_alerts(session)
        names = {r: self._names(p) for r, p in {**h.outgoing}.items()}
        incoming_names = {r: self._names(p) for r, p in h.incoming.items()}
        event = record(
            session, now, "handover", at_local=self.outbox.local(h.at),
            incoming={r: list(p) for r, p in h.incoming.items()},
            outgoing={r: list(p) for r, p in h.outgoing.items()},
        )  # fmt: skip
        pages = 0
        for role, people in h.incoming.items():
            assignment = self.app.roster.on_duty(h.at).assignments[role]
            facts = DutyFacts(
                self._office, self.outbox.local(h.at), self._role(role),
                self.outbox.local(assignment.end), names.get(role, ""), open_alerts,
            )  # fmt: skip
            pages += self._tell(session, event, role, people, "handover_in", facts, now)
        for role, people in h.outgoing.items():
            released = tuple(p for p in people if p not in h.incoming.get(role, ()))
            facts = DutyFacts(self._office, self.outbox.local(h.at), self._role(role),
                              names=incoming_names.get(role, ""))  # fmt: skip
            pages += self._tell(session, event, role, released, "handover_out", facts, now)
        lines = [f"{self._role(r)}: {names.get(r, '-')} -> {incoming_names[r]}" for r in h.incoming]
        self._log(
            session,
            now,
            "handover",
            "; ".join(lines),
            {"at": h.at.isoformat(), "open_alerts": len(open_alerts)},
        )
        return pages

    def _reminder(self, session: Session, h: Handover, now: datetime) -> int:
        event = record(session, now, "handover_reminder", at_local=self.outbox.local(h.at))
        pages = 0
        for role, people in h.incoming.items():
            end = self.app.roster.on_duty(h.at).assignments[role].end
            facts = DutyFacts(
                self._office, self.outbox.local(h.at), self._role(role), self.outbox.local(end)
            )
            pages += self._tell(session, event, role, people, "handover_reminder", facts, now)
        told = "; ".join(f"{self._role(r)}: {self._names(p)}" for r, p in h.incoming.items())
        text = f"reminded for {self.outbox.local(h.at)}: {told}"
        self._log(session, now, "handover_reminder", text, {"at": h.at.isoformat()})
        return pages

    # -- coverage ------------------------------------------------------------------------------

    def check_coverage(self, now: datetime, force: bool = False) -> int:
        """Once a day (at `duty.coverage_at`, local): page the roster administrators about every
        gap in the next `duty.coverage_days` days. Returns pages queued."""
        duty = self.app.config.settings.duty
        local = now.astimezone(self.app.config.settings.timezone)
        hour, minute = map(int, duty.coverage_at.split(":"))
        with self.app.db.transaction() as session:
            done = state.get_in(session, COVERAGE)
            today = local.date().isoformat()
            if not force and ((done and done["day"] == today) or local.time() < time(hour, minute)):
                return 0
            state.put_in(session, COVERAGE, {"day": today})
            found = gaps(self.app.roster, now, now + timedelta(days=duty.coverage_days))
            if not found:
                self._log(
                    session, now, "coverage", f"no gaps in the next {duty.coverage_days} days", {}
                )
                return 0
            zone = self.app.config.settings.timezone
            lines = [
                f"{self._role(g.role)} {g.start.astimezone(zone):%m-%d %H:%M}–"
                f"{g.end.astimezone(zone):%m-%d %H:%M}: {len(g.present)}/{g.required}"
                for g in found
            ]
            event = record(session, now, "coverage_gaps", gaps=lines)
            self._log(session, now, "coverage", "\n".join(lines), {"gaps": len(found)})
            facts = DutyFacts(self._office, self.outbox.local(now), lines=lines)
            pages = self._tell(session, event, "roster_admin", tuple(duty.roster_admins),
                               "coverage_gaps", facts, now)  # fmt: skip
        if pages:
            self.app.pages_written()
        return pages

    # -- roster reload -------------------------------------------------------------------------

    def reload_roster(self, now: datetime) -> Reload:
        """Take edited roster files into force if they are valid; if not, keep the roster in
        force and page the officers on duty with the errors (once per bad edit)."""
        signature = self._signature()
        if signature == self._files or signature == self._rejected:
            return Reload("unchanged")
        settings = self.app.config.settings
        try:
            new = load_rosters(self.app.config.roster_paths, settings.timezone)
        except ConfigError as exc:
            self._rejected = signature
            lines = tuple(str(p) for p in exc.problems)
            log.error("roster edit rejected; the roster in force stays:\n%s", "\n".join(lines))
            self._announce_rejection(lines, now)
            return Reload("rejected", lines)
        missing = self._roles_needed() - new.roles
        if missing:
            self._rejected = signature
            lines = tuple(
                f"role {r!r} is needed by the escalation policies but has no rotation"
                for r in sorted(missing)
            )
            self._announce_rejection(lines, now)
            return Reload("rejected", lines)
        old = self.app.roster
        summary = diff(old, new, now, settings.duty.coverage_days).summary(settings.timezone)
        self.app.roster = new
        self._files, self._rejected = signature, None
        with self.app.db.transaction() as session:
            record(session, now, "roster_reloaded", changes=summary)
            self._log(
                session,
                now,
                "roster",
                "\n".join(summary),
                {"files": [str(p) for p in self.app.config.roster_paths]},
            )
        log.info("roster reloaded: %s", "; ".join(summary))
        return Reload("reloaded", tuple(summary))

    def _announce_rejection(self, lines: tuple[str, ...], now: datetime) -> None:
        with self.app.db.transaction() as session:
            event = record(session, now, "roster_rejected", errors=list(lines))
            self._log(session, now, "roster_rejected", "\n".join(lines), {})
            facts = DutyFacts(self._office, self.outbox.local(now), lines=lines)
            officers = self.app.roster.on_duty(now)
            pages = 0
            for role in (
                ("officer",)
                if "officer" in self.app.roster.roles
                else sorted(self.app.roster.roles)
            ):
                pages += self._tell(
                    session, event, role, officers.people(role), "roster_rejected", facts, now
                )
        if pages:
            self.app.pages_written()

    def _roles_needed(self) -> set[str]:
        return {
            r
            for p in self.app.config.settings.escalation.values()
            for s in p.steps
            for r in s.notify
        }

    def _signature(self) -> tuple[tuple[str, float, int], ...]:
        out = []
        for path in self.app.config.roster_paths:
            try:
                st = os.stat(path)
                out.append((str(path), st.st_mtime, st.st_size))
            except OSError:
                out.append((str(path), -1.0, -1))
        return tuple(out)

    # -- helpers -------------------------------------------------------------------------------

    def _tell(
        self, session: Session, event: Any, role: str, people: tuple[str, ...], kind: str,
        facts: DutyFacts, now: datetime,
    ) -> int:  # fmt: skip
        roster: Roster = self.app.roster
        recipients: list[tuple[str, Person, None]] = [
            (role, roster.person(p), None) for p in people
        ]
        return self.outbox.page(
            session, event, recipients, lambda lang: render_duty(kind, lang, facts), now, {}, kind
        )

    def _log(
        self, session: Session, now: datetime, kind: str, text: str, data: dict[str, Any]
    ) -> None:
        session.add(LogEntryRow(at=now, kind=kind, author="floodwatch", text=text, data=data))

    def _open_alerts(self, session: Session) -> list[str]:
        rows = session.scalars(
            select(AlertRow).where(AlertRow.state == "open").order_by(AlertRow.id)
        )
        out = []
        for a in rows:
            station = self.outbox.station(a.station)
            out.append(
                f"#{a.id} {station.name if station else a.station} {a.level} ({a.value:g} {a.unit})"
            )
        return out

    def _names(self, people: tuple[str, ...]) -> str:
        return "、".join(self.app.roster.person(p).name for p in people) or "-"

    def _role(self, role: str) -> str:
        try:
            return self.app.roster.role(role).title
        except KeyError:
            return role

    @property
    def _office(self) -> str:
        return self.app.config.settings.office
