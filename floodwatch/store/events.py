"""Pipeline events: written in the same transaction as the change they describe."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from floodwatch.store.models import EventRow


def record(
    session: Session,
    at: datetime,
    type: str,
    *,
    alert_id: int | None = None,
    station: str | None = None,
    level: str | None = None,
    **data: Any,
) -> EventRow:
    """Add one event row and flush it, so pages can refer to its id."""
    row = EventRow(at=at, type=type, alert_id=alert_id, station=station, level=level, data=data)
    session.add(row)
    session.flush()
    return row


def as_json(row: EventRow, zone: Any = None) -> dict[str, Any]:
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
