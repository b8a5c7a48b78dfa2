"""The backtest's in-process venue: the engine's order actions become calls on the pure simulator
:class:`~kalshibot.sim.exchange.Exchange`, and the exchange's event stream becomes the engine's core events.

Theory of operation
-------------------
:class:`SimVenue` listens to ``exchange.listeners`` and buffers every :mod:`~kalshibot.sim.simevents` event.
:meth:`SimVenue.pump` converts the buffer, in the order things happened on the exchange, into core events:

=====================  =============================================================================================
exchange event         core event(s)
=====================  =============================================================================================
``created`` lifecycle  ``MarketAdded`` (spec from the exchange's market, series fees and the event's mutual
                       exclusivity) then an empty ``BookSnapshot``: a market is born with an empty book, so every
                       later change arrives as a delta (rolled-over events' markets are added the same way)
``BookChanged``        ``BookDelta`` (one subscription id, ``seq`` + 1 per message, NO levels in NO-leg prices as
                       on Kalshi's default subscription; ``client_order_id`` only when our order caused it, API.md
                       §5.3)
``TradeEvent``         ``TradePrint``
``FillEvent`` (ours)   ``FillEvent`` (``post_position`` from the exchange)
``OrderEvent`` (ours)  ``OrderUpdate`` (the ``user_order`` snapshot taken when it was emitted)
other lifecycle        ``MarketLifecycle`` (determined with result and settlement value, settled, (de)activated,
                       close date, price grid)
fee update             ``FeeChange``; our order group ``triggered`` -> ``OrderGroupTriggered``
=====================  =============================================================================================

The converted events go down a FIFO *pipe* and reach the engine ``latency_ms`` after the exchange emitted them
(:meth:`SimVenue.arrived`), still in exchange order, so the engine always decides on a slightly stale view, as a
real bot does. A latency of at least 1 ms is required: at zero latency a strategy that requotes on its own
orders' answers could loop forever inside one instant of the virtual clock.

:meth:`SimVenue.submit` carries out the engine's actions like the real executor
(:mod:`kalshibot.net.executor`): a create and the cancel of the same ``client_order_id`` in one submission cancel
out (the create is answered ``cancelled_before_send``); then cancels, then amends, decreases and lookups, then
creates. Each becomes one exchange call at ``now``, and its answer (``OrderAck``/``AmendAck``/``DecreaseAck``/
``CancelAck``, or ``OrderReject`` with the exchange's error code) goes down the pipe followed by whatever the call
made the exchange announce. Quotes are sent as the executor sends them (API.md §3.5): good-till-canceled quotes
carry ``post_only``, the good-till-time expiration, ``cancel_order_on_pause`` and the bot's order group; IOC orders
carry ``reduce_only`` and nothing else. Write tokens are counted per API.md §7.1 (10 per create/amend/decrease, 2
per cancel); the simulator's rate limiter is not applied in process.

The :class:`Observer` (the backtest's analytics) sees market data, our fills, our best resting quotes and
determinations at exchange time. Everything is synchronous and deterministic.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from kalshibot.core import events as ev
from kalshibot.core.coalesce import CANCELLED_BEFORE_SEND, CANCELLED_BEFORE_SEND_MESSAGE, coalesce
from kalshibot.core.fixed import Count, Money, Price, parse_count, parse_price
from kalshibot.replay.analytics import TOKEN_COST
from kalshibot.sim import simevents as se
from kalshibot.sim.exchange import AmendParams, CreateOrderParams, Exchange
from kalshibot.sim.markets import Market
from kalshibot.sim.simerrors import SimError

SID = 1  # one market-data subscription for every market


class Observer(Protocol):
    """What watches the market and our quotes besides the engine (the backtest's :class:`Analytics`)."""

    def on_market(self, ev: ev.BookSnapshot | ev.BookDelta | ev.TradePrint, ts_ms: int) -> None: ...
    def on_quotes(self, ticker: str, bid: Price | None, ask: Price | None, ts_ms: int) -> None: ...
    def on_settlement(self, ticker: str, yes_value: Price, ts_ms: int) -> None: ...
    def on_fill(
        self,
        ticker: str,
        book_side: ev.BookSide,
        yes_price: Price,
        count: Count,
        fee: Money,
        is_taker: bool,
        ts_ms: int,
    ) -> None: ...


class SimVenue:
    """The bot's account ``user_id`` on ``exchange``, seen through the engine's events (see module docstring)."""

    def __init__(
        self,
        exchange: Exchange,
        user_id: str,
        *,
        latency_ms: int = 50,
        observer: Observer | None = None,
        order_group_id: str | None = None,
        accept: Callable[[Market], bool] | None = None,
        on_fill: Callable[[], object] | None = None,
    ) -> None:
        if latency_ms < 1:
            raise ValueError("latency_ms must be >= 1 (a zero-latency loop can requote forever at one instant)")
        self.ex = exchange
        self.user_id = user_id
        self.latency_ms = latency_ms
        self.observer = observer
        self.order_group_id = order_group_id
        self.accept = accept
        self.on_fill = on_fill  # called synchronously at each of our fills (the limit checker)
        self.markets: dict[str, Market] = {}  # markets handed to the engine
        self.requests: dict[str, int] = {"create": 0, "amend": 0, "decrease": 0, "cancel": 0, "lookup": 0}
        self.rejects: dict[str, int] = {}
        self.fills = 0
        self.tokens = 0  # write tokens spent (API.md §7.1)
        self.peak_tokens_per_s = 0  # the most spent within one whole second of virtual time
        self._second = (-1, 0)
        self._buf: list[se.SimEvent] = []
        self._pipe: deque[tuple[int, ev.Event]] = deque()  # (due_ms, event), due non-decreasing
        self._seq = 0
        self._dirty: set[str] = set()
        exchange.listeners.append(self._listen)

    # ------------------------------------------------------------------------------------------ event stream
    def _listen(self, e: se.SimEvent) -> None:
        self._buf.append(e)
        if isinstance(e, se.FillEvent) and e.user_id == self.user_id:
            self.fills += 1
            if self.on_fill is not None:
                self.on_fill()

    def pump(self, now_ms: int) -> None:
        """Convert everything the exchange announced since the last pump, in exchange order, and send it down
        the pipe: the engine gets it ``latency_ms`` later."""
        buf, self._buf = self._buf, []
        out: list[ev.Event] = []
        for e in buf:
            self._convert(e, out)
        self._send(out, now_ms)
        self._report_quotes(now_ms)

    def _send(self, events: list[ev.Event], now_ms: int) -> None:
        due = now_ms + self.latency_ms
        self._pipe.extend((due, e) for e in events)

    def next_due_ms(self) -> int | None:
        return self._pipe[0][0] if self._pipe else None

    def arrived(self, now_ms: int) -> list[ev.Event]:
        """What reaches the engine by ``now_ms``, in the order it left the exchange."""
        p = self._pipe
        out: list[ev.Event] = []
        while p and p[0][0] <= now_ms:
            out.append(p.popleft()[1])
        return out

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _market_event(self, e: ev.BookSnapshot | ev.BookDelta | ev.TradePrint, out: list[ev.Event]) -> None:
        if self.observer is not None:
            self.observer.on_market(e, e.ts_ms)
        out.append(e)

    def _convert(self, e: se.SimEvent, out: list[ev.Event]) -> None:
        mine = getattr(e, "user_id", self.user_id) == self.user_id
        if isinstance(e, se.BookChanged):
            if e.ticker in self.markets:
                coid = e.client_order_id if e.user_id == self.user_id else None
                d = ev.BookDelta(e.ticker, SID, self._next_seq(), e.side, Price(e.price), Count(e.delta), False, coid)
                self._market_event(_with_ts(d, e.ts_ms), out)
        elif isinstance(e, se.TradeEvent):
            if e.ticker in self.markets:
                taker: ev.Outcome = "yes" if e.taker_side == "bid" else "no"
                tp = ev.TradePrint(e.ticker, e.trade_id, Price(e.yes_price), Count(e.count), taker, e.ts_ms)
                self._market_event(tp, out)
        elif isinstance(e, se.FillEvent):
            if mine:
                f = _fill(e.fill)
                if self.observer is not None:
                    self.observer.on_fill(f.ticker, f.book_side, f.yes_price, f.count, f.fee, f.is_taker, f.ts_ms)
                out.append(f)
        elif isinstance(e, se.OrderEvent):
            if mine:
                out.append(_order_update(e))
                self._dirty.add(e.ticker)
        elif isinstance(e, se.LifecycleEvent):
            self._lifecycle(e, out)
        elif isinstance(e, se.EventFeeEvent):
            out.append(ev.FeeChange(e.event_ticker, None, e.fee_type_override, e.fee_multiplier_override_ppm))
        elif isinstance(e, se.OrderGroupEvent) and mine and e.event_type == "triggered":
            out.append(ev.OrderGroupTriggered(e.order_group_id))
        # PositionEvent and EventCreated carry nothing the engine reads (fills carry the position)

    def _lifecycle(self, e: se.LifecycleEvent, out: list[ev.Event]) -> None:
        t = e.ticker
        if e.event_type == "created":
            m = self.ex.markets_by_ticker[t]
            if self.accept is not None and not self.accept(m):
                return
            self.markets[t] = m
            out.append(ev.MarketAdded(self.spec(m)))
            # a new market's book is empty; every order placed since arrives as a delta after this snapshot
            self._market_event(ev.BookSnapshot(t, SID, self._next_seq(), (), (), False, e.ts_ms), out)
            return
        if t not in self.markets:
            return
        f = e.fields
        if e.event_type == "determined":
            value = parse_price(f["settlement_value"])
            out.append(ev.MarketLifecycle(t, "determined", result=str(f["result"]), settlement_value=value))
            if self.observer is not None:
                self.observer.on_settlement(t, value, e.ts_ms)
        elif e.event_type == "close_date_updated":
            out.append(ev.MarketLifecycle(t, "close_date_updated", close_ts_ms=int(f["close_ts"]) * 1000))
        elif e.event_type in ("activated", "deactivated"):
            out.append(ev.MarketLifecycle(t, e.event_type, is_deactivated=bool(f.get("is_deactivated"))))
        elif e.event_type == "price_level_structure_updated":
            out.append(ev.MarketLifecycle(t, e.event_type, grid=self.markets[t].grid))
        else:
            out.append(ev.MarketLifecycle(t, e.event_type))

    def spec(self, m: Market) -> ev.MarketSpec:
        fee_type, mult = self.ex.fee_of(m)
        return ev.MarketSpec(
            ticker=m.ticker,
            event_ticker=m.event_ticker,
            series_ticker=m.series_ticker,
            grid=m.grid,
            status=m.status,
            close_ts_ms=m.close_ts_ms,
            fee_type=fee_type,
            fee_multiplier_ppm=mult,
            mutually_exclusive=self.ex.events_by_ticker[m.event_ticker].mutually_exclusive,
            result=m.result or "",
        )

    def quotes(self, ticker: str) -> tuple[Price | None, Price | None]:
        """Our best resting bid and ask in ``ticker``, as the exchange has them."""
        bid: int | None = None
        ask: int | None = None
        for o in self.ex.accounts[self.user_id].resting.values():
            if o.ticker != ticker:
                continue
            if o.side == "bid":
                bid = o.price if bid is None else max(bid, o.price)
            else:
                ask = o.price if ask is None else min(ask, o.price)
        return (None if bid is None else Price(bid)), (None if ask is None else Price(ask))

    def _report_quotes(self, now_ms: int) -> None:
        if self.observer is None or not self._dirty:
            return
        for t in sorted(self._dirty):
            if t in self.markets:
                bid, ask = self.quotes(t)
                self.observer.on_quotes(t, bid, ask, now_ms)
        self._dirty.clear()

    # ------------------------------------------------------------------------------------------------ orders
    def submit(self, actions: list[ev.Action], now_ms: int) -> None:
        """Carry out the engine's actions on the exchange at ``now_ms``; each answer, then what the call made the
        exchange announce, goes down the pipe."""
        self.ex.advance(now_ms)
        self.pump(now_ms)  # whatever the clock made due on the exchange happened first
        actions = self._drop_cancelled_before_send(actions, now_ms)
        ordered: list[ev.Action] = [a for a in actions if isinstance(a, ev.CancelOrder)]
        ordered += [a for a in actions if not isinstance(a, ev.CancelOrder | ev.PlaceOrder)]
        ordered += [a for a in actions if isinstance(a, ev.PlaceOrder)]
        for a in ordered:
            self._spend(a, now_ms)
            self._send(self._carry_out(a, now_ms), now_ms)
            self.pump(now_ms)

    def _drop_cancelled_before_send(self, actions: list[ev.Action], now_ms: int) -> list[ev.Action]:
        """As the real executor does (:mod:`kalshibot.core.coalesce`)."""
        kept, dropped = coalesce(actions)
        if dropped:
            rejects: list[ev.Event] = [
                ev.OrderReject(c, None, CANCELLED_BEFORE_SEND, CANCELLED_BEFORE_SEND_MESSAGE, "create", now_ms)
                for c in dropped
            ]
            self._send(rejects, now_ms)
        return kept

    def _spend(self, a: ev.Action, now_ms: int) -> None:
        cost = TOKEN_COST["cancel"] if isinstance(a, ev.CancelOrder) else TOKEN_COST["create"]
        if isinstance(a, ev.LookupOrder | ev.ResyncBook):
            return  # reads: the other bucket
        sec, spent = self._second
        if now_ms // 1000 != sec:
            sec, spent = now_ms // 1000, 0
        spent += cost
        self._second = (sec, spent)
        self.tokens += cost
        self.peak_tokens_per_s = max(self.peak_tokens_per_s, spent)

    def _reject(self, coid: str, order_id: str | None, err: SimError, request: Any, now: int) -> ev.OrderReject:
        self.rejects[err.code] = self.rejects.get(err.code, 0) + 1
        return ev.OrderReject(coid, order_id, err.code, err.message, request, now)

    def _carry_out(self, a: ev.Action, now: int) -> list[ev.Event]:
        u = self.user_id
        if isinstance(a, ev.PlaceOrder):
            self.requests["create"] += 1
            quote = a.time_in_force == "good_till_canceled"
            req = CreateOrderParams(
                ticker=a.ticker,
                side=a.side,
                price=a.price,
                count=a.count,
                time_in_force=a.time_in_force,
                client_order_id=a.client_order_id,
                expiration_ts_s=a.expiration_ts_s if quote else None,
                post_only=quote and a.post_only,
                reduce_only=a.reduce_only and a.time_in_force == "immediate_or_cancel",
                cancel_order_on_pause=quote and a.cancel_order_on_pause,
                order_group_id=self.order_group_id if (quote and a.use_order_group) else None,
            )
            try:
                r = self.ex.create_order(u, req, now)
            except SimError as e:
                return [self._reject(a.client_order_id, None, e, "create", now)]
            o = r.order
            return [ev.OrderAck(a.client_order_id, o.order_id, Count(o.filled), Count(o.remaining), now)]
        if isinstance(a, ev.AmendOrder):
            self.requests["amend"] += 1
            p = AmendParams(
                ticker=a.ticker,
                side=a.side,
                price=a.price,
                count=a.count,
                client_order_id=a.client_order_id,
                updated_client_order_id=a.new_client_order_id,
                expiration_ts_s=a.expiration_ts_s,
            )
            try:
                r = self.ex.amend_order(u, a.order_id, p, now)
            except SimError as e:
                return [self._reject(a.new_client_order_id, a.order_id, e, "amend", now)]
            o = r.order
            return [
                ev.AmendAck(
                    o.order_id,
                    o.client_order_id,
                    Price(o.price),
                    Count(o.remaining),
                    Count(o.filled),
                    o.expiration_ts_s,
                    now,
                )
            ]
        if isinstance(a, ev.DecreaseOrder):
            self.requests["decrease"] += 1
            try:
                o = self.ex.decrease_order(u, a.order_id, now, reduce_by=a.reduce_by)
            except SimError as e:
                return [self._reject(a.client_order_id, a.order_id, e, "decrease", now)]
            return [ev.DecreaseAck(o.order_id, o.client_order_id, Count(o.remaining), now)]
        if isinstance(a, ev.CancelOrder):
            self.requests["cancel"] += 1
            try:
                oid = a.order_id or self.ex.get_order_by_client_id(u, a.client_order_id).order_id
                o, reduced = self.ex.cancel_order(u, oid, now)
            except SimError as e:
                return [self._reject(a.client_order_id, a.order_id, e, "cancel", now)]
            return [ev.CancelAck(o.order_id, a.client_order_id, Count(reduced), now)]
        if isinstance(a, ev.LookupOrder):
            self.requests["lookup"] += 1
            try:
                if a.order_id is not None:
                    o = self.ex.get_order(u, a.order_id)
                else:
                    o = self.ex.get_order_by_client_id(u, a.client_order_id)
            except SimError as e:
                return [self._reject(a.client_order_id, a.order_id, e, "create", now)]
            upd = ev.OrderUpdate(
                o.order_id,
                o.client_order_id,
                o.ticker,
                _status(o.status),
                "bid" if o.side == "bid" else "ask",
                Price(o.price),
                Count(o.filled),
                Count(o.remaining),
                Count(o.initial_count),
                o.last_update_reason,
                o.expiration_ts_s,
                now,
            )
            return [upd]
        if isinstance(a, ev.ResyncBook):
            m = self.markets.get(a.ticker)
            if m is None:
                return []
            yes, no = self.ex.orderbook(a.ticker)
            snap = ev.BookSnapshot(
                a.ticker,
                SID,
                self._next_seq(),
                tuple((Price(p), Count(c)) for p, c in yes),
                tuple((Price(p), Count(c)) for p, c in no),
                False,
                now,
            )
            if self.observer is not None:
                self.observer.on_market(snap, now)
            return [snap]
        return []


# ---------------------------------------------------------------------------------------------- conversions
def _with_ts(d: ev.BookDelta, ts_ms: int) -> ev.BookDelta:
    return ev.BookDelta(d.ticker, d.sid, d.seq, d.side, d.price, d.delta, d.no_in_yes_prices, d.client_order_id, ts_ms)


_STATUS: dict[str, ev.OrderStatus] = {"resting": "resting", "canceled": "canceled", "executed": "executed"}


def _status(s: str) -> ev.OrderStatus:
    return _STATUS.get(s, "unknown")


def _fill(f: Any) -> ev.FillEvent:
    outcome: ev.Outcome = "yes" if f.side == "bid" else "no"
    return ev.FillEvent(
        order_id=f.order_id,
        trade_id=f.trade_id,
        ticker=f.ticker,
        outcome=outcome,
        book_side="bid" if f.side == "bid" else "ask",
        yes_price=Price(f.yes_price),
        count=Count(f.count),
        fee=Money(f.fee),
        is_taker=f.is_taker,
        client_order_id=f.client_order_id,
        post_position=Count(f.post_position),
        ts_ms=f.ts_ms,
    )


def _order_update(e: se.OrderEvent) -> ev.OrderUpdate:
    # the user_order snapshot taken when the event was emitted (the Order object itself may have moved on)
    o = e.order
    return ev.OrderUpdate(
        order_id=e.order_id,
        client_order_id=e.client_order_id,
        ticker=e.ticker,
        status=_status(e.status),
        book_side="bid" if o["book_side"] == "bid" else "ask",
        yes_price=parse_price(o["yes_price_dollars"]),
        fill_count=parse_count(o["fill_count_fp"]),
        remaining_count=parse_count(o["remaining_count_fp"]),
        initial_count=parse_count(o["initial_count_fp"]),
        reason=e.last_update_reason,
        expiration_ts_s=None if e.expiration_ts_ms is None else e.expiration_ts_ms // 1000,
        ts_ms=e.ts_ms,
    )
