"""Fill models: when would a resting order of ours have filled, given only public market data?

Theory of operation
-------------------
Paper trading and replay share one question: our order was never in the real book (paper) or we want to know how
it would have fared under other assumptions (replay), so fills are *inferred* from the public stream of book changes
and trade prints. Each market keeps a :class:`LevelBook` of the displayed book **without our own orders** (deltas our
own orders caused carry our ``client_order_id`` and are skipped, API.md §5.3), in YES-leg prices: YES bids are
``bids``, NO bids at q become YES asks at 1 - q (API.md §3.5).

Three models (``recorded``, the fourth, never infers anything: it replays the journaled fills):

``queue`` (default; paper mode)
    Price-time priority. On placement the order joins the back of its level: ``queue_ahead`` is the size displayed
    there. A trade print at our level by an aggressor on the other side first eats ``queue_ahead``, and only what is
    left fills us; a print *through* our price (a taker paid more than our ask / sold below our bid) would have met
    us first and fills us up to its size. A size decrease at our level that no trade explains is a cancellation:
    we then assume cancels came from behind us as far as possible, so ``queue_ahead`` only drops to the size still
    displayed (``min(queue_ahead, level)``). Trade prints and the deltas they cause arrive on different channels in
    either order, so a decrease waits ``grace_ms`` for a print to explain it before it counts as a cancel
    (otherwise the same trade would advance us twice). Finally, an order that appears on the other side at or
    through our price would have traded with our resting order: we fill against it (once per unit of displayed
    size, tracked in ``consumed``).
``touch`` (optimistic bound)
    The whole remainder fills as soon as the price is touched: a print at or through our price, or the other side's
    best quote reaching it.
``conservative`` (pessimistic)
    Fills only when a trade prints strictly through our price, up to the printed size; book changes never fill.

All models fill at our limit price as maker. Sizes are shared: one print's volume is handed to our orders in price
priority (best price first, then placement order) and never used twice. Everything is integers (micro-dollars,
centi-contracts); the module is pure (no clock, no I/O): time comes in as ``now_ms``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from kalshibot.core.events import BookDelta, BookSide, BookSnapshot, TradePrint
from kalshibot.core.fixed import ONE_DOLLAR, Count, Price

FillModelName = Literal["queue", "touch", "conservative"]
FILL_MODELS: tuple[str, ...] = ("queue", "touch", "conservative", "recorded")
DEFAULT_GRACE_MS = 500


@dataclass(slots=True)
class RestingOrder:
    """One of our (virtual) resting orders. ``side`` is the V2 book side; ``price`` the YES-leg price."""

    order_id: str
    client_order_id: str
    ticker: str
    side: BookSide
    price: Price
    remaining: Count
    filled: Count = Count(0)
    queue_ahead: Count = Count(0)
    priority: int = 0  # placement order, for time priority among our own orders
    placed_ts_ms: int = 0
    intent_id: str = ""

    @property
    def initial(self) -> Count:
        return Count(self.remaining + self.filled)


@dataclass(frozen=True, slots=True)
class ModelFill:
    """A fill the model grants: ``count`` of ``order_id`` at ``yes_price``. ``trade_id`` names the print that
    caused it ("" for book-caused fills)."""

    order_id: str
    count: Count
    yes_price: Price
    is_taker: bool
    trade_id: str = ""


# ------------------------------------------------------------------------------------------------ the book
@dataclass(slots=True)
class LevelBook:
    """Displayed sizes per YES-leg price, both sides, excluding our own orders."""

    bids: dict[int, int] = field(default_factory=dict)
    asks: dict[int, int] = field(default_factory=dict)
    seq: int | None = None
    valid: bool = False

    def side(self, side: BookSide) -> dict[int, int]:
        return self.bids if side == "bid" else self.asks

    def best_bid(self) -> Price | None:
        return Price(max(self.bids)) if self.bids else None

    def best_ask(self) -> Price | None:
        return Price(min(self.asks)) if self.asks else None

    def mid(self) -> Price | None:
        """Mid of the best bid and ask (rounded down to a micro-dollar); None unless both sides are present."""
        b, a = self.best_bid(), self.best_ask()
        if b is None or a is None:
            return None
        return Price((b + a) // 2)

    def size_at(self, side: BookSide, price: int) -> Count:
        return Count(self.side(side).get(price, 0))

    def apply_snapshot(self, ev: BookSnapshot) -> None:
        self.bids = {int(p): int(c) for p, c in ev.yes if c > 0}
        if ev.no_in_yes_prices:
            self.asks = {int(p): int(c) for p, c in ev.no if c > 0}
        else:
            self.asks = {ONE_DOLLAR - int(p): int(c) for p, c in ev.no if c > 0}
        self.seq = ev.seq
        self.valid = True

    def apply_delta(self, ev: BookDelta) -> tuple[BookSide, int, int, int]:
        """Apply one delta; returns (side, yes_price, old size, new size). Sizes never go below zero (a delta that
        would is clamped: the feed's own gap handling resyncs the real book)."""
        side, price = delta_level(ev)
        old, new = self.apply_level(side, price, int(ev.delta), ev.seq)
        return side, price, old, new

    def apply_level(self, side: BookSide, price: int, delta: int, seq: int) -> tuple[int, int]:
        """:meth:`apply_delta` with the delta already in YES-leg terms; returns (old size, new size)."""
        levels = self.bids if side == "bid" else self.asks
        old = levels.get(price, 0)
        new = old + delta
        if new > 0:
            levels[price] = new
        else:
            new = 0
            levels.pop(price, None)
        self.seq = seq
        return old, new


def delta_level(ev: BookDelta) -> tuple[BookSide, int]:
    """A delta's book side and YES-leg price (a NO bid at q is a YES ask at 1 - q)."""
    if ev.side == "yes":
        return "bid", int(ev.price)
    return "ask", int(ev.price) if ev.no_in_yes_prices else ONE_DOLLAR - int(ev.price)


def crosses(side: BookSide, order_price: int, other_price: int) -> bool:
    """Does a level at ``other_price`` on the opposite side trade with our order on ``side`` at ``order_price``?"""
    return other_price <= order_price if side == "bid" else other_price >= order_price


def priority_key(o: RestingOrder) -> tuple[int, int]:
    """Best price first (highest bid / lowest ask), then placement order."""
    return (-o.price if o.side == "bid" else o.price, o.priority)


# ----------------------------------------------------------------------------------------- per-market state
@dataclass(slots=True)
class MarketFillState:
    """What a model tracks for one market: the displayed book, our resting orders, trade volume not yet seen as
    a book decrease (``credit``), decreases not yet explained by a print (``pending``: (ts_ms, side, price, size)),
    and displayed size already used by book-caused fills (``consumed``)."""

    book: LevelBook = field(default_factory=LevelBook)
    orders: dict[str, RestingOrder] = field(default_factory=dict)
    credit: dict[tuple[BookSide, int], int] = field(default_factory=dict)
    pending: list[tuple[int, BookSide, int, int]] = field(default_factory=list)
    consumed: dict[tuple[BookSide, int], int] = field(default_factory=dict)
    # a lower bound of the timestamps in ``pending`` while it is not empty (entries are only appended by
    # FillModel.on_level, which lowers it, and otherwise only removed or shrunk), so expire() can tell without a
    # scan that nothing is old enough to expire
    pending_floor: int = 0
    # whether the timestamps in ``pending`` are in clock order (the usual case: then expiring is dropping a prefix)
    pending_sorted: bool = True

    def pending_at(self, side: BookSide, price: int) -> int:
        total = 0  # a plain loop: cheaper than sum() over a generator on these short lists
        for _, s, p, n in self.pending:
            if p == price and s == side:
                total += n
        return total

    def sorted_orders(self, side: BookSide | None = None) -> list[RestingOrder]:
        os_ = [o for o in self.orders.values() if side is None or o.side == side]
        return sorted(os_, key=priority_key)


def _opposite(side: BookSide) -> BookSide:
    return "ask" if side == "bid" else "bid"


class FillModel:
    """Base class: the bookkeeping every model shares; subclasses decide what fills."""

    name: ClassVar[str] = "base"

    def __init__(self, grace_ms: int = DEFAULT_GRACE_MS) -> None:
        self.grace_ms = grace_ms

    # --- hooks --------------------------------------------------------------------------------------------
    def on_place(self, st: MarketFillState, order: RestingOrder) -> None:
        """Set the new order's queue position (it joins the back of its level)."""
        order.queue_ahead = st.book.size_at(order.side, order.price)

    def on_reprice(self, st: MarketFillState, order: RestingOrder, *, keeps_priority: bool) -> None:
        """An amend: a new price or a larger size loses queue priority (API.md §3.5 amend)."""
        if not keeps_priority:
            self.on_place(st, order)

    def on_snapshot(self, st: MarketFillState, ev: BookSnapshot, now_ms: int) -> list[ModelFill]:
        st.book.apply_snapshot(ev)
        st.credit.clear()
        st.pending.clear()
        st.consumed.clear()
        for o in st.orders.values():
            o.queue_ahead = Count(min(o.queue_ahead, st.book.size_at(o.side, o.price)))
        return self._book_fills(st)

    def on_delta(self, st: MarketFillState, ev: BookDelta, now_ms: int) -> list[ModelFill]:
        side, price = delta_level(ev)
        return self.on_level(st, side, price, int(ev.delta), ev.seq, now_ms)

    def on_level(
        self, st: MarketFillState, side: BookSide, price: int, delta: int, seq: int, now_ms: int
    ) -> list[ModelFill]:
        """:meth:`on_delta` with the delta already in YES-leg terms (the replayer's per-record fast path)."""
        old, new = st.book.apply_level(side, price, delta, seq)  # (the replayer's fast loop inlines this step)
        consumed = st.consumed
        if consumed:
            key = (side, price)
            used = consumed.get(key)
            if used is not None and used > new:
                consumed[key] = new
        if new < old:
            dec = old - new
            key = (side, price)
            credit = st.credit.get(key, 0)
            absorbed = min(dec, credit)
            if absorbed:
                st.credit[key] = credit - absorbed
                dec -= absorbed
            if dec:
                pending = st.pending
                if not pending:
                    st.pending_floor = now_ms
                    st.pending_sorted = True
                elif now_ms < pending[-1][0]:  # the clock went back (records merged from several files)
                    st.pending_sorted = False
                    if now_ms < st.pending_floor:
                        st.pending_floor = now_ms
                pending.append((now_ms, side, price, dec))
        if not st.orders:
            # expire() without orders only drops expired decreases; every model's book fills are our orders'
            if st.pending and st.pending_floor + self.grace_ms < now_ms:
                self.expire(st, now_ms)
            return []
        self.expire(st, now_ms)
        return self._book_fills(st)

    def on_trade(self, st: MarketFillState, ev: TradePrint, now_ms: int) -> list[ModelFill]:
        raise NotImplementedError

    def expire(self, st: MarketFillState, now_ms: int) -> None:
        """Unexplained decreases older than the grace period are cancellations: queues ahead shrink to the size
        still displayed (plus any decrease still waiting for its print)."""
        pending = st.pending
        if pending and st.pending_floor + self.grace_ms < now_ms:
            if st.pending_sorted:  # drop the expired prefix (on_trade keeps the order, only appends can break it)
                cut = now_ms - self.grace_ms
                i = 0
                for p in pending:
                    if p[0] >= cut:
                        break
                    i += 1
                del pending[:i]
                if pending:
                    st.pending_floor = pending[0][0]
            else:
                pending = st.pending = [p for p in pending if p[0] + self.grace_ms >= now_ms]
                if pending:
                    st.pending_floor = min(p[0] for p in pending)
        if not st.orders:
            return
        book = st.book
        for o in st.orders.values():
            size = (book.bids if o.side == "bid" else book.asks).get(o.price, 0)
            # pending sizes are positive: the queue can only exceed the cap if it exceeds the displayed size
            if o.queue_ahead > size:
                cap = size + st.pending_at(o.side, o.price) if pending else size
                if o.queue_ahead > cap:
                    o.queue_ahead = Count(cap)

    def _book_fills(self, st: MarketFillState) -> list[ModelFill]:
        return []

    # --- shared helpers -----------------------------------------------------------------------------------
    @staticmethod
    def _take(order: RestingOrder, count: int, trade_id: str = "") -> ModelFill | None:
        n = min(order.remaining, count)
        if n <= 0:
            return None
        return ModelFill(order.order_id, Count(n), order.price, False, trade_id)


def _hit_side(ev: TradePrint) -> BookSide:
    """The book side a print's aggressor traded against: a YES buyer lifts asks, a NO buyer hits YES bids."""
    return "ask" if ev.taker_outcome == "yes" else "bid"


class QueueModel(FillModel):
    name: ClassVar[str] = "queue"

    def on_trade(self, st: MarketFillState, ev: TradePrint, now_ms: int) -> list[ModelFill]:
        side = _hit_side(ev)
        price = int(ev.yes_price)
        key = (side, price)
        # the print explains earlier unexplained decreases at its level first, the rest waits for its delta
        left = int(ev.count)
        kept: list[tuple[int, BookSide, int, int]] = []
        for ts, s, p, n in st.pending:
            if left and s == side and p == price:
                used = min(n, left)
                left -= used
                if n - used:
                    kept.append((ts, s, p, n - used))
            else:
                kept.append((ts, s, p, n))
        st.pending = kept
        if left:
            st.credit[key] = st.credit.get(key, 0) + left
        budget = int(ev.count)
        fills: list[ModelFill] = []
        for o in st.sorted_orders(side):
            if budget <= 0:
                break
            if o.price == price:
                ahead = o.queue_ahead
                o.queue_ahead = Count(max(0, ahead - budget))
                avail = budget - ahead
            elif crosses(_opposite(side), price, o.price):
                # traded through our price (a YES buyer paid more than our ask / a seller took less than our bid):
                # we would have been matched first
                o.queue_ahead = Count(0)
                avail = budget
            else:
                continue
            if avail > 0:
                f = self._take(o, avail, ev.trade_id)
                if f is not None:
                    fills.append(f)
                    budget -= f.count
        self.expire(st, now_ms)
        return fills

    def _book_fills(self, st: MarketFillState) -> list[ModelFill]:
        """A level on the other side at or through our resting price would have traded with us."""
        fills: list[ModelFill] = []
        if not st.orders:
            return fills
        # the usual case, nothing on the other side reaches any of our prices: no fill, no need to sort our
        # orders (an order that does not cross is skipped below, and fills never change the book's levels)
        bids, asks = st.book.bids, st.book.asks
        for o in st.orders.values():
            if o.side == "bid":
                if asks and min(asks) <= o.price:
                    break
            elif bids and max(bids) >= o.price:
                break
        else:
            return fills
        for o in st.sorted_orders():
            other = _opposite(o.side)
            levels = st.book.side(other)
            # nothing on the other side reaches this order's price: skip the sort below (it would stop at its
            # first, best, level anyway)
            if not levels or not crosses(o.side, o.price, max(levels) if other == "bid" else min(levels)):
                continue
            left = int(o.remaining)
            for p in sorted(levels, reverse=(other == "bid")):
                if left <= 0 or not crosses(o.side, o.price, p):
                    break
                key = (other, p)
                n = min(left, levels[p] - st.consumed.get(key, 0))
                if n <= 0:
                    continue
                st.consumed[key] = st.consumed.get(key, 0) + n
                left -= n
                fills.append(ModelFill(o.order_id, Count(n), o.price, False, ""))
        return fills


class TouchModel(FillModel):
    name: ClassVar[str] = "touch"

    def on_trade(self, st: MarketFillState, ev: TradePrint, now_ms: int) -> list[ModelFill]:
        fills: list[ModelFill] = []
        for o in st.sorted_orders():
            if crosses(o.side, o.price, int(ev.yes_price)):
                f = self._take(o, o.remaining, ev.trade_id)
                if f is not None:
                    fills.append(f)
        return fills

    def _book_fills(self, st: MarketFillState) -> list[ModelFill]:
        fills: list[ModelFill] = []
        bb, ba = st.book.best_bid(), st.book.best_ask()
        for o in st.sorted_orders():
            other = ba if o.side == "bid" else bb
            if other is not None and crosses(o.side, o.price, other):
                f = self._take(o, o.remaining)
                if f is not None:
                    fills.append(f)
        return fills


class ConservativeModel(FillModel):
    name: ClassVar[str] = "conservative"

    def on_trade(self, st: MarketFillState, ev: TradePrint, now_ms: int) -> list[ModelFill]:
        budget = int(ev.count)
        price = int(ev.yes_price)
        fills: list[ModelFill] = []
        for o in st.sorted_orders():
            if budget <= 0:
                break
            through = price < o.price if o.side == "bid" else price > o.price
            if through:
                f = self._take(o, budget, ev.trade_id)
                if f is not None:
                    fills.append(f)
                    budget -= f.count
        return fills


_MODELS: dict[str, type[FillModel]] = {m.name: m for m in (QueueModel, TouchModel, ConservativeModel)}


def make_fill_model(name: str, *, grace_ms: int = DEFAULT_GRACE_MS) -> FillModel:
    """``queue`` | ``touch`` | ``conservative`` (``recorded`` is not a model: the replayer reads journaled fills)."""
    try:
        return _MODELS[name](grace_ms=grace_ms)
    except KeyError:
        raise ValueError(f"unknown fill model {name!r}; expected one of {sorted(_MODELS)}") from None


def model_names() -> Iterable[str]:
    return tuple(_MODELS)
