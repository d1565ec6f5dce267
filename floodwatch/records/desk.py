"""The records' part of the duty job: hazard reminders and overdue pages, and the daily report
sent at `report.at` (local) to `report.to`, once a day, through the outbox.

`RecordsDesk.tick(now)` is what the service's duty job calls (after the handovers and the
coverage check). The report sent is the previous day's: saved in `report.dir` as
report-DAY.FORMAT; the page carries the whole markdown text (format md) or a summary and the
file's path (html, pdf). Without a CJK font the pictures are left out and the page says why:
the report itself is never lost for want of a font.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path

from floodwatch.duty.messages import DutyMessages
from floodwatch.events import ReportSent
from floodwatch.hooks import Hook
from floodwatch.i18n import text_of
from floodwatch.notify.templates import DutyFacts
from floodwatch.records import document
from floodwatch.records.fonts import MissingFont
from floodwatch.records.hazards import HazardBook
from floodwatch.records.publish import Format, Made, ReportMaker
from floodwatch.roster.holder import RosterHolder
from floodwatch.store import Database, state
from floodwatch.store.events import record

log = logging.getLogger(__name__)

SENT = "report_sent_on"  # service_state: the last local date the report was sent on
REPORT_ROLE = "report"  # the role report pages are sent in


class RecordsDesk:
    def __init__(
        self, db: Database, roster: RosterHolder, hazards: HazardBook, maker: ReportMaker,
        messages: DutyMessages, at: time | None, to: Sequence[str], fmt: Format, folder: Path,
        pages_written: Hook,
    ) -> None:  # fmt: skip
        self.db = db
        self.roster = roster
        self.hazards = hazards
        self.maker = maker
        self.messages = messages
        self.at = at
        self.to = tuple(to)
        self.fmt = fmt
        self.folder = folder
        self.pages_written = pages_written

    def tick(self, now: datetime) -> int:
        """Hazard reminders and overdue pages, then the daily report if it is due; returns
        pages queued."""
        return self.hazards.tick(now) + self.send_report(now)

    def send_report(self, now: datetime, force: bool = False) -> int:
        """At `report.at`, once a local day (or at once with `force`): the previous day's
        report to `report.to`."""
        if self.at is None or not self.to:
            return 0
        office = self.messages.office
        local = now.astimezone(office.zone)
        today = local.date().isoformat()
        if not force:
            if local.time() < self.at:
                return 0
            sent = state.get(self.db, SENT)
            if sent and sent.get("day") == today:
                return 0
        reader = self.maker.reader
        day = reader.day_of(now) - timedelta(days=1)
        made, lines = self._make(day, now)
        path = str(made.files[0]) if made.files else None
        with self.db.transaction() as session:
            sent = state.get_in(session, SENT, for_update=True)
            if not force and sent and sent.get("day") == today:
                return 0  # another node sent it meanwhile
            state.put_in(session, SENT, {"day": today, "report": day.isoformat()})
            event = record(session, now, ReportSent(date=day.isoformat(), to=list(self.to),
                                                    path=path))  # fmt: skip
            facts = DutyFacts(office.name, day.isoformat(), lines=lines)
            pages = self.messages.tell(
                session, event, self.roster.current, REPORT_ROLE, self.to, "daily_report", facts,
                now,
            )  # fmt: skip
        log.info("daily report of %s sent to %s (%s)", day, ", ".join(self.to), path)
        if pages:
            self.pages_written()
        return pages

    def _make(self, day: date, now: datetime) -> tuple[Made, list[str]]:
        self.folder.mkdir(parents=True, exist_ok=True)
        out = self.folder / f"report-{day.isoformat()}.{self.fmt}"
        try:
            made = self.maker.make(day, now, self.fmt, out)
            missing = None
        except MissingFont as exc:
            log.error("daily report of %s without pictures: %s", day, exc)
            out = out.with_suffix(".md")
            made = self.maker.make(day, now, "md")
            out.write_text(made.text or "", encoding="utf-8")
            made = Made(made.report, text=made.text, files=[out])
            missing = f"（未生成过程线图：{text_of(exc, 'zh-CN')}）"
        if self.fmt == "md" or missing:
            lines = [made.text or ""]
        else:
            lines = [*document.summary(made.report), f"报告文件：{out}"]
        return made, lines + ([missing] if missing else [])
