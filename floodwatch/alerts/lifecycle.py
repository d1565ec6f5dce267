"""The alert lifecycle: apply a change, escalate what is due, acknowledge, retire.

This is the service around the pure decisions (`alerts.changes`, `alerts.escalation`): it reads
and writes alert rows, records the events and writes the pages to the outbox, all in one
transaction. `acknowledge` is the one function every acknowledgement path calls (the CLI today;
the web app, SMS replies and voice keypresses too).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from floodwatch.alerts import escalation
from floodwatch.alerts.changes import Change, Transition
from floodwatch.config import EscalationPolicy
from floodwatch.events import (
    Acknowledged,
    AlertChanged,
    Cleared,
    Escalated,
    Lowered,
    Opened,
    Raised,
    Retired,
)
from floodwatch.hooks import Hook
from floodwatch.i18n import Refused, Text, Unknown, _
from floodwatch.notify.outbox import Outbox
from floodwatch.office import Office
from floodwatch.roster import Roster
from floodwatch.roster.holder import RosterHolder
from floodwatch.store import Database
from floodwatch.store.events import record
from floodwatch.store.models import (
    AcknowledgementRow,
    AlertRow,
    EventRow,
    PageRow,
    RuleStateRow,
)

log = logging.getLogger(__name__)

ACK_PATHS = ("cli", "sms", "voice", "web")
# alerts that close on their own desk, never by `clear`: a village's round of 叫应 (its warning
# is cleared), a drill's, a handover record's (it is confirmed)
OWN_DESK = ("village", "drill", "handover")
# how a refusal names them and the states an alert leaves "open" for, in the reader's language
_OWN_DESK_NAMES = {"village": _("village"), "drill": _("drill"), "handover": _("handover")}
_STATES = {"cleared": _("cleared"), "retired": _("retired")}

# called, in the acknowledgement's transaction, when an alert becomes acknowledged:
# (session, alert, by, via, now); raising FloodwatchError refuses the acknowledgement
OnAcknowledged = Callable[[Session, AlertRow, str, str, datetime], None]

_EVENTS: dict[Transition, type[AlertChanged]] = {
    Transition.OPENED: Opened,
    Transition.RAISED: Raised,
    Transition.LOWERED: Lowered,
    Transition.CLEARED: Cleared,
}


def not_open(alert_id: int, state: str) -> Text:
    """The refusal of an action on an alert that is no longer open."""
    return _("alert #{id} is {state}, not open", id=alert_id, state=_STATES.get(state, state))


def _open_alert(session: Session, alert_id: int) -> AlertRow:
    """The alert, locked for the change a person asks for; refused unless it is open."""
    alert = session.get(AlertRow, alert_id, with_for_update=True)
    if alert is None:
        raise Unknown(_("no alert #{id}", id=alert_id))
    if alert.state != "open":
        raise Refused(not_open(alert_id, alert.state))
    return alert


class AlertLifecycle:
    def __init__(
        self, db: Database, policies: Mapping[str, EscalationPolicy], office: Office,
        roster: RosterHolder, outbox: Outbox, pages_written: Hook,
        on_acknowledged: Sequence[OnAcknowledged] = (),
    ) -> None:  # fmt: skip
        self.db = db
        self.policies = policies
        self.office = office
        self.roster = roster
        self.outbox = outbox
        self.pages_written = pages_written
        self.on_acknowledged = tuple(on_acknowledged)  # e.g. a handover alert's confirmation
        self._order = office.level_ids

    # -- changes -------------------------------------------------------------------------------

    def apply(self, session: Session, c: Change, now: datetime) -> int:
        """Apply one change in the caller's transaction; returns pages written (the caller calls
        `pages_written` after its commit)."""
        alert = session.scalars(
            select(AlertRow).where(
                AlertRow.station == c.station,
                AlertRow.rule_id == c.rule_id,
                AlertRow.state == "open",
            )
        ).one_or_none()
        if c.transition is Transition.OPENED or alert is None:
            if alert is not None or c.level is None:
                why = f"while alert #{alert.id} is open" if alert else "without a level"
                log.error("rule %s: %s %s; ignored", c.rule_id, c.transition.value, why)
                return 0
            name = self.policy_for(c.level, c.policy)
            policy = self._policy(name)
            alert = AlertRow(
                rule_type=c.rule_type, station=c.station, parameter=c.parameter,
                rule_id=c.rule_id, external_id=c.external_id, level=c.level, peak_level=c.level,
                state="open", value=c.value, unit=c.unit, opened_at=now, updated_at=now,
                policy=name, escalation_step=0,
                next_escalation_at=escalation.next_due(policy, 0, now),
            )  # fmt: skip
            session.add(alert)
            session.flush()
            event = self._changed(session, Transition.OPENED, alert, now, c)
            return self.outbox.page_alert(
                session, alert, event, "opened", policy.steps[:1], now, step=0
            )

        policy = self._policy(alert.policy)
        alert.value, alert.unit, alert.updated_at = c.value, c.unit, now
        alert.external_id = c.external_id or alert.external_id
        told = escalation.steps_so_far(policy, alert.escalation_step)
        step: int | None = None
        if c.transition is Transition.CLEARED:
            alert.state = "cleared"
            alert.cleared_at = now
            alert.next_escalation_at = None
        elif c.level is None:
            log.error("rule %s: %s without a level; ignored", c.rule_id, c.transition.value)
            return 0
        else:
            alert.level = c.level
            if self._rank(c.level) > self._rank(alert.peak_level):
                alert.peak_level = c.level
            if c.transition is Transition.RAISED:
                own = self.policy_for(c.level, alert.policy)
                if own != alert.policy:  # the new level has a policy of its own: start it
                    alert.policy, policy = own, self._policy(own)
                    alert.escalation_step, step = 0, 0
                    told = [*told, policy.steps[0]]
                    alert.next_escalation_at = escalation.next_due(policy, 0, now)
                if alert.acknowledged_at is not None:
                    # a higher level needs a fresh acknowledgement; escalation resumes
                    alert.acknowledged_at = None
                    alert.acknowledged_by = None
                    alert.acknowledged_via = None
                    alert.next_escalation_at = escalation.next_due(
                        policy, alert.escalation_step, now
                    )
        event = self._changed(session, c.transition, alert, now, c)
        return self.outbox.page_alert(
            session, alert, event, c.transition.value, told, now, step=step
        )

    def policy_for(self, level: str, default: str) -> str:
        """The escalation policy of an alert at `level`: the level's own, else `default` (the
        rule's, or the one the alert follows)."""
        own = next((lv.escalation for lv in self.office.levels if lv.id == level), None)
        return own if own is not None and own in self.policies else default

    def _changed(
        self, session: Session, t: Transition, alert: AlertRow, now: datetime, c: Change
    ) -> EventRow:
        log.info(
            "alert #%d %s: %s %s -> %s at %g %s", alert.id, t.value, alert.station,
            c.previous or "-", c.level or "-", c.value, c.unit,
        )  # fmt: skip
        event = _EVENTS[t](
            alert=alert.id, station=alert.station, level=c.level, previous=c.previous,
            value=c.value, unit=c.unit, rule=alert.rule_id, rule_type=alert.rule_type,
            observed_at=c.observed_at.isoformat() if c.observed_at else None, detail=c.detail,
        )  # fmt: skip
        return record(session, now, event)

    def retire(self, session: Session, alert: AlertRow, reason: str, now: datetime) -> int:
        """Close an open alert whose rule, station, feed or policy left the config: an event (and
        with it a duty-log entry), and a page to everyone paged about it so far."""
        policy = self.policies.get(alert.policy)
        alert.state = "retired"
        alert.cleared_at = alert.updated_at = now
        alert.next_escalation_at = None
        log.warning("alert #%d retired: %s", alert.id, reason)
        event = record(
            session, now,
            Retired(alert=alert.id, station=alert.station, level=alert.level, rule=alert.rule_id,
                    reason=reason),
        )  # fmt: skip
        if policy is None:
            return 0  # whom it reached is not known any more
        told = escalation.steps_so_far(policy, alert.escalation_step)
        return self.outbox.page_alert(session, alert, event, "retired", told, now)

    def open_alerts(self, session: Session) -> list[AlertRow]:
        return list(
            session.scalars(select(AlertRow).where(AlertRow.state == "open").order_by(AlertRow.id))
        )

    # -- time ----------------------------------------------------------------------------------

    def escalate(self, now: datetime) -> int:
        """Advance every open, unacknowledged alert whose next step is due; returns pages queued."""
        pages = 0
        with self.db.transaction() as session:
            due = session.scalars(
                select(AlertRow)
                .where(
                    AlertRow.state == "open",
                    AlertRow.acknowledged_at.is_(None),
                    AlertRow.next_escalation_at <= now,
                )
                .order_by(AlertRow.next_escalation_at, AlertRow.id)
                .with_for_update(skip_locked=True)
            ).all()
            for alert in due:
                policy = self.policies.get(alert.policy)
                if policy is None:
                    reason = f"escalation policy {alert.policy!r} is no longer in the config"
                    pages += self.retire(session, alert, reason, now)
                    continue
                step = escalation.advance(policy, alert.escalation_step, now)
                alert.escalation_step = step.step
                alert.next_escalation_at = step.next_due
                alert.updated_at = now
                log.info("alert #%d escalated to step %d", alert.id, step.step)
                event = record(
                    session, now,
                    Escalated(alert=alert.id, station=alert.station, level=alert.level,
                              step=step.step, repeat=step.repeat),
                )  # fmt: skip
                pages += self.outbox.page_alert(
                    session, alert, event, "escalated", [step.page], now, step=step.step
                )
        if pages:
            self.pages_written()
        return pages

    def escalate_now(self, alert_id: int, by: str, via: str, now: datetime) -> int:
        """A person asks that the alert go to the next step at once (an SMS ``3e``, keypress 2
        on a call, the web button); returns pages queued."""
        self._caller(by, via)
        pages = 0
        with self.db.transaction() as session:
            alert = _open_alert(session, alert_id)
            policy = self._policy(alert.policy)
            step = escalation.advance(policy, alert.escalation_step, now)
            alert.escalation_step = step.step
            alert.next_escalation_at = None if alert.acknowledged_at else step.next_due
            alert.updated_at = now
            log.info("alert #%d escalated to step %d at once by %s (%s)", alert.id, step.step,
                     by, via)  # fmt: skip
            event = record(
                session, now,
                Escalated(alert=alert.id, station=alert.station, level=alert.level,
                          step=step.step, repeat=step.repeat, by=by),
            )  # fmt: skip
            pages = self.outbox.page_alert(
                session, alert, event, "escalated", [step.page], now, step=step.step
            )
        if pages:
            self.pages_written()
        return pages

    def clear(self, alert_id: int, by: str, via: str, now: datetime) -> AlertRow:
        """A leader declares the alert over by hand (a stuck gauge, a false reading, a danger
        past before the readings show it): it closes, everyone paged about it so far is told,
        and its rule starts again from no level, so water still at a level opens a new alert
        with the next reading. Who may is the caller's check (the console and the API: a
        leader). The `cleared` event's detail says who and how ({"by", "via"})."""
        self._caller(by, via)
        with self.db.transaction() as session:
            alert = _open_alert(session, alert_id)
            if alert.rule_type in OWN_DESK:
                raise Refused(
                    _("alert #{id} is a {kind} alert: it closes on its own desk (a village "
                      "warning is cleared, a handover record confirmed)",
                      id=alert_id, kind=_OWN_DESK_NAMES.get(alert.rule_type, alert.rule_type))
                )  # fmt: skip
            previous = alert.level
            alert.state = "cleared"
            alert.cleared_at = alert.updated_at = now
            alert.next_escalation_at = None
            session.execute(
                update(RuleStateRow)
                .where(RuleStateRow.rule_id == alert.rule_id)
                .values(level=None, below_since=None)
            )
            log.info("alert #%d cleared by hand by %s (%s)", alert.id, by, via)
            event = record(
                session, now,
                Cleared(alert=alert.id, station=alert.station, level=None, previous=previous,
                        value=alert.value, unit=alert.unit, rule=alert.rule_id,
                        rule_type=alert.rule_type, detail={"by": by, "via": via}),
            )  # fmt: skip
            policy = self.policies.get(alert.policy)
            told = escalation.steps_so_far(policy, alert.escalation_step) if policy else []
            pages = self.outbox.page_alert(session, alert, event, "cleared", told, now)
        if pages:
            self.pages_written()
        return alert

    def _caller(self, by: str, via: str, path: str = "path") -> Roster:
        """The roster in force, once `by` is known in it and `via` is a way people answer."""
        if via not in ACK_PATHS:
            raise ValueError(f"unknown {path} {via!r}")
        roster = self.roster.current
        if by not in roster.people:
            raise Unknown(_("unknown person {person}: not in the rosters", person=repr(by)))
        return roster

    def next_escalation(self) -> datetime | None:
        """When the earliest pending escalation is due (replay steps its clock to it)."""
        with self.db.sessions() as session:
            return session.scalar(
                select(AlertRow.next_escalation_at)
                .where(AlertRow.state == "open", AlertRow.acknowledged_at.is_(None))
                .where(AlertRow.next_escalation_at.is_not(None))
                .order_by(AlertRow.next_escalation_at)
                .limit(1)
            )

    # -- people --------------------------------------------------------------------------------

    def acknowledge(self, alert_id: int, by: str, via: str, now: datetime) -> AlertRow:
        """A person on the roster takes the alert on: escalation stops. `via` says how the
        answer came (cli, sms, voice, web). The one function every acknowledgement path calls."""
        roster = self._caller(by, via, "acknowledgement path")
        with self.db.transaction() as session:
            alert = _open_alert(session, alert_id)
            if alert.acknowledged_at is not None:
                raise Refused(
                    _("alert #{id} was already acknowledged by {person} at {at}", id=alert_id,
                      person=alert.acknowledged_by, at=self.office.local(alert.acknowledged_at))
                )  # fmt: skip
            steps = self._policy(alert.policy).steps
            step = steps[min(alert.escalation_step, len(steps) - 1)]  # a shorter policy now
            # answers and pages count from the alert's latest rise, else its opening: a higher
            # level needs fresh answers, from those who answered the lower one too
            since = (
                session.scalar(
                    select(func.max(EventRow.at)).where(
                        EventRow.alert_id == alert.id, EventRow.type == Raised.type
                    )
                )
                or alert.opened_at
            )
            answered = set(
                session.scalars(
                    select(AcknowledgementRow.person).where(
                        AcknowledgementRow.alert_id == alert.id,
                        AcknowledgementRow.step == alert.escalation_step,
                        AcknowledgementRow.at >= since,
                    )
                )
            )
            if by in answered:
                raise Refused(
                    _("{person} has already answered alert #{id}", person=by, id=alert_id)
                )
            session.add(AcknowledgementRow(alert_id=alert.id, person=by, via=via, at=now,
                                           step=alert.escalation_step))  # fmt: skip
            pending: list[str] = []
            if step.ack == "all":  # everyone paged in this step must answer
                paged = set(
                    session.scalars(
                        select(PageRow.person).where(
                            PageRow.alert_id == alert.id,
                            PageRow.step == alert.escalation_step,
                            PageRow.created_at >= since,
                        )
                    )
                )
                pending = sorted(paged - answered - {by})
            if not pending:
                alert.acknowledged_at = now
                alert.acknowledged_by = by
                alert.acknowledged_via = via
                alert.next_escalation_at = None
            alert.updated_at = now
            duty = roster.on_duty(now)
            role = next((r for r, a in duty.assignments.items() if by in a.people), None)
            record(
                session, now,
                Acknowledged(alert=alert.id, station=alert.station, level=alert.level, by=by,
                             role=role, via=via, pending=pending),
            )  # fmt: skip
            if not pending:
                for callback in self.on_acknowledged:
                    callback(session, alert, by, via, now)
            log.info("alert #%d answered by %s (%s)%s", alert.id, by, via,
                     f"; still to answer: {', '.join(pending)}" if pending else "")  # fmt: skip
            return alert

    # -- helpers -------------------------------------------------------------------------------

    def _policy(self, name: str) -> EscalationPolicy:
        policy = self.policies.get(name)
        if policy is None:
            # config validation makes this impossible for rules; never lose the alert over it
            fallback = next(iter(self.policies))
            log.error("escalation policy %r is not configured; using %r", name, fallback)
            return self.policies[fallback]
        return policy

    def _rank(self, level: str) -> int:
        return self._order.index(level) if level in self._order else -1
