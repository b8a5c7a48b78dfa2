"""The simulated Kalshi exchange: the pure facade the server (REST + WS) and the scenario driver talk to.

Theory of operation
-------------------
:class:`Exchange` is synchronous, deterministic and free of I/O, wall clocks and randomness: every mutating call
takes ``now_ms`` and :meth:`Exchange.advance` applies everything the clock makes due (good-till-time expiries,
the cancel-all trailing sweep, market open/close/settlement per API.md §9). Order entry lives in
:mod:`kalshibot.sim.orderentry`, the state in :mod:`kalshibot.sim.state`; this module adds instrument setup,
queries, order groups, admin hooks (the fault injector's and the scenario driver's levers) and audit helpers.

Errors are :class:`~kalshibot.sim.simerrors.SimError` with the codes of ``simerrors.ERROR_CODES``. Every state
change is announced to ``listeners`` as a :mod:`~kalshibot.sim.simevents` event; the wire shapes come from
:mod:`kalshibot.sim.wire`. Market data is never invented: the book changes only through orders, and statistics
(last price, volume, open interest) only through trades.
"""

from __future__ import annotations

import heapq

from kalshibot.core.fixed import ONE_DOLLAR, Count
from kalshibot.core.grid import PriceGrid
from kalshibot.sim import wire
from kalshibot.sim.accounts import Account, FillRecord, Position, SettlementRecord
from kalshibot.sim.groups import OrderGroup
from kalshibot.sim.markets import MARKET_STATUS_FILTER, Event, Market, Series
from kalshibot.sim.matching import Order
from kalshibot.sim.orderentry import OrderEntry
from kalshibot.sim.simerrors import (
    DEFAULT_SETTLEMENT_TIMER_S,
    MAX_ORDER_GROUPS_PER_USER,
    PAUSE_CANCEL_REASON,
    sim_error,
)
from kalshibot.sim.simevents import EventCreated, EventFeeEvent, LifecycleEvent, OrderGroupEvent, PositionEvent
from kalshibot.sim.state import AmendParams, CreateOrderParams, CreateResult, TradeRecord

__all__ = ["AmendParams", "CreateOrderParams", "CreateResult", "Exchange", "TradeRecord"]


class Exchange(OrderEntry):
    """The pure exchange (see the module docstring). Construct with ``Exchange(now_ms=...)``."""

    # ------------------------------------------------------------------------------------------------ setup
    def add_user(self, user_id: str, balance_micros: int | None = None, internal: bool = False) -> Account:
        """Create (or return) a user's account; ``balance_micros`` defaults to the exchange's default balance."""
        a = self.accounts.get(user_id)
        if a is None:
            bal = self.default_balance_micros if balance_micros is None else balance_micros
            a = self.accounts[user_id] = Account(user_id, bal, internal=internal, updated_ts_ms=self.now_ms)
            self.deposits += bal
        return a

    def add_series(
        self,
        ticker: str,
        title: str,
        *,
        category: str = "Economics",
        frequency: str = "daily",
        fee_type: str = "quadratic_with_maker_fees",
        fee_multiplier_ppm: int = 1_000_000,
        tags: list[str] | None = None,
    ) -> Series:
        s = Series(ticker, title, category, frequency, fee_type, fee_multiplier_ppm, list(tags or []))
        s.updated_ts_ms = self.now_ms
        self.series_by_ticker[ticker] = s
        return s

    def add_event(
        self,
        event_ticker: str,
        series_ticker: str,
        title: str,
        *,
        sub_title: str = "",
        mutually_exclusive: bool = False,
        fee_type_override: str | None = None,
        fee_multiplier_override_ppm: int | None = None,
        strike_date_ms: int | None = None,
        now_ms: int | None = None,
    ) -> Event:
        if series_ticker not in self.series_by_ticker:
            raise sim_error("series_not_found", f"series {series_ticker!r} not found")
        ts = self.now_ms if now_ms is None else now_ms
        e = Event(
            event_ticker,
            series_ticker,
            title,
            sub_title,
            mutually_exclusive,
            fee_type_override,
            fee_multiplier_override_ppm,
            strike_date_ms,
            updated_ts_ms=ts,
        )
        self.events_by_ticker[event_ticker] = e
        self._emit(EventCreated(event_ticker, series_ticker, title, sub_title, e.collateral_return_type, ts))
        return e

    def add_market(
        self,
        ticker: str,
        event_ticker: str,
        *,
        open_ts_ms: int,
        close_ts_ms: int,
        grid: PriceGrid | None = None,
        title: str = "",
        subtitle: str = "",
        yes_sub_title: str = "",
        no_sub_title: str = "",
        expected_expiration_ts_ms: int | None = None,
        settlement_timer_s: int = DEFAULT_SETTLEMENT_TIMER_S,
        strike_type: str | None = None,
        floor_strike: float | None = None,
        cap_strike: float | None = None,
        rules_primary: str = "",
        can_close_early: bool = True,
        now_ms: int | None = None,
    ) -> Market:
        """Add a market (status ``initialized``; the clock opens it at ``open_ts_ms``, see :meth:`advance`)."""
        e = self.events_by_ticker.get(event_ticker)
        if e is None:
            raise sim_error("event_not_found", f"event {event_ticker!r} not found")
        ts = self.now_ms if now_ms is None else now_ms
        g = grid or PriceGrid.linear_cent()
        m = Market(
            ticker=ticker,
            event_ticker=event_ticker,
            series_ticker=e.series_ticker,
            grid=g,
            open_ts_ms=open_ts_ms,
            close_ts_ms=close_ts_ms,
            created_ts_ms=ts,
            market_id=self._new_id("market"),
            title=title,
            subtitle=subtitle,
            yes_sub_title=yes_sub_title or title,
            no_sub_title=no_sub_title or title,
            expected_expiration_ts_ms=expected_expiration_ts_ms,
            settlement_timer_s=settlement_timer_s,
            strike_type=strike_type,
            floor_strike=floor_strike,
            cap_strike=cap_strike,
            rules_primary=rules_primary,
            can_close_early=can_close_early,
            updated_ts_ms=ts,
        )
        self.markets_by_ticker[ticker] = m
        self.live_markets[ticker] = m
        e.markets.append(ticker)
        meta = {
            "name": title,
            "title": title,
            "yes_sub_title": m.yes_sub_title,
            "no_sub_title": m.no_sub_title,
            "rules_primary": rules_primary,
            "rules_secondary": "",
            "can_close_early": can_close_early,
            "event_ticker": event_ticker,
            "expected_expiration_ts": (expected_expiration_ts_ms or close_ts_ms) // 1000,
            "strike_type": strike_type,
            "floor_strike": floor_strike,
        }
        fields = {
            "open_ts": open_ts_ms // 1000,
            "close_ts": close_ts_ms // 1000,
            "additional_metadata": meta,
            "price_level_structure": g.structure,
        }
        self._emit(LifecycleEvent(ticker, "created", ts, fields))
        self.advance(ts)
        return m

    # ------------------------------------------------------------------------------------------------ clock
    def advance(self, now_ms: int) -> None:
        """Apply everything due at ``now_ms``: GTT expiries (``ExpiryCancel``), the cancel-all sweep, market
        open/close (``CloseCancel``)/settlement. Time never moves backwards."""
        if now_ms < self.now_ms:
            now_ms = self.now_ms
        self.now_ms = now_ms
        ex = self._expiries
        while ex and ex[0][0] <= now_ms:
            exp_ms, _, oid = heapq.heappop(ex)
            o = self.orders[oid]
            if o.status == "resting" and o.expiration_ts_s is not None and o.expiration_ts_s * 1000 == exp_ms:
                self._cancel(o, "ExpiryCancel", now_ms)
        for key, (seq_from, until_ms) in list(self._sweeps.items()):
            user_id, sub = key
            acct = self.accounts[user_id]
            for o in [o for o in acct.resting.values() if o.seq > seq_from and (sub is None or o.subaccount == sub)]:
                self._cancel(o, "", now_ms)
            if now_ms >= until_ms:
                del self._sweeps[key]
        for m in list(self.live_markets.values()):
            while (due := m.due(now_ms)) is not None:
                if due == "open":
                    m.status = "active"
                    m.updated_ts_ms = now_ms
                elif due == "close":
                    self._close(m, now_ms)
                else:
                    self.settle(m.ticker, now_ms)

    def next_wakeup_ms(self) -> int | None:
        """The earliest time :meth:`advance` has something to do (None when nothing is scheduled)."""
        times = [m_t for m in self.live_markets.values() if (m_t := m.next_due_ms()) is not None]
        if self._expiries:
            times.append(self._expiries[0][0])
        if self._sweeps:
            times.append(self.now_ms + 1000)  # the sweep runs about once a second while armed
        return min(times) if times else None

    def _close(self, m: Market, now_ms: int) -> None:
        for o in list(m.book.orders()):
            self._cancel(o, "CloseCancel", now_ms)
        m.status = "closed"
        m.updated_ts_ms = now_ms

    # ------------------------------------------------------------------------------------------------ admin
    def pause_market(self, ticker: str, now_ms: int | None = None) -> None:
        """active -> inactive (WS ``deactivated``); orders with ``cancel_order_on_pause`` are cancelled."""
        ts = self.now_ms if now_ms is None else now_ms
        m = self._market(ticker)
        if m.status != "active":
            return
        m.status = "inactive"
        m.updated_ts_ms = ts
        for o in [o for o in m.book.orders() if o.cancel_order_on_pause]:
            self._cancel(o, PAUSE_CANCEL_REASON, ts)
        self._emit(LifecycleEvent(ticker, "deactivated", ts, {"is_deactivated": True}))

    def activate_market(self, ticker: str, now_ms: int | None = None) -> None:
        """inactive -> active (WS ``activated``); every resting order is cancelled (API.md §9)."""
        ts = self.now_ms if now_ms is None else now_ms
        m = self._market(ticker)
        if m.status != "inactive":
            return
        for o in list(m.book.orders()):
            self._cancel(o, PAUSE_CANCEL_REASON, ts)
        m.status = "active"
        m.updated_ts_ms = ts
        self._emit(LifecycleEvent(ticker, "activated", ts, {"is_deactivated": False}))

    def set_close_time(self, ticker: str, close_ts_ms: int, now_ms: int) -> None:
        """Move ``close_time`` (WS ``close_date_updated``); past -> closes now; a closed, undetermined market
        whose close moves into the future reopens (API.md §9)."""
        m = self._market(ticker)
        m.close_ts_ms = close_ts_ms
        m.updated_ts_ms = now_ms
        self._emit(LifecycleEvent(ticker, "close_date_updated", now_ms, {"close_ts": close_ts_ms // 1000}))
        if m.status == "closed" and close_ts_ms > now_ms:
            m.status = "active"
            self._emit(LifecycleEvent(ticker, "activated", now_ms, {"is_deactivated": False}))
        self.advance(now_ms)

    def close_market_early(self, ticker: str, now_ms: int) -> None:
        self.set_close_time(ticker, now_ms, now_ms)

    def determine(self, ticker: str, result: str, now_ms: int, expiration_value: str = "") -> None:
        """Record the result (closing the market first if needed); settlement follows after the market's
        ``settlement_timer_seconds`` (or :meth:`settle` now)."""
        if result not in ("yes", "no"):
            raise sim_error("invalid_parameters", "result must be yes or no")
        m = self._market(ticker)
        if m.status in ("determined", "finalized"):
            return
        if m.status != "closed":
            m.close_ts_ms = min(m.close_ts_ms, now_ms)
            if m.status == "initialized":
                m.status = "active"
            self._close(m, now_ms)
        m.status = "determined"
        m.result = result
        m.expiration_value = expiration_value
        m.settlement_value = ONE_DOLLAR if result == "yes" else 0
        m.determined_ts_ms = now_ms
        m.updated_ts_ms = now_ms
        fields = {
            "determination_ts": now_ms // 1000,
            "result": result,
            "settlement_value": wire.px(m.settlement_value),
        }
        self._emit(LifecycleEvent(ticker, "determined", now_ms, fields))

    def settle(self, ticker: str, now_ms: int) -> list[SettlementRecord]:
        """Pay out every position ($1 per winning contract) and finalize the market (WS ``settled``)."""
        m = self._market(ticker)
        if m.status == "finalized":
            return []
        if m.status != "determined" or m.settlement_value is None:
            raise sim_error("invalid_parameters", f"market {ticker} is not determined")
        out: list[SettlementRecord] = []
        for user_id in self.holders.pop(ticker, {}):
            acct = self.accounts[user_id]
            pos = acct.positions[ticker]
            had = pos.position
            rec = acct.settle(pos, m.result, m.settlement_value, now_ms)
            self.escrow_paid += rec.revenue
            out.append(rec)
            if had:
                self._emit(PositionEvent(user_id, ticker, 0, 0, pos.realized_pnl, pos.fees_paid, pos.volume, 0, now_ms))
        m.open_interest = 0
        m.status = "finalized"
        m.settled_ts_ms = now_ms
        m.updated_ts_ms = now_ms
        self.live_markets.pop(ticker, None)
        self._emit(LifecycleEvent(ticker, "settled", now_ms, {"settled_ts": now_ms // 1000}))
        return out

    def set_grid(self, ticker: str, grid: PriceGrid, now_ms: int | None = None) -> None:
        """Change a market's price grid (WS ``price_level_structure_updated``); resting orders stay."""
        ts = self.now_ms if now_ms is None else now_ms
        m = self._market(ticker)
        m.grid = grid
        m.updated_ts_ms = ts
        fields = {"price_level_structure": grid.structure, "price_ranges": grid.to_wire()}
        self._emit(LifecycleEvent(ticker, "price_level_structure_updated", ts, fields))

    def set_fee(
        self, event_or_series: str, fee_type: str | None, multiplier_ppm: int | None, now_ms: int | None = None
    ) -> None:
        """An event's fee override (None clears it; WS ``event_fee_update``), or a series' fee schedule."""
        ts = self.now_ms if now_ms is None else now_ms
        e = self.events_by_ticker.get(event_or_series)
        if e is not None:
            e.fee_type_override, e.fee_multiplier_override_ppm = fee_type, multiplier_ppm
            e.updated_ts_ms = ts
            self._emit(EventFeeEvent(e.event_ticker, fee_type, multiplier_ppm, ts))
            return
        s = self.series_by_ticker.get(event_or_series)
        if s is None:
            raise sim_error("series_not_found", f"no event or series {event_or_series!r}")
        if fee_type is not None:
            s.fee_type = fee_type
        if multiplier_ppm is not None:
            s.fee_multiplier_ppm = multiplier_ppm
        s.updated_ts_ms = ts

    def add_maintenance(self, start_ms: int, end_ms: int) -> None:
        self.exchange_schedule.maintenance_windows.append((start_ms, end_ms))

    def set_trading_paused(self, paused: bool) -> None:
        self.exchange_schedule.trading_paused = paused

    # ----------------------------------------------------------------------------------------- order groups
    def create_order_group(self, user_id: str, contracts_limit: int, now_ms: int, subaccount: int = 0) -> OrderGroup:
        self._account(user_id)
        if contracts_limit <= 0:
            raise sim_error("invalid_count", "contracts_limit must be positive")
        if sum(1 for g in self.groups.values() if g.user_id == user_id) >= MAX_ORDER_GROUPS_PER_USER:
            raise sim_error("too_many_order_groups")
        g = OrderGroup(self._new_id("group"), user_id, subaccount, contracts_limit, now_ms)
        self.groups[g.group_id] = g
        self._emit(OrderGroupEvent(user_id, "created", g.group_id, contracts_limit, now_ms))
        return g

    def order_groups(self, user_id: str, subaccount: int | None = None) -> list[OrderGroup]:
        return [g for g in self.groups.values() if g.user_id == user_id and subaccount in (None, g.subaccount)]

    def order_group(self, user_id: str, group_id: str) -> tuple[OrderGroup, list[str]]:
        """The group and the ids of its resting orders."""
        g = self._user_group(user_id, group_id)
        return g, [oid for oid in g.order_ids if self.orders[oid].status == "resting"]

    def update_order_group_limit(self, user_id: str, group_id: str, contracts_limit: int, now_ms: int) -> None:
        """A new limit that the rolling window already reaches triggers the group at once (API.md §3.10)."""
        g = self._user_group(user_id, group_id)
        if contracts_limit <= 0:
            raise sim_error("invalid_count", "contracts_limit must be positive")
        g.contracts_limit = contracts_limit
        self._emit(OrderGroupEvent(user_id, "limit_updated", group_id, contracts_limit, now_ms))
        if not g.triggered and g.limit_exceeded(now_ms):
            self._trigger_group(g, now_ms)

    def trigger_group(self, user_id: str, group_id: str, now_ms: int) -> None:
        self._trigger_group(self._user_group(user_id, group_id), now_ms)

    def reset_group(self, user_id: str, group_id: str, now_ms: int) -> None:
        g = self._user_group(user_id, group_id)
        g.reset()
        self._emit(OrderGroupEvent(user_id, "reset", group_id, g.contracts_limit, now_ms))

    def delete_group(self, user_id: str, group_id: str, now_ms: int) -> None:
        g = self._user_group(user_id, group_id)
        self._cancel_group_orders(g, now_ms)
        del self.groups[group_id]
        self._emit(OrderGroupEvent(user_id, "deleted", group_id, None, now_ms))

    # ---------------------------------------------------------------------------------------------- queries
    def get_order(self, user_id: str, order_id: str) -> Order:
        return self._user_order(user_id, order_id)

    def get_order_by_client_id(self, user_id: str, client_order_id: str) -> Order:
        o = self._account(user_id).client_order_ids.get(client_order_id)
        if o is None:
            raise sim_error("order_not_found", f"no order with client_order_id {client_order_id!r}")
        return o

    def list_orders(
        self,
        user_id: str,
        *,
        ticker: str | None = None,
        event_tickers: list[str] | None = None,
        status: str | None = None,
        min_ts_s: int | None = None,
        max_ts_s: int | None = None,
        subaccount: int | None = None,
    ) -> list[Order]:
        """The user's orders, newest first (GET /portfolio/orders filters)."""
        acct = self._account(user_id)
        src = list(acct.resting.values()) if status == "resting" else acct.orders
        out = []
        for o in reversed(src):
            if ticker is not None and o.ticker != ticker:
                continue
            if event_tickers and self.markets_by_ticker[o.ticker].event_ticker not in event_tickers:
                continue
            if status is not None and o.status != status:
                continue
            if min_ts_s is not None and o.created_ts_ms < min_ts_s * 1000:
                continue
            if max_ts_s is not None and o.created_ts_ms > max_ts_s * 1000:
                continue
            if subaccount is not None and o.subaccount != subaccount:
                continue
            out.append(o)
        return out

    def fills(
        self,
        user_id: str,
        *,
        tickers: list[str] | None = None,
        order_id: str | None = None,
        min_ts_s: int | None = None,
        max_ts_s: int | None = None,
        subaccount: int | None = None,
    ) -> list[FillRecord]:
        """The user's fills, newest first."""
        out = []
        for f in reversed(self._account(user_id).fills):
            if tickers and f.ticker not in tickers:
                continue
            if order_id is not None and f.order_id != order_id:
                continue
            if min_ts_s is not None and f.ts_ms < min_ts_s * 1000:
                continue
            if max_ts_s is not None and f.ts_ms > max_ts_s * 1000:
                continue
            if subaccount is not None and f.subaccount != subaccount:
                continue
            out.append(f)
        return out

    def positions(
        self,
        user_id: str,
        *,
        ticker: str | None = None,
        event_ticker: str | None = None,
        settlement_status: str = "unsettled",
        count_filter: str | None = None,
    ) -> list[Position]:
        """Market positions (``settlement_status`` unsettled|settled|all; ``count_filter`` position|
        total_traded keeps only non-zero ones)."""
        out = []
        for p in self._account(user_id).positions.values():
            if ticker is not None and p.ticker != ticker:
                continue
            if event_ticker is not None and p.event_ticker != event_ticker:
                continue
            if settlement_status != "all" and p.settled != (settlement_status == "settled"):
                continue
            if count_filter == "position" and p.position == 0:
                continue
            if count_filter == "total_traded" and p.total_traded == 0:
                continue
            out.append(p)
        return out

    def balance(self, user_id: str) -> Account:
        return self._account(user_id)

    def portfolio_value(self, user_id: str) -> int:
        """Open positions marked at each market's last price (micros)."""
        total = 0
        for p in self._account(user_id).positions.values():
            if p.position:
                last = self.markets_by_ticker[p.ticker].last_price
                px = last if p.position > 0 else ONE_DOLLAR - last
                total += px * abs(p.position) // 100
        return total

    def settlements(
        self, user_id: str, *, ticker: str | None = None, event_ticker: str | None = None
    ) -> list[SettlementRecord]:
        return [
            s
            for s in reversed(self._account(user_id).settlements)
            if (ticker is None or s.ticker == ticker) and (event_ticker is None or s.event_ticker == event_ticker)
        ]

    def queue_position(self, user_id: str, order_id: str) -> int:
        """Contracts ahead of a resting order (0 when it is not resting)."""
        o = self._user_order(user_id, order_id)
        if o.status != "resting":
            return 0
        return self.markets_by_ticker[o.ticker].book.queue_ahead(o)

    def orderbook(self, ticker: str, depth: int = 0) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """(YES bids, NO bids in NO-leg prices), ascending, best last (API.md §3.4)."""
        return self._market(ticker).book.snapshot(depth)

    def market(self, ticker: str) -> Market:
        return self._market(ticker)

    def markets(
        self,
        *,
        status: str | None = None,
        event_ticker: str | None = None,
        series_ticker: str | None = None,
        tickers: list[str] | None = None,
        min_close_ts_s: int | None = None,
        max_close_ts_s: int | None = None,
    ) -> list[Market]:
        """GET /markets filters (``status`` takes the filter values unopened|open|paused|closed|settled)."""
        allowed = MARKET_STATUS_FILTER.get(status) if status else None
        if status and allowed is None:
            raise sim_error("invalid_parameters", f"unknown status filter {status!r}")
        src = [self.markets_by_ticker[t] for t in tickers if t in self.markets_by_ticker] if tickers else None
        out = []
        for m in src if src is not None else self.markets_by_ticker.values():
            if allowed is not None and m.status not in allowed:
                continue
            if event_ticker is not None and m.event_ticker != event_ticker:
                continue
            if series_ticker is not None and m.series_ticker != series_ticker:
                continue
            if min_close_ts_s is not None and m.close_ts_ms < min_close_ts_s * 1000:
                continue
            if max_close_ts_s is not None and m.close_ts_ms > max_close_ts_s * 1000:
                continue
            out.append(m)
        return out

    def event(self, event_ticker: str) -> tuple[Event, list[Market]]:
        e = self.events_by_ticker.get(event_ticker)
        if e is None:
            raise sim_error("event_not_found", f"event {event_ticker!r} not found")
        return e, [self.markets_by_ticker[t] for t in e.markets]

    def event_status(self, e: Event) -> str:
        """unopened|open|closed|settled, derived from the event's markets."""
        st = [self.markets_by_ticker[t].status for t in e.markets]
        if st and all(s == "finalized" for s in st):
            return "settled"
        if any(s in ("active", "inactive") for s in st):
            return "open"
        if st and all(s == "initialized" for s in st):
            return "unopened"
        return "closed" if st else "unopened"

    def events(
        self, *, status: str | None = None, series_ticker: str | None = None, tickers: list[str] | None = None
    ) -> list[Event]:
        return [
            e
            for e in self.events_by_ticker.values()
            if (series_ticker is None or e.series_ticker == series_ticker)
            and (not tickers or e.event_ticker in tickers)
            and (status is None or self.event_status(e) == status)
        ]

    def series(self, ticker: str) -> Series:
        s = self.series_by_ticker.get(ticker)
        if s is None:
            raise sim_error("series_not_found", f"series {ticker!r} not found")
        return s

    def series_list(self, *, category: str | None = None) -> list[Series]:
        return [s for s in self.series_by_ticker.values() if category is None or s.category == category]

    def trades(
        self, *, ticker: str | None = None, min_ts_s: int | None = None, max_ts_s: int | None = None
    ) -> list[TradeRecord]:
        """Public trades, newest first."""
        return [
            t
            for t in reversed(self.trade_log)
            if (ticker is None or t.ticker == ticker)
            and (min_ts_s is None or t.ts_ms >= min_ts_s * 1000)
            and (max_ts_s is None or t.ts_ms <= max_ts_s * 1000)
        ]

    def exchange_status(self, now_ms: int) -> dict[str, object]:
        return wire.exchange_status(self.exchange_schedule, now_ms)

    def schedule(self) -> dict[str, object]:
        return wire.schedule(self.exchange_schedule, self.now_ms)

    def account_limits(self) -> dict[str, object]:
        return self.rate_limiter.limits()

    def endpoint_costs(self) -> dict[str, object]:
        from kalshibot.sim.ratelimit import endpoint_costs

        return endpoint_costs()

    # ------------------------------------------------------------------------------------------------ audit
    def account_state(self, user_id: str) -> dict[str, object]:
        """Positions (signed), resting order ids, balance and locked collateral, for tests and chaos checks."""
        a = self._account(user_id)
        return {
            "balance": a.balance,
            "locked": a.locked,
            "positions": {t: p.position for t, p in a.positions.items() if p.position},
            "resting": list(a.resting),
            "realized_pnl": sum(p.realized_pnl for p in a.positions.values()),
            "fees_paid": sum(p.fees_paid for p in a.positions.values()),
        }

    def check_invariants(self) -> list[str]:
        """Every broken invariant, as text (empty when all hold): books match resting orders and never cross,
        locks match, and money is conserved (cash + locks + fees + $1 per open YES/NO pair == deposits)."""
        bad: list[str] = []
        for m in self.markets_by_ticker.values():
            b = m.book
            if b.best_bid() is not None and b.best_ask() is not None and b.best_bid() >= b.best_ask():  # type: ignore[operator]
                bad.append(f"{m.ticker}: crossed book")
            for side, levels, sizes in (("bid", b.bids, b.bid_size), ("ask", b.asks, b.ask_size)):
                for p, q in levels.items():
                    if sizes[p] != sum(o.remaining for o in q) or sizes[p] <= 0:
                        bad.append(f"{m.ticker}: {side} level {p} size mismatch")
                    for o in q:
                        if o.status != "resting" or o.remaining <= 0:
                            bad.append(f"{m.ticker}: non-resting order {o.order_id} in book")
            oi = sum(max(a.positions[m.ticker].position, 0) for a in self.accounts.values() if m.ticker in a.positions)
            if oi != m.open_interest:
                bad.append(f"{m.ticker}: open interest {m.open_interest} != {oi}")
        cash = 0
        for a in self.accounts.values():
            cash += a.balance + a.locked
            if a.locked != sum(o.locked for o in a.resting.values()):
                bad.append(f"{a.user_id}: locked {a.locked} != sum of order locks")
            if a.balance < 0:
                bad.append(f"{a.user_id}: negative balance {a.balance}")
        escrow = sum(m.open_interest for m in self.markets_by_ticker.values()) * ONE_DOLLAR // Count(100)
        fees = sum(p.fees_paid for a in self.accounts.values() for p in a.positions.values())
        if cash + fees + escrow != self.deposits:
            bad.append(f"money not conserved: cash {cash} + fees {fees} + escrow {escrow} != deposits {self.deposits}")
        return bad
