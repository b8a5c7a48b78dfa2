"""Fill models and the virtual venue: queue position, touch, conservative, crossing, amend, fees."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kalshibot.core.events import BookDelta, BookSnapshot, TradePrint
from kalshibot.core.fees import trade_fee
from kalshibot.core.fixed import Count, Price, contracts, dollars
from kalshibot.replay.fillmodels import make_fill_model
from kalshibot.replay.venue import VirtualVenue

T = "MKT-A"


def snap(bids: list[tuple[str, int]], no_bids: list[tuple[str, int]], seq: int = 1) -> BookSnapshot:
    return BookSnapshot(
        ticker=T,
        sid=1,
        seq=seq,
        yes=tuple((dollars(p), contracts(n)) for p, n in bids),
        no=tuple((dollars(p), contracts(n)) for p, n in no_bids),
    )


def delta(side: str, price: str, n: int, seq: int, coid: str | None = None) -> BookDelta:
    return BookDelta(T, 1, seq, side, dollars(price), contracts(n), client_order_id=coid)  # type: ignore[arg-type]


def trade(price: str, n: int, taker: str, tid: str = "t") -> TradePrint:
    return TradePrint(T, tid, dollars(price), contracts(n), taker)  # type: ignore[arg-type]


def venue(model: str) -> VirtualVenue:
    v = VirtualVenue(make_fill_model(model, grace_ms=100))
    # YES bids 0.40 x10, NO bids 0.55 x10 -> YES ask 0.45 x10
    v.on_market_event(snap([("0.40", 10)], [("0.55", 10)]), 0)
    return v


def place_bid(v: VirtualVenue, price: str = "0.40", n: int = 5, coid: str = "c1") -> str:
    r = v.place(T, "bid", dollars(price), contracts(n), client_order_id=coid, now_ms=1)
    assert r.accepted and r.order_id
    return r.order_id


def test_queue_joins_back_and_fills_only_after_queue_ahead() -> None:
    v = venue("queue")
    oid = place_bid(v)
    o = v.order(oid)
    assert o is not None and o.queue_ahead == contracts(10)
    # a seller hits 0.40 for 8: all of it goes to the 10 ahead of us
    assert v.on_market_event(trade("0.40", 8, "no", "t1"), 2) == []
    assert o.queue_ahead == contracts(2)
    # the book delta of that same trade must not advance us again
    assert v.on_market_event(delta("yes", "0.40", -8, 2), 3) == []
    v.tick(10_000)
    assert o.queue_ahead == contracts(2)
    # next print of 4: 2 to the queue, 2 to us
    fills = v.on_market_event(trade("0.40", 4, "no", "t2"), 20_000)
    assert [(f.count, f.yes_price, f.is_taker, f.outcome) for f in fills] == [
        (contracts(2), dollars("0.40"), False, "yes")
    ]
    assert v.positions[T] == contracts(2)
    assert o.remaining == contracts(3)


def test_queue_delta_before_trade_is_not_double_counted() -> None:
    v = venue("queue")
    oid = place_bid(v)
    o = v.order(oid)
    assert o is not None
    assert v.on_market_event(delta("yes", "0.40", -6, 2), 5) == []
    assert o.queue_ahead == contracts(10)  # waits for a print to explain it
    assert v.on_market_event(trade("0.40", 6, "no"), 6) == []
    assert o.queue_ahead == contracts(4)
    v.tick(1_000)
    assert o.queue_ahead == contracts(4)


def test_queue_unexplained_decrease_is_a_cancel_after_grace() -> None:
    v = venue("queue")
    oid = place_bid(v)
    o = v.order(oid)
    assert o is not None
    v.on_market_event(delta("yes", "0.40", -7, 2), 5)
    assert o.queue_ahead == contracts(10)
    v.tick(200)
    assert o.queue_ahead == contracts(3)
    # growth at the level is behind us
    v.on_market_event(delta("yes", "0.40", 50, 3), 300)
    assert o.queue_ahead == contracts(3)


def test_queue_trade_through_fills_up_to_print_size() -> None:
    v = venue("queue")
    place_bid(v, n=5)
    fills = v.on_market_event(trade("0.39", 3, "no", "t9"), 2)
    assert sum(f.count for f in fills) == contracts(3)
    assert all(f.yes_price == dollars("0.40") for f in fills)
    assert fills[0].trade_id == f"t9:{fills[0].order_id}"


def test_queue_wrong_aggressor_does_not_fill() -> None:
    v = venue("queue")
    place_bid(v)
    # a YES buyer lifting asks does not trade with our bid
    assert v.on_market_event(trade("0.45", 50, "yes"), 2) == []


def test_queue_crossing_book_fills_once() -> None:
    v = venue("queue")
    place_bid(v, price="0.42", n=5)
    # someone posts a NO bid at 0.60 -> YES ask at 0.40 x2, crossing our 0.42 bid: it would have traded with us
    fills = v.on_market_event(delta("no", "0.60", 2, 2), 2)
    assert sum(f.count for f in fills) == contracts(2)
    assert fills[0].yes_price == dollars("0.42")
    # the same displayed size is not used twice
    assert v.on_market_event(delta("yes", "0.30", 1, 3), 3) == []


def test_own_deltas_are_ignored() -> None:
    v = venue("queue")
    oid = place_bid(v)
    v.on_market_event(delta("yes", "0.40", 5, 2, coid="c1"), 2)
    st = v.state(T)
    assert st.book.size_at("bid", dollars("0.40")) == contracts(10)
    assert v.order(oid) is not None


def test_touch_fills_everything_on_touch() -> None:
    v = venue("touch")
    place_bid(v, n=5)
    fills = v.on_market_event(trade("0.40", 1, "no"), 2)
    assert sum(f.count for f in fills) == contracts(5)


def test_conservative_needs_a_print_through() -> None:
    v = venue("conservative")
    place_bid(v, n=5)
    assert v.on_market_event(trade("0.40", 100, "no"), 2) == []
    assert v.on_market_event(delta("no", "0.60", 20, 2), 3) == []  # crossing book: no fill
    fills = v.on_market_event(trade("0.39", 2, "no"), 4)
    assert sum(f.count for f in fills) == contracts(2)


def test_post_only_cross_is_refused_and_taker_takes_liquidity() -> None:
    v = venue("queue")
    r = v.place(T, "bid", dollars("0.45"), contracts(3), client_order_id="x", now_ms=1)
    assert not r.accepted and r.code == "post_only_cross"
    r = v.place(T, "bid", dollars("0.46"), contracts(15), client_order_id="y", now_ms=1, post_only=False)
    assert r.accepted
    assert [(f.count, f.yes_price, f.is_taker) for f in r.fills] == [(contracts(10), dollars("0.45"), True)]
    assert r.remaining == contracts(5)
    # taker fee at the fill price
    assert r.fills[0].fee >= trade_fee(
        "quadratic_with_maker_fees", 1_000_000, dollars("0.45"), contracts(10), is_taker=True
    )


def test_amend_and_decrease_and_cancel() -> None:
    v = venue("queue")
    oid = place_bid(v, n=5)
    a = v.amend(oid, price=dollars("0.39"), total_count=contracts(4), new_client_order_id="c2", now_ms=3)
    assert a is not None and a.remaining == contracts(4) and a.client_order_id == "c2"
    assert v.order_id_for("c2") == oid and v.order_id_for("c1") is None
    assert v.decrease(oid, contracts(1)) == contracts(3)
    assert v.cancel(oid) == contracts(3)
    assert v.cancel(oid) is None


def test_ask_fill_buys_no() -> None:
    v = venue("queue")
    r = v.place(T, "ask", dollars("0.47"), contracts(2), client_order_id="a", now_ms=1)
    assert r.accepted
    fills = v.on_market_event(trade("0.48", 5, "yes"), 2)
    assert [(f.outcome, f.count, f.outcome_price) for f in fills] == [("no", contracts(2), dollars("0.53"))]
    assert v.positions[T] == -contracts(2)


@settings(max_examples=60, deadline=None)
@given(
    model=st.sampled_from(["queue", "touch", "conservative"]),
    ops=st.lists(
        st.tuples(
            st.sampled_from(["trade", "delta", "place", "cancel"]),
            st.integers(30, 60),
            st.integers(1, 20),
            st.booleans(),
        ),
        max_size=40,
    ),
)
def test_fills_never_exceed_orders(model: str, ops: list[tuple[str, int, int, bool]]) -> None:
    v = venue(model)
    placed: dict[str, int] = {}
    filled: dict[str, int] = {}
    net = 0
    seq = 1
    for i, (kind, cents, n, flag) in enumerate(ops):
        price = Price(cents * 10_000)
        now = i * 50
        out = []
        if kind == "trade":
            out = v.on_market_event(TradePrint(T, f"t{i}", price, Count(n * 100), "yes" if flag else "no"), now)
        elif kind == "delta":
            seq += 1
            out = v.on_market_event(
                BookDelta(T, 1, seq, "yes" if flag else "no", price, Count(n * 100 * (1 if i % 3 else -1))), now
            )
        elif kind == "place":
            r = v.place(T, "bid" if flag else "ask", price, Count(n * 100), client_order_id=f"c{i}", now_ms=now)
            if r.accepted and r.order_id:
                placed[r.order_id] = n * 100
                out = list(r.fills)
        elif placed:
            v.cancel(sorted(placed)[i % len(placed)])
        for f in out:
            filled[f.order_id] = filled.get(f.order_id, 0) + f.count
            net += f.count if f.book_side == "bid" else -f.count
            assert f.count > 0 and f.fee >= 0
    for oid, n in filled.items():
        assert n <= placed[oid]
    assert v.positions.get(T, 0) == net
