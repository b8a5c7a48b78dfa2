"""The simulated Kalshi exchange: the pure facade the server (REST + WS) and the scenario driver talk to.

Theory of operation
-------------------
:class:`Exchange` is synchronous, deterministic and free of I/O, wall clocks and randomness: every mutating call
takes ``now_ms`` and :meth:`Exchange.advance` applies everything the clock makes due (good-till-time expiries,
the cancel-all trailing sweep, market open/close/settlement per API.md §9). Order entry lives in
:mod:`kalshibot.sim.orderentry`, the state in :mod:`kalshibot.sim.state`, queries and audit helpers in
:mod:`kalshibot.sim.queries`; this module adds instrument setup, the clock, order groups and the admin hooks (the
fault injector's and the scenario driver's levers).

Errors are :class:`~kalshibot.sim.simerrors.SimError` with the codes of ``simerrors.ERROR_CODES``. Every state
change is announced to ``listeners`` as a :mod:`~kalshibot.sim.simevents` event; the wire shapes come from
:mod:`kalshibot.sim.wire`. Market data is never invented: the book changes only through orders, and statistics
(last price, volume, open interest) only through trades.
"""

from __future__ import annotations

import heapq

from kalshibot.core.fixed import ONE_DOLLAR
from kalshibot.core.grid import PriceGrid
from kalshibot.sim import wire
from kalshibot.sim.accounts import Account, SettlementRecord
from kalshibot.sim.groups import OrderGroup
from kalshibot.sim.markets import Event, Market, Series
from kalshibot.sim.queries import ExchangeQueries
from kalshibot.sim.simerrors import (
    DEFAULT_SETTLEMENT_TIMER_S,
    MAX_ORDER_GROUPS_PER_USER,
    PAUSE_CANCEL_REASON,
    USER_CANCEL_REASON,
    sim_error,
)
from kalshibot.sim.simevents import EventCreated, EventFeeEvent, LifecycleEvent, OrderGroupEvent, PositionEvent
from kalshibot.sim.state import AmendParams, CreateOrderParams, CreateResult, TradeRecord

__all__ = ["AmendParams", "CreateOrderParams", "CreateResult", "Exchange", "TradeRecord"]


class Exchange(ExchangeQueries):
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
            swept = [
                o
                for o in acct.resting.values()
                if o.seq > seq_from and o.created_ts_ms < until_ms and (sub is None or o.subaccount == sub)
            ]
            for o in swept:
                self._cancel(o, USER_CANCEL_REASON, now_ms)
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
