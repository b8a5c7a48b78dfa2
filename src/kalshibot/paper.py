"""Paper trading: the executor seam with no exchange behind it (``kalshibot run --paper``).

Theory of operation
-------------------
The daemon builds a :class:`PaperExecutor` instead of the live :class:`~kalshibot.net.executor.Executor` when
``--paper`` is given; nothing else changes (no ``if paper:`` in trading logic, DESIGN.md). It implements the same
``ExecutorProtocol``: :meth:`submit` takes the engine's actions, and their outcomes go back through ``on_event`` as
the same core events the live executor produces (``OrderAck``, ``OrderReject``, ``CancelAck``, ``AmendAck``,
``DecreaseAck``, ``OrderUpdate``, ``FillEvent``). Orders never leave the process: they rest on a
:class:`~kalshibot.replay.venue.VirtualVenue`, and the daemon forwards every public market event
(book snapshots and deltas, trade prints, market additions and lifecycle changes) to :meth:`on_market_event`,
where the queue-aware fill model (``kalshibot.replay.fillmodels``, the same one replay uses) turns them into fills.

It journals exactly the records the live executor does (``order_sent``, ``ack``, ``reject``, ``amend``,
``decrease``, ``cancel`` with ``stage`` sent/acked, and ``fill``), fills with ``paper: true``. Exchange behaviour kept
(API.md §3.5, §9): a crossing post-only order is accepted then cancelled ``PostOnlyCrossCancel`` (as the simulator
does); a cancel's ``reduced_by`` is what was left; orders of a market that closes or determines are cancelled
``CloseCancel``; a determined market with a position settles.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from kalshibot.core import events as ev
from kalshibot.core.coalesce import CANCELLED_BEFORE_SEND, CANCELLED_BEFORE_SEND_MESSAGE, coalesce
from kalshibot.core.fixed import Count, format_count, format_money, format_price
from kalshibot.net.executor_support import JournalSink
from kalshibot.replay.fillmodels import make_fill_model
from kalshibot.replay.venue import VenueFill, VirtualVenue

CLOSING_EVENTS = frozenset({"deactivated", "determined", "settled"})


class PaperExecutor:
    """``PaperExecutor(on_event, journal_sink, *, clock_ms)``; see the module docstring."""

    def __init__(
        self,
        on_event: Callable[[ev.Event], None],
        journal_sink: JournalSink,
        *,
        clock_ms: Callable[[], int],
        fill_model: str = "queue",
        id_prefix: str = "paper",
    ) -> None:
        self.on_event = on_event
        self.journal = journal_sink
        self.clock_ms = clock_ms
        self.venue = VirtualVenue(make_fill_model(fill_model), id_prefix=id_prefix)
        self.fills = 0

    # ----------------------------------------------------------------------------------------- protocol
    async def submit(self, actions: Sequence[ev.Action]) -> None:
        self.submit_now(actions)

    def observe(self, event: ev.Event) -> bool:
        """Real fills and order updates from the exchange are not ours in paper mode (we sent nothing)."""
        if isinstance(event, ev.FillEvent | ev.OrderUpdate):
            return isinstance(event, ev.FillEvent) and event.paper
        return True

    def blocked(self, ticker: str) -> bool:
        return False

    async def aclose(self) -> None:
        return None

    # ------------------------------------------------------------------------------------------ actions
    def submit_now(self, actions: Sequence[ev.Action]) -> None:
        """The same order as the live executor: cancels, then amends/decreases, then creates (after the same
        coalescing, :mod:`kalshibot.core.coalesce`)."""
        actions, dropped = coalesce(actions)
        now = self.clock_ms()
        for coid in dropped:
            msg = CANCELLED_BEFORE_SEND_MESSAGE
            self._j(
                "reject",
                client_order_id=coid,
                order_id=None,
                exchange_ts_ms=now,
                code=CANCELLED_BEFORE_SEND,
                message=msg,
                request="create",
            )
            self.on_event(ev.OrderReject(coid, None, CANCELLED_BEFORE_SEND, msg, "create", now))
        for a in actions:
            if isinstance(a, ev.CancelOrder):
                self._cancel(a)
        for a in actions:
            if isinstance(a, ev.AmendOrder):
                self._amend(a)
            elif isinstance(a, ev.DecreaseOrder):
                self._decrease(a)
            elif isinstance(a, ev.LookupOrder):
                self._lookup(a)
        for a in actions:
            if isinstance(a, ev.PlaceOrder):
                self._place(a)

    def _j(self, type_: str, **fields: Any) -> None:
        self.journal.record(type_, self.clock_ms(), **fields)

    def _place(self, a: ev.PlaceOrder) -> None:
        now = self.clock_ms()
        quote = a.time_in_force == "good_till_canceled"
        post_only = quote and a.post_only
        self._j(
            "order_sent",
            intent_id=a.intent_id,
            client_order_id=a.client_order_id,
            ticker=a.ticker,
            side=a.side,
            price=format_price(a.price),
            count=format_count(a.count),
            tif=a.time_in_force,
            post_only=post_only,
            expiration_time=a.expiration_ts_s if quote else None,
            reduce_only=a.reduce_only and a.time_in_force == "immediate_or_cancel",
            book_seq=a.book_seq,
        )
        r = (
            self.venue.place(
                a.ticker,
                a.side,
                a.price,
                a.count,
                client_order_id=a.client_order_id,
                now_ms=now,
                post_only=False,  # crossing post-only orders are accepted then cancelled, below (as Kalshi does)
                time_in_force=a.time_in_force,
                intent_id=a.intent_id,
            )
            if not (post_only and self._crosses(a))
            else None
        )
        if r is not None and not r.accepted:
            self._j(
                "reject",
                client_order_id=a.client_order_id,
                order_id=r.order_id,
                exchange_ts_ms=now,
                code=r.code,
                message=r.message,
                request="create",
            )
            self.on_event(ev.OrderReject(a.client_order_id, r.order_id, r.code, r.message, "create", now))
            return
        if r is None:
            # post-only would cross: acknowledged, then cancelled PostOnlyCrossCancel (API.md §5.3 user_order)
            oid = f"{self.venue.id_prefix}-x-{a.client_order_id}"
            self._ack(a.client_order_id, oid, Count(0), Count(0), now)
            self.on_event(
                ev.OrderUpdate(
                    oid,
                    a.client_order_id,
                    a.ticker,
                    "canceled",
                    a.side,
                    a.price,
                    Count(0),
                    Count(0),
                    a.count,
                    reason="PostOnlyCrossCancel",
                    ts_ms=now,
                )
            )
            return
        assert r.order_id is not None
        filled = Count(sum(f.count for f in r.fills))
        self._ack(a.client_order_id, r.order_id, filled, r.remaining, now)
        self._emit_fills(r.fills)
        if r.remaining == 0 and filled < a.count:
            # immediate-or-cancel remainder (or fill-or-kill) never rests
            self.on_event(
                ev.OrderUpdate(
                    r.order_id,
                    a.client_order_id,
                    a.ticker,
                    "canceled",
                    a.side,
                    a.price,
                    filled,
                    Count(0),
                    a.count,
                    reason="",
                    ts_ms=now,
                )
            )

    def _crosses(self, a: ev.PlaceOrder) -> bool:
        st = self.venue.state(a.ticker)
        other = st.book.best_ask() if a.side == "bid" else st.book.best_bid()
        if other is None:
            return False
        return other <= a.price if a.side == "bid" else other >= a.price

    def _ack(self, coid: str, order_id: str, fill: Count, remaining: Count, now: int) -> None:
        self._j(
            "ack",
            client_order_id=coid,
            order_id=order_id,
            exchange_ts_ms=now,
            fill_count=format_count(fill),
            remaining_count=format_count(remaining),
        )
        self.on_event(ev.OrderAck(coid, order_id, fill, remaining, now))

    def _resolve(self, order_id: str | None, coid: str) -> str | None:
        if order_id is not None and self.venue.order(order_id) is not None:
            return order_id
        return self.venue.order_id_for(coid) or order_id

    def _cancel(self, c: ev.CancelOrder) -> None:
        now = self.clock_ms()
        oid = self._resolve(c.order_id, c.client_order_id)
        if oid is None:
            self._j(
                "reject",
                client_order_id=c.client_order_id,
                order_id=None,
                exchange_ts_ms=now,
                code="unknown_order",
                message="no order_id for this client_order_id",
                request="cancel",
            )
            self.on_event(ev.OrderReject(c.client_order_id, None, "unknown_order", "no such order", "cancel", now))
            return
        self._j(
            "cancel", stage="sent", order_id=oid, client_order_id=c.client_order_id, ticker=c.ticker, reason=c.reason
        )
        reduced = self.venue.cancel(oid)
        # an order that already filled (or is unknown here) answers reduced_by 0 (API.md §3.5)
        by = Count(reduced or 0)
        self._j(
            "cancel",
            stage="acked",
            order_id=oid,
            client_order_id=c.client_order_id,
            ticker=c.ticker,
            reason=c.reason,
            reduced_by=format_count(by),
            exchange_ts_ms=now,
        )
        self.on_event(ev.CancelAck(oid, c.client_order_id, by, now))

    def _amend(self, a: ev.AmendOrder) -> None:
        now = self.clock_ms()
        common = {"order_id": a.order_id, "client_order_id": a.client_order_id, "ticker": a.ticker, "side": a.side}
        self._j(
            "amend",
            stage="sent",
            new_client_order_id=a.new_client_order_id,
            price=format_price(a.price),
            count=format_count(a.count),
            expiration_time=a.expiration_ts_s,
            intent_id=a.intent_id,
            **common,
        )
        res = self.venue.amend(
            a.order_id, price=a.price, total_count=a.count, new_client_order_id=a.new_client_order_id, now_ms=now
        )
        if res is None:
            self._j(
                "reject",
                client_order_id=a.new_client_order_id,
                order_id=a.order_id,
                exchange_ts_ms=now,
                code="not_found",
                message="order not found (filled or cancelled)",
                request="amend",
            )
            self.on_event(
                ev.OrderReject(a.new_client_order_id, a.order_id, "not_found", "order not found", "amend", now)
            )
            return
        self._j(
            "amend",
            stage="acked",
            new_client_order_id=a.new_client_order_id,
            price=format_price(a.price),
            count=format_count(a.count),
            remaining_count=format_count(res.remaining),
            fill_count=format_count(res.filled),
            exchange_ts_ms=now,
            expiration_time=a.expiration_ts_s,
            **common,
        )
        self.on_event(
            ev.AmendAck(a.order_id, res.client_order_id, a.price, res.remaining, res.filled, a.expiration_ts_s, now)
        )
        # a re-priced order may now cross the displayed book: the queue model fills it on the next market event

    def _decrease(self, a: ev.DecreaseOrder) -> None:
        now = self.clock_ms()
        common = {"order_id": a.order_id, "client_order_id": a.client_order_id, "ticker": a.ticker}
        self._j("decrease", stage="sent", reduced_by=format_count(a.reduce_by), intent_id=a.intent_id, **common)
        remaining = self.venue.decrease(a.order_id, a.reduce_by)
        if remaining is None:
            self._j(
                "reject",
                client_order_id=a.client_order_id,
                order_id=a.order_id,
                exchange_ts_ms=now,
                code="not_found",
                message="order not found (filled or cancelled)",
                request="decrease",
            )
            self.on_event(
                ev.OrderReject(a.client_order_id, a.order_id, "not_found", "order not found", "decrease", now)
            )
            return
        self._j(
            "decrease",
            stage="acked",
            reduced_by=format_count(a.reduce_by),
            remaining_count=format_count(remaining),
            exchange_ts_ms=now,
            **common,
        )
        self.on_event(ev.DecreaseAck(a.order_id, a.client_order_id, remaining, now))

    def _lookup(self, a: ev.LookupOrder) -> None:
        oid = self._resolve(a.order_id, a.client_order_id)
        o = self.venue.order(oid) if oid else None
        now = self.clock_ms()
        if o is None:
            self.on_event(
                ev.OrderReject(a.client_order_id, a.order_id, "not_found", "no such paper order", "create", now)
            )
            return
        self.on_event(
            ev.OrderUpdate(
                o.order_id,
                o.client_order_id,
                o.ticker,
                "resting",
                o.side,
                o.price,
                o.filled,
                o.remaining,
                o.initial,
                ts_ms=now,
            )
        )

    # -------------------------------------------------------------------------------------- market data
    def on_market_event(self, event: ev.Event) -> None:
        """Every public market event the daemon sees; fills it causes go to the journal and to ``on_event``."""
        now = self.clock_ms()
        if isinstance(event, ev.BookSnapshot | ev.BookDelta | ev.TradePrint):
            self._emit_fills(self.venue.on_market_event(event, now))
        elif isinstance(event, ev.MarketAdded):
            self.venue.set_market(event.spec)
        elif isinstance(event, ev.MarketLifecycle) and event.event_type in CLOSING_EVENTS:
            # resting orders are cancelled when a market closes or pauses (CloseCancel/HaltCancel, API.md §9)
            for o in self.venue.resting(event.ticker):
                self.venue.cancel(o.order_id)
                self.on_event(
                    ev.OrderUpdate(
                        o.order_id,
                        o.client_order_id,
                        o.ticker,
                        "canceled",
                        o.side,
                        o.price,
                        o.filled,
                        Count(0),
                        o.initial,
                        reason="CloseCancel",
                        ts_ms=now,
                    )
                )
        else:
            self.venue.tick(now)

    def _emit_fills(self, fills: Sequence[VenueFill]) -> None:
        for f in fills:
            self.fills += 1
            self._j(
                "fill",
                order_id=f.order_id,
                trade_id=f.trade_id,
                client_order_id=f.client_order_id,
                ticker=f.ticker,
                side=f.outcome,
                book_side=f.book_side,
                price=format_price(f.outcome_price),
                count=format_count(f.count),
                fee=format_money(f.fee),
                is_taker=f.is_taker,
                position_after=format_count(f.position_after),
                paper=True,
                exchange_ts_ms=f.ts_ms,
            )
            self.on_event(
                ev.FillEvent(
                    order_id=f.order_id,
                    trade_id=f.trade_id,
                    ticker=f.ticker,
                    outcome=f.outcome,
                    book_side=f.book_side,
                    yes_price=f.yes_price,
                    count=f.count,
                    fee=f.fee,
                    is_taker=f.is_taker,
                    client_order_id=f.client_order_id,
                    post_position=f.position_after,
                    ts_ms=f.ts_ms,
                    paper=True,
                )
            )
