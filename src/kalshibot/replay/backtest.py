"""``kalshibot backtest --scenario NAME|PATH|all [--strategies LIST] [--seed N] [--duration S]``.

Theory of operation
-------------------
Each strategy (a :class:`~kalshibot.config.Settings`) runs alone against its own copy of the simulated world: a
pure :class:`~kalshibot.sim.exchange.Exchange` driven by a :class:`~kalshibot.sim.scenario.ScenarioDriver` seeded
with ``--seed``, the same :class:`~kalshibot.core.engine.Engine` the daemon runs (configured by
:func:`kalshibot.wiring.engine_config`), and :class:`~kalshibot.replay.backtest_venue.SimVenue` between them. One
virtual clock drives both: it jumps to the earliest of ``engine.next_deadline()``, ``driver.next_wakeup_ms()`` and
the next event due to reach the engine; the driver acts, what the exchange announced :data:`LATENCY_MS` ago reaches
the engine in exchange order (through :class:`~kalshibot.replay.whatif.EngineHarness`, shared with replay's "what
if"), the engine's orders go to the exchange at that instant (their answers come back after the latency), and
due engine timers fire. Nothing reads a wall clock or global
randomness, so the same seed gives byte-identical output. The flow starts identical for every strategy; once a
strategy's orders change the book, the synthetic participants react to it, so the worlds diverge from there.

Per strategy the table shows (analytics from :class:`~kalshibot.replay.analytics.Analytics` over the exchange's
own fills and books): net PnL after fees (open positions marked to the mid, or to the settlement value once
determined), max drawdown of that PnL curve, max money at stake and limit breaches (both from the *simulator's*
account state, :mod:`kalshibot.replay.backtest_limits`, at every fill of the bot and after every batch of its
requests), fills, two-sided uptime, tokens spent (API.md §7.1: 10 per create/amend/decrease, 2 per cancel), and the
hypothesis verdict when the config states one (:func:`kalshibot.replay.hypothesis.judge`).

The exit code is 1 when any strategy breached a limit (the promise is zero), else 0.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from kalshibot.config import Settings, load_settings, parse_settings_text
from kalshibot.core import events as ev
from kalshibot.core.engine import Engine
from kalshibot.errors import UsageError
from kalshibot.replay.analytics import Analytics, Summary
from kalshibot.replay.backtest_limits import Breach, LimitChecker
from kalshibot.replay.backtest_venue import SimVenue
from kalshibot.replay.hypothesis import Judgement, judge
from kalshibot.replay.whatif import EngineHarness
from kalshibot.sim.exchange import Exchange
from kalshibot.sim.markets import Market
from kalshibot.sim.scenario import Scenario, ScenarioDriver, load_scenario, scenario_names
from kalshibot.wiring import engine_config, trading_day

BOT_USER = "backtest-bot"
# Virtual start: Monday 2026-01-05 14:00 UTC (09:00 in New York), so a default-length run stays in one trading day.
START_MS = 1_767_621_600_000

# The guide's quoter and limits (seed guide, "Quote with inventory skew" and "Send orders safely"): SPREAD 0.02,
# SKEW 0.005 per contract around the mid, cancel-replace on every quote change (policy cancel_replace, tolerance
# 0), MAX_NOTIONAL 500 per market, DAILY_LOSS_KILL 100. The guide has no good-till-time on quotes and no rule about
# closing time, so neither does this baseline; everything else is our default.
GUIDE_YAML = """
quoting:
  model: linear
  fair_value: mid
  spread: 0.02
  skew: 0.005
  policy: cancel_replace
  requote_tolerance_ticks: 0
  expiration_s: 0
risk:
  max_notional_per_market: 500
  daily_loss_kill: 100
timing:
  stop_before_close_min: 0
hypothesis:
  statement: "The guide's linear quoter (2c spread, 0.5c skew per contract) earns a positive net PnL per contract"
  metric: net_pnl_per_contract
  threshold: 0
  min_fills: 100
"""
# Round trip between the bot and the exchange: our requests reach the exchange at once; its answers and everything
# it announces (market data included) reach the engine this much later, in exchange order.
LATENCY_MS = 50
BUILTIN_STRATEGIES = {"guide": GUIDE_YAML, "default": ""}
DEFAULT_STRATEGIES = "guide,default"


@dataclass(frozen=True, slots=True)
class Strategy:
    name: str
    settings: Settings


@dataclass(slots=True)
class StrategyResult:
    name: str
    summary: Summary
    breaches: int
    first_breaches: list[Breach]
    checks: int
    max_account_stake: int
    max_market_stake: int
    requests: dict[str, int]
    tokens: int
    peak_tokens_per_s: int
    rejects: dict[str, int]
    risk_state: str
    open_contracts: int
    judgement: Judgement | None = None


@dataclass(slots=True)
class ScenarioResult:
    scenario: Scenario
    seed: int
    duration_ms: int
    markets: int
    results: list[StrategyResult] = field(default_factory=list)


# ------------------------------------------------------------------------------------------------ strategies
def _settings_text(text: str, source: str) -> Settings:
    return parse_settings_text(text, source=source, env={}, env_file=None, require_secrets=False)


def resolve_strategies(spec: str | None) -> list[Strategy]:
    """``guide``, ``default`` or paths to config YAMLs, comma-separated (the name of a file is its stem)."""
    out: list[Strategy] = []
    for raw in (spec or DEFAULT_STRATEGIES).split(","):
        item = raw.strip()
        if not item:
            continue
        if item in BUILTIN_STRATEGIES:
            out.append(Strategy(item, _settings_text(BUILTIN_STRATEGIES[item], f"<strategy {item}>")))
            continue
        p = Path(item)
        if not p.exists():
            raise UsageError(f"--strategies: {item!r} is neither guide, default nor an existing config file")
        out.append(Strategy(p.stem, load_settings(p, env={}, env_file=None, require_secrets=False)))
    if not out:
        raise UsageError("--strategies: no strategy named")
    names = [s.name for s in out]
    if len(set(names)) != len(names):
        raise UsageError(f"--strategies: two strategies share a name: {', '.join(names)}")
    return out


def scenario_length_ms(sc: Scenario, speed: float = 1.0) -> int:
    """One full life of each series' first event: open -> close -> determined -> settled (the longest)."""
    longest = max((s.lifetime_s + s.determination_delay_s + s.settlement_timer_s for s in sc.series), default=0.0)
    return round(longest * 1000 / speed) + 1_000


# --------------------------------------------------------------------------------------------------- running
def _universe_filter(settings: Settings) -> Callable[[Market], bool]:
    series = set(settings.universe.series or ())
    markets = set(settings.universe.markets or ())

    def accept(m: Market) -> bool:
        return (not series or m.series_ticker in series) and (not markets or m.ticker in markets)

    return accept


class BacktestRun:
    """One strategy in its own simulated world (see the module docstring); :meth:`run` moves the virtual clock."""

    def __init__(
        self,
        scenario: Scenario,
        strategy: Strategy,
        *,
        seed: int,
        start_ms: int = START_MS,
        latency_ms: int = LATENCY_MS,
    ) -> None:
        s = self.settings = strategy.settings
        self.strategy = strategy
        self.exchange = ex = Exchange(now_ms=start_ms, rate_limit_tier="off")
        self.start_balance = s.sim.balance
        ex.add_user(BOT_USER, s.sim.balance)
        group = ex.create_order_group(BOT_USER, s.risk.order_group_contracts_limit, start_ms)
        self.config = engine_config(s, start_ms)
        self.engine = Engine(self.config, client_order_id_prefix=s.client_order_id_prefix, id_seed=f"bt{seed}")
        day_id, day_start, self._next_day = trading_day(start_ms, s.risk.trading_day_tz)
        self.engine.set_trading_day(day_id, day_start)
        self.analytics = Analytics()  # fed at exchange time by the venue: the truth, not what the engine saw yet
        self.checker = LimitChecker(ex, BOT_USER, self.config.risk)
        self.venue = SimVenue(
            ex,
            BOT_USER,
            latency_ms=latency_ms,
            observer=self.analytics,
            order_group_id=group.group_id,
            accept=_universe_filter(s),
            on_fill=lambda: self.checker.check(ex.now_ms),
        )
        # the harness's own Analytics only counts requests; fills are recorded by the venue at exchange time
        self.harness = EngineHarness(self.engine, self._submit, Analytics(horizons_ms=()))
        self.harness.now_ms = start_ms
        self.driver = ScenarioDriver(ex, scenario, random.Random(seed), 1.0, start_ms)
        self.now_ms = start_ms

    def _submit(self, actions: list[ev.Action]) -> None:
        self.venue.submit(actions, self.harness.now_ms)
        self.checker.check(self.harness.now_ms)  # our orders changed: worst case with every resting order filling

    def run(self, until_ms: int) -> None:
        """Move the virtual clock to ``until_ms``, from wake-up to wake-up (driver, engine deadline, pipe)."""
        last = self.now_ms
        while True:
            due = [
                t
                for t in (self.driver.next_wakeup_ms(), self.engine.next_deadline(), self.venue.next_due_ms())
                if t is not None
            ]
            if not due:
                break
            t = max(min(due), last + 1)  # time always moves: a deadline that does not clear cannot spin the loop
            if t > until_ms:
                break
            self._instant(t)
            last = t
        self._instant(max(until_ms, last))

    def _instant(self, t: int) -> None:
        """One instant: the world acts, what reached the engine by now is handled in exchange order (its orders go
        to the exchange at once, their answers come back after the latency), then the engine's due timers fire."""
        s = self.settings
        if t >= self._next_day:
            day_id, day_start, self._next_day = trading_day(t, s.risk.trading_day_tz)
            self.engine.set_trading_day(day_id, day_start)
        h = self.harness
        h.now_ms = max(h.now_ms, t)
        self.driver.step(t)
        self.venue.pump(t)
        batch = self.venue.arrived(t)
        if batch:
            for e in batch[:-1]:
                h.deliver(e)
            h.handle(batch[-1], t)
        h.run_timers(t)
        self.now_ms = max(self.now_ms, t)

    def result(self) -> StrategyResult:
        summary = self.analytics.finish(self.now_ms)
        hyp = self.settings.hypothesis
        positions = self.exchange.account_state(BOT_USER)["positions"]
        assert isinstance(positions, dict)
        v, c = self.venue, self.checker
        return StrategyResult(
            name=self.strategy.name,
            summary=summary,
            breaches=c.breach_count,
            first_breaches=list(c.first),
            checks=c.checks,
            max_account_stake=c.max_account_stake,
            max_market_stake=c.max_market_stake,
            requests=dict(v.requests),
            tokens=v.tokens,
            peak_tokens_per_s=v.peak_tokens_per_s,
            rejects=dict(sorted(v.rejects.items())),
            risk_state=self.engine.risk_state,
            open_contracts=sum(abs(int(x)) for x in positions.values()),
            judgement=judge(hyp, summary) if hyp is not None else None,
        )


def run_strategy(
    scenario: Scenario,
    strategy: Strategy,
    *,
    seed: int,
    duration_ms: int,
    start_ms: int = START_MS,
    latency_ms: int = LATENCY_MS,
) -> tuple[StrategyResult, int]:
    """One strategy over ``duration_ms`` of virtual time; returns its result and the number of markets seen."""
    bt = BacktestRun(scenario, strategy, seed=seed, start_ms=start_ms, latency_ms=latency_ms)
    bt.run(start_ms + duration_ms)
    return bt.result(), len(bt.venue.markets)


def run_scenario(
    scenario: Scenario, strategies: list[Strategy], *, seed: int, duration_ms: int | None = None
) -> ScenarioResult:
    dur = duration_ms if duration_ms is not None else scenario_length_ms(scenario)
    out = ScenarioResult(scenario, seed, dur, 0)
    for st in strategies:
        r, n = run_strategy(scenario, st, seed=seed, duration_ms=dur)
        out.results.append(r)
        out.markets = max(out.markets, n)
    return out


# ---------------------------------------------------------------------------------------------------- table
def usd(micros: int) -> str:
    """Micro-dollars as dollars with cents, rounded half away from zero (display only)."""
    sign = "-" if micros < 0 else ""
    cents = (abs(micros) + 5_000) // 10_000
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def _permille(p: int) -> str:
    return f"{p // 10}.{p % 10}%"


def _rows(r: StrategyResult) -> list[tuple[str, str]]:
    s = r.summary
    req = r.requests
    return [
        ("net PnL after fees ($)", usd(s.net_pnl)),
        ("  realized ($)", usd(s.realized)),
        ("  fees paid ($)", usd(s.fees)),
        ("max drawdown ($)", usd(s.max_drawdown)),
        ("max money at stake ($)", usd(r.max_account_stake)),
        ("  largest in one market ($)", usd(r.max_market_stake)),
        ("fills", str(s.fills)),
        ("  contracts", str(s.contracts // 100)),
        ("  maker share", _permille(s.maker_contracts * 1000 // s.contracts) if s.contracts else "-"),
        ("two-sided uptime", _permille(s.two_sided_permille)),
        ("tokens spent", str(r.tokens)),
        ("  peak tokens in one second", str(r.peak_tokens_per_s)),
        ("  create/amend/decrease/cancel", f"{req['create']}/{req['amend']}/{req['decrease']}/{req['cancel']}"),
        ("  rejected", str(sum(r.rejects.values()))),
        ("limit breaches", str(r.breaches)),
        ("  checks of the sim's account", str(r.checks)),
        ("open contracts at end", str(r.open_contracts // 100)),
        ("risk state at end", r.risk_state),
    ]


def render(sr: ScenarioResult, out: TextIO) -> None:
    sc = sr.scenario
    secs = sr.duration_ms // 1000
    out.write(f"scenario {sc.name}: {' '.join(sc.description.split())}\n")
    out.write(f"seed {sr.seed}, {secs // 60} min {secs % 60} s of virtual time, {sr.markets} markets\n\n")
    names = [r.name for r in sr.results]
    table = [_rows(r) for r in sr.results]
    labels = [lab for lab, _ in table[0]] if table else []
    lw = max([len("metric"), *(len(x) for x in labels)]) + 2
    widths = [max(len(n), *(len(v) for _, v in rows)) + 2 for n, rows in zip(names, table)]
    out.write("metric".ljust(lw) + "".join(n.rjust(w) for n, w in zip(names, widths)) + "\n")
    out.write("-" * (lw + sum(widths)) + "\n")
    for i, lab in enumerate(labels):
        out.write(lab.ljust(lw) + "".join(rows[i][1].rjust(w) for rows, w in zip(table, widths)) + "\n")
    for r in sr.results:
        if r.judgement is not None:
            out.write(f"{r.name}: {r.judgement.line}\n")
        if r.rejects:
            out.write(f"{r.name}: rejects " + ", ".join(f"{k} {v}" for k, v in r.rejects.items()) + "\n")
        for b in r.first_breaches:
            out.write(
                f"{r.name}: BREACH at {b.ts_ms - START_MS} ms: {b.limit} {b.scope} {b.scope_id or '-'} "
                f"value {b.value} > {b.threshold}\n"
            )
    out.write("\n")


# -------------------------------------------------------------------------------------------------------- CLI
def backtest_main(args: argparse.Namespace) -> int:
    strategies = resolve_strategies(getattr(args, "strategies", None))
    name = str(args.scenario)
    names = scenario_names() if name == "all" else [name]
    scenarios = [load_scenario(n) for n in names]
    seed = int(getattr(args, "seed", 1))
    duration_s = getattr(args, "duration", None)
    if duration_s is not None and duration_s <= 0:
        raise UsageError("--duration: must be a positive number of seconds")
    duration_ms = None if duration_s is None else round(float(duration_s) * 1000)
    breached = 0
    for sc in scenarios:
        sr = run_scenario(sc, strategies, seed=seed, duration_ms=duration_ms)
        render(sr, sys.stdout)
        sys.stdout.flush()
        breached += sum(r.breaches for r in sr.results)
    if breached:
        print(f"kalshibot: backtest: {breached} limit breaches (see the BREACH lines)", file=sys.stderr)
        return 1
    return 0
