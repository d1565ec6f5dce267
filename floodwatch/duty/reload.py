"""Roster edits taken into force while the service runs.

Every `duty.reload_every` the roster files are looked at. A changed roster that passes every
check start-up makes (the roster loader's and `validation.roster_problems`) takes effect at once
with a duty-log summary of what changed; a changed roster with any error is rejected whole: the
roster in force stays and the officers on duty are paged with the errors, once per bad edit.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from floodwatch.config import Config
from floodwatch.duty.messages import DutyMessages
from floodwatch.errors import ConfigError, Problem
from floodwatch.events import RosterRejected, RosterReloaded
from floodwatch.hooks import Hook
from floodwatch.notify.templates import DutyFacts
from floodwatch.roster import load_rosters
from floodwatch.roster.changes import diff
from floodwatch.roster.holder import RosterHolder, Signature, file_signature
from floodwatch.store import Database
from floodwatch.store.events import record
from floodwatch.validation import roster_problems

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reload:
    """What a roster check found: nothing new, a roster taken into force, or one rejected."""

    outcome: str  # unchanged | reloaded | rejected
    lines: tuple[str, ...] = ()


class RosterReloader:
    def __init__(
        self, db: Database, config: Config, roster: RosterHolder, messages: DutyMessages,
        pages_written: Hook,
    ) -> None:  # fmt: skip
        self.db = db
        self.config = config
        self.roster = roster
        self.messages = messages
        self.pages_written = pages_written
        self._rejected: Signature | None = None

    def reload(self, now: datetime, announce: bool = True) -> Reload:
        """Take edited roster files into force if they are valid (see the module's doc). With
        several nodes each keeps its roster current and only the leader `announce`s: the duty
        log, the event, the pages about a rejected edit."""
        signature = file_signature(self.config.roster_paths)
        if signature in (self.roster.files, self._rejected):
            return Reload("unchanged")
        settings = self.config.settings
        try:
            new = load_rosters(self.config.roster_paths, settings.timezone)
            problems = roster_problems(self.config, new)
        except ConfigError as exc:
            problems = exc.problems
        if problems:
            self._rejected = signature
            lines = tuple(str(p) for p in problems)
            log.error("roster edit rejected; the roster in force stays:\n%s", "\n".join(lines))
            if announce:
                self._announce_rejection(problems, now)
            return Reload("rejected", lines)
        old = self.roster.current
        summary = diff(old, new, now, settings.duty.coverage_days).summary(settings.timezone)
        version = self.roster.swap(new, signature)
        self._rejected = None
        log.info("roster reloaded (version %d): %s", version, "; ".join(summary))
        if not announce:
            return Reload("reloaded", tuple(summary))
        with self.db.transaction() as session:  # the duty-log entry comes with the event
            record(session, now, RosterReloaded(version=version, changes=summary))
        return Reload("reloaded", tuple(summary))

    def _announce_rejection(self, problems: Sequence[Problem], now: datetime) -> None:
        """The event (in English, as every event) and a page to the officers on duty with each
        problem in the officer's language."""
        roster = self.roster.current
        office = self.messages.office
        with self.db.transaction() as session:
            event = record(session, now, RosterRejected(errors=[str(p) for p in problems]))
            facts = DutyFacts(office.name, office.local(now), lines=tuple(problems))
            duty = roster.on_duty(now)
            roles = ("officer",) if "officer" in roster.roles else tuple(sorted(roster.roles))
            pages = sum(
                self.messages.tell(
                    session, event, roster, role, duty.people(role), "roster_rejected", facts, now
                )
                for role in roles
            )
        if pages:
            self.pages_written()
