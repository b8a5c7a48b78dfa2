"""The backtest's limit checker: money at stake and position reach recomputed from the simulator's account state,
and breaches found when that state is over a strategy's limits."""

from __future__ import annotations

from kalshibot.core.fixed import Money, contracts, dollars
from kalshibot.core.risk import RiskLimits
from kalshibot.replay.backtest_limits import LimitChecker, MarketHolding, breaches, exposure, holdings_of
from kalshibot.sim.exchange import CreateOrderParams, Exchange

T0 = 1_764_000_000_000
LIMITS = RiskLimits(
    max_notional_per_market=Money(dollars("500")),
    max_event_exposure=Money(dollars("1000")),
    max_account_exposure=Money(dollars("2500")),
    max_position=contracts(200),
)


def _holding(ticker: str = "E-A", event: str = "E", **kw: object) -> MarketHolding:
    return MarketHolding(ticker, event, bool(kw.pop("me", False)), **kw)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------- the math
def test_long_position_loses_its_cost_if_no_and_resting_bids_add_to_it() -> None:
    # long 10 YES bought for $4.00, a resting bid 5 @ 0.30 (loses 1.50 more if NO), an ask 10 @ 0.60
    h = _holding(position=contracts(10), cost=dollars("4.00"), orders=(("bid", dollars("0.30"), contracts(5)),))
    x = exposure([h])
    assert x.markets["E-A"] == dollars("5.50")
    assert x.reach["E-A"] == contracts(15)
    h2 = _holding(position=contracts(10), cost=dollars("4.00"), orders=(("ask", dollars("0.60"), contracts(30)),))
    # if YES: the position gains 6.00, the ask (30 NO at 0.40) loses 12.00 -> 6.00; if NO: 4.00
    assert exposure([h2]).markets["E-A"] == dollars("6.00")
    assert exposure([h2]).reach["E-A"] == contracts(20)  # 10 - 30 = -20 if the ask fills


def test_short_position_is_a_no_holding() -> None:
    h = _holding(position=-contracts(10), cost=dollars("7.00"))  # 10 NO bought at 0.70
    assert exposure([h]).markets["E-A"] == dollars("7.00")


def test_determined_market_counts_its_known_loss_only() -> None:
    h = _holding(position=contracts(10), cost=dollars("4.00"), settlement_value=dollars("1"))
    assert exposure([h]).markets["E-A"] == 0  # it won
    h = _holding(position=contracts(10), cost=dollars("4.00"), settlement_value=0)
    assert exposure([h]).markets["E-A"] == dollars("4.00")


def test_mutually_exclusive_event_takes_the_worst_single_winner() -> None:
    # long 10 YES of each of two brackets at 0.40: at most one wins; worst case: neither (loses 8.00)
    a = _holding("E-A", me=True, position=contracts(10), cost=dollars("4.00"))
    b = _holding("E-B", me=True, position=contracts(10), cost=dollars("4.00"))
    x = exposure([a, b])
    assert x.events["E"] == dollars("8.00")
    # short both (NO at 0.60 each): worst case is one of them resolving YES: loses 6.00, gains 4.00 on the other
    a = _holding("E-A", me=True, position=-contracts(10), cost=dollars("6.00"))
    b = _holding("E-B", me=True, position=-contracts(10), cost=dollars("6.00"))
    assert exposure([a, b]).events["E"] == dollars("2.00")
    # without mutual exclusivity the per-market worst cases add up
    a = _holding("E-A", position=-contracts(10), cost=dollars("6.00"))
    b = _holding("E-B", position=-contracts(10), cost=dollars("6.00"))
    assert exposure([a, b]).events["E"] == dollars("12.00")


# ------------------------------------------------------------------------------------------------- breaches
def test_breaches_name_each_limit_exceeded_and_nothing_at_the_limit() -> None:
    at_cap = _holding(orders=(("bid", dollars("0.50"), contracts(1000)),))  # exactly $500 at stake
    assert (
        breaches(exposure([at_cap]), RiskLimits(max_notional_per_market=Money(dollars("500")), max_position=None)) == []
    )
    over = _holding(orders=(("bid", dollars("0.50"), contracts(1002)),))
    found = breaches(exposure([over]), LIMITS, ts_ms=7)
    assert {(b.limit, b.scope, b.scope_id) for b in found} == {
        ("max_notional_per_market", "market", "E-A"),
        ("max_position", "market", "E-A"),
    }
    b = next(b for b in found if b.limit == "max_notional_per_market")
    assert (b.value, b.threshold, b.ts_ms) == (dollars("501"), dollars("500"), 7)


def test_account_and_event_breaches() -> None:
    hs = [
        _holding(f"E{i}-A", f"E{i}", orders=(("bid", dollars("0.45"), contracts(1000)),))  # $450 each
        for i in range(6)
    ]
    limits = RiskLimits(max_position=None)  # defaults: $500 per market, $1,000 per event, $2,500 per account
    found = breaches(exposure(hs), limits)
    assert [b.limit for b in found] == ["max_account_exposure"]  # 6 x 450 = 2700 > 2500
    ev = [_holding(f"E-{i}", "E", orders=(("bid", dollars("0.45"), contracts(1000)),)) for i in range(3)]
    assert [b.limit for b in breaches(exposure(ev), limits)] == ["max_event_exposure"]  # 1350 > 1000


# ------------------------------------------------------------------------------------- against a real Exchange
def _exchange() -> Exchange:
    ex = Exchange(now_ms=T0, rate_limit_tier="off")
    ex.add_series("KXT", "test", fee_type="quadratic", fee_multiplier_ppm=0)
    ex.add_event("KXT-1", "KXT", "test event")
    ex.add_market("KXT-1-A", "KXT-1", open_ts_ms=T0, close_ts_ms=T0 + 3_600_000)
    ex.add_user("bot", dollars("10000"))
    ex.add_user("other", dollars("10000"))
    return ex


def _order(side: str, price: str, n: int, tif: str = "good_till_canceled") -> CreateOrderParams:
    return CreateOrderParams("KXT-1-A", side, dollars(price), contracts(n), time_in_force=tif)  # type: ignore[arg-type]


def test_checker_reads_the_simulators_positions_and_resting_orders() -> None:
    ex = _exchange()
    ex.create_order("other", _order("ask", "0.40", 10), T0)
    ex.create_order("bot", _order("bid", "0.40", 10, "immediate_or_cancel"), T0)  # bot: +10 YES for $4.00
    ex.create_order("bot", _order("bid", "0.30", 20), T0)  # resting: loses $6.00 more if NO
    hs = holdings_of(ex, "bot")
    assert len(hs) == 1 and hs[0].position == contracts(10) and hs[0].cost == dollars("4.00")
    assert hs[0].orders == (("bid", dollars("0.30"), contracts(20)),)
    checker = LimitChecker(ex, "bot", LIMITS)
    assert checker.check(T0) == []
    assert checker.max_account_stake == dollars("10.00") and checker.breach_count == 0


def test_checker_detects_an_account_over_the_limit() -> None:
    ex = _exchange()
    checker = LimitChecker(
        ex, "bot", RiskLimits(max_notional_per_market=Money(dollars("20")), max_position=contracts(50))
    )
    ex.create_order("bot", _order("bid", "0.50", 40), T0)  # $20.00 at stake: at the limit, allowed
    assert checker.check(T0) == []
    ex.create_order("bot", _order("bid", "0.49", 20), T0 + 1)  # +$9.80: over $20 and 60 contracts reachable
    found = checker.check(T0 + 1)
    assert {b.limit for b in found} == {"max_notional_per_market", "max_position"}
    assert checker.breach_count == 2 and len(checker.first) == 2
    assert checker.max_market_stake == dollars("29.80")
