"""Portfolio: positions, realized/marked PnL, settlement and money at stake, with hand-computed expectations."""

from __future__ import annotations

import pytest

from kalshibot.core.events import FillEvent, MarketSpec
from kalshibot.core.fixed import Count, Money, contracts, dollars
from kalshibot.core.grid import PriceGrid
from kalshibot.core.portfolio import Hypothetical, Portfolio

D = dollars
C = contracts


def spec(ticker: str, event: str, me: bool = False) -> MarketSpec:
    return MarketSpec(ticker, event, "S", PriceGrid.linear_cent(), mutually_exclusive=me)


def test_netting_realizes_one_minus_p_minus_q() -> None:
    pf = Portfolio()
    assert pf.apply_trade("M", "bid", D("0.40"), C(10)) == C(10)  # long 10 YES at 0.40, cost 4.00
    # ask fill at YES 0.50 = buy 4 NO at 0.50: closes 4, realizing 4 x (1 - 0.40 - 0.50) = 0.40
    assert pf.apply_trade("M", "ask", D("0.50"), C(4)) == C(6)
    assert pf.realized_pnl("M") == D("0.40")
    assert pf.mark_value("M", D("0.40")) == D("2.40")  # 6 YES at 0.40
    # buy 10 NO at 0.45 (ask at YES 0.55): closes 6 -> 6 x (1 - 0.40 - 0.45) = 0.90; opens 4 NO at 0.45
    assert pf.apply_trade("M", "ask", D("0.55"), C(10)) == C(-4)
    assert pf.realized_pnl("M") == D("1.30")
    m = pf.market("M")
    assert m is not None and m.cost_x == C(4) * D("0.45")
    # marked at YES mid 0.50: 4 NO worth 0.50 each = 2.00 vs cost 1.80
    pf.set_mark("M", D("0.50"))
    assert pf.unrealized_pnl("M") == D("0.20")


def test_netting_at_a_loss_and_fees() -> None:
    pf = Portfolio()
    pf.apply_trade("M", "bid", D("0.70"), C(5), fee=D("0.0074"))
    # sell YES at 0.60 = buy NO at 0.40: 5 x (1 - 0.70 - 0.40) = -0.50
    pf.apply_trade("M", "ask", D("0.60"), C(5), fee=D("0.0084"))
    assert pf.position("M") == 0 and pf.realized_pnl("M") == -D("0.50")
    assert pf.fees_paid("M") == D("0.0158")
    assert pf.total_pnl() == -D("0.5158")


def test_average_cost_over_several_buys() -> None:
    pf = Portfolio()
    pf.apply_trade("M", "bid", D("0.30"), C(1))
    pf.apply_trade("M", "bid", D("0.60"), C(2))  # 3 YES, average 0.50
    pf.apply_trade("M", "ask", D("0.55"), C(3))  # buy 3 NO at 0.45: 3 x (1 - 0.50 - 0.45) = 0.15
    assert pf.position("M") == 0 and pf.realized_pnl("M") == D("0.15")


@pytest.mark.parametrize(("value", "payout", "realized"), [("1", "0", "-1.80"), ("0", "4.00", "2.20")])
def test_settlement_pays_winning_side(value: str, payout: str, realized: str) -> None:
    pf = Portfolio()
    pf.apply_trade("M", "ask", D("0.55"), C(4))  # 4 NO at 0.45 = 1.80
    pf.upsert_order("o1", "M", "bid", D("0.40"), C(3))
    assert pf.settle("M", D(value)) == D(payout)
    assert pf.realized_pnl("M") == D(realized)
    assert pf.position("M") == 0 and pf.orders("M") == [] and pf.order("o1") is None


def test_scalar_settlement() -> None:
    pf = Portfolio()
    pf.apply_trade("M", "bid", D("0.20"), C(10))  # 10 YES cost 2.00; settles at 0.30 per YES -> 3.00
    assert pf.settle("M", D("0.30")) == D("3.00") and pf.realized_pnl("M") == D("1.00")


def test_fill_event_and_resting_order_bookkeeping() -> None:
    pf = Portfolio()
    pf.upsert_order("o1", "M", "bid", D("0.45"), C(5))
    f = FillEvent("o1", "t1", "M", "yes", "bid", D("0.45"), C(2), D("0.0035"), False)
    assert pf.apply_fill(f) == C(2)
    o = pf.order("o1")
    assert o is not None and o.remaining == C(3)
    pf.apply_fill(FillEvent("o1", "t2", "M", "yes", "bid", D("0.45"), C(3), Money(0), False))
    assert pf.order("o1") is None and pf.position("M") == C(5)
    pf.upsert_order("o2", "M", "ask", D("0.60"), C(1))
    pf.upsert_order("o2", "M", "ask", D("0.60"), Count(0))  # remaining 0 removes
    assert pf.orders("M") == []


def test_daily_pnl_from_day_start() -> None:
    pf = Portfolio()
    pf.apply_trade("M", "bid", D("0.40"), C(10))
    pf.set_mark("M", D("0.45"))  # +0.50 yesterday
    pf.start_day()
    assert pf.daily_pnl() == 0
    pf.set_mark("M", D("0.35"))  # -1.00 from the day's start
    assert pf.daily_pnl() == -D("1.00")
    pf.apply_trade("M", "ask", D("0.35"), C(10), fee=D("0.10"))  # closes at 0.35: realized -0.50, fee 0.10
    assert pf.daily_pnl() == -D("1.10")
    pf.determine("N", D("1"))  # unrelated market determined: no position, no effect
    assert pf.daily_pnl() == -D("1.10")


def test_determined_market_marks_to_result() -> None:
    pf = Portfolio()
    pf.apply_trade("M", "bid", D("0.40"), C(10))
    pf.set_mark("M", D("0.50"))
    pf.determine("M", D("1"))
    assert pf.unrealized_pnl("M") == D("6.00")
    assert pf.market_stake("M") == 0  # the result is known: nothing can be lost
    pf.determine("M", D("0"))
    assert pf.market_stake("M") == D("4.00")


def test_market_stake_with_resting_orders() -> None:
    pf = Portfolio()
    pf.apply_trade("M", "bid", D("0.40"), C(10))  # NO: lose 4.00; YES: win 6.00
    pf.upsert_order("b", "M", "bid", D("0.50"), C(5))  # NO: +2.50
    pf.upsert_order("a", "M", "ask", D("0.60"), C(3))  # YES: +3 x 0.40 = 1.20 -> still -4.80
    assert pf.market_stake("M") == D("6.50")
    # a new bid 2 at 0.45 would add 0.90; replacing "b" by 1 at 0.50 instead takes 2.00 off
    assert pf.market_stake("M", Hypothetical("M", "bid", D("0.45"), C(2))) == D("7.40")
    assert pf.market_stake("M", Hypothetical("M", "bid", D("0.50"), C(1), replaces="b")) == D("4.50")
    assert pf.position_bounds("M") == (C(7), C(15))


def test_short_position_stake() -> None:
    pf = Portfolio()
    pf.apply_trade("M", "ask", D("0.70"), C(10))  # 10 NO at 0.30: YES loses 3.00
    pf.upsert_order("a", "M", "ask", D("0.80"), C(5))  # YES: + 5 x 0.20 = 1.00
    assert pf.market_stake("M") == D("4.00")


def test_event_stake_mutually_exclusive_vs_independent() -> None:
    for me, expected in ((True, "0"), (False, "10.00")):
        pf = Portfolio()
        pf.add_market(spec("A", "E", me))
        pf.add_market(spec("B", "E", me))
        pf.apply_trade("A", "ask", D("0.50"), C(10))  # 10 NO A at 0.50
        pf.apply_trade("B", "ask", D("0.50"), C(10))  # 10 NO B at 0.50
        # ME: A yes -> 5 - 5 = 0; B yes -> 0; none -> -10. Independent: 5 + 5.
        assert pf.event_stake("E") == D(expected)
        assert pf.account_stake() == D(expected)


def test_event_stake_me_worst_outcome() -> None:
    pf = Portfolio()
    for t in "ABC":
        pf.add_market(spec(t, "E", True))
    pf.add_market(spec("X", "F"))
    pf.apply_trade("A", "bid", D("0.30"), C(10))  # A: NO loses 3, YES wins 7
    pf.apply_trade("B", "bid", D("0.20"), C(10))  # B: NO loses 2, YES wins 8
    pf.upsert_order("c", "C", "ask", D("0.90"), C(5))  # C: YES loses 0.50 if the ask fills
    # outcomes: A yes -7+2+0 = -5; B yes 3-8+0 = -5; C yes 3+2+0.5 = 5.5; none 3+2 = 5
    assert pf.event_stake("E") == D("5.50")
    pf.apply_trade("X", "bid", D("0.10"), C(10))  # independent event F: 1.00
    assert pf.account_stake() == D("6.50")
    pf.determine("C", D("0"))  # C resolved NO: its ask can only win; worst is now "none yes" = 5
    assert pf.event_stake("E") == D("5.00")
    pf.determine("A", D("1"))  # A won: B is NO -> -7 + 2 + 0 = -5 -> 0
    assert pf.event_stake("E") == 0


def test_would_be_reducing() -> None:
    pf = Portfolio()
    pf.apply_trade("M", "bid", D("0.40"), C(10))
    assert pf.would_be_reducing("M", "ask", C(4))
    assert not pf.would_be_reducing("M", "bid", C(1))
    pf.upsert_order("a", "M", "ask", D("0.60"), C(8))
    assert not pf.would_be_reducing("M", "ask", C(4))  # 10 - 8 - 4 < 0: could flip short
    assert pf.would_be_reducing("M", "ask", C(2))
    assert pf.would_be_reducing("M", "ask", C(10), exclude_order_id="a")  # amending "a" itself
    assert not pf.would_be_reducing("FLAT", "ask", C(1))
    assert pf.position_after("M", "ask", C(3)) == C(7) and pf.position_after("M") == C(10)


def test_set_position_reconciles() -> None:
    pf = Portfolio()
    pf.apply_trade("M", "bid", D("0.40"), C(10))
    pf.set_position("M", C(5))
    assert pf.market_stake("M") == D("2.00")  # same side: average cost kept
    pf.set_mark("M", D("0.30"))
    pf.set_position("M", C(-2))  # flipped: re-based at the mark, 2 NO at 0.70
    assert pf.market_stake("M") == D("1.40")
