"""Silent stations. Pure.

A station configured with `expect_every` (its feed's cadence) that has sent nothing for
`factor` times that long raises a data alert; its next reading clears it. Only data alerts: a
water alert keeps its level while its station is silent. Silence is counted from the last
reading seen, so a station that has never reported is not (yet) silent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from floodwatch.alerts.changes import Change, Transition

RULE_TYPE = "silence"


@dataclass(frozen=True)
class SilenceRule:
    factor: float
    level: str  # a level id
    policy: str


def rule_id(station: str) -> str:
    return f"silence:{station}"


def gone_silent(
    rule: SilenceRule,
    cadence: Mapping[str, timedelta],
    last_seen: Mapping[str, datetime],
    already_open: set[str],
    now: datetime,
) -> list[Change]:
    """An opening change for each watched station silent too long that has no data alert."""
    out = []
    for station, every in cadence.items():
        last = last_seen.get(station)
        if last is None or station in already_open:
            continue
        if now - last > every * rule.factor:
            minutes = int((now - last) / timedelta(minutes=1))
            out.append(
                Change(
                    Transition.OPENED, RULE_TYPE, rule_id(station), station, "*", rule.policy,
                    rule.level, None, float(minutes), "min", last,
                    {"last_observed_at": last.isoformat()},
                )
            )  # fmt: skip
    return out


def heard_from(station: str, level: str, policy: str) -> Change:
    """The station reports again: its data alert (at `level`, under `policy`) clears."""
    return Change(
        Transition.CLEARED, RULE_TYPE, rule_id(station), station, "*", policy, None, level, 0.0,
        "min",
    )  # fmt: skip
