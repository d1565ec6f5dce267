"""The duty log (值班记录): the one module that writes its entries.

Entries are written in the caller's transaction, beside the change they record, and never
edited afterwards. `kind` is the entry's type (the only thing called a kind in floodwatch).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from floodwatch.store.models import LogEntryRow

SYSTEM = "floodwatch"  # the author of automatic entries

# entry types written by floodwatch itself
AUTOMATIC = (
    "handover", "handover_reminder", "coverage", "roster", "roster_rejected", "feed_degraded",
    "feed_recovered", "alert_retired", "database_outage",
)  # fmt: skip


def write(
    session: Session, at: datetime, kind: str, text: str, data: dict[str, Any] | None = None,
    author: str = SYSTEM,
) -> LogEntryRow:  # fmt: skip
    """Add one entry to the duty log."""
    row = LogEntryRow(at=at, kind=kind, author=author, text=text, data=data or {})
    session.add(row)
    return row
