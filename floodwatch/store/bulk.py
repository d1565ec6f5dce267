"""The ingest path's bulk reads and writes: readings in, rule states out and in.

A poll of a few thousand stations is the hot path (see benchmarks/pipeline.py). `Bulk` works on
any database through SQLAlchemy Core; `SqliteBulk` runs the same statements once for many rows
through the DBAPI cursor, which costs a fraction of SQLAlchemy's per-row parameter handling.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from floodwatch.readings import Reading
from floodwatch.rules.engine import Stored
from floodwatch.store.db import Database
from floodwatch.store.models import ReadingRow, RuleStateRow, UTCDateTime


class Bulk:
    """The ingest path's bulk reads and writes, through SQLAlchemy Core (any database)."""

    def __init__(self, dialect: str) -> None:
        self._insert = pg_insert if dialect == "postgresql" else sqlite_insert

    def store(
        self, session: Session, unique: dict[tuple[str, str, datetime], Reading],
        now: datetime, feed: str | None,
    ) -> list[Reading]:  # fmt: skip
        """Insert the readings not stored yet; return those, in `unique`'s order."""
        rows = [
            {
                "station": r.station, "parameter": r.parameter, "value": r.value, "unit": r.unit,
                "observed_at": r.observed_at, "received_at": now, "feed": feed,
            }
            for r in unique.values()
        ]  # fmt: skip
        stmt = (
            self._insert(ReadingRow)
            .on_conflict_do_nothing(index_elements=["station", "parameter", "observed_at"])
            .returning(ReadingRow.station, ReadingRow.parameter, ReadingRow.observed_at)
        )
        inserted: set[tuple[str, str, datetime]] = set()
        for i in range(0, len(rows), 5000):
            result = session.execute(stmt, rows[i : i + 5000])
            inserted.update((s, p, o) for s, p, o in result.all())
        return [r for k, r in unique.items() if k in inserted]

    def load_states(self, session: Session, rule_ids: list[str]) -> dict[str, Stored]:
        """The stored state of each rule that has one."""
        t = RuleStateRow
        columns = (t.rule_id, t.level, t.below_since, t.last_observed_at, t.data)
        out: dict[str, Stored] = {}
        for i in range(0, len(rule_ids), _IN_CHUNK):
            chunk = rule_ids[i : i + _IN_CHUNK]
            for rule_id, level, below, last, data in session.execute(
                select(*columns).where(t.rule_id.in_(chunk))
            ):
                out[rule_id] = Stored(level, below, last, data or {})
        return out

    def save_states(
        self, session: Session, changed: dict[str, Stored], added: dict[str, Stored]
    ) -> None:
        """Write changed states back and add new ones."""
        conn = session.connection()
        if changed:
            conn.execute(
                update(RuleStateRow)
                .where(RuleStateRow.rule_id == bindparam("id_"))
                .values(
                    level=bindparam("level_"),
                    below_since=bindparam("below_"),
                    last_observed_at=bindparam("last_"),
                    data=bindparam("data_"),
                ),
                [
                    {
                        "id_": i,
                        "level_": st.level,
                        "below_": st.below_since,
                        "last_": st.last_observed_at,
                        "data_": st.data,
                    }
                    for i, st in changed.items()
                ],  # fmt: skip
            )
        if added:
            conn.execute(
                insert(RuleStateRow),
                [
                    {
                        "rule_id": i,
                        "level": st.level,
                        "below_since": st.below_since,
                        "last_observed_at": st.last_observed_at,
                        "data": st.data,
                    }
                    for i, st in added.items()
                ],  # fmt: skip
            )


class SqliteBulk(Bulk):
    """SQLite: the same statements, each run once for many rows by the DBAPI cursor.

    SQLAlchemy's per-row parameter handling costs several times what SQLite itself needs to
    insert a row, and a poll of a few thousand stations is the hot path (see
    benchmarks/pipeline.py). Times are converted by the column type's own processors, so they
    are stored exactly as SQLAlchemy stores them; each distinct instant once per call.
    """

    INSERT_READINGS = (
        "INSERT INTO readings (station, parameter, value, unit, observed_at, received_at, feed) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (station, parameter, observed_at) DO NOTHING"
    )
    STATE = "level = ?, below_since = ?, last_observed_at = ?, data = ?"
    UPDATE_STATE = f"UPDATE rule_states SET {STATE} WHERE rule_id = ?"
    INSERT_STATE = (
        "INSERT INTO rule_states (rule_id, level, below_since, last_observed_at, data) "
        "VALUES (?, ?, ?, ?, ?)"
    )

    def __init__(self, dialect: Dialect, rules: int) -> None:
        super().__init__(dialect.name)
        self._rules = rules  # how many rules are configured
        time_type = UTCDateTime().dialect_impl(dialect)
        to_db = time_type.bind_processor(dialect)
        from_db = time_type.result_processor(dialect, None)
        assert to_db is not None and from_db is not None
        self._to_db: Callable[[datetime | None], str | None] = to_db
        self._from_db: Callable[[str | None], datetime | None] = from_db

    def store(
        self, session: Session, unique: dict[tuple[str, str, datetime], Reading],
        now: datetime, feed: str | None,
    ) -> list[Reading]:  # fmt: skip
        to_db = _memo(self._to_db)
        received = to_db(now)
        rows = [
            (r.station, r.parameter, float(r.value), r.unit, to_db(r.observed_at), received, feed)
            for r in unique.values()
        ]
        # A poll usually brings only new readings, or only repeats: insert all at once and
        # count. When some of them were stored before, undo, and ask which are new the
        # portable way.
        savepoint = session.begin_nested()
        inserted = session.connection().exec_driver_sql(self.INSERT_READINGS, rows).rowcount
        if inserted in (0, len(rows)):
            savepoint.commit()
            return list(unique.values()) if inserted else []
        savepoint.rollback()
        return super().store(session, unique, now, feed)

    def load_states(self, session: Session, rule_ids: list[str]) -> dict[str, Stored]:
        conn = session.connection()
        from_db = _memo(self._from_db)
        out: dict[str, Stored] = {}
        columns = "SELECT rule_id, level, below_since, last_observed_at, data FROM rule_states"
        if 2 * len(rule_ids) >= self._rules:  # most of them: one scan beats many lookups
            wanted = set(rule_ids)
            for rule_id, level, below, last, data in conn.exec_driver_sql(columns):
                if rule_id in wanted:
                    out[rule_id] = Stored(level, from_db(below), from_db(last), _load(data))
            return out
        for i in range(0, len(rule_ids), _IN_CHUNK):
            chunk = tuple(rule_ids[i : i + _IN_CHUNK])
            sql = f"{columns} WHERE rule_id IN ({', '.join('?' * len(chunk))})"
            for rule_id, level, below, last, data in conn.exec_driver_sql(sql, chunk):
                out[rule_id] = Stored(level, from_db(below), from_db(last), _load(data))
        return out

    def save_states(
        self, session: Session, changed: dict[str, Stored], added: dict[str, Stored]
    ) -> None:
        conn = session.connection()
        to_db = _memo(self._to_db)

        def values(st: Stored) -> tuple[str | None, ...]:
            return (st.level, to_db(st.below_since), to_db(st.last_observed_at), _dump(st.data))

        # After a poll most states differ only in the poll's instant: one UPDATE for each
        # group of equal new values, the rest one row at a time.
        groups: dict[tuple[str | None, ...], list[str]] = {}
        for rule_id, st in changed.items():
            groups.setdefault(values(st), []).append(rule_id)
        one_by_one: list[tuple[str | None, ...]] = []
        for row, ids in groups.items():
            if len(ids) < _GROUP:
                one_by_one.extend((*row, rule_id) for rule_id in ids)
                continue
            for i in range(0, len(ids), _IN_CHUNK):
                chunk = ids[i : i + _IN_CHUNK]
                conn.exec_driver_sql(
                    f"UPDATE rule_states SET {self.STATE} "
                    f"WHERE rule_id IN ({', '.join('?' * len(chunk))})",
                    (*row, *chunk),
                )
        if one_by_one:
            conn.exec_driver_sql(self.UPDATE_STATE, one_by_one)
        if added:
            conn.exec_driver_sql(self.INSERT_STATE, [(i, *values(st)) for i, st in added.items()])


def _dump(data: dict[str, Any]) -> str:
    # most rules keep no data: skip the encoder for them (this is the hot path)
    return json.dumps(data, separators=(",", ":")) if data else "{}"


def _load(text: str | None) -> dict[str, Any]:
    return json.loads(text) if text and text != "{}" else {}


def bulk_for(db: Database, rules: int) -> Bulk:
    """The fastest bulk path the database allows."""
    return SqliteBulk(db.engine.dialect, rules) if db.dialect == "sqlite" else Bulk(db.dialect)


_IN_CHUNK = 500  # ids per IN (...): old SQLite builds allow 999 parameters
_GROUP = 32  # from this many rows on, one statement for all beats one execution per row

_K = TypeVar("_K")
_V = TypeVar("_V")


def _memo(fn: Callable[[_K], _V]) -> Callable[[_K], _V]:
    """`fn` remembering its results for one call of the caller (values repeat within a poll)."""
    seen: dict[_K, _V] = {}

    def cached(key: _K) -> _V:
        try:
            return seen[key]
        except KeyError:
            value = seen[key] = fn(key)
            return value

    return cached
