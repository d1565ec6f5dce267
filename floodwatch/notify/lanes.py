"""Delivery lanes: one per notifier, with its own concurrency and token buckets (per notifier,
per sender, per target), so a slow or throttled channel never holds another back. A lane
admits a page only when all its buckets have a token and a send slot is free; the dispatcher
claims only what its lanes admit. Under a limit without bursts (an SMS sender's 1 a
second) a worker also waits until the previous send started an interval ago (`pace`): the
provider counts requests as they arrive, not as they were admitted.

Time is the lane's own (monotonic seconds in the service, simulated seconds in replay): rate
limits are the providers', in real time. Buckets are per node: with several nodes, each keeps
the provider's limit on its own (say the limits per node accordingly).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from floodwatch.notify.base import Notifier, capabilities_of, limits_of
from floodwatch.notify.buckets import Bucket, Limit, TokenBucket, bucket_for, take_all


class Lane:
    def __init__(self, channel: str, notifier: Notifier, now: float) -> None:
        self.channel = channel
        self.notifier = notifier
        self.capabilities = capabilities_of(notifier)
        self.limits = limits_of(notifier)
        self.foldable = callable(getattr(notifier, "fold", None))
        self._whole = self._bucket(self.limits.notifier, now)
        self._senders: dict[str, Bucket] = {}
        self._targets: dict[str, Bucket] = {}
        self._lock = threading.Lock()
        self._started: dict[str, float] = {}  # when the last send of a paced key may start
        self._in_flight = 0
        self._executor: ThreadPoolExecutor | None = None

    @staticmethod
    def _bucket(limit: Limit | None, now: float) -> Bucket | None:
        return bucket_for(limit, now) if limit is not None else None

    def _sender(self, sender: str, now: float) -> Bucket | None:
        if self.limits.sender is None:
            return None
        if sender not in self._senders:
            self._senders[sender] = bucket_for(self.limits.sender, now)
        return self._senders[sender]

    def _target(self, target: str, now: float) -> Bucket | None:
        if self.limits.target is None:
            return None
        if target not in self._targets:
            self._targets[target] = bucket_for(self.limits.target, now)
        return self._targets[target]

    def admit(self, sender: str, target: str, now: float) -> float:
        """Take a token for a send from `sender` to `target`: 0.0 when taken, else the seconds
        until one could be."""
        with self._lock:
            buckets = [self._whole, self._sender(sender, now), self._target(target, now)]
            return take_all([b for b in buckets if b is not None], now)

    def pace(self, sender: str, now: float) -> float:
        """Seconds a send from `sender`, admitted earlier, should wait before it starts, so that
        the sends under a limit without bursts (an SMS sender's, a call account's 1 a second)
        leave at least its interval apart. Tokens are taken when the dispatcher claims, and a
        provider counts requests when they arrive: between the two lie the claim's commit and a
        worker picking the send up, which take longer for one send than for the next."""
        paced = (("sender " + sender, self.limits.sender), ("lane", self.limits.notifier))
        with self._lock:
            start, keys = now, []
            for key, limit in paced:
                if limit is None or limit.window or limit.capacity != 1:
                    continue
                last = self._started.get(key)
                if last is not None:
                    start = max(start, last + limit.interval)
                keys.append(key)
            for key in keys:
                self._started[key] = start
            return start - now

    def tokens_now(self, sender: str, now: float) -> int:
        """How many sends the channel's and `sender`'s buckets allow at once now: how many
        pages a robot can take before the rest must be folded into a digest."""
        with self._lock:
            buckets = [b for b in (self._whole, self._sender(sender, now)) if b is not None]
            return min((int(b.available(now)) for b in buckets), default=1_000_000)

    def block(self, sender: str, until: float, now: float) -> None:
        """The provider said to wait (Retry-After, DingTalk's ten minutes): no send from this
        sender (or, on a channel without senders, on the channel) before `until`."""
        with self._lock:
            bucket = self._sender(sender, now)
            if bucket is None:
                if self._whole is None:  # no limit declared, yet the provider asks to wait
                    self._whole = TokenBucket(Limit(rate=1_000_000, per=1.0), now)
                bucket = self._whole
            bucket.block(until)

    # -- concurrency ---------------------------------------------------------------------------

    def free_slots(self) -> int:
        with self._lock:
            return max(0, self.capabilities.concurrency - self._in_flight)

    def started(self, n: int = 1) -> None:
        with self._lock:
            self._in_flight += n

    def finished(self, n: int = 1) -> None:
        with self._lock:
            self._in_flight -= n

    def executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=self.capabilities.concurrency,
                    thread_name_prefix=f"lane-{self.channel}",
                )
            return self._executor

    def shutdown(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
