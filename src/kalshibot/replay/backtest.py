"""``kalshibot backtest --scenario NAME|PATH|all [--strategies LIST] [--seed N] [--duration S]``.

Theory of operation
-------------------
Each strategy (a :class:`~kalshibot.config.Settings`) runs alone against its own copy of the simulated world: a
pure :class:`~kalshibot.sim.exchange.Exchange` driven by a :class:`~kalshibot.sim.scenario.ScenarioDriver` seeded
with ``--seed``, the same :class:`~kalshibot.core.engine.Engine` the daemon runs (configured by
:func:`kalshibot.wiring.engine_config`), and :class:`~kalshibot.replay.backtest_venue.SimVenue` between them. One
virtual clock drives both: it jumps to ``min(engine.next_deadline(), driver.next_wakeup_ms())``, the driver acts,
the exchange's announcements reach the engine in exchange order (through
:class:`~kalshibot.replay.whatif.EngineHarness`, shared with replay's "what if"), the engine's orders go straight
back to the exchange at that instant, and due engine timers fire. Nothing reads a wall clock or global
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


def run_strategy(
    scenario: Scenario, strategy: Strategy, *, seed: int, duration_ms: int, start_ms: int = START_MS
) -> tuple[StrategyResult, int]:
    """One strategy over ``duration_ms`` of virtual time; returns its result and the number of markets seen."""
    s = strategy.settings
    ex = Exchange(now_ms=start_ms, rate_limit_tier="off")
    ex.add_user(BOT_USER, s.sim.balance)
    group = ex.create_order_group(BOT_USER, s.risk.order_group_contracts_limit, start_ms, s.subaccount)
    config = engine_config(s, start_ms)
    engine = Engine(config, client_order_id_prefix=s.client_order_id_prefix, id_seed=f"bt{seed}")
    day_id, day_start, next_day = trading_day(start_ms, s.risk.trading_day_tz)
    engine.set_trading_day(day_id, day_start)
    analytics = Analytics()
    checker = LimitChecker(ex, BOT_USER, config.risk)
    venue: SimVenue

    def submit(actions: list[ev.Action]) -> None:
        venue.submit(actions)
        checker.check(harness.now_ms)  # our orders changed: worst case with every resting order filling

    harness = EngineHarness(engine, submit, analytics)
    harness.now_ms = start_ms
    accept = _universe_filter(s)
    venue = SimVenue(
        ex,
        BOT_USER,
        deliver=harness.deliver,
        clock_ms=lambda: harness.now_ms,
        observer=analytics,
        order_group_id=group.group_id,
        accept=accept,
        on_fill=lambda: checker.check(ex.now_ms),
    )
    driver = ScenarioDriver(ex, scenario, random.Random(seed), 1.0, start_ms)
    end_ms = start_ms + duration_ms
    last = start_ms - 1
    while True:
        due = [t for t in (driver.next_wakeup_ms(), engine.next_deadline()) if t is not None]
        if not due:
            break
        t = max(min(due), last + 1)  # time always moves: a deadline that does not clear cannot spin the loop
        if t > end_ms:
            break
        if t >= next_day:
            day_id, day_start, next_day = trading_day(t, s.risk.trading_day_tz)
            engine.set_trading_day(day_id, day_start)
        harness.now_ms = max(harness.now_ms, t)
        driver.step(t)
        _feed(harness, venue.drain(), t)
        harness.run_timers(t)
        last = t
    harness.now_ms = max(harness.now_ms, end_ms)
    driver.step(end_ms)
    _feed(harness, venue.drain(), end_ms)
    harness.run_timers(end_ms)
    summary = analytics.finish(end_ms)
    h = s.hypothesis
    positions = ex.account_state(BOT_USER)["positions"]
    assert isinstance(positions, dict)
    result = StrategyResult(
        name=strategy.name,
        summary=summary,
        breaches=checker.breach_count,
        first_breaches=list(checker.first),
        checks=checker.checks,
        max_account_stake=checker.max_account_stake,
        max_market_stake=checker.max_market_stake,
        requests=dict(venue.requests),
        rejects=dict(sorted(venue.rejects.items())),
        risk_state=engine.risk_state,
        open_contracts=sum(abs(int(v)) for v in positions.values()),
        judgement=judge(h, summary) if h is not None else None,
    )
    return result, len(venue.markets)


def _feed(harness: EngineHarness, batch: list[ev.Event], now_ms: int) -> None:
    """Queue a batch in exchange order and process it: the engine sees everything that happened at this instant
    before its own orders' answers (which the venue appends behind it)."""
    if not batch:
        return
    for e in batch[:-1]:
        harness.deliver(e)
    harness.handle(batch[-1], now_ms)


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
        ("tokens spent", str(s.tokens)),
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
