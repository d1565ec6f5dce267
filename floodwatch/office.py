"""The office as messages present it: its name, its time zone and its alert levels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from floodwatch.config import Level, Settings


def local_time(when: datetime, zone: ZoneInfo) -> str:
    """An instant as people in `zone` read it: "2018-05-28 04:30 CST"."""
    return when.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


@dataclass(frozen=True)
class Office:
    name: str
    zone: ZoneInfo
    levels: Sequence[Level]

    @classmethod
    def from_settings(cls, settings: Settings) -> Office:
        return cls(settings.office, settings.timezone, tuple(settings.levels))

    def local(self, when: datetime) -> str:
        """An instant as the office reads it: "2018-05-28 04:30 CST"."""
        return local_time(when, self.zone)

    def level(self, level_id: str) -> Level:
        return next(lv for lv in self.levels if lv.id == level_id)

    @property
    def level_ids(self) -> list[str]:
        """Level ids from the lowest to the highest."""
        return [lv.id for lv in self.levels]
