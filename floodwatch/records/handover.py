"""Handover records (交接班记录): what the outgoing team leaves open, confirmed by the incoming
leader.

`floodwatch handover --by ID --note ...` writes the record for the nearest shift change (the
next one, or the one just past): both teams from the roster, every open alert as it stands, every
open hazard, the note. Writing it opens an alert of rule type "handover" (station "handover",
the lowest level, the policy `records.handover_escalation`): its first page asks the incoming
leader by name to confirm; it is reminded and escalated like any alert, from the shift change on.
Its acknowledgement, by whatever path (cli, sms, voice, web), IS the confirmation: the lifecycle
calls `HandoverBook.confirmed` in the acknowledgement's transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from floodwatch.alerts import escalation
from floodwatch.config import EscalationPolicy, Settings
from floodwatch.events import HandoverAccepted, HandoverWritten, Opened, Retired
from floodwatch.hooks import Hook
from floodwatch.i18n import Refused, Unknown, _
from floodwatch.notify.outbox import About, Outbox, Recipient
from floodwatch.notify.templates import render
from floodwatch.office import Office
from floodwatch.records.hazards import due_day
from floodwatch.roster.holder import RosterHolder
from floodwatch.roster.model import Roster
from floodwatch.store import Database
from floodwatch.store.events import record
from floodwatch.store.models import AlertRow, HandoverRow, HazardRow

log = logging.getLogger(__name__)

RULE_TYPE = STATION = "handover"  # the alert that waits for the confirmation
LEADER = "leader"  # the role whose incoming people confirm (everyone incoming, without one)
_JUST_BEFORE = timedelta(microseconds=1)


def handover_policy(settings: Settings) -> str:
    """The escalation policy of handover confirmations: `records.handover_escalation`, else
    `default`, else the first policy."""
    named = settings.records.handover_escalation
    if named is not None:
        return named
    return "default" if "default" in settings.escalation else next(iter(settings.escalation))


def instant(roster: Roster, now: datetime) -> datetime:
    """The shift change a record written at `now` is for: the nearer of the last one and the
    next one (the next, when both are as near)."""
    duty = roster.on_duty(now)
    last, following = duty.start, duty.end
    return last if now - last < following - now else following


def confirmers(incoming: Mapping[str, list[str]]) -> list[str]:
    """Who may confirm: the incoming leaders, or everyone incoming when there is no leader."""
    leaders = list(incoming.get(LEADER) or [])
    return leaders or sorted({p for people in incoming.values() for p in people})


def roles_in_order(roster: Roster) -> list[str]:
    declared = [r for r in roster.role_table if r in roster.roles]
    return declared + sorted(roster.roles - set(declared))


class HandoverBook:
    def __init__(
        self, db: Database, roster: RosterHolder, office: Office, outbox: Outbox,
        policies: Mapping[str, EscalationPolicy], policy: str, pages_written: Hook,
    ) -> None:  # fmt: skip
        self.db = db
        self.roster = roster
        self.office = office
        self.outbox = outbox
        self.policies = policies
        self.policy = policy
        self.pages_written = pages_written

    def write(self, by: str, note: str, now: datetime) -> HandoverRow:
        """Write the record of the shift change nearest `now` (see the module's doc); an earlier
        record still waiting for its confirmation is superseded."""
        roster = self.roster.current
        if by not in roster.people:
            raise Unknown(_("unknown person {person}: not in the rosters", person=repr(by)))
        note = note.strip()
        at = instant(roster, now)
        before, after = roster.on_duty(at - _JUST_BEFORE), roster.on_duty(at)
        roles = roles_in_order(roster)
        outgoing = {r: list(before.people(r)) for r in roles}
        incoming = {r: list(after.people(r)) for r in roles}
        if not any(by in people for people in outgoing.values()):
            team = ", ".join(sorted({p for ps in outgoing.values() for p in ps})) or _("nobody")
            raise Refused(
                _("{person} is not in the outgoing team of the handover at {at} (outgoing: "
                  "{team})", person=by, at=self.office.local(at), team=team)
            )  # fmt: skip
        confirming = confirmers(incoming)
        if not confirming:
            raise Refused(
                _("nobody is on duty after the handover at {at}: there is no one to hand over "
                  "to", at=self.office.local(at))
            )  # fmt: skip
        policy = self.policies[self.policy]
        lowest = self.office.levels[0].id
        with self.db.transaction() as session:
            row = HandoverRow(
                at=now, handover_at=at, by=by, outgoing=outgoing, incoming=incoming,
                open_alerts={"alerts": self._open_alerts(session)},
                open_hazards={"hazards": _open_hazards(session, self.office)}, note=note,
            )  # fmt: skip
            session.add(row)
            session.flush()
            self._supersede(session, row.id, now)
            alert = AlertRow(
                rule_type=RULE_TYPE, station=STATION, parameter=RULE_TYPE,
                rule_id=f"handover-{row.id}", level=lowest, peak_level=lowest, state="open",
                value=float(row.id), unit="", opened_at=now, updated_at=now, policy=self.policy,
                escalation_step=0,
                # reminders and escalation run from the shift change on: before it, the
                # people on duty are the outgoing team
                next_escalation_at=escalation.next_due(policy, 0, max(now, at)),
            )  # fmt: skip
            session.add(alert)
            session.flush()
            row.alert_id = alert.id
            opened = record(
                session, now,
                Opened(alert=alert.id, station=STATION, level=lowest, previous=None,
                       value=float(row.id), unit="", rule=alert.rule_id, rule_type=RULE_TYPE),
            )  # fmt: skip
            facts = self.outbox.facts(alert, "opened", opened, now)
            lines = self._page_lines(roster, row)

            def text(language: str) -> tuple[str, str]:
                subject, body = render("opened", language, facts)
                return subject, body + "\n" + "\n".join(lines)

            recipients = [Recipient(LEADER, roster.person(p)) for p in confirming]
            about = About(alert.id, STATION, lowest)
            pages = self.outbox.page(session, opened, recipients, text, now, about, "opened", 0)
            record(
                session, now,
                HandoverWritten(
                    alert=alert.id, handover=row.id, by=by, handover_at=self.office.local(at),
                    outgoing=outgoing, incoming=incoming,
                    open_alerts=[a["id"] for a in row.open_alerts["alerts"]],
                    open_hazards=[h["id"] for h in row.open_hazards["hazards"]], note=note,
                ),
            )  # fmt: skip
        log.info("handover record #%d written by %s for %s", row.id, by, self.office.local(at))
        if pages:
            self.pages_written()
        return row

    def confirmed(
        self, session: Session, alert: AlertRow, by: str, via: str, now: datetime
    ) -> None:
        """The lifecycle's `on_acknowledged` hook: a handover alert's acknowledgement confirms
        its record (only by the incoming leader: anyone else is refused) and closes the alert."""
        if alert.rule_type != RULE_TYPE:
            return
        row = session.scalars(
            select(HandoverRow).where(HandoverRow.alert_id == alert.id).with_for_update()
        ).one_or_none()
        if row is None:
            log.error("handover alert #%d has no handover record", alert.id)
            return
        allowed = confirmers(row.incoming)
        if by not in allowed:
            raise Refused(
                _("only the incoming leader ({leaders}) can confirm handover record #{id}",
                  leaders=", ".join(allowed), id=row.id)
            )  # fmt: skip
        row.accepted_at, row.accepted_by, row.accepted_via = now, by, via
        alert.state = "cleared"
        alert.cleared_at = alert.updated_at = now
        alert.next_escalation_at = None
        record(session, now, HandoverAccepted(alert=alert.id, handover=row.id, by=by, via=via))
        log.info("handover record #%d confirmed by %s (%s)", row.id, by, via)

    def waiting(self) -> HandoverRow:
        """The record waiting for its confirmation (the latest); FloodwatchError if none is."""
        with self.db.sessions() as session:
            row = session.scalars(
                select(HandoverRow)
                .join(AlertRow, AlertRow.id == HandoverRow.alert_id)
                .where(HandoverRow.accepted_at.is_(None), AlertRow.state == "open")
                .order_by(HandoverRow.id.desc())
                .limit(1)
            ).one_or_none()
        if row is None or row.alert_id is None:
            raise Refused(_("no handover record is waiting for confirmation"))
        return row

    def latest(self, count: int) -> list[HandoverRow]:
        """The last `count` records, newest first."""
        with self.db.sessions() as session:
            return list(
                session.scalars(select(HandoverRow).order_by(HandoverRow.id.desc()).limit(count))
            )

    # -- helpers -------------------------------------------------------------------------------

    def _open_alerts(self, session: Session) -> list[dict[str, Any]]:
        rows = session.scalars(
            select(AlertRow)
            .where(AlertRow.state == "open", AlertRow.rule_type != RULE_TYPE)
            .order_by(AlertRow.id)
        )
        return [
            {
                "id": a.id,
                "station": a.station,
                "station_name": self.outbox.station_name(a.station),
                "rule_type": a.rule_type,
                "level": a.level,
                "peak_level": a.peak_level,
                "value": a.value,
                "unit": a.unit,
                "opened_at": a.opened_at.isoformat(),
                "acknowledged_by": a.acknowledged_by,
                "acknowledged_via": a.acknowledged_via,
                "escalation_step": a.escalation_step,
            }  # fmt: skip
            for a in rows
        ]

    def _supersede(self, session: Session, new: int, now: datetime) -> None:
        older = session.scalars(
            select(AlertRow).where(AlertRow.rule_type == RULE_TYPE, AlertRow.state == "open")
        ).all()
        for alert in older:
            alert.state = "retired"
            alert.cleared_at = alert.updated_at = now
            alert.next_escalation_at = None
            record(
                session, now,
                Retired(alert=alert.id, station=alert.station, level=alert.level,
                        rule=alert.rule_id, reason=f"已被交接班记录 #{new} 取代"),
            )  # fmt: skip

    def _page_lines(self, roster: Roster, row: HandoverRow) -> list[str]:
        """What the confirmation page says of the record: the teams, what is open, the note."""

        def names(people: list[str]) -> str:
            return "、".join(roster.person(p).name for p in people) or "-"

        lines = [f"交接班记录 #{row.id}：{self.office.local(row.handover_at or row.at)}"]
        for role, people in row.incoming.items():
            title = roster.role(role).name or role
            lines.append(f"{title}：{names(row.outgoing.get(role, []))} → {names(people)}")
        alerts = row.open_alerts["alerts"]
        lines.append(
            "未解除告警：" + ("；".join(f"#{a['id']} {a['station_name']} {a['level']}"
                                      for a in alerts) or "无")
        )  # fmt: skip
        hazards = row.open_hazards["hazards"]
        lines.append(
            "未整改隐患：" + ("；".join(f"#{h['id']} {h['where']}（{h['due']}）"
                                      for h in hazards) or "无")
        )  # fmt: skip
        lines.append(f"交班留言：{row.note or '无'}")
        return lines


def _open_hazards(session: Session, office: Office) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(HazardRow).where(HazardRow.state == "open").order_by(HazardRow.id)
    )
    return [
        {"id": h.id, "where": h.where, "what": h.what, "owner": h.owner,
         "due": due_day(h.due, office.zone).isoformat(), "village": h.village}
        for h in rows
    ]  # fmt: skip


def record_for(session: Session, handover_at: datetime) -> HandoverRow | None:
    """The latest record written for the shift change at `handover_at`, if any."""
    return session.scalars(
        select(HandoverRow)
        .where(HandoverRow.handover_at == handover_at)
        .order_by(HandoverRow.id.desc())
        .limit(1)
    ).one_or_none()
