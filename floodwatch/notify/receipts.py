"""A provider's later word on a page it accepted (Twilio's status callbacks): delivered, failed,
or worth another try. Applied to the page and its delivery row, never backwards: a late or
repeated callback changes nothing once the page is delivered or failed."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from floodwatch.config import Delivery
from floodwatch.events import Attempt, PageConfirmed, PageFailed, PageRetry
from floodwatch.notify.base import Outcome
from floodwatch.store import Database
from floodwatch.store.events import record
from floodwatch.store.models import AlertRow, DeliveryRow, PageRow

log = logging.getLogger(__name__)

# what happens to the page when a page has failed for good: the next contact (set by the app)
OnFailed = Callable[[Session, PageRow, datetime], int]


class Receipts:
    def __init__(self, db: Database, delivery: Delivery, on_failed: OnFailed | None = None) -> None:
        self.db = db
        self.delivery = delivery
        self.on_failed = on_failed

    def update(
        self, provider_id: str, outcome: Outcome, detail: str, now: datetime,
        provider_code: str | None = None,
    ) -> str:  # fmt: skip
        """Apply the provider's word on the delivery it knows as `provider_id`; returns the
        page's status afterwards ("" when no delivery has that id)."""
        with self.db.transaction() as session:
            delivery = session.scalars(
                select(DeliveryRow)
                .where(DeliveryRow.provider_id == provider_id)
                .order_by(DeliveryRow.id.desc())
                .limit(1)
            ).first()
            if delivery is None:
                log.warning("a receipt for %s, which no delivery knows", provider_id)
                return ""
            page = session.get(PageRow, delivery.page_id, with_for_update=True)
            if page is None:
                return ""
            if page.status != "accepted":  # only an accepted page waits for a word
                return page.status
            alert = session.get(AlertRow, page.alert_id) if page.alert_id else None
            delivery.detail = detail or delivery.detail

            def event(kind: type[Attempt]) -> Attempt:
                return kind(
                    alert=page.alert_id, station=alert.station if alert else None,
                    level=alert.level if alert else None, to=page.person, role=page.role,
                    channel=page.channel, page=page.id, attempt=delivery.attempt,
                    outcome=outcome.value, detail=detail or None,
                )  # fmt: skip

            if outcome is Outcome.DELIVERED:
                page.status = delivery.outcome = "delivered"
                record(session, now, event(PageConfirmed))
            elif outcome is Outcome.RETRYABLE and page.attempts < self.delivery.max_attempts:
                page.status, delivery.outcome = "pending", "retryable"
                page.next_attempt_at = now + self.delivery.backoff * (2 ** (page.attempts - 1))
                record(session, now, event(PageRetry))
            elif outcome in (Outcome.PERMANENT, Outcome.RETRYABLE):
                page.status, delivery.outcome = "failed", outcome.value
                record(session, now, event(PageFailed))
                log.warning("page #%d to %s via %s failed after acceptance: %s (%s)", page.id,
                            page.person, page.channel, detail, provider_code)  # fmt: skip
                if self.on_failed is not None:
                    self.on_failed(session, page, now)
            return page.status
