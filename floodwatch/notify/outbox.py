"""Writing pages to the outbox, inside the caller's transaction: who is reached, on which
channels, with which text. Nothing is sent here; the dispatcher delivers what is written."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from floodwatch.app import App
from floodwatch.config import EscalationStep, Station
from floodwatch.notify.templates import AlertFacts, render
from floodwatch.roster.model import Person
from floodwatch.store.events import record
from floodwatch.store.models import AlertRow, EventRow, PageRow

Renderer = Callable[[str], tuple[str, str]]  # language -> (subject, body)


class Outbox:
    def __init__(self, app: App) -> None:
        self.app = app

    def page_alert(
        self, session: Session, alert: AlertRow, event: EventRow, kind: str,
        steps: Iterable[EscalationStep], now: datetime,
    ) -> int:  # fmt: skip
        """Page everyone on duty in the steps' roles about an alert event; returns pages written.

        During a station's maintenance window nothing is paged: the event says so instead.
        """
        where: dict[str, Any] = {
            "alert_id": alert.id,
            "station": alert.station,
            "level": alert.level,
        }
        window = self.maintenance(alert.station, now)
        if window is not None:
            record(session, now, "page_suppressed", **where, cause=kind, reason=window)
            return 0
        facts = self.facts(alert, kind, event, now)
        recipients = self.on_duty(session, steps, now, where)
        return self.page(
            session, event, recipients, lambda lang: render(kind, lang, facts), now, where, kind
        )

    def page(
        self, session: Session, event: EventRow,
        recipients: Sequence[tuple[str, Person, Sequence[str] | None]],
        text: Renderer, now: datetime, where: dict[str, Any], cause: str,
    ) -> int:  # fmt: skip
        """One page per (person, channel): (role, person, channels or None for all)."""
        count = 0
        seen: set[tuple[str, str]] = set()
        for role, person, channels in recipients:
            for channel in channels or list(self.app.notifiers):
                if (person.id, channel) in seen:
                    continue
                seen.add((person.id, channel))
                address = self.app.notifiers[channel].address_for(person)
                if address is None:
                    record(
                        session,
                        now,
                        "unreachable",
                        **where,
                        to=person.id,
                        role=role,
                        channel=channel,
                    )
                    continue
                subject, body = text(person.language)
                page = PageRow(
                    idempotency_key=f"{event.id}:{person.id}:{channel}",
                    alert_id=where.get("alert_id"), event_id=event.id, person=person.id,
                    role=role, channel=channel, address=address,
                    language=person.language, subject=subject, body=body, status="pending",
                    attempts=0, created_at=now, next_attempt_at=now,
                )  # fmt: skip
                session.add(page)
                session.flush()
                record(
                    session, now, "page_queued", **where, to=person.id, role=role,
                    channel=channel, page=page.id, cause=cause,
                )  # fmt: skip
                count += 1
        return count

    def on_duty(
        self, session: Session, steps: Iterable[EscalationStep], now: datetime,
        where: dict[str, Any],
    ) -> list[tuple[str, Person, Sequence[str] | None]]:  # fmt: skip
        """(role, person, channels) for everyone on duty in the steps' roles, in step order."""
        duty = self.app.roster.on_duty(now)
        out: list[tuple[str, Person, Sequence[str] | None]] = []
        for step in steps:
            for role in step.notify:
                people = duty.people(role)
                if not people:
                    record(session, now, "nobody_on_duty", **where, role=role)
                out.extend((role, self.app.roster.person(p), step.channels) for p in people)
        return out

    def maintenance(self, station_id: str, now: datetime) -> str | None:
        """The reason of the maintenance window the station is in at `now`, if any."""
        station = self.station(station_id)
        for window in station.maintenance if station else ():
            if window.start <= now < window.end:
                return window.reason
        return None

    def station(self, station_id: str) -> Station | None:
        return next((s for s in self.app.config.settings.stations if s.id == station_id), None)

    def facts(self, alert: AlertRow, kind: str, event: EventRow, now: datetime) -> AlertFacts:
        cfg = self.app.config
        previous = event.data.get("from")
        level = None if kind == "cleared" else cfg.level(alert.level)
        waited = int((now - alert.opened_at).total_seconds() // 60) if kind == "escalated" else 0
        station = self.station(alert.station)
        return AlertFacts(
            alert_id=alert.id,
            office=cfg.settings.office,
            station=station.name if station else alert.station,
            parameter=alert.parameter,
            value=alert.value,
            unit=alert.unit,
            level=level,
            previous=cfg.level(previous) if previous else None,
            at=self.local(now),
            waited_minutes=waited,
            kind=alert.kind,
            window=str(event.data.get("window") or ""),
            headline=str(event.data.get("headline") or ""),
        )

    def local(self, when: datetime) -> str:
        return when.astimezone(self.app.config.settings.timezone).strftime("%Y-%m-%d %H:%M %Z")
