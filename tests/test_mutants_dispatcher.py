"""The dispatcher (notify/dispatcher.py) on its own: an outbox of pages written straight into the
database, a scripted channel, the lanes' time in the test's hands. What each outcome leaves on
record, the backoff to the second, expired claims on the demo clock, rate limits that hold a
sender back (and let none of its pages jump the queue), a robot's surplus folded into one
digest, and the lane workers.

Written for mutants that survived the rest of the suite (tests/README.md)."""

from __future__ import annotations

import itertools
import logging
import random
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from floodwatch.config import Delivery
from floodwatch.notify.base import (
    Capabilities,
    DeliveryResult,
    Message,
    Outcome,
    RateLimits,
)
from floodwatch.notify.buckets import Limit
from floodwatch.notify.dispatcher import Dispatcher
from floodwatch.roster.model import Person
from floodwatch.store import Database
from floodwatch.store.models import AlertRow, DeliveryRow, EventRow, PageRow

from .helpers import log_lines

T0 = datetime(2018, 5, 27, 19, 45, tzinfo=UTC)  # 15:45 EST, the demo flood's yellow alert
KEYS = itertools.count(1)
DELIVERY = Delivery(
    max_attempts=3, backoff=timedelta(seconds=40), claim_timeout=timedelta(minutes=2)
)


class Channel:
    """A channel whose answer per person is scripted (an outcome, a result, or an exception),
    recording every message it is given. `limits`, `capabilities` and a `fold` (a chat robot's
    digest) are what a real channel declares."""

    def __init__(
        self, answers: dict[str, Outcome | DeliveryResult | Exception] | None = None,
        *, limits: RateLimits | None = None, capabilities: Capabilities | None = None,
    ) -> None:  # fmt: skip
        self.name = "file"
        self.answers = answers or {}
        self.limits = limits or RateLimits()
        self.capabilities = capabilities or Capabilities()
        self.sent: list[Message] = []

    def address_for(self, person: Person) -> str | None:
        return person.id

    def send(self, message: Message) -> DeliveryResult:
        self.sent.append(message)
        answer = self.answers.get(message.person, Outcome.DELIVERED)
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, DeliveryResult):
            return answer
        return DeliveryResult(answer, f"scripted {answer.value}")


class Robot(Channel):
    """A chat robot: pages beyond what its buckets allow now are folded into one digest."""

    def fold(self, messages: list[Message]) -> Message:
        first = messages[0]
        return Message(
            first.page_id, "digest:" + "+".join(m.idempotency_key for m in messages),
            first.person, first.address, first.language, f"{len(messages)} pages",
            "\n".join(m.body for m in messages), first.alert_id,
        )  # fmt: skip


class Ticks:
    """The lanes' time (monotonic seconds), moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Middle(random.Random):
    """Jitter pinned to the middle of its range: backoffs come out exact."""

    def random(self) -> float:
        return 0.5


@pytest.fixture
def db(sqlite_url: str) -> Iterator[Database]:
    database = Database(sqlite_url)
    database.upgrade()
    yield database
    database.dispose()


def an_alert(db: Database) -> int:
    with db.transaction() as s:
        alert = AlertRow(
            rule_type="threshold", station="01589025", parameter="stage", rule_id="patapsco-stage",
            level="yellow", peak_level="yellow", state="open", value=20.4, unit="ft",
            opened_at=T0, updated_at=T0, policy="default", escalation_step=0,
        )  # fmt: skip
        s.add(alert)
        s.flush()
        return alert.id


def write(
    db: Database, *people: str, channel: str = "file", due: datetime = T0,
    alert: int | None = None, address: str | None = None,
) -> list[int]:  # fmt: skip
    """One pending page per person, due at `due`; their ids in order."""
    with db.transaction() as s:
        event = EventRow(at=T0, type="opened", alert_id=alert, data={})
        s.add(event)
        s.flush()
        pages = [
            PageRow(
                idempotency_key=f"{channel}:{person}:{next(KEYS)}", alert_id=alert,
                event_id=event.id, person=person, role="officer", channel=channel,
                address=address or person, language="zh-CN", subject="黄色预警",
                body=f"to {person}", status="pending", attempts=0, created_at=T0,
                next_attempt_at=due, step=0,
            )
            for person in people
        ]  # fmt: skip
        s.add_all(pages)
        s.flush()
        return [p.id for p in pages]


def pages(db: Database) -> dict[int, PageRow]:
    with db.sessions() as s:
        return {p.id: p for p in s.scalars(select(PageRow))}


def status(db: Database) -> dict[str, str]:
    return {p.person: p.status for p in pages(db).values()}


def deliveries(db: Database) -> list[DeliveryRow]:
    with db.sessions() as s:
        return list(s.scalars(select(DeliveryRow).order_by(DeliveryRow.id)))


def attempt_events(db: Database) -> list[dict[str, Any]]:
    with db.sessions() as s:
        rows = s.scalars(select(EventRow).where(EventRow.type.like("page_%")).order_by(EventRow.id))
        return [{"type": e.type, "station": e.station, "level": e.level, **e.data} for e in rows]


def dispatcher(db: Database, channel: Channel, **more: Any) -> Dispatcher:
    more.setdefault("rng", Middle())
    return Dispatcher(db, {"file": channel}, DELIVERY, "node-a", **more)


# -- claiming ------------------------------------------------------------------------------------


def test_every_due_page_is_sent_however_small_the_batch(db: Database) -> None:
    write(db, "sun.hao", "zhou.min", "li.ming", "wang.fang", "zhang.wei")
    channel = Channel()
    assert dispatcher(db, channel).deliver_due(T0, batch=2) == 5  # in three claims
    assert [m.person for m in channel.sent] == [
        "sun.hao", "zhou.min", "li.ming", "wang.fang", "zhang.wei",
    ]  # in the order written  # fmt: skip
    assert set(status(db).values()) == {"delivered"}


def test_a_page_goes_out_when_it_falls_due_and_not_before(db: Database) -> None:
    write(db, "sun.hao", due=T0 + timedelta(minutes=5))
    channel = Channel()
    d = dispatcher(db, channel)
    assert d.next_due() == T0 + timedelta(minutes=5)
    assert d.deliver_due(T0 + timedelta(minutes=5) - timedelta(seconds=1)) == 0
    assert d.deliver_due(T0 + timedelta(minutes=5)) == 1
    assert d.next_due() is None  # nothing pending any more


def test_the_earliest_pending_page_is_the_next_due(db: Database) -> None:
    write(db, "sun.hao", due=T0 + timedelta(minutes=9))
    write(db, "zhou.min", due=T0 + timedelta(minutes=3))
    write(db, "li.ming", due=T0 + timedelta(minutes=1))
    d = dispatcher(db, Channel())
    assert d.deliver_due(T0 + timedelta(minutes=1)) == 1  # li.ming's, delivered: not pending
    assert d.next_due() == T0 + timedelta(minutes=3)


def test_a_claim_expires_after_claim_timeout_in_real_time_on_the_demo_clock(
    db: Database,
) -> None:
    # the demo clock runs 60 simulated seconds per real second: a 2-minute claim_timeout is
    # two simulated hours
    [page] = write(db, "sun.hao")
    crashed = dispatcher(db, Channel(), speed=60.0)
    assert len(crashed._claim(T0, batch=10)) == 1  # claimed; then the process died
    channel = Channel()
    other = Dispatcher(db, {"file": channel}, DELIVERY, "node-b", speed=60.0)
    assert other.deliver_due(T0 + timedelta(hours=2) - timedelta(seconds=1)) == 0
    assert other.deliver_due(T0 + timedelta(hours=2)) == 1
    assert [(d.attempt, d.node, d.started_at, d.outcome) for d in deliveries(db)] == [
        (1, "node-a", T0, None),
        (2, "node-b", T0 + timedelta(hours=2), "delivered"),
    ]
    assert pages(db)[page].attempts == 2


def test_a_page_for_a_channel_no_longer_configured_fails_for_good(db: Database) -> None:
    write(db, "sun.hao", channel="gone")
    failed: list[str] = []
    d = dispatcher(db, Channel(), failed=lambda s, p, now: failed.append(p.person) or 0)
    assert d.deliver_due(T0) == 1
    assert status(db) == {"sun.hao": "failed"}
    assert failed == ["sun.hao"]
    [event] = attempt_events(db)
    assert (event["type"], event["detail"]) == ("page_failed", "no notifier named 'gone'")


# -- what each outcome leaves on record ----------------------------------------------------------


def test_a_delivered_page_leaves_its_attempt_and_its_event_on_record(db: Database) -> None:
    alert = an_alert(db)
    [page] = write(db, "sun.hao", alert=alert)
    answer = DeliveryResult(Outcome.ACCEPTED, "", provider_id="SM0123", provider_code="queued")
    dispatcher(db, Channel({"sun.hao": answer})).deliver_due(T0)
    row = pages(db)[page]
    assert (row.status, row.attempts, row.claimed_at, row.claimed_by) == ("accepted", 1, None, None)
    [d] = deliveries(db)
    assert (d.page_id, d.attempt, d.node) == (page, 1, "node-a")
    assert (d.started_at, d.finished_at) == (T0, T0)
    assert (d.outcome, d.detail, d.provider_id) == ("accepted", None, "SM0123")
    assert attempt_events(db) == [
        {"type": "page_sent", "station": "01589025", "level": "yellow", "to": "sun.hao",
         "role": "officer", "channel": "file", "page": page, "attempt": 1,
         "outcome": "accepted", "detail": None},
    ]  # fmt: skip


def test_a_retryable_failure_comes_back_after_a_jittered_doubling_backoff(db: Database) -> None:
    [page] = write(db, "sun.hao")
    d = dispatcher(db, Channel({"sun.hao": Outcome.RETRYABLE}))
    at = T0
    waits = []
    for _ in range(2):
        assert d.deliver_due(at) == 1
        due = pages(db)[page].next_attempt_at
        waits.append(due - at)
        at = due
    # 40 s, then 80 s, each three quarters of it with the jitter in the middle of its range
    assert waits == [timedelta(seconds=30), timedelta(seconds=60)]
    assert [e["type"] for e in attempt_events(db)] == ["page_retry", "page_retry"]
    # the third attempt is the last (max_attempts: 3)
    assert d.deliver_due(at) == 1
    assert status(db) == {"sun.hao": "failed"}
    assert [e["attempt"] for e in attempt_events(db)] == [1, 2, 3]


def test_a_retry_is_never_sooner_than_the_provider_asked(db: Database) -> None:
    [page] = write(db, "sun.hao")
    slow_down = DeliveryResult(Outcome.RETRYABLE, "429", retry_after=600)
    dispatcher(db, Channel({"sun.hao": slow_down})).deliver_due(T0)
    assert pages(db)[page].next_attempt_at == T0 + timedelta(minutes=10)


def test_retry_after_is_simulated_time_on_the_demo_clock(db: Database) -> None:
    [page] = write(db, "sun.hao")
    slow_down = DeliveryResult(Outcome.RETRYABLE, "429", retry_after=2)
    dispatcher(db, Channel({"sun.hao": slow_down}), speed=60.0).deliver_due(T0)
    assert pages(db)[page].next_attempt_at == T0 + timedelta(minutes=2)


def test_a_short_retry_after_does_not_shorten_the_backoff(db: Database) -> None:
    [page] = write(db, "sun.hao")
    soon = DeliveryResult(Outcome.RETRYABLE, "busy", retry_after=1)
    dispatcher(db, Channel({"sun.hao": soon})).deliver_due(T0)
    assert pages(db)[page].next_attempt_at == T0 + timedelta(seconds=30)


def test_an_unknown_outcome_is_handed_on_and_the_duty_officers_hook_fires(db: Database) -> None:
    write(db, "sun.hao", "zhou.min")
    told: list[str] = []
    written: list[int] = []
    d = dispatcher(
        db, Channel({"sun.hao": Outcome.UNKNOWN}),
        unknown=lambda s, p, now: told.append(p.person) or 1, written=lambda: written.append(1),
    )  # fmt: skip
    assert d.deliver_due(T0) == 2
    assert status(db) == {"sun.hao": "unknown", "zhou.min": "delivered"}
    assert told == ["sun.hao"] and written == [1]
    # no page_* event for the unknown one: the hook records what it does
    assert [(e["type"], e["to"]) for e in attempt_events(db)] == [("page_sent", "zhou.min")]


def test_the_pages_written_hook_fires_only_when_a_hook_wrote_pages(db: Database) -> None:
    write(db, "sun.hao")
    written: list[int] = []
    d = dispatcher(db, Channel({"sun.hao": Outcome.PERMANENT}),
                   failed=lambda s, p, now: 0, written=lambda: written.append(1))  # fmt: skip
    d.deliver_due(T0)
    assert status(db) == {"sun.hao": "failed"} and written == []


def test_a_phone_number_is_masked_in_the_failure_log_and_a_person_id_is_not(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    write(db, "+8613800000001", "sun.hao")  # a loudspeaker's or a guest's number; a person
    answers: dict[str, Outcome | DeliveryResult | Exception] = {
        "+8613800000001": Outcome.PERMANENT, "sun.hao": Outcome.PERMANENT,
    }  # fmt: skip
    dispatcher(db, Channel(answers)).deliver_due(T0)
    assert "+86138****0001" in caplog.text
    assert "+8613800000001" not in caplog.text
    assert "page #2 to sun.hao via file: permanent" in caplog.text


# -- rate limits, digests and lane workers --------------------------------------------------------


def test_a_rate_limited_channel_holds_its_pages_in_order_until_a_token_comes(
    db: Database,
) -> None:
    # one send a minute to any one phone: zhou.min's page may not overtake sun.hao's second
    write(db, "sun.hao", "sun.hao", "zhou.min")
    ticks = Ticks()
    channel = Channel(limits=RateLimits(target=Limit(rate=1, per=60)))
    d = dispatcher(db, channel, timer=ticks)
    assert d.wait() is None  # nothing claimed yet: nothing waits
    assert d.deliver_due(T0) == 1
    assert d.wait() == pytest.approx(60)
    assert d.deliver_due(T0) == 0  # the lane keeps its buckets between claims
    ticks.now += 60
    assert d.deliver_due(T0) == 2
    assert d.wait() is None
    assert [m.person for m in channel.sent] == ["sun.hao", "sun.hao", "zhou.min"]


def test_the_wait_is_the_soonest_of_the_lanes(db: Database) -> None:
    write(db, "sun.hao", "sun.hao", channel="sms")
    write(db, "zhou.min", "zhou.min", channel="file")
    ticks = Ticks()
    sms = Channel(limits=RateLimits(target=Limit(rate=1, per=60)))
    file = Channel(limits=RateLimits(target=Limit(rate=1, per=20)))
    d = Dispatcher(db, {"sms": sms, "file": file}, DELIVERY, "node-a", timer=ticks)
    assert d.deliver_due(T0) == 2
    assert d.wait() == pytest.approx(20)


def test_a_provider_asking_to_wait_holds_the_channel_back(db: Database) -> None:
    write(db, "sun.hao", "zhou.min")
    ticks = Ticks()
    busy = DeliveryResult(Outcome.RETRYABLE, "130101", retry_after=600)
    channel = Channel({"sun.hao": busy}, capabilities=Capabilities(concurrency=1))
    d = dispatcher(db, channel, timer=ticks)
    assert d.deliver_due(T0, batch=1) == 1  # sun.hao's, told to wait ten minutes
    assert d.deliver_due(T0 + timedelta(minutes=20)) == 0  # zhou.min's waits too
    assert d.wait() == pytest.approx(600)
    ticks.now += 601
    assert d.deliver_due(T0 + timedelta(minutes=20)) == 2


class TwoNumbers(Channel):
    """An SMS account with two sending numbers, each with its own limit (Twilio's per number)."""

    def sender_for(self, message: Message) -> str:
        return "+15550100" if message.person < "t" else "+15550199"


def test_each_sender_has_a_limit_of_its_own(db: Database) -> None:
    write(db, "sun.hao", "zhou.min", "li.ming")  # li.ming and sun.hao share the first number
    channel = TwoNumbers(limits=RateLimits(sender=Limit(rate=1, per=60)))
    assert dispatcher(db, channel, timer=Ticks()).deliver_due(T0) == 2
    assert [m.person for m in channel.sent] == ["sun.hao", "zhou.min"]
    assert status(db)["li.ming"] == "pending"


def test_a_channel_limit_holds_pages_back_on_a_channel_that_cannot_fold(db: Database) -> None:
    write(db, "sun.hao", "zhou.min", "li.ming")
    channel = Channel(limits=RateLimits(notifier=Limit(rate=1, per=60)))
    assert dispatcher(db, channel, timer=Ticks()).deliver_due(T0) == 1
    assert [m.person for m in channel.sent] == ["sun.hao"]  # as it is, the others wait
    assert status(db) == {"sun.hao": "delivered", "zhou.min": "pending", "li.ming": "pending"}


def test_expired_claims_go_again_through_their_own_channels(db: Database) -> None:
    write(db, "sun.hao", channel="email")
    write(db, "zhou.min", channel="file")
    email, file = Channel(), Channel()
    crashed = Dispatcher(db, {"email": Channel(), "file": Channel()}, DELIVERY, "node-a")
    assert len(crashed._claim(T0, batch=10)) == 2  # both claimed; then the process died
    other = Dispatcher(db, {"email": email, "file": file}, DELIVERY, "node-b")
    assert other.deliver_due(T0 + DELIVERY.claim_timeout) == 2
    assert [m.person for m in email.sent] == ["sun.hao"]
    assert [m.person for m in file.sent] == ["zhou.min"]


def test_two_pages_for_a_robot_with_room_for_one_go_as_one_digest(db: Database) -> None:
    write(db, "sun.hao", "zhou.min")
    robot = Robot(limits=RateLimits(notifier=Limit(rate=1, per=60)))
    assert dispatcher(db, robot, timer=Ticks()).deliver_due(T0) == 1
    assert [m.subject for m in robot.sent] == ["2 pages"]
    assert set(status(db).values()) == {"delivered"}


def test_a_robots_surplus_goes_out_as_one_digest(db: Database) -> None:
    ids = write(db, "sun.hao", "zhou.min", "li.ming", "wang.fang", "zhang.wei")
    robot = Robot(limits=RateLimits(notifier=Limit(rate=3, per=60)))
    assert dispatcher(db, robot, timer=Ticks()).deliver_due(T0) == 3
    # two pages as they are, the third send carries the other three
    assert [m.page_id for m in robot.sent] == ids[:3]
    assert [m.subject for m in robot.sent] == ["黄色预警", "黄色预警", "3 pages"]
    assert robot.sent[2].body.splitlines() == ["to li.ming", "to wang.fang", "to zhang.wei"]
    assert set(status(db).values()) == {"delivered"}
    assert [(d.page_id, d.outcome) for d in deliveries(db)] == [(i, "delivered") for i in ids]


def test_a_robots_whole_backlog_goes_into_the_digest(db: Database) -> None:
    # a fan-out to a duty group's robot: 20 pages, room for 3 now; the robot's lane reads every
    # page waiting (up to the batch), not only as many as its send slots would take
    ids = write(db, *(f"officer-{i:02d}" for i in range(20)))
    robot = Robot(limits=RateLimits(notifier=Limit(rate=3, per=60)))
    assert dispatcher(db, robot, timer=Ticks()).deliver_due(T0) == 3
    assert len(robot.sent[2].body.splitlines()) == 18
    assert {d.page_id for d in deliveries(db)} == set(ids)


def test_a_robot_with_room_for_every_page_sends_each_as_it_is(db: Database) -> None:
    ids = write(db, "sun.hao", "zhou.min", "li.ming")
    robot = Robot(limits=RateLimits(notifier=Limit(rate=3, per=60)))
    assert dispatcher(db, robot, timer=Ticks()).deliver_due(T0) == 3
    assert [m.page_id for m in robot.sent] == ids
    assert all(m.subject == "黄色预警" for m in robot.sent)


class Gate(Channel):
    """A channel whose sends wait until the test opens the gate."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.open = threading.Event()
        self.waiting = threading.Semaphore(0)

    def send(self, message: Message) -> DeliveryResult:
        self.waiting.release()
        assert self.open.wait(10)
        return super().send(message)


def test_lane_workers_take_no_more_sends_than_the_channel_allows_at_once(db: Database) -> None:
    write(db, "sun.hao", "zhou.min", "li.ming")
    gate = Gate(capabilities=Capabilities(concurrency=2))
    freed: list[int] = []
    d = dispatcher(db, gate, sent=lambda: freed.append(1))
    later = T0 + timedelta(seconds=7)
    try:
        assert d.dispatch(T0, lambda: later) == 2
        for _ in range(2):
            assert gate.waiting.acquire(timeout=10)
        assert d.dispatch(T0, lambda: later) == 0  # both slots busy
        gate.open.set()
        deadline = time.monotonic() + 10
        while len(freed) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert freed == [1, 1]
        assert d.dispatch(T0, lambda: later) == 1  # a slot is free again
    finally:
        gate.open.set()
        d.shutdown()
    assert set(status(db).values()) == {"delivered"}
    # each outcome is recorded at the time it came in, not when the send was handed over
    assert {x.finished_at for x in deliveries(db)} == {later}


def test_a_page_for_a_channel_no_longer_configured_is_failed_in_the_dispatchers_thread(
    db: Database,
) -> None:
    write(db, "sun.hao", channel="email")  # claimed first ("email" < "file"), failed at once
    write(db, "zhou.min")
    d = dispatcher(db, Channel())
    later = T0 + timedelta(hours=1)
    assert d.dispatch(T0, lambda: later) == 2
    d.shutdown()
    assert status(db) == {"sun.hao": "failed", "zhou.min": "delivered"}
    assert [(x.page_id, x.finished_at) for x in deliveries(db)] == [(1, T0), (2, later)]


def test_a_busy_channel_does_not_hold_another_back(db: Database) -> None:
    write(db, "sun.hao", "zhou.min", channel="email")  # "email" is claimed before "file"
    busy = Gate(capabilities=Capabilities(concurrency=1))
    file = Channel()
    d = Dispatcher(db, {"email": busy, "file": file}, DELIVERY, "node-a")
    try:
        assert d.dispatch(T0, lambda: T0) == 1  # email's one slot taken
        assert busy.waiting.acquire(timeout=10)
        write(db, "li.ming")
        assert d.dispatch(T0, lambda: T0) == 1  # email still busy: the file page goes
    finally:
        busy.open.set()
        d.shutdown()
    assert status(db) == {"sun.hao": "delivered", "zhou.min": "pending", "li.ming": "delivered"}


def _outcome_not_recorded(exc: Exception) -> Any:
    def failed(session: Session, page: PageRow, now: datetime) -> int:
        raise exc

    return failed


DISK = OperationalError("UPDATE pages", {}, Exception("disk I/O error"))


@pytest.mark.parametrize(
    ("error", "hook"), [(DISK, True), (DISK, False), (RuntimeError("bug"), True)]
)
def test_a_send_whose_outcome_cannot_be_recorded_frees_its_worker(
    db: Database, error: Exception, hook: bool, caplog: pytest.LogCaptureFixture
) -> None:
    write(db, "sun.hao")
    reported: list[Exception] = []
    freed: list[int] = []
    d = dispatcher(
        db, Channel({"sun.hao": Outcome.PERMANENT}), failed=_outcome_not_recorded(error),
        db_error=reported.append if hook else None, sent=lambda: freed.append(1),
    )  # fmt: skip
    assert d.dispatch(T0, lambda: T0) == 1
    d.shutdown()
    assert freed == [1]
    # a database error goes to the service's hook (it backs off), or else to the log with the
    # database's own first line; any other error is logged with its traceback
    if isinstance(error, OperationalError) and hook:
        assert reported == [error]
        assert "outcome not recorded" not in caplog.text
    elif isinstance(error, OperationalError):
        [logged] = [r for r in caplog.records if "not recorded" in r.getMessage()]
        assert logged.getMessage() == (
            "page(s) [1]: outcome not recorded: (builtins.Exception) disk I/O error"
        )
    else:
        [logged] = [r for r in caplog.records if "not recorded" in r.getMessage()]
        assert logged.getMessage() == "page(s) [1]: outcome not recorded"
        assert logged.exc_info is not None and logged.exc_info[1] is error
        assert reported == []
    # the record was rolled back whole: the claim stays and expires, the page goes again
    assert status(db) == {"sun.hao": "sending"}


def test_sends_under_a_one_a_second_limit_start_a_second_apart(db: Database) -> None:
    # a worker picks a send up when it can: the first one late, at +0.7 s; the next one,
    # claimed when the limit gave its token at +1 s, still waits for +1.7 s
    write(db, "sun.hao", "zhou.min", "li.ming")
    ticks = Ticks()
    pauses: list[float] = []
    channel = Channel(limits=RateLimits(sender=Limit(rate=1, per=1)))
    d = dispatcher(db, channel, timer=ticks, pause=pauses.append)
    clock = lambda: T0  # noqa: E731
    [first] = d._claim(T0, batch=10)
    ticks.now += 0.7
    d._deliver_in_lane(first, clock)
    ticks.now += 0.3
    [second] = d._claim(T0, batch=10)
    ticks.now += 0.1
    d._deliver_in_lane(second, clock)
    ticks.now += 5
    [third] = d._claim(T0, batch=10)
    d._deliver_in_lane(third, clock)  # long after: no wait
    assert pauses == [pytest.approx(0.6)]
    assert [m.person for m in channel.sent] == ["sun.hao", "zhou.min", "li.ming"]


# -- what the channel is given, and what the log says ---------------------------------------------


def logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return log_lines(caplog, "floodwatch.notify.dispatcher")


def test_the_channel_is_given_the_page_as_written(db: Database) -> None:
    alert = an_alert(db)
    [page] = write(db, "sun.hao", alert=alert, address="+8613800000001")
    with db.transaction() as s:
        s.execute(update(PageRow).values(reply_code=3, language="en"))
    channel = Channel()
    dispatcher(db, channel).deliver_due(T0)
    key = pages(db)[page].idempotency_key
    assert channel.sent == [
        Message(page, key, "sun.hao", "+8613800000001", "en", "黄色预警", "to sun.hao", alert, 3)
    ]


def test_taking_over_an_expired_claim_names_the_node_that_had_it(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    [page] = write(db, "sun.hao")
    assert len(dispatcher(db, Channel())._claim(T0, batch=10)) == 1  # node-a, then it died
    write(db, "zhou.min")  # a fresh page in the same claim: no takeover
    other = Dispatcher(db, {"file": Channel()}, DELIVERY, "node-b")
    assert other.deliver_due(T0 + DELIVERY.claim_timeout) == 2
    assert logged(caplog) == [f"page #{page}: claim by node-a expired; sending again"]


def test_a_digest_is_logged_with_how_many_pages_it_carries(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="floodwatch.notify.dispatcher")
    write(db, "sun.hao", "zhou.min", "li.ming", "wang.fang")
    robot = Robot(limits=RateLimits(notifier=Limit(rate=2, per=60)))
    assert dispatcher(db, robot, timer=Ticks()).deliver_due(T0) == 2
    assert logged(caplog) == ["3 pages for file folded into one digest"]


def test_a_crashing_notifier_is_logged_with_its_traceback(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    bug = RuntimeError("bug in a plug-in")
    [page] = write(db, "sun.hao")
    dispatcher(db, Channel({"sun.hao": bug})).deliver_due(T0)
    crash = next(r for r in caplog.records if "crashed" in r.getMessage())
    assert crash.getMessage() == f"notifier file crashed on page #{page}"
    assert crash.exc_info is not None and crash.exc_info[1] is bug
    [d] = deliveries(db)
    assert (d.outcome, d.detail) == ("unknown", f"notifier crashed: {bug!r}")


def test_a_failure_is_logged_with_its_detail_and_the_providers_code(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    alert = an_alert(db)
    first, second = write(db, "+8613800000001", "sun.hao", alert=alert)
    answers: dict[str, Outcome | DeliveryResult | Exception] = {
        "+8613800000001": DeliveryResult(Outcome.PERMANENT, "invalid number", provider_code="21211"),
        "sun.hao": DeliveryResult(Outcome.PERMANENT, "no such mailbox"),
    }  # fmt: skip
    dispatcher(db, Channel(answers)).deliver_due(T0)
    assert logged(caplog) == [
        f"page #{first} to +86138****0001 via file: permanent (invalid number, code 21211)",
        f"page #{second} to sun.hao via file: permanent (no such mailbox)",
    ]
    with db.sessions() as s:
        events = s.scalars(select(EventRow).where(EventRow.type == "page_failed")).all()
        assert [(e.alert_id, e.data["page"]) for e in events] == [(alert, first), (alert, second)]


def test_an_outcome_kept_while_the_database_was_away_is_recorded_when_it_is_back(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="floodwatch.notify.dispatcher")
    [page] = write(db, "sun.hao")
    away = [DISK]

    def failed(session: Session, row: PageRow, now: datetime) -> int:
        if away:
            raise away.pop()
        return 0

    channel = Channel({"sun.hao": Outcome.PERMANENT})
    d = dispatcher(db, channel, failed=failed)
    with pytest.raises(OperationalError):
        d.deliver_due(T0)
    assert status(db) == {"sun.hao": "sending"}
    caplog.clear()
    assert d.deliver_due(T0 + timedelta(minutes=1)) == 0  # recorded first, not sent again
    assert len(channel.sent) == 1 and status(db) == {"sun.hao": "failed"}
    assert [(x.outcome, x.finished_at) for x in deliveries(db)] == [("permanent", T0)]
    assert logged(caplog) == [
        f"page #{page} to sun.hao via file: permanent (scripted permanent)",
        f"page(s) [{page}]: outcome permanent recorded after the database came back",
    ]


def a_digest(db: Database, robot: Robot) -> tuple[Dispatcher, list[int], Any]:
    """Two pages claimed as one digest (room for one send now); the claim, not yet sent."""
    ids = write(db, "sun.hao", "zhou.min")
    d = dispatcher(db, robot, timer=Ticks())
    [claim] = d._claim(T0, batch=10)
    assert [p for p, *_ in claim.pages] == ids
    return d, ids, claim


def test_a_digest_page_whose_rows_are_gone_does_not_stop_the_others_record(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    d, (first, second), claim = a_digest(db, Robot(limits=RateLimits(notifier=Limit(1, 60))))
    with db.transaction() as s:  # a hand-edited database
        s.delete(s.scalars(select(DeliveryRow).where(DeliveryRow.page_id == first)).one())
    d._deliver(claim, lambda: T0)
    assert pages(db)[second].status == "delivered"
    assert logged(caplog) == [f"page #{first}: its rows are gone; outcome delivered not recorded"]


def test_a_digest_page_claimed_again_since_is_left_to_the_later_attempt(db: Database) -> None:
    d, (first, second), claim = a_digest(db, Robot(limits=RateLimits(notifier=Limit(1, 60))))
    with db.transaction() as s:  # the claim expired and another node took the first page
        s.execute(update(PageRow).where(PageRow.id == first).values(attempts=2))
    woken: list[int] = []
    d.written = lambda: woken.append(1)
    d._deliver(claim, lambda: T0)
    assert (pages(db)[first].status, pages(db)[second].status) == ("sending", "delivered")
    assert {x.outcome for x in deliveries(db)} == {"delivered"}  # both attempts on record
    assert woken == []  # nothing was written that the dispatcher must wake up for


@pytest.mark.parametrize("outcome", [Outcome.PERMANENT, Outcome.UNKNOWN])
def test_pages_written_by_any_page_of_a_digest_wake_the_dispatcher(
    db: Database, outcome: Outcome
) -> None:
    # the first page's hook writes a page (the next contact), the second's writes none
    write(db, "sun.hao", "zhou.min")
    wrote = iter([1, 0])
    written: list[int] = []
    hook: dict[str, Any] = {
        "failed" if outcome is Outcome.PERMANENT else "unknown": lambda s, p, now: next(wrote)
    }
    robot = Robot({"sun.hao": outcome}, limits=RateLimits(notifier=Limit(1, 60)))
    d = Dispatcher(
        db, {"file": robot}, DELIVERY, "node-a", timer=Ticks(), written=lambda: written.append(1),
        **hook,
    )  # fmt: skip
    assert d.deliver_due(T0) == 1
    assert set(status(db).values()) == {"failed" if outcome is Outcome.PERMANENT else "unknown"}
    assert written == [1]


def test_a_finished_send_gives_its_slot_back(db: Database) -> None:
    write(db, "sun.hao")
    d = dispatcher(db, Channel(capabilities=Capabilities(concurrency=1)))
    assert d.deliver_due(T0) == 1
    lane = d.lane("file")
    assert lane is not None and lane.free_slots() == 1
