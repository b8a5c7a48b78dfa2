"""Issue 9 round 4: ``OrderTracker.has_unknown`` answers from a per-market count kept by ``_set`` (the only writer of
``Order.state``) instead of scanning the market's open orders. After every operation of random order lifecycles
(creates, amends, decreases, cancels, their acks and rejects, lost outcomes, venue updates in any status, fills,
cancel-all, prune; answers out of order, so unexpected transitions send orders to UNKNOWN too), the count must give
the scan's answer for every market."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kalshibot.core import events as ev
from kalshibot.core.fixed import Count, Money, Price
from kalshibot.core.order_tracker import OrderTracker
from kalshibot.core.orders import State

TICKERS = ["A", "B"]
COIDS = ["c0", "c1", "c2", "c3"]

ops = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "new",
                "ack",
                "send_amend",
                "amend_ack",
                "send_decrease",
                "decrease_ack",
                "send_cancel",
                "cancel_ack",
                "reject",
                "unknown",
                "update",
                "fill",
                "mark_cancelled",
                "prune",
            ]
        ),
        st.sampled_from(COIDS),
        st.sampled_from(TICKERS),
        st.sampled_from(["create", "amend", "decrease", "cancel"]),
        st.sampled_from(["resting", "executed", "canceled", "weird"]),
        st.integers(0, 3),
    ),
    max_size=40,
)


def _scan(tr: OrderTracker, ticker: str) -> bool:
    return any(o.state is State.UNKNOWN for o in tr.orders(ticker))


@settings(max_examples=600, deadline=None)
@given(ops)
def test_has_unknown_count_equals_scan(seq: list[tuple[str, str, str, str, str, int]]) -> None:
    tr = OrderTracker(strict=False, adopt_prefix="c")
    now = 0
    n = 0
    for kind, coid, ticker, request, status, k in seq:
        now += 100
        o = tr.get(coid)
        oid = o.order_id if o is not None and o.order_id else f"x-{coid}"
        cur = o.client_order_id if o is not None else coid
        if kind == "new":
            if o is None:
                tr.new(coid, ticker, "bid" if k % 2 else "ask", Price(400_000 + k * 10_000), Count(300), now)
        elif kind == "ack":
            tr.apply(ev.OrderAck(cur, oid, Count(0), Count(300)), now)
        elif kind == "send_amend" and o is not None:
            n += 1
            tr.send_amend(o, f"{coid}-a{n}", Price(410_000), Count(300 + k * 100), None, now)
        elif kind == "amend_ack":
            new = o.pending_client_order_id if o is not None and o.pending_client_order_id else cur
            tr.apply(ev.AmendAck(oid, new, Price(410_000), Count(200), Count(k * 50)), now)
        elif kind == "send_decrease" and o is not None:
            tr.send_decrease(o, Count(100), now)
        elif kind == "decrease_ack":
            tr.apply(ev.DecreaseAck(oid, cur, Count(k * 100)), now)
        elif kind == "send_cancel" and o is not None:
            tr.send_cancel(o, now)
        elif kind == "cancel_ack":
            tr.apply(ev.CancelAck(oid, cur, Count(k * 100)), now)
        elif kind == "reject":
            tr.apply(ev.OrderReject(cur, oid if k else None, "bad", "no", request), now)  # type: ignore[arg-type]
        elif kind == "unknown":
            tr.apply(ev.OutcomeUnknown(cur, oid if k else None, request), now)  # type: ignore[arg-type]
        elif kind == "update":
            rem = Count(k * 100)
            upd = ev.OrderUpdate(oid, cur, ticker, status, "bid", Price(400_000), Count(0), rem, rem)  # type: ignore[arg-type]
            tr.apply(upd, now)
        elif kind == "fill":
            n += 1
            tr.apply(
                ev.FillEvent(oid, f"t{n}", ticker, "yes", "bid", Price(400_000), Count(50 + k * 50), Money(0), False),
                now,
            )
        elif kind == "mark_cancelled":
            tr.mark_cancelled(ticker, now)
        elif kind == "prune":
            tr.prune(now + k * 400_000)
        for t in TICKERS:
            assert tr.has_unknown(t) == _scan(tr, t), (kind, t)


def test_the_property_reaches_unknown() -> None:
    """A lost create makes the order UNKNOWN; its lookup answer (a venue update) resolves it."""
    tr = OrderTracker(strict=False)
    o = tr.new("c0", "A", "bid", Price(400_000), Count(300), 0)
    tr.apply(ev.OutcomeUnknown("c0"), 1)
    assert o.state is State.UNKNOWN and tr.has_unknown("A") and not tr.has_unknown("B")
    upd = ev.OrderUpdate("x-c0", "c0", "A", "resting", "bid", Price(400_000), Count(0), Count(300), Count(300))
    tr.apply(upd, 2)
    assert o.state is State.RESTING and not tr.has_unknown("A")
