"""The simulator's exchange facade: collateral and balances, netting, fees (hand-computed from API.md §8), settlement,
market lifecycle, order groups, rate limits, client_order_id duplicates and the cancel-all sweep."""

from __future__ import annotations

import pytest

from kalshibot.core.fixed import contracts, dollars
from kalshibot.sim.exchange import CreateOrderParams, Exchange
from kalshibot.sim.ratelimit import RateLimiter, cost_of, is_write
from kalshibot.sim.simerrors import ERROR_CODES, SimError
from kalshibot.sim.simevents import LifecycleEvent, OrderGroupEvent, SimEvent

T0 = 1_764_000_000_000
M = "KXT-1-A"
START = 1_000 * 1_000_000  # $1,000


def make_exchange(fee_type: str = "quadratic_with_maker_fees", mult_ppm: int = 1_000_000, **kw: int) -> Exchange:
    ex = Exchange(now_ms=T0, rate_limit_tier="off", **kw)
    ex.add_series("KXT", "test", fee_type=fee_type, fee_multiplier_ppm=mult_ppm)
    ex.add_event("KXT-1", "KXT", "test event")
    ex.add_market(M, "KXT-1", open_ts_ms=T0, close_ts_ms=T0 + 3_600_000, settlement_timer_s=60)
    for u in ("a", "b"):
        ex.add_user(u, START)
    return ex


def P(side: str, price: str, count: float, **kw: object) -> CreateOrderParams:
    return CreateOrderParams(M, side, dollars(price), contracts(str(count)), **kw)  # type: ignore[arg-type]


IOC = {"time_in_force": "immediate_or_cancel"}


# ------------------------------------------------------------------------------------------- collateral, netting
def test_bid_locks_p_times_c_and_ask_locks_complement() -> None:
    ex = make_exchange(mult_ppm=0)  # no fees: the lock is pure collateral
    ex.create_order("a", P("bid", "0.40", 10), T0)
    assert ex.balance("a").locked == dollars("4.00")
    assert ex.balance("a").balance == START - dollars("4.00")
    ex.create_order("b", P("ask", "0.70", 10), T0)  # a NO bid at 0.30
    assert ex.balance("b").locked == dollars("3.00")


def test_insufficient_balance_is_a_documented_reject() -> None:
    ex = make_exchange(mult_ppm=0)
    ex.add_user("poor", dollars("3.99"))
    with pytest.raises(SimError) as ei:
        ex.create_order("poor", P("bid", "0.40", 10), T0)
    assert (ei.value.status, ei.value.code) == (400, "insufficient_balance")
    ex.create_order("poor", P("ask", "0.70", 10), T0)  # (1 - 0.70) * 10 = 3.00 fits


def test_netting_releases_collateral_and_realizes_pnl() -> None:
    ex = make_exchange(mult_ppm=0)
    ex.create_order("b", P("ask", "0.40", 10), T0)
    ex.create_order("a", P("bid", "0.40", 10, **IOC), T0)  # a: +10 YES for 4.00
    assert ex.balance("a").balance == START - dollars("4.00")
    ex.create_order("b", P("bid", "0.50", 10), T0)
    ex.create_order("a", P("ask", "0.50", 10, **IOC), T0)  # a buys 10 NO at 0.50 = sells YES at 0.50
    st = ex.account_state("a")
    assert st["positions"] == {}
    assert ex.balance("a").balance == START + dollars("1.00")  # -4.00 - 5.00 + 10 pairs x $1
    assert st["realized_pnl"] == dollars("1.00")
    assert ex.check_invariants() == []


# ---------------------------------------------------------------------------------------------------------- fees
def test_taker_and_maker_fees_hand_computed() -> None:
    # API.md §8: taker roundup(0.07 x C x P x (1-P)), maker roundup(0.0175 x ...), to $0.0001.
    # C=10, P=0.56: taker 0.07*10*0.56*0.44 = 0.17248 -> 0.1725; maker 0.0175*10*0.2464 = 0.04312 -> 0.0432
    ex = make_exchange()
    ex.create_order("b", P("ask", "0.56", 10), T0)  # maker buys NO at 0.44
    r = ex.create_order("a", P("bid", "0.56", 10, **IOC), T0)
    assert r.order.taker_fees == dollars("0.1725")
    assert ex.balance("a").balance == START - dollars("5.60") - dollars("0.1725")
    maker = ex.fills("b")[0]
    assert maker.fee == dollars("0.0432") and not maker.is_taker
    assert ex.balance("b").balance == START - dollars("4.40") - dollars("0.0432")
    assert r.average_fee_paid == dollars("0.01725")


def test_quadratic_series_has_free_maker_fills_and_multiplier_scales() -> None:
    ex = make_exchange(fee_type="quadratic", mult_ppm=2_000_000)
    ex.create_order("b", P("ask", "0.50", 1), T0)
    r = ex.create_order("a", P("bid", "0.50", 1, **IOC), T0)
    assert r.order.taker_fees == dollars("0.0350")  # 2 x 0.07 x 1 x 0.25
    assert ex.fills("b")[0].fee == 0


def test_fee_rounding_with_cent_balance_precision_and_accumulator() -> None:
    # balance precision $0.01: taker 1 contract at 0.50 -> trade fee 0.0175; balance change -0.5175 floors to
    # -0.52 (rounding fee 0.0025). Four such fills of one order accumulate 0.01 -> one cent rebated.
    ex = make_exchange(balance_precision_micros=10_000)
    ex.create_order("b", P("ask", "0.50", 4), T0)
    for _ in range(4):
        ex.create_order("b", P("ask", "0.50", 1), T0)
    ex.create_order("a", P("bid", "0.50", 4), T0)
    fees = sorted(f.fee for f in ex.fills("a"))
    assert sum(fees) == dollars("0.0700")  # 4 x (0.0175 + 0.0025) - 0.01 rebate == one 4-lot's 0.07
    assert ex.balance("a").balance % 10_000 == 0


# ---------------------------------------------------------------------------------------------------- lifecycle
def test_lifecycle_open_close_determine_settle() -> None:
    ex = Exchange(now_ms=T0, rate_limit_tier="off")
    seen: list[SimEvent] = []
    ex.listeners.append(seen.append)
    ex.add_series("KXT", "t", fee_multiplier_ppm=0)
    ex.add_event("KXT-1", "KXT", "e")
    ex.add_market(M, "KXT-1", open_ts_ms=T0 + 1000, close_ts_ms=T0 + 10_000, settlement_timer_s=5)
    ex.add_user("a", START)
    ex.add_user("b", START)
    with pytest.raises(SimError) as ei:
        ex.create_order("a", P("bid", "0.40", 1), T0)
    assert ei.value.code == "market_not_open"
    ex.advance(T0 + 1000)
    assert ex.market(M).status == "active"
    ex.create_order("b", P("ask", "0.40", 10), T0 + 1000)
    ex.create_order("a", P("bid", "0.40", 10, **IOC), T0 + 1000)  # a +10 YES at 0.40, b +10 NO at 0.60
    resting = ex.create_order("a", P("bid", "0.30", 5), T0 + 1000).order
    ex.advance(T0 + 10_000)
    assert ex.market(M).status == "closed"
    assert resting.status == "canceled" and resting.last_update_reason == "CloseCancel"
    with pytest.raises(SimError) as ei:
        ex.create_order("a", P("bid", "0.40", 1), T0 + 10_000)
    assert ei.value.code == "market_closed"
    ex.determine(M, "yes", T0 + 12_000)
    assert ex.market(M).status == "determined"
    ex.advance(T0 + 16_999)
    assert ex.market(M).status == "determined"
    ex.advance(T0 + 17_000)
    assert ex.market(M).status == "finalized"
    assert ex.balance("a").balance == START - dollars("4.00") + dollars("10.00")
    assert ex.balance("b").balance == START - dollars("6.00")
    (sa,) = ex.settlements("a")
    assert (sa.revenue, sa.yes_count, sa.result) == (dollars("10.00"), contracts(10), "yes")
    assert ex.settlements("b")[0].revenue == 0
    assert ex.account_state("a")["realized_pnl"] == dollars("6.00")
    kinds = [e.event_type for e in seen if isinstance(e, LifecycleEvent)]
    assert kinds == ["created", "determined", "settled"]
    assert ex.check_invariants() == []


def test_pause_cancels_on_pause_orders_and_reactivation_cancels_all() -> None:
    ex = make_exchange()
    keep = ex.create_order("a", P("bid", "0.40", 1), T0).order
    goes = ex.create_order("a", P("bid", "0.41", 1, cancel_order_on_pause=True), T0).order
    ex.pause_market(M, T0)
    assert goes.status == "canceled" and keep.status == "resting"
    with pytest.raises(SimError) as ei:
        ex.create_order("a", P("bid", "0.40", 1), T0)
    assert ei.value.code == "market_paused"
    ex.activate_market(M, T0)
    assert keep.status == "canceled"
    assert ex.orderbook(M) == ([], [])


def test_maintenance_window_rejects_with_503() -> None:
    ex = make_exchange()
    ex.add_maintenance(T0 + 100, T0 + 200)
    assert ex.exchange_status(T0 + 150)["exchange_active"] is False
    with pytest.raises(SimError) as ei:
        ex.create_order("a", P("bid", "0.40", 1), T0 + 150)
    assert ei.value.status == 503
    ex.create_order("a", P("bid", "0.40", 1), T0 + 200)


# ------------------------------------------------------------------------------------------------- order groups
def test_order_group_triggers_on_rolling_15s_limit_and_blocks_until_reset() -> None:
    ex = make_exchange()
    seen: list[SimEvent] = []
    ex.listeners.append(seen.append)
    g = ex.create_order_group("a", contracts(10), T0)
    member = ex.create_order("a", P("bid", "0.30", 5, order_group_id=g.group_id), T0).order
    ex.create_order("a", P("bid", "0.40", 20, order_group_id=g.group_id), T0)
    ex.create_order("b", P("ask", "0.40", 6, **IOC), T0)
    assert not g.triggered
    ex.create_order("b", P("ask", "0.40", 3, **IOC), T0 + 15_000)  # the first 6 left the window
    assert not g.triggered
    ex.create_order("b", P("ask", "0.40", 7, **IOC), T0 + 16_000)  # 3 + 7 = 10 within 15 s
    assert g.triggered
    assert member.status == "canceled"
    assert ex.order_group("a", g.group_id)[1] == []
    with pytest.raises(SimError) as ei:
        ex.create_order("a", P("bid", "0.30", 1, order_group_id=g.group_id), T0 + 16_000)
    assert ei.value.code == "order_group_triggered"
    ex.reset_group("a", g.group_id, T0 + 17_000)
    ex.create_order("a", P("bid", "0.30", 1, order_group_id=g.group_id), T0 + 17_000)
    kinds = [e.event_type for e in seen if isinstance(e, OrderGroupEvent)]
    assert kinds == ["created", "triggered", "reset"]


def test_order_group_limit_update_trigger_and_delete() -> None:
    ex = make_exchange()
    g = ex.create_order_group("a", contracts(100), T0)
    ex.create_order("a", P("bid", "0.40", 10, order_group_id=g.group_id), T0)
    ex.create_order("b", P("ask", "0.40", 5, **IOC), T0)
    ex.update_order_group_limit("a", g.group_id, contracts(5), T0 + 1)  # already reached -> triggers
    assert g.triggered
    g2 = ex.create_order_group("a", contracts(100), T0)
    o = ex.create_order("a", P("bid", "0.30", 1, order_group_id=g2.group_id), T0).order
    ex.delete_group("a", g2.group_id, T0)
    assert o.status == "canceled"
    with pytest.raises(SimError) as ei:
        ex.order_group("a", g2.group_id)
    assert ei.value.status == 404
    with pytest.raises(SimError):
        ex.trigger_group("b", g.group_id, T0)  # not b's group


# --------------------------------------------------------------------------------------------------- rate limits
def test_write_bucket_basic_tier_and_costs() -> None:
    rl = RateLimiter("basic")
    path = "/portfolio/events/orders"
    for _ in range(10):  # capacity 100 tokens, create costs 10
        rl.charge("u", "POST", path, T0)
    with pytest.raises(SimError) as ei:
        rl.charge("u", "POST", path, T0)
    assert (ei.value.status, ei.value.code) == (429, "too_many_requests")
    rl.charge("u", "GET", "/markets", T0)  # the read bucket is independent
    rl.charge("u", "POST", path, T0 + 100)  # 100 tokens/s refill: 10 tokens after 100 ms
    with pytest.raises(SimError):
        rl.charge("u", "DELETE", "/portfolio/events/orders/abc", T0 + 100)
    rl.charge("u", "DELETE", "/portfolio/events/orders/abc", T0 + 120)  # cancel costs 2
    assert cost_of("DELETE", "/portfolio/events/orders/xyz") == 2
    assert cost_of("POST", "/portfolio/events/orders/batched", items=5) == 50
    assert cost_of("DELETE", "/portfolio/events/orders/batched", items=5) == 10
    assert is_write("PUT", "/portfolio/order_groups/g/trigger") and not is_write("GET", "/portfolio/orders")
    other = RateLimiter("off")
    for _ in range(1000):
        other.charge("u", "POST", path, T0)
    assert RateLimiter("advanced").limits()["write"] == {"refill_rate": 300, "bucket_capacity": 600}


# --------------------------------------------------------------------------------------- ids, cancel-all, codes
def test_duplicate_client_order_id_is_409_even_after_cancel() -> None:
    ex = make_exchange()
    o = ex.create_order("a", P("bid", "0.40", 1, client_order_id="x-1"), T0).order
    with pytest.raises(SimError) as ei:
        ex.create_order("a", P("bid", "0.41", 1, client_order_id="x-1"), T0)
    assert (ei.value.status, ei.value.code) == (409, "duplicate_client_order_id")
    ex.cancel_order("a", o.order_id, T0)
    with pytest.raises(SimError):
        ex.create_order("a", P("bid", "0.41", 1, client_order_id="x-1"), T0)
    ex.create_order("b", P("bid", "0.41", 1, client_order_id="x-1"), T0)  # per user
    assert ex.get_order_by_client_id("a", "x-1") is o


def test_cancel_returns_reduced_by_and_zero_when_already_done() -> None:
    ex = make_exchange()
    o = ex.create_order("a", P("bid", "0.40", 3), T0).order
    assert ex.cancel_order("a", o.order_id, T0)[1] == contracts(3)
    assert ex.cancel_order("a", o.order_id, T0)[1] == 0
    with pytest.raises(SimError) as ei:
        ex.cancel_order("b", o.order_id, T0)
    assert ei.value.status == 404


def test_cancel_all_sweeps_orders_placed_within_a_minute() -> None:
    ex = make_exchange()
    before = ex.create_order("a", P("bid", "0.40", 1), T0).order
    other = ex.create_order("b", P("bid", "0.40", 1), T0).order
    assert ex.cancel_all("a", None, T0) == [before]
    late = ex.create_order("a", P("bid", "0.41", 1), T0 + 10_000).order
    assert late.status == "resting"  # accepted ...
    ex.advance(T0 + 11_000)
    assert late.status == "canceled"  # ... and swept
    after = ex.create_order("a", P("bid", "0.42", 1), T0 + 61_000).order
    ex.advance(T0 + 62_000)
    assert after.status == "resting" and other.status == "resting"


def test_cancel_all_sweep_can_be_disabled() -> None:
    ex = make_exchange(cancel_all_sweep_ms=0)
    ex.cancel_all("a", None, T0)
    late = ex.create_order("a", P("bid", "0.41", 1), T0 + 1).order
    ex.advance(T0 + 5_000)
    assert late.status == "resting"


def test_every_error_code_has_a_client_error_status() -> None:
    assert ERROR_CODES["duplicate_client_order_id"][0] == 409
    assert ERROR_CODES["order_not_found"][0] == 404
    assert all(400 <= status < 600 for status, _ in ERROR_CODES.values())
    assert all(code == code.lower() and " " not in code for code in ERROR_CODES)
