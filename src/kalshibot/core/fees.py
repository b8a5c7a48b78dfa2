"""Kalshi trading fees, exact to the micro-dollar (API.md §8).

Theory of operation
-------------------
A fill's *trade fee* is ``rate x multiplier x C x P x (1 - P)`` rounded **up** to $0.0001, where C is the
number of contracts, P the fill price in dollars (YES or NO leg: P(1-P) is symmetric) and the rate depends on
the series' ``fee_type`` and on whether we were taker or maker:

=================================== ========= ===================================
fee_type                            taker     maker
=================================== ========= ===================================
``quadratic``                       0.07      free
``quadratic_with_maker_fees``       0.07      0.07 x 0.25 = 0.0175
``quadratic_with_combo_maker_fees`` 0.07      0.07 x 0.5  = 0.035
``flat``                            see below free
=================================== ========= ===================================

Everything is integer arithmetic: rates are parts per million, the multiplier is ppm
(``MarketSpec.fee_multiplier_ppm``), prices are micro-dollars and counts centi-contracts, so the exact fee is one
big integer ratio and the round-up is a ceiling division (no float ever decides a fee).

Choices where §8 is silent or ambiguous (each kept in one constant below):

* ``flat`` ("Specific Trading Fees Table", not quoted in our sources): we charge ``FLAT_TAKER_FEE_PER_CONTRACT``
  ($0.01 per contract) x multiplier to the taker, rounded up to $0.0001, and nothing to the maker.
* An unknown ``fee_type`` (Kalshi adds enum values over time) is charged like ``UNKNOWN_FEE_TYPE_FALLBACK``
  (the most expensive known schedule), so fees and fee-aware spreads are never understated.
* The 2026 rounding model (§8 "Rounding", docs.kalshi.com fee_rounding): the per-order accumulator refunds a whole
  cent once the accumulated rounding overpayment reaches ``REBATE_UNIT`` ($0.01). The source says "exceeds $0.01";
  we refund at exactly $0.01 too (``REBATE_AT_OR_ABOVE``), because refunding only above it would leave a full cent
  of overpayment unrefunded forever and many small fills would not converge to one big fill's fee.
* §8 also promises ``net fee = trade fee + rounding fee - rebate >= 0`` on every fill. A whole-cent rebate can be
  larger than a fill's own fee + rounding (a maker fill on a maker-free series pays no trade fee), so a fill's
  rebate is capped at the whole cents of its own fee + rounding and the rest stays in the accumulator for a later
  fill (``REBATE_CAPPED_BY_FILL_FEE``). Rebates are therefore always whole cents and net fees never negative.

:class:`FeeAccumulator` implements that rounding model for one order; :func:`min_profitable_half_spread` is the
fee-aware minimum half-spread the quoter respects.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from kalshibot.core.fixed import COUNT_ONE, ONE_DOLLAR, Count, Money, Price

# ----------------------------------------------------------------------------------------------- the schedule
PPM: Final = 1_000_000
TAKER_RATE_PPM: Final = 70_000  # 0.07
MAKER_RATE_PPM: Final[dict[str, int]] = {
    "quadratic": 0,
    "quadratic_with_maker_fees": 17_500,  # 0.07 x 0.25
    "quadratic_with_combo_maker_fees": 35_000,  # 0.07 x 0.5
    "flat": 0,
}
FEE_TYPES: Final = frozenset(MAKER_RATE_PPM)
FLAT_TAKER_FEE_PER_CONTRACT: Final = Money(10_000)  # $0.01 per contract (our documented choice, see above)
UNKNOWN_FEE_TYPE_FALLBACK: Final = "quadratic_with_combo_maker_fees"

FEE_ROUNDING_UNIT: Final = Money(100)  # trade fees round up to $0.0001
DIRECT_MEMBER_PRECISION: Final = Money(100)  # balance precision of direct members: $0.0001
DEFAULT_BALANCE_PRECISION: Final = Money(10_000)  # everyone else: $0.01
REBATE_UNIT: Final = Money(10_000)  # rebates are whole cents
REBATE_AT_OR_ABOVE: Final = Money(10_000)  # refund once the accumulated overpayment reaches this (see docstring)
REBATE_CAPPED_BY_FILL_FEE: Final = True  # a fill's rebate never exceeds its own fee + rounding (net >= 0)

# fee micros = rate_ppm * mult_ppm * count_centi * p * (1 - p) / _QUAD_DEN  (p in micros)
#   dollars = (rate/1e6)(mult/1e6)(count/100)(p/1e6)((1e6-p)/1e6); micros = dollars * 1e6 -> den = 1e6^3 * 100
_QUAD_DEN: Final = PPM * PPM * PPM * COUNT_ONE


def _ceil_div(a: int, b: int) -> int:
    return -((-a) // b)


def _schedule(fee_type: str) -> str:
    return fee_type if fee_type in FEE_TYPES else UNKNOWN_FEE_TYPE_FALLBACK


def fee_rate_ppm(fee_type: str, *, is_taker: bool) -> int:
    """The quadratic coefficient in ppm before the multiplier (0 when that side trades free or the type is flat)."""
    kind = _schedule(fee_type)
    if kind == "flat":
        return 0
    return TAKER_RATE_PPM if is_taker else MAKER_RATE_PPM[kind]


def trade_fee(fee_type: str, multiplier_ppm: int, price: Price, count: Count, *, is_taker: bool) -> Money:
    """The trade fee of one fill of ``count`` at ``price`` (either leg), rounded up to $0.0001 (API.md §8)."""
    if count < 0 or not 0 <= price <= ONE_DOLLAR or multiplier_ppm < 0:
        raise ValueError(f"trade_fee: bad input price={price} count={count} multiplier_ppm={multiplier_ppm}")
    if count == 0:
        return Money(0)
    kind = _schedule(fee_type)
    if kind == "flat":
        if not is_taker:
            return Money(0)
        # per contract x multiplier: micros = flat * (count/100) * (mult/1e6)
        num = FLAT_TAKER_FEE_PER_CONTRACT * count * multiplier_ppm
        den = COUNT_ONE * PPM
    else:
        rate = TAKER_RATE_PPM if is_taker else MAKER_RATE_PPM[kind]
        num = rate * multiplier_ppm * count * price * (ONE_DOLLAR - price)
        den = _QUAD_DEN
    # round up to the fee unit in one ceiling division on exact integers
    return Money(_ceil_div(num, den * FEE_ROUNDING_UNIT) * FEE_ROUNDING_UNIT)


# -------------------------------------------------------------------------------------- 2026 rounding model
@dataclass(frozen=True, slots=True)
class FillFee:
    """The fee components of one fill. ``net_fee = trade_fee + rounding_fee - rebate >= 0``;
    ``balance_change = revenue - net_fee`` is what the balance moves by (aligned to the balance precision except
    for whole-cent rebates, which keep it aligned)."""

    trade_fee: Money
    rounding_fee: Money
    rebate: Money
    net_fee: Money
    balance_change: Money


class FeeAccumulator:
    """Kalshi's per-order fee accumulator (API.md §8 "Rounding (2026, official)").

    One instance per order, across all of its fills, taker and maker alike (a partially taking order that then
    rests carries its accumulated rounding over). ``balance_precision`` is $0.0001 for direct members and $0.01
    (the default) for everyone else.
    """

    __slots__ = ("_accumulated", "balance_precision")

    def __init__(self, balance_precision: Money = DEFAULT_BALANCE_PRECISION) -> None:
        if balance_precision <= 0:
            raise ValueError("balance_precision must be positive")
        self.balance_precision = balance_precision
        self._accumulated = 0

    @property
    def accumulated(self) -> Money:
        """Rounding overpayment not yet refunded (below one cent unless a rebate was capped by a fill's fee)."""
        return Money(self._accumulated)

    def apply_fill(self, revenue: Money, trade_fee: Money) -> FillFee:
        """One fill: ``revenue`` is signed (negative for a buyer: minus the cost), ``trade_fee`` as computed by
        :func:`trade_fee` (it is rounded up to $0.0001 here again, harmlessly, in case a caller passes an exact
        fee)."""
        if trade_fee < 0:
            raise ValueError("trade_fee must not be negative")
        fee = _ceil_div(trade_fee, FEE_ROUNDING_UNIT) * FEE_ROUNDING_UNIT
        change = revenue - fee
        floored = (change // self.balance_precision) * self.balance_precision  # toward -infinity
        rounding = change - floored
        self._accumulated += rounding
        rebate = 0
        if self._accumulated >= REBATE_AT_OR_ABOVE:
            # whole cents only, and never more than this fill's own fee + rounding (REBATE_CAPPED_BY_FILL_FEE)
            units = self._accumulated // REBATE_UNIT
            if REBATE_CAPPED_BY_FILL_FEE:
                units = min(units, (fee + rounding) // REBATE_UNIT)
            rebate = units * REBATE_UNIT
            self._accumulated -= rebate
        net = fee + rounding - rebate
        return FillFee(
            trade_fee=Money(fee),
            rounding_fee=Money(rounding),
            rebate=Money(rebate),
            net_fee=Money(net),
            balance_change=Money(revenue - net),
        )


# ------------------------------------------------------------------------------------ fee-aware min spread
def _round_trip_profit(fee_type: str, multiplier_ppm: int, price: int, count: int, half: int) -> int:
    """Micros earned buying ``count`` YES at price - half and selling at price + half, both as maker, net of fees."""
    lo, hi = price - half, price + half
    fee_lo = trade_fee(fee_type, multiplier_ppm, Price(min(max(lo, 0), ONE_DOLLAR)), Count(count), is_taker=False)
    fee_hi = trade_fee(fee_type, multiplier_ppm, Price(min(max(hi, 0), ONE_DOLLAR)), Count(count), is_taker=False)
    # the spread earned is floored to whole micros: never overstate the edge
    return (2 * half * count) // COUNT_ONE - fee_lo - fee_hi


@lru_cache(maxsize=4096)
def min_profitable_half_spread(fee_type: str, multiplier_ppm: int, price: Price, count: Count) -> Price:
    """The smallest half-spread h (micros) such that a maker round trip of ``count`` contracts (buy at price - h,
    sell at price + h) covers both maker fees, and every wider half-spread does too (while both legs stay inside
    (0, 1), i.e. h < min(P, 1 - P); beyond that there is no round trip to price).

    Without rounding the two fees sum to ``2kC(P(1-P) - h^2)``, never more than twice the fee at P, so after the
    two round-ups the sum is bounded by ``ceil(2 * exact fee at P) + one fee unit`` for every h; the h that earns
    that bound is safe for all wider spreads, and we walk down from it while the real (rounded) fees stay covered.
    """
    if count <= 0:
        raise ValueError("count must be positive")
    rate = fee_rate_ppm(fee_type, is_taker=False)
    if rate == 0 or multiplier_ppm == 0:
        return Price(0)
    exact_num = rate * multiplier_ppm * count * price * (ONE_DOLLAR - price)  # / _QUAD_DEN micros, one fee
    bound = _ceil_div(2 * exact_num, _QUAD_DEN * FEE_ROUNDING_UNIT) * FEE_ROUNDING_UNIT + FEE_ROUNDING_UNIT
    # 2 * h * count / 100 >= bound (floored revenue micros, see _round_trip_profit)
    h = _ceil_div(bound * COUNT_ONE, 2 * count)
    while h > 0 and _round_trip_profit(fee_type, multiplier_ppm, price, count, h - 1) >= 0:
        h -= 1
    return Price(h)


@lru_cache(maxsize=1024)
def fee_floor_half_spread(fee_type: str, multiplier_ppm: int, count: Count) -> Price:
    """A half-spread that covers both maker fees of a ``count``-contract round trip at *any* pair of prices
    ``bid < ask`` with ``ask - bid >= 2h`` (the price-independent fee-aware minimum the quoter uses).

    Both fees together never exceed ``ceil(2 x fee at P=0.5) + one fee unit`` (P(1-P) <= 1/4, two round-ups), so
    earning that bound on the spread is enough wherever the quote sits. Being price-independent keeps quotes
    monotone in inventory; it is at most about one fee unit per contract wider than
    :func:`min_profitable_half_spread` at P=0.5.
    """
    if count <= 0:
        raise ValueError("count must be positive")
    rate = fee_rate_ppm(fee_type, is_taker=False)
    if rate == 0 or multiplier_ppm == 0:
        return Price(0)
    half = ONE_DOLLAR // 2
    exact_num = rate * multiplier_ppm * count * half * half
    bound = _ceil_div(2 * exact_num, _QUAD_DEN * FEE_ROUNDING_UNIT) * FEE_ROUNDING_UNIT + FEE_ROUNDING_UNIT
    return Price(_ceil_div(bound * COUNT_ONE, 2 * count))
