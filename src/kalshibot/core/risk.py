"""The risk guard: every order and amend passes through it; it owns the ACTIVE / REDUCING / HALTED state.

Theory of operation
-------------------
State machine (CONTRACTS.md "Risk definitions")::

    ACTIVE --(any limit's usage >= reducing_fraction)--> REDUCING --(all usages < exit fraction)--> ACTIVE
    ACTIVE | REDUCING --(daily loss kill, halt(): operator or exchange order-group trigger)--> HALTED
    HALTED --(resume(), or start_day() at the next trading day)--> ACTIVE (then update_state() may say REDUCING)

Every transition queues a :class:`~kalshibot.core.events.RiskNote` for the journal (:meth:`RiskGuard.notes`).

An order is judged in this order (the first failing check answers, as a :class:`Refusal` naming the limit, the
value, the threshold and its scope):

1. fat-finger checks, always, whatever the state: a positive count no larger than ``max_order_size``, a price
   strictly inside (0, 1) and, when a fair value is known, within ``price_band`` of it;
2. HALTED refuses everything (reducing orders too);
3. a *reducing* order (:meth:`Portfolio.would_be_reducing`: it cannot increase |position| even if it and all our
   other resting orders in the market fill) passes the exposure limits in ACTIVE and REDUCING, with one exception
   we add for safety: it must not raise money at stake at the event or account scope above a limit (a position in
   one market can hedge another market of a mutually exclusive event, so unwinding it there can raise the event's
   worst case; in one market a reducing order never raises the worst case, see tests);
4. REDUCING refuses every order that is not reducing;
5. exposure limits, judged on the portfolio *as if the order rested* (worst case over outcomes and over which of
   our resting orders fill): money at stake per market (``max_notional_per_market``), per event, per account,
   and the largest |position| reachable (``max_position``).

An amend (:meth:`RiskGuard.check_amend`) is the same judgement with the existing order replaced by its new price
and remaining count. Values and thresholds are fixed-point ints (micro-dollars, centi-contracts).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from kalshibot.core.events import BookSide, RiskNote
from kalshibot.core.fixed import ONE_DOLLAR, Count, Money, Price
from kalshibot.core.portfolio import Hypothetical, Portfolio, hypothetical

RiskState = Literal["ACTIVE", "REDUCING", "HALTED"]
Scope = Literal["market", "event", "account"]


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Limits; ``None`` disables one. Money in micro-dollars, counts in centi-contracts."""

    max_notional_per_market: Money = Money(500_000_000)  # $500 of money at stake per market
    daily_loss_kill: Money = Money(100_000_000)  # $100 daily loss -> HALTED
    max_event_exposure: Money | None = Money(1_000_000_000)  # $1,000 per event
    max_account_exposure: Money | None = Money(2_500_000_000)  # $2,500 per account
    max_position: Count | None = Count(50_000)  # 500 contracts either way
    max_order_size: Count | None = Count(10_000)  # 100 contracts per order
    price_band: Price | None = Price(100_000)  # $0.10 around fair value
    reducing_fraction: float = 0.8  # ACTIVE -> REDUCING at 80% of any limit
    reducing_hysteresis: float = 0.05  # back to ACTIVE below 75%

    def __post_init__(self) -> None:
        if not 0 < self.reducing_fraction <= 1 or not 0 <= self.reducing_hysteresis < self.reducing_fraction:
            raise ValueError("need 0 < reducing_fraction <= 1 and 0 <= reducing_hysteresis < reducing_fraction")
        for name in ("max_notional_per_market", "daily_loss_kill"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")


@dataclass(frozen=True, slots=True)
class Refusal:
    limit: str
    value: int
    threshold: int
    scope: Scope
    scope_id: str
    state: RiskState
    message: str = ""


@dataclass(frozen=True, slots=True)
class Usage:
    """One limit's use, for update_state and status displays."""

    limit: str
    value: int
    threshold: int
    scope: Scope
    scope_id: str

    @property
    def fraction(self) -> float:
        if self.threshold <= 0:
            return float("inf") if self.value > 0 else 0.0
        return self.value / self.threshold


class RiskGuard:
    def __init__(self, limits: RiskLimits, portfolio: Portfolio) -> None:
        self.limits = limits
        self.portfolio = portfolio
        self._state: RiskState = "ACTIVE"
        self._notes: list[RiskNote] = []
        self._last_daily_pnl: Money = Money(0)
        self.halt_reason = ""

    @property
    def state(self) -> RiskState:
        return self._state

    def has_notes(self) -> bool:
        """Whether :meth:`notes` has anything to drain."""
        return bool(self._notes)

    def notes(self) -> list[RiskNote]:
        """RiskNotes for the transitions since the last call (drained)."""
        out, self._notes = self._notes, []
        return out

    # --- transitions --------------------------------------------------------------------------------------
    def _move(
        self, new: RiskState, limit: str, value: int | None, threshold: int | None, scope: Scope, sid: str, message: str
    ) -> None:
        if new == self._state:
            return
        self._state = new
        v = None if value is None else Money(value)
        t = None if threshold is None else Money(threshold)
        self._notes.append(RiskNote(new, limit, v, t, scope, sid, message))

    def halt(self, reason: str) -> None:
        """Kill switch (operator, exchange order-group trigger, daily loss): nothing new until resume/next day."""
        self.halt_reason = reason
        self._move("HALTED", reason, None, None, "account", "", f"halted: {reason}")

    def resume(self) -> None:
        if self._state == "HALTED":
            self.halt_reason = ""
            self._move("ACTIVE", "resume", None, None, "account", "", "resumed")
        self.update_state()

    def start_day(self) -> None:
        """The next trading day: daily PnL restarts (the portfolio's baseline moves) and a halt is lifted."""
        self.portfolio.start_day()
        self._last_daily_pnl = Money(0)
        self.resume()

    def on_pnl(self, daily_pnl: Money) -> None:
        """Feed the current daily PnL; a loss at or beyond ``daily_loss_kill`` halts."""
        self._last_daily_pnl = daily_pnl
        if -daily_pnl >= self.limits.daily_loss_kill and self._state != "HALTED":
            self.halt_reason = "daily_loss_kill"
            self._move(
                "HALTED", "daily_loss_kill", -daily_pnl, self.limits.daily_loss_kill, "account", "", "daily loss kill"
            )

    def usages(self) -> list[Usage]:
        p, lim = self.portfolio, self.limits
        out = [Usage("daily_loss_kill", max(0, -self._last_daily_pnl), lim.daily_loss_kill, "account", "")]
        events: set[str] = set()
        for m in p.markets():
            if m.settled:
                continue
            events.add(m.event_ticker)
            out.append(
                Usage(
                    "max_notional_per_market", p.market_stake(m.ticker), lim.max_notional_per_market, "market", m.ticker
                )
            )
            if lim.max_position is not None:
                lo, hi = p.position_bounds(m.ticker)
                out.append(Usage("max_position", max(-lo, hi), lim.max_position, "market", m.ticker))
        if lim.max_event_exposure is not None:
            out += [Usage("max_event_exposure", p.event_stake(e), lim.max_event_exposure, "event", e) for e in events]
        if lim.max_account_exposure is not None:
            out.append(Usage("max_account_exposure", p.account_stake(), lim.max_account_exposure, "account", ""))
        return out

    def update_state(self) -> RiskState:
        """ACTIVE <-> REDUCING from the current usage of every limit (HALTED is left alone)."""
        if self._state == "HALTED":
            return self._state
        worst = max(self.usages(), key=lambda u: u.fraction)
        if self._state == "ACTIVE" and worst.fraction >= self.limits.reducing_fraction:
            self._move(
                "REDUCING",
                worst.limit,
                worst.value,
                worst.threshold,
                worst.scope,
                worst.scope_id,
                f"{worst.fraction:.0%} of {worst.limit} used",
            )
        elif (
            self._state == "REDUCING"
            and worst.fraction < self.limits.reducing_fraction - self.limits.reducing_hysteresis
        ):
            self._move(
                "ACTIVE",
                worst.limit,
                worst.value,
                worst.threshold,
                worst.scope,
                worst.scope_id,
                "all limits below the reducing threshold",
            )
        return self._state

    # --- checks -------------------------------------------------------------------------------------------
    def check_order(
        self,
        ticker: str,
        event_ticker: str,
        side: BookSide,
        price: Price,
        count: Count,
        fair: Price | None,
    ) -> Refusal | None:
        """None if a new order may be sent, else the first limit it breaks."""
        self.portfolio.ensure_market(ticker, event_ticker)
        return self._check(hypothetical(ticker, side, price, count, None), fair)

    def check_amend(self, order_id: str, new_price: Price, new_count: Count, fair: Price | None) -> Refusal | None:
        """Judge an amend of our resting order ``order_id`` to ``new_price`` with ``new_count`` left resting
        (the remainder, not V2's filled + remainder), on the exposure that results."""
        o = self.portfolio.order(order_id)
        if o is None:
            return Refusal("unknown_order", 0, 0, "market", "", self._state, f"no resting order {order_id}")
        return self._check(hypothetical(o.ticker, o.side, new_price, new_count, order_id), fair)

    def _refuse(self, limit: str, value: int, threshold: int, scope: Scope, sid: str, msg: str = "") -> Refusal:
        return Refusal(limit, value, threshold, scope, sid, self._state, msg)

    def fat_finger(self, ticker: str, price: Price, count: Count, fair: Price | None) -> Refusal | None:
        """Check 1 of every order (module docstring), whatever the state and the portfolio: the first failing
        fat-finger check, or None. :meth:`_check` starts with it; the desk's bounded filter runs it per step."""
        lim = self.limits
        if count <= 0:
            return self._refuse("order_size", count, 1, "market", ticker, "count must be positive")
        if lim.max_order_size is not None and count > lim.max_order_size:
            return self._refuse("max_order_size", count, lim.max_order_size, "market", ticker)
        if not 0 < price < ONE_DOLLAR:
            return self._refuse("price_range", price, ONE_DOLLAR, "market", ticker, "price outside (0, 1)")
        if lim.price_band is not None and fair is not None and abs(price - fair) > lim.price_band:
            return self._refuse(
                "price_band", abs(price - fair), lim.price_band, "market", ticker, "price too far from fair value"
            )
        return None

    def _check(self, h: Hypothetical, fair: Price | None) -> Refusal | None:
        lim, p = self.limits, self.portfolio
        # 1. fat-finger: always
        r = self.fat_finger(h.ticker, h.price, h.count, fair)
        if r is not None:
            return r
        # 2. halted
        if self._state == "HALTED":
            return self._refuse("halted", 0, 0, "account", "", self.halt_reason or "halted")
        # would_be_reducing, market_stake and position_bounds of h in one pass (pure: computing the stake and the
        # bounds before they are needed changes no answer)
        reducing, stake, lo, hi = p.judge_market(h)
        if reducing:
            # 3. reducing: exposure limits do not apply, except that event/account stake must not be raised
            # above a limit (see module docstring)
            return self._no_increase_over(h, p.event_of(h.ticker))
        # 4. reducing-only state
        if self._state == "REDUCING":
            return self._refuse("reducing_only", 0, 0, "market", h.ticker, "only reducing orders pass in REDUCING")
        # 5. exposure
        if stake > lim.max_notional_per_market:
            return self._refuse("max_notional_per_market", stake, lim.max_notional_per_market, "market", h.ticker)
        if lim.max_position is not None:
            reach = -lo if -lo > hi else hi
            if reach > lim.max_position:
                return self._refuse("max_position", reach, lim.max_position, "market", h.ticker)
        if lim.max_event_exposure is not None and lim.max_account_exposure is not None:
            # both limits set (the default): both figures from one call (computing the account's before the
            # event's verdict is read changes no answer: the portfolio's figures are pure)
            es, acc = p.stakes_as_if(h)
            if es > lim.max_event_exposure:
                return self._refuse("max_event_exposure", es, lim.max_event_exposure, "event", p.event_of(h.ticker))
            if acc > lim.max_account_exposure:
                return self._refuse("max_account_exposure", acc, lim.max_account_exposure, "account", "")
            return None
        event = p.event_of(h.ticker)
        if lim.max_event_exposure is not None:
            es = p.event_stake(event, h)
            if es > lim.max_event_exposure:
                return self._refuse("max_event_exposure", es, lim.max_event_exposure, "event", event)
        if lim.max_account_exposure is not None:
            acc = p.account_stake(h)
            if acc > lim.max_account_exposure:
                return self._refuse("max_account_exposure", acc, lim.max_account_exposure, "account", "")
        return None

    def _no_increase_over(self, h: Hypothetical, event: str) -> Refusal | None:
        lim, p = self.limits, self.portfolio
        if lim.max_event_exposure is not None:
            after = p.event_stake(event, h)
            if after > lim.max_event_exposure and after > p.event_stake(event):
                return self._refuse(
                    "max_event_exposure",
                    after,
                    lim.max_event_exposure,
                    "event",
                    event,
                    "reducing in this market would raise the event's worst case",
                )
        if lim.max_account_exposure is not None:
            after = p.account_stake(h)
            if after > lim.max_account_exposure and after > p.account_stake():
                return self._refuse(
                    "max_account_exposure",
                    after,
                    lim.max_account_exposure,
                    "account",
                    "",
                    "reducing in this market would raise the account's worst case",
                )
        return None
