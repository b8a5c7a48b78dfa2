"""adopt_orphans: adopt: a resting order of ours from an earlier session is taken over; foreign or finished ones
are not."""

from __future__ import annotations

from kalshibot.core import events as ev
from kalshibot.core.fixed import contracts, dollars
from kalshibot.core.order_tracker import OrderTracker
from kalshibot.core.orders import State


def _update(coid: str | None, status: str = "resting", filled: int = 0) -> ev.OrderUpdate:
    return ev.OrderUpdate(
        "ord-9", coid, "T-1", status, "ask", dollars("0.60"), contracts(filled), contracts(5 - filled), contracts(5)
    )  # type: ignore[arg-type]


def test_resting_order_with_our_prefix_is_adopted_with_its_fills() -> None:
    t = OrderTracker(adopt_prefix="kb-")
    res = t.apply(_update("kb-old-3", filled=2), 1)
    o = t.get("kb-old-3")
    assert o is not None and o.order_id == "ord-9" and o.side == "ask" and o.price == dollars("0.60")
    assert res.new is State.PARTIALLY_FILLED and o.remaining == contracts(3)
    assert t.orders("T-1") == [o]


def test_foreign_unprefixed_and_finished_orders_are_not_adopted() -> None:
    t = OrderTracker(adopt_prefix="kb-")
    for u in (_update("manual-1"), _update(None), _update("kb-old-4", status="canceled")):
        assert t.apply(u, 1).order is None
    assert t.orders("T-1") == []
    assert OrderTracker().apply(_update("kb-old-5"), 1).order is None  # no prefix configured: nothing adopted
