"""Writing pages to the outbox, inside the caller's transaction: who is reached, on which
channels, with which text. Nothing is sent here; the dispatcher delivers what is written."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TypedDict

from sqlalchemy.orm import Session

from floodwatch.config import EscalationStep, Station
from floodwatch.events import NobodyOnDuty, PageQueued, PageSuppressed, Unreachable
from floodwatch.notify import replies
from floodwatch.notify.base import Notifier, capabilities_of
from floodwatch.notify.templates import AlertFacts, render
from floodwatch.office import Office
from floodwatch.roster.holder import RosterHolder
from floodwatch.roster.model import Person, Roster
from floodwatch.store import state
from floodwatch.store.db import INSTALLATION, NoDatabase
from floodwatch.store.events import record
from floodwatch.store.models import AlertRow, EventRow, PageRow

Renderer = Callable[[str], tuple[str, str]]  # language -> (subject, body)


NAMED = "named"  # the role a person paged by name (a step's `people`) is paged in


@dataclass(frozen=True)
class Recipient:
    """Whom to page and why: a person, the role they were paged in, and the channels to use
    (None: every configured channel). `told`: paged only to be told of a change (someone an
    earlier escalation step reached), not as one of the step being paged."""

    role: str | None
    person: Person
    channels: Sequence[str] | None = None
    told: bool = False


@dataclass(frozen=True)
class About:
    """What a page is about, as its events record it: an alert (or nothing) at a station."""

    alert: int | None = None
    station: str | None = None
    level: str | None = None


@dataclass(frozen=True)
class BroadcastPage:
    """One loudspeaker to sound: `key` names it on its page (the page's `person`: never a
    person id), `channel` is the broadcast notifier that reaches it at `address`, and
    `subject` and `body` are what it says."""

    key: str
    channel: str
    address: str
    subject: str
    body: str
    language: str = "zh-CN"


LOUDSPEAKER = "loudspeaker"  # the role a broadcast page is written in


class Outbox:
    def __init__(
        self, notifiers: Mapping[str, Notifier], roster: RosterHolder,
        stations: Mapping[str, Station], office: Office,
    ) -> None:  # fmt: skip
        self.notifiers = notifiers
        self.roster = roster
        self.stations = stations
        self.office = office
        self._installation: str | None = None

    def page_alert(
        self, session: Session, alert: AlertRow, event: EventRow, message: str,
        steps: Iterable[EscalationStep], now: datetime, step: int | None = None,
    ) -> int:  # fmt: skip
        """Page everyone on duty in the steps' roles, and the people they name, about an alert
        event (`message`: the template, e.g. "opened", "escalated"); returns pages written.
        `step` is the escalation step being paged, the last of `steps`: its pages carry it, and
        the pages to the earlier steps' people (told so far, as when a rise starts a level's
        own policy) carry none, so that an `ack: all` step waits only for its own people. None:
        a change told to those paged so far.

        During a station's maintenance window nothing is paged: the event says so instead.
        """
        about = About(alert.id, alert.station, alert.level)
        window = self.maintenance(alert.station, now)
        if window is not None:
            record(session, now, PageSuppressed(**_common(about), cause=message, reason=window))
            return 0
        facts = self.facts(alert, message, event, now)
        steps = list(steps)
        roster = self.roster.current
        recipients = [
            *(replace(r, told=True) for r in self.on_duty(session, roster, steps[:-1], now, about)),
            *self.on_duty(session, roster, steps[-1:], now, about),
        ]
        return self.page(
            session, event, recipients, lambda lang: render(message, lang, facts), now, about,
            message, step,
        )  # fmt: skip

    def page(
        self, session: Session, event: EventRow, recipients: Sequence[Recipient],
        text: Renderer, now: datetime, about: About, cause: str, step: int | None = None,
    ) -> int:  # fmt: skip
        """One page per (person, channel); returns how many were written. A page's idempotency
        key names the installation, the event, the person and the channel."""
        installation = self._installation_id(session)
        count = 0
        seen: set[tuple[str, str]] = set()
        in_step = {r.person.id for r in recipients if not r.told}
        for r in recipients:
            person = r.person
            for channel in r.channels or list(self.notifiers):
                if (person.id, channel) in seen:
                    continue
                seen.add((person.id, channel))
                address = self.notifiers[channel].address_for(person)
                if address is None:
                    unreachable = Unreachable(
                        **_common(about), to=person.id, role=r.role, channel=channel
                    )
                    record(session, now, unreachable)
                    continue
                subject, body = text(person.language)
                code = None
                if (
                    about.alert is not None
                    and capabilities_of(self.notifiers[channel]).acknowledges
                ):
                    code = replies.code_for(session, address, about.alert, now)
                page = PageRow(
                    idempotency_key=f"{installation}:{event.id}:{person.id}:{channel}",
                    alert_id=about.alert, event_id=event.id, person=person.id,
                    role=r.role, channel=channel, address=address,
                    language=person.language, subject=subject, body=body, status="pending",
                    attempts=0, created_at=now, next_attempt_at=now, reply_code=code,
                    step=step if person.id in in_step else None,
                )  # fmt: skip
                _queue(session, page, now, about, cause)
                count += 1
        return count

    def broadcast(
        self, session: Session, event: EventRow, sends: Sequence[BroadcastPage], now: datetime,
        about: About, cause: str,
    ) -> int:  # fmt: skip
        """One page per loudspeaker, in its broadcast channel's lane; returns how many were
        written. The key names the installation, the event, the loudspeaker and the channel."""
        installation = self._installation_id(session)
        count = 0
        for b in sends:
            page = PageRow(
                idempotency_key=f"{installation}:{event.id}:{b.key}:{b.channel}",
                alert_id=about.alert, event_id=event.id, person=b.key, role=LOUDSPEAKER,
                channel=b.channel, address=b.address, language=b.language, subject=b.subject,
                body=b.body, status="pending", attempts=0, created_at=now, next_attempt_at=now,
            )  # fmt: skip
            _queue(session, page, now, about, cause)
            count += 1
        return count

    def _installation_id(self, session: Session) -> str:
        if self._installation is None:
            value = state.get_in(session, INSTALLATION)
            if value is None:
                raise NoDatabase("the database has no installation id: run `floodwatch db upgrade`")
            self._installation = str(value["id"])
        return self._installation

    def on_duty(
        self, session: Session, roster: Roster, steps: Iterable[EscalationStep], now: datetime,
        about: About,
    ) -> list[Recipient]:  # fmt: skip
        """Everyone on duty in the steps' roles and the people the steps name, in step order;
        a role with nobody on duty is recorded as such."""
        duty = roster.on_duty(now)
        out: list[Recipient] = []
        for step in steps:
            for role in step.notify:
                people = duty.people(role)
                if not people:
                    record(session, now, NobodyOnDuty(**_common(about), role=role))
                out.extend(Recipient(role, roster.person(p), step.channels) for p in people)
            out.extend(Recipient(NAMED, roster.person(p), step.channels) for p in step.people)
        return out

    def maintenance(self, station_id: str, now: datetime) -> str | None:
        """The reason of the maintenance window the station is in at `now`, if any."""
        station = self.stations.get(station_id)
        for window in station.maintenance if station else ():
            if window.start <= now < window.end:
                return window.reason
        return None

    def station_name(self, station_id: str) -> str:
        station = self.stations.get(station_id)
        return station.name if station else station_id

    def facts(self, alert: AlertRow, message: str, event: EventRow, now: datetime) -> AlertFacts:
        office = self.office
        previous = event.data.get("from")
        level = None if message in ("cleared", "retired") else office.level(alert.level)
        waited = int((now - alert.opened_at).total_seconds() // 60) if message == "escalated" else 0
        detail = event.data.get("detail") or {}
        return AlertFacts(
            alert_id=alert.id,
            office=office.name,
            station=self.station_name(alert.station),
            parameter=alert.parameter,
            value=alert.value,
            unit=alert.unit,
            level=level,
            previous=office.level(previous) if previous else None,
            at=office.local(now),
            waited_minutes=waited,
            rule_type=alert.rule_type,
            window=str(detail.get("window") or ""),
            headline=str(detail.get("headline") or ""),
        )


class _Where(TypedDict):
    alert: int | None
    station: str | None
    level: str | None


def _common(about: About) -> _Where:
    return {"alert": about.alert, "station": about.station, "level": about.level}


def _queue(session: Session, page: PageRow, now: datetime, about: About, cause: str) -> None:
    """A page written and its `page_queued` event recorded (flushed first: the event names the
    page's id)."""
    session.add(page)
    session.flush()
    record(session, now, PageQueued(**_common(about), to=page.person, role=page.role,
                                    channel=page.channel, page=page.id, cause=cause))  # fmt: skip
