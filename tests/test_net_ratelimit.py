"""Client token buckets on a virtual clock: capacity, refill, cancels first, never more than the bucket holds."""

from __future__ import annotations

import asyncio

import pytest

from kalshibot.net.ratelimit import PRIORITY_CANCEL, PRIORITY_DEFAULT, RateLimiter, TokenBucket


class VirtualTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, s: float) -> None:
        self.now += max(s, 0.0)
        await asyncio.sleep(0)


async def test_burst_then_refill_rate() -> None:
    vt = VirtualTime()
    b = TokenBucket("w", 100, 100, clock=vt.clock, sleep=vt.sleep)
    for _ in range(10):
        await b.acquire(10)
    assert vt.now == 0.0  # a full bucket admits its capacity at once
    await b.acquire(10)
    assert vt.now == pytest.approx(0.1)  # then 10 tokens take 0.1 s at 100/s
    for _ in range(50):
        await b.acquire(10)
    # 60 more requests of 10 tokens after the initial 100 => 6 s at 100 tokens/s... minus nothing
    assert vt.now == pytest.approx(5.1)


async def test_cancels_overtake_queued_creates() -> None:
    # real clock (a virtual sleep would hand the head waiter its tokens before the cancel arrives): ~0.3 s
    b = TokenBucket("w", 100, 10)
    await b.acquire(10)  # empty
    order: list[str] = []

    async def take(name: str, cost: int, prio: int) -> None:
        await b.acquire(cost, priority=prio)
        order.append(name)

    tasks = [asyncio.create_task(take(f"create{i}", 10, PRIORITY_DEFAULT)) for i in range(3)]
    await asyncio.sleep(0)
    tasks.append(asyncio.create_task(take("cancel", 2, PRIORITY_CANCEL)))
    await asyncio.gather(*tasks)
    assert order[0] == "cancel"
    assert order[1:] == ["create0", "create1", "create2"]


async def test_request_larger_than_capacity_is_refused_and_batches_are_sized() -> None:
    b = TokenBucket("w", 100, 100)
    with pytest.raises(ValueError):
        await b.acquire(101)
    assert b.max_items(10) == 10
    lim = RateLimiter(write=(100, 100), safety=0.9)
    assert lim.write.max_items(10) == 9  # headroom: a batch never costs more than the bucket holds


async def test_cancelled_waiter_does_not_block_others() -> None:
    vt = VirtualTime()
    b = TokenBucket("w", 10, 10, clock=vt.clock, sleep=vt.sleep)
    await b.acquire(10)
    blocked = asyncio.create_task(b.acquire(10))
    await asyncio.sleep(0)
    blocked.cancel()
    with pytest.raises(asyncio.CancelledError):
        await blocked
    assert not b._waiters  # the cancelled waiter left the queue
    await asyncio.wait_for(b.acquire(5), 1.0)  # and does not hold up the next one


def test_buckets_and_costs() -> None:
    lim = RateLimiter()
    assert lim.bucket_for("GET", "/portfolio/orders") is lim.read
    assert lim.bucket_for("POST", "/portfolio/events/orders") is lim.write
    assert lim.bucket_for("DELETE", "/portfolio/events/orders/{order_id}") is lim.write
    assert lim.cost_of("DELETE", "/portfolio/events/orders/{order_id}") == 2
    assert lim.cost_of("POST", "/portfolio/events/orders") == 10


async def test_penalize_after_429_empties_the_bucket() -> None:
    vt = VirtualTime()
    b = TokenBucket("w", 100, 100, clock=vt.clock, sleep=vt.sleep)
    b.penalize()
    await b.acquire(50)
    assert vt.now == pytest.approx(0.5)
