"""One step of the system, given `now`: the conductor.

Readings are stored, screened and evaluated (`ingest`), silent stations watched (`silence`),
official warnings decided (`alerts.official`); every resulting change goes to the alert
lifecycle, and the readings evaluated go on to the villages that watch them (`villages.desk`:
their warnings to prepare and to move). Each step is one transaction: the alert change, its
events and its pages are committed together before any notifier is called (the outbox), then
`pages_written` is called.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from floodwatch.alerts import official
from floodwatch.alerts.lifecycle import AlertLifecycle
from floodwatch.alerts.orphans import Configured, orphaned
from floodwatch.config import Level
from floodwatch.events import WarningNotActual, WarningUpdated
from floodwatch.feeds.official import OfficialWarning
from floodwatch.hooks import Hook
from floodwatch.ingest import Ingest
from floodwatch.readings import Reading
from floodwatch.silence import SilenceWatch
from floodwatch.store import Database
from floodwatch.store.events import record
from floodwatch.store.models import AlertRow
from floodwatch.villages.desk import VillageDesk


@dataclass(frozen=True)
class StepResult:
    stored: int = 0
    duplicates: int = 0
    changes: int = 0
    pages: int = 0
    rejected: int = 0


class Pipeline:
    def __init__(
        self, db: Database, ingest: Ingest, silence: SilenceWatch, lifecycle: AlertLifecycle,
        levels: Sequence[Level], configured: Configured, pages_written: Hook,
        villages: VillageDesk | None = None,
    ) -> None:  # fmt: skip
        self.db = db
        self.intake = ingest
        self.silence = silence
        self.lifecycle = lifecycle
        self.levels = levels
        self.configured = configured
        self.pages_written = pages_written
        self.villages = villages

    def ingest(
        self, readings: Sequence[Reading], now: datetime, feed: str | None = None
    ) -> StepResult:
        """Store readings, evaluate the new ones, apply the alert changes they cause."""
        if not readings:
            return StepResult()
        with self.db.transaction() as session:
            got = self.intake.run(session, readings, now, feed)
            changes = got.changes + self.silence.heard_from(session, {r.station for r in got.new})
            pages = sum(self.lifecycle.apply(session, c, now) for c in changes)
            if self.villages is not None:
                pages += self.villages.readings(session, got.accepted, now)
        self._committed(pages)
        return StepResult(len(got.new), got.duplicates, len(changes), pages, got.rejected)

    def tick(self, now: datetime) -> int:
        """What time alone causes: orphaned alerts retired, silent stations, due escalations.
        Returns pages queued."""
        with self.db.transaction() as session:
            pages = 0
            for alert in self.lifecycle.open_alerts(session):
                why = orphaned(
                    alert.rule_type, alert.station, alert.rule_id, alert.policy, self.configured
                )
                if why:
                    pages += self.lifecycle.retire(session, alert, why, now)
            for change in self.silence.gone_silent(session, now):
                pages += self.lifecycle.apply(session, change, now)
        self._committed(pages)
        return pages + self.lifecycle.escalate(now)

    def apply_warnings(self, feed: str, warnings: Sequence[OfficialWarning], now: datetime) -> int:
        """Official warnings open, change and end alerts of their own (alerts.official)."""
        pages = 0
        with self.db.transaction() as session:
            rows = session.scalars(
                select(AlertRow).where(
                    AlertRow.rule_type == "official", AlertRow.state == "open",
                    AlertRow.station == feed,
                )
            ).all()  # fmt: skip
            open_ = {
                a.rule_id: official.OpenWarning(a.rule_id, a.level, a.policy, a.external_id or "")
                for a in rows
            }
            for decision in official.decide(feed, warnings, open_, self.levels, now):
                if isinstance(decision, official.NotActual):
                    w = decision.warning
                    record(session, now, WarningNotActual(station=feed, warning_id=w.id,
                                                          status=w.status))  # fmt: skip
                elif isinstance(decision, official.Reissued):
                    w = decision.warning
                    alert = session.scalars(
                        select(AlertRow).where(
                            AlertRow.station == feed, AlertRow.rule_id == decision.rule_id,
                            AlertRow.state == "open",
                        )
                    ).one()  # fmt: skip
                    alert.external_id = w.id
                    updated = WarningUpdated(
                        alert=alert.id, station=feed, level=alert.level, warning_id=w.id,
                        headline=w.headline or w.event, msg_type=w.msg_type,
                    )  # fmt: skip
                    record(session, now, updated)
                else:
                    pages += self.lifecycle.apply(session, decision, now)
        self._committed(pages)
        return pages

    def _committed(self, pages: int) -> None:
        if pages:
            self.pages_written()
