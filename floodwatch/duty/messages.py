"""Telling people on duty: a duty message (not about one alert) to people by role, through the
outbox, in the caller's transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from floodwatch.notify.outbox import About, Outbox, Recipient
from floodwatch.notify.templates import DutyFacts, render_duty
from floodwatch.office import Office
from floodwatch.roster.model import Roster
from floodwatch.store.models import EventRow


class DutyMessages:
    def __init__(self, outbox: Outbox, office: Office) -> None:
        self.outbox = outbox
        self.office = office

    def tell(
        self, session: Session, event: EventRow, roster: Roster, role: str,
        people: tuple[str, ...], message: str, facts: DutyFacts, now: datetime,
    ) -> int:  # fmt: skip
        """Page `people` (in `role`) the duty message `message`; returns pages written."""
        recipients = [Recipient(role, roster.person(p)) for p in people]
        return self.outbox.page(
            session, event, recipients, lambda lang: render_duty(message, lang, facts), now,
            About(), message,
        )  # fmt: skip


def names(roster: Roster, people: tuple[str, ...]) -> str:
    return "、".join(roster.person(p).name for p in people) or "-"


def role_title(roster: Roster, role: str) -> str:
    try:
        return roster.role(role).title
    except KeyError:
        return role
