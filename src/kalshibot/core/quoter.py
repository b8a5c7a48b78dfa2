"""Quoting models: where to bid and offer, given fair value, inventory and the market's grid.

Theory of operation
-------------------
A quoter is a pure function of a :class:`QuoteContext` (fair value, top of book, signed position, grid, fee
schedule, time to close) returning a :class:`Quote`: bid levels and ask levels (YES-leg prices, counts) plus a
``reason`` dict for the journal's intent record. An empty side means "do not quote that side". Two models share
one finishing pipeline:

* :class:`LinearQuoter` is the guide's quoter: ``bid = fair - spread/2 - skew x q``, ``ask = fair + spread/2 - skew
  x q`` with q the inventory in contracts (exact rational arithmetic, no floats).
* :class:`LogitQuoter` is Avellaneda-Stoikov in log-odds space, which respects the guide's "common mistake"
  (resolution is 0/1, not Gaussian: a cent near 0.50 is not the risk of a cent near 0.03): ``x = logit(fair)``,
  reservation ``x_r = x - q gamma sigma^2 tau``, half-spread ``d = gamma sigma^2 tau / 2 + ln(1 + gamma/k) /
  gamma``, ``bid = S(x_r - d)``, ``ask = S(x_r + d)``; tau is the time to close capped at ``tau_cap_s``. Floats live
  only inside; the raw prices become exact rationals at once.

The finishing pipeline (:func:`_finish`), in order, each step monotone in inventory so the whole quote is:

1. fee floor: the two raw prices are pushed apart symmetrically around their centre to at least twice
   :func:`~kalshibot.core.fees.fee_floor_half_spread` for the order size (a price-independent bound, so a maker
   round trip at the quoted prices always covers both maker fees, API.md §8);
2. snap in the maker's favour: bid rounds down, ask rounds up onto the market's grid (API.md §4); a side that
   falls off the grid is dropped;
3. post-only: a bid never locks or crosses the best YES ask, an ask never the best YES bid: it steps away to the
   next tick inside (the exchange would reject a crossing post-only order, API.md §3.5); when ``post_only`` is off
   the quote may cross on purpose;
4. bid < ask strictly (a free-maker zero spread would otherwise lock our own two quotes);
5. levels: ``levels`` prices per side spaced ``level_spacing_ticks`` ticks apart, each for ``size``;
6. position bound: with ``max_position`` Q, a side is given only as many levels as fit without taking the position
   beyond +/-Q if all of them filled (a side with no level that fits is not quoted).

"More YES inventory -> lower or equal bid and ask" holds for the top level of each side whenever that side is
quoted. Our own resting orders may be the best prices we see; telling them apart is the engine's job.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from functools import lru_cache
from typing import Any, Literal, Protocol

from kalshibot.core.event_builders import draft_class
from kalshibot.core.fair import FairValueMode
from kalshibot.core.fees import fee_floor_half_spread
from kalshibot.core.fixed import COUNT_ONE, ONE_DOLLAR, Count, Price, format_count, format_price
from kalshibot.core.grid import PriceGrid

Levels = tuple[tuple[Price, Count], ...]
QuoteModel = Literal["linear", "logit"]


@dataclass(frozen=True, slots=True)
class QuoteContext:
    ticker: str
    fair: Price
    best_bid: Price | None
    best_ask: Price | None  # best YES ask (1 - best NO bid)
    position: Count  # signed, + YES
    grid: PriceGrid
    fee_type: str = "quadratic_with_maker_fees"
    fee_multiplier_ppm: int = 1_000_000
    time_to_close_s: float | None = None
    post_only: bool = True


_QC_FIELDS = (
    "ticker",
    "fair",
    "best_bid",
    "best_ask",
    "position",
    "grid",
    "fee_type",
    "fee_multiplier_ppm",
    "time_to_close_s",
    "post_only",
)
_new = object.__new__


def quote_context(
    ticker: str,
    fair: Price,
    best_bid: Price | None,
    best_ask: Price | None,
    position: Count,
    grid: PriceGrid,
    fee_type: str,
    fee_multiplier_ppm: int,
    time_to_close_s: float | None,
    post_only: bool,
) -> QuoteContext:
    """``QuoteContext(...)`` with every field given: plain slot stores into a twin with the same slots, whose class
    then becomes ``QuoteContext`` (:func:`~kalshibot.core.event_builders.draft_class`): the same frozen value (equal,
    hashable, immutable afterwards) at a fraction of the frozen dataclass ``__init__``'s cost, once per requote on
    the hot path (issue 9). ``_QC_FIELDS`` must list every field (a test pins it)."""
    c: Any = _new(_QuoteContextDraft)
    c.ticker = ticker
    c.fair = fair
    c.best_bid = best_bid
    c.best_ask = best_ask
    c.position = position
    c.grid = grid
    c.fee_type = fee_type
    c.fee_multiplier_ppm = fee_multiplier_ppm
    c.time_to_close_s = time_to_close_s
    c.post_only = post_only
    c.__class__ = QuoteContext
    return c  # type: ignore[no-any-return]


_QuoteContextDraft = draft_class(QuoteContext)


@dataclass(frozen=True, slots=True)
class Quote:
    bids: Levels  # best (highest) first
    asks: Levels  # YES-leg ask prices, best (lowest) first
    reason: dict[str, object] = field(default_factory=dict)


class Quoter(Protocol):
    name: str

    def quote(self, ctx: QuoteContext) -> Quote: ...


@dataclass(frozen=True, slots=True)
class _Shape:
    size: Count
    levels: int
    level_spacing_ticks: int
    max_position: Count | None


def _check_shape(s: _Shape) -> None:
    if s.size <= 0:
        raise ValueError("size must be positive")
    if s.levels < 1 or s.level_spacing_ticks < 1:
        raise ValueError("levels and level_spacing_ticks must be >= 1")
    if s.max_position is not None and s.max_position < 0:
        raise ValueError("max_position must be >= 0")


# the journal's strings for prices and positions: pure functions of an int, memoized because every quote formats
# them (the fair value, the fee floor, the position) and a requote is the hot path
_price_str = lru_cache(maxsize=8192)(format_price)
_count_str = lru_cache(maxsize=1024)(format_count)
# the fee floor is a pure function of (fee type, multiplier, size), the same for every quote of a market: memoized
# (exceptions are not cached, so a bad size still raises every time)
_fee_floor = lru_cache(maxsize=1024)(fee_floor_half_spread)


@lru_cache(maxsize=4096)
def _skew_str(skew_per_contract: int, position: int) -> str:
    """The journal's skew: micros the quote is shifted by inventory (memoized: the position rarely changes)."""
    return str(round(skew_per_contract * position / COUNT_ONE))


def _ladder(grid: PriceGrid, top: Price, n: int, spacing: int, down: bool) -> list[Price]:
    """``n`` prices from ``top`` outwards (down for bids, up for asks), ``spacing`` ticks apart, within the grid."""
    out = [top]
    p = top
    while len(out) < n:
        for _ in range(spacing):
            nxt = grid.tick_down(p) if down else grid.tick_up(p)
            if nxt is None:
                return out
            p = nxt
        out.append(p)
    return out


def _fit(position: int, size: int, n: int, max_position: int | None, buy: bool) -> int:
    """How many of ``n`` levels of ``size`` fit without |position| passing max_position if all filled."""
    if max_position is None:
        return n
    room = max_position - position if buy else max_position + position
    if room <= 0:
        return 0
    k = room // size  # max(0, min(n, room // size)) without the builtin calls (two per requote)
    return n if k > n else (k if k > 0 else 0)


def _finish(
    ctx: QuoteContext,
    shape: _Shape,
    bid_num: int | None,
    ask_num: int | None,
    scale: int,
    reason: dict[str, object],
) -> Quote:
    """Prices arrive as exact rationals ``num / scale`` micro-dollars (integers: this is the hot path, and
    ``fractions.Fraction`` cost most of a requote)."""
    grid = ctx.grid
    h = _fee_floor(ctx.fee_type, ctx.fee_multiplier_ppm, shape.size)
    reason["fee_min_half_spread"] = _price_str(h)
    clipped: list[str] = []
    # 1. fee floor, symmetric about the model's centre: centre = (bid + ask) / 2, so work at twice the scale
    if bid_num is not None and ask_num is not None and ask_num - bid_num < 2 * h * scale:
        both = bid_num + ask_num
        bid_num, ask_num, scale = both - 2 * h * scale, both + 2 * h * scale, 2 * scale
        clipped.append("fee_floor")
    # 2. snap in the maker's favour (floor for the bid, ceiling for the ask)
    bid: Price | None = None
    ask: Price | None = None
    if bid_num is not None and bid_num > 0:
        bid = grid.round_bid(bid_num // scale)
    if ask_num is not None and ask_num < ONE_DOLLAR * scale:
        ask = grid.round_ask(-(-ask_num // scale))
    # 3. post-only: never lock or cross the opposite best price
    if ctx.post_only:
        if bid is not None and ctx.best_ask is not None and bid >= ctx.best_ask:
            bid = grid.tick_down(ctx.best_ask)
            clipped.append("post_only_bid")
        if ask is not None and ctx.best_bid is not None and ask <= ctx.best_bid:
            ask = grid.tick_up(ctx.best_bid)
            clipped.append("post_only_ask")
    # 4. strictly bid < ask
    if bid is not None and ask is not None and bid >= ask:
        bid = grid.tick_down(ask)
        clipped.append("uncross")
    # 5./6. levels within the position bound
    bids: Levels = ()
    asks: Levels = ()
    if bid is not None:
        n = _fit(ctx.position, shape.size, shape.levels, shape.max_position, buy=True)
        if n == 1:
            bids = ((bid, shape.size),)  # the one-level ladder is its top (the common configuration)
        elif n:
            bids = tuple((p, shape.size) for p in _ladder(grid, bid, n, shape.level_spacing_ticks, down=True))
        else:
            clipped.append("max_position_bid")
    if ask is not None:
        n = _fit(ctx.position, shape.size, shape.levels, shape.max_position, buy=False)
        if n == 1:
            asks = ((ask, shape.size),)
        elif n:
            asks = tuple((p, shape.size) for p in _ladder(grid, ask, n, shape.level_spacing_ticks, down=False))
        else:
            clipped.append("max_position_ask")
    reason["clipped"] = clipped
    reason["position"] = _count_str(ctx.position)
    q: Any = _new(_QuoteDraft)  # Quote(bids=bids, asks=asks, reason=reason), built cheaply (event_builders.draft_class)
    q.bids = bids
    q.asks = asks
    q.reason = reason
    q.__class__ = Quote
    return q  # type: ignore[no-any-return]


_QuoteDraft = draft_class(Quote)
if [f.name for f in fields(Quote)] != ["bids", "asks", "reason"]:  # pragma: no cover - set a new field in _finish
    raise ImportError("core/quoter.py: Quote changed; update _finish's builder")


_LOGIT_SCALE_BITS = 20


class LinearQuoter:
    """The guide's linear quoter, with exact arithmetic: ``spread`` is the full spread, ``skew_per_contract`` the
    price shift per contract of inventory (both micro-dollars)."""

    name = "linear"

    def __init__(
        self,
        spread: Price,
        skew_per_contract: Price,
        size: Count,
        levels: int = 1,
        level_spacing_ticks: int = 1,
        max_position: Count | None = None,
    ) -> None:
        if spread < 0 or skew_per_contract < 0:
            raise ValueError("spread and skew must be >= 0")
        self.spread = spread
        self.skew_per_contract = skew_per_contract
        self._shape = _Shape(size, levels, level_spacing_ticks, max_position)
        _check_shape(self._shape)
        self._half_spread_str = format_price(spread // 2)

    def quote(self, ctx: QuoteContext) -> Quote:
        # exact at scale 2 * COUNT_ONE: half = spread / 2, skew = skew_per_contract * position / COUNT_ONE
        scale = 2 * COUNT_ONE
        skew_num = 2 * self.skew_per_contract * ctx.position
        half_num = self.spread * COUNT_ONE
        centre = ctx.fair * scale - skew_num
        reason: dict[str, object] = {
            "model": self.name,
            "fair": _price_str(ctx.fair),
            "skew": _skew_str(self.skew_per_contract, ctx.position),  # micros shifted by inventory
            "half_spread": self._half_spread_str,
        }
        return _finish(ctx, self._shape, centre - half_num, centre + half_num, scale, reason)


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


class LogitQuoter:
    """Avellaneda-Stoikov in log-odds (see module docstring). ``sigma`` is in log-odds per sqrt(second), ``k`` the
    order-arrival decay per unit of log-odds, ``gamma`` the risk aversion, ``max_position`` Q in centi-contracts."""

    name = "logit"

    # fair values are clamped this far inside (0, 1) before the logit (an external fair of 0 or 1 is infinite)
    _EDGE = 1e-6

    def __init__(
        self,
        gamma: float,
        k: float,
        sigma: float,
        tau_cap_s: float,
        max_position: Count,
        size: Count,
        levels: int = 1,
        level_spacing_ticks: int = 1,
    ) -> None:
        if not (gamma > 0 and k > 0 and sigma >= 0 and tau_cap_s >= 0):
            raise ValueError("need gamma > 0, k > 0, sigma >= 0, tau_cap_s >= 0")
        self.gamma, self.k, self.sigma, self.tau_cap_s = gamma, k, sigma, tau_cap_s
        self._shape = _Shape(size, levels, level_spacing_ticks, max_position)
        _check_shape(self._shape)

    def tau_s(self, time_to_close_s: float | None) -> float:
        if time_to_close_s is None:
            return self.tau_cap_s
        return min(max(time_to_close_s, 0.0), self.tau_cap_s)

    def quote(self, ctx: QuoteContext) -> Quote:
        p = min(max(ctx.fair / ONE_DOLLAR, self._EDGE), 1.0 - self._EDGE)
        x = math.log(p / (1.0 - p))
        q = ctx.position / COUNT_ONE
        tau = self.tau_s(ctx.time_to_close_s)
        g_s2_t = self.gamma * self.sigma * self.sigma * tau
        x_r = x - q * g_s2_t
        d = g_s2_t / 2.0 + math.log1p(self.gamma / self.k) / self.gamma
        # to integers at once, in the maker's favour (bid down, ask up) at 2**-20 of a micro-dollar
        bid_num = math.floor(_sigmoid(x_r - d) * (ONE_DOLLAR << _LOGIT_SCALE_BITS))
        ask_num = math.ceil(_sigmoid(x_r + d) * (ONE_DOLLAR << _LOGIT_SCALE_BITS))
        reason: dict[str, object] = {
            "model": self.name,
            "fair": format_price(ctx.fair),
            "reservation": format_price(round(_sigmoid(x_r) * ONE_DOLLAR)),
            "half_spread_logit": f"{d:.6g}",
            "tau_s": f"{tau:.6g}",
        }
        return _finish(ctx, self._shape, bid_num, ask_num, 1 << _LOGIT_SCALE_BITS, reason)


@dataclass(frozen=True, slots=True)
class QuoteParams:
    """What the config layer fills in; :func:`make_quoter` builds the model. Prices/counts are fixed-point ints."""

    model: QuoteModel = "linear"
    fair_value: FairValueMode = "microprice"
    spread: Price = Price(20_000)  # $0.02 full spread (the guide's SPREAD)
    skew: Price = Price(5_000)  # $0.005 per contract of inventory (the guide's SKEW)
    gamma: float = 0.1
    k: float = 50.0
    sigma: float = 0.005
    tau_cap_s: float = 3600.0
    max_position: Count | None = Count(10_000)  # 100 contracts
    size: Count = Count(100)  # 1 contract per level
    levels: int = 1
    level_spacing_ticks: int = 1


def make_quoter(params: QuoteParams) -> Quoter:
    if params.model == "linear":
        return LinearQuoter(
            params.spread, params.skew, params.size, params.levels, params.level_spacing_ticks, params.max_position
        )
    if params.model == "logit":
        if params.max_position is None:
            raise ValueError("the logit quoter needs max_position")
        return LogitQuoter(
            params.gamma,
            params.k,
            params.sigma,
            params.tau_cap_s,
            params.max_position,
            params.size,
            params.levels,
            params.level_spacing_ticks,
        )
    raise ValueError(f"unknown quote model {params.model!r}")
