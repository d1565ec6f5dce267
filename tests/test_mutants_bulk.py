"""The bulk store (store/bulk.py) at the size of a province: more rule states in one poll than
one statement's parameters allow, so every path that works in chunks goes past its first chunk.

Written for mutants that survived the rest of the suite (tests/README.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from floodwatch.readings import Reading
from floodwatch.rules.engine import Stored
from floodwatch.store import Database
from floodwatch.store.bulk import bulk_for
from floodwatch.store.models import ReadingRow

from .helpers import demo_readings

T0 = datetime(2018, 5, 27, 19, 45, tzinfo=UTC)
RULES = [f"stage-{i:04d}" for i in range(2500)]  # one rule per gauge of a province


def test_a_poll_reading_and_writing_a_thousand_states_of_many_more_gets_them_all(
    database_url: str,
) -> None:
    db = Database(database_url)
    db.upgrade()
    bulk = bulk_for(db, len(RULES))
    quiet = Stored(None, None, T0, {})
    with db.transaction() as s:
        bulk.save_states(s, {}, dict.fromkeys(RULES, quiet))
    # a poll that reaches 1,200 of the 2,500 rules (fewer than half: looked up by id, in
    # chunks) and moves them all on to the same state (one statement per chunk of ids)
    polled = RULES[100:1300]
    risen = Stored("yellow", None, T0 + timedelta(minutes=15), {"history": [[T0.isoformat(), 2.5]]})
    with db.transaction() as s:
        assert bulk.load_states(s, polled) == dict.fromkeys(polled, quiet)
        bulk.save_states(s, dict.fromkeys(polled, risen), {})
    with db.sessions() as s:
        assert bulk.load_states(s, polled) == dict.fromkeys(polled, risen)
        everything = bulk.load_states(s, RULES)  # all of them: one scan
    assert everything == dict.fromkeys(RULES, quiet) | dict.fromkeys(polled, risen)
    db.dispose()


def test_readings_new_among_stored_ones_keep_their_feed_and_arrival(database_url: str) -> None:
    # a feed that sends its last hours again with each poll: the new readings among them are
    # stored with the feed that brought them and the time they came (what feed health reads)
    flood = demo_readings()[:8]
    db = Database(database_url)
    db.upgrade()
    bulk = bulk_for(db, 1)
    first, second = T0, T0 + timedelta(minutes=15)
    with db.transaction() as s:
        assert bulk.store(s, keyed(flood[:6]), first, "usgs_iv") == flood[:6]
    with db.transaction() as s:
        assert bulk.store(s, keyed(flood[2:]), second, "usgs_iv") == flood[6:]
    with db.sessions() as s:
        rows = s.execute(
            select(ReadingRow.observed_at, ReadingRow.feed, ReadingRow.received_at).order_by(
                ReadingRow.observed_at
            )
        ).all()
    assert rows == [(r.observed_at, "usgs_iv", first) for r in flood[:6]] + [
        (r.observed_at, "usgs_iv", second) for r in flood[6:]
    ]
    db.dispose()


def keyed(readings: list[Reading]) -> dict[tuple[str, str, datetime], Reading]:
    return {(r.station, r.parameter, r.observed_at): r for r in readings}
