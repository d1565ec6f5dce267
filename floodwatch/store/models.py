"""Tables. Every reading, alert, page, delivery attempt and pipeline event is kept."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out; naive datetimes are refused.

    PostgreSQL keeps them as timestamptz; SQLite, which has no zones, as naive UTC text.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} given to the database")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


class ReadingRow(Base):
    __tablename__ = "readings"
    __table_args__ = (UniqueConstraint("station", "parameter", "observed_at", name="uq_reading"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    station: Mapped[str] = mapped_column(String(64))
    parameter: Mapped[str] = mapped_column(String(64))
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(16))
    observed_at: Mapped[datetime]
    received_at: Mapped[datetime]
    feed: Mapped[str | None] = mapped_column(String(64))
    # why the reading was not evaluated: below_minimum, above_maximum, spike; None: it was
    quality: Mapped[str | None] = mapped_column(String(32))


class RuleStateRow(Base):
    """Hysteresis memory of one rule at one station (see rules.threshold.RuleState)."""

    __tablename__ = "rule_states"

    rule_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    level: Mapped[str | None] = mapped_column(String(64))
    below_since: Mapped[datetime | None]
    last_observed_at: Mapped[datetime | None]
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)  # e.g. a rain rule's recent amounts


class AlertRow(Base):
    __tablename__ = "alerts"
    __table_args__ = (
        # at most one open alert per (station, rule)
        Index(
            "uq_open_alert",
            "station",
            "rule_id",
            unique=True,
            sqlite_where=text("state = 'open'"),
            postgresql_where=text("state = 'open'"),
        ),
        Index("ix_alert_due", "next_escalation_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # the type of rule that raised it: threshold, rainfall, rate_of_rise, forecast, silence,
    # official
    rule_type: Mapped[str] = mapped_column(String(32), default="threshold")
    station: Mapped[str] = mapped_column(String(64))
    parameter: Mapped[str] = mapped_column(String(64))
    rule_id: Mapped[str] = mapped_column(String(64))
    # for official warnings: the identifier of the message now in force
    external_id: Mapped[str | None] = mapped_column(String(200), index=True)
    level: Mapped[str] = mapped_column(String(64))
    peak_level: Mapped[str] = mapped_column(String(64))
    # open | cleared | retired (closed because what it watched left the config)
    state: Mapped[str] = mapped_column(String(16))
    value: Mapped[float] = mapped_column(Float)  # the reading behind the last change
    unit: Mapped[str] = mapped_column(String(16))
    opened_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    cleared_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    acknowledged_via: Mapped[str | None] = mapped_column(String(16))  # cli, sms, voice, web
    policy: Mapped[str] = mapped_column(String(64))
    escalation_step: Mapped[int] = mapped_column(Integer, default=0)
    next_escalation_at: Mapped[datetime | None]


class PageRow(Base):
    """One message to one person on one channel: the outbox."""

    __tablename__ = "pages"
    __table_args__ = (
        Index("ix_page_due", "status", "next_attempt_at"),
        # a lane's claim: its channel's pages of one status, in the order they fall due
        Index("ix_page_lane", "status", "channel", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"))
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"))
    person: Mapped[str] = mapped_column(String(64))
    role: Mapped[str | None] = mapped_column(String(64))  # why this person was paged
    channel: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    # pending -> sending -> delivered | accepted | failed | unknown; sending -> pending on retry
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    claimed_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    # the short code the person answers with on a channel that carries answers (SMS: "3a")
    reply_code: Mapped[int | None] = mapped_column(Integer)
    # the page this one replaces after a permanent failure (the person's next contact)
    failover_of: Mapped[int | None] = mapped_column(ForeignKey("pages.id"))
    # the escalation step this page was sent for (opened: 0, escalated: the step reached)
    step: Mapped[int | None] = mapped_column(Integer)


class DeliveryRow(Base):
    """One attempt to deliver a page; written before the notifier is called."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    page_id: Mapped[int] = mapped_column(ForeignKey("pages.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text)
    provider_id: Mapped[str | None] = mapped_column(String(200))
    node: Mapped[str] = mapped_column(String(64))


class EventRow(Base):
    """Every pipeline event, in order: the audit trail and what `replay --json` prints."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_event_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    type: Mapped[str] = mapped_column(String(32))
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"))
    station: Mapped[str | None] = mapped_column(String(64))
    level: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ServiceStateRow(Base):
    """Small named facts a process must share with others (e.g. the demo clock's origin)."""

    __tablename__ = "service_state"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]]


class LogEntryRow(Base):
    """The duty log (值班记录): what happened on duty, written by people and by floodwatch."""

    __tablename__ = "duty_log"
    __table_args__ = (Index("ix_duty_log_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    # the entry's type: handover, roster, coverage, feed_degraded, ... (records.dutylog)
    kind: Mapped[str] = mapped_column(String(32))
    # entries are never edited: a correction is a new entry pointing at the one it corrects
    corrects: Mapped[int | None] = mapped_column(ForeignKey("duty_log.id"))
    author: Mapped[str] = mapped_column(String(64))  # a person id, or "floodwatch"
    text: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ReplyCodeRow(Base):
    """Which alert a reply code stands for, per address (a phone number): GoAlert's scheme, a
    small number per phone, reused once its alert is over."""

    __tablename__ = "reply_codes"

    address: Mapped[str] = mapped_column(String(200), primary_key=True)
    code: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    created_at: Mapped[datetime]


class AcknowledgementRow(Base):
    """Each person's answer to an alert, whatever the path (an alert whose policy step says
    `ack: all` is acknowledged when everyone paged in the step has answered). A person answers
    a step once per rise: after the alert rose, the same step may be answered again."""

    __tablename__ = "acknowledgements"
    __table_args__ = (
        UniqueConstraint("alert_id", "person", "step", "at", name="uq_ack_person_step_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    person: Mapped[str] = mapped_column(String(64))
    step: Mapped[int] = mapped_column(Integer)  # the escalation step the alert was at
    via: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime]


class ApiTokenRow(Base):
    """A person's token for the acknowledgement API (only its SHA-256 is kept)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    person: Mapped[str] = mapped_column(String(64), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class InboundRow(Base):
    """A provider's request the web app has acted on (Twilio's MessageSid / CallSid and the
    request's signature): a replayed request is refused, not acted on twice."""

    __tablename__ = "inbound_requests"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    at: Mapped[datetime]


class HandoverRow(Base):
    """A handover record (交接班记录): who hands over to whom, what is left open, the note, and
    the incoming leader's confirmation."""

    __tablename__ = "handovers"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]  # when it was written
    # the shift change it is for (None only in rows written before migration 0006)
    handover_at: Mapped[datetime | None] = mapped_column(index=True)
    by: Mapped[str] = mapped_column(String(64))  # who wrote it (the outgoing team)
    outgoing: Mapped[dict[str, Any]]  # role -> person ids
    incoming: Mapped[dict[str, Any]]
    open_alerts: Mapped[dict[str, Any]]  # {"alerts": [...]} as they stood
    open_hazards: Mapped[dict[str, Any]]
    note: Mapped[str] = mapped_column(Text)
    # the alert that reminds and escalates until the incoming leader confirms (rule type
    # "handover"); its acknowledgement is the confirmation
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"))
    accepted_at: Mapped[datetime | None]
    accepted_by: Mapped[str | None] = mapped_column(String(64))
    accepted_via: Mapped[str | None] = mapped_column(String(16))


class HazardRow(Base):
    """A hazard found on patrol and its rectification (隐患整改)."""

    __tablename__ = "hazards"

    id: Mapped[int] = mapped_column(primary_key=True)
    found_at: Mapped[datetime]
    found_by: Mapped[str] = mapped_column(String(64))
    where: Mapped[str] = mapped_column(Text)
    what: Mapped[str] = mapped_column(Text)
    owner: Mapped[str] = mapped_column(String(64))
    due: Mapped[datetime]  # the end of the due day, local, as an instant
    village: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))  # open | done
    done_at: Mapped[datetime | None]
    done_by: Mapped[str | None] = mapped_column(String(64))
    reminded_at: Mapped[datetime | None]
    overdue_at: Mapped[datetime | None]  # when the leader was paged that it is overdue


class HazardEventRow(Base):
    """A hazard's whole history: added, reminded, overdue, done, noted."""

    __tablename__ = "hazard_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    hazard_id: Mapped[int] = mapped_column(ForeignKey("hazards.id"), index=True)
    at: Mapped[datetime]
    by: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")


class DrillRow(Base):
    """A drill (演练) of the warning chain: its own alerts and village warnings, all marked, and
    what became of them (floodwatch.villages.drills)."""

    __tablename__ = "drills"

    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime]
    started_by: Mapped[str] = mapped_column(String(64))
    level: Mapped[str] = mapped_column(String(64))
    station: Mapped[str] = mapped_column(String(64))
    villages: Mapped[dict[str, Any]]  # {"villages": [ids]}
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"))  # the station's
    ended_at: Mapped[datetime | None]
    ended_by: Mapped[str | None] = mapped_column(String(64))


class VillageWarningRow(Base):
    """A village warning (准备转移 / 立即转移) from its issue until the leader on duty clears it.
    Each warning level is one round of 叫应: an alert (rule type "village", or "drill") whose
    acknowledgements are the responsible persons' answers."""

    __tablename__ = "village_warnings"
    __table_args__ = (
        # at most one real warning standing per village (drills have their own)
        Index(
            "uq_standing_warning",
            "village",
            unique=True,
            sqlite_where=text("state = 'standing' AND drill_id IS NULL"),
            postgresql_where=text("state = 'standing' AND drill_id IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    village: Mapped[str] = mapped_column(String(64), index=True)
    drill_id: Mapped[int | None] = mapped_column(ForeignKey("drills.id"), index=True)
    level: Mapped[str] = mapped_column(String(16))  # prepare | move_now
    state: Mapped[str] = mapped_column(String(16))  # standing | cleared
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"))  # the current round
    issued_at: Mapped[datetime]
    issued_by: Mapped[str] = mapped_column(String(64))  # a person id, or "floodwatch"
    raised_at: Mapped[datetime | None]  # to move_now
    raised_by: Mapped[str | None] = mapped_column(String(64))
    # what set the current level: {"kind": "level"|"rain"|"hand"|"drill", ...} (villages.desk)
    cause: Mapped[dict[str, Any]] = mapped_column(default=dict)
    answer_by: Mapped[datetime | None]  # 叫应 deadline of the current round (None: done)
    remind_at: Mapped[datetime | None]  # when the leader on duty is next reminded
    cleared_at: Mapped[datetime | None]
    cleared_by: Mapped[str | None] = mapped_column(String(64))


class EvacuationReportRow(Base):
    """Households and people moved, as a responsible person reported them for a warning (their
    latest report counts; a village's figure is the sum over its reporters)."""

    __tablename__ = "evacuation_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    warning_id: Mapped[int] = mapped_column(ForeignKey("village_warnings.id"), index=True)
    at: Mapped[datetime]
    by: Mapped[str] = mapped_column(String(64))
    via: Mapped[str] = mapped_column(String(16))
    households: Mapped[int] = mapped_column(Integer)
    people: Mapped[int] = mapped_column(Integer)


class UserRow(Base):
    """A person's sign-in to the duty console: their password (an argon2id hash, never the
    password) set by `floodwatch user set-password`. The person is a roster id: whoever leaves
    the rosters cannot sign in any more, whatever this row says."""

    __tablename__ = "users"

    person: Mapped[str] = mapped_column(String(64), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    # raised at each new password: a session signed for an older one is refused
    generation: Mapped[int] = mapped_column(Integer, default=1)
    set_at: Mapped[datetime]
    set_by: Mapped[str] = mapped_column(String(64))  # an admin's person id, "cli" or "demo"


class RevokedSessionRow(Base):
    """A console session ended by signing out before its cookie expired: its cookie is refused
    from then on (a copied cookie must not outlive the sign-out). Kept until the cookie would
    have expired anyway, then deleted."""

    __tablename__ = "web_revoked_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the cookie's session id
    person: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class WebKeyRow(Base):
    """Secrets the web app makes for itself and every node shares (the key that signs session
    cookies): made at random on first use, kept in the database, never in a file."""

    __tablename__ = "web_keys"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]
