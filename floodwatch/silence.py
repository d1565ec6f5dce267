"""Silent stations, against the database: which stations have gone quiet (rules.silence decides)
and which data alerts a batch of new readings clears. Works in the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from floodwatch.alerts.changes import Change
from floodwatch.config import Station
from floodwatch.rules import silence
from floodwatch.store.models import AlertRow, ReadingRow


class SilenceWatch:
    def __init__(self, stations: Sequence[Station], rule: silence.SilenceRule) -> None:
        self.rule = rule
        self.cadence = {s.id: s.expect_every for s in stations if s.expect_every is not None}

    def gone_silent(self, session: Session, now: datetime) -> list[Change]:
        """A data alert to open for each watched station silent too long."""
        if not self.cadence:
            return []
        last_seen = dict(
            session.execute(
                select(ReadingRow.station, func.max(ReadingRow.observed_at))
                .where(ReadingRow.station.in_(list(self.cadence)))
                .group_by(ReadingRow.station)
            ).all()
        )
        already = set(
            session.scalars(
                select(AlertRow.station).where(
                    AlertRow.rule_type == silence.RULE_TYPE, AlertRow.state == "open"
                )
            )
        )
        return silence.gone_silent(self.rule, self.cadence, last_seen, already, now)

    def heard_from(self, session: Session, stations: set[str]) -> list[Change]:
        """New readings from these stations clear their data alerts (whatever the config says
        of the station now: a station removed from it still has its alert cleared)."""
        if not stations:
            return []
        rows = session.execute(
            select(AlertRow.station, AlertRow.level, AlertRow.policy).where(
                AlertRow.rule_type == silence.RULE_TYPE,
                AlertRow.state == "open",
                AlertRow.station.in_(stations),
            )
        ).all()
        return [silence.heard_from(station, level, policy) for station, level, policy in rows]
