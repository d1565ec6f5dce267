"""Feed health: when a feed becomes degraded or recovers, with the stations it serves (those it
named, else every station it has delivered readings for): an event and a duty-log entry on each
change, and the current state in `service_state` ("feed:NAME"). A feed degraded for longer than
its stations report (their longest `expect_every`; three polls when none is set) pages the
officers on duty once, with which feed and why."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from floodwatch.duty.messages import DutyMessages
from floodwatch.events import FeedDegraded, FeedDown, FeedRecovered
from floodwatch.hooks import Hook
from floodwatch.notify.templates import DutyFacts
from floodwatch.roster.holder import RosterHolder
from floodwatch.store import Database, state
from floodwatch.store.events import record
from floodwatch.store.models import ReadingRow

log = logging.getLogger(__name__)


def feed_key(feed: str) -> str:
    return f"feed:{feed}"


class FeedHealth:
    def __init__(
        self, db: Database, intervals: Mapping[str, timedelta],
        expect_every: Mapping[str, timedelta], roster: RosterHolder, messages: DutyMessages,
        pages_written: Hook,
    ) -> None:  # fmt: skip
        self.db = db
        self.intervals = intervals  # feed -> its poll interval
        self.expect_every = expect_every  # station -> its cadence, where configured
        self.roster = roster
        self.messages = messages
        self.pages_written = pages_written

    @property
    def feeds(self) -> tuple[str, ...]:
        return tuple(self.intervals)

    def patience(self, feed: str, stations: Sequence[str]) -> timedelta:
        """How long a feed may be degraded before people are paged: its stations' longest
        cadence, or three polls when none is configured."""
        cadences = [self.expect_every[s] for s in stations if s in self.expect_every]
        return max(cadences) if cadences else 3 * self.intervals.get(feed, timedelta(minutes=5))

    def update(
        self, feed: str, degraded: bool, stations: Sequence[str] | None, now: datetime,
        why: str | None = None,
    ) -> None:  # fmt: skip
        """Record the feed's health after a poll; nothing is written unless it changed (or it
        has now been degraded too long)."""
        key = feed_key(feed)
        pages, text = 0, ""
        with self.db.transaction() as session:
            before = state.get_in(session, key, for_update=True)
            if bool(before and before["degraded"]) == degraded:
                if before and degraded and not before.get("paged"):
                    pages = self._too_long(session, feed, before, now)
            else:
                text = self._changed(session, feed, degraded, stations, now, why)
        if pages:
            self.pages_written()
        if text:
            (log.warning if degraded else log.info)("%s", text)

    def _changed(
        self, session: Session, feed: str, degraded: bool, stations: Sequence[str] | None,
        now: datetime, why: str | None,
    ) -> str:  # fmt: skip
        if not stations:
            stations = list(
                session.scalars(
                    select(ReadingRow.station).where(ReadingRow.feed == feed).distinct()
                )
            )
        names = sorted(stations)
        value = {"degraded": degraded, "stations": names, "since": now.isoformat(), "why": why,
                 "paged": False}  # fmt: skip
        state.put_in(session, feed_key(feed), value)
        event = (
            FeedDegraded(feed=feed, stations=names, why=why)
            if degraded
            else FeedRecovered(feed=feed, stations=names)
        )
        record(session, now, event)  # and its duty-log entry
        what = "degraded" if degraded else "recovered"
        text = f"feed {feed} {what}; stations: {', '.join(names) or '-'}"
        if why:
            text += f"; {why}"
        return text

    def _too_long(self, session: Session, feed: str, value: dict[str, Any], now: datetime) -> int:
        since = datetime.fromisoformat(str(value["since"]))
        stations = [str(s) for s in value["stations"]]
        if now - since < self.patience(feed, stations):
            return 0
        state.put_in(session, feed_key(feed), {**value, "paged": True})
        why = str(value.get("why") or "the source answered only in part")
        office, roster = self.messages.office, self.roster.current
        event = record(session, now, FeedDown(feed=feed, stations=stations, since=since.isoformat(),
                                              why=why))  # fmt: skip
        lines = [why, ("测站 / stations: " + ", ".join(stations)) if stations else ""]
        facts = DutyFacts(
            office.name, office.local(since), names=feed, lines=[x for x in lines if x]
        )
        duty = roster.on_duty(now)
        roles = ("officer",) if "officer" in roster.roles else tuple(sorted(roster.roles))
        log.error("feed %s degraded since %s: officers paged (%s)", feed, office.local(since), why)
        return sum(
            self.messages.tell(session, event, roster, role, duty.people(role), "feed_down",
                               facts, now)
            for role in roles
        )  # fmt: skip

    def degraded_stations(self) -> dict[str, str]:
        """Station -> the degraded feed that serves it, for what duty officers are shown."""
        out: dict[str, str] = {}
        with self.db.sessions() as session:
            for name in self.feeds:
                value = state.get_in(session, feed_key(name))
                if value and value["degraded"]:
                    out.update({s: name for s in value["stations"]})
        return out
