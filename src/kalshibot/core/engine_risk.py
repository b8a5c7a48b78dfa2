"""The engine's risk desk: the one place the engine talks to the portfolio and the risk guard.

Theory of operation
-------------------
:class:`RiskDesk` owns a :class:`~kalshibot.core.portfolio.Portfolio` and a :class:`~kalshibot.core.risk.RiskGuard`
and translates the engine's vocabulary (tracked :class:`~kalshibot.core.orders.Order` records, reconciler steps,
lifecycle events) into theirs:

* *Resting orders* are mirrored into the portfolio under the order's stable ``key`` (its first client_order_id, so
  an amend that renames the order or an unacknowledged create without an order_id are still one entry). Exposure
  is counted conservatively: an order in flight counts as if it may fill (a create not yet acked, a cancel not yet
  confirmed), and while an amend is in flight it counts at the worse of the old and new price and size.
* *Filtering a plan*: every Place is judged by ``check_order`` and every non-expiry-only Amend by ``check_amend``
  (on the remainder it would leave resting), in plan order, each approved one counted before the next is judged.
  A refused Place is dropped; a refused Amend becomes a Cancel (the old price is no longer wanted). Decreases and
  cancels only lower exposure and always pass. A RiskNote is written when a side's refusal changes, not on every
  tick.
* *Daily PnL* survives restarts: ``export_state``/``import_state`` carry the trading day, the daily PnL so far and
  the HALTED flag; a restart on the same trading day adds the saved PnL as an offset to what the new portfolio
  accumulates (positions come back through PositionSnapshot). ``set_trading_day`` with a new day resets the baseline
  and lifts a halt (CONTRACTS.md).
"""

from __future__ import annotations

from collections.abc import Sequence

from kalshibot.core import events as ev
from kalshibot.core.fixed import Count, Money, Price
from kalshibot.core.orders import Order, State
from kalshibot.core.portfolio import Portfolio
from kalshibot.core.reconciler import Amend, Cancel, Place, Step
from kalshibot.core.risk import Refusal, RiskGuard, RiskLimits, RiskState


class RiskDesk:
    def __init__(self, limits: RiskLimits) -> None:
        self.portfolio = Portfolio()
        self.guard = RiskGuard(limits, self.portfolio)
        self.trading_day = ""
        self.day_start_ms = 0
        self._pnl_offset = 0
        self._last_pnl = 0
        self._refused: dict[tuple[str, str], str] = {}
        self._notes: list[ev.Output] = []

    # ------------------------------------------------------------------------------------------ state
    @property
    def state(self) -> RiskState:
        return self.guard.state

    def drain_notes(self) -> list[ev.Output]:
        if not self._notes and not self.guard.has_notes():
            return []  # every event asks: the usual answer without building a list from two
        out: list[ev.Output] = [*self.guard.notes(), *self._notes]
        self._notes = []
        return out

    def halt(self, reason: str) -> None:
        self.guard.halt(reason)

    def resume(self) -> None:
        self.guard.resume()

    def update_state(self) -> None:
        self.guard.update_state()

    # ------------------------------------------------------------------------------------------ book-keeping
    def add_market(self, spec: ev.MarketSpec) -> None:
        self.portfolio.add_market(spec)

    def position(self, ticker: str) -> Count:
        return self.portfolio.position(ticker)

    def on_fill(self, f: ev.FillEvent, new_count: Count, spec: ev.MarketSpec | None) -> None:
        if spec is not None:
            self.portfolio.add_market(spec)
        # resting counts are mirrored from the order tracker (sync_order), so no order_id here
        self.portfolio.apply_trade(f.ticker, f.book_side, f.yes_price, new_count, f.fee)
        self.guard.update_state()

    def sync_order(self, o: Order) -> None:
        p = self.portfolio
        if o.is_terminal:
            p.remove_order(o.key)
            return
        price, count = o.price, o.remaining
        if o.state is State.PENDING_AMEND and o.pending_price is not None:
            # either the old or the new order is live, never both: count one order that is at least as bad as
            # each (the dearer price for a bid, the cheaper for an ask, and the larger size)
            pp = o.pending_price
            if (pp > price) if o.side == "bid" else (pp < price):
                price = pp
            tr = o.target_remaining
            if tr > count:
                count = tr
        p.upsert_order(o.key, o.ticker, o.side, price, count)

    def set_position(self, e: ev.PositionSnapshot) -> None:
        self.portfolio.set_position(e.ticker, e.position)
        self.guard.update_state()

    def on_determined(self, ticker: str, value: int | None) -> None:
        if value is not None:
            self.portfolio.determine(ticker, Price(value))

    def settle(self, ticker: str, result: str, value: int | None) -> ev.SettlementNote:
        position = self.portfolio.position(ticker)
        fees = self.portfolio.fees_paid(ticker)
        payout = self.portfolio.settle(ticker, Price(value)) if value is not None else Money(0)
        self.guard.update_state()
        return ev.SettlementNote(ticker, result, position, payout, fees)

    # ------------------------------------------------------------------------------------------ checks
    def filter(
        self, spec: ev.MarketSpec, steps: Sequence[Step], fair: Price | None
    ) -> tuple[list[Step], dict[tuple[str, int], str]]:
        """The plan with refused steps removed (Place) or turned into cancels (Amend); and what was refused:
        ``{(side, price): limit}``."""
        out: list[Step] = []
        refused: dict[tuple[str, int], str] = {}
        temp: list[str] = []
        p = self.portfolio
        for s in steps:
            r: Refusal | None = None
            if isinstance(s, Place):
                r = self.guard.check_order(spec.ticker, spec.event_ticker, s.side, s.price, s.count, fair)
                if r is None:
                    k = f"~plan{len(temp)}"
                    temp.append(k)
                    p.upsert_order(k, spec.ticker, s.side, s.price, s.count)
                    out.append(s)
                else:
                    refused[(s.side, s.price)] = r.limit
                self._note(spec.ticker, s.side, r)
            elif isinstance(s, Amend) and not s.expiry_only:
                o = s.order
                rest = s.total - o.filled
                rest = Count(rest if rest > 0 else 0)
                r = self.guard.check_amend(o.key, s.price, rest, fair)
                if r is None:
                    out.append(s)
                else:
                    refused[(o.side, s.price)] = r.limit
                    out.append(Cancel(o, f"risk:{r.limit}"))
                self._note(spec.ticker, o.side, r)
            else:
                out.append(s)
        for k in temp:
            p.remove_order(k)
        return out, refused

    def check_flatten(
        self, spec: ev.MarketSpec, side: ev.BookSide, price: Price, count: Count, fair: Price | None
    ) -> Refusal | None:
        r = self.guard.check_order(spec.ticker, spec.event_ticker, side, price, count, fair)
        self._note(spec.ticker, side, r)
        return r

    def _note(self, ticker: str, side: str, r: Refusal | None) -> None:
        if r is None:
            if self._refused:  # nothing refused anywhere (the usual case): nothing to forget, no key to build
                self._refused.pop((ticker, side), None)
            return
        key = (ticker, side)
        before = self._refused.get(key)
        if before == r.limit:
            return
        self._refused[key] = r.limit
        self._notes.append(
            ev.RiskNote(
                r.state,
                r.limit,
                Money(r.value),
                Money(r.threshold),
                r.scope,
                r.scope_id or ticker,
                r.message or f"{side} quote refused in {ticker}",
            )
        )

    # ------------------------------------------------------------------------------------------ pnl, day
    def daily_pnl(self, marks: dict[str, Price]) -> int:
        for t, mark in marks.items():
            self.portfolio.set_mark(t, mark)
        self._last_pnl = self._pnl_offset + self.portfolio.daily_pnl()
        return self._last_pnl

    def on_pnl(self, pnl: int) -> None:
        self.guard.on_pnl(Money(pnl))

    def money_at_stake(self) -> dict[str, int]:
        p = self.portfolio
        out: dict[str, int] = {m.ticker: p.market_stake(m.ticker) for m in p.markets() if not m.settled}
        out["account"] = p.account_stake()
        return out

    def set_trading_day(self, day: str, start_ms: int) -> None:
        if day == self.trading_day:
            return
        first = self.trading_day == ""
        self.trading_day, self.day_start_ms = day, start_ms
        self._pnl_offset = 0
        self._last_pnl = 0
        if first:
            self.portfolio.start_day()
        else:
            self.guard.start_day()  # new baseline, and a halt ends with the trading day

    def export_state(self) -> dict[str, object]:
        return {
            "v": 1,
            "trading_day": self.trading_day,
            "day_start_ms": self.day_start_ms,
            "daily_pnl": self._last_pnl,
            "halted": self.guard.state == "HALTED",
            "halt_reason": self.guard.halt_reason,
        }

    def import_state(self, state: dict[str, object]) -> None:
        day = state.get("trading_day")
        start = state.get("day_start_ms")
        pnl = state.get("daily_pnl")
        if not isinstance(day, str) or not isinstance(start, int) or not isinstance(pnl, int):
            raise ValueError("engine state needs trading_day (str), day_start_ms (int), daily_pnl (int)")
        self.trading_day, self.day_start_ms = day, start
        self.portfolio.start_day()
        self._pnl_offset = self._last_pnl = pnl
        if state.get("halted"):
            reason = state.get("halt_reason")
            self.guard.halt(reason if isinstance(reason, str) and reason else "restored")
