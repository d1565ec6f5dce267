"""The duty desk's actions as a signed-in person does them, from the console or the API: the
role check, then the library function every other path calls too (the alert lifecycle, the
village desk, the duty log, the handover book, the password store). Everything done here is
recorded with `via: web` and the person.

A refusal for the person's role is `Forbidden`; the library's own refusals (an alert already
acknowledged, a village without a warning, only the leader *on duty* may clear a village's
warning) come through as they are (FloodwatchError, NotFound).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from floodwatch import users
from floodwatch.alerts.lifecycle import AlertLifecycle
from floodwatch.clock import Clock
from floodwatch.i18n import Refused, Unknown, _
from floodwatch.records import dutylog
from floodwatch.records.handover import HandoverBook
from floodwatch.roster.holder import RosterHolder
from floodwatch.store import Database
from floodwatch.store.models import AlertRow, HandoverRow, LogEntryRow, VillageWarningRow
from floodwatch.villages.desk import VillageDesk
from floodwatch.web.access import ADMIN, LEADER, OFFICER, Access, Person

VIA = "web"


@dataclass(frozen=True)
class Escalation:
    alert: AlertRow
    pages: int  # pages queued to the next step


@dataclass(frozen=True)
class Broadcasting:
    event: int  # the `broadcast` event's id
    loudspeakers: int  # broadcast pages queued


class Desk:
    def __init__(
        self, db: Database, clock: Clock, roster: RosterHolder, access: Access,
        lifecycle: AlertLifecycle, handovers: HandoverBook, villages: VillageDesk | None,
    ) -> None:  # fmt: skip
        self.db = db
        self.clock = clock
        self.roster = roster
        self.access = access
        self.lifecycle = lifecycle
        self.handovers = handovers
        self.villages = villages

    # -- alerts --------------------------------------------------------------------------------

    def acknowledge(self, who: Person, alert_id: int) -> AlertRow:
        """Take the alert on: its escalation stops (an `ack: all` step waits for everyone)."""
        self.access.require(who, OFFICER, _("acknowledge an alert"))
        return self.lifecycle.acknowledge(alert_id, who.id, VIA, self.clock.now())

    def escalate(self, who: Person, alert_id: int) -> Escalation:
        """Page the next step of the alert's policy now."""
        self.access.require(who, OFFICER, _("escalate an alert"))
        pages = self.lifecycle.escalate_now(alert_id, who.id, VIA, self.clock.now())
        return Escalation(self._alert(alert_id), pages)

    def clear_alert(self, who: Person, alert_id: int) -> AlertRow:
        """Declare the alert over (a leader's decision)."""
        self.access.require(who, LEADER, _("clear an alert"))
        return self.lifecycle.clear(alert_id, who.id, VIA, self.clock.now())

    # -- villages ------------------------------------------------------------------------------

    def clear_village(self, who: Person, village_id: str) -> VillageWarningRow:
        """End a village's warning: its round closes, its loudspeakers say so (the leader on
        duty only: the village desk checks that one)."""
        self.access.require(who, LEADER, _("clear a village's warning"))
        return self._village_desk().clear(village_id, who.id, self.clock.now())

    def broadcast(self, who: Person, village_ids: Sequence[str], text: str) -> Broadcasting:
        """Say `text` on every loudspeaker of the villages, now."""
        self.access.require(who, LEADER, _("broadcast on the loudspeakers"))
        if not village_ids:
            raise Refused(_("choose at least one village"))
        if not text.strip():
            raise Refused(_("the text is empty: write what the loudspeakers should say"))
        event, pages = self._village_desk().broadcast(village_ids, text, who.id, self.clock.now())
        return Broadcasting(event, pages)

    # -- records -------------------------------------------------------------------------------

    def write_log(
        self, who: Person, text: str, kind: str = "note", corrects: int | None = None
    ) -> LogEntryRow:
        """An entry in the duty log, written now by `who`."""
        self.access.require(who, OFFICER, _("write in the duty log"))
        if not text.strip():
            raise Refused(_("the entry is empty: write what happened"))
        if kind not in dutylog.MANUAL:
            raise Refused(
                _("unknown kind {kind} (kinds: {kinds})", kind=kind,
                  kinds=", ".join(dutylog.MANUAL))
            )  # fmt: skip
        with self.db.transaction() as session:
            return dutylog.add(session, self.clock.now(), who.id, text, kind, corrects)

    def hand_over(self, who: Person, note: str) -> HandoverRow:
        """The handover record of the nearest shift change, written by someone going off duty;
        the incoming leader is paged to confirm it."""
        self.access.require(who, OFFICER, _("write a handover record"))
        return self.handovers.write(who.id, note, self.clock.now())

    def accept_handover(self, who: Person) -> HandoverRow:
        """The incoming leader confirms the handover record waiting for them."""
        self.access.require(who, OFFICER, _("confirm a handover record"))
        row = self.handovers.waiting()
        if row.alert_id is None:  # waiting() only returns records with an alert
            raise Refused(_("handover record #{id} has no alert to confirm", id=row.id))
        self.lifecycle.acknowledge(row.alert_id, who.id, VIA, self.clock.now())
        return row

    # -- people --------------------------------------------------------------------------------

    def set_password(self, who: Person, person: str, password: str) -> int:
        """An administrator gives `person` a new password (their sessions end)."""
        self.access.require(who, ADMIN, _("set people's passwords"))
        return users.set_password(
            self.db, self.roster.current, person, password, who.id, self.clock.now()
        )

    # -- helpers -------------------------------------------------------------------------------

    def _village_desk(self) -> VillageDesk:
        if self.villages is None:
            raise Unknown(_("no villages are configured (config: villages)"))
        return self.villages

    def _alert(self, alert_id: int) -> AlertRow:
        with self.db.sessions() as session:
            alert = session.get(AlertRow, alert_id)
        if alert is None:  # deleted meanwhile: only a hand-edited database gets here
            raise Unknown(_("no alert #{id}", id=alert_id))
        return alert
