"""The simulated exchange's state and the request/result types of its API (shared by the facade's parts).

:class:`ExchangeState` holds everything (instruments, accounts, orders, trades, groups, limiter, schedule) and the
small helpers every part uses (lookups that raise the documented :class:`SimError`, id generation, event
emission). :mod:`kalshibot.sim.orderentry` adds order entry and matching glue, :mod:`kalshibot.sim.exchange` the
setup, queries, admin hooks and the clock. Ids are UUID-shaped strings from counters (never random), so the same
inputs give the same ids: the scenario driver's "same seed, same run" depends on it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from kalshibot.core.fees import trade_fee
from kalshibot.core.fixed import ONE_DOLLAR, Count, Price
from kalshibot.sim.accounts import Account, collateral
from kalshibot.sim.groups import OrderGroup
from kalshibot.sim.markets import Event, ExchangeSchedule, Market, Series
from kalshibot.sim.matching import Order
from kalshibot.sim.ratelimit import RateLimiter
from kalshibot.sim.simerrors import (
    CANCEL_ALL_SWEEP_MS,
    DEFAULT_BALANCE_MICROS,
    DEFAULT_BALANCE_PRECISION_MICROS,
    sim_error,
)
from kalshibot.sim.simevents import SimEvent

BookSide = Literal["bid", "ask"]
TIME_IN_FORCE = ("good_till_canceled", "immediate_or_cancel", "fill_or_kill")
STP_TYPES = ("taker_at_cross", "maker")


@dataclass(frozen=True, slots=True)
class CreateOrderParams:
    """A parsed ``CreateOrderV2Request`` (the server validates the wire strings; prices YES-leg micros, counts
    centi-contracts)."""

    ticker: str
    side: BookSide
    price: int
    count: int
    time_in_force: str = "good_till_canceled"
    self_trade_prevention_type: str = "taker_at_cross"
    client_order_id: str | None = None
    expiration_ts_s: int | None = None
    post_only: bool = False
    reduce_only: bool = False
    cancel_order_on_pause: bool = False
    order_group_id: str | None = None
    subaccount: int = 0


@dataclass(frozen=True, slots=True)
class AmendParams:
    """A parsed ``AmendOrderV2Request``. ``count`` is the new *total* (filled + desired remainder);
    ``expiration_ts_s``: None keeps the current one, 0 removes it, else a future Unix second."""

    ticker: str
    side: BookSide
    price: int
    count: int
    client_order_id: str | None = None
    updated_client_order_id: str | None = None
    expiration_ts_s: int | None = None


@dataclass(frozen=True, slots=True)
class CreateResult:
    """What a create (or amend) did: the order after the call and what filled during it. ``average_fill_price``
    is YES-leg micros, ``average_fee_paid`` micros per contract (both None when nothing filled)."""

    order: Order
    fill_count: int
    average_fill_price: int | None
    average_fee_paid: int | None
    ts_ms: int


@dataclass(frozen=True, slots=True)
class TradeRecord:
    trade_id: str
    ticker: str
    yes_price: int
    count: int
    taker_side: BookSide
    ts_ms: int


_KIND = {"order": 1, "trade": 2, "group": 3, "market": 4, "coid": 5}


class ExchangeState:
    """All the exchange's state; see the module docstring."""

    def __init__(
        self,
        *,
        now_ms: int,
        rate_limit_tier: str = "basic",
        default_balance_micros: int = DEFAULT_BALANCE_MICROS,
        balance_precision_micros: int = DEFAULT_BALANCE_PRECISION_MICROS,
        cancel_all_sweep_ms: int = CANCEL_ALL_SWEEP_MS,
    ) -> None:
        self.now_ms = now_ms
        self.default_balance_micros = default_balance_micros
        self.balance_precision_micros = balance_precision_micros
        self.cancel_all_sweep_ms = cancel_all_sweep_ms
        self.listeners: list[Callable[[SimEvent], None]] = []
        self.accounts: dict[str, Account] = {}
        self.series_by_ticker: dict[str, Series] = {}
        self.events_by_ticker: dict[str, Event] = {}
        self.markets_by_ticker: dict[str, Market] = {}
        self.live_markets: dict[str, Market] = {}  # not yet finalized (the clock looks only at these)
        self.orders: dict[str, Order] = {}
        self.trade_log: list[TradeRecord] = []
        self.groups: dict[str, OrderGroup] = {}
        self.rate_limiter = RateLimiter(rate_limit_tier)
        self.exchange_schedule = ExchangeSchedule()
        self.holders: dict[str, dict[str, None]] = {}  # ticker -> users with a position (ordered set)
        self._expiries: list[tuple[int, int, str]] = []  # heap of (expiry ms, seq, order_id)
        self._sweeps: dict[tuple[str, int | None], tuple[int, int]] = {}  # (user, sub) -> (after seq, until ms)
        self.deposits = 0  # every starting balance ever credited (money conservation audit)
        self.escrow_paid = 0  # settlement payouts so far
        self._counters = dict.fromkeys(_KIND, 0)
        self._seq = 0

    # --- helpers ------------------------------------------------------------------------------------------
    def _new_id(self, kind: str) -> str:
        n = self._counters[kind] = self._counters[kind] + 1
        return str(uuid.UUID(int=(_KIND[kind] << 96) | (0x4000 << 64) | (0x8000 << 48) | n))

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _emit(self, ev: SimEvent) -> None:
        for listener in self.listeners:
            listener(ev)

    def _account(self, user_id: str) -> Account:
        a = self.accounts.get(user_id)
        if a is None:
            raise sim_error("user_not_found", f"unknown user {user_id!r}")
        return a

    def _market(self, ticker: str) -> Market:
        m = self.markets_by_ticker.get(ticker)
        if m is None:
            raise sim_error("market_not_found", f"market {ticker!r} not found")
        return m

    def _user_order(self, user_id: str, order_id: str) -> Order:
        o = self.orders.get(order_id)
        if o is None or o.user_id != user_id:
            raise sim_error("order_not_found", f"order {order_id!r} not found")
        return o

    def _user_group(self, user_id: str, group_id: str) -> OrderGroup:
        g = self.groups.get(group_id)
        if g is None or g.user_id != user_id:
            raise sim_error("order_group_not_found", f"order group {group_id!r} not found")
        return g

    def fee_of(self, market: Market) -> tuple[str, int]:
        """(fee_type, multiplier_ppm) of a market: the event's override, else the series' (API.md §8)."""
        e = self.events_by_ticker[market.event_ticker]
        s = self.series_by_ticker[market.series_ticker]
        ft = e.fee_type_override if e.fee_type_override is not None else s.fee_type
        fm = e.fee_multiplier_override_ppm if e.fee_multiplier_override_ppm is not None else s.fee_multiplier_ppm
        return ft, fm

    def reserve_for(self, market: Market, side: str, price: int, count: int) -> int:
        """What an order of ``count`` locks: its collateral plus its worst-case (taker) fee at the limit."""
        if count <= 0:
            return 0
        ft, fm = self.fee_of(market)
        leg = price if side == "bid" else ONE_DOLLAR - price
        return collateral(side, price, count) + trade_fee(ft, fm, Price(leg), Count(count), is_taker=True)

    def _check_exchange(self, now_ms: int, trading: bool = True) -> None:
        if not self.exchange_schedule.exchange_active(now_ms):
            raise sim_error("exchange_unavailable")
        if trading and not self.exchange_schedule.trading_active(now_ms):
            raise sim_error("trading_paused")
