"""The database goes away during the demo flood and comes back: no reading is lost, the crest is
seen, one log line marks the outage and one its end, the officers on duty are told directly
once, and the outage is on record afterwards. On the real PostgreSQL server."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from floodwatch.service import Service
from floodwatch.store.models import AlertRow, EventRow, LogEntryRow, ReadingRow

from .fault_support import DatabaseProxy
from .helpers import demo_readings, pages_in
from .roster_support import local
from .service_support import drive, simulated

FLOOD = demo_readings()
EVERY = demo_readings("stage") + demo_readings("discharge")  # all the feed delivers
START = local("2018-05-28 04:00")  # 15:00 EST: half an hour before the river reaches 20 ft
AWAY = local("2018-05-28 04:20"), local("2018-05-28 06:00")  # the crest (04:52) falls inside
END = local("2018-05-28 07:00")
STEP = timedelta(minutes=5)
OUTAGE = {"tell_after": "30m", "retry": "1s"}


@pytest.fixture
def proxy() -> Iterator[DatabaseProxy]:
    p = DatabaseProxy()
    try:
        yield p
    finally:
        p.close()


def stored(service: Service) -> int:
    with service.app.db.sessions() as s:
        return s.scalar(select(func.count(ReadingRow.id))) or 0


def the_alert(service: Service) -> AlertRow:
    with service.app.db.sessions() as s:
        return s.scalars(select(AlertRow)).one()


def outage_records(service: Service) -> tuple[list[EventRow], list[str]]:
    with service.app.db.sessions() as s:
        events = list(s.scalars(select(EventRow).where(EventRow.type == "database_outage")))
        log = list(s.scalars(select(LogEntryRow.kind).where(LogEntryRow.kind == "database_outage")))
    return events, log


def test_the_server_gone_for_the_crest_loses_nothing(
    tmp_path: Path, postgres_url: str, proxy: DatabaseProxy, caplog: pytest.LogCaptureFixture
) -> None:
    service, clock = simulated(tmp_path, START, database=proxy.url(postgres_url), outage=OUTAGE)
    drive(service, clock, AWAY[0], STEP)
    before = stored(service)
    caplog.clear()
    with proxy.away():  # every connection cut, new ones refused: the lease goes too
        drive(service, clock, AWAY[1], STEP)
        assert not service.leader
    drive(service, clock, END, STEP)
    assert service.leader
    service.poll(service.app.feeds["demo"])
    expected = sum(1 for r in EVERY if r.observed_at <= clock.now())
    assert before < stored(service) == expected  # every reading of the file up to now
    alert = the_alert(service)
    assert alert.peak_level == "orange"  # the crest (27.16 ft at 04:52) was not missed
    errors = [r.getMessage() for r in caplog.records if "database unreachable" in r.getMessage()]
    backs = [r.getMessage() for r in caplog.records if "database is back" in r.getMessage()]
    assert len(backs) == 1 and len([e for e in errors if "readings are kept" in e]) == 1
    assert not any(r.exc_info for r in caplog.records if r.levelno >= logging.ERROR)
    # the officers on duty were told directly, once, outside the outbox (page 0 in the file)
    direct = [p for p in pages_in(tmp_path / "pages.jsonl") if p["page"] == 0]
    assert {p["person"] for p in direct} == {"sun.hao", "zhou.min"}
    assert len(direct) == 2 and all("直发" in p["subject"] for p in direct)
    [event], log = outage_records(service)
    assert event.data["told"] == ["sun.hao:file", "zhou.min:file"]
    assert event.data["seconds"] >= 30 * 60 and log == ["database_outage"]


def test_a_store_that_fails_keeps_the_readings_and_retries(
    tmp_path: Path, postgres_url: str
) -> None:
    # the leader keeps its lease (its connection stays up) while the server refuses every new
    # connection and the others are cut: polls fetch, fail to store, and must lose nothing
    service, clock = simulated(tmp_path, START, database=postgres_url, outage=OUTAGE)
    drive(service, clock, AWAY[0], STEP)
    name = postgres_url.rsplit("/", 1)[1]
    admin = create_engine(
        postgres_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT"
    )
    lease_pid = service.lease._conn.connection.dbapi_connection.info.backend_pid  # type: ignore[union-attr]
    try:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE datname = :db AND pid <> :lease"),
                {"db": name, "lease": lease_pid},
            )  # fmt: skip
        drive(service, clock, AWAY[1], STEP)
        assert service.leader and service.outage.down
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()
    drive(service, clock, END, STEP)
    service.poll(service.app.feeds["demo"])
    assert stored(service) == sum(1 for r in EVERY if r.observed_at <= clock.now())
    assert the_alert(service).peak_level == "orange"
    [event], _ = outage_records(service)
    assert event.data["told"] == ["sun.hao:file", "zhou.min:file"]
