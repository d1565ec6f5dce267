"""Lanes: admission by the buckets, and the pace of sends under a limit of one at a time, on an
explicit clock."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from floodwatch.notify.base import DeliveryResult, Message, Outcome, RateLimits
from floodwatch.notify.buckets import Limit
from floodwatch.notify.lanes import Lane


@dataclass
class Limited:
    """A notifier declaring `limits` and nothing else."""

    limits: RateLimits
    name: str = "limited"
    sent: list[Message] = field(default_factory=list)

    def address_for(self, person: object) -> str | None:
        return None

    def send(self, message: Message) -> DeliveryResult:
        self.sent.append(message)
        return DeliveryResult(Outcome.ACCEPTED)


def test_sends_of_one_sender_start_an_interval_apart_whenever_they_were_admitted() -> None:
    lane = Lane("sms", Limited(RateLimits(sender=Limit(1, 1.0))), now=0.0)
    assert lane.admit("+15005550001", "a", 0.0) == 0.0
    assert lane.admit("+15005550001", "b", 1.0) == 0.0
    # the first send's worker picks it up late (0.4 s), the second's at once (1.05 s)
    assert lane.pace("+15005550001", 0.4) == 0.0
    assert lane.pace("+15005550001", 1.05) == pytest.approx(0.35)  # starts at 1.4 s
    assert lane.pace("+15005550002", 1.05) == 0.0  # another sender has its own pace
    assert lane.pace("+15005550001", 3.0) == 0.0  # long after: no wait


def test_a_lane_limit_of_one_at_a_time_paces_the_whole_lane() -> None:
    lane = Lane("voice", Limited(RateLimits(notifier=Limit(1, 1.0))), now=0.0)
    assert lane.pace("+15005550100", 0.5) == 0.0
    assert lane.pace("+15005550101", 0.7) == pytest.approx(0.8)


@pytest.mark.parametrize(
    "limits",
    [RateLimits(), RateLimits(sender=Limit(20, 60.0, window=True)),
     RateLimits(sender=Limit(100, 60.0, burst=5))],
)  # fmt: skip
def test_bursts_and_windows_are_not_paced(limits: RateLimits) -> None:
    lane = Lane("robot", Limited(limits), now=0.0)
    assert [lane.pace("robot", 0.0) for _ in range(3)] == [0.0, 0.0, 0.0]


def test_a_robot_lane_admits_20_in_any_minute_and_folds_the_rest() -> None:
    lane = Lane("ding", Limited(RateLimits(sender=Limit(20, 60.0, window=True))), now=0.0)
    assert lane.tokens_now("ding", 0.0) == 20
    assert all(lane.admit("ding", "group", t * 0.1) == 0.0 for t in range(20))
    assert lane.tokens_now("ding", 5.0) == 0
    assert lane.admit("ding", "group", 5.0) == pytest.approx(55.0)  # not 3 s, as a bucket would
    assert lane.tokens_now("ding", 60.05) == 1
