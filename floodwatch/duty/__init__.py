"""The duty office's own work besides alerts: handovers and their reminders (`announce`), the
daily roster coverage check (`coverage`), roster edits taken into force (`reload`)."""

from __future__ import annotations
