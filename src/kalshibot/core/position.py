"""One market's position, resting orders and losses per outcome: the per-market records of
:mod:`kalshibot.core.portfolio`.

Theory of operation
-------------------
A :class:`MarketPosition` holds the signed net position (+ YES / - NO, API.md §3.8), the cost basis of the side
held, realized PnL, fees, mark and settlement value, and our resting orders in that market. ``losses_x`` gives the
loss if the market resolves NO and if it resolves YES with the worst subset of resting orders filling (see the
portfolio module's docstring for why that is the brute-force worst case), optionally *as if* a hypothetical order
rested (:class:`Hypothetical`, built cheaply by :func:`hypothetical`). Amounts are "x units": micro-dollars x
centi-contracts, exact products of price and count. Change these records only through the
:class:`~kalshibot.core.portfolio.Portfolio`, which keeps the money-at-stake caches valid.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from kalshibot.core.event_builders import draft_class
from kalshibot.core.events import BookSide
from kalshibot.core.fixed import COUNT_ONE, ONE_DOLLAR, Count, Money, Price

_X = COUNT_ONE  # x units per micro-dollar
_ZERO_MONEY = Money(0)
_ZERO_COUNT = Count(0)


def _ceil_money(x: int) -> Money:
    return Money(-((-x) // _X))


def _floor_money(x: int) -> Money:
    return Money(x // _X)


@dataclass(slots=True)
class RestingOrder:
    """One of our resting orders as the engine knows it: V2 book side, YES-leg price, remaining count."""

    order_id: str
    ticker: str
    side: BookSide
    price: Price
    remaining: Count


@dataclass(frozen=True, slots=True)
class Hypothetical:
    """An order we are thinking about: a new one (``replaces`` None) or an amend of ``replaces`` to this
    side/price/remaining count. Used to judge exposure *as if* it were resting."""

    ticker: str
    side: BookSide
    price: Price
    count: Count
    replaces: str | None = None


_HYP_FIELDS = ("ticker", "side", "price", "count", "replaces")


def hypothetical(ticker: str, side: BookSide, price: Price, count: Count, replaces: str | None) -> Hypothetical:
    """``Hypothetical(...)``: plain slot stores into a twin with the same slots, whose class then becomes
    ``Hypothetical`` (:func:`~kalshibot.core.event_builders.draft_class`): the same frozen value at a fraction of
    the frozen dataclass ``__init__``'s cost (one per risk check, the hot path of issue 9; a test pins the field
    list)."""
    h: Any = object.__new__(_HypotheticalDraft)
    h.ticker = ticker
    h.side = side
    h.price = price
    h.count = count
    h.replaces = replaces
    h.__class__ = Hypothetical
    return h  # type: ignore[no-any-return]


_HypotheticalDraft = draft_class(Hypothetical)


@dataclass(slots=True)
class MarketPosition:
    ticker: str
    event_ticker: str
    mutually_exclusive: bool = False
    position: int = 0  # centi-contracts, + YES / - NO
    cost_x: int = 0  # cost basis of the side held (x units)
    realized_x: int = 0
    fees: int = 0  # micro-dollars paid (net fees of our fills)
    mark: Price | None = None  # last mark (mid) for PnL
    settlement_value: Price | None = None  # YES value once determined
    settled: bool = False
    orders: dict[str, RestingOrder] = field(default_factory=dict)

    # --- trades -----------------------------------------------------------------------------------------
    def buy(self, yes_side: bool, price_of_side: int, count: int) -> None:
        """Buy ``count`` of YES (or NO) at ``price_of_side`` (the price of the side bought), netting first."""
        held_opposite = self.position < 0 if yes_side else self.position > 0
        if held_opposite:
            held = abs(self.position)
            k = min(count, held)
            removed = self.cost_x * k // held  # average cost of the contracts closed (floor; residue below)
            # each closed pair pays $1: realized = k x (1 - p) - cost of the closed opposite contracts
            self.realized_x += k * (ONE_DOLLAR - price_of_side) - removed
            self.cost_x -= removed
            self.position += k if yes_side else -k
            count -= k
            if self.position == 0:
                self.realized_x -= self.cost_x  # rounding residue of the average-cost split
                self.cost_x = 0
        if count:
            self.position += count if yes_side else -count
            self.cost_x += count * price_of_side

    def settle(self, value: int) -> int:
        """Pay out at YES value ``value``; returns the payout in x units."""
        payout = self.position * value if self.position > 0 else -self.position * (ONE_DOLLAR - value)
        self.realized_x += payout - self.cost_x
        self.position = 0
        self.cost_x = 0
        self.orders.clear()
        self.settlement_value = Price(value)
        self.settled = True
        return payout

    # --- valuation --------------------------------------------------------------------------------------
    def value_x(self, mark: int) -> int:
        """What the held contracts are worth at YES price ``mark`` (x units)."""
        return self.position * mark if self.position >= 0 else -self.position * (ONE_DOLLAR - mark)

    def unrealized_x(self) -> int:
        mark = self.settlement_value if self.settlement_value is not None else self.mark
        if mark is None or self.position == 0:
            return 0  # never marked: valued at cost (no unrealized PnL)
        return self.value_x(mark) - self.cost_x

    def losses_x(self, change: Hypothetical | None = None) -> tuple[int, int]:
        """(loss if NO, loss if YES) in x units: net position plus, per outcome, every resting order that hurts
        in that outcome filling (see module docstring)."""
        if self.position >= 0:
            loss_no, loss_yes = self.cost_x, self.cost_x - self.position * ONE_DOLLAR
        else:
            loss_no, loss_yes = self.cost_x + self.position * ONE_DOLLAR, self.cost_x
        # _orders_with inlined (the risk check's hot path)
        skip = change.replaces if change is not None else None
        for oid, o in self.orders.items():
            if skip is not None and oid == skip:
                continue
            if o.side == "bid":
                loss_no += o.price * o.remaining
            else:
                loss_yes += (ONE_DOLLAR - o.price) * o.remaining
        if change is not None and change.ticker == self.ticker:
            if change.side == "bid":
                loss_no += change.price * change.count
            else:
                loss_yes += (ONE_DOLLAR - change.price) * change.count
        return loss_no, loss_yes

    def fixed_loss_x(self, change: Hypothetical | None = None) -> int | None:
        """The known loss once the result is determined (None before): linear in the YES value."""
        if self.settlement_value is None:
            return None
        return _fixed_loss(self.losses_x(change), self.settlement_value)

    def stake_x(self, change: Hypothetical | None = None) -> int:
        fixed = self.fixed_loss_x(change)
        if fixed is not None:
            return max(0, fixed)
        return max(0, *self.losses_x(change))

    def _orders_with(self, change: Hypothetical | None) -> Iterator[tuple[str, int, int]]:
        for oid, o in self.orders.items():
            if change is not None and change.replaces == oid:
                continue
            yield o.side, o.price, o.remaining
        if change is not None and change.ticker == self.ticker:
            yield change.side, change.price, change.count

    def resting(self, side: BookSide, exclude: str | None = None) -> int:
        return sum(o.remaining for oid, o in self.orders.items() if o.side == side and oid != exclude)


def _fixed_loss(losses: tuple[int, int], settlement_value: int) -> int:
    loss_no, loss_yes = losses
    num = loss_no * ONE_DOLLAR + (loss_yes - loss_no) * settlement_value
    return -((-num) // ONE_DOLLAR)
