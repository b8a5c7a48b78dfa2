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
  tick. In ACTIVE, one upper bound of the whole plan's exposure (``Portfolio.plan_bound``) within every limit
  answers for all its steps at once (each then only runs its fat-finger checks): the same steps, refusals and
  notes as judging them one by one (``_filter_bounded``).
* *Daily PnL* survives restarts: ``export_state``/``import_state`` carry the trading day, the daily PnL so far and
  the HALTED flag; a restart on the same trading day adds the saved PnL as an offset to what the new portfolio
  accumulates (positions come back through PositionSnapshot). ``set_trading_day`` with a new day resets the baseline
  and lifts a halt (CONTRACTS.md).
"""

from __future__ import annotations

from collections.abc import Sequence

from kalshibot.core import events as ev
from kalshibot.core.fixed import Count, Money, Price
from kalshibot.core.orders import TERMINAL, Order, State
from kalshibot.core.portfolio import Portfolio
from kalshibot.core.reconciler import Amend, Cancel, Place, Step
from kalshibot.core.risk import Refusal, RiskGuard, RiskLimits, RiskState

_PENDING_AMEND = State.PENDING_AMEND  # bound once: an Enum member read through its class costs a metaclass lookup


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
        # filter() judges an ACTIVE plan by one bound when it can (_filter_bounded); False: always step by step
        # (the differential tests compare the two)
        self.use_bound = True

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
        state = o.state
        if state in TERMINAL:  # o.is_terminal
            self.portfolio.remove_order(o.key)
            return
        # o.remaining and o.target_remaining of a live order, from one read of o.filled (the properties' own
        # formulas, inlined: this runs for every order action of a requote; tests/test_perf_core4_sync.py)
        a, b = o.fills_counted, o.venue_filled
        filled = a if a >= b else b
        count = o.total - filled
        if count < 0:
            count = 0
        price = o.price
        if state is _PENDING_AMEND and o.pending_price is not None:
            # either the old or the new order is live, never both: count one order that is at least as bad as
            # each (the dearer price for a bid, the cheaper for an ask, and the larger size)
            pp = o.pending_price
            if (pp > price) if o.side == "bid" else (pp < price):
                price = pp
            pt = o.pending_total
            tr = (pt if pt is not None else o.total) - filled
            if tr > count:
                count = tr
        self.portfolio.upsert_order(o.key, o.ticker, o.side, price, Count(count))

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
        if self.use_bound and self.guard.state == "ACTIVE":
            fast = self._filter_bounded(spec, steps, fair)
            if fast is not None:
                return fast
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

    def _filter_bounded(
        self, spec: ev.MarketSpec, steps: Sequence[Step], fair: Price | None
    ) -> tuple[list[Step], dict[tuple[str, int], str]] | None:
        """:meth:`filter` in ACTIVE when one bound of the whole plan passes every exposure limit; None (nothing
        noted, nothing changed but the portfolio's caches) when it does not, and the caller judges step by step.

        In ACTIVE a check (risk.py ``_check``) refuses a step only for a fat-finger limit (run here per step, with
        the same code) or an exposure figure above its limit: the market stake, the reach or the event or
        account stake as if it rested (an order that would be reducing passes unless the event or account stake
        as if it rested exceeds a limit). :meth:`Portfolio.plan_bound` bounds each of those figures for every
        check of the plan at once (the proof is there), counting every place and amend that passes the fat-finger
        checks, at the worse of its old and new figures; if the bound is within every limit, no check can refuse
        on exposure, so each step's answer is its fat-finger answer. The plan's order, its notes and the
        Cancel for a refused amend are as in the step-by-step loop. One bound costs about one exact check; a plan
        with two or more checks (both sides moved) saves the rest (issue 9)."""
        guard = self.guard
        fat_finger = guard.fat_finger
        ticker = spec.ticker
        # one pass: each step's fat-finger verdict, and the plan and refusals as they are if no exposure limit
        # refuses (built before the bound is known: pure, dropped when the caller judges step by step)
        out: list[Step] = []
        refused: dict[tuple[str, int], str] = {}
        verdicts: list[tuple[str, Refusal | None]] = []  # (side, verdict) per judged step, for the notes
        amends: dict[str, tuple[int, int]] = {}
        places: list[tuple[str, int, int]] = []
        for s in steps:  # the amend first: a sending requote's usual step (the classes are disjoint)
            if isinstance(s, Amend) and not s.expiry_only:
                o = s.order
                key = o.key
                if key in amends:
                    return None  # two amends of one order (the reconciler plans one): step by step
                rest = s.total - o.filled
                if rest < 0:
                    rest = 0
                r = fat_finger(ticker, s.price, Count(rest), fair)
                if r is None:
                    # an order the portfolio does not hold in this market (check_amend: "unknown_order", or
                    # another market's figures) makes plan_bound decline: step by step
                    amends[key] = (s.price, rest)
                    out.append(s)
                else:
                    ro = self.portfolio.order(key)
                    if ro is None or ro.ticker != ticker:
                        return None  # check_amend answers "unknown_order" before the fat-finger checks
                    refused[(o.side, s.price)] = r.limit
                    out.append(Cancel(o, f"risk:{r.limit}"))
                verdicts.append((o.side, r))
            elif isinstance(s, Place):
                r = fat_finger(ticker, s.price, s.count, fair)
                if r is None:
                    places.append((s.side, s.price, s.count))
                    out.append(s)
                else:
                    refused[(s.side, s.price)] = r.limit
                verdicts.append((s.side, r))
            else:
                out.append(s)
        if not verdicts:
            return out, refused  # nothing is judged: every step passes unchanged, nothing is noted
        b = self.portfolio.plan_bound(ticker, amends, places)
        if b is None:
            return None
        lim = guard.limits
        stake, reach, event, account = b
        if (
            stake > lim.max_notional_per_market
            or (lim.max_position is not None and reach > lim.max_position)
            or (lim.max_event_exposure is not None and event > lim.max_event_exposure)
            or (lim.max_account_exposure is not None and account > lim.max_account_exposure)
        ):
            return None
        if refused or self._refused:  # else every verdict is None and nothing is remembered: no note changes
            for side, r in verdicts:
                self._note(ticker, side, r)
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
