"""The outbox: pages are committed before any send, and every page is delivered exactly once,
across a stopped dispatcher, a crash mid-delivery, failing channels and competing nodes."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from floodwatch.app import App, build_app
from floodwatch.clock import SimulatedClock
from floodwatch.notify.base import Capabilities, DeliveryResult, Message, Outcome
from floodwatch.notify.dispatcher import Dispatcher
from floodwatch.roster.model import Person
from floodwatch.store.models import DeliveryRow, EventRow, PageRow

from .fault_support import DatabaseProxy
from .helpers import demo_readings, pages_in, write_config

FLOOD = demo_readings()
# up to 15:45 EST: the alert has opened (15:30), the rise to orange (15:52) has not come
RISE = [r for r in FLOOD if r.observed_at <= FLOOD[0].observed_at + timedelta(hours=15, minutes=45)]


def start(config: Path, url: str, clock: SimulatedClock) -> App:
    app = build_app(config, clock=clock, database_url=url)
    app.db.upgrade()
    return app


def dispatcher(app: App, node: str = "test") -> Dispatcher:
    return app.dispatcher(node)


def statuses(app: App) -> Counter[str]:
    with app.db.sessions() as s:
        return Counter(s.scalars(select(PageRow.status)))


def test_pages_written_before_a_stop_are_delivered_once_after_restart(
    tmp_path: Path, database_url: str
) -> None:
    config = write_config(tmp_path)
    clock = SimulatedClock(RISE[-1].observed_at)
    first = start(config, database_url, clock)
    result = first.pipeline.ingest(RISE, clock.now())
    assert result.pages == 2  # alert opened, both officers paged; nobody has sent anything yet
    assert statuses(first) == {"pending": 2}
    assert pages_in(tmp_path / "pages.jsonl") == []
    first.db.dispose()  # the process stops here

    second = start(config, database_url, clock)  # restarted
    assert dispatcher(second).deliver_due(clock.now()) == 2
    assert dispatcher(second).deliver_due(clock.now()) == 0
    written = pages_in(tmp_path / "pages.jsonl")
    assert sorted(Counter(p["key"] for p in written).values()) == [1, 1]
    assert statuses(second) == {"delivered": 2}


def test_a_crash_between_send_and_record_resends_once_and_the_file_dedups(
    tmp_path: Path, database_url: str
) -> None:
    config = write_config(tmp_path)
    clock = SimulatedClock(RISE[-1].observed_at)
    first = start(config, database_url, clock)
    first.pipeline.ingest(RISE, clock.now())
    crashed = dispatcher(first, "node-a")
    claims = crashed._claim(clock.now(), batch=10)
    assert len(claims) == 2
    first.notifiers["file"].send(claims[0].message)  # went out; then the process died
    first.db.dispose()

    second = start(config, database_url, clock)
    d = dispatcher(second, "node-b")
    assert d.deliver_due(clock.now()) == 0  # claims still held by the dead node
    clock.advance(second.config.settings.delivery.claim_timeout)
    assert d.deliver_due(clock.now()) == 2  # taken over
    written = pages_in(tmp_path / "pages.jsonl")
    assert len(written) == 2 and len({p["key"] for p in written}) == 2
    with second.db.sessions() as s:
        attempts = s.execute(
            select(DeliveryRow.page_id, DeliveryRow.outcome, DeliveryRow.node)
        ).all()
    # every attempt is on record, the interrupted ones without an outcome
    assert sorted((o or "-", n) for _, o, n in attempts) == [
        ("-", "node-a"), ("-", "node-a"), ("delivered", "node-b"), ("delivered", "node-b"),
    ]  # fmt: skip


def test_a_failing_channel_is_retried_with_backoff_then_marked_failed(
    tmp_path: Path, database_url: str
) -> None:
    blocked = tmp_path / "not-a-file"
    blocked.mkdir()  # the jsonl notifier cannot open a directory for appending: a real OSError
    config = write_config(
        tmp_path, notifiers=[{"name": "file", "type": "jsonl", "path": str(blocked)}]
    )
    clock = SimulatedClock(RISE[-1].observed_at)
    app = start(config, database_url, clock)
    app.pipeline.ingest(RISE, clock.now())
    d = dispatcher(app)
    backoff = app.config.settings.delivery.backoff
    with app.db.sessions() as s:
        first = sorted(s.scalars(select(PageRow.id)))  # the two officers' pages
    for _ in range(20):
        d.deliver_due(clock.now())
        with app.db.sessions() as s:
            pending = s.execute(
                select(PageRow.id, PageRow.next_attempt_at).where(
                    PageRow.id.in_(first), PageRow.status == "pending"
                )
            ).all()
        if not pending:
            break
        soonest = min(due for _, due in pending)
        before = attempts_of(app, first)
        d.deliver_due(soonest - timedelta(seconds=1))
        assert attempts_of(app, first) == before  # not before its time
        clock.set(soonest)
    with app.db.sessions() as s:
        rows = s.execute(
            select(DeliveryRow.page_id, DeliveryRow.started_at)
            .where(DeliveryRow.page_id.in_(first)).order_by(DeliveryRow.id)
        ).all()  # fmt: skip
    for page in first:
        times = [at for p, at in rows if p == page]
        assert len(times) == app.config.settings.delivery.max_attempts
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        # doubling, jittered between half and all of it: never sooner, never later
        for n, gap in enumerate(gaps):
            assert backoff * 2**n / 2 <= gap <= backoff * 2**n, (n, gap)
    with app.db.sessions() as s:
        assert set(s.scalars(select(PageRow.status).where(PageRow.id.in_(first)))) == {"failed"}
        kinds = Counter(s.scalars(select(EventRow.type).where(
            EventRow.type.like("page_%"), EventRow.data["page"].as_integer().in_(first))))  # fmt: skip
        details = s.scalars(select(DeliveryRow.detail).where(DeliveryRow.page_id.in_(first))).all()
    assert kinds == {"page_queued": 2, "page_retry": 8, "page_failed": 2}
    assert all("Is a directory" in (d or "") for d in details)
    # nobody could be reached: the officers on duty were told who and why (a notice, itself
    # undeliverable here, and no notice about the notice)
    assert sorted(e for (e,) in events(app, "person_unreachable")) == ["sun.hao", "zhou.min"]


def attempts_of(app: App, pages: list[int]) -> int:
    with app.db.sessions() as s:
        return (
            s.scalar(select(func.count(DeliveryRow.id)).where(DeliveryRow.page_id.in_(pages))) or 0
        )


def events(app: App, kind: str) -> list[tuple[str]]:
    with app.db.sessions() as s:
        return [(e.data["to"],) for e in s.scalars(select(EventRow).where(EventRow.type == kind)
                                                   .order_by(EventRow.id))]  # fmt: skip


class Scripted:
    """A channel whose answer per person is scripted: an outcome, or an exception raised."""

    def __init__(self, answers: dict[str, Outcome | Exception], resend_safe: bool = False) -> None:
        self.name = "file"
        self.answers = answers
        self.capabilities = Capabilities(resend_safe=resend_safe)
        self.calls: list[str] = []

    def address_for(self, person: Person) -> str | None:
        return person.id

    def send(self, message: Message) -> DeliveryResult:
        self.calls.append(message.person)
        answer = self.answers[message.person]
        if isinstance(answer, Exception):
            raise answer
        return DeliveryResult(answer, f"scripted {answer.value}")


def scripted(
    tmp_path: Path, database_url: str, answers: dict[str, Outcome | Exception],
    resend_safe: bool = False,
) -> App:  # fmt: skip
    clock = SimulatedClock(RISE[-1].observed_at)
    app = build_app(write_config(tmp_path), clock=clock, database_url=database_url,
                    notifiers={"file": Scripted(answers, resend_safe)})  # fmt: skip
    app.db.upgrade()
    assert app.pipeline.ingest(RISE, clock.now()).pages == 2  # sun.hao and zhou.min
    return app


def page_events(app: App) -> list[tuple[str, str, str | None]]:
    with app.db.sessions() as s:
        rows = s.scalars(select(EventRow).where(EventRow.type.in_(
            ["page_sent", "page_retry", "page_failed"])).order_by(EventRow.id))  # fmt: skip
        return [(e.type, e.data["to"], e.data["detail"]) for e in rows]


def test_a_permanent_failure_is_not_retried(tmp_path: Path, database_url: str) -> None:
    app = scripted(tmp_path, database_url,
                   {"sun.hao": Outcome.PERMANENT, "zhou.min": Outcome.RETRYABLE})  # fmt: skip
    d = dispatcher(app)
    # the two pages, and the notice to the other officer that sun.hao could not be reached
    assert d.deliver_due(app.clock.now()) == 3
    assert page_events(app)[:2] == [
        ("page_failed", "sun.hao", "scripted permanent"),
        ("page_retry", "zhou.min", "scripted retryable"),
    ]
    with app.db.sessions() as s:
        notice = s.scalars(select(PageRow).where(PageRow.id == 3)).one()
    assert (notice.person, notice.alert_id) == ("zhou.min", None)
    assert "孙浩 (sun.hao)" in notice.body and "file: scripted permanent" in notice.body
    # only the retryable pages come back, after their backoff; the failed one never
    later = app.clock.now() + app.config.settings.delivery.backoff
    d.deliver_due(later)
    calls = app.notifiers["file"].calls  # type: ignore[attr-defined]
    assert calls.count("sun.hao") == 1 and calls[:2] == ["sun.hao", "zhou.min"]


def test_a_crashing_notifier_does_not_stop_the_other_pages(
    tmp_path: Path, database_url: str
) -> None:
    # the channel cannot tell a resend from a new page: the crashed page may have gone out, so
    # it is not resent; the officers on duty are told
    app = scripted(tmp_path, database_url,
                   {"sun.hao": RuntimeError("bug in a channel"), "zhou.min": Outcome.DELIVERED})  # fmt: skip
    assert dispatcher(app).deliver_due(app.clock.now()) >= 2
    with app.db.sessions() as s:
        first = dict(s.execute(select(PageRow.person, PageRow.status)
                               .where(PageRow.id.in_([1, 2]))).all())  # fmt: skip
        unknown = s.scalars(select(EventRow).where(EventRow.type == "page_unknown")).one()
        told = s.scalars(select(PageRow.person).where(PageRow.event_id == unknown.id)).all()
        outcomes = sorted(o or "-" for o in s.scalars(
            select(DeliveryRow.outcome).where(DeliveryRow.page_id.in_([1, 2]))))  # fmt: skip
    assert first == {"sun.hao": "unknown", "zhou.min": "delivered"}
    assert unknown.data["detail"] == "notifier crashed: RuntimeError('bug in a channel')"
    assert told == ["zhou.min"]  # the other officer on duty
    assert outcomes == ["delivered", "unknown"]


def test_a_crash_on_a_channel_that_resends_safely_is_tried_again(
    tmp_path: Path, database_url: str
) -> None:
    app = scripted(tmp_path, database_url,
                   {"sun.hao": RuntimeError("bug in a channel"), "zhou.min": Outcome.DELIVERED},
                   resend_safe=True)  # fmt: skip
    assert dispatcher(app).deliver_due(app.clock.now()) == 2
    assert statuses(app) == {"pending": 1, "delivered": 1}
    assert page_events(app) == [
        ("page_retry", "sun.hao", "notifier crashed: RuntimeError('bug in a channel')"),
        ("page_sent", "zhou.min", "scripted delivered"),
    ]


class Recorder:
    """A channel that records what it is given (two dispatchers share one)."""

    def __init__(self) -> None:
        self.name = "file"
        self.sent: list[int] = []
        self._lock = threading.Lock()

    def address_for(self, person: Person) -> str | None:
        return person.id

    def send(self, message: Message) -> DeliveryResult:
        with self._lock:
            self.sent.append(message.page_id)
        return DeliveryResult(Outcome.ACCEPTED)


def test_two_dispatchers_never_send_one_page_twice(tmp_path: Path, database_url: str) -> None:
    config = write_config(tmp_path)
    clock = SimulatedClock(FLOOD[-1].observed_at)
    recorder = Recorder()
    app = build_app(config, clock=clock, database_url=database_url, notifiers={"file": recorder})
    app.db.upgrade()
    pipeline = app.pipeline
    for hour in range(0, 96):  # many alerts' worth of pages: replay the flood hour by hour
        cut = FLOOD[0].observed_at + timedelta(hours=hour)
        pipeline.ingest([r for r in FLOOD if r.observed_at <= cut], cut)
        app.lifecycle.escalate(cut)
    with app.db.sessions() as s:
        total = s.scalar(select(func.count(PageRow.id)))
    assert total and total > 20
    nodes = [dispatcher(app, f"node-{i}") for i in range(2)]
    threads = [threading.Thread(target=n.deliver_due, args=(clock.now(), 3)) for n in nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(recorder.sent) == sorted(set(recorder.sent))
    assert len(recorder.sent) == total
    assert statuses(app) == {"accepted": total}


def test_an_outcome_the_database_could_not_take_is_recorded_when_it_is_back_not_resent(
    tmp_path: Path, postgres_url: str
) -> None:
    """The database goes away between a send and its record (a lane worker's outcome): the
    outcome is kept and recorded first thing when the database is back, so the page is not
    sent a second time when its claim would have expired."""
    proxy = DatabaseProxy()
    try:
        clock = SimulatedClock(RISE[-1].observed_at)
        app = start(write_config(tmp_path), proxy.url(postgres_url), clock)
        app.pipeline.ingest(RISE, clock.now())
        d = dispatcher(app)
        claims = d._claim(clock.now(), batch=10)
        assert len(claims) == 2
        proxy.down()
        for claim in claims:
            with pytest.raises(SQLAlchemyError):
                d._deliver(claim, clock.now)  # sent; its record fails
        assert len(pages_in(tmp_path / "pages.jsonl")) == 2
        with pytest.raises(SQLAlchemyError):
            d.deliver_due(clock.now())  # still away: the outcomes stay kept
        proxy.up()
        assert d.deliver_due(clock.now()) == 0  # the kept outcomes recorded, nothing claimed
        clock.advance(app.config.settings.delivery.claim_timeout * 2)
        assert d.deliver_due(clock.now()) == 0  # no claim left to expire: nothing sent again
        assert len(pages_in(tmp_path / "pages.jsonl")) == 2
        assert statuses(app) == {"delivered": 2}
        app.db.dispose()
    finally:
        proxy.close()


def test_a_late_outcome_of_an_expired_claim_does_not_undo_the_later_attempt(
    tmp_path: Path, database_url: str
) -> None:
    clock = SimulatedClock(RISE[-1].observed_at)
    app = start(write_config(tmp_path), database_url, clock)
    app.pipeline.ingest(RISE, clock.now())
    slow = dispatcher(app, "node-a")
    claims = slow._claim(clock.now(), batch=10)  # attempt 1, whose send hangs
    clock.advance(app.config.settings.delivery.claim_timeout)
    assert dispatcher(app, "node-b").deliver_due(clock.now()) == 2  # attempt 2: delivered
    for claim in claims:  # attempt 1's send finally fails: too late to decide anything
        slow._record(claim, DeliveryResult(Outcome.RETRYABLE, "timed out at last"), clock.now())
    assert statuses(app) == {"delivered": 2}
    assert events(app, "page_retry") == []
    with app.db.sessions() as s:
        late = s.scalars(select(DeliveryRow.outcome).where(DeliveryRow.node == "node-a")).all()
    assert late == ["retryable", "retryable"]  # every attempt stays on record
