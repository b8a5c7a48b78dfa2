"""The coalescing rule every venue applies to one submission (core/coalesce.py)."""

from __future__ import annotations

from kalshibot.core import events as ev
from kalshibot.core.coalesce import coalesce
from kalshibot.core.fixed import contracts, dollars


def _place(coid: str) -> ev.PlaceOrder:
    return ev.PlaceOrder(coid, "T", "bid", dollars("0.40"), contracts(1), "i", 1)


def test_create_and_its_cancel_cancel_out_and_other_actions_keep_their_order() -> None:
    a, b = _place("kb-1"), _place("kb-2")
    cancel_a = ev.CancelOrder(None, "kb-1", "T")
    cancel_c = ev.CancelOrder("ord-3", "kb-3", "T")
    kept, dropped = coalesce([a, cancel_c, b, cancel_a])
    assert kept == [cancel_c, b] and dropped == ["kb-1"]


def test_amend_or_decrease_superseded_by_a_cancel_of_the_same_order_is_dropped() -> None:
    amend = ev.AmendOrder("ord-1", "kb-1", "kb-1b", "T", "bid", dollars("0.41"), contracts(1), None, "i", 2)
    dec = ev.DecreaseOrder("ord-2", "kb-2", "T", contracts(1), "i")
    other = ev.DecreaseOrder("ord-9", "kb-9", "T", contracts(1), "i")
    kept, dropped = coalesce(
        [amend, dec, other, ev.CancelOrder("ord-1", "kb-1", "T"), ev.CancelOrder("ord-2", "kb-2", "T")]
    )
    assert kept == [other, ev.CancelOrder("ord-1", "kb-1", "T"), ev.CancelOrder("ord-2", "kb-2", "T")]
    assert dropped == []


def test_nothing_to_coalesce_keeps_everything() -> None:
    acts: list[ev.Action] = [_place("kb-1"), ev.CancelOrder(None, "kb-7", "T")]
    assert coalesce(acts) == (acts, [])
