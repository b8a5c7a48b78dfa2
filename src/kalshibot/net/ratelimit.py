"""Client-side token buckets mirroring Kalshi's (API.md §7.1), so the bot never earns a 429 on its own.

Theory of operation
-------------------
Kalshi meters two independent buckets, *read* and *write*; each request costs tokens (default 10, cancels 2,
batch create 10 per order, batch cancel 2 per order) and a bucket refills at ``refill_rate`` tokens/s up to
``bucket_capacity``; both are read from ``GET /account/limits`` at startup (:meth:`TokenBucket.configure`).

A request waits here until its bucket holds its cost. Waiters are served by priority then arrival, so a cancel
(priority :data:`PRIORITY_CANCEL`) overtakes queued creates: taking quotes down is never starved by putting them up.
Only the head waiter sleeps on the clock; the others wait on an event the head sets when it leaves. A single
request may not cost more than the bucket holds (it could never be admitted): callers split batches with
:meth:`TokenBucket.max_items` first. When the exchange answers 429 anyway (clock drift, another process on the same
key) :meth:`TokenBucket.penalize` empties the bucket so everyone backs off for a refill period.

The clock and the sleep are injectable so tests run on virtual time.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

PRIORITY_CANCEL = 0
PRIORITY_DEFAULT = 5
PRIORITY_BACKGROUND = 9  # reconciliation reads, paging through markets

DEFAULT_COST = 10
CANCEL_COST = 2
BATCH_CREATE_COST_PER_ORDER = 10
BATCH_CANCEL_COST_PER_ORDER = 2

# Basic tier (API.md §7.1): used until GET /account/limits says otherwise
_EPS = 1e-6  # float refill arithmetic: a deficit this small is rounding, not a reason to sleep again

BASIC_READ = (200, 200)  # (refill tokens/s, capacity)
BASIC_WRITE = (100, 100)


def _monotonic() -> float:
    return time.monotonic()


@dataclass(order=True)
class _Waiter:
    priority: int
    seq: int
    cost: int = field(compare=False)
    wake: asyncio.Event = field(compare=False, default_factory=asyncio.Event)


class TokenBucket:
    """One Kalshi rate bucket. ``acquire(cost)`` waits until ``cost`` tokens are available and takes them."""

    def __init__(
        self,
        name: str,
        refill_per_s: float,
        capacity: int,
        *,
        clock: Callable[[], float] = _monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        safety: float = 1.0,
    ) -> None:
        self.name = name
        self._clock = clock
        self._sleep = sleep
        self._waiters: list[_Waiter] = []
        self._seq = itertools.count()
        self.spent = 0  # tokens taken (for metrics)
        self.safety = safety
        self.refill_per_s = 0.0
        self.capacity = 0
        self._tokens = 0.0
        self._last = clock()
        self.configure(refill_per_s, capacity)

    def configure(self, refill_per_s: float, capacity: int) -> None:
        """Resize from ``GET /account/limits``. ``safety`` < 1 leaves headroom for the exchange's own rounding."""
        if refill_per_s <= 0 or capacity <= 0:
            raise ValueError(f"{self.name} bucket: refill rate and capacity must be positive")
        first = self.capacity == 0
        if not first:
            self._refill()
        self.refill_per_s = refill_per_s * self.safety
        self.capacity = max(1, int(capacity * self.safety))
        # start full (as the exchange's bucket does for a fresh key); a resize never adds tokens
        self._tokens = float(self.capacity) if first else min(self._tokens, float(self.capacity))

    @property
    def tokens(self) -> float:
        self._refill()
        return self._tokens

    def max_items(self, cost_per_item: int) -> int:
        """How many items of a batch fit in one request (a batch never costs more than the bucket holds)."""
        return max(1, self.capacity // cost_per_item)

    def _refill(self) -> None:
        now = self._clock()
        elapsed = now - self._last
        if elapsed > 0:
            self._tokens = min(float(self.capacity), self._tokens + elapsed * self.refill_per_s)
        self._last = now

    def try_acquire(self, cost: int) -> bool:
        """Take ``cost`` tokens now if nobody is queued and they are there."""
        self._refill()
        if not self._waiters and self._tokens >= cost - _EPS:
            self._tokens = max(0.0, self._tokens - cost)
            self.spent += cost
            return True
        return False

    async def acquire(self, cost: int, *, priority: int = PRIORITY_DEFAULT) -> None:
        if cost > self.capacity:
            raise ValueError(f"{self.name} bucket: a request of {cost} tokens exceeds capacity {self.capacity}")
        if cost <= 0 or self.try_acquire(cost):
            return
        me = _Waiter(priority, next(self._seq), cost)
        heapq.heappush(self._waiters, me)
        try:
            while True:
                if self._waiters[0] is me:
                    self._refill()
                    if self._tokens >= cost - _EPS:
                        heapq.heappop(self._waiters)
                        self._tokens = max(0.0, self._tokens - cost)
                        self.spent += cost
                        return
                    await self._sleep((cost - self._tokens) / self.refill_per_s)
                else:
                    me.wake.clear()
                    await me.wake.wait()
        finally:
            if me in self._waiters:  # cancelled while queued
                self._waiters.remove(me)
                heapq.heapify(self._waiters)
            if self._waiters:
                self._waiters[0].wake.set()

    def penalize(self) -> None:
        """The exchange said 429: assume the bucket is empty there and refill from zero."""
        self._refill()
        self._tokens = 0.0


class RateLimiter:
    """Kalshi's read and write buckets plus the endpoint costs (API.md §7.1)."""

    def __init__(
        self,
        *,
        read: tuple[float, int] = BASIC_READ,
        write: tuple[float, int] = BASIC_WRITE,
        clock: Callable[[], float] = _monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        safety: float = 0.9,
    ) -> None:
        self.read = TokenBucket("read", read[0], read[1], clock=clock, sleep=sleep, safety=safety)
        self.write = TokenBucket("write", write[0], write[1], clock=clock, sleep=sleep, safety=safety)
        # (METHOD, path template) -> cost, from GET /account/endpoint_costs when loaded
        self.endpoint_costs: dict[tuple[str, str], int] = {}
        self.default_cost = DEFAULT_COST

    def configure(self, read: tuple[float, int], write: tuple[float, int]) -> None:
        self.read.configure(*read)
        self.write.configure(*write)

    def bucket_for(self, method: str, path: str) -> TokenBucket:
        """Writes are order placement, amends, cancels and order groups; everything else is a read (API.md §7.1)."""
        if method.upper() != "GET" and (path.startswith("/portfolio/") or path.startswith("/communications/")):
            return self.write
        return self.read

    def cost_of(self, method: str, path: str) -> int:
        """Cost of one non-batch request; ``path`` is the template (``/portfolio/events/orders/{order_id}``)."""
        c = self.endpoint_costs.get((method.upper(), path))
        if c is not None:
            return c
        if method.upper() == "DELETE" and path.startswith("/portfolio/events/orders/{"):
            return CANCEL_COST
        return self.default_cost


__all__ = [
    "BATCH_CANCEL_COST_PER_ORDER",
    "BATCH_CREATE_COST_PER_ORDER",
    "CANCEL_COST",
    "DEFAULT_COST",
    "PRIORITY_BACKGROUND",
    "PRIORITY_CANCEL",
    "PRIORITY_DEFAULT",
    "RateLimiter",
    "TokenBucket",
]
