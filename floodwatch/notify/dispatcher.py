"""Deliver the outbox: claim due pages lane by lane, record each attempt before and after the
notifier call.

A page is claimed with a conditional update (PostgreSQL: ``FOR UPDATE SKIP LOCKED``), so two
dispatchers never send one page at the same time, and only when its lane (notify.lanes) admits
it: a free send slot and a token in each of the channel's buckets. A claim left by a crashed
process expires after ``claim_timeout`` (real time) and the page is sent again with the same
idempotency key.

Outcomes: accepted and delivered succeed; retryable is tried again after a backoff that doubles
with each attempt, jittered, and never sooner than the provider's `retry_after` (which also
holds the lane's sender back); unknown is tried again only where the channel says a resend is
safe, otherwise it stays unknown and the officers on duty are told; permanent, or every attempt
used, fails the page and the person's next contact is tried (notify.failover). Pages queued for
a channel that folds (a chat robot) beyond what its buckets allow now go out as one digest.

Outcomes that lane workers have ready at the same moment are recorded in one transaction
(notify.groupcommit); each worker returns once its own is committed, as if alone.

`deliver_due` sends in the caller's thread (replay, tests, the CLI); `dispatch` hands sends to
each lane's worker threads (the service).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Row, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from floodwatch.config import Delivery
from floodwatch.events import Event, PageFailed, PageRetry, PageSent
from floodwatch.notify.base import (
    DeliveryResult,
    Message,
    Notifier,
    Outcome,
    resend_is_safe,
    sender_of,
)
from floodwatch.notify.groupcommit import GroupCommit
from floodwatch.notify.lanes import Lane
from floodwatch.roster import mask_phone
from floodwatch.store import Database
from floodwatch.store.events import record_all
from floodwatch.store.models import AlertRow, DeliveryRow, PageRow

log = logging.getLogger(__name__)

# what to do with a page that failed for good, or whose outcome is unknown (notify.failover)
AfterPage = Callable[[Session, PageRow, datetime], int]


@dataclass(frozen=True)
class _Claim:
    """One send: one page, or several folded into one digest message (`message`)."""

    message: Message
    channel: str
    sender: str
    pages: tuple[tuple[int, int, int, int | None], ...]  # (page, attempt, delivery, alert)


_Due = Row[*tuple[Any, ...]]  # a page as a claim reads it (_DUE)


@dataclass(frozen=True)
class _Taken:
    """A send claimed in the claim's transaction, before its delivery rows are written."""

    message: Message
    channel: str
    sender: str
    pages: list[tuple[_Due, int]]  # (the page as read, its attempt)

    def claim(self, deliveries: Iterator[int]) -> _Claim:
        pages = tuple((p.id, n, next(deliveries), p.alert_id) for p, n in self.pages)
        return _Claim(self.message, self.channel, self.sender, pages)


# what a claim reads of a page: its message, and what the claim changes or logs
_DUE = (
    PageRow.id, PageRow.idempotency_key, PageRow.person, PageRow.address, PageRow.language,
    PageRow.subject, PageRow.body, PageRow.alert_id, PageRow.reply_code, PageRow.status,
    PageRow.attempts, PageRow.claimed_by,
)  # fmt: skip


_Outcome = tuple[_Claim, DeliveryResult, datetime]  # a send's result, and when it came in


class Dispatcher:
    def __init__(
        self, db: Database, notifiers: Mapping[str, Notifier], delivery: Delivery, node: str,
        *, timer: Callable[[], float] = time.monotonic, speed: float = 1.0,
        rng: random.Random | None = None, failed: AfterPage | None = None,
        unknown: AfterPage | None = None, written: Callable[[], None] | None = None,
        db_error: Callable[[SQLAlchemyError], None] | None = None,
        sent: Callable[[], None] | None = None, pause: Callable[[float], None] = time.sleep,
    ) -> None:  # fmt: skip
        self.db = db
        self.notifiers = notifiers
        self.delivery = delivery
        self.node = node
        self.timer = timer  # the lanes' time, for rate limits (monotonic seconds)
        self.speed = speed  # simulated seconds per real second (the demo clock)
        self.rng = rng or random.Random()
        self.failed = failed
        self.unknown = unknown
        self.written = written or (lambda: None)  # pages were written (failover, notices)
        self.db_error = db_error  # a send's outcome could not be recorded (the database)
        self.sent = sent or (lambda: None)  # a lane worker is free again
        self.pause = pause  # a lane worker waits for its send's start (Lane.pace), real time
        self._lanes: dict[str, Lane] = {}
        self._waiting: float | None = None
        # outcomes of sends made while the database was away: recorded when it is back, before
        # anything is claimed (a send is never made twice because its outcome waited)
        self._kept: list[_Outcome] = []
        self._kept_lock = threading.Lock()
        self._outcomes = GroupCommit(self._record_all)

    def lane(self, channel: str) -> Lane | None:
        notifier = self.notifiers.get(channel)
        if notifier is None:
            return None
        lane = self._lanes.get(channel)
        if lane is None or lane.notifier is not notifier:
            lane = self._lanes[channel] = Lane(channel, notifier, self.timer())
        return lane

    # -- sending -------------------------------------------------------------------------------

    def deliver_due(self, now: datetime, batch: int = 200) -> int:
        """Send every page due at `now` that the lanes admit, in this thread; returns how many
        sends were made (a digest counts once)."""
        self.record_kept()
        sends = 0
        while claims := self._claim(now, batch):
            for claim in claims:
                self._deliver(claim, lambda: now)
            sends += len(claims)
        return sends

    def dispatch(self, now: datetime, clock: Callable[[], datetime], batch: int = 200) -> int:
        """Claim what the lanes admit now and hand each send to its lane's workers; each
        records its outcome when done (at `clock()`). Returns the sends handed over."""
        self.record_kept()
        claims = self._claim(now, batch)
        for claim in claims:
            lane = self.lane(claim.channel)
            if lane is None:
                self._deliver(claim, lambda: now)
                continue
            lane.executor().submit(self._deliver_in_lane, claim, clock)
        return len(claims)

    def _deliver_in_lane(self, claim: _Claim, clock: Callable[[], datetime]) -> None:
        """A lane worker's send. If its outcome cannot be recorded, the claim expires and the
        page goes again under the same idempotency key."""
        try:
            lane = self.lane(claim.channel)
            wait = lane.pace(claim.sender, self.timer()) if lane is not None else 0.0
            if wait > 0:
                self.pause(wait)
            self._deliver(claim, clock)
        except SQLAlchemyError as exc:
            if self.db_error is not None:
                self.db_error(exc)
            else:
                log.error("page(s) %s: outcome not recorded: %s", [p for p, *_ in claim.pages],
                          str(exc).splitlines()[0])  # fmt: skip
        except Exception:
            log.exception("page(s) %s: outcome not recorded", [p for p, *_ in claim.pages])
        finally:
            self.sent()

    def wait(self) -> float | None:
        """Real seconds until a lane that has pages waiting could send again (None: none is
        waiting on its buckets)."""
        return self._waiting

    def shutdown(self) -> None:
        for lane in self._lanes.values():
            lane.shutdown()

    def next_due(self) -> datetime | None:
        """When the earliest pending page (a retry waiting for its backoff) is due."""
        with self.db.sessions() as session:
            return session.scalar(
                select(PageRow.next_attempt_at)
                .where(PageRow.status == "pending")
                .order_by(PageRow.next_attempt_at)
                .limit(1)
            )

    # -- claiming ------------------------------------------------------------------------------

    def _claim(self, now: datetime, batch: int) -> list[_Claim]:
        stale = now - self.delivery.claim_timeout * self.speed  # claim_timeout is real time
        waiting: list[float] = []
        taken: list[_Taken] = []
        with self.db.transaction() as session:
            # the channels with pages waiting or in flight, from ix_page_lane alone: a claim
            # must not read every page waiting (it holds the write lock meanwhile, and a
            # fan-out of thousands of pages is claimed a few pages at a time)
            channels = list(
                session.scalars(
                    select(PageRow.channel)
                    .where(PageRow.status.in_(("pending", "sending")))
                    .distinct()
                    .limit(1000)
                )
            )
            for channel in sorted(channels):
                lane = self.lane(channel)
                slots = lane.free_slots() if lane is not None else batch
                if slots <= 0:
                    continue
                limit = batch if lane is None or lane.foldable else min(batch, slots * 4)
                pages = self._due(session, channel, now, stale, limit)
                taken += self._admit(lane, channel, pages, slots, waiting)
            deliveries = self._write_claims(session, taken, now)
        self._waiting = min(waiting) if waiting else None
        return [t.claim(deliveries) for t in taken]

    def _write_claims(self, session: Session, taken: list[_Taken], now: datetime) -> Iterator[int]:
        """Mark the claimed pages sending and write a delivery row for each: two statements
        for the whole claim. The delivery rows' ids, in the order of `taken`'s pages."""
        rows = [(page, attempt) for t in taken for page, attempt in t.pages]
        if not rows:
            return iter(())
        node = self.node
        session.execute(
            update(PageRow),
            [{"id": p.id, "status": "sending", "claimed_at": now, "claimed_by": node,
              "attempts": n} for p, n in rows],
        )  # fmt: skip
        ids = session.scalars(
            insert(DeliveryRow).returning(DeliveryRow.id, sort_by_parameter_order=True),
            [{"page_id": p.id, "attempt": n, "started_at": now, "node": node} for p, n in rows],
        ).all()
        return iter(ids)

    @staticmethod
    def _due(
        session: Session, channel: str, now: datetime, stale: datetime, limit: int
    ) -> list[_Due]:
        """The channel's first `limit` due pages: those whose claim expired (a crashed sender's,
        oldest first), then those waiting, in the order they fell due (a fan-out: the order
        written). Read through ix_page_lane (status, channel, next_attempt_at) in that order,
        so this reads about `limit` pages however many are waiting."""
        expired = session.execute(
            select(*_DUE)
            .where(PageRow.status == "sending", PageRow.channel == channel)
            .where(PageRow.claimed_at <= stale)
            .order_by(PageRow.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        pending = session.execute(
            select(*_DUE)
            .where(PageRow.status == "pending", PageRow.channel == channel)
            .where(PageRow.next_attempt_at <= now)
            .order_by(PageRow.next_attempt_at, PageRow.id)
            .limit(limit - len(expired))
            .with_for_update(skip_locked=True)
        ).all()
        return [*expired, *pending]

    def _admit(
        self, lane: Lane | None, channel: str, pages: list[_Due], slots: int,
        waiting: list[float],
    ) -> list[_Taken]:  # fmt: skip
        """Claim the pages the lane admits now (folding a robot's surplus into one)."""
        out: list[_Taken] = []
        if lane is None:  # no such notifier: claimed, to be recorded as a permanent failure
            return [self._take([p], channel, "") for p in pages]
        tick = self.timer()
        by_sender: dict[str, list[_Due]] = {}
        for page in pages:
            by_sender.setdefault(sender_of(lane.notifier, _message(page)), []).append(page)
        for sender, group in by_sender.items():
            room = lane.tokens_now(sender, tick) if lane.foldable and len(group) > 1 else 0
            if 0 < room < len(group):  # more than the robot takes now: the rest in one digest
                sends = [[p] for p in group[: room - 1]] + [group[room - 1 :]]
            else:
                sends = [[p] for p in group]
            for send in sends:
                if len(out) >= slots:
                    break
                wait = lane.admit(sender, send[0].address, tick)
                if wait > 0:
                    waiting.append(wait)
                    break  # this sender's pages keep their order: none jumps the queue
                out.append(self._take(send, channel, sender, lane))
        lane.started(len(out))
        return out

    @staticmethod
    def _take(pages: list[_Due], channel: str, sender: str, lane: Lane | None = None) -> _Taken:
        for page in pages:
            if page.status == "sending":
                log.warning(
                    "page #%d: claim by %s expired; sending again", page.id, page.claimed_by
                )
        messages = [_message(p) for p in pages]
        message = messages[0]
        if len(messages) > 1 and lane is not None:
            message = lane.notifier.fold(messages)  # type: ignore[attr-defined]
            log.info("%d pages for %s folded into one digest", len(messages), channel)
        return _Taken(message, channel, sender, [(p, p.attempts + 1) for p in pages])

    # -- one send ------------------------------------------------------------------------------

    def _deliver(self, claim: _Claim, clock: Callable[[], datetime]) -> None:
        """Send one claim and record its outcome at `clock()` (when the outcome came in)."""
        lane = self.lane(claim.channel)
        notifier = self.notifiers.get(claim.channel)
        try:
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
            if result.retry_after and lane is not None:
                tick = self.timer()
                lane.block(claim.sender, tick + result.retry_after, tick)
        finally:
            if lane is not None:
                lane.finished(1)
        at = clock()
        try:
            self._record(claim, result, at)
        except SQLAlchemyError:  # the database went away: kept for when it is back
            with self._kept_lock:
                self._kept.append((claim, result, at))
            raise

    def record_kept(self) -> None:
        """Record the outcomes kept while the database was away, oldest first; SQLAlchemyError
        (what is left stays kept) while it still is."""
        with self._kept_lock:
            kept, self._kept = self._kept, []
        for i, (claim, result, at) in enumerate(kept):
            try:
                self._record(claim, result, at)
            except SQLAlchemyError:
                with self._kept_lock:
                    self._kept[:0] = kept[i:]
                raise
            log.info("page(s) %s: outcome %s recorded after the database came back",
                     [p for p, *_ in claim.pages], result.outcome.value)  # fmt: skip

    def _record(self, claim: _Claim, result: DeliveryResult, now: datetime) -> None:
        """Record one send's outcome, in one transaction with the outcomes other lane workers
        have ready at the same moment (notify.groupcommit)."""
        self._outcomes.write((claim, result, now))

    def _record_all(self, outcomes: list[_Outcome]) -> None:
        """Record sends' outcomes in one transaction: their pages, deliveries and alerts read
        in three queries (the pages locked), then each outcome as `_record_one` says."""
        written = 0
        with self.db.transaction() as session:
            events = _Events(session)
            ids = [page for claim, _, _ in outcomes for page in claim.pages]
            pages = _by_id(session, PageRow, {p for p, *_ in ids}, lock=True)
            deliveries = _by_id(session, DeliveryRow, {d for _, _, d, _ in ids})
            alerts = _by_id(session, AlertRow, {a for *_, a in ids if a})
            for claim, result, now in outcomes:
                resend_safe = resend_is_safe(self.notifiers.get(claim.channel))
                for page_id, attempt, delivery_id, alert_id in claim.pages:
                    page, delivery = pages.get(page_id), deliveries.get(delivery_id)
                    if page is None or delivery is None:  # only a hand-edited database
                        log.error("page #%d: its rows are gone; outcome %s not recorded",
                                  page_id, result.outcome.value)  # fmt: skip
                        continue
                    alert = alerts.get(alert_id) if alert_id else None
                    written += self._record_one(
                        events, page, delivery, alert, attempt, result, now, resend_safe
                    )
            events.write()
        if written:
            self.written()

    def _record_one(
        self, events: _Events, page: PageRow, delivery: DeliveryRow, alert: AlertRow | None,
        attempt: int, result: DeliveryResult, now: datetime, resend_safe: bool,
    ) -> int:  # fmt: skip
        """One page's outcome; returns how many pages failover or a notice wrote."""
        d = self.delivery
        delivery.finished_at = now
        delivery.outcome = result.outcome.value
        delivery.detail = result.detail or None
        delivery.provider_id = result.provider_id
        if page.attempts != attempt:  # claimed again since (this claim had expired):
            return 0  # the later attempt decides what becomes of the page
        page.claimed_at = None
        page.claimed_by = None
        outcome = result.outcome
        event: type[PageSent | PageFailed | PageRetry] | None
        if outcome.succeeded:
            page.status, event = outcome.value, PageSent
        elif outcome is Outcome.UNKNOWN and not resend_safe:
            page.status, event = "unknown", None
        elif outcome is Outcome.PERMANENT or page.attempts >= d.max_attempts:
            page.status, event = "failed", PageFailed
        else:  # retryable, or unknown where a resend is safe: the same idempotency key
            page.status, event = "pending", PageRetry
            page.next_attempt_at = now + self._backoff(page.attempts, result.retry_after)
        if event is not PageSent:
            log.warning(
                "page #%d to %s via %s: %s (%s%s)", page.id, _masked(page.person),
                page.channel, outcome.value, result.detail,
                f", code {result.provider_code}" if result.provider_code else "",
            )  # fmt: skip
        if event is not None:
            events.add(
                now,
                event(
                    alert=page.alert_id, station=alert.station if alert else None,
                    level=alert.level if alert else None, to=page.person,
                    role=page.role, channel=page.channel, page=page.id,
                    attempt=attempt, outcome=outcome.value,
                    detail=result.detail or None,
                ),
            )  # fmt: skip
        after = {"failed": self.failed, "unknown": self.unknown}.get(page.status)
        if after is None:
            return 0
        events.write()  # what failover writes comes after this page's event
        return after(events.session, page, now)

    def _backoff(self, attempts: int, retry_after: float | None) -> timedelta:
        """Doubling with each attempt, jittered (half fixed, half random, so that pages failed
        together do not come back together), and never sooner than the provider asked."""
        base: timedelta = self.delivery.backoff * (2 ** (attempts - 1))
        wait: timedelta = base / 2 + base / 2 * self.rng.random()
        if retry_after is not None:
            wait = max(wait, timedelta(seconds=retry_after * self.speed))
        return wait


Stored = TypeVar("Stored", PageRow, DeliveryRow, AlertRow)


class _Events:
    """The events of a transaction's outcomes, written together (`record_all`: two statements
    for all of them and their duty-log entries)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._pending: list[tuple[datetime, Event]] = []

    def add(self, at: datetime, event: Event) -> None:
        self._pending.append((at, event))

    def write(self) -> None:
        if self._pending:
            record_all(self.session, self._pending)
            self._pending = []


def _by_id(
    session: Session, row: type[Stored], ids: set[int], lock: bool = False
) -> dict[int, Stored]:
    if not ids:
        return {}
    query = select(row).where(row.id.in_(sorted(ids)))  # ids in order: locks taken in order
    return {r.id: r for r in session.scalars(query.with_for_update() if lock else query)}


def _message(page: _Due) -> Message:
    return Message(
        page.id, page.idempotency_key, page.person, page.address, page.language,
        page.subject, page.body, page.alert_id, page.reply_code,
    )  # fmt: skip


def _masked(who: str) -> str:
    return mask_phone(who) if who.startswith("+") else who
