"""A change to one alert, whatever caused it: a rule's crossing, a silent station, an official
warning. Pure data; `alerts.lifecycle` applies it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Transition(StrEnum):
    """How an alert moves (the word for it: an alert's *transition*)."""

    OPENED = "opened"
    RAISED = "raised"
    LOWERED = "lowered"
    CLEARED = "cleared"


@dataclass(frozen=True)
class Change:
    """`rule_type` is the type of rule behind the alert (threshold, rainfall, rate_of_rise,
    forecast, silence, official); `policy` the escalation policy's name; `level` the level after
    the change (None when cleared) and `previous` the level before (None when opened)."""

    transition: Transition
    rule_type: str
    rule_id: str
    station: str
    parameter: str
    policy: str
    level: str | None
    previous: str | None
    value: float
    unit: str
    observed_at: datetime | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    external_id: str | None = None  # official warnings: the message now in force
