"""Living markets: the pure scenario driver.

Theory of operation
-------------------
:class:`ScenarioDriver` turns a :class:`~kalshibot.sim.scenario_load.Scenario` into activity on an
:class:`~kalshibot.sim.exchange.Exchange`. It is pure: time comes in through :meth:`ScenarioDriver.step`
(``now_ms``), randomness from the one ``random.Random`` it is given, and everything it does goes through the
exchange's public order API as internal users, so every book change, trade and statistic comes out of the
matching engine. Same seed + same step times = same run (the driver iterates only lists and insertion-ordered
dicts, and the exchange's ids come from counters).

Work is a heap of timed actions ``(t_ms, seq, action)``; ``step(now)`` runs every action due, each at its own time
(the exchange is advanced to it first), and :meth:`next_wakeup_ms` tells the shell when to come back. ``speed``
divides every scenario duration (event lifetime, release offsets, determination and settlement delays,
participant intervals), never the timestamps: a run at speed 60 lives an hour of scenario in a minute of wall
clock. Participant intervals never shrink below ``Scenario.min_interval_ms``.

The world, per series: one *event* at a time (a new one opens when the current one closes, so there are always
open markets). Its latent underlying X follows a random walk (drift, volatility per sqrt hour) with a normal jump
at each release. A market's fair value is the probability its strike condition holds for the final value, given
the uncertainty left (remaining walk, pending jumps, final noise); at determination the final value is drawn
around X and each market's result follows from its strike (mutually exclusive brackets resolve consistently).

Participants: *liquidity providers* keep ``levels`` post-only orders per side around a belief that tracks fair
value with a lag, re-placing one level every ``interval_s`` per market (the books change at least that often);
*noise takers* send IOC orders at the touch at a Poisson rate; *informed* traders hit the book when it is more
than ``edge`` away from fair value, more often shortly before a release.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from kalshibot.core.fixed import COUNT_ONE, ONE_DOLLAR
from kalshibot.sim.exchange import Exchange
from kalshibot.sim.scenario_load import (
    InformedSpec,
    LiquidityProviderSpec,
    MarketSpec,
    NoiseTakerSpec,
    Scenario,
    SeriesSpec,
    load_scenario,
    scenario_names,
)
from kalshibot.sim.simerrors import SimError
from kalshibot.sim.state import CreateOrderParams

__all__ = ["LiveEvent", "Scenario", "ScenarioDriver", "load_scenario", "scenario_names"]

Action = Callable[[int], None]
_SQRT2 = math.sqrt(2.0)
_MS_PER_HOUR = 3_600_000


def _phi(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / _SQRT2))


@dataclass(slots=True, eq=False)
class LiveEvent:
    """One open event of a series and its latent underlying."""

    spec: SeriesSpec
    event_ticker: str
    open_ms: int
    close_ms: int
    releases_ms: list[int]  # pending releases (ascending)
    x: float  # latent underlying value
    x_ms: int  # time x was last moved to
    markets: list[tuple[str, MarketSpec]] = field(default_factory=list)
    final: float | None = None


class ScenarioDriver:
    """Drives a scenario on an exchange (see the module docstring)."""

    def __init__(
        self,
        exchange: Exchange,
        scenario: Scenario,
        rng: random.Random,
        speed: float = 1.0,
        start_ms: int | None = None,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.ex = exchange
        self.scenario = scenario
        self.rng = rng
        self.speed = speed
        self.start_ms = exchange.now_ms if start_ms is None else start_ms
        self.live: dict[str, LiveEvent] = {}  # event ticker -> live event (until determined)
        self._heap: list[tuple[int, int, Action]] = []
        self._seq = 0
        self._event_n: dict[str, int] = {}
        self._beliefs: dict[tuple[str, str], float] = {}  # (lp, ticker) -> belief
        self._lp_orders: dict[tuple[str, str, str, int], str] = {}  # (lp, ticker, side, level) -> order id
        parts: list[LiquidityProviderSpec | NoiseTakerSpec | InformedSpec] = [
            *scenario.liquidity_providers,
            *scenario.noise_takers,
            *scenario.informed,
        ]
        for p in parts:
            exchange.add_user(self._uid(p.name), p.balance, internal=True)
        for s in scenario.series:
            exchange.add_series(
                s.ticker,
                s.title,
                category=s.category,
                frequency=s.frequency,
                fee_type=s.fee_type,
                fee_multiplier_ppm=s.fee_multiplier_ppm,
            )
        for s in scenario.series:
            self._at(self.start_ms, self._opener(s))

    # --- scheduling -----------------------------------------------------------------------------------------
    @staticmethod
    def _uid(name: str) -> str:
        return f"sim-{name}"

    def _at(self, t_ms: int, action: Action) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t_ms, self._seq, action))

    def _dur(self, seconds: float) -> int:
        """A scenario duration in wall ms at this speed."""
        return max(0, round(seconds * 1000 / self.speed))

    def _interval(self, seconds: float) -> int:
        """A participant interval in wall ms (never below ``min_interval_ms``)."""
        return max(self.scenario.min_interval_ms, round(seconds * 1000 / self.speed))

    def step(self, now_ms: int) -> None:
        """Run everything due up to ``now_ms`` (each action at its own time), then advance the exchange."""
        h = self._heap
        while h and h[0][0] <= now_ms:
            t, _, action = heapq.heappop(h)
            self.ex.advance(t)
            action(self.ex.now_ms)
        self.ex.advance(now_ms)

    def next_wakeup_ms(self) -> int | None:
        times = [self._heap[0][0]] if self._heap else []
        ex_t = self.ex.next_wakeup_ms()
        if ex_t is not None:
            times.append(ex_t)
        return min(times) if times else None

    def run_until(self, end_ms: int) -> None:
        """Virtual clock: step from wake-up to wake-up until ``end_ms`` (backtests and tests)."""
        last = None
        while True:
            t = self.next_wakeup_ms()
            if t is None or t > end_ms:
                break
            t = max(t, self.ex.now_ms)
            if t == last:  # nothing moved at this instant: let the clock tick
                t += 1
            self.step(t)
            last = t
        self.step(end_ms)

    def _opener(self, s: SeriesSpec) -> Action:
        return lambda t: self._open_event(s, t)

    def _bind(self, fn: Callable[[LiveEvent, int], None], ev: LiveEvent) -> Action:
        return lambda t: fn(ev, t)

    # --- the world ---------------------------------------------------------------------------------------
    def _open_event(self, s: SeriesSpec, t: int) -> None:
        n = self._event_n[s.ticker] = self._event_n.get(s.ticker, 0) + 1
        date = datetime.fromtimestamp(t // 1000, UTC).strftime("%y%b%d").upper()
        et = f"{s.ticker}-{date}-{n}"
        u = s.underlying
        x0 = u.start + (self.rng.gauss(0.0, u.start_sd) if u.start_sd > 0 else 0.0)
        close = t + max(1, self._dur(s.lifetime_s))
        ev = LiveEvent(s, et, t, close, [t + self._dur(r) for r in s.releases_s], x0, t)
        self.ex.add_event(
            et,
            s.ticker,
            s.event_title.replace("{n}", str(n)),
            mutually_exclusive=s.mutually_exclusive,
            strike_date_ms=close,
            now_ms=t,
        )
        timer = max(0, math.ceil(s.settlement_timer_s / self.speed)) if s.settlement_timer_s else 0
        for ms in s.markets:
            ticker = f"{et}-{ms.suffix}"
            self.ex.add_market(
                ticker,
                et,
                open_ts_ms=t,
                close_ts_ms=close,
                grid=ms.grid,
                title=ms.title,
                subtitle=ms.title,
                expected_expiration_ts_ms=close + self._dur(s.determination_delay_s),
                settlement_timer_s=timer,
                strike_type=ms.strike_type,
                floor_strike=ms.floor_strike,
                cap_strike=ms.cap_strike,
                rules_primary=f"Resolves Yes if the {s.title} value is {ms.title.lower()}.",
                now_ms=t,
            )
            ev.markets.append((ticker, ms))
        self.live[et] = ev
        for r_ms in ev.releases_ms:
            self._at(r_ms, self._bind(self._release, ev))
        self._at(close, self._bind(self._on_close, ev))
        self._start_participants(ev, t)

    def _evolve(self, ev: LiveEvent, t: int) -> None:
        """Move the latent value to ``t`` (scenario time elapsed = wall time x speed)."""
        if t <= ev.x_ms:
            return
        u = ev.spec.underlying
        hours = (min(t, ev.close_ms) - ev.x_ms) * self.speed / _MS_PER_HOUR
        if hours > 0:
            ev.x += u.drift_per_hour * hours + u.vol_per_sqrt_hour * math.sqrt(hours) * self.rng.gauss(0.0, 1.0)
        ev.x_ms = t

    def _sd_left(self, ev: LiveEvent, t: int) -> float:
        u = ev.spec.underlying
        hours = max(0.0, (ev.close_ms - t) * self.speed / _MS_PER_HOUR)
        pending = sum(1 for r in ev.releases_ms if r > t)
        return math.sqrt(u.vol_per_sqrt_hour**2 * hours + pending * u.jump_sd**2 + u.final_sd**2)

    @staticmethod
    def _prob(ms: MarketSpec, x: float, sd: float) -> float:
        if ms.strike_type == "greater":
            assert ms.floor_strike is not None
            return 1.0 - _phi((ms.floor_strike - x) / sd)
        if ms.strike_type == "less":
            assert ms.cap_strike is not None
            return _phi((ms.cap_strike - x) / sd)
        assert ms.floor_strike is not None and ms.cap_strike is not None
        return _phi((ms.cap_strike - x) / sd) - _phi((ms.floor_strike - x) / sd)

    def fair_value(self, ev: LiveEvent, ms: MarketSpec, t: int) -> float:
        """The latent probability (0..1) that the market resolves YES, seen at ``t``."""
        self._evolve(ev, t)
        return self._prob(ms, ev.x, self._sd_left(ev, t))

    def _release(self, ev: LiveEvent, t: int) -> None:
        self._evolve(ev, t)
        if ev.spec.underlying.jump_sd > 0:
            ev.x += self.rng.gauss(0.0, ev.spec.underlying.jump_sd)
        ev.releases_ms = [r for r in ev.releases_ms if r > t]

    def _on_close(self, ev: LiveEvent, t: int) -> None:
        # the exchange closes the markets itself at close_ts (CloseCancel); the series rolls over now
        self._evolve(ev, t)
        if ev.spec.rollover:
            self._open_event(ev.spec, t)
        self._at(t + self._dur(ev.spec.determination_delay_s), self._bind(self._determine, ev))

    def _determine(self, ev: LiveEvent, t: int) -> None:
        u = ev.spec.underlying
        final = ev.x + self.rng.gauss(0.0, u.final_sd)
        ev.final = final
        for ticker, ms in ev.markets:
            if ms.strike_type == "greater":
                yes = final > (ms.floor_strike or 0.0)
            elif ms.strike_type == "less":
                yes = final < (ms.cap_strike or 0.0)
            else:
                yes = (ms.floor_strike or 0.0) <= final < (ms.cap_strike or 0.0)
            self.ex.determine(ticker, "yes" if yes else "no", t, expiration_value=f"{final:.{u.decimals}f}")
        self.live.pop(ev.event_ticker, None)

    # --- participants -----------------------------------------------------------------------------------------
    def _start_participants(self, ev: LiveEvent, t: int) -> None:
        s = ev.spec.ticker
        for lp in self.scenario.liquidity_providers:
            if lp.series and s not in lp.series:
                continue
            for ticker, ms in ev.markets:
                self._lp_full_ladder(lp, ev, ticker, ms, t)
                self._at(t + self._interval(self.rng.uniform(*lp.interval_s)), self._lp_action(lp, ev, ticker, ms))
        for nt in self.scenario.noise_takers:
            if (nt.series and s not in nt.series) or nt.rate_per_min <= 0:
                continue
            for ticker, _ in ev.markets:
                self._at(t + self._poisson(nt.rate_per_min), self._noise_action(nt, ticker))
        for inf in self.scenario.informed:
            if (inf.series and s not in inf.series) or inf.rate_per_min <= 0:
                continue
            self._at(t + self._poisson(inf.rate_per_min), self._informed_action(inf, ev))

    def _poisson(self, rate_per_min: float, mult: float = 1.0) -> int:
        return self._interval(self.rng.expovariate(rate_per_min * mult / 60.0))

    def _place(
        self, user: str, ticker: str, side: str, price: int, count: int, tif: str, post_only: bool
    ) -> str | None:
        try:
            r = self.ex.create_order(
                user,
                CreateOrderParams(
                    ticker,
                    "bid" if side == "bid" else "ask",
                    price,
                    count,
                    time_in_force=tif,
                    self_trade_prevention_type="maker" if post_only else "taker_at_cross",
                    post_only=post_only,
                ),
                self.ex.now_ms,
            )
        except SimError:
            return None  # market closed in between, balance exhausted, ...: the participant just skips a beat
        return r.order.order_id

    def _lp_target(self, lp: LiquidityProviderSpec, ticker: str, side: str, level: int) -> int | None:
        """The LP's price for ``level`` on ``side``: snapped to the grid in its favour and never crossing."""
        m = self.ex.markets_by_ticker[ticker]
        belief = self._beliefs[(lp.name, ticker)]
        b = round(belief * ONE_DOLLAR)
        if side == "bid":
            p = m.grid.round_bid(b - lp.half_spread - level * lp.level_step)
            ask = m.book.best_ask()
            if p is not None and ask is not None and p >= ask:
                p = m.grid.tick_down(ask)
        else:
            p = m.grid.round_ask(b + lp.half_spread + level * lp.level_step)
            bid = m.book.best_bid()
            if p is not None and bid is not None and p <= bid:
                p = m.grid.tick_up(bid)
        return p

    def _update_belief(self, lp: LiquidityProviderSpec, ev: LiveEvent, ticker: str, ms: MarketSpec, t: int) -> None:
        fair = self.fair_value(ev, ms, t)
        key = (lp.name, ticker)
        old = self._beliefs.get(key, fair)
        noise = self.rng.gauss(0.0, lp.noise / ONE_DOLLAR) if lp.noise else 0.0
        self._beliefs[key] = min(0.99, max(0.01, old + lp.tracking * (fair - old) + noise))

    def _lp_quote(self, lp: LiquidityProviderSpec, ticker: str, side: str, level: int) -> bool:
        """Re-place one ladder level (cancel the old order, post the new one); True when the book changed."""
        key = (lp.name, ticker, side, level)
        user = self._uid(lp.name)
        changed = False
        old = self._lp_orders.pop(key, None)
        if old is not None and self.ex.orders[old].status == "resting":
            self.ex.cancel_order(user, old, self.ex.now_ms)
            changed = True
        p = self._lp_target(lp, ticker, side, level)
        if p is None:
            return changed
        size = self.rng.randint(lp.size[0], lp.size[1]) * COUNT_ONE
        oid = self._place(user, ticker, side, p, size, "good_till_canceled", post_only=True)
        if oid is not None:
            self._lp_orders[key] = oid
            changed = changed or self.ex.orders[oid].status == "resting"
        return changed

    def _lp_full_ladder(self, lp: LiquidityProviderSpec, ev: LiveEvent, ticker: str, ms: MarketSpec, t: int) -> None:
        self._beliefs[(lp.name, ticker)] = min(0.99, max(0.01, self.fair_value(ev, ms, t)))
        for level in range(lp.levels):
            for side in ("bid", "ask"):
                self._lp_quote(lp, ticker, side, level)

    def _lp_action(self, lp: LiquidityProviderSpec, ev: LiveEvent, ticker: str, ms: MarketSpec) -> Action:
        def act(t: int) -> None:
            status = self.ex.markets_by_ticker[ticker].status
            if status in ("closed", "determined", "finalized"):
                # the chain ends with the market: forget its ladder (the exchange cancelled the orders)
                self._beliefs.pop((lp.name, ticker), None)
                for key in [k for k in self._lp_orders if k[0] == lp.name and k[1] == ticker]:
                    del self._lp_orders[key]
                return
            if status == "active":
                self._update_belief(lp, ev, ticker, ms, t)
                side = "bid" if self.rng.random() < 0.5 else "ask"
                level = self.rng.randrange(lp.levels)
                if not self._lp_quote(lp, ticker, side, level):
                    # nothing to do on that side (e.g. a bid below the grid near 0): quote the other side
                    self._lp_quote(lp, ticker, "ask" if side == "bid" else "bid", level)
            self._at(t + self._interval(self.rng.uniform(*lp.interval_s)), act)

        return act

    def _noise_action(self, nt: NoiseTakerSpec, ticker: str) -> Action:
        def act(t: int) -> None:
            m = self.ex.markets_by_ticker[ticker]
            if m.status in ("closed", "determined", "finalized"):
                return
            if m.status == "active":
                side = "bid" if self.rng.random() < 0.5 else "ask"
                size = self.rng.randint(nt.size[0], nt.size[1]) * COUNT_ONE
                px = m.book.best_ask() if side == "bid" else m.book.best_bid()
                if px is not None:
                    self._place(self._uid(nt.name), ticker, side, px, size, "immediate_or_cancel", post_only=False)
            self._at(t + self._poisson(nt.rate_per_min), act)

        return act

    def _informed_action(self, inf: InformedSpec, ev: LiveEvent) -> Action:
        def act(t: int) -> None:
            if t >= ev.close_ms:
                return
            ticker, ms = ev.markets[self.rng.randrange(len(ev.markets))]
            m = self.ex.markets_by_ticker[ticker]
            if m.status == "active":
                fair = round(self.fair_value(ev, ms, t) * ONE_DOLLAR)
                size = self.rng.randint(inf.size[0], inf.size[1]) * COUNT_ONE
                ask, bid = m.book.best_ask(), m.book.best_bid()
                user = self._uid(inf.name)
                if ask is not None and fair - ask > inf.edge:
                    px = m.grid.round_bid(fair - inf.edge)
                    if px is not None:
                        self._place(user, ticker, "bid", px, size, "immediate_or_cancel", post_only=False)
                elif bid is not None and bid - fair > inf.edge:
                    px = m.grid.round_ask(fair + inf.edge)
                    if px is not None:
                        self._place(user, ticker, "ask", px, size, "immediate_or_cancel", post_only=False)
            soon = any(0 <= r - t <= self._dur(inf.pre_release_s) for r in ev.releases_ms)
            self._at(t + self._poisson(inf.rate_per_min, inf.pre_release_multiplier if soon else 1.0), act)

        return act
