"""Feed health: when a feed becomes degraded or recovers, with the stations it serves (those it
named, else every station it has delivered readings for): an event and a duty-log entry on each
change, and the current state in `service_state` ("feed:NAME")."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import select

from floodwatch.events import FeedDegraded, FeedRecovered
from floodwatch.records import dutylog
from floodwatch.store import Database, state
from floodwatch.store.events import record
from floodwatch.store.models import ReadingRow

log = logging.getLogger(__name__)


class FeedHealth:
    def __init__(self, db: Database, feeds: Iterable[str]) -> None:
        self.db = db
        self.feeds = tuple(feeds)

    def update(
        self, feed: str, degraded: bool, stations: Sequence[str] | None, now: datetime
    ) -> None:
        """Record the feed's health after a poll; nothing is written unless it changed."""
        key = f"feed:{feed}"
        with self.db.transaction() as session:
            before = state.get_in(session, key)
            if bool(before and before["degraded"]) == degraded:
                return
            if not stations:
                stations = list(
                    session.scalars(
                        select(ReadingRow.station).where(ReadingRow.feed == feed).distinct()
                    )
                )
            names = sorted(stations)
            value = {"degraded": degraded, "stations": names, "since": now.isoformat()}
            state.put_in(session, key, value)
            event = (FeedDegraded if degraded else FeedRecovered)(feed=feed, stations=names)
            record(session, now, event)
            what = "degraded" if degraded else "recovered"
            text = f"feed {feed} {what}; stations: {', '.join(names) or '-'}"
            dutylog.write(session, now, event.type, text, {"feed": feed, "stations": names})
        (log.warning if degraded else log.info)("%s", text)

    def degraded_stations(self) -> dict[str, str]:
        """Station -> the degraded feed that serves it, for what duty officers are shown."""
        out: dict[str, str] = {}
        with self.db.sessions() as session:
            for name in self.feeds:
                value = state.get_in(session, f"feed:{name}")
                if value and value["degraded"]:
                    out.update({s: name for s in value["stations"]})
        return out
