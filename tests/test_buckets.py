"""Token buckets and sliding windows, on an explicit clock."""

from __future__ import annotations

import pytest

from floodwatch.notify.buckets import Limit, SlidingWindow, TokenBucket, bucket_for, take_all


def test_a_bucket_allows_its_burst_then_its_rate() -> None:
    b = TokenBucket(Limit(rate=20, per=60.0), now=0.0)  # a chat robot: 20 a minute
    assert all(b.take(0.0) for _ in range(20))
    assert not b.take(0.0)
    assert b.wait(0.0) == pytest.approx(3.0)  # one token every 3 s
    assert not b.take(2.9)
    assert b.take(3.0)
    assert not b.take(3.0)


def test_a_burst_of_one_paces_evenly() -> None:
    b = TokenBucket(Limit(rate=1, per=1.0), now=0.0)  # an SMS sender: 1 a second
    sent = [t / 10 for t in range(0, 50) if b.take(t / 10)]
    assert sent == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_tokens_do_not_pile_up_beyond_the_burst() -> None:
    b = TokenBucket(Limit(rate=2, per=1.0, burst=3), now=0.0)
    assert [b.take(100.0) for _ in range(4)] == [True, True, True, False]


def test_a_block_empties_the_bucket_until_then() -> None:
    b = TokenBucket(Limit(rate=20, per=60.0), now=0.0)
    b.take(0.0)
    b.block(600.0)  # DingTalk: ten minutes after too many messages
    assert b.wait(10.0) == pytest.approx(590.0)
    assert not b.take(599.0)
    assert b.wait(600.0) == pytest.approx(3.0)  # empty when the block ends, then refilling
    assert b.take(603.0)


def test_take_all_takes_from_every_bucket_or_none() -> None:
    channel = TokenBucket(Limit(rate=10, per=1.0), now=0.0)
    sender = TokenBucket(Limit(rate=1, per=1.0), now=0.0)
    assert take_all([channel, sender], 0.0) == 0.0
    assert take_all([channel, sender], 0.0) == pytest.approx(1.0)  # the sender is empty ...
    assert channel.wait(0.0) == 0.0 and channel._tokens == pytest.approx(9.0)  # ... none taken
    assert take_all([channel, sender], 1.0) == 0.0


def test_give_back_undoes_a_take() -> None:
    b = TokenBucket(Limit(rate=1, per=1.0), now=0.0)
    assert b.take(0.0) and not b.take(0.0)
    b.give_back()
    assert b.take(0.0)


@pytest.mark.parametrize(
    "limit", [dict(rate=0, per=1.0), dict(rate=1, per=0.0), dict(rate=1, per=float("nan")),
              dict(rate=1, per=1.0, burst=0)],
)  # fmt: skip
def test_a_meaningless_limit_is_refused(limit: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="rate limit"):
        Limit(**limit)  # type: ignore[arg-type]


def test_a_window_allows_its_rate_in_any_period_and_no_more() -> None:
    # a robot: 20 in any minute. A bucket of 20 a minute would allow a 21st 3 s after the 20th
    w = SlidingWindow(Limit(rate=20, per=60.0, window=True), now=0.0)
    assert all(w.take(t * 0.5) for t in range(20))  # 0.0 ... 9.5 s
    assert w.available(10.0) == 0
    assert not w.take(59.9)
    assert w.wait(30.0) == pytest.approx(30.0)  # until the first send leaves the window
    assert w.take(60.0)
    assert not w.take(60.2)
    assert w.wait(60.2) == pytest.approx(0.3)  # the second send (0.5 s) leaves at 60.5 s
    sent = [10 + t / 10 for t in range(0, 600) if w.take(10 + t / 10)]
    assert len(sent) == 19  # those of 0.5 ... 9.5 s, each a minute later


def test_a_window_block_refuses_until_then_and_starts_empty() -> None:
    w = SlidingWindow(Limit(rate=20, per=60.0, window=True), now=0.0)
    assert w.take(0.0)
    w.block(600.0)  # DingTalk: ten minutes after too many messages
    assert w.wait(10.0) == pytest.approx(590.0) and w.available(10.0) == 0
    assert w.available(600.0) == 20
    w.give_back()  # nothing taken since: nothing to give back
    assert all(w.take(600.0) for _ in range(20)) and not w.take(600.0)
    w.give_back()
    assert w.take(600.0)


def test_bucket_for_chooses_by_the_limit() -> None:
    assert isinstance(bucket_for(Limit(1, 1.0), 0.0), TokenBucket)
    assert isinstance(bucket_for(Limit(20, 60.0, window=True), 0.0), SlidingWindow)
    with pytest.raises(ValueError, match="sliding window"):
        Limit(rate=20, per=60.0, burst=5, window=True)
