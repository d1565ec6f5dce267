"""When a page fails for good: the person's next contact, and if nothing reaches them, the
officers on duty told who could not be reached and why. In the caller's transaction.

The next contact is the next address the same channel has for the person (a second phone),
then the step's `fallback` channels. A page whose outcome is unknown (it may have gone out, and
the channel cannot tell a resend from a new page) is not resent: the officers on duty are told,
and the person's next contact is tried as for a failure.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from floodwatch.alerts import escalation
from floodwatch.config import EscalationPolicy
from floodwatch.duty.messages import DutyMessages, names
from floodwatch.events import PageFailover, PageUnknown, PersonUnreachable
from floodwatch.notify.base import Notifier, addresses_of
from floodwatch.notify.templates import DutyFacts
from floodwatch.roster import mask_phone
from floodwatch.roster.holder import RosterHolder
from floodwatch.store.events import record
from floodwatch.store.models import AlertRow, DeliveryRow, EventRow, PageRow

log = logging.getLogger(__name__)

STILL_TRYING = ("pending", "sending", "accepted", "delivered", "dispatched")


class Failover:
    def __init__(
        self, notifiers: Mapping[str, Notifier], roster: RosterHolder,
        policies: Mapping[str, EscalationPolicy], messages: DutyMessages,
    ) -> None:  # fmt: skip
        self.notifiers = notifiers
        self.roster = roster
        self.policies = policies
        self.messages = messages

    def failed(self, session: Session, page: PageRow, now: datetime) -> int:
        """`page` failed for good: page the person's next contact, or say they are unreachable.
        Returns pages written."""
        nxt = self._next_contact(session, page, now)
        if nxt or page.alert_id is None:  # a notice about a notice would never end
            return nxt
        return self._unreachable(session, page, now)

    def unknown(self, session: Session, page: PageRow, now: datetime) -> int:
        """`page` may or may not have gone out and will not be resent: tell the officers, and
        try the person's next contact."""
        if page.alert_id is None:
            return self._next_contact(session, page, now)
        alert = session.get(AlertRow, page.alert_id) if page.alert_id else None
        detail = session.scalar(
            select(DeliveryRow.detail).where(DeliveryRow.page_id == page.id)
            .order_by(DeliveryRow.id.desc()).limit(1)
        ) or "no answer"  # fmt: skip
        event = record(session, now, PageUnknown(
            alert=page.alert_id, station=alert.station if alert else None,
            level=alert.level if alert else None, to=page.person, role=page.role,
            channel=page.channel, page=page.id, detail=detail,
        ))  # fmt: skip
        line = f"#{page.id} → {self._who(page)} ({page.channel}): {detail}"
        pages = self._tell_officers(session, event, "page_unknown", [line], now, page.person)
        return pages + self._next_contact(session, page, now)

    # -- the next contact ----------------------------------------------------------------------

    def _next_contact(self, session: Session, page: PageRow, now: datetime) -> int:
        roster = self.roster.current
        person = roster.people.get(page.person)
        if person is None:  # a loudspeaker, or a person no longer in the rosters
            return 0
        notifier = self.notifiers.get(page.channel)
        if notifier is not None:
            addresses = addresses_of(notifier, person)
            if page.address in addresses:
                rest = addresses[addresses.index(page.address) + 1 :]
                if rest:
                    return self._copy(session, page, page.channel, rest[0], now)
        tried = set(
            session.scalars(
                select(PageRow.channel).where(
                    PageRow.event_id == page.event_id, PageRow.person == page.person
                )
            )
        )
        for channel in self._fallback(session, page):
            fallback = self.notifiers.get(channel)
            if channel in tried or fallback is None:
                continue
            address = fallback.address_for(person)
            if address is not None:
                return self._copy(session, page, channel, address, now)
        return 0

    def _fallback(self, session: Session, page: PageRow) -> list[str]:
        alert = session.get(AlertRow, page.alert_id) if page.alert_id else None
        policy = self.policies.get(alert.policy) if alert else None
        if alert is None or policy is None:
            return []
        if page.step is not None and page.step < len(policy.steps):
            steps: Sequence[object] = [policy.steps[page.step]]
        else:
            steps = escalation.steps_so_far(policy, alert.escalation_step)
        out: list[str] = []
        for step in steps:
            out += [c for c in getattr(step, "fallback", []) if c not in out]
        return out

    def _copy(self, session: Session, page: PageRow, channel: str, address: str,
              now: datetime) -> int:  # fmt: skip
        tries = session.scalar(
            select(func.count(PageRow.id)).where(PageRow.idempotency_key.like(
                f"{page.idempotency_key.split('~', 1)[0]}~%"))
        ) or 0  # fmt: skip
        root = page.idempotency_key.split("~", 1)[0]
        new = PageRow(
            idempotency_key=f"{root}~{tries + 1}:{channel}", alert_id=page.alert_id,
            event_id=page.event_id, person=page.person, role=page.role, channel=channel,
            address=address, language=page.language, subject=page.subject, body=page.body,
            status="pending", attempts=0, created_at=now, next_attempt_at=now,
            reply_code=page.reply_code if channel == page.channel else None,
            failover_of=page.id, step=page.step,
        )  # fmt: skip
        session.add(new)
        session.flush()
        alert = session.get(AlertRow, page.alert_id) if page.alert_id else None
        record(session, now, PageFailover(
            alert=page.alert_id, station=alert.station if alert else None,
            level=alert.level if alert else None, to=page.person, role=page.role,
            channel=channel, page=new.id, instead_of=page.id,
        ))  # fmt: skip
        log.warning("page #%d to %s failed: trying %s via %s (page #%d)", page.id, page.person,
                    _masked(address), channel, new.id)  # fmt: skip
        return 1

    # -- nobody reached ------------------------------------------------------------------------

    def _unreachable(self, session: Session, page: PageRow, now: datetime) -> int:
        others = session.scalar(
            select(func.count(PageRow.id)).where(
                PageRow.event_id == page.event_id, PageRow.person == page.person,
                PageRow.id != page.id, PageRow.status.in_(STILL_TRYING),
            )
        )  # fmt: skip
        if others:  # another channel reached the person, or may yet
            return 0
        failed = session.execute(
            select(PageRow.id, PageRow.channel, DeliveryRow.detail)
            .join(DeliveryRow, DeliveryRow.page_id == PageRow.id)
            .where(PageRow.event_id == page.event_id, PageRow.person == page.person)
            .order_by(PageRow.id, DeliveryRow.id)
        ).all()
        reasons = {channel: detail or "failed" for _, channel, detail in failed}
        alert = session.get(AlertRow, page.alert_id) if page.alert_id else None
        event = record(session, now, PersonUnreachable(
            alert=page.alert_id, station=alert.station if alert else None,
            level=alert.level if alert else None, to=page.person, role=page.role,
            reasons=[f"{c}: {why}" for c, why in reasons.items()],
        ))  # fmt: skip
        log.error("%s could not be reached about alert #%s: %s", page.person, page.alert_id,
                  "; ".join(f"{c}: {w}" for c, w in reasons.items()))  # fmt: skip
        lines = [self._who(page), *(f"{c}: {why}" for c, why in reasons.items())]
        return self._tell_officers(session, event, "unreachable", lines, now, page.person)

    def _tell_officers(
        self, session: Session, event: EventRow, message: str, lines: list[str], now: datetime,
        about_person: str,
    ) -> int:  # fmt: skip
        """The officers on duty (the leader when the officer is the one concerned)."""
        roster = self.roster.current
        duty = roster.on_duty(now)
        office = self.messages.office
        facts = DutyFacts(office.name, office.local(now), lines=lines)
        for role in ("officer", "leader", *sorted(roster.roles)):
            people = tuple(p for p in duty.people(role) if p != about_person)
            if role in roster.roles and people:
                return self.messages.tell(session, event, roster, role, people, message,
                                          facts, now)  # fmt: skip
        return 0

    def _who(self, page: PageRow) -> str:
        roster = self.roster.current
        if page.person in roster.people:
            return f"{names(roster, (page.person,))} ({page.person})"
        return page.person


def _masked(address: str) -> str:
    return mask_phone(address) if address.startswith("+") else address
