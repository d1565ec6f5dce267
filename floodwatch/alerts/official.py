"""Official warnings -> alert changes. Pure.

An official warning (NWS, UK EA, CAP) becomes an alert of its own, one per warning, at the level
whose CAP severity matches. A message is matched to a known warning by its id or by any id it
references; an Update changes the level or just the message in force, a Cancel, an expiry or a
message no longer in force clears it. Exercises and tests are recorded, never paged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from floodwatch.alerts.changes import Change, Transition
from floodwatch.config import OFFICIAL_POLICY as POLICY
from floodwatch.config import Level
from floodwatch.feeds.official import OfficialWarning


@dataclass(frozen=True)
class OpenWarning:
    """What is known of an open alert raised by an official warning."""

    rule_id: str
    level: str
    policy: str
    external_id: str


@dataclass(frozen=True)
class Reissued:
    """The same warning at the same level under a new message: the alert follows the message."""

    rule_id: str
    warning: OfficialWarning


@dataclass(frozen=True)
class NotActual:
    """An exercise, test, system or draft message: recorded, nothing else."""

    warning: OfficialWarning


Decision = Change | Reissued | NotActual


def level_for(severity: str, levels: Sequence[Level]) -> str:
    """The lowest level whose CAP severity matches; Unknown maps to the lowest level."""
    return next((lv.id for lv in levels if lv.cap_severity == severity), levels[0].id)


def rule_id_for(warning_id: str) -> str:
    """A stable rule id for a warning (ids can be long URLs)."""
    return "official:" + hashlib.sha1(warning_id.encode()).hexdigest()[:16]


def decide(
    feed: str,
    warnings: Sequence[OfficialWarning],
    open_: Mapping[str, OpenWarning],
    levels: Sequence[Level],
    now: datetime,
) -> list[Decision]:
    """What the feed's warnings do, in order, given its open alerts keyed by rule id."""
    known = dict(open_)
    order = [lv.id for lv in levels]
    out: list[Decision] = []
    for w in warnings:
        if w.status != "Actual":
            out.append(NotActual(w))
            continue
        ids = {w.id, *w.references}
        alert = next((a for a in known.values() if a.external_id in ids), None)
        ended = (
            w.msg_type == "Cancel" or not w.in_force or (w.expires is not None and w.expires <= now)
        )
        if alert is not None and alert.external_id == w.id and not ended:
            continue  # the same message again
        level = level_for(w.severity, levels)
        detail = {"headline": w.headline or w.event, "warning_id": w.id, "msg_type": w.msg_type}
        if alert is None:
            if ended:
                continue
            rule_id = rule_id_for(w.id)
            change = Change(
                Transition.OPENED, "official", rule_id, feed, w.event, POLICY, level, None, 0.0,
                "", w.sent, detail, w.id,
            )  # fmt: skip
            known[rule_id] = OpenWarning(rule_id, level, POLICY, w.id)
            out.append(change)
            continue
        old, new = order.index(alert.level), order.index(level)
        if ended:
            transition = Transition.CLEARED
        elif new > old:
            transition = Transition.RAISED
        elif new < old:
            transition = Transition.LOWERED
        else:
            known[alert.rule_id] = OpenWarning(alert.rule_id, alert.level, alert.policy, w.id)
            out.append(Reissued(alert.rule_id, w))
            continue
        out.append(
            Change(
                transition, "official", alert.rule_id, feed, w.event, alert.policy,
                None if ended else level, alert.level, 0.0, "", w.sent, detail, w.id,
            )
        )  # fmt: skip
        if ended:
            del known[alert.rule_id]
        else:
            known[alert.rule_id] = OpenWarning(alert.rule_id, level, alert.policy, w.id)
    return out
