"""Named values shared between processes through the database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from floodwatch.store.db import Database
from floodwatch.store.models import ServiceStateRow

DEMO_ORIGIN = "demo_clock_origin"


def get(db: Database, name: str) -> dict[str, Any] | None:
    """A value, or None (also when there is no database yet: reading never creates one)."""
    if not db.exists() or not inspect(db.engine).has_table(ServiceStateRow.__tablename__):
        return None
    with db.sessions() as session:
        row = session.get(ServiceStateRow, name)
        return dict(row.value) if row else None


def put(db: Database, name: str, value: dict[str, Any]) -> None:
    with db.transaction() as session:
        session.merge(ServiceStateRow(name=name, value=value))


def put_if_absent(db: Database, name: str, value: dict[str, Any]) -> dict[str, Any]:
    """Write a value unless one is there already; return the one in force (several nodes
    starting together agree on one)."""
    insert = pg_insert if db.dialect == "postgresql" else sqlite_insert
    with db.transaction() as session:
        session.execute(insert(ServiceStateRow).values(name=name, value=value)
                        .on_conflict_do_nothing(index_elements=["name"]))  # fmt: skip
        row = session.get(ServiceStateRow, name)
        return dict(row.value) if row else value


def get_in(session: Session, name: str, for_update: bool = False) -> dict[str, Any] | None:
    """Read a value inside the caller's transaction (the schema is known to exist); with
    `for_update`, the row stays locked until the transaction ends, so that two nodes doing the
    same read-modify-write (a handover announced, a coverage check) do it one after the other."""
    row = session.get(ServiceStateRow, name, with_for_update=for_update)
    return dict(row.value) if row else None


def put_in(session: Session, name: str, value: dict[str, Any]) -> None:
    """Write a value inside the caller's transaction."""
    session.merge(ServiceStateRow(name=name, value=value))


def demo_origin(db: Database) -> datetime | None:
    """The real instant the running demo's clock read its start time."""
    value = get(db, DEMO_ORIGIN)
    return datetime.fromisoformat(value["origin"]) if value else None
