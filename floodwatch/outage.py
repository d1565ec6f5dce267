"""While the database is away: one log line when it goes, one when it comes back; the officers
on duty told directly (outside the outbox, which is in the database) once the outage has lasted
`outage.tell_after`; and, once it is back, the outage recorded as an event and a duty-log entry.

Every job of the service reports its database errors here, so an outage is one story, not a
traceback per job per attempt.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from floodwatch.config import Outage
from floodwatch.events import DatabaseOutage
from floodwatch.notify.base import Message, Notifier
from floodwatch.notify.templates import DutyFacts, render_duty
from floodwatch.office import Office
from floodwatch.roster.holder import RosterHolder
from floodwatch.store import Database
from floodwatch.store.db import describe_database_error
from floodwatch.store.events import record

log = logging.getLogger(__name__)


@dataclass
class _Episode:
    since: datetime
    cause: str
    told: list[str] = field(default_factory=list)
    tried_to_tell: bool = False
    until: datetime | None = None


class OutageWatch:
    def __init__(
        self, db: Database, settings: Outage, roster: RosterHolder,
        notifiers: Mapping[str, Notifier], office: Office, installation: Callable[[], str],
    ) -> None:  # fmt: skip
        self.db = db
        self.settings = settings
        self.roster = roster
        self.notifiers = notifiers
        self.office = office
        self.installation = installation
        self._lock = threading.Lock()
        self._now: _Episode | None = None  # the outage going on
        self._unrecorded: list[_Episode] = []  # outages over, not yet written down

    @property
    def down(self) -> bool:
        return self._now is not None

    def failed(self, exc: Exception, now: datetime) -> None:
        """A job could not reach the database."""
        cause = describe_database_error(exc) if not isinstance(exc, str) else exc  # type: ignore[arg-type]
        with self._lock:
            if self._now is None:
                self._now = _Episode(now, cause)
                log.error(
                    "%s; readings are kept and retried, alerts and pages wait (since %s)",
                    cause, self.office.local(now),
                )  # fmt: skip
            episode = self._now
            due = not episode.tried_to_tell and now - episode.since >= self.settings.tell_after
            if due:
                episode.tried_to_tell = True
        if due:
            self._tell(episode, now)

    def ok(self, now: datetime) -> None:
        """A job reached the database: an outage is over; write down the ones not yet."""
        with self._lock:
            if self._now is not None:
                episode, self._now = self._now, None
                episode.until = now
                self._unrecorded.append(episode)
                seconds = int((now - episode.since).total_seconds())
                log.warning("the database is back after %d s (down since %s)", seconds,
                            self.office.local(episode.since))  # fmt: skip
            pending, self._unrecorded = self._unrecorded, []
        for i, episode in enumerate(pending):
            try:
                self._record(episode)
            except Exception:  # gone again: keep it for the next time it is back
                with self._lock:
                    self._unrecorded[:0] = pending[i:]
                return

    def _tell(self, episode: _Episode, now: datetime) -> None:
        roster = self.roster.current
        duty = roster.on_duty(now)
        roles = ("officer",) if "officer" in roster.roles else tuple(sorted(roster.roles))
        facts = DutyFacts(self.office.name, self.office.local(episode.since))
        key = f"{self.installation()}:outage:{episode.since.isoformat()}"
        for role in roles:
            for person_id in duty.people(role):
                person = roster.person(person_id)
                subject, body = render_duty("database_outage", person.language, facts)
                for channel, notifier in self.notifiers.items():
                    address = notifier.address_for(person)
                    if address is None:
                        continue
                    message = Message(0, f"{key}:{person.id}:{channel}", person.id, address,
                                      person.language, subject, body)  # fmt: skip
                    try:
                        result = notifier.send(message)
                    except Exception as exc:  # a channel's bug must not stop the others
                        log.error("telling %s of the outage via %s failed: %r", person.id,
                                  channel, exc)  # fmt: skip
                        continue
                    if result.outcome.succeeded:
                        episode.told.append(f"{person.id}:{channel}")
                    else:
                        log.error("telling %s of the outage via %s: %s (%s)", person.id,
                                  channel, result.outcome.value, result.detail)  # fmt: skip
        log.error("database unreachable for %s: told %s directly", self.settings.tell_after,
                  ", ".join(episode.told) or "nobody (no channel succeeded)")  # fmt: skip

    def _record(self, episode: _Episode) -> None:
        until = episode.until or episode.since
        seconds = int((until - episode.since).total_seconds())
        with self.db.transaction() as session:
            record(
                session, until,
                DatabaseOutage(since=episode.since.isoformat(), until=until.isoformat(),
                               seconds=seconds, cause=episode.cause, told=episode.told),
            )  # fmt: skip
