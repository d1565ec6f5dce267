"""Pipeline events: one frozen dataclass per event type, one JSON shape each.

Events are the audit trail and a contract: `floodwatch replay --json` prints them, reports count
them. Every event has `type`, `at`, `alert`, `station` and `level` (None where they do not
apply) and the fields of its class. They are written by one function, `store.events.record`,
in the same transaction as the change they describe. README's "Event types" table is checked
against `EVENT_TYPES` by a test.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

# fields every event has, at the top level of its JSON shape, beside `type` and `at`
COMMON = ("alert", "station", "level")


@dataclass(frozen=True, kw_only=True)
class Event:
    """The fields every event carries; `type` names the event in storage and in JSON."""

    type: ClassVar[str]
    doc: ClassVar[str]
    alert: int | None = None
    station: str | None = None
    level: str | None = None

    def data(self) -> dict[str, Any]:
        """The event's own fields under their JSON names (the common ones excluded)."""
        return {
            f.metadata.get("json", f.name): getattr(self, f.name)
            for f in fields(self)
            if f.name not in COMMON
        }

    @classmethod
    def json_fields(cls) -> list[str]:
        """The JSON names of the event's own fields, in order."""
        return [f.metadata.get("json", f.name) for f in fields(cls) if f.name not in COMMON]


# -- alerts ------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class AlertChanged(Event):
    """An alert moved. `detail` depends on the rule type: rainfall {window, sums, incomplete},
    rate_of_rise {rates}, forecast {window, until}, official {headline, warning_id, msg_type},
    silence {last_observed_at}; threshold {}. A `cleared` by hand has {by, via}."""

    previous: str | None = field(default=None, metadata={"json": "from"})
    value: float
    unit: str
    rule: str
    rule_type: str
    observed_at: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Opened(AlertChanged):
    type = "opened"
    doc = "a rule crossed its first level: an alert opens and the first escalation step is paged"


@dataclass(frozen=True, kw_only=True)
class Raised(AlertChanged):
    type = "raised"
    doc = "the alert reached a higher level; an acknowledgement given before no longer holds"


@dataclass(frozen=True, kw_only=True)
class Lowered(AlertChanged):
    type = "lowered"
    doc = "the alert fell to a lower level (after the rule's deadband and hold)"


@dataclass(frozen=True, kw_only=True)
class Cleared(AlertChanged):
    type = "cleared"
    doc = "the alert is over"


@dataclass(frozen=True, kw_only=True)
class Retired(Event):
    type = "retired"
    doc = (
        "an open alert was closed because what it watched (its rule, station, feed or "
        "escalation policy) was removed from the config"
    )
    rule: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class Escalated(Event):
    type = "escalated"
    doc = (
        "nobody acknowledged in time, or `by` asked for it at once: the next step is paged "
        "(`repeat`: the last step again)"
    )
    step: int
    repeat: bool
    by: str | None = None


@dataclass(frozen=True, kw_only=True)
class Acknowledged(Event):
    type = "acknowledged"
    doc = (
        "a person answered (`via`: cli, sms, voice or web); escalation stops, unless the step "
        "says `ack: all` and `pending` still lists people who must answer"
    )
    by: str
    role: str | None
    via: str
    pending: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class WarningUpdated(Event):
    type = "warning_updated"
    doc = "an official warning was reissued at the same level: the alert follows the new message"
    warning_id: str
    headline: str
    msg_type: str


@dataclass(frozen=True, kw_only=True)
class WarningNotActual(Event):
    type = "warning_not_actual"
    doc = "an official warning marked Exercise, Test, System or Draft: recorded, not paged"
    warning_id: str
    status: str


# -- pages -------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PageQueued(Event):
    type = "page_queued"
    doc = "a page to one person on one channel was written to the outbox"
    to: str
    role: str | None
    channel: str
    page: int
    cause: str


@dataclass(frozen=True, kw_only=True)
class Attempt(Event):
    to: str
    role: str | None
    channel: str
    page: int
    attempt: int
    outcome: str
    detail: str | None


@dataclass(frozen=True, kw_only=True)
class PageSent(Attempt):
    type = "page_sent"
    doc = "the channel accepted or delivered the page"


@dataclass(frozen=True, kw_only=True)
class PageRetry(Attempt):
    type = "page_retry"
    doc = "an attempt failed in a way that may pass: the page is tried again after a backoff"


@dataclass(frozen=True, kw_only=True)
class PageFailed(Attempt):
    type = "page_failed"
    doc = "the page cannot be delivered (a permanent failure, or every attempt used)"


@dataclass(frozen=True, kw_only=True)
class PageConfirmed(Attempt):
    type = "page_confirmed"
    doc = "the provider later confirmed delivery of a page it had accepted (a status callback)"


@dataclass(frozen=True, kw_only=True)
class PageFailover(Event):
    type = "page_failover"
    doc = (
        "a page failed for good, so the person's next contact is tried: `page` (on `channel`) "
        "instead of `instead_of`"
    )
    to: str
    role: str | None
    channel: str
    page: int
    instead_of: int


@dataclass(frozen=True, kw_only=True)
class PageUnknown(Event):
    type = "page_unknown"
    doc = (
        "a page may or may not have gone out and its channel cannot resend safely: not resent; "
        "the officers on duty are told"
    )
    to: str
    role: str | None
    channel: str
    page: int
    detail: str


@dataclass(frozen=True, kw_only=True)
class PersonUnreachable(Event):
    type = "person_unreachable"
    doc = "every contact of a person failed: the officers on duty are paged with who and why"
    to: str
    role: str | None
    reasons: list[str]


@dataclass(frozen=True, kw_only=True)
class Unreachable(Event):
    type = "unreachable"
    doc = "a channel has no address for a person (e.g. no phone number): nothing was queued"
    to: str
    role: str | None
    channel: str


@dataclass(frozen=True, kw_only=True)
class NobodyOnDuty(Event):
    type = "nobody_on_duty"
    doc = "an escalation step named a role that had nobody on duty at that moment"
    role: str


@dataclass(frozen=True, kw_only=True)
class PageSuppressed(Event):
    type = "page_suppressed"
    doc = "the station is in a maintenance window: the alert moved, nobody was paged"
    cause: str
    reason: str


# -- duty --------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Handover(Event):
    type = "handover"
    doc = "a shift changed hands; `incoming` and `outgoing` map roles to person ids"
    at_local: str
    incoming: dict[str, list[str]]
    outgoing: dict[str, list[str]]


@dataclass(frozen=True, kw_only=True)
class HandoverReminder(Event):
    type = "handover_reminder"
    doc = "the incoming team was reminded of its shift"
    at_local: str


@dataclass(frozen=True, kw_only=True)
class CoverageGaps(Event):
    type = "coverage_gaps"
    doc = "the daily coverage check found roles short of people in the coming days"
    gaps: list[str]


@dataclass(frozen=True, kw_only=True)
class RosterReloaded(Event):
    type = "roster_reloaded"
    doc = "an edited roster passed every check and took effect (`version` counts from start-up)"
    version: int
    changes: list[str]


@dataclass(frozen=True, kw_only=True)
class RosterRejected(Event):
    type = "roster_rejected"
    doc = "an edited roster failed a check; the roster in force stays"
    errors: list[str]


# -- feeds -------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class FeedDegraded(Event):
    type = "feed_degraded"
    doc = (
        "a feed failed or lost part of its sources; `stations` are those it serves, `why` what "
        "failed"
    )
    feed: str
    stations: list[str]
    why: str | None = None


@dataclass(frozen=True, kw_only=True)
class FeedRecovered(Event):
    type = "feed_recovered"
    doc = "a degraded feed works again"
    feed: str
    stations: list[str]


@dataclass(frozen=True, kw_only=True)
class FeedDown(Event):
    type = "feed_down"
    doc = (
        "a feed has been degraded longer than its stations' `expect_every`: the officers on duty "
        "are paged with the feed and `why`"
    )
    feed: str
    stations: list[str]
    since: str
    why: str


# -- the system itself --------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class DatabaseOutage(Event):
    type = "database_outage"
    doc = (
        "the database could not be reached from `since` to `until` (recorded on recovery); "
        "`told` lists whom floodwatch told directly, outside the outbox"
    )
    since: str
    until: str
    seconds: int
    cause: str
    told: list[str]


# -- the duty office's records (floodwatch.records) ---------------------------------------------


@dataclass(frozen=True, kw_only=True)
class HandoverWritten(Event):
    type = "handover_written"
    doc = (
        "the outgoing team wrote handover record `handover` for the shift change at "
        "`handover_at`; `alert` (rule type handover) asks the incoming leader to confirm it"
    )
    handover: int
    by: str
    handover_at: str
    outgoing: dict[str, list[str]]
    incoming: dict[str, list[str]]
    open_alerts: list[int]
    open_hazards: list[int]
    note: str


@dataclass(frozen=True, kw_only=True)
class HandoverAccepted(Event):
    type = "handover_accepted"
    doc = "the incoming leader confirmed handover record `handover` (`via`: cli, sms, voice or web)"
    handover: int
    by: str
    via: str


@dataclass(frozen=True, kw_only=True)
class HazardAdded(Event):
    type = "hazard_added"
    doc = "a hazard found on patrol was recorded with its owner and the day it is due (隐患整改)"
    hazard: int
    where: str
    what: str
    owner: str
    due: str
    village: str | None
    by: str


@dataclass(frozen=True, kw_only=True)
class HazardReminded(Event):
    type = "hazard_reminded"
    doc = "a hazard's owner was paged that its deadline is near"
    hazard: int
    owner: str
    due: str


@dataclass(frozen=True, kw_only=True)
class HazardOverdue(Event):
    type = "hazard_overdue"
    doc = "a hazard passed its deadline unrectified: the leader on duty is paged, once"
    hazard: int
    owner: str
    due: str


@dataclass(frozen=True, kw_only=True)
class HazardDone(Event):
    type = "hazard_done"
    doc = "a hazard was rectified; `note` says how"
    hazard: int
    by: str
    note: str


@dataclass(frozen=True, kw_only=True)
class ReportSent(Event):
    type = "report_sent"
    doc = "the daily report of `date` was sent to `to`; `path` is the file it was saved to"
    date: str
    to: list[str]
    path: str | None


# -- villages: warnings, 叫应, broadcasts, drills (floodwatch.villages) ---------------------------


@dataclass(frozen=True, kw_only=True)
class VillageWarned(Event):
    type = "village_warned"
    doc = (
        "a village was warned to prepare to move or to move now (`warning`; `from`: the warning "
        "it raises), by the readings (`cause`) or by hand (`by`): `alert` is its round of 叫应 "
        "(every responsible person is paged and must answer) and its loudspeakers are sounded"
    )
    village: str
    warning: str
    previous: str | None = field(default=None, metadata={"json": "from"})
    by: str | None = None
    cause: dict[str, Any] = field(default_factory=dict)
    drill: int | None = None


@dataclass(frozen=True, kw_only=True)
class VillageUnanswered(Event):
    type = "village_unanswered"
    doc = (
        "the village's wait passed and `pending` responsible persons had not answered: the "
        "leader on duty (`told`) was paged with their names"
    )
    village: str
    warning: str
    pending: list[str]
    told: list[str]
    drill: int | None = None


@dataclass(frozen=True, kw_only=True)
class VillageReminded(Event):
    type = "village_reminded"
    doc = "a village warning still stands (since `since`): the leader on duty (`told`) was reminded"
    village: str
    warning: str
    since: str
    told: list[str]


@dataclass(frozen=True, kw_only=True)
class VillageMoved(Event):
    type = "village_moved"
    doc = (
        "`by` reported `households` and `people` moved; `total_households` and "
        "`total_people` are the village's figures so far"
    )
    village: str
    by: str
    via: str
    households: int
    people: int
    total_households: int
    total_people: int
    drill: int | None = None


@dataclass(frozen=True, kw_only=True)
class VillageCleared(Event):
    type = "village_cleared"
    doc = "the leader on duty (`by`) cleared the village's warning: the loudspeakers say so"
    village: str
    warning: str
    by: str
    drill: int | None = None


@dataclass(frozen=True, kw_only=True)
class Broadcast(Event):
    type = "broadcast"
    doc = (
        "`by` broadcast `text` by hand to the loudspeakers of `villages` (`loudspeakers`: each "
        "one's id)"
    )
    by: str
    villages: list[str]
    loudspeakers: list[str]
    text: str
    drill: int | None = None


@dataclass(frozen=True, kw_only=True)
class DrillStarted(Event):
    type = "drill_started"
    doc = (
        "`by` started drill `drill`: the station's drill alert (`alert`) at `level`, and the "
        "villages' drill warnings; every message is marked 演练 / EXERCISE"
    )
    drill: int
    by: str
    villages: list[str]


@dataclass(frozen=True, kw_only=True)
class DrillEnded(Event):
    type = "drill_ended"
    doc = (
        "drill `drill` ended: how many people were `reached`, how many `answered` and how many "
        "`never` did, how many loudspeakers were `dispatched`"
    )
    drill: int
    by: str
    reached: int
    answered: int
    never: int
    dispatched: int


EVENT_TYPES: dict[str, type[Event]] = {
    cls.type: cls
    for cls in (
        Opened, Raised, Lowered, Cleared, Retired, Escalated, Acknowledged, WarningUpdated,
        WarningNotActual, PageQueued, PageSent, PageRetry, PageFailed, PageConfirmed,
        PageFailover, PageUnknown, PersonUnreachable, Unreachable, NobodyOnDuty, PageSuppressed,
        Handover, HandoverReminder, CoverageGaps, RosterReloaded, RosterRejected, FeedDegraded,
        FeedRecovered, FeedDown, DatabaseOutage, HandoverWritten, HandoverAccepted, HazardAdded,
        HazardReminded, HazardOverdue, HazardDone, ReportSent, VillageWarned,
        VillageUnanswered, VillageReminded, VillageMoved, VillageCleared, Broadcast, DrillStarted,
        DrillEnded,
    )
}  # fmt: skip
