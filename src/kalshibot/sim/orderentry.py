"""Order entry: create, amend, decrease, cancel, batch, cancel-all, and the money/event glue of every fill.

Theory of operation
-------------------
A create is validated (market open, grid, time-in-force rules, duplicate ``client_order_id``, order group,
balance) and then always *accepted* as an order record: what follows is told through its status and
``last_update_reason`` (API.md §5.3), never through an error. In order:

1. ``reduce_only`` (IOC only) caps the count at what reduces the position; nothing left -> ``ReduceOnlyCancel``.
2. ``post_only`` that would cross -> cancelled ``PostOnlyCrossCancel`` (API.md §11.4).
3. ``fill_or_kill`` that cannot fill in full (STP-aware) -> cancelled, nothing traded.
4. The order locks its reserve (collateral + worst-case fee), :func:`~kalshibot.sim.matching.match` runs it
   against the book; each match calls :meth:`OrderEntry._trade` (both sides' cash, fees, positions, order
   counters, fills, trade print, events). STP ``taker_at_cross`` stops it with ``SelfTradeCancel``.
5. A GTC remainder rests (good-till-time if ``expiration_ts_s``); an IOC/FOK remainder is dropped.
6. Order groups whose rolling limit was reached during the match trigger afterwards (all their orders cancelled).

Every book change is a :class:`~kalshibot.sim.simevents.BookChanged` emitted right where the book changed, so
the WS feed replays the book exactly.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

from kalshibot.core.fees import FeeAccumulator, trade_fee
from kalshibot.core.fixed import ONE_DOLLAR, Count, Money, Price
from kalshibot.sim import wire
from kalshibot.sim.accounts import Account, FillRecord, cost_of
from kalshibot.sim.groups import OrderGroup
from kalshibot.sim.markets import Market
from kalshibot.sim.matching import Order, fillable, match
from kalshibot.sim.simerrors import (
    IOC_REMAINDER_REASON,
    MAX_OPEN_ORDERS_PER_USER,
    USER_CANCEL_REASON,
    SimError,
    sim_error,
)
from kalshibot.sim.simevents import BookChanged, FillEvent, OrderEvent, OrderGroupEvent, PositionEvent, TradeEvent
from kalshibot.sim.state import (
    STP_TYPES,
    TIME_IN_FORCE,
    AmendParams,
    CreateOrderParams,
    CreateResult,
    ExchangeState,
    TradeRecord,
)


class OrderEntry(ExchangeState):
    """Order-entry half of the exchange facade (see the module docstring)."""

    _fill_n = 0
    _fill_notional = 0
    _fill_fees = 0

    # ------------------------------------------------------------------------------------------- validation
    @staticmethod
    def _check_tradable(m: Market) -> None:
        if m.status == "active":
            return
        if m.status == "initialized":
            raise sim_error("market_not_open", f"market {m.ticker} is not open yet")
        if m.status == "inactive":
            raise sim_error("market_paused", f"market {m.ticker} is paused")
        raise sim_error("market_closed", f"market {m.ticker} is {m.status}")

    def _validate_new(self, acct: Account, m: Market, req: CreateOrderParams, now_ms: int) -> None:
        if req.side not in ("bid", "ask"):
            raise sim_error("invalid_order", f"side must be bid or ask, not {req.side!r}")
        if req.time_in_force not in TIME_IN_FORCE:
            raise sim_error("invalid_time_in_force", f"unknown time_in_force {req.time_in_force!r}")
        if req.self_trade_prevention_type not in STP_TYPES:
            raise sim_error("invalid_order", f"unknown self_trade_prevention_type {req.self_trade_prevention_type!r}")
        if req.count <= 0:
            raise sim_error("invalid_count")
        if not m.grid.is_valid(req.price):
            raise sim_error("invalid_price", details=f"price {wire.px(req.price)} is not on the market's price grid")
        if req.expiration_ts_s is not None:
            # GTC + expiration_time = good-till-time; IOC/FOK cannot have one (API.md §3.5)
            if req.time_in_force != "good_till_canceled":
                raise sim_error("invalid_time_in_force", "expiration_time is only allowed with good_till_canceled")
            if req.expiration_ts_s * 1000 <= now_ms:
                raise sim_error("invalid_expiration")
        if req.reduce_only and req.time_in_force != "immediate_or_cancel":
            raise sim_error("reduce_only_requires_ioc")
        if req.post_only and req.time_in_force != "good_till_canceled":
            raise sim_error("invalid_time_in_force", "post_only requires good_till_canceled")
        if not 0 <= req.subaccount <= 63:
            raise sim_error("invalid_parameters", "subaccount must be 0-63")
        if req.client_order_id is not None and req.client_order_id in acct.client_order_ids:
            raise sim_error("duplicate_client_order_id")

    # ---------------------------------------------------------------------------------------------- create
    def create_order(self, user_id: str, req: CreateOrderParams, now_ms: int) -> CreateResult:
        """Place an order (POST /portfolio/events/orders). Raises :class:`SimError` for rejects."""
        acct = self._account(user_id)
        self._check_exchange(now_ms)
        m = self._market(req.ticker)
        self._check_tradable(m)
        self._validate_new(acct, m, req, now_ms)
        group: OrderGroup | None = None
        if req.order_group_id is not None:
            group = self._user_group(user_id, req.order_group_id)
            if group.triggered:
                raise sim_error("order_group_triggered")
        if len(acct.resting) >= MAX_OPEN_ORDERS_PER_USER:
            raise sim_error("too_many_open_orders")
        count = req.count
        capped = False
        if req.reduce_only:
            pos = acct.positions.get(m.ticker)
            held = pos.position if pos is not None else 0
            reducible = max(0, -held if req.side == "bid" else held)
            if count > reducible:
                count, capped = reducible, True
        elif acct.balance < self.reserve_for(m, req.side, req.price, count):
            raise sim_error("insufficient_balance")
        order = Order(
            order_id=self._new_id("order"),
            user_id=user_id,
            ticker=m.ticker,
            side=req.side,
            price=req.price,
            initial_count=count if count else req.count,
            remaining=count,
            time_in_force=req.time_in_force,
            stp=req.self_trade_prevention_type,
            client_order_id=req.client_order_id or self._new_id("coid"),
            created_ts_ms=now_ms,
            seq=self._next_seq(),
            expiration_ts_s=req.expiration_ts_s,
            post_only=req.post_only,
            reduce_only=req.reduce_only,
            cancel_order_on_pause=req.cancel_order_on_pause,
            order_group_id=req.order_group_id,
            subaccount=req.subaccount,
            last_update_ts_ms=now_ms,
            internal=acct.internal,
            fee_acc=FeeAccumulator(Money(self.balance_precision_micros)),
        )
        self.orders[order.order_id] = order
        acct.orders.append(order)
        acct.client_order_ids[order.client_order_id] = order
        if group is not None:
            group.order_ids.append(order.order_id)
        self._fill_n = self._fill_notional = self._fill_fees = 0
        if count == 0:
            self._cancel(order, "ReduceOnlyCancel" if capped else IOC_REMAINDER_REASON, now_ms, in_book=False)
        elif req.post_only and m.book.crosses(req.side, req.price):
            self._cancel(order, "PostOnlyCrossCancel", now_ms, in_book=False)
        elif (
            req.time_in_force == "fill_or_kill"
            and fillable(m.book, req.side, req.price, count, user_id, order.stp) < count
        ):
            self._cancel(order, IOC_REMAINDER_REASON, now_ms, in_book=False)
        else:
            if not req.reduce_only:
                order.locked = self.reserve_for(m, order.side, order.price, count)
                acct.lock(order.locked)
            self._execute(order, m, acct, now_ms, rest_reason="")
        return self._result(order, now_ms)

    def _result(self, order: Order, now_ms: int) -> CreateResult:
        n = self._fill_n
        if n == 0:
            return CreateResult(order, 0, None, None, now_ms)
        avg_px = (self._fill_notional + n // 2) // n
        avg_fee = self._fill_fees * 100 // n
        return CreateResult(order, n, avg_px, avg_fee, now_ms)

    def _execute(self, order: Order, m: Market, acct: Account, now_ms: int, rest_reason: str) -> None:
        """Match ``order`` as taker, then rest or drop the remainder; run group triggers that became due."""
        pending: list[OrderGroup] = []

        def on_fill(maker: Order, n: int, price: int) -> None:
            self._trade(m, order, maker, n, price, now_ms, pending)

        def on_stp(maker: Order) -> None:
            self._emit_book(m, maker, -maker.remaining, now_ms)
            self._cancel(maker, "SelfTradeCancel", now_ms, in_book=False)

        stopped = match(m.book, order, on_fill, on_stp) if m.book.crosses(order.side, order.price) else False
        if stopped:
            self._cancel(order, "SelfTradeCancel", now_ms, in_book=False)
        elif order.remaining > 0:
            if order.time_in_force == "good_till_canceled":
                self._rest(order, m, acct, now_ms, "Trade" if order.filled and self._fill_n else rest_reason)
            else:
                self._cancel(order, "Trade" if self._fill_n else IOC_REMAINDER_REASON, now_ms, in_book=False)
        else:
            order.status = "executed"
            order.last_update_reason = "Trade"
            order.last_update_ts_ms = now_ms
            acct.release_order(order)
            self._emit_order(order, now_ms)
        for g in pending:
            if not g.triggered:
                self._trigger_group(g, now_ms)

    def _rest(self, order: Order, m: Market, acct: Account, now_ms: int, reason: str) -> None:
        m.book.add(order)
        order.status = "resting"
        order.last_update_reason = reason
        order.last_update_ts_ms = now_ms
        acct.resting[order.order_id] = order
        if order.expiration_ts_s is not None:
            heapq.heappush(self._expiries, (order.expiration_ts_s * 1000, order.seq, order.order_id))
        self._emit_book(m, order, order.remaining, now_ms)
        self._emit_order(order, now_ms)

    # ------------------------------------------------------------------------------------------------ fills
    def _trade(
        self, m: Market, taker: Order, maker: Order, n: int, price: int, now_ms: int, pending: list[OrderGroup]
    ) -> None:
        trade_id = self._new_id("trade")
        ft, fm = self.fee_of(m)
        self._emit_book(m, maker, -n, now_ms)
        fills: list[FillRecord] = []
        for o, is_taker in ((maker, False), (taker, True)):
            acct = self.accounts[o.user_id]
            if o.locked:
                keep = min(o.locked, self.reserve_for(m, o.side, o.price, o.remaining))
                acct.unlock(o.locked - keep)
                o.locked = keep
            leg = price if o.side == "bid" else ONE_DOLLAR - price
            cost = cost_of(leg, n)
            ff = o.fee_acc.apply_fill(Money(-cost), trade_fee(ft, fm, Price(leg), Count(n), is_taker=is_taker))
            acct.balance += ff.balance_change
            pos = acct.position(m.ticker, m.event_ticker)
            before = pos.position
            payout, _ = pos.buy(o.outcome, n, cost)
            acct.balance += payout
            pos.fees_paid += ff.net_fee
            pos.last_updated_ts_ms = now_ms
            acct.updated_ts_ms = now_ms
            m.open_interest += max(pos.position, 0) - max(before, 0)
            self.holders.setdefault(m.ticker, {})[o.user_id] = None
            if is_taker:
                o.taker_fill_cost += cost
                o.taker_fees += ff.net_fee
                self._fill_n += n
                self._fill_notional += price * n
                self._fill_fees += ff.net_fee
            else:
                o.maker_fill_cost += cost
                o.maker_fees += ff.net_fee
            o.last_update_ts_ms = now_ms
            f = FillRecord(
                trade_id,
                o.order_id,
                o.user_id,
                m.ticker,
                o.side,
                price,
                n,
                is_taker,
                ff.net_fee,
                now_ms,
                o.client_order_id,
                o.subaccount,
                pos.position,
            )
            acct.fills.append(f)
            fills.append(f)
            if o.order_group_id is not None:
                g = self.groups.get(o.order_group_id)
                if g is not None and g.record_fill(n, now_ms) and g not in pending:
                    pending.append(g)
        m.volume += n
        m.record_trade(price)
        self.trade_log.append(TradeRecord(trade_id, m.ticker, price, n, taker.side, now_ms))
        if maker.remaining == 0:
            maker.status = "executed"
            mk = self.accounts[maker.user_id]
            mk.release_order(maker)
            mk.resting.pop(maker.order_id, None)
        maker.last_update_reason = "Trade"
        if self.listeners:
            self._emit(TradeEvent(trade_id, m.ticker, price, n, taker.side, now_ms))
            for f in fills:
                self._emit(FillEvent(f.user_id, f))
                p = self.accounts[f.user_id].positions[m.ticker]
                self._emit(
                    PositionEvent(
                        f.user_id,
                        m.ticker,
                        p.position,
                        p.exposure,
                        p.realized_pnl,
                        p.fees_paid,
                        p.volume,
                        f.subaccount,
                        now_ms,
                    )
                )
            self._emit_order(maker, now_ms)

    # ---------------------------------------------------------------------------------------------- cancels
    def _cancel(self, o: Order, reason: str, now_ms: int, *, in_book: bool = True) -> int:
        """Cancel ``o`` (out of the book first when ``in_book``); returns the count it had left."""
        reduced = o.remaining
        acct = self.accounts[o.user_id]
        if in_book:
            m = self.markets_by_ticker[o.ticker]
            m.book.remove(o)
            self._emit_book(m, o, -reduced, now_ms)
        acct.resting.pop(o.order_id, None)
        o.remaining = 0
        o.status = "canceled"
        o.last_update_reason = reason
        o.last_update_ts_ms = now_ms
        acct.release_order(o)
        acct.updated_ts_ms = now_ms
        self._emit_order(o, now_ms)
        return reduced

    def cancel_order(self, user_id: str, order_id: str, now_ms: int) -> tuple[Order, int]:
        """DELETE /portfolio/events/orders/{id}: (order, reduced_by); reduced_by 0 when it was no longer
        resting (API.md §3.5: "reduced_by 0 => it had already filled")."""
        self._account(user_id)
        self._check_exchange(now_ms, trading=False)
        o = self._user_order(user_id, order_id)
        if o.status != "resting":
            return o, 0
        return o, self._cancel(o, USER_CANCEL_REASON, now_ms)

    def batch_create(
        self, user_id: str, reqs: Sequence[CreateOrderParams], now_ms: int
    ) -> list[CreateResult | SimError]:
        """POST /portfolio/events/orders/batched: one result or error per item, in order (batch size is the
        server's check)."""
        out: list[CreateResult | SimError] = []
        for r in reqs:
            try:
                out.append(self.create_order(user_id, r, now_ms))
            except SimError as e:
                out.append(e)
        return out

    def batch_cancel(self, user_id: str, order_ids: Sequence[str], now_ms: int) -> list[tuple[Order, int] | SimError]:
        out: list[tuple[Order, int] | SimError] = []
        for oid in order_ids:
            try:
                out.append(self.cancel_order(user_id, oid, now_ms))
            except SimError as e:
                out.append(e)
        return out

    def cancel_all(self, user_id: str, subaccount: int | None, now_ms: int) -> list[Order]:
        """DELETE /portfolio/events/orders: cancel every resting order (of ``subaccount``, or all when None) and
        arm the trailing sweep (API.md §3.5; :data:`~kalshibot.sim.simerrors.CANCEL_ALL_SWEEP_MS`)."""
        acct = self._account(user_id)
        self._check_exchange(now_ms, trading=False)
        victims = [o for o in acct.resting.values() if subaccount is None or o.subaccount == subaccount]
        for o in victims:
            self._cancel(o, USER_CANCEL_REASON, now_ms)
        if self.cancel_all_sweep_ms > 0:
            self._sweeps[(user_id, subaccount)] = (self._seq, now_ms + self.cancel_all_sweep_ms)
        return victims

    # ---------------------------------------------------------------------------------------- amend/decrease
    def amend_order(self, user_id: str, order_id: str, p: AmendParams, now_ms: int) -> CreateResult:
        """POST .../{id}/amend: new price and/or total count (filled + remainder) and/or expiry. Keeps the
        order_id. Only an expiry-only amend (same price, same remainder) keeps queue priority; anything else
        re-enters the book at the back (and may trade)."""
        acct = self._account(user_id)
        self._check_exchange(now_ms)
        o = self._user_order(user_id, order_id)
        m = self._market(o.ticker)
        if o.status != "resting":
            raise sim_error("order_not_resting")
        self._check_tradable(m)
        if p.ticker != o.ticker or p.side != o.side:
            raise sim_error("invalid_order", "ticker and side must match the order being amended")
        if p.client_order_id is not None and p.client_order_id != o.client_order_id:
            raise sim_error("invalid_order", "client_order_id does not match the order")
        if not m.grid.is_valid(p.price):
            raise sim_error("invalid_price")
        new_rem = p.count - o.filled
        if new_rem <= 0:
            raise sim_error("invalid_count", "count must exceed the filled count")
        exp = o.expiration_ts_s
        if p.expiration_ts_s is not None:
            if p.expiration_ts_s == 0:
                exp = None
            elif p.expiration_ts_s * 1000 <= now_ms:
                raise sim_error("invalid_expiration")
            else:
                exp = p.expiration_ts_s
        new_coid = p.updated_client_order_id
        if new_coid is not None and new_coid != o.client_order_id and new_coid in acct.client_order_ids:
            raise sim_error("duplicate_client_order_id")
        need = self.reserve_for(m, o.side, p.price, new_rem) - o.locked
        if need > 0 and acct.balance < need:
            raise sim_error("insufficient_balance")
        if new_coid is not None and new_coid != o.client_order_id:
            acct.client_order_ids[new_coid] = o  # the old id stays taken (unique over all orders ever)
            o.client_order_id = new_coid
        if exp != o.expiration_ts_s:
            o.expiration_ts_s = exp
            if exp is not None:
                heapq.heappush(self._expiries, (exp * 1000, o.seq, o.order_id))
        self._fill_n = self._fill_notional = self._fill_fees = 0
        if p.price == o.price and new_rem == o.remaining:
            o.last_update_reason = "Amend"
            o.last_update_ts_ms = now_ms
            self._emit_order(o, now_ms)
            return self._result(o, now_ms)
        m.book.remove(o)
        self._emit_book(m, o, -o.remaining, now_ms)
        acct.resting.pop(o.order_id, None)
        acct.unlock(o.locked)
        o.locked = 0
        o.price, o.remaining, o.initial_count, o.seq = p.price, new_rem, p.count, self._next_seq()
        if o.post_only and m.book.crosses(o.side, o.price):
            self._cancel(o, "PostOnlyCrossCancel", now_ms, in_book=False)
        else:
            o.locked = self.reserve_for(m, o.side, o.price, new_rem)
            acct.lock(o.locked)
            self._execute(o, m, acct, now_ms, rest_reason="Amend")
        return self._result(o, now_ms)

    def decrease_order(
        self, user_id: str, order_id: str, now_ms: int, *, reduce_by: int | None = None, reduce_to: int | None = None
    ) -> Order:
        """POST .../{id}/decrease with exactly one of ``reduce_by`` / ``reduce_to``; keeps queue priority.
        Decreasing to zero cancels the order."""
        acct = self._account(user_id)
        self._check_exchange(now_ms, trading=False)
        if (reduce_by is None) == (reduce_to is None):
            raise sim_error("invalid_parameters", "exactly one of reduce_by and reduce_to is required")
        o = self._user_order(user_id, order_id)
        if o.status != "resting":
            raise sim_error("order_not_resting")
        if reduce_by is not None:
            if reduce_by <= 0:
                raise sim_error("invalid_count", "reduce_by must be positive")
            new_rem = max(0, o.remaining - reduce_by)
        else:
            assert reduce_to is not None
            if reduce_to < 0 or reduce_to > o.remaining:
                raise sim_error("invalid_count", "reduce_to must be between 0 and the remaining count")
            new_rem = reduce_to
        if new_rem == 0:
            self._cancel(o, "Decrease", now_ms)
            return o
        m = self.markets_by_ticker[o.ticker]
        diff = o.remaining - new_rem
        if diff:
            m.book.reduce(o, diff)
            self._emit_book(m, o, -diff, now_ms)
            keep = min(o.locked, self.reserve_for(m, o.side, o.price, new_rem))
            acct.unlock(o.locked - keep)
            o.locked = keep
        o.last_update_reason = "Decrease"
        o.last_update_ts_ms = now_ms
        self._emit_order(o, now_ms)
        return o

    # -------------------------------------------------------------------------------------------- groups
    def _trigger_group(self, g: OrderGroup, now_ms: int) -> None:
        g.triggered = True
        self._cancel_group_orders(g, now_ms)
        if self.listeners:
            self._emit(OrderGroupEvent(g.user_id, "triggered", g.group_id, g.contracts_limit, now_ms))

    def _cancel_group_orders(self, g: OrderGroup, now_ms: int) -> None:
        for oid in g.order_ids:
            o = self.orders[oid]
            if o.status == "resting" and oid in self.accounts[o.user_id].resting:
                self._cancel(o, USER_CANCEL_REASON, now_ms)

    # -------------------------------------------------------------------------------------------- events
    def _emit_book(self, m: Market, o: Order, delta: int, now_ms: int) -> None:
        if not self.listeners or delta == 0:
            return
        if o.side == "bid":
            self._emit(
                BookChanged(
                    m.ticker, m.market_id, "yes", o.price, delta, o.user_id, o.client_order_id, o.subaccount, now_ms
                )
            )
        else:
            no_price = ONE_DOLLAR - o.price
            self._emit(
                BookChanged(
                    m.ticker, m.market_id, "no", no_price, delta, o.user_id, o.client_order_id, o.subaccount, now_ms
                )
            )

    def _emit_order(self, o: Order, now_ms: int) -> None:
        if not self.listeners:
            return
        exp_ms = None if o.expiration_ts_s is None else o.expiration_ts_s * 1000
        self._emit(
            OrderEvent(
                o.user_id,
                o.ticker,
                o.order_id,
                o.client_order_id,
                o.status,
                o.last_update_reason,
                now_ms,
                wire.order(o),
                o.created_ts_ms,
                exp_ms,
            )
        )
