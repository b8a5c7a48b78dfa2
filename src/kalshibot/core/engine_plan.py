"""The engine's last look at a reconciled plan before it becomes order actions (split out of engine_quote.py).

:func:`_own_extremes` gives the prices a place or amend must not reach so that it cannot meet one of our own orders
on the other side while that order may still rest (``QuotingCore._actions`` skips such a step: a post-only order
would be cancelled by the exchange and a plain one would trade with ourselves; the next requote, after the other
order's answer, sends it); :func:`_cancel_first` orders a plan so cancels go out first.
"""

from __future__ import annotations

from kalshibot.core.orders import Order
from kalshibot.core.reconciler import Cancel, Step


def _cancel_first(s: Step) -> int:
    return 0 if isinstance(s, Cancel) else 1


def _own_extremes(live: list[Order]) -> tuple[int | None, int | None]:
    """Our highest bid and lowest ask, each at the worse of its price and its amend's target (one plain loop): a
    place or amend at or through the other side's figure could meet that order."""
    bid_top: int | None = None
    ask_low: int | None = None
    for o in live:
        p, tp = o.price, o.target_price
        if o.side == "bid":
            hi = p if p >= tp else tp
            if bid_top is None or hi > bid_top:
                bid_top = hi
        elif o.side == "ask":
            lo = p if p <= tp else tp
            if ask_low is None or lo < ask_low:
                ask_low = lo
    return bid_top, ask_low
