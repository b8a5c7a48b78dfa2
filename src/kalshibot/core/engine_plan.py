"""The engine's last look at a reconciled plan before it becomes order actions (split out of engine_quote.py).

:func:`_no_self_cross` drops a place or amend that could meet one of our own orders on the other side while that
order may still rest; :func:`_cancel_first` orders a plan so cancels go out first.
"""

from __future__ import annotations

from kalshibot.core.orders import Order
from kalshibot.core.reconciler import Amend, Cancel, Place, Step


def _cancel_first(s: Step) -> int:
    return 0 if isinstance(s, Cancel) else 1


def _no_self_cross(live: list[Order], steps: list[Step]) -> list[Step]:
    """Drop a place/amend that would meet one of our own orders on the other side that may still rest (being
    cancelled, or moved by an amend not yet acknowledged): a post-only order would be cancelled by the exchange and
    a plain one would trade with ourselves. The next requote (after the other order's answer) sends it."""
    for s in steps:  # any() over a generator, as a plain loop (every requote that plans asks)
        if isinstance(s, Place) or (isinstance(s, Amend) and not s.expiry_only):
            break
    else:
        return steps  # nothing that could cross (the plan of keeps, cancels and decreases passes unchanged)
    bid_top, ask_low = _own_extremes(live)
    out: list[Step] = []
    for s in steps:
        if isinstance(s, Place | Amend) and not (isinstance(s, Amend) and s.expiry_only):
            side = s.side if isinstance(s, Place) else s.order.side
            if side == "bid" and ask_low is not None and s.price >= ask_low:
                continue
            if side == "ask" and bid_top is not None and s.price <= bid_top:
                continue
        out.append(s)
    return out


def _own_extremes(live: list[Order]) -> tuple[int | None, int | None]:
    """Our highest bid and lowest ask, each at the worse of its price and its amend's target (one plain loop): a
    place or amend at or through the other side's figure could meet that order (:func:`_no_self_cross`)."""
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
