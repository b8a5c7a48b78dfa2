"""Fees (API.md §8): expected values are computed by hand from the published formulas, not from the code."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kalshibot.core.fees import (
    DIRECT_MEMBER_PRECISION,
    FeeAccumulator,
    min_profitable_half_spread,
    trade_fee,
)
from kalshibot.core.fixed import Count, Money, Price, contracts, dollars

QM = "quadratic_with_maker_fees"
QC = "quadratic_with_combo_maker_fees"
ONE = 1_000_000  # multiplier 1.0 in ppm


@pytest.mark.parametrize(
    ("fee_type", "mult", "price", "count", "taker", "expected"),
    [
        # 0.07 * 1 * 0.50 * 0.50 = 0.0175 exactly
        (QM, ONE, "0.50", "1", True, "0.0175"),
        # 0.07 * 10 * 0.56 * 0.44 = 0.17248 -> up to 0.1725
        (QM, ONE, "0.56", "10", True, "0.1725"),
        # maker 0.0175 * 1 * 0.25 = 0.004375 -> 0.0044
        (QM, ONE, "0.50", "1", False, "0.0044"),
        # maker 0.0175 * 10 * 0.56 * 0.44 = 0.04312 -> 0.0432
        (QM, ONE, "0.56", "10", False, "0.0432"),
        # combo maker 0.035 * 0.25 = 0.00875 -> 0.0088
        (QC, ONE, "0.50", "1", False, "0.0088"),
        # quadratic: maker free, taker as usual
        ("quadratic", ONE, "0.50", "1", False, "0"),
        ("quadratic", ONE, "0.50", "1", True, "0.0175"),
        # multiplier 2.0: 2 * 0.0175 = 0.035
        (QM, 2 * ONE, "0.50", "1", True, "0.0350"),
        # multiplier 0.5: 0.00875 -> 0.0088
        (QM, ONE // 2, "0.50", "1", True, "0.0088"),
        # exact on the $0.0001 boundary: 100 * 0.0175 = 1.75 (no round-up); 0.07 * 0.10 * 0.90 = 0.0063
        (QM, ONE, "0.50", "100", True, "1.7500"),
        (QM, ONE, "0.10", "1", True, "0.0063"),
        # a hair below the boundary rounds up onto it: 0.07 * 0.5001 * 0.4999 = 0.0174999993 -> 0.0175
        (QM, ONE, "0.5001", "1", True, "0.0175"),
        # a hair above rounds up past it: multiplier 1.000001 -> 0.0175000175 -> 0.0176
        (QM, ONE + 1, "0.50", "1", True, "0.0176"),
        # fractional: 0.07 * 2.5 * 0.30 * 0.70 = 0.03675 -> 0.0368; 0.01 contract at 0.10: 0.000063 -> 0.0001
        (QM, ONE, "0.30", "2.5", True, "0.0368"),
        (QM, ONE, "0.10", "0.01", True, "0.0001"),
        # sub-penny price: 0.07 * 0.055 * 0.945 = 0.00363825 -> 0.0037
        (QM, ONE, "0.055", "1", True, "0.0037"),
        # flat (our documented choice): $0.01 per contract to the taker, x multiplier; maker free
        ("flat", ONE, "0.50", "3", True, "0.0300"),
        ("flat", ONE * 3 // 2, "0.20", "1", True, "0.0150"),
        ("flat", ONE, "0.50", "3", False, "0"),
        # unknown fee type: charged like the most expensive known schedule (combo maker 0.035)
        ("some_new_type", ONE, "0.50", "1", False, "0.0088"),
        ("some_new_type", ONE, "0.50", "1", True, "0.0175"),
        # zero count is free
        (QM, ONE, "0.50", "0", True, "0"),
    ],
)
def test_trade_fee_hand_computed(fee_type: str, mult: int, price: str, count: str, taker: bool, expected: str) -> None:
    assert trade_fee(fee_type, mult, dollars(price), contracts(count), is_taker=taker) == dollars(expected)


def test_fee_symmetric_in_leg() -> None:
    # a NO fill at 0.30 pays what a YES fill at 0.70 pays: P(1-P) is symmetric (0.07 * 0.21 = 0.0147)
    assert trade_fee(QM, ONE, dollars("0.30"), contracts(1), is_taker=True) == dollars("0.0147")
    assert trade_fee(QM, ONE, dollars("0.70"), contracts(1), is_taker=True) == dollars("0.0147")


def test_trade_fee_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        trade_fee(QM, ONE, dollars("1.5"), contracts(1), is_taker=True)
    with pytest.raises(ValueError):
        trade_fee(QM, ONE, dollars("0.5"), Count(-1), is_taker=True)


@settings(max_examples=200, deadline=None)
@given(
    p=st.integers(1, 9999).map(lambda t: Price(t * 100)),
    c=st.integers(1, 100_000).map(Count),
    mult=st.integers(0, 5_000_000),
    taker=st.booleans(),
)
def test_fee_is_exact_ceiling(p: Price, c: Count, mult: int, taker: bool) -> None:
    """Cross-check against Fraction arithmetic straight from the formula (independent of the integer trick)."""
    from fractions import Fraction
    from math import ceil

    rate = Fraction(7, 100) if taker else Fraction(7, 100) * Fraction(1, 4)
    exact = rate * Fraction(mult, 10**6) * Fraction(c, 100) * Fraction(p, 10**6) * (1 - Fraction(p, 10**6))
    expected_dollars = Fraction(ceil(exact * 10_000), 10_000)
    got = trade_fee(QM, mult, p, c, is_taker=taker)
    assert Fraction(got, 10**6) == expected_dollars


# ------------------------------------------------------------------------------------------ rounding model
def test_accumulator_subpenny_buy_cent_precision() -> None:
    # buy 1 at 0.055, taker fee 0.0037: balance change -0.0587 floors to -0.06, rounding fee 0.0013, no rebate
    acc = FeeAccumulator()
    f = acc.apply_fill(Money(-dollars("0.055")), dollars("0.0037"))
    assert (f.trade_fee, f.rounding_fee, f.rebate) == (dollars("0.0037"), dollars("0.0013"), 0)
    assert f.net_fee == dollars("0.0050")
    assert f.balance_change == -dollars("0.06")
    assert acc.accumulated == dollars("0.0013")


def test_accumulator_direct_member_has_no_rounding_on_centicent_values() -> None:
    acc = FeeAccumulator(DIRECT_MEMBER_PRECISION)
    f = acc.apply_fill(Money(-dollars("0.055")), dollars("0.0037"))
    assert f.rounding_fee == 0 and f.net_fee == dollars("0.0037") and f.balance_change == -dollars("0.0587")


def test_accumulator_direct_member_rounds_six_decimal_revenue() -> None:
    # 0.33 contracts at 0.0555: revenue -0.018315 (6 decimals); fee 0.0007 -> change -0.019015 -> -0.0191
    acc = FeeAccumulator(DIRECT_MEMBER_PRECISION)
    f = acc.apply_fill(Money(-18_315), dollars("0.0007"))
    assert f.rounding_fee == 85 and f.balance_change == -dollars("0.0191")


def test_accumulator_rebates_whole_cent() -> None:
    # taker buys of 1 at 0.5633 (fee 0.07*0.5633*0.4367 = 0.01721... -> 0.0173):
    # change -0.5806 -> -0.59, rounding 0.0094 each fill. After fill 2 the accumulator holds 0.0188 >= 0.01:
    # one cent back, 0.0088 carried. Net fill 2 = 0.0173 + 0.0094 - 0.01 = 0.0167.
    acc = FeeAccumulator()
    fee = trade_fee(QM, ONE, dollars("0.5633"), contracts(1), is_taker=True)
    assert fee == dollars("0.0173")
    f1 = acc.apply_fill(Money(-dollars("0.5633")), fee)
    assert (f1.rounding_fee, f1.rebate, f1.net_fee) == (dollars("0.0094"), 0, dollars("0.0267"))
    f2 = acc.apply_fill(Money(-dollars("0.5633")), fee)
    assert (f2.rounding_fee, f2.rebate, f2.net_fee) == (dollars("0.0094"), dollars("0.01"), dollars("0.0167"))
    assert f2.balance_change == -dollars("0.58")
    assert acc.accumulated == dollars("0.0088")


def test_accumulator_rebate_never_makes_net_negative() -> None:
    # maker fills on a maker-free series: fee 0, rounding 0.0067 each ((-0.5633) -> -0.57). The accumulator
    # reaches 0.0134 but a cent rebate would make the fill's net fee negative: it waits (our documented cap).
    acc = FeeAccumulator()
    for _ in range(3):
        f = acc.apply_fill(Money(-dollars("0.5633")), Money(0))
        assert f.net_fee == dollars("0.0067") and f.rebate == 0
    assert acc.accumulated == dollars("0.0201")


def test_accumulator_seller_revenue_positive() -> None:
    # a positive revenue (sale proceeds 0.4455) minus fee 0.0010 = 0.4445 floors to 0.44: rounding 0.0045
    acc = FeeAccumulator()
    f = acc.apply_fill(Money(dollars("0.4455")), dollars("0.0010"))
    assert f.rounding_fee == dollars("0.0045") and f.balance_change == dollars("0.44")


@settings(max_examples=150, deadline=None)
@given(
    fills=st.lists(st.tuples(st.integers(-2_000_000, 2_000_000), st.integers(0, 50_000)), min_size=1, max_size=30),
    direct=st.booleans(),
)
def test_accumulator_invariants(fills: list[tuple[int, int]], direct: bool) -> None:
    prec = 100 if direct else 10_000
    acc = FeeAccumulator(Money(prec))
    total_rounding = total_rebate = 0
    for revenue, fee in fills:
        fee = fee * 100  # trade fees are whole centicents
        f = acc.apply_fill(Money(revenue), Money(fee))
        assert f.net_fee >= 0
        assert f.rebate % 10_000 == 0 and f.rebate >= 0
        assert 0 <= f.rounding_fee < prec
        assert f.net_fee == f.trade_fee + f.rounding_fee - f.rebate
        assert f.balance_change % prec == 0  # the balance stays aligned to its precision
        total_rounding += f.rounding_fee
        total_rebate += f.rebate
    # nothing is refunded that was not overpaid, and what is left is exactly the unrefunded overpayment
    assert total_rebate <= total_rounding
    assert acc.accumulated == total_rounding - total_rebate


# ------------------------------------------------------------------------------------ fee-aware min spread
def _maker_round_trip_profit(fee_type: str, mult: int, p: int, c: int, h: int) -> int:
    return (
        (2 * h * c) // 100
        - trade_fee(fee_type, mult, Price(p - h), Count(c), is_taker=False)
        - trade_fee(fee_type, mult, Price(p + h), Count(c), is_taker=False)
    )


def test_min_half_spread_hand_case() -> None:
    # 1 contract at 0.50, maker 0.0175: at h the two maker fees are 0.0175*(0.5-h)(0.5+h) each, rounded up.
    # h = 0.0044: fees 0.0175*0.49560064 = 0.004367... -> 0.0044 each, 0.0088 total = 2h: exactly covered.
    # h = 0.004399: 2h = 0.008798 < 0.0088: not covered.
    h = min_profitable_half_spread(QM, ONE, dollars("0.50"), contracts(1))
    assert h == dollars("0.0044")


def test_min_half_spread_free_maker_is_zero() -> None:
    assert min_profitable_half_spread("quadratic", ONE, dollars("0.50"), contracts(1)) == 0
    assert min_profitable_half_spread(QM, 0, dollars("0.50"), contracts(1)) == 0


@settings(max_examples=60, deadline=None)
@given(
    p=st.integers(5, 95).map(lambda t: t * 10_000),
    c=st.integers(1, 5_000),
    mult=st.integers(0, 3_000_000),
    combo=st.booleans(),
)
def test_min_half_spread_is_minimal_and_safe_above(p: int, c: int, mult: int, combo: bool) -> None:
    ft = QC if combo else QM
    h = min_profitable_half_spread(ft, mult, Price(p), Count(c))
    limit = min(p, 1_000_000 - p)
    if h >= limit:
        return
    assert _maker_round_trip_profit(ft, mult, p, c, h) >= 0
    if h > 0:
        assert _maker_round_trip_profit(ft, mult, p, c, h - 1) < 0
    for wider in range(h, min(limit, h + 3_000), 97):  # sampled wider spreads stay covered
        assert _maker_round_trip_profit(ft, mult, p, c, wider) >= 0
