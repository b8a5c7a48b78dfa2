"""One chaos cell: the simulator (in this process, real loopback HTTP/WS), the real daemon, one fault, checks.

Theory of operation: start the simulator (``default`` scenario, the cell's seed, ``SPEED``), register the bot's key,
attach a :class:`~.exposure.StakeWatch` to the exchange, start :class:`kalshibot.daemon.Daemon` (signal handlers
on: the cell ends with a real SIGTERM to this process), sample every 100 ms whether we are two-sided on the
exchange, wait for warm-up (two-sided and a first fill), inject the fault, let the run continue until the fault's
counter moved, the recovery window passed and the bot has its fills, then check "no unknown resting order",
SIGTERM, and check the rest against the exchange's records and the journal files. Test-only code.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kalshibot.config import parse_settings_text
from kalshibot.daemon import Daemon
from kalshibot.sim.testing import TestSim, eventually, running_sim, write_private_key_file
from tests.chaos import invariants as inv
from tests.chaos.exposure import ONE, StakeWatch

SPEED = 5.0  # scenario compression: KXCPI events live 1200/5 = 240 s, participants act 5x as often
# The exchange's rate-limit tier for the bot's user. At SPEED 5 the book moves 5x as often as in real time while a
# token bucket refills in real seconds, so a Basic-tier budget (100 write tokens/s) is in effect 5x tighter than a
# Basic user's: the requotes queue behind it (100+ actions in the pump), every queued create and cancel counts
# as money at stake in the engine (it cannot know what was sent), and the bot sat in REDUCING with almost nothing
# on the exchange. Advanced (300/s, 600 burst) is 3x Basic: still tighter per market move than Basic in real time.
SIM_RATE_TIER = "advanced"
PREFIX = "kbc-"
# per market, per event, per account: small enough that the guard binds (the event and account limits at 80/200 are
# reached by real positions; refusals show in each cell's line). The per-market limit is 10 quotes' worst case
# (half the example config's): at 25 (5 quotes) creates and cancels still queued for the write budget, which the
# engine counts at stake, tripped REDUCING for the whole account with a fifth of that on the exchange
LIMITS_DOLLARS = (50, 80, 200)
BASE_SIZE = 5  # contracts per quote the limits above are sized for; a row quoting more scales them in proportion
# The exchange-side fill-rate breaker (risk.order_group_contracts_limit, default 200 contracts matched in 15 s)
# counts in real seconds while the scenario runs SPEED times compressed: a cell's 15 s hold 75 s of a real market's
# trading, and a cell's 40-50 fills of 3-5 contracts reached 200 in about 10 s. The group triggered, the daemon
# went HALTED as it must (CONTRACTS.md) and sat one-sided for the rest of the cell: rest_429 seed 19's 0.46 in the
# 770088f run was that (203 contracts, triggered 9.6 s after the first fill). The limit scaled like the book's
# pace is the same breaker a real-time user of the default config has; the group_trigger row still trips it.
ORDER_GROUP_CONTRACTS = 200 * int(SPEED)
MIN_FILLS = 5
MIN_TWO_SIDED = 0.5
RUN_S = 6.0  # after warm-up, at least this long (the fault fires inside it)


def chaos_config(
    sim_url: str,
    log_dir: Path,
    *,
    daily_loss_kill: str = "100",
    reconcile_s: int = 5,
    policy: str = "amend",
    size: int = 5,
) -> str:
    m, e, a = limits_dollars(size)
    return f"""
environment: sim
sim_url: {sim_url}
client_order_id_prefix: {PREFIX}
logging:
  dir: {log_dir}
  level: warning
control:
  port: 0
timing:
  stop_before_close_min: 0.5
quoting:
  policy: {policy}
  size: {size}
reconcile:
  interval_s: {reconcile_s}
risk:
  max_notional_per_market: {m}
  max_event_exposure: {e}
  max_account_exposure: {a}
  daily_loss_kill: {daily_loss_kill}
  order_group_contracts_limit: {ORDER_GROUP_CONTRACTS}
"""


@dataclass
class Cell:
    """What a cell observed; ``failures`` empty means pass."""

    fault: str
    seed: int
    failures: list[str] = field(default_factory=list)
    fills: int = 0
    fired: int = 0
    two_sided: float | None = None
    elapsed_s: float = 0.0
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass
class Ctx:
    """Handed to a fault's injector."""

    sim: TestSim
    daemon: Daemon | None
    user_id: str
    windows: list[tuple[float, float]]
    cell: Cell

    def quoted_ticker(self) -> str | None:
        """A market where we rest on both sides (else one where we rest at all)."""
        sides: dict[str, set[str]] = {}
        for o in self.sim.exchange.accounts[self.user_id].resting.values():
            sides.setdefault(o.ticker, set()).add(o.side)
        both = sorted(t for t, s in sides.items() if len(s) == 2)
        return (both or sorted(sides) or [None])[0]


Injector = Callable[[Ctx], Awaitable[None]]


@dataclass(frozen=True)
class Fault:
    name: str
    counters: tuple[str, ...]  # simulator counters; their sum must be > 0 after the run
    inject: Injector
    window_s: float = 2.0  # recovery allowance after the injector returns (not counted for two-sidedness)
    late_ok: bool = False  # may fire as late as the graceful stop (checked after SIGTERM)
    policy: str = "amend"  # quoting.policy for the cell (cancel_replace makes every requote a cancel)
    size: int = 5  # contracts per quote (bigger quotes are partly filled more often)
    sigkill: bool = False


class Sampler:
    """Samples two-sidedness on the exchange every 100 ms (monotonic seconds)."""

    def __init__(self, sim: TestSim, user_id: str, risk_state: Callable[[], str] | None = None) -> None:
        self.sim, self.user_id = sim, user_id
        self.samples: list[tuple[float, bool]] = []
        # the daemon's risk state at each sample (in-process cells): shows how much of the run REDUCING took
        self.risk_state = risk_state
        self.states: list[tuple[float, str]] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            now = time.monotonic()
            self.samples.append((now, inv.two_sided(self.sim.exchange, self.user_id)))
            if self.risk_state is not None:
                self.states.append((now, self.risk_state()))
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def fills_of(sim: TestSim, user_id: str) -> int:
    return len(sim.exchange.accounts[user_id].fills)


def fired(sim: TestSim, fault: Fault) -> int:
    return sum(sim.faults.counters.get(c, 0) for c in fault.counters)


def limits_dollars(size: int = BASE_SIZE) -> tuple[int, int, int]:
    """The limits for a row quoting ``size`` contracts: a user who doubles the quote size doubles the limits (the
    cancel_404 row quotes 10 under the cancel-replace policy, where each requote keeps the old order at stake until
    its cancel is answered and the new one at stake from the moment it is decided: at the 5-contract limits that row
    sat in REDUCING for most of a cell with a third of the event limit on the exchange)."""
    k = max(size, BASE_SIZE)
    return tuple(v * k // BASE_SIZE for v in LIMITS_DOLLARS)  # type: ignore[return-value]


def limits_micros(size: int = BASE_SIZE) -> tuple[int, int, int]:
    m, e, a = limits_dollars(size)
    return m * ONE, e * ONE, a * ONE


def note_stakes(
    cell: Cell,
    watch: StakeWatch,
    sampler: Sampler,
    windows: list[tuple[float, float]],
    records: list[dict[str, Any]],
) -> None:
    """Record how close the run came to its limits: the largest share of each limit used at any fill (from the
    exchange's records) and how many quotes the daemon's risk guard refused because they would have broken a
    limit (journal ``risk`` records); and the share of the samples outside the fault windows the daemon spent in
    REDUCING (and in HALTED). The report shows the limits are exercised, and why a cell was one-sided."""
    cell.notes["refused"] = sum(
        1
        for r in records
        if r["type"] == "risk" and r.get("limit") != "reducing_only" and "refused" in r.get("message", "")
    )
    cell.notes["stake_checks"] = watch.checks
    cell.notes["max_stake"] = [round(v / ONE, 2) for v in watch.max_seen]
    cell.notes["max_used"] = [round(v / lim, 2) for v, lim in zip(watch.max_seen, watch.limits)]
    outside = [s for t, s in sampler.states if not any(a <= t <= b for a, b in windows)]
    if outside:
        cell.notes["reducing"] = round(sum(s == "REDUCING" for s in outside) / len(outside), 2)
        # HALTED outside the fault window is never the fault under test (a breaker, the loss kill): show it
        cell.notes["halted"] = round(sum(s == "HALTED" for s in outside) / len(outside), 2)


async def run_cell(fault: Fault, seed: int, *, run_s: float = RUN_S) -> Cell:
    """One in-process cell (see the module docstring). Never raises for a broken invariant: it is recorded."""
    if fault.sigkill:
        from tests.chaos.sigkill import run_sigkill_cell

        return await run_sigkill_cell(fault, seed, run_s=run_s)
    cell = Cell(fault.name, seed)
    t_start = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix=f"chaos-{fault.name}-{seed}-"))
    cell.notes["dir"] = str(tmp)
    async with running_sim(
        scenario="default", seed=seed, speed=SPEED, faults_enabled=True, rate_limit_tier=SIM_RATE_TIER
    ) as sim:
        user = sim.test_user_id
        watch = StakeWatch(sim.exchange, user, limits_micros(fault.size))
        watch.attach()
        log = inv.OrderLog(sim.exchange, user)
        log.attach()
        key = write_private_key_file(sim.test_private_key_pem, tmp)
        env = {"KALSHI_API_KEY_ID": sim.test_key_id, "KALSHI_PRIVATE_KEY_PATH": str(key)}
        settings = parse_settings_text(
            chaos_config(sim.base_url, tmp / "logs", policy=fault.policy, size=fault.size), env=env, env_file=None
        )
        daemon = Daemon(settings, handle_signals=True)
        task = asyncio.create_task(daemon.run())
        sampler = Sampler(sim, user, lambda: daemon.engine.risk_state if daemon.engine is not None else "")
        ctx = Ctx(sim, daemon, user, [], cell)
        try:
            await _drive(ctx, fault, task, sampler, run_s)
            await _stop(ctx, task, sampler)
        except (AssertionError, TimeoutError) as e:
            cell.failures.append(f"harness: {e}")
        finally:
            await sampler.stop()
            if not task.done():
                daemon.stop_event.set()
                with contextlib.suppress(BaseException):
                    await asyncio.wait_for(task, 30)
        _final_checks(ctx, fault, sampler, watch, log, tmp / "logs")
    cell.elapsed_s = time.monotonic() - t_start
    return cell


async def _drive(ctx: Ctx, fault: Fault, task: asyncio.Task[int], sampler: Sampler, run_s: float) -> None:
    sim, user, d = ctx.sim, ctx.user_id, ctx.daemon
    assert d is not None
    await eventually(lambda: d.ready.is_set() or task.done(), timeout=20, what="daemon ready")
    if task.done():
        raise AssertionError(f"daemon exited during start: {task.result()}")
    sampler.start()
    # warm-up: quoting on both sides somewhere and a first fill (so fill-path faults have something to act on)
    await eventually(lambda: inv.two_sided(sim.exchange, user), timeout=15, what="first two-sided quote")
    t_live = time.monotonic()
    ctx.windows.append((0.0, t_live))  # start-up is not held against two-sidedness
    await eventually(lambda: fills_of(sim, user) >= 1 or time.monotonic() - t_live > 3, timeout=5, what="warm-up")
    t0 = time.monotonic()
    ctx.cell.notes["fault_ms"] = sim.clock()
    await fault.inject(ctx)
    try:
        await eventually(
            lambda: fired(sim, fault) > 0, timeout=3 if fault.late_ok else 15, what=f"{fault.name} to fire"
        )
    except AssertionError:
        if not fault.late_ok:
            raise
    t1 = time.monotonic()
    ctx.windows.append((t0, t1 + fault.window_s))
    await eventually(
        lambda: (
            task.done()
            or (
                time.monotonic() - t_live >= run_s
                and time.monotonic() > t1 + fault.window_s + 2.5
                and fills_of(sim, user) >= MIN_FILLS
            )
            or time.monotonic() - t_live > run_s + 20
        ),
        timeout=run_s + 40,
        what="run",
    )
    if task.done():
        raise AssertionError(f"daemon exited early with {task.result()}")


async def _stop(ctx: Ctx, task: asyncio.Task[int], sampler: Sampler) -> None:
    sim, user, d = ctx.sim, ctx.user_id, ctx.daemon
    assert d is not None and d.engine is not None
    engine = d.engine

    def unknown() -> list[str]:
        known = {o.order_id for o in engine.open_orders() if o.order_id}
        coids = {o.client_order_id for o in engine.open_orders()}
        return inv.unknown_resting(sim.exchange, user, known, coids)

    # in-flight creates are legitimately unknown for a moment: the invariant is that this set empties
    try:
        await eventually(lambda: not unknown(), timeout=8, what="no unknown resting order")
    except AssertionError:
        ctx.cell.failures.append(f"unknown-resting: {unknown()[:2]}")
    await sampler.stop()
    ctx.cell.notes["risk_state"] = engine.risk_state
    ctx.cell.notes["sigterm_ms"] = sim.clock()
    os.kill(os.getpid(), signal.SIGTERM)  # the real signal path: the daemon's handler
    code = await asyncio.wait_for(task, 30)
    if code != 0:
        ctx.cell.failures.append(f"sigterm-exit: daemon exited {code}")


def _final_checks(
    ctx: Ctx, fault: Fault, sampler: Sampler, watch: StakeWatch, log: inv.OrderLog, log_dir: Path
) -> None:
    sim, user, cell = ctx.sim, ctx.user_id, ctx.cell
    ex = sim.exchange
    left = inv.resting_ids(ex, user)
    if left:
        cell.failures.append(f"sigterm-resting: {len(left)} order(s) still resting after SIGTERM")
    records = inv.journal_records(log_dir)
    cell.failures += inv.check_fills_exactly_once(ex, user, records)
    cell.failures += inv.check_positions(ex, user, records)
    cell.failures += inv.check_one_order_per_intent(ex, user, records, log)
    cell.failures += [f"at-stake: {v}" for v in watch.violations[:2]]
    cell.fills = fills_of(sim, user)
    cell.fired = fired(sim, fault)
    cell.two_sided = inv.two_sided_fraction(sampler.samples, ctx.windows)
    note_stakes(cell, watch, sampler, ctx.windows, records)
    if cell.fired == 0:
        cell.failures.append(f"vacuous: {fault.name} never fired")
    if cell.fills < MIN_FILLS:
        cell.failures.append(f"vacuous: {cell.fills} fills < {MIN_FILLS}")
    if cell.two_sided is None or cell.two_sided < MIN_TWO_SIDED:
        cell.failures.append(f"vacuous: two-sided {cell.two_sided} < {MIN_TWO_SIDED} outside the fault window")
