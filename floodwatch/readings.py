"""The one value every feed produces and every rule consumes."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from floodwatch.clock import require_aware


@dataclass(frozen=True, slots=True)
class Reading:
    """One observation: `value` in `unit` of `parameter` at `station`, observed at an instant."""

    station: str
    parameter: str
    value: float
    unit: str
    observed_at: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "observed_at", require_aware(self.observed_at, "observed_at"))
        if not math.isfinite(self.value):
            raise ValueError(f"{self.station}/{self.parameter}: value {self.value} is not finite")

    @property
    def key(self) -> tuple[str, str, datetime]:
        """What makes a reading unique: a repeat of it is the same observation."""
        return (self.station, self.parameter, self.observed_at)
