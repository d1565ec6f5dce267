"""Escalation decisions. Pure: the policy, the step reached and the time in; what to do out.

An open alert stores the step it has reached and when the next step is due; one periodic job
advances every due alert, so restarts, clock jumps and several nodes behave the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from floodwatch.config import EscalationPolicy, EscalationStep


@dataclass(frozen=True)
class Advance:
    """The step to page now, and when the one after it is due (None: the policy is spent)."""

    step: int
    page: EscalationStep
    repeat: bool
    next_due: datetime | None


def next_due(policy: EscalationPolicy, step: int, paged_at: datetime) -> datetime | None:
    """When the step after `step` is due, given that `step` was paged at `paged_at`."""
    if step + 1 < len(policy.steps):
        return paged_at + policy.steps[step + 1].after
    if policy.repeat_every is not None:
        return paged_at + policy.repeat_every
    return None


def advance(policy: EscalationPolicy, step: int, now: datetime) -> Advance:
    """The alert at `step` went unacknowledged until its due time: move on (or repeat the last)."""
    repeat = step + 1 >= len(policy.steps)
    new_step = step if repeat else step + 1
    return Advance(new_step, policy.steps[new_step], repeat, next_due(policy, new_step, now))


def steps_so_far(policy: EscalationPolicy, step: int) -> list[EscalationStep]:
    """The steps reached up to and including `step`: who has been told of the alert."""
    return list(policy.steps[: step + 1])
