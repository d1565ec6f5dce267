"""Token buckets: how many sends a provider allows. Pure: time (monotonic seconds) is passed in.

A bucket holds up to `burst` tokens and gains `rate` tokens every `per` seconds; a send takes one.
`block(until)` empties it until then (a provider's Retry-After, DingTalk's ten-minute block after
too many messages). `take_all` takes one token from several buckets at once, or from none.

A provider that counts "at most N a minute" over any minute (DingTalk's and WeCom's robots: 20, and
DingTalk blocks the robot for ten minutes beyond that) needs a `SlidingWindow` instead: a token
bucket of N a minute allows N at once and then one more every 60/N s, i.e. N + 1 within 60/N s.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Limit:
    """`rate` sends per `per` seconds, bursts of at most `burst` (default: `rate`); with
    `window`, at most `rate` sends in any `per` seconds (no burst beyond that)."""

    rate: int
    per: float
    burst: int | None = None
    window: bool = False

    def __post_init__(self) -> None:
        if self.rate < 1 or not math.isfinite(self.per) or self.per <= 0:
            raise ValueError(f"a rate limit needs rate >= 1 and per > 0, got {self}")
        if self.burst is not None and self.burst < 1:
            raise ValueError(f"a rate limit's burst must be >= 1, got {self.burst}")
        if self.window and self.burst is not None:
            raise ValueError(f"a sliding window's burst is its rate, got {self}")

    @property
    def capacity(self) -> int:
        return self.burst if self.burst is not None else self.rate

    @property
    def interval(self) -> float:
        """Seconds between tokens."""
        return self.per / self.rate


class TokenBucket:
    def __init__(self, limit: Limit, now: float) -> None:
        self.limit = limit
        self._tokens = float(limit.capacity)
        self._at = now
        self._blocked_until = -math.inf

    def _refill(self, now: float) -> None:
        if now > self._at:
            gained = (now - self._at) / self.limit.interval
            self._tokens = min(float(self.limit.capacity), self._tokens + gained)
            self._at = now

    def available(self, now: float) -> float:
        """Tokens there now (0 while blocked)."""
        if now < self._blocked_until:
            return 0.0
        self._refill(now)
        return self._tokens

    def wait(self, now: float) -> float:
        """Seconds until a token is there (0: now)."""
        if now < self._blocked_until:
            return self._blocked_until - now
        self._refill(now)
        if self._tokens >= 1:
            return 0.0
        return (1 - self._tokens) * self.limit.interval

    def take(self, now: float) -> bool:
        if self.wait(now) > 0:
            return False
        self._tokens -= 1
        return True

    def give_back(self) -> None:
        """Undo a `take` (the send did not happen after all)."""
        self._tokens = min(float(self.limit.capacity), self._tokens + 1)

    def block(self, until: float) -> None:
        """No token before `until`; the bucket starts again empty then."""
        if until > self._blocked_until:
            self._blocked_until = until
            self._tokens = 0.0
            self._at = until


class SlidingWindow:
    """At most `limit.rate` sends in any `limit.per` seconds: the times of the sends still in
    the window are kept (at most `rate` of them)."""

    def __init__(self, limit: Limit, now: float) -> None:
        self.limit = limit
        self._sent: list[float] = []
        self._blocked_until = -math.inf

    def _forget(self, now: float) -> None:
        cut = bisect.bisect_right(self._sent, now - self.limit.per)
        if cut:
            del self._sent[:cut]

    def available(self, now: float) -> float:
        """Sends allowed now (0 while blocked)."""
        if now < self._blocked_until:
            return 0.0
        self._forget(now)
        return float(self.limit.rate - len(self._sent))

    def wait(self, now: float) -> float:
        """Seconds until a send is allowed (0: now): until the oldest send leaves the window."""
        if now < self._blocked_until:
            return self._blocked_until - now
        self._forget(now)
        if len(self._sent) < self.limit.rate:
            return 0.0
        return self._sent[-self.limit.rate] + self.limit.per - now

    def take(self, now: float) -> bool:
        if self.wait(now) > 0:
            return False
        bisect.insort(self._sent, now)  # threads may take with instants slightly out of order
        return True

    def give_back(self) -> None:
        """Undo the latest `take`."""
        if self._sent:
            self._sent.pop()

    def block(self, until: float) -> None:
        """No send before `until`; the window starts again empty then."""
        if until > self._blocked_until:
            self._blocked_until = until
            self._sent.clear()


Bucket = TokenBucket | SlidingWindow


def bucket_for(limit: Limit, now: float) -> Bucket:
    return SlidingWindow(limit, now) if limit.window else TokenBucket(limit, now)


def take_all(buckets: Sequence[Bucket], now: float) -> float:
    """Take one token from every bucket, or from none: 0.0 when taken, else the seconds until
    all of them could give one."""
    wait = max((b.wait(now) for b in buckets), default=0.0)
    if wait > 0:
        return wait
    for b in buckets:
        b.take(now)
    return 0.0
