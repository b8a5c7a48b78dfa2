"""Read side of the exchange facade: orders, fills, positions, balances, settlements, books, instruments, trades,
exchange status, limits, and the audit helpers tests and chaos runs use to check invariants.

Lists come back newest first (as Kalshi pages them); the server applies ``limit``/``cursor`` pagination and
:mod:`kalshibot.sim.wire` renders the records.
"""

from __future__ import annotations

from kalshibot.core.fixed import COUNT_ONE, ONE_DOLLAR
from kalshibot.sim import wire
from kalshibot.sim.accounts import Account, FillRecord, Position, SettlementRecord
from kalshibot.sim.markets import MARKET_STATUS_FILTER, Event, Market, Series
from kalshibot.sim.matching import Order
from kalshibot.sim.orderentry import OrderEntry
from kalshibot.sim.simerrors import sim_error
from kalshibot.sim.state import TradeRecord


class ExchangeQueries(OrderEntry):
    """Queries and audit helpers (see the module docstring)."""

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
            bid, ask = b.best_bid(), b.best_ask()
            if bid is not None and ask is not None and bid >= ask:
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
        escrow = sum(m.open_interest for m in self.markets_by_ticker.values()) * ONE_DOLLAR // COUNT_ONE
        fees = sum(p.fees_paid for a in self.accounts.values() for p in a.positions.values())
        if cash + fees + escrow != self.deposits:
            bad.append(f"money not conserved: cash {cash} + fees {fees} + escrow {escrow} != deposits {self.deposits}")
        return bad
