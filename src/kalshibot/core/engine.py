"""The engine: the pure core composed. Events in, actions and journal notes out, for many markets.

Theory of operation
-------------------
``Engine.handle(event, now_ms)`` is the only entry point that changes anything; it never reads a clock, awaits or
draws random numbers (``now_ms`` and every id seed are passed in), so live, paper, backtest and replay runs give
the same outputs for the same inputs. ``next_deadline()`` says when it next wants a :class:`~events.Timer`.

The hot path is a book delta: apply it to the market's :class:`~kalshibot.core.book.OrderBook`; if the top of book
moved, *requote that one market*: fair value from the top of book without our own orders, the quoter, the risk
state, the reconciler (which applies the requote tolerance, so a one-tick wobble costs nothing), the risk guard on
every place/amend, then order actions. Nothing is recomputed for the other markets.

Requoting a market (:meth:`Engine._requote`) is also how every other event takes effect: a fill (position and
skew changed), an order answer, a lifecycle change, a timer (expiry refresh, close approaching, release window,
cooldown, quote TTL). A market that must not quote (no valid book, paused, closed, near close, release window,
exchange not trading, HALTED, shutdown) gets an empty desired quote, so the reconciler cancels what rests there.
A market with an order in the UNKNOWN state gets *no* order actions at all until a lookup resolves it.

Every desired-quote change is written as an :class:`~events.IntentNote` per side and level (with the top of book
and the reason: model, fair, skew, which guard clipped it, which risk limit refused it); every order action carries
the intent id and the book sequence its quote came from.

Positions, PnL and money at stake live in :class:`~kalshibot.core.portfolio.Portfolio`; limits and the
ACTIVE/REDUCING/HALTED state in :class:`~kalshibot.core.risk.RiskGuard`; the adapters to both are in
:mod:`kalshibot.core.engine_risk` so this module stays about flow.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

from kalshibot.core import events as ev
from kalshibot.core.book import OrderBook
from kalshibot.core.coalesce import CANCELLED_BEFORE_SEND
from kalshibot.core.engine_quote import EngineConfig, FlattenConfig, QuotingCore
from kalshibot.core.fixed import ONE_DOLLAR, Count, Price
from kalshibot.core.market import MarketState, own_from_orders, replace_spec, settlement_value
from kalshibot.core.orders import Applied, Order, State
from kalshibot.errors import BookError

__all__ = ["Engine", "EngineConfig", "FlattenConfig"]


class Engine(QuotingCore):
    def __init__(
        self,
        config: EngineConfig,
        *,
        client_order_id_prefix: str = "kb-",
        id_seed: str = "0",
        session_id_prefix: str | None = None,
    ) -> None:
        super().__init__(
            config, client_order_id_prefix=client_order_id_prefix, id_seed=id_seed, session_id_prefix=session_id_prefix
        )
        self._handlers: dict[type, Callable[[Any, int], list[ev.Output]]] = {
            ev.BookDelta: self._on_delta,
            ev.BookSnapshot: self._on_snapshot,
            ev.BookGap: self._on_book_lost,
            ev.FeedDown: self._on_book_lost,
            ev.TradePrint: lambda e, now: [],
            ev.FillEvent: self._on_fill,
            ev.OrderAck: self._on_order_news,
            ev.OrderReject: self._on_order_news,
            ev.CancelAck: self._on_order_news,
            ev.AmendAck: self._on_order_news,
            ev.DecreaseAck: self._on_order_news,
            ev.OrderUpdate: self._on_order_news,
            ev.OutcomeUnknown: self._on_order_news,
            ev.MarketAdded: self._on_market_added,
            ev.MarketRemoved: self._on_market_removed,
            ev.MarketLifecycle: self._on_lifecycle,
            ev.FeeChange: self._on_fee_change,
            ev.ExchangeState: self._on_exchange_state,
            ev.PositionSnapshot: self._on_position_snapshot,
            ev.OrderGroupTriggered: self._on_group_triggered,
            ev.Timer: self._on_timer,
            ev.OperatorCommand: self._on_operator,
        }

    # ================================================================================================ API
    def handle(self, event: ev.Event, now_ms: int) -> list[ev.Output]:
        """Feed one event; returns the actions to carry out and the notes to journal, in order."""
        kind = type(event)
        if kind is not ev.BookDelta and kind not in _SCOPED_ANSWERS:
            self._epoch += 1  # may change any market's requote: every requote cache is stale
        out = self._handlers[kind](event, now_ms)
        notes = self.desk.drain_notes()
        if notes:
            out = [*notes, *out]
        return out

    def next_deadline(self) -> int | None:
        """When (ms) the engine next needs a Timer event; None if never."""
        h = self._heap
        while h:
            deadline, version, ticker = h[0]
            m = self._markets.get(ticker)
            if m is None or m.version != version:
                heapq.heappop(h)
                continue
            return deadline
        return None

    def set_trading_day(self, day: str, start_ms: int) -> None:
        """The shell's trading-day clock (the core has no time zones): a new day resets the daily PnL baseline and
        lifts a kill-switch halt (CONTRACTS.md: HALTED until resume or the next trading day)."""
        self.desk.set_trading_day(day, start_ms)

    # ------------------------------------------------------------------------------------ read-only views
    def markets(self) -> list[dict[str, object]]:
        out: list[dict[str, object]] = []
        for m in self._markets.values():
            top = m.book.top()
            out.append(
                {
                    "ticker": m.ticker,
                    "event_ticker": m.spec.event_ticker,
                    "status": m.spec.status,
                    "book_valid": m.book.valid,
                    "blocks": sorted(m.blocks),
                    "yes_bid": top.yes_bid,
                    "yes_ask": top.yes_ask,
                    "book_seq": top.book_seq,
                    "position": self.desk.position(m.ticker),
                    "bids": list(m.intent_levels["bid"]),
                    "asks": list(m.intent_levels["ask"]),
                }
            )
        return out

    def positions(self) -> dict[str, Count]:
        return {t: self.desk.position(t) for t in self._markets if self.desk.position(t)}

    def open_orders(self) -> list[Order]:
        return list(self.orders.all_open())

    @property
    def risk_state(self) -> str:
        return self.desk.state

    def daily_pnl(self, now_ms: int) -> int:
        return self.desk.daily_pnl(self._marks())

    def money_at_stake(self) -> dict[str, int]:
        return self.desk.money_at_stake()

    def export_state(self) -> dict[str, object]:
        return self.desk.export_state()

    def import_state(self, state: dict[str, object]) -> None:
        self.desk.import_state(state)

    # ================================================================================================ market data
    def _on_delta(self, d: ev.BookDelta, now_ms: int) -> list[ev.Output]:
        m = self._markets.get(d.ticker)
        if m is None or not m.book.valid:
            return []
        try:
            changed = m.book.apply_delta(d)
        except BookError:
            return self._lose_book(m, now_ms, resync=True)
        coid = d.client_order_id
        if coid is not None and coid.startswith(self._tag):
            # our own order moved the book: keep our size there apart from everybody else's
            yes_price = d.price if d.side == "yes" or d.no_in_yes_prices else ONE_DOLLAR - d.price
            key = ("bid" if d.side == "yes" else "ask", yes_price)
            m.own[key] = max(0, m.own.get(key, 0) + d.delta)
            changed = True
        if not changed:
            return []
        return self._requote(m, now_ms, from_book=True)

    def _on_snapshot(self, s: ev.BookSnapshot, now_ms: int) -> list[ev.Output]:
        m = self._markets.get(s.ticker)
        if m is None:
            return []
        try:
            m.book.apply_snapshot(s)
        except BookError:
            return self._lose_book(m, now_ms, resync=True)
        m.blocks.discard("no_book")
        m.own = own_from_orders(self.orders.orders(m.ticker))
        return self._requote(m, now_ms)

    def _on_book_lost(self, e: ev.BookGap | ev.FeedDown, now_ms: int) -> list[ev.Output]:
        out: list[ev.Output] = []
        for t in e.tickers:
            m = self._markets.get(t)
            if m is not None:
                out += self._lose_book(m, now_ms, resync=isinstance(e, ev.BookGap))
        return out

    def _lose_book(self, m: MarketState, now_ms: int, *, resync: bool) -> list[ev.Output]:
        """A book we cannot trust: stop quoting (cancel what rests) and, on a gap, ask the feed for a snapshot."""
        m.book.invalidate()
        m.blocks.add("no_book")
        out = self._requote(m, now_ms)
        if resync:
            out.append(ev.ResyncBook(m.ticker))
        return out

    # ================================================================================================ orders
    def _on_fill(self, f: ev.FillEvent, now_ms: int) -> list[ev.Output]:
        res = self.orders.apply(f, now_ms)
        out: list[ev.Output] = []
        if res.new_fill:
            self.desk.on_fill(f, res.new_fill, self._spec(f.ticker))
        out += self._after_order_change(res, now_ms)
        m = self._markets.get(f.ticker)
        if res.new_fill:
            out += self._check_pnl(now_ms)
            if m is not None:
                out += self._requote(m, now_ms)
        return out

    def _on_order_news(self, e: ev.Event, now_ms: int) -> list[ev.Output]:
        res = self.orders.apply(e, now_ms)
        out = self._after_order_change(res, now_ms)
        o = res.order
        if type(e) in _SCOPED_ANSWERS:
            self._invalidate_after_answer(o)
        if o is None:
            return out
        m = self._markets.get(o.ticker)
        if m is None:
            return out
        if _backs_off(e):
            # do not send the same thing straight back: wait, then requote from the book as it is then
            m.cooldown_until_ms = max(m.cooldown_until_ms, now_ms + self.config.reject_cooldown_ms)
        if o.kind == "flatten" and o.is_terminal and m.flatten_inflight == o.client_order_id:
            m.flatten_inflight = None
        if res.old is not res.new or res.new is State.UNKNOWN:
            out += self._requote(m, now_ms)
        return out

    def _after_order_change(self, res: Applied, now_ms: int) -> list[ev.Output]:
        o = res.order
        if o is not None:
            self.desk.sync_order(o)
        return [res.lookup] if res.lookup is not None else []

    # ======================================================================================== universe, lifecycle
    def _on_market_added(self, e: ev.MarketAdded, now_ms: int) -> list[ev.Output]:
        spec = e.spec
        m = self._markets.get(spec.ticker)
        if m is None:
            m = MarketState(spec=spec, book=OrderBook(spec.ticker))
            self._markets[spec.ticker] = m
        else:
            m.spec = spec
        if spec.status in ("closed", "determined", "finalized", "settled"):
            m.blocks.add("closed")
        elif spec.status in ("inactive", "initialized"):
            m.blocks.add("paused")
        self.desk.add_market(spec)
        self._schedule(m, now_ms)
        return []

    def _on_market_removed(self, e: ev.MarketRemoved, now_ms: int) -> list[ev.Output]:
        m = self._markets.get(e.ticker)
        if m is None:
            return []
        m.blocks.add("removed")
        return self._requote(m, now_ms)

    def _on_lifecycle(self, e: ev.MarketLifecycle, now_ms: int) -> list[ev.Output]:
        m = self._markets.get(e.ticker)
        if m is None:
            return []
        detail: dict[str, object] = {}
        out: list[ev.Output] = []
        kind = e.event_type
        if kind == "deactivated" or (kind == "activated" and e.is_deactivated):
            m.blocks.add("paused")
            detail["paused"] = True
        elif kind == "activated":
            if "paused" in m.blocks:
                # API.md §9: on reactivation all resting orders are cancelled
                for res in self.orders.mark_cancelled(m.ticker, now_ms):
                    out += self._after_order_change(res, now_ms)
            m.blocks -= {"paused", "closed"}
        elif kind == "close_date_updated":
            m.spec = replace_spec(m.spec, close_ts_ms=e.close_ts_ms)
            detail["close_ts_ms"] = e.close_ts_ms
            if e.close_ts_ms is not None and e.close_ts_ms > now_ms:
                m.blocks.discard("closed")  # a closed market reopens when close_time moves out (API.md §9)
        elif kind == "determined":
            m.blocks.add("determined")
            m.settlement_value = settlement_value(e)
            m.spec = replace_spec(m.spec, result=e.result or "")
            self.desk.on_determined(m.ticker, m.settlement_value)
            detail.update(result=e.result, settlement_value=m.settlement_value)
        elif kind == "settled":
            m.blocks.add("settled")
            value = m.settlement_value if m.settlement_value is not None else settlement_value(e)
            out.append(self.desk.settle(m.ticker, m.spec.result or (e.result or ""), value))
        elif kind == "price_level_structure_updated" and e.grid is not None:
            m.spec = replace_spec(m.spec, grid=e.grid)
            detail["price_level_structure"] = e.grid.structure
        out.insert(0, ev.LifecycleNote(m.ticker, kind, detail))
        out += self._check_pnl(now_ms)
        out += self._requote(m, now_ms)
        return out

    def _on_fee_change(self, e: ev.FeeChange, now_ms: int) -> list[ev.Output]:
        out: list[ev.Output] = []
        for m in self._markets.values():
            s = m.spec
            if (e.event_ticker and s.event_ticker == e.event_ticker) or (
                e.series_ticker and s.series_ticker == e.series_ticker
            ):
                m.spec = replace_spec(
                    s,
                    fee_type=e.fee_type or s.fee_type,
                    fee_multiplier_ppm=e.fee_multiplier_ppm
                    if e.fee_multiplier_ppm is not None
                    else s.fee_multiplier_ppm,
                )
                out += self._requote(m, now_ms)
        return out

    def _on_exchange_state(self, e: ev.ExchangeState, now_ms: int) -> list[ev.Output]:
        was = self._exchange_ok
        self._exchange_ok = e.exchange_active and e.trading_active
        if was and not self._exchange_ok:
            # quotes carry cancel_order_on_pause (API.md §3.5): the exchange cancels them; we only stop quoting
            out: list[ev.Output] = [
                ev.LifecycleNote("*", "exchange_inactive", {"maintenance_until_ms": e.maintenance_until_ms})
            ]
            for m in self._markets.values():
                m.version += 1  # no deadlines while the exchange is down
            return out
        if self._exchange_ok and not was:
            out = [ev.LifecycleNote("*", "exchange_active", {})]
            for m in self._markets.values():
                # cancel_order_on_pause: the exchange cancelled our orders when trading stopped
                for res in self.orders.mark_cancelled(m.ticker, now_ms):
                    out += self._after_order_change(res, now_ms)
                out += self._requote(m, now_ms)
            return out
        return []

    def _on_position_snapshot(self, e: ev.PositionSnapshot, now_ms: int) -> list[ev.Output]:
        self.desk.set_position(e)
        m = self._markets.get(e.ticker)
        return self._requote(m, now_ms) if m is not None else []

    def _on_group_triggered(self, e: ev.OrderGroupTriggered, now_ms: int) -> list[ev.Output]:
        self.desk.halt(f"order_group_triggered:{e.order_group_id}")
        return self._requote_all(now_ms)

    def _on_operator(self, e: ev.OperatorCommand, now_ms: int) -> list[ev.Output]:
        if e.command == "halt":
            self.desk.halt(e.reason)
        elif e.command == "resume":
            self.desk.resume()
            self._shutdown = False
        elif e.command == "shutdown":
            self._shutdown = True
        elif e.command == "flatten":
            out: list[ev.Output] = []
            for m in self._markets.values():
                out += self._flatten(m, now_ms, force=True)
            return out
        return self._requote_all(now_ms)

    # ================================================================================================ pnl
    def _marks(self) -> dict[str, Price]:
        marks: dict[str, Price] = {}
        for t, m in self._markets.items():
            if m.settlement_value is not None:
                marks[t] = Price(m.settlement_value)
            elif m.book.valid:
                mid = m.book.mid()
                if mid is not None:
                    marks[t] = mid
        return marks

    def _check_pnl(self, now_ms: int) -> list[ev.Output]:
        """Daily loss kill: HALTED cancels every resting order of ours."""
        was = self.desk.state
        self.desk.on_pnl(self.desk.daily_pnl(self._marks()))
        if self.desk.state == "HALTED" and was != "HALTED":
            return self._requote_all(now_ms)
        return []

    def _on_timer(self, e: ev.Timer, now_ms: int) -> list[ev.Output]:
        out = self._check_pnl(now_ms)
        due: set[str] = set()
        h = self._heap
        while h and h[0][0] <= now_ms:
            _, version, ticker = heapq.heappop(h)
            m = self._markets.get(ticker)
            if m is not None and m.version == version:
                due.add(ticker)
        for t in sorted(due):
            m = self._markets[t]
            out += self._flatten(m, now_ms, force=False)
            out += self._requote(m, now_ms)
        if now_ms >= self._next_prune_ms:
            self.orders.prune(now_ms)
            self._next_prune_ms = now_ms + 60_000
        return out


# order answers that invalidate only their own market's requote cache, plus every market with a risk refusal
# outstanding (QuotingCore._invalidate_after_answer); every other non-delta event invalidates all markets
_SCOPED_ANSWERS: frozenset[type] = frozenset(
    {ev.OrderAck, ev.OrderReject, ev.CancelAck, ev.AmendAck, ev.DecreaseAck, ev.OrderUpdate}
)

# rejects that say nothing about the market: our own "cancelled before it was sent" (net/executor.py), and a
# cancel that lost a race with a fill; backing off on those would only cost two-sided uptime
_NO_BACKOFF_CODES = frozenset({CANCELLED_BEFORE_SEND})


def _backs_off(e: ev.Event) -> bool:
    """Whether this answer makes the market wait before requoting (no tight loop with the exchange)."""
    if isinstance(e, ev.OrderReject):
        return e.request in ("create", "amend") and e.code not in _NO_BACKOFF_CODES
    return isinstance(e, ev.OrderUpdate) and e.reason == "PostOnlyCrossCancel"
