"""Writing and reading pipeline events (floodwatch.events): the one place an event row is made,
and so the one place the duty log's automatic entries are written (records.dutylog.LOGGED)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from floodwatch.events import Event
from floodwatch.records import dutylog
from floodwatch.store.models import EventRow, LogEntryRow


def record(session: Session, at: datetime, event: Event) -> EventRow:
    """Add one event row in the caller's transaction and flush it, so pages can refer to it;
    an event of a type the duty log keeps writes its entry in the same transaction."""
    row = EventRow(**_values(at, event))
    session.add(row)
    session.flush()
    dutylog.from_event(session, at, event, row.id)
    return row


def record_all(session: Session, events: Sequence[tuple[datetime, Event]]) -> list[int]:
    """`record` for several events, in their order, in two statements (the events, then their
    duty-log entries) and without ORM objects: the dispatcher's outcomes, a `page_sent` for
    every page of a fan-out. The events' ids."""
    if not events:
        return []
    ids = list(
        session.scalars(
            insert(EventRow).returning(EventRow.id, sort_by_parameter_order=True),
            [_values(at, event) for at, event in events],
        )
    )
    entries = [
        entry
        for (at, event), event_id in zip(events, ids, strict=True)
        if (entry := dutylog.entry_for(at, event, event_id)) is not None
    ]
    if entries:
        session.execute(insert(LogEntryRow), entries)
    return ids


def _values(at: datetime, event: Event) -> dict[str, Any]:
    """An event's row: its common fields as columns, the rest as its JSON (`Event.data`)."""
    return {
        "at": at, "type": event.type, "alert_id": event.alert, "station": event.station,
        "level": event.level, "data": event.data(),
    }  # fmt: skip


def as_json(row: EventRow, zone: tzinfo | None = None) -> dict[str, Any]:
    """The stable JSON shape of an event, as `replay --json` prints it."""
    out: dict[str, Any] = {
        "type": row.type,
        "at": (row.at.astimezone(zone) if zone else row.at).isoformat(),
        "alert": row.alert_id,
        "station": row.station,
        "level": row.level,
    }
    out.update(row.data)
    return out
