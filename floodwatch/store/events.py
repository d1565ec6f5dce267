"""Writing and reading pipeline events (floodwatch.events): the one place an event row is made,
and so the one place the duty log's automatic entries are written (records.dutylog.LOGGED)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy.orm import Session

from floodwatch.events import Event
from floodwatch.records import dutylog
from floodwatch.store.models import EventRow


def record(session: Session, at: datetime, event: Event) -> EventRow:
    """Add one event row in the caller's transaction and flush it, so pages can refer to it;
    an event of a type the duty log keeps writes its entry in the same transaction."""
    return record_all(session, [(at, event)])[0]


def record_all(session: Session, events: Sequence[tuple[datetime, Event]]) -> list[EventRow]:
    """`record` for several events, in their order, with one flush for all."""
    rows = [
        EventRow(
            at=at, type=event.type, alert_id=event.alert, station=event.station,
            level=event.level, data=event.data(),
        )
        for at, event in events
    ]  # fmt: skip
    session.add_all(rows)
    session.flush()
    for (at, event), row in zip(events, rows, strict=True):
        dutylog.from_event(session, at, event, row.id)
    return rows


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
