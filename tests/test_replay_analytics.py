"""Analytics (PnL, fees, markouts, uptime, drawdown, tokens), the hypothesis verdict, what-if and report helpers."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from kalshibot.core.events import BookDelta, BookSnapshot
from kalshibot.core.fixed import Count, Money, Price, contracts, dollars
from kalshibot.replay.analytics import Analytics, Series
from kalshibot.replay.hypothesis import Hypothesis, judge
from kalshibot.replay.report import money
from kalshibot.replay.sources import merged

T = "M"


def book(bid: str, ask: str, seq: int = 1) -> BookSnapshot:
    no = f"{1 - float(ask):.2f}"
    return BookSnapshot(T, 1, seq, ((dollars(bid), contracts(5)),), ((dollars(no), contracts(5)),))


def test_round_trip_pnl_fees_spread_and_markouts() -> None:
    a = Analytics(horizons_ms=(1_000, 10_000))
    a.on_market(book("0.40", "0.50"), 0)  # mid 0.45
    a.on_quotes(T, dollars("0.40"), dollars("0.50"), 0)
    a.on_fill(T, "bid", dollars("0.40"), contracts(10), dollars("0.01"), False, 1_000)
    a.on_market(book("0.44", "0.46", 2), 1_500)  # mid 0.45 still
    a.on_fill(T, "ask", dollars("0.50"), contracts(4), dollars("0.01"), False, 2_000)
    a.on_market(book("0.30", "0.40", 3), 2_500)  # mid 0.35: the long 6 lose
    s = a.finish(20_000)
    # realized: 4 x (0.50 - 0.40) = 0.40 minus fees 0.02
    assert s.realized == dollars("0.38")
    # marked: cash -4.00 + 2.00 = -2.00; 6 long at 0.35 = 2.10 -> 0.10 - 0.02
    assert s.net_pnl == dollars("0.08")
    assert s.fees == dollars("0.02")
    assert s.spread_captured == dollars("0.70")  # 10 x 0.05 + 4 x 0.05
    # 1s markouts: the bid fill sees the mid at 2000 (0.45): +0.05 x10; the ask fill the mid at 3000 (0.35): +0.15 x4
    h1 = dict((h, (t, n)) for h, t, n in s.markouts)[1_000]
    assert h1[1] == contracts(14)
    assert h1[0] == dollars("0.05") * contracts(10) + dollars("0.15") * contracts(4)
    assert s.markets[0].position == contracts(6)
    assert s.two_sided_permille == 1000
    assert s.max_drawdown >= dollars("0.5")  # from +0.70 after the second fill... down with the mid


def test_settlement_payout_and_short_side() -> None:
    a = Analytics()
    a.on_market(book("0.40", "0.50"), 0)
    a.on_fill(T, "ask", dollars("0.60"), contracts(2), Money(0), False, 1)  # long 2 NO at 0.40
    a.on_settlement(T, Price(0), 2)  # NO wins: pays 2.00
    s = a.finish()
    assert s.payout == dollars("2.00")
    assert s.net_pnl == s.realized == dollars("1.20")
    assert s.markets[0].position == 0


def test_requests_and_tokens() -> None:
    a = Analytics()
    for k in ("create", "create", "amend", "cancel", "decrease"):
        a.on_request(k)
    s = a.finish(0)
    assert s.orders == {"amend": 1, "cancel": 1, "create": 2, "decrease": 1}
    assert s.tokens == 10 * 4 + 2


@settings(max_examples=50, deadline=None)
@given(
    fills=st.lists(
        st.tuples(st.sampled_from(["bid", "ask"]), st.integers(1, 99), st.integers(1, 50)), min_size=1, max_size=30
    ),
    result=st.sampled_from([0, 1_000_000]),
)
def test_settled_pnl_equals_cash_flows(fills: list[tuple[str, int, int]], result: int) -> None:
    """After settlement, realized == marked == sum of cash flows + payout in YES terms (no rounding loss)."""
    a = Analytics()
    cash = 0
    pos = 0
    for i, (side, cents, n) in enumerate(fills):
        p, c = cents * 10_000, n * 100
        a.on_fill(T, side, Price(p), Count(c), Money(0), False, i)  # type: ignore[arg-type]
        sign = 1 if side == "bid" else -1
        cash -= sign * p * c // 100
        pos += sign * c
    a.on_settlement(T, Price(result), len(fills))
    s = a.finish()
    expected = cash + pos * result // 100
    assert s.net_pnl == expected
    assert s.realized == expected


def test_series_is_bounded_and_deterministic() -> None:
    s1, s2 = Series(cap=10), Series(cap=10)
    for i in range(1_000):
        s1.add(i, i)
        s2.add(i, i)
    assert len(s1.points) < 10 and s1.points == s2.points
    assert s1.points[0] == (0, 0)


def test_hypothesis_verdicts() -> None:
    a = Analytics()
    a.on_market(book("0.40", "0.50"), 0)
    for i in range(4):
        a.on_fill(T, "bid", dollars("0.40"), contracts(1), Money(0), False, i)
        a.on_fill(T, "ask", dollars("0.42"), contracts(1), Money(0), False, i)
    s = a.finish(10)
    h = Hypothesis("spread pays", "net_pnl_per_contract", 0, min_fills=8)
    assert judge(h, s).verdict == "supports"
    assert judge(Hypothesis("x", "net_pnl_per_contract", dollars("0.05"), 8), s).verdict == "invalidates"
    j = judge(Hypothesis("x", min_fills=100), s)
    assert j.verdict == "cannot yet judge" and "8 of 100 fills" in j.line


def test_money_display_rounding() -> None:
    assert money(dollars("0.12345")) == "0.1235"
    assert money(-dollars("0.00004")) == "0.0000"
    assert money(-dollars("1.5")) == "-1.5000"


def test_merge_orders_by_time_and_skips_torn_lines(tmp_path: Path) -> None:
    (tmp_path / "journal-x.jsonl").write_bytes(
        b'{"type":"ack","ts_ms":5}\n{"type":"ack","ts_ms":1' + b"\n"  # torn tail
    )
    (tmp_path / "market-x.jsonl").write_bytes(b'{"type":"trade","ts_ms":3}\n{"type":"trade","ts_ms":5}\n')
    from kalshibot.replay.sources import ReadStats

    stats = ReadStats()
    out = [(r["type"], r["ts_ms"]) for r in merged([tmp_path], stats)]
    assert out == [("trade", 3), ("trade", 5), ("ack", 5)]
    assert stats.bad_lines == 1


def test_delta_with_no_in_yes_prices() -> None:
    a = Analytics()
    a.on_market(book("0.40", "0.50"), 0)
    a.on_market(BookDelta(T, 1, 2, "no", dollars("0.48"), contracts(1), no_in_yes_prices=True), 1)
    assert a.books[T].best_ask() == dollars("0.48")
