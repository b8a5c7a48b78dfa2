"""Order groups: a per-group fill-rate circuit breaker (API.md §3.10).

Theory of operation
-------------------
A group has a ``contracts_limit``: the most contracts its orders may match within a rolling 15-second window
(:data:`~kalshibot.sim.simerrors.ORDER_GROUP_WINDOW_MS`). Every fill of a member order is recorded with its time;
when the sum inside the window reaches the limit the group *triggers*: the exchange cancels all of its resting
orders and refuses new ones until ``reset`` (which zeroes the window). ``trigger`` does the same on demand, a new
limit that is already exceeded triggers at once, and ``delete`` cancels the orders and removes the group. This
module keeps only the group state; the exchange facade does the cancelling and emits ``order_group_updates``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from kalshibot.sim.simerrors import ORDER_GROUP_WINDOW_MS


@dataclass(slots=True, eq=False)
class OrderGroup:
    group_id: str
    user_id: str
    subaccount: int
    contracts_limit: int  # centi-contracts
    created_ts_ms: int
    triggered: bool = False
    order_ids: list[str] = field(default_factory=list)  # every order ever attached, oldest first
    window: deque[tuple[int, int]] = field(default_factory=deque)  # (ts_ms, centi-contracts matched)
    window_sum: int = 0

    def _prune(self, now_ms: int) -> None:
        while self.window and self.window[0][0] <= now_ms - ORDER_GROUP_WINDOW_MS:
            self.window_sum -= self.window.popleft()[1]

    def matched_in_window(self, now_ms: int) -> int:
        self._prune(now_ms)
        return self.window_sum

    def record_fill(self, count: int, now_ms: int) -> bool:
        """Count a fill of a member order; True when this fill makes the group trigger."""
        self._prune(now_ms)
        self.window.append((now_ms, count))
        self.window_sum += count
        return not self.triggered and self.window_sum >= self.contracts_limit

    def limit_exceeded(self, now_ms: int) -> bool:
        return self.matched_in_window(now_ms) >= self.contracts_limit

    def reset(self) -> None:
        self.triggered = False
        self.window.clear()
        self.window_sum = 0
