"""The glue between the pure exchange + scenario driver and the server: builds them from :class:`SimConfig`,
routes the exchange's events (:mod:`.simevents`) to the WebSocket hub, and offers the few exchange operations the
REST layer, the faults and the harness need in one place (so a change in the exchange's API touches this file).
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from kalshibot.core.fixed import format_count, format_price
from kalshibot.core.grid import PriceGrid
from kalshibot.sim import simevents as ev
from kalshibot.sim.exchange import Exchange
from kalshibot.sim.simerrors import sim_error

if TYPE_CHECKING:
    from kalshibot.sim.server import SimServer
    from kalshibot.sim.ws import WsHub

_NS = uuid.UUID("6f1c1d2e-4b7a-4c53-9a51-2f5b0c7e8d90")
ACK_AFTER_FILL_GRACE_S = 0.05  # the ack_after_fill fault: pause between the fill going out and the answer


class SimBridge:
    def __init__(self, server: SimServer, hub: WsHub) -> None:
        self.server = server
        self.config = server.config
        self.clock = server.clock
        self.hub = hub
        now = self.clock()
        cfg = self.config
        self.exchange = Exchange(
            now_ms=now,
            rate_limit_tier=cfg.rate_limit_tier,
            default_balance_micros=round(cfg.balance * 1_000_000),
        )
        self.exchange.listeners.append(self._on_event)
        self.driver: Any = None
        self.scenario: Any = None
        self._fill_waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._last_ticker: dict[str, tuple[int, int, int, int, int, int]] = {}
        self._route: dict[type, Callable[[Any], None]] = {
            ev.BookChanged: self._book,
            ev.TradeEvent: self._trade,
            ev.FillEvent: self._fill,
            ev.OrderEvent: self._order,
            ev.PositionEvent: self._position,
            ev.LifecycleEvent: self._lifecycle,
            ev.EventCreated: self._lifecycle,
            ev.EventFeeEvent: self._lifecycle,
            ev.OrderGroupEvent: self._group,
        }

    # -- setup ---------------------------------------------------------------------------------------------------
    def ensure_user(self, key: str, balance_micros: int | None) -> str:
        user_id = str(uuid.uuid5(_NS, key))
        self.exchange.add_user(user_id, balance_micros)
        return user_id

    def start(self, now_ms: int) -> None:
        """Load the scenario and build its driver (once)."""
        if self.driver is not None or not self.config.scenario or self.config.scenario == "none":
            return
        from kalshibot.sim.scenario import ScenarioDriver, load_scenario

        self.scenario = load_scenario(self.config.scenario)
        self.driver = ScenarioDriver(
            self.exchange, self.scenario, random.Random(self.config.seed), self.config.speed, now_ms
        )
        self.step(now_ms)

    def step(self, now_ms: int) -> None:
        if self.driver is not None:
            self.driver.step(now_ms)
        self.exchange.advance(now_ms)

    def next_wakeup_ms(self) -> int | None:
        times = [self.exchange.next_wakeup_ms()]
        if self.driver is not None:
            times.append(self.driver.next_wakeup_ms())
        known = [t for t in times if t is not None]
        return min(known) if known else None

    # -- queries for the WebSocket layer ---------------------------------------------------------------------------
    def has_market(self, ticker: str) -> bool:
        return ticker in self.exchange.markets_by_ticker

    def market_tickers(self) -> list[str]:
        return list(self.exchange.markets_by_ticker)

    def market_id(self, ticker: str) -> str:
        m = self.exchange.markets_by_ticker.get(ticker)
        return m.market_id if m is not None else ""

    def book_levels(self, ticker: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]] | None:
        m = self.exchange.markets_by_ticker.get(ticker)
        return None if m is None else m.book.snapshot(0)

    def ticker_body(self, ticker: str) -> bytes | None:
        """The ``ticker`` message body of API.md §5.3 for a market, now."""
        m = self.exchange.markets_by_ticker.get(ticker)
        if m is None:
            return None
        now = self.clock()
        return orjson.dumps(
            {
                "market_id": m.market_id,
                "market_ticker": ticker,
                "price_dollars": format_price(m.last_price),
                "yes_bid_dollars": format_price(m.yes_bid),
                "yes_ask_dollars": format_price(m.yes_ask),
                "yes_bid_size_fp": format_count(m.yes_bid_size),
                "yes_ask_size_fp": format_count(m.yes_ask_size),
                "last_trade_size_fp": format_count(getattr(m, "last_trade_size", 0)),
                "volume_fp": format_count(m.volume),
                "open_interest_fp": format_count(m.open_interest),
                # whole dollars (API.md §4 exceptions): a contract's notional is $1
                "dollar_volume": m.volume // 100,
                "dollar_open_interest": m.open_interest // 100,
                "ts": now // 1000,
                "ts_ms": now,
            }
        )

    # -- event routing (synchronous, from inside exchange calls) --------------------------------------------------
    def _on_event(self, e: Any) -> None:
        route = self._route.get(type(e))
        if route is not None:
            route(e)

    def _book(self, e: ev.BookChanged) -> None:
        self.hub.publish_book_delta(
            e.ticker, e.market_id, e.side, e.price, e.delta, e.ts_ms, e.user_id, e.client_order_id, e.subaccount
        )
        self._ticker(e.ticker)

    def _ticker(self, ticker: str) -> None:
        if not self.hub.index["ticker"]:
            return
        m = self.exchange.markets_by_ticker[ticker]
        key = (m.last_price, m.yes_bid, m.yes_ask, m.yes_bid_size, m.yes_ask_size, m.volume)
        if self._last_ticker.get(ticker) == key:
            return
        self._last_ticker[ticker] = key
        body = self.ticker_body(ticker)
        if body is not None:
            self.hub.publish("ticker", "ticker", ticker, body)

    def _trade(self, e: ev.TradeEvent) -> None:
        self.hub.publish("trade", "trade", e.ticker, e.to_wire())
        self._ticker(e.ticker)

    def _fill(self, e: ev.FillEvent) -> None:
        self.hub.publish("fill", "fill", e.ticker, e.to_wire(), e.user_id)
        for fut in self._fill_waiters.pop(e.fill.order_id, ()):
            if not fut.done():
                fut.set_result(None)

    def _order(self, e: ev.OrderEvent) -> None:
        self.hub.publish("user_orders", "user_order", e.ticker, e.to_wire(), e.user_id)

    def _position(self, e: ev.PositionEvent) -> None:
        self.hub.publish("market_positions", "market_position", e.ticker, e.to_wire(), e.user_id)

    def _lifecycle(self, e: ev.LifecycleEvent | ev.EventCreated | ev.EventFeeEvent) -> None:
        self.hub.publish("market_lifecycle_v2", e.ws_type, None, e.to_wire())

    def _group(self, e: ev.OrderGroupEvent) -> None:
        self.hub.publish("order_group_updates", "order_group_updates", None, e.to_wire(), e.user_id)

    # -- fault helpers ------------------------------------------------------------------------------------------
    async def wait_for_fill(self, order_id: str, max_ms: int) -> bool:
        """Wait until a fill of ``order_id`` was published (and the WS writers drained it), at most ``max_ms``."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._fill_waiters.setdefault(order_id, []).append(fut)
        try:
            await asyncio.wait_for(fut, max_ms / 1000)
        except TimeoutError:
            return False
        for _ in range(100):  # let the writers put the fill on the wire first
            if not any(c.out for c in self.hub.conns):
                break
            await asyncio.sleep(0.002)
        # and give it time to be read before the answer: on the wire first is not read first (a client reads its
        # sockets in whatever order they became ready). Until the listener set TCP_NODELAY (server.py), Nagle
        # delayed every answer by ~40 ms and hid this
        await asyncio.sleep(ACK_AFTER_FILL_GRACE_S)
        return True

    def pause_market(self, ticker: str) -> None:
        self.exchange.pause_market(ticker, self.clock())

    def activate_market(self, ticker: str) -> None:
        self.exchange.activate_market(ticker, self.clock())

    def close_early(self, ticker: str, result: str, settle: bool) -> None:
        now = self.clock()
        self.exchange.determine(ticker, result, now)
        if settle:
            self.exchange.settle(ticker, now)

    def set_grid(self, ticker: str, structure: str, price_ranges: Any) -> None:
        self.exchange.set_grid(ticker, PriceGrid.from_wire(price_ranges, structure), self.clock())

    def set_fee(self, series_or_event: str, fee_type: str, multiplier: float) -> None:
        self.exchange.set_fee(series_or_event, fee_type, round(multiplier * 1_000_000), self.clock())

    def trigger_order_group(self, group_id: str) -> None:
        g = self.exchange.groups.get(group_id)
        if g is None:
            raise sim_error("order_group_not_found")
        self.exchange.trigger_group(g.user_id, group_id, self.clock())
