"""Risk guard: hand cases for each rule and state transition."""

from __future__ import annotations

from kalshibot.core.events import MarketSpec
from kalshibot.core.fixed import Count, Money, Price, contracts, dollars
from kalshibot.core.grid import PriceGrid
from kalshibot.core.portfolio import Portfolio
from kalshibot.core.risk import RiskGuard, RiskLimits

D = dollars
C = contracts


def guard(**kw: object) -> RiskGuard:
    base: dict[str, object] = {
        "max_notional_per_market": D("5"),
        "daily_loss_kill": D("2"),
        "max_event_exposure": D("8"),
        "max_account_exposure": D("12"),
        "max_position": C(30),
        "max_order_size": C(20),
        "price_band": D("0.10"),
    }
    base.update(kw)
    return RiskGuard(RiskLimits(**base), Portfolio())  # type: ignore[arg-type]


def test_defaults_match_the_guide() -> None:
    lim = RiskLimits()
    assert lim.max_notional_per_market == D("500") and lim.daily_loss_kill == D("100")


def test_fat_finger_checks() -> None:
    g = guard()
    r = g.check_order("M", "E", "bid", D("0.50"), C(21), None)
    assert r is not None and (r.limit, r.value, r.threshold, r.scope) == ("max_order_size", C(21), C(20), "market")
    r = g.check_order("M", "E", "bid", D("0.39"), C(1), D("0.50"))
    assert r is not None and (r.limit, r.value, r.threshold) == ("price_band", D("0.11"), D("0.10"))
    assert g.check_order("M", "E", "bid", D("0.40"), C(1), D("0.50")) is None  # exactly on the band
    assert g.check_order("M", "E", "bid", Price(0), C(1), None) is not None
    assert g.check_order("M", "E", "bid", D("0.40"), Count(0), None) is not None


def test_market_notional_cap() -> None:
    g = guard()
    assert g.check_order("M", "E", "bid", D("0.50"), C(10), None) is None  # 5.00 at stake: exactly the cap
    r = g.check_order("M", "E", "bid", D("0.50"), Count(1001), None)
    assert r is not None and (r.limit, r.value, r.threshold) == ("max_notional_per_market", D("5.005"), D("5"))
    g.portfolio.upsert_order("o1", "M", "bid", D("0.40"), C(10))  # 4.00 resting
    r = g.check_order("M", "E", "bid", D("0.50"), C(3), None)  # +1.50 -> 5.50
    assert r is not None and r.limit == "max_notional_per_market"
    # an ask 10 at 0.60 adds 4.00 to the YES loss only: the NO loss (4.00) stays the worst
    assert g.check_order("M", "E", "ask", D("0.60"), C(10), None) is None


def test_amend_judged_on_resulting_exposure() -> None:
    g = guard()
    g.portfolio.upsert_order("o1", "M", "bid", D("0.40"), C(10))
    assert g.check_amend("o1", D("0.50"), C(10), None) is None  # 5.00, replacing (not adding to) the 4.00
    r = g.check_amend("o1", D("0.50"), C(11), None)
    assert r is not None and r.limit == "max_notional_per_market" and r.value == D("5.50")
    assert g.check_amend("nope", D("0.50"), C(1), None) is not None


def test_position_limit_counts_resting_orders() -> None:
    g = guard(max_notional_per_market=D("100"), max_event_exposure=None, max_account_exposure=None)
    g.portfolio.apply_trade("M", "bid", D("0.10"), C(20))
    g.portfolio.upsert_order("o1", "M", "bid", D("0.10"), C(5))
    assert g.check_order("M", "E", "bid", D("0.10"), C(5), None) is None  # reach 30
    r = g.check_order("M", "E", "bid", D("0.10"), C(6), None)
    assert r is not None and (r.limit, r.value, r.threshold) == ("max_position", C(31), C(30))


def test_event_and_account_limits() -> None:
    g = guard()
    p = g.portfolio
    for t, e in (("A", "E"), ("B", "E"), ("X", "F")):
        p.add_market(MarketSpec(t, e, "S", PriceGrid.linear_cent()))
    p.apply_trade("A", "bid", D("0.50"), C(8))  # 4.00
    p.apply_trade("B", "bid", D("0.50"), C(6))  # 3.00 -> event 7.00
    r = g.check_order("B", "E", "bid", D("0.50"), C(3), None)  # event 8.50 > 8
    assert r is not None and (r.limit, r.scope, r.scope_id) == ("max_event_exposure", "event", "E")
    p.apply_trade("X", "bid", D("0.50"), C(8))  # F: 4.00 -> account 11.00
    r = g.check_order("X", "F", "bid", D("0.50"), C(4), None)  # market 6 > 5 is checked first
    assert r is not None and r.limit == "max_notional_per_market"
    assert g.check_order("X", "F", "bid", D("0.50"), C(2), None) is None  # market 5, event F 5, account 12
    r = g.check_order("Y", "G", "bid", D("0.50"), Count(201), None)  # new event G 1.005: account 12.005 > 12
    assert r is not None and (r.limit, r.value, r.scope) == ("max_account_exposure", D("12.005"), "account")


def test_reducing_orders_pass_exposure_limits_but_not_fat_finger() -> None:
    g = guard()
    g.portfolio.apply_trade("M", "bid", D("0.60"), C(10))  # 6.00 at stake: over the 5.00 cap already
    assert g.check_order("M", "E", "bid", D("0.50"), C(1), None) is not None
    assert g.check_order("M", "E", "ask", D("0.55"), C(10), None) is None  # reducing
    r = g.check_order("M", "E", "ask", D("0.55"), C(10), D("0.70"))
    assert r is not None and r.limit == "price_band"


def test_reducing_state_transitions_and_notes() -> None:
    g = guard()
    g.portfolio.apply_trade("M", "bid", D("0.40"), C(10))  # 4.00 of 5.00 = 80%
    assert g.update_state() == "REDUCING"
    [n] = g.notes()
    assert (n.state, n.limit, n.value, n.threshold, n.scope, n.scope_id) == (
        "REDUCING",
        "max_notional_per_market",
        D("4"),
        D("5"),
        "market",
        "M",
    )
    r = g.check_order("N", "E2", "bid", D("0.10"), C(1), None)
    assert r is not None and r.limit == "reducing_only" and r.state == "REDUCING"
    assert g.check_order("M", "E", "ask", D("0.45"), C(5), None) is None
    g.portfolio.apply_trade("M", "ask", D("0.45"), C(3))  # 7 left: 2.80 = 56% < 75%
    assert g.update_state() == "ACTIVE"
    assert [n.state for n in g.notes()] == ["ACTIVE"]
    assert g.notes() == []  # drained


def test_hysteresis() -> None:
    g = guard()
    g.portfolio.apply_trade("M", "bid", D("0.40"), C(10))
    g.update_state()
    g.portfolio.apply_trade("M", "ask", D("0.60"), C(1))  # 9 left: 3.60 = 72%... 78% would stay REDUCING
    g.portfolio.apply_trade("M", "bid", D("0.40"), Count(50))  # 9.5 x 0.40 = 3.80 = 76%: still REDUCING
    assert g.update_state() == "REDUCING"


def test_daily_loss_kill_halts_everything_until_next_day() -> None:
    g = guard()
    g.portfolio.apply_trade("M", "bid", D("0.30"), C(10))  # 3.00 of 5.00: 60%, not reducing
    g.on_pnl(Money(-D("1.99")))
    assert g.state == "ACTIVE"
    g.on_pnl(Money(-D("2")))
    assert g.state == "HALTED"
    [n] = g.notes()
    assert (n.state, n.limit, n.value, n.threshold) == ("HALTED", "daily_loss_kill", D("2"), D("2"))
    r = g.check_order("M", "E", "ask", D("0.40"), C(1), None)  # reducing, but HALTED
    assert r is not None and r.limit == "halted"
    g.start_day()
    assert g.state == "ACTIVE"
    assert g.check_order("M", "E", "ask", D("0.40"), C(1), None) is None


def test_halt_and_resume() -> None:
    g = guard()
    g.halt("order_group")
    assert g.state == "HALTED" and g.check_order("M", "E", "bid", D("0.10"), C(1), None) is not None
    g.resume()
    assert g.state == "ACTIVE"
    assert [(n.state, n.limit) for n in g.notes()] == [("HALTED", "order_group"), ("ACTIVE", "resume")]


def test_reducing_order_that_unhedges_a_mutually_exclusive_event_is_refused() -> None:
    g = guard(max_notional_per_market=D("100"), max_event_exposure=D("8"), max_account_exposure=None)
    p = g.portfolio
    p.add_market(MarketSpec("A", "E", "S", PriceGrid.linear_cent(), mutually_exclusive=True))
    p.add_market(MarketSpec("B", "E", "S", PriceGrid.linear_cent(), mutually_exclusive=True))
    p.apply_trade("A", "ask", D("0.50"), C(10))  # 10 NO A at 0.50
    p.apply_trade("B", "ask", D("0.50"), C(10))  # 10 NO B at 0.50: each hedges the other, event stake 0
    assert p.event_stake("E") == 0
    # buying 10 YES A at 0.99 closes A (reducing) but leaves B unhedged: if B wins we lose 4.90 + 5.00 = 9.90
    assert p.would_be_reducing("A", "bid", C(10))
    r = g.check_order("A", "E", "bid", D("0.99"), C(10), None)
    assert r is not None and r.limit == "max_event_exposure" and r.value == D("9.90")
    assert g.check_order("A", "E", "bid", D("0.50"), C(10), None) is None  # 0 + 5.00: fine
