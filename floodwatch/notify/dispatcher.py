"""Deliver the outbox: claim due pages, record each attempt before and after the notifier call.

A page is claimed with a conditional update (PostgreSQL: ``FOR UPDATE SKIP LOCKED``), so two
dispatchers never send one page at the same time; a claim left by a crashed process expires
after ``claim_timeout`` and the page is sent again with the same idempotency key.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select

from floodwatch.config import Delivery
from floodwatch.events import PageFailed, PageRetry, PageSent
from floodwatch.notify.base import DeliveryResult, Message, Notifier, Outcome
from floodwatch.store import Database
from floodwatch.store.events import record
from floodwatch.store.models import AlertRow, DeliveryRow, PageRow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Claim:
    message: Message
    channel: str
    alert_id: int | None
    attempt: int
    delivery_id: int


class Dispatcher:
    def __init__(
        self, db: Database, notifiers: Mapping[str, Notifier], delivery: Delivery, node: str
    ) -> None:
        self.db = db
        self.notifiers = notifiers
        self.delivery = delivery
        self.node = node

    def deliver_due(self, now: datetime, batch: int = 200) -> int:
        """Send every page due at `now`; returns how many attempts were made."""
        attempts = 0
        while claims := self._claim(now, batch):
            for claim in claims:
                self._deliver(claim, now)
            attempts += len(claims)
            if len(claims) < batch:
                # Nothing else was due: asking again would only queue for the write lock
                # behind the next ingest. Pages committed since come with their own wake-up.
                break
        return attempts

    def next_due(self) -> datetime | None:
        """When the earliest pending page (a retry waiting for its backoff) is due."""
        with self.db.sessions() as session:
            return session.scalar(
                select(PageRow.next_attempt_at)
                .where(PageRow.status == "pending")
                .order_by(PageRow.next_attempt_at)
                .limit(1)
            )

    def _claim(self, now: datetime, batch: int) -> list[_Claim]:
        stale = now - self.delivery.claim_timeout
        with self.db.transaction() as session:
            pages = session.scalars(
                select(PageRow)
                .where(
                    or_(
                        and_(PageRow.status == "pending", PageRow.next_attempt_at <= now),
                        and_(PageRow.status == "sending", PageRow.claimed_at <= stale),
                    )
                )
                .order_by(PageRow.id)
                .limit(batch)
                .with_for_update(skip_locked=True)
            ).all()
            deliveries = []
            for page in pages:
                if page.status == "sending":
                    log.warning(
                        "page #%d: claim by %s expired; sending again", page.id, page.claimed_by
                    )
                page.status = "sending"
                page.claimed_at = now
                page.claimed_by = self.node
                page.attempts += 1
                delivery = DeliveryRow(
                    page_id=page.id, attempt=page.attempts, started_at=now, node=self.node
                )
                session.add(delivery)
                deliveries.append(delivery)
            session.flush()  # one flush for the batch: it gives every delivery its id
            claims = []
            for page, delivery in zip(pages, deliveries, strict=True):
                message = Message(
                    page.id, page.idempotency_key, page.person, page.address, page.language,
                    page.subject, page.body, page.alert_id, page.reply_code,
                )  # fmt: skip
                claims.append(
                    _Claim(message, page.channel, page.alert_id, page.attempts, delivery.id)
                )
            return claims

    def _deliver(self, claim: _Claim, now: datetime) -> None:
        notifier = self.notifiers.get(claim.channel)
        if notifier is None:
            result = DeliveryResult(Outcome.PERMANENT, f"no notifier named {claim.channel!r}")
        else:
            try:
                result = notifier.send(claim.message)
            except Exception as exc:  # a channel's bug must not stop the other pages
                log.exception(
                    "notifier %s crashed on page #%d", claim.channel, claim.message.page_id
                )
                result = DeliveryResult(Outcome.UNKNOWN, f"notifier crashed: {exc!r}")
        self._record(claim, result, now)

    def _record(self, claim: _Claim, result: DeliveryResult, now: datetime) -> None:
        d = self.delivery
        with self.db.transaction() as session:
            page = session.get(PageRow, claim.message.page_id, with_for_update=True)
            delivery = session.get(DeliveryRow, claim.delivery_id)
            # read before anything changes, so that reading it does not flush half the record
            alert = session.get(AlertRow, claim.alert_id) if claim.alert_id else None
            if page is None or delivery is None:  # only a hand-edited database gets here
                log.error("page #%d: its rows are gone; outcome %s not recorded",
                          claim.message.page_id, result.outcome.value)  # fmt: skip
                return
            delivery.finished_at = now
            delivery.outcome = result.outcome.value
            delivery.detail = result.detail or None
            delivery.provider_id = result.provider_id
            page.claimed_at = None
            page.claimed_by = None
            event: type[PageSent | PageFailed | PageRetry]
            if result.outcome.succeeded:
                page.status = result.outcome.value
                event = PageSent
            elif result.outcome is Outcome.PERMANENT or page.attempts >= d.max_attempts:
                page.status = "failed"
                event = PageFailed
            else:  # retryable, or unknown: sent again under the same idempotency key
                page.status = "pending"
                page.next_attempt_at = now + d.backoff * (2 ** (page.attempts - 1))
                event = PageRetry
            if event is not PageSent:
                log.warning(
                    "page #%d to %s via %s: %s (%s)", page.id, page.person, page.channel,
                    result.outcome.value, result.detail,
                )  # fmt: skip
            record(
                session, now,
                event(
                    alert=claim.alert_id, station=alert.station if alert else None,
                    level=alert.level if alert else None, to=page.person, role=page.role,
                    channel=page.channel, page=page.id, attempt=claim.attempt,
                    outcome=result.outcome.value, detail=result.detail or None,
                ),
            )  # fmt: skip
