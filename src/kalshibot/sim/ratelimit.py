"""Token-bucket rate limits per user, with Kalshi's tiers and endpoint costs (API.md §7.1).

Theory of operation
-------------------
Every user has two independent buckets, *read* and *write*. A request costs tokens (default 10; cancels 2; batch
create 10 per order, batch cancel 2 per order); write-class endpoints (order placement, amend, decrease, cancel,
order groups) draw from the write bucket, everything else from the read bucket. A bucket refills continuously at
``refill_rate`` tokens/s up to ``bucket_capacity``; a request is allowed iff the bucket holds enough tokens, else
it is refused with 429 ``{"error": "too many requests"}`` and no Retry-After (the server renders that body).
Tokens are kept in milli-tokens so refill from integer milliseconds is exact. Tier ``off`` disables limiting.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kalshibot.sim.simerrors import sim_error

# tier -> (read refill/s, read capacity, write refill/s, write capacity). API.md §7.1 table; "write buckets at
# non-Basic tiers hold two seconds" of budget (SDK wording), Basic holds one second.
TIERS: dict[str, tuple[int, int, int, int]] = {
    "basic": (200, 200, 100, 100),
    "advanced": (300, 300, 300, 600),
    "premier": (1000, 1000, 1000, 2000),
    "paragon": (2000, 2000, 2000, 4000),
    "prime": (4000, 4000, 4000, 8000),
}
DEFAULT_COST = 10
CANCEL_COST = 2
BATCH_CREATE_COST_PER_ORDER = 10
BATCH_CANCEL_COST_PER_ORDER = 2

# (method, path template) -> cost, for endpoints whose cost differs from DEFAULT_COST (GET /account/endpoint_costs).
# Batch endpoints are priced per item (the listed cost is the per-item cost).
ENDPOINT_COSTS: dict[tuple[str, str], int] = {
    ("DELETE", "/portfolio/events/orders/{order_id}"): CANCEL_COST,
    ("DELETE", "/portfolio/events/orders/batched"): BATCH_CANCEL_COST_PER_ORDER,
    ("POST", "/portfolio/events/orders/batched"): BATCH_CREATE_COST_PER_ORDER,
    ("DELETE", "/portfolio/orders/{order_id}"): CANCEL_COST,
    ("GET", "/portfolio/orders/{order_id}"): CANCEL_COST,  # "single-order reads" are cheap (API.md §7.1)
}
PER_ITEM = {("DELETE", "/portfolio/events/orders/batched"), ("POST", "/portfolio/events/orders/batched")}

_WRITE_PATHS = re.compile(r"^/portfolio/(events/orders|orders|order_groups)(/|$)")


def is_write(method: str, path: str) -> bool:
    """Write bucket: order placement/amend/decrease/cancel and order-group calls (API.md §7.1)."""
    return method.upper() != "GET" and bool(_WRITE_PATHS.match(path))


def _template(path: str) -> str:
    """Map a concrete path to the template used in :data:`ENDPOINT_COSTS` (ids become ``{order_id}``)."""
    parts = path.rstrip("/").split("/")
    if len(parts) >= 4 and parts[1] == "portfolio" and parts[2] == "events" and parts[3] == "orders":
        if len(parts) == 5 and parts[4] != "batched":
            parts[4] = "{order_id}"
    elif len(parts) == 4 and parts[1] == "portfolio" and parts[2] == "orders" and parts[3] != "queue_positions":
        parts[3] = "{order_id}"
    return "/".join(parts)


def cost_of(method: str, path: str, items: int = 1) -> int:
    """Token cost of a request (``path`` relative to ``/trade-api/v2``; ``items`` for batch endpoints)."""
    key = (method.upper(), _template(path))
    cost = ENDPOINT_COSTS.get(key, DEFAULT_COST)
    return cost * max(items, 1) if key in PER_ITEM else cost


@dataclass(slots=True)
class TokenBucket:
    refill_rate: int  # tokens per second
    capacity: int
    milli: int = -1  # milli-tokens in the bucket (starts full)
    last_ms: int = 0

    def __post_init__(self) -> None:
        if self.milli < 0:
            self.milli = self.capacity * 1000

    def take(self, tokens: int, now_ms: int) -> bool:
        if now_ms > self.last_ms:
            self.milli = min(self.capacity * 1000, self.milli + (now_ms - self.last_ms) * self.refill_rate)
            self.last_ms = now_ms
        need = tokens * 1000
        if self.milli < need:
            return False
        self.milli -= need
        return True

    def available(self, now_ms: int) -> int:
        """Whole tokens available at ``now_ms`` (no side effect)."""
        extra = max(0, now_ms - self.last_ms) * self.refill_rate
        return min(self.capacity * 1000, self.milli + extra) // 1000


class RateLimiter:
    """Per-user read/write buckets for one tier (``off`` = unlimited)."""

    def __init__(self, tier: str = "basic") -> None:
        if tier != "off" and tier not in TIERS:
            raise ValueError(f"unknown rate-limit tier {tier!r}")
        self.tier = tier
        self._buckets: dict[tuple[str, bool], TokenBucket] = {}

    def bucket(self, user_id: str, write: bool, now_ms: int) -> TokenBucket:
        b = self._buckets.get((user_id, write))
        if b is None:
            rr, rc, wr, wc = TIERS.get(self.tier, TIERS["basic"])
            b = TokenBucket(wr, wc, last_ms=now_ms) if write else TokenBucket(rr, rc, last_ms=now_ms)
            self._buckets[(user_id, write)] = b
        return b

    def charge(self, user_id: str, method: str, path: str, now_ms: int, items: int = 1) -> None:
        """Take the request's tokens or raise 429 ``too_many_requests``."""
        if self.tier == "off":
            return
        if not self.bucket(user_id, is_write(method, path), now_ms).take(cost_of(method, path, items), now_ms):
            raise sim_error("too_many_requests")

    def limits(self) -> dict[str, object]:
        """``GET /account/limits`` body (GetAccountApiLimitsResponse)."""
        rr, rc, wr, wc = TIERS.get(self.tier, (10**6, 10**6, 10**6, 10**6))
        return {
            "usage_tier": self.tier if self.tier != "off" else "prime",
            "read": {"refill_rate": rr, "bucket_capacity": rc},
            "write": {"refill_rate": wr, "bucket_capacity": wc},
            "grants": [],
        }


def endpoint_costs() -> dict[str, object]:
    """``GET /account/endpoint_costs`` body."""
    return {
        "default_cost": DEFAULT_COST,
        "endpoint_costs": [{"method": m, "path": p, "cost": c} for (m, p), c in sorted(ENDPOINT_COSTS.items())],
    }
