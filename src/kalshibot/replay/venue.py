"""A virtual venue: our orders live here, never on the exchange; a fill model decides when they fill.

Theory of operation
-------------------
The paper executor (live market data, no orders sent) and the replayer (recorded market data) both need the same
thing: accept place/amend/decrease/cancel requests like the exchange's V2 endpoints would (API.md §3.5), keep the
resulting resting orders, and turn the public market stream into fills of those orders through a
:class:`~kalshibot.replay.fillmodels.FillModel`. This class is that venue. It is pure and deterministic: order ids
are a prefix plus a counter, time comes in as ``now_ms``.

Exchange rules it keeps (API.md §3.5, §8): a post-only order that would cross the displayed book is refused
(``post_only_cross``); a crossing order that is not post-only takes the displayed liquidity as taker at the
levels' prices (immediate-or-cancel and fill-or-kill never rest); amend ``count`` is the new *total* (filled +
resting), and a new price or a larger size loses queue priority; fees are the trade fee of the market's fee schedule
through one :class:`~kalshibot.core.fees.FeeAccumulator` per order (the net fee is what a fill reports).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from kalshibot.core.events import (
    BookDelta,
    BookSide,
    BookSnapshot,
    MarketSpec,
    Outcome,
    TimeInForce,
    TradePrint,
)
from kalshibot.core.fees import FeeAccumulator, trade_fee
from kalshibot.core.fixed import COUNT_ONE, ONE_DOLLAR, Count, Money, Price
from kalshibot.replay.fillmodels import FillModel, MarketFillState, ModelFill, RestingOrder, crosses

DEFAULT_FEE_TYPE = "quadratic_with_maker_fees"


@dataclass(frozen=True, slots=True)
class VenueFill:
    order_id: str
    client_order_id: str
    ticker: str
    book_side: BookSide
    outcome: Outcome  # the outcome bought: bid buys YES, ask buys NO
    yes_price: Price
    count: Count
    fee: Money
    is_taker: bool
    trade_id: str
    ts_ms: int
    position_after: Count  # signed, + YES
    intent_id: str = ""

    @property
    def outcome_price(self) -> Price:
        """The price of the outcome bought (the journal's ``price``)."""
        return self.yes_price if self.outcome == "yes" else Price(ONE_DOLLAR - self.yes_price)


@dataclass(frozen=True, slots=True)
class PlaceResult:
    accepted: bool
    order_id: str | None
    code: str = ""
    message: str = ""
    fills: tuple[VenueFill, ...] = ()
    remaining: Count = Count(0)  # resting after placement (0 when it filled at once or did not rest)


@dataclass(frozen=True, slots=True)
class AmendResult:
    order_id: str
    client_order_id: str
    price: Price
    remaining: Count
    filled: Count


class VirtualVenue:
    """Orders, books and positions of one virtual account over any number of markets."""

    def __init__(self, model: FillModel, *, id_prefix: str = "paper") -> None:
        self.model = model
        self.id_prefix = id_prefix
        self.markets: dict[str, MarketFillState] = {}
        self.specs: dict[str, MarketSpec] = {}
        self.positions: dict[str, int] = {}
        self._orders: dict[str, RestingOrder] = {}  # every live order, by order_id
        self._by_coid: dict[str, str] = {}
        self._fees: dict[str, FeeAccumulator] = {}
        self._next_id = 0
        self._priority = 0
        self._trade_seq = 0

    # ----------------------------------------------------------------------------------------- markets
    def set_market(self, spec: MarketSpec) -> None:
        self.specs[spec.ticker] = spec

    def state(self, ticker: str) -> MarketFillState:
        st = self.markets.get(ticker)
        if st is None:
            st = self.markets[ticker] = MarketFillState()
        return st

    def order(self, order_id: str) -> RestingOrder | None:
        return self._orders.get(order_id)

    def order_id_for(self, client_order_id: str) -> str | None:
        return self._by_coid.get(client_order_id)

    def live_orders(self) -> Iterable[RestingOrder]:
        """Every live order, in no particular order (a view: do not change orders while iterating)."""
        return self._orders.values()

    def resting(self, ticker: str | None = None) -> list[RestingOrder]:
        return sorted(
            (o for o in self._orders.values() if ticker is None or o.ticker == ticker),
            key=lambda o: o.priority,
        )

    # --------------------------------------------------------------------------------------- requests
    def place(
        self,
        ticker: str,
        side: BookSide,
        price: Price,
        count: Count,
        *,
        client_order_id: str,
        now_ms: int,
        post_only: bool = True,
        time_in_force: TimeInForce = "good_till_canceled",
        intent_id: str = "",
    ) -> PlaceResult:
        if count <= 0 or not 0 < price < ONE_DOLLAR:
            return PlaceResult(False, None, "invalid_order", f"bad price {price} or count {count}")
        if client_order_id in self._by_coid:
            return PlaceResult(False, self._by_coid[client_order_id], "duplicate_client_order_id", "already exists")
        st = self.state(ticker)
        other: BookSide = "ask" if side == "bid" else "bid"
        levels = st.book.side(other)
        crossing = sorted((p for p in levels if crosses(side, price, p)), reverse=(other == "bid"))
        if crossing and post_only:
            return PlaceResult(False, None, "post_only_cross", "post-only order would cross the book")
        self._next_id += 1
        order_id = f"{self.id_prefix}-{self._next_id}"
        self._priority += 1
        order = RestingOrder(
            order_id=order_id,
            client_order_id=client_order_id,
            ticker=ticker,
            side=side,
            price=price,
            remaining=count,
            priority=self._priority,
            placed_ts_ms=now_ms,
            intent_id=intent_id,
        )
        # take what is displayed on the other side (as taker, at the resting levels' prices)
        takeable = [(p, levels[p] - st.consumed.get((other, p), 0)) for p in crossing]
        total = sum(max(0, n) for _, n in takeable)
        fills: list[VenueFill] = []
        if time_in_force == "fill_or_kill" and total < count:
            return PlaceResult(True, order_id, "", "fill_or_kill not filled", (), Count(0))
        self._fees[order_id] = FeeAccumulator()
        self._orders[order_id] = order
        self._by_coid[client_order_id] = order_id
        for p, avail in takeable:
            n = min(avail, order.remaining)
            if n <= 0:
                continue
            st.consumed[(other, p)] = st.consumed.get((other, p), 0) + n
            fills.append(self._apply(ModelFill(order_id, Count(n), Price(p), True, ""), now_ms))
            if order.remaining <= 0:
                break
        if order.order_id in self._orders:
            if time_in_force != "good_till_canceled":
                self._drop(order)
                return PlaceResult(True, order_id, "", "", tuple(fills), Count(0))
            st.orders[order_id] = order
            self.model.on_place(st, order)
        return PlaceResult(True, order_id, "", "", tuple(fills), Count(order.remaining if order_id in st.orders else 0))

    def cancel(self, order_id: str) -> Count | None:
        """Cancel; returns ``reduced_by`` (the remaining count, 0 if it had filled) or None for an unknown order."""
        o = self._orders.get(order_id)
        if o is None:
            return None
        reduced = o.remaining
        self._drop(o)
        return reduced

    def decrease(self, order_id: str, reduce_by: Count) -> Count | None:
        """Reduce the resting size (queue priority is kept, API.md §3.5); returns the new remaining count."""
        o = self._orders.get(order_id)
        if o is None:
            return None
        o.remaining = Count(max(0, o.remaining - reduce_by))
        if o.remaining == 0:
            self._drop(o)
        return o.remaining

    def amend(
        self, order_id: str, *, price: Price, total_count: Count, new_client_order_id: str, now_ms: int
    ) -> AmendResult | None:
        """V2 amend: ``total_count`` = already filled + desired resting remainder (API.md §3.5)."""
        o = self._orders.get(order_id)
        if o is None:
            return None
        new_remaining = Count(max(0, total_count - o.filled))
        keeps = price == o.price and new_remaining <= o.remaining
        st = self.state(o.ticker)
        if new_client_order_id and new_client_order_id != o.client_order_id:
            self._by_coid.pop(o.client_order_id, None)
            o.client_order_id = new_client_order_id
            self._by_coid[new_client_order_id] = order_id
        o.price = price
        o.remaining = new_remaining
        if not keeps:
            self._priority += 1
            o.priority = self._priority
        if o.remaining == 0:
            self._drop(o)
        else:
            self.model.on_reprice(st, o, keeps_priority=keeps)
        return AmendResult(order_id, o.client_order_id, o.price, o.remaining, o.filled)

    # ------------------------------------------------------------------------------------- market data
    def on_market_event(self, ev: BookSnapshot | BookDelta | TradePrint, now_ms: int) -> list[VenueFill]:
        """Feed one public market event; returns the fills it caused (already applied to orders/positions).
        Deltas our own (real) orders caused carry our client_order_id and are not the public's liquidity."""
        st = self.state(ev.ticker)
        if isinstance(ev, BookSnapshot):
            mf = self.model.on_snapshot(st, ev, now_ms)
        elif isinstance(ev, BookDelta):
            if ev.client_order_id is not None:
                return []
            mf = self.model.on_delta(st, ev, now_ms)
        else:
            mf = self.model.on_trade(st, ev, now_ms)
        return self.apply_fills(mf, now_ms)

    def apply_fills(self, mf: list[ModelFill], now_ms: int) -> list[VenueFill]:
        """Apply the fills a model granted (those of orders still live) to orders and positions."""
        return [self._apply(f, now_ms) for f in mf if f.order_id in self._orders]

    def tick(self, now_ms: int) -> None:
        """Let time pass (unexplained book decreases become cancellations after the model's grace period)."""
        for st in self.markets.values():
            self.model.expire(st, now_ms)

    # ------------------------------------------------------------------------------------------ internals
    def _apply(self, mf: ModelFill, now_ms: int) -> VenueFill:
        o = self._orders[mf.order_id]
        n = min(mf.count, o.remaining)
        o.remaining = Count(o.remaining - n)
        o.filled = Count(o.filled + n)
        outcome: Outcome = "yes" if o.side == "bid" else "no"
        pos = self.positions.get(o.ticker, 0) + (n if o.side == "bid" else -n)
        self.positions[o.ticker] = pos
        paid = mf.yes_price if outcome == "yes" else ONE_DOLLAR - mf.yes_price
        spec = self.specs.get(o.ticker)
        fee_type = spec.fee_type if spec else DEFAULT_FEE_TYPE
        mult = spec.fee_multiplier_ppm if spec else 1_000_000
        fee = trade_fee(fee_type, mult, Price(paid), Count(n), is_taker=mf.is_taker)
        cost = -((paid * n) // COUNT_ONE)
        net = self._fees[o.order_id].apply_fill(Money(cost), fee).net_fee
        self._trade_seq += 1
        trade_id = mf.trade_id or f"{self.id_prefix}-t{self._trade_seq}"
        fill = VenueFill(
            order_id=o.order_id,
            client_order_id=o.client_order_id,
            ticker=o.ticker,
            book_side=o.side,
            outcome=outcome,
            yes_price=mf.yes_price,
            count=Count(n),
            fee=net,
            is_taker=mf.is_taker,
            trade_id=f"{trade_id}:{o.order_id}" if mf.trade_id else trade_id,
            ts_ms=now_ms,
            position_after=Count(pos),
            intent_id=o.intent_id,
        )
        if o.remaining == 0:
            self._drop(o)
        return fill

    def _drop(self, o: RestingOrder) -> None:
        self._orders.pop(o.order_id, None)
        self._by_coid.pop(o.client_order_id, None)
        self._fees.pop(o.order_id, None)
        st = self.markets.get(o.ticker)
        if st is not None:
            st.orders.pop(o.order_id, None)
