"""The simulator's matching engine: price-time priority, partial fills, post-only, STP, IOC/FOK, expiry, amend and
decrease priority rules, reduce-only, grid checks, and a property test of the book's invariants."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kalshibot.core.fixed import contracts, dollars
from kalshibot.core.grid import PriceGrid
from kalshibot.sim.exchange import AmendParams, CreateOrderParams, Exchange
from kalshibot.sim.simerrors import SimError
from kalshibot.sim.simevents import BookChanged, SimEvent

T0 = 1_764_000_000_000
M = "KXT-1-A"


def make_exchange(**kw: object) -> Exchange:
    ex = Exchange(now_ms=T0, rate_limit_tier="off")
    ex.add_series("KXT", "test", fee_multiplier_ppm=int(kw.get("mult", 1_000_000)))  # type: ignore[call-overload]
    ex.add_event("KXT-1", "KXT", "test event")
    grid = kw.get("grid")
    ex.add_market(M, "KXT-1", open_ts_ms=T0, close_ts_ms=T0 + 3_600_000, grid=grid)  # type: ignore[arg-type]
    for u in ("a", "b", "c"):
        ex.add_user(u, 1_000_000 * 1_000_000)
    return ex


def P(side: str, price: str, count: float, **kw: object) -> CreateOrderParams:
    return CreateOrderParams(M, side, dollars(price), contracts(str(count)), **kw)  # type: ignore[arg-type]


def place(ex: Exchange, user: str, side: str, price: str, count: float, **kw: object) -> str:
    return ex.create_order(user, P(side, price, count, **kw), ex.now_ms).order.order_id


def test_price_then_time_priority_and_maker_price() -> None:
    ex = make_exchange()
    a1 = place(ex, "a", "ask", "0.55", 5)
    a2 = place(ex, "b", "ask", "0.54", 5)  # better price, later
    a3 = place(ex, "c", "ask", "0.54", 5)  # same price, later still
    r = ex.create_order("a", P("bid", "0.56", 7, time_in_force="immediate_or_cancel"), T0)
    assert r.fill_count == contracts(7)
    assert r.average_fill_price == dollars("0.54")  # taker gets the makers' prices
    assert ex.orders[a2].status == "executed"
    assert ex.orders[a3].remaining == contracts(3) and ex.orders[a3].filled == contracts(2)
    assert ex.orders[a1].remaining == contracts(5)
    yes, no = ex.orderbook(M)
    assert yes == []
    # NO side shows NO-leg prices, ascending, best (highest NO bid = lowest YES ask) last
    assert no == [(dollars("0.45"), contracts(5)), (dollars("0.46"), contracts(3))]


def test_gtc_partial_fill_rests_remainder() -> None:
    ex = make_exchange()
    place(ex, "a", "ask", "0.50", 3)
    r = ex.create_order("b", P("bid", "0.52", 10), T0)
    assert r.fill_count == contracts(3)
    assert r.order.status == "resting" and r.order.remaining == contracts(7)
    assert ex.orderbook(M)[0] == [(dollars("0.52"), contracts(7))]


def test_post_only_crossing_is_accepted_then_cancelled() -> None:
    ex = make_exchange()
    place(ex, "a", "ask", "0.50", 3)
    r = ex.create_order("b", P("bid", "0.50", 1, post_only=True), T0)
    assert r.order.status == "canceled"
    assert r.order.last_update_reason == "PostOnlyCrossCancel"
    assert r.fill_count == 0
    assert ex.orderbook(M) == ([], [(dollars("0.50"), contracts(3))])
    ok = ex.create_order("b", P("bid", "0.49", 1, post_only=True), T0)
    assert ok.order.status == "resting"


def test_stp_taker_at_cross_keeps_earlier_fills_and_cancels_taker() -> None:
    ex = make_exchange()
    place(ex, "b", "ask", "0.49", 5)
    own = place(ex, "a", "ask", "0.50", 5)
    place(ex, "b", "ask", "0.51", 5)
    r = ex.create_order("a", P("bid", "0.52", 10, self_trade_prevention_type="taker_at_cross"), T0)
    assert r.fill_count == contracts(5)
    assert r.order.status == "canceled" and r.order.last_update_reason == "SelfTradeCancel"
    assert ex.orders[own].status == "resting"


def test_stp_maker_cancels_own_resting_and_continues() -> None:
    ex = make_exchange()
    place(ex, "b", "ask", "0.49", 5)
    own = place(ex, "a", "ask", "0.50", 5)
    place(ex, "b", "ask", "0.51", 5)
    r = ex.create_order("a", P("bid", "0.52", 10, self_trade_prevention_type="maker"), T0)
    assert r.fill_count == contracts(10)
    assert r.order.status == "executed"
    assert ex.orders[own].status == "canceled" and ex.orders[own].last_update_reason == "SelfTradeCancel"
    assert ex.orderbook(M) == ([], [])


def test_ioc_drops_remainder_and_fok_is_all_or_nothing() -> None:
    ex = make_exchange()
    place(ex, "a", "ask", "0.50", 4)
    r = ex.create_order("b", P("bid", "0.50", 10, time_in_force="immediate_or_cancel"), T0)
    assert (r.fill_count, r.order.status, r.order.remaining) == (contracts(4), "canceled", 0)
    place(ex, "a", "ask", "0.50", 4)
    fok = ex.create_order("b", P("bid", "0.50", 5, time_in_force="fill_or_kill"), T0)
    assert fok.fill_count == 0 and fok.order.status == "canceled"
    assert ex.orderbook(M)[1] == [(dollars("0.50"), contracts(4))]  # nothing traded
    fok2 = ex.create_order("b", P("bid", "0.50", 4, time_in_force="fill_or_kill"), T0)
    assert fok2.fill_count == contracts(4) and fok2.order.status == "executed"


def test_fok_counts_own_orders_per_stp_mode() -> None:
    ex = make_exchange()
    place(ex, "a", "ask", "0.50", 5)
    place(ex, "b", "ask", "0.50", 5)
    # taker_at_cross stops at the own order first in the queue: nothing fillable
    r = ex.create_order("a", P("bid", "0.50", 5, time_in_force="fill_or_kill"), T0)
    assert r.fill_count == 0
    # maker mode skips own orders: b's 5 are enough
    r2 = ex.create_order("a", P("bid", "0.50", 5, time_in_force="fill_or_kill", self_trade_prevention_type="maker"), T0)
    assert r2.fill_count == contracts(5)


def test_good_till_time_expiry() -> None:
    ex = make_exchange()
    exp_s = T0 // 1000 + 30
    oid = place(ex, "a", "bid", "0.40", 1, expiration_ts_s=exp_s)
    ex.advance(T0 + 29_999)
    assert ex.orders[oid].status == "resting"
    ex.advance(T0 + 30_000)
    assert ex.orders[oid].status == "canceled" and ex.orders[oid].last_update_reason == "ExpiryCancel"
    assert ex.orderbook(M) == ([], [])


@pytest.mark.parametrize(
    ("kw", "code"),
    [
        ({"time_in_force": "immediate_or_cancel", "expiration_ts_s": T0 // 1000 + 60}, "invalid_time_in_force"),
        ({"expiration_ts_s": T0 // 1000 - 1}, "invalid_expiration"),
        ({"reduce_only": True}, "reduce_only_requires_ioc"),
        ({"time_in_force": "gtt"}, "invalid_time_in_force"),
    ],
)
def test_time_in_force_rules(kw: dict[str, object], code: str) -> None:
    ex = make_exchange()
    with pytest.raises(SimError) as ei:
        ex.create_order("a", P("bid", "0.40", 1, **kw), T0)
    assert ei.value.code == code and ei.value.status == 400


def test_price_must_be_on_the_grid() -> None:
    ex = make_exchange(grid=PriceGrid.from_wire(None, "tapered_deci_cent"))
    assert place(ex, "a", "bid", "0.055", 1)  # 0.001 tick below 0.10
    with pytest.raises(SimError) as ei:
        place(ex, "a", "bid", "0.555", 1)  # 0.01 tick in the middle
    assert ei.value.code == "invalid_price"


def test_amend_expiry_only_keeps_priority_other_amends_lose_it() -> None:
    ex = make_exchange()
    first = place(ex, "a", "bid", "0.40", 5)
    second = place(ex, "b", "bid", "0.40", 5)
    assert ex.queue_position("b", second) == contracts(5)
    r = ex.amend_order(
        "a", first, AmendParams(M, "bid", dollars("0.40"), contracts(5), expiration_ts_s=T0 // 1000 + 99), T0
    )
    assert r.order.order_id == first  # amend keeps the order id
    assert ex.queue_position("a", first) == 0
    assert ex.orders[first].expiration_ts_s == T0 // 1000 + 99
    # a size increase at the same price goes to the back
    ex.amend_order("a", first, AmendParams(M, "bid", dollars("0.40"), contracts(6)), T0)
    assert ex.queue_position("a", first) == contracts(5)
    assert ex.orders[first].remaining == contracts(6)
    # a price change re-enters at the new level
    ex.amend_order("b", second, AmendParams(M, "bid", dollars("0.41"), contracts(5)), T0)
    assert ex.orderbook(M)[0] == [(dollars("0.40"), contracts(6)), (dollars("0.41"), contracts(5))]


def test_amend_count_is_filled_plus_remainder_and_can_trade() -> None:
    ex = make_exchange()
    oid = place(ex, "a", "bid", "0.40", 10)
    ex.create_order("b", P("ask", "0.40", 4, time_in_force="immediate_or_cancel"), T0)
    assert ex.orders[oid].filled == contracts(4)
    ex.amend_order("a", oid, AmendParams(M, "bid", dollars("0.40"), contracts(7)), T0)
    assert ex.orders[oid].remaining == contracts(3)
    with pytest.raises(SimError) as ei:
        ex.amend_order("a", oid, AmendParams(M, "bid", dollars("0.40"), contracts(4)), T0)
    assert ei.value.code == "invalid_count"
    place(ex, "c", "ask", "0.45", 2)
    r = ex.amend_order("a", oid, AmendParams(M, "bid", dollars("0.45"), contracts(7)), T0)
    assert r.fill_count == contracts(2)
    assert ex.orders[oid].remaining == contracts(1) and ex.orders[oid].status == "resting"


def test_decrease_keeps_priority_and_to_zero_cancels() -> None:
    ex = make_exchange()
    first = place(ex, "a", "bid", "0.40", 5)
    second = place(ex, "b", "bid", "0.40", 5)
    ex.decrease_order("a", first, T0, reduce_by=contracts(2))
    assert ex.orders[first].remaining == contracts(3)
    assert ex.queue_position("b", second) == contracts(3)
    ex.decrease_order("a", first, T0, reduce_to=contracts(1))
    assert ex.orders[first].remaining == contracts(1)
    ex.decrease_order("a", first, T0, reduce_to=0)
    assert ex.orders[first].status == "canceled" and ex.orders[first].last_update_reason == "Decrease"
    with pytest.raises(SimError):
        ex.decrease_order("b", second, T0, reduce_by=contracts(1), reduce_to=contracts(1))


def test_reduce_only_caps_at_the_position() -> None:
    ex = make_exchange()
    ioc = {"time_in_force": "immediate_or_cancel", "reduce_only": True}
    r = ex.create_order("a", P("ask", "0.40", 3, **ioc), T0)
    assert r.order.status == "canceled" and r.order.last_update_reason == "ReduceOnlyCancel"
    place(ex, "b", "ask", "0.50", 4)
    ex.create_order("a", P("bid", "0.50", 4), T0)  # a is long 4 YES
    place(ex, "c", "bid", "0.48", 10)
    r = ex.create_order("a", P("ask", "0.48", 10, **ioc), T0)
    assert r.fill_count == contracts(4)
    assert ex.account_state("a")["positions"] == {}


def test_book_changes_are_emitted_for_every_change() -> None:
    ex = make_exchange()
    seen: list[SimEvent] = []
    ex.listeners.append(seen.append)
    oid = place(ex, "a", "bid", "0.40", 5)
    ex.create_order("b", P("ask", "0.40", 2, time_in_force="immediate_or_cancel"), T0)
    ex.cancel_order("a", oid, T0)
    deltas = [(e.side, e.price, e.delta) for e in seen if isinstance(e, BookChanged)]
    assert deltas == [
        ("yes", dollars("0.40"), contracts(5)),
        ("yes", dollars("0.40"), -contracts(2)),
        ("yes", dollars("0.40"), -contracts(3)),
    ]
    place(ex, "a", "ask", "0.40", 1)
    last = [e for e in seen if isinstance(e, BookChanged)][-1]
    assert (last.side, last.price) == ("no", dollars("0.60"))  # NO side in NO-leg price
    assert "client_order_id" in last.to_wire(for_user="a") and "client_order_id" not in last.to_wire(for_user="b")


orders = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c"]),
        st.sampled_from(["bid", "ask"]),
        st.integers(30, 70),
        st.integers(1, 500),
        st.sampled_from(["good_till_canceled", "immediate_or_cancel", "fill_or_kill"]),
        st.sampled_from(["taker_at_cross", "maker"]),
        st.booleans(),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(orders)
def test_property_book_consistent_money_conserved(ops: list[tuple[str, str, int, int, str, str, bool]]) -> None:
    ex = make_exchange()
    for i, (user, side, cents, centi, tif, stp, cancel_one) in enumerate(ops):
        req = CreateOrderParams(M, side, cents * 10_000, centi, time_in_force=tif, self_trade_prevention_type=stp)  # type: ignore[arg-type]
        r = ex.create_order(user, req, T0 + i)
        assert 0 <= r.order.filled <= r.order.initial_count
        if cancel_one and ex.accounts[user].resting:
            ex.cancel_order(user, next(iter(ex.accounts[user].resting)), T0 + i)
        bid, ask = ex.markets_by_ticker[M].book.best_bid(), ex.markets_by_ticker[M].book.best_ask()
        assert bid is None or ask is None or bid < ask
    assert ex.check_invariants() == []
    positions = sum(a.positions[M].position for a in ex.accounts.values() if M in a.positions)
    assert positions == 0  # every YES bought is a NO sold
