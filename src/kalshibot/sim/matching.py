"""The order book and the price-time matching loop of one market.

Theory of operation
-------------------
Kalshi's V2 model is a single book on the YES leg (API.md §3.5, §11.3): ``bid@p`` buys YES at p, ``ask@p`` sells
YES at p, which is the same as buying NO at 1 - p. So the book keeps two ladders in YES-leg prices, bids and asks,
each a dict ``price -> deque[Order]`` (time priority inside a level) plus a sorted list of the occupied prices
(``bisect`` on insert/remove, best price at one end) and a running total per level so sizes and snapshots never
walk orders. The wire view (REST ``orderbook_fp`` / WS deltas) shows two *bid* books: YES bids, and NO bids in
NO-leg prices (an ask at p is a NO bid at 1 - p); :meth:`Book.snapshot` produces that view.

:func:`match` runs an incoming order against the opposite ladder at the makers' prices (price improvement goes to
the taker), applying self-trade prevention per API.md §10.1: ``taker_at_cross`` stops and cancels the taker at the
first own resting order (fills already matched stand); ``maker`` cancels the own resting order and continues.
The loop updates only the book and the orders' counts; the caller (the exchange facade) does the money, the
events and the order-state bookkeeping through the ``on_fill`` / ``on_stp_cancel`` callbacks, so this module
stays small and fast (a simple create is a few dict/deque operations).
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from kalshibot.core.fees import FeeAccumulator
from kalshibot.core.fixed import ONE_DOLLAR

BookSide = Literal["bid", "ask"]


@dataclass(slots=True, eq=False)
class Order:
    """One order as the exchange keeps it (mutable; identity equality). Prices are YES-leg micros, counts centi."""

    order_id: str
    user_id: str
    ticker: str
    side: BookSide
    price: int
    initial_count: int
    remaining: int
    time_in_force: str
    stp: str
    client_order_id: str
    created_ts_ms: int
    seq: int  # arrival sequence: time priority (a priority-losing amend gets a new one)
    expiration_ts_s: int | None = None
    post_only: bool = False
    reduce_only: bool = False
    cancel_order_on_pause: bool = False
    order_group_id: str | None = None
    subaccount: int = 0
    filled: int = 0
    status: str = "resting"  # resting | canceled | executed
    last_update_ts_ms: int = 0
    last_update_reason: str = ""
    taker_fill_cost: int = 0  # micros paid for the outcome bought, taker fills
    maker_fill_cost: int = 0
    taker_fees: int = 0
    maker_fees: int = 0
    locked: int = 0  # collateral locked for the resting remainder (micros)
    internal: bool = False  # placed by a synthetic participant
    fee_acc: FeeAccumulator = field(default_factory=FeeAccumulator)

    @property
    def outcome(self) -> Literal["yes", "no"]:
        return "yes" if self.side == "bid" else "no"

    @property
    def outcome_price(self) -> int:
        """The price of the outcome bought (YES price for a bid, NO price 1 - p for an ask)."""
        return self.price if self.side == "bid" else ONE_DOLLAR - self.price


class Book:
    """Two YES-leg ladders with per-level FIFO queues and running level totals."""

    __slots__ = ("ask_prices", "ask_size", "asks", "bid_prices", "bid_size", "bids", "ticker")

    def __init__(self, ticker: str) -> None:
        self.ticker = ticker
        self.bids: dict[int, deque[Order]] = {}
        self.asks: dict[int, deque[Order]] = {}
        self.bid_prices: list[int] = []  # ascending; best bid last
        self.ask_prices: list[int] = []  # ascending; best ask first
        self.bid_size: dict[int, int] = {}
        self.ask_size: dict[int, int] = {}

    # --- structure ----------------------------------------------------------------------------------------
    def _side(self, side: BookSide) -> tuple[dict[int, deque[Order]], list[int], dict[int, int]]:
        if side == "bid":
            return self.bids, self.bid_prices, self.bid_size
        return self.asks, self.ask_prices, self.ask_size

    def add(self, order: Order) -> None:
        """Append ``order`` at the back of its price level."""
        levels, prices, sizes = self._side(order.side)
        q = levels.get(order.price)
        if q is None:
            q = levels[order.price] = deque()
            insort(prices, order.price)
            sizes[order.price] = 0
        q.append(order)
        sizes[order.price] += order.remaining

    def remove(self, order: Order) -> None:
        """Take a resting order out of the book (cancel / priority-losing amend)."""
        levels, prices, sizes = self._side(order.side)
        q = levels[order.price]
        if q and q[0] is order:
            q.popleft()
        else:
            q.remove(order)
        sizes[order.price] -= order.remaining
        if not q:
            self._drop_level(levels, prices, sizes, order.price)

    def reduce(self, order: Order, by: int) -> None:
        """Shrink a resting order in place (keeps its queue position): decrease / size-down amend."""
        _, _, sizes = self._side(order.side)
        sizes[order.price] -= by
        order.remaining -= by

    @staticmethod
    def _drop_level(levels: dict[int, deque[Order]], prices: list[int], sizes: dict[int, int], price: int) -> None:
        del levels[price]
        del sizes[price]
        del prices[bisect_left(prices, price)]

    # --- queries ------------------------------------------------------------------------------------------
    def best_bid(self) -> int | None:
        return self.bid_prices[-1] if self.bid_prices else None

    def best_ask(self) -> int | None:
        return self.ask_prices[0] if self.ask_prices else None

    def crosses(self, side: BookSide, price: int) -> bool:
        """Would an order at ``price`` on ``side`` trade against the opposite ladder?"""
        if side == "bid":
            return bool(self.ask_prices) and self.ask_prices[0] <= price
        return bool(self.bid_prices) and self.bid_prices[-1] >= price

    def opposite_makers(self, side: BookSide, price: int) -> Iterator[Order]:
        """Resting orders an incoming ``side`` order at ``price`` would meet, in priority order (read-only)."""
        if side == "bid":
            for p in self.ask_prices:
                if p > price:
                    return
                yield from self.asks[p]
        else:
            for p in reversed(self.bid_prices):
                if p < price:
                    return
                yield from self.bids[p]

    def queue_ahead(self, order: Order) -> int:
        """Contracts ahead of ``order`` at its price level (price-time priority)."""
        levels, _, _ = self._side(order.side)
        ahead = 0
        for o in levels.get(order.price, ()):
            if o is order:
                return ahead
            ahead += o.remaining
        return ahead

    def orders(self) -> Iterator[Order]:
        for q in self.bids.values():
            yield from q
        for q in self.asks.values():
            yield from q

    def snapshot(self, depth: int = 0) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """The wire view: (YES bids, NO bids in NO-leg prices), each ascending by price with the best last
        (API.md §3.4); ``depth`` > 0 keeps only the best ``depth`` levels of each side."""
        yes = [(p, self.bid_size[p]) for p in self.bid_prices]
        no = [(ONE_DOLLAR - p, self.ask_size[p]) for p in reversed(self.ask_prices)]
        if depth > 0:
            yes, no = yes[-depth:], no[-depth:]
        return yes, no


OnFill = Callable[[Order, int, int], None]  # (maker, count, yes_price)
OnStpCancel = Callable[[Order], None]  # maker cancelled by STP "maker"


def fillable(book: Book, side: BookSide, price: int, want: int, user_id: str, stp: str) -> int:
    """How much an incoming order could fill right now (for fill-or-kill), honouring STP the way :func:`match`
    will: ``taker_at_cross`` stops at the first own order, ``maker`` skips own orders."""
    got = 0
    for maker in book.opposite_makers(side, price):
        if maker.user_id == user_id:
            if stp == "taker_at_cross":
                break
            continue
        got += maker.remaining
        if got >= want:
            return want
    return got


def match(book: Book, taker: Order, on_fill: OnFill, on_stp_cancel: OnStpCancel) -> bool:
    """Match ``taker`` against the book until it is filled, the prices stop crossing, or STP stops it.

    Updates ``taker.remaining/filled`` and the makers' counts and removes exhausted makers from the book; calls
    ``on_fill(maker, count, price)`` after each match (the maker already updated) and ``on_stp_cancel(maker)``
    after a ``maker``-mode STP removal. Returns True when ``taker_at_cross`` STP stopped the taker.
    """
    if taker.side == "bid":
        levels, prices, sizes = book.asks, book.ask_prices, book.ask_size
    else:
        levels, prices, sizes = book.bids, book.bid_prices, book.bid_size
    is_bid = taker.side == "bid"
    while taker.remaining > 0 and prices:
        best = prices[0] if is_bid else prices[-1]
        if (is_bid and best > taker.price) or (not is_bid and best < taker.price):
            break
        q = levels[best]
        maker = q[0]
        if maker.user_id == taker.user_id:
            if taker.stp == "taker_at_cross":
                return True
            q.popleft()
            sizes[best] -= maker.remaining
            if not q:
                Book._drop_level(levels, prices, sizes, best)
            on_stp_cancel(maker)
            continue
        n = taker.remaining if taker.remaining < maker.remaining else maker.remaining
        maker.remaining -= n
        maker.filled += n
        taker.remaining -= n
        taker.filled += n
        sizes[best] -= n
        if maker.remaining == 0:
            q.popleft()
            if not q:
                Book._drop_level(levels, prices, sizes, best)
        on_fill(maker, n, best)
    return False
