"""The fault matrix: one :class:`~.harness.Fault` per row of issue 10's list (test-only).

Each injector arms or performs the simulator fault (docs/simulator.md "Faults") against the bot's own user or the
market it is quoting; the row's counters prove it fired. Faults that last (a paused market, a triggered order
group) are undone inside the injector and their duration is part of the fault window.
"""

from __future__ import annotations

import asyncio
import shutil

from kalshibot.sim.testing import eventually
from tests.chaos.harness import Cell, Ctx, Fault


def _ticker(ctx: Ctx) -> str:
    t = ctx.quoted_ticker()
    if t is None:
        raise AssertionError("no market of ours is resting to fault")
    return t


async def ws_drop(ctx: Ctx) -> None:
    ctx.sim.faults.inject("ws_drop", user_id=ctx.user_id)


async def seq_gap(ctx: Ctx) -> None:
    ctx.sim.faults.inject("ws_skip", count=2, channel="orderbook_delta", user_id=ctx.user_id)


async def dup_reorder(ctx: Ctx) -> None:
    f, u = ctx.sim.faults, ctx.user_id
    f.inject("ws_repeat", count=2, channel="orderbook_delta", user_id=u)
    f.inject("ws_reorder", count=1, channel="orderbook_delta", user_id=u)
    f.inject("ws_duplicate", count=2, channel="fill", user_id=u)
    f.inject("ws_reorder_unsequenced", count=1, channel="user_orders", user_id=u)


async def rest_5xx(ctx: Ctx) -> None:
    ctx.sim.faults.inject("rest_error", count=6, status=503)


async def rest_429(ctx: Ctx) -> None:
    ctx.sim.faults.inject("rest_429", count=12)


async def lost_ack(ctx: Ctx) -> None:
    ctx.sim.faults.inject("lost_ack", count=1, hold_ms=4000)


async def ack_after_fill(ctx: Ctx) -> None:
    ctx.sim.faults.inject("ack_after_fill", count=2, max_ms=3000)


async def cancel_404(ctx: Ctx) -> None:
    ctx.sim.faults.inject("cancel_404_after_fill", count=3)


async def pause_reactivate(ctx: Ctx) -> None:
    t = _ticker(ctx)
    ctx.cell.notes["ticker"] = t
    ctx.sim.faults.inject("pause_market", ticker=t)
    await asyncio.sleep(1.0)  # the pause lasts a second (a fault duration, not a wait for a condition)
    ctx.sim.faults.inject("activate_market", ticker=t)


async def close_settle(ctx: Ctx) -> None:
    t = _ticker(ctx)
    ctx.cell.notes["ticker"] = t
    ctx.sim.faults.inject("close_early", ticker=t, result="yes" if ctx.cell.seed % 2 else "no", settle=True)


async def grid_change(ctx: Ctx) -> None:
    t = _ticker(ctx)
    ctx.cell.notes["ticker"] = t
    ctx.sim.faults.inject("set_grid", ticker=t, price_level_structure="deci_cent")


async def fee_change(ctx: Ctx) -> None:
    t = _ticker(ctx)
    series = ctx.sim.exchange.markets_by_ticker[t].series_ticker
    ctx.cell.notes["series"] = series
    ctx.sim.faults.inject("set_fee", series_ticker=series, fee_type="quadratic", fee_multiplier=2.0)


async def group_trigger(ctx: Ctx) -> None:
    """The exchange-side breaker: our group is triggered (its orders cancelled); the daemon must go HALTED and
    stay quiet until an operator resumes (CONTRACTS.md "Risk definitions"); then it must quote again."""
    groups = [g for g in ctx.sim.exchange.groups.values() if g.user_id == ctx.user_id and not g.triggered]
    if not groups:
        raise AssertionError("the daemon created no order group")
    ctx.sim.faults.inject("trigger_order_group", order_group_id=groups[-1].group_id)
    d = ctx.daemon
    assert d is not None and d.engine is not None
    engine = d.engine
    try:
        await eventually(lambda: engine.risk_state == "HALTED", timeout=5, what="HALTED after the group trigger")
    except AssertionError:
        ctx.cell.failures.append(f"group-trigger: risk state {engine.risk_state}, not HALTED")
    if ctx.sim.exchange.accounts[ctx.user_id].resting:
        ctx.cell.failures.append("group-trigger: orders resting after the trigger")
    await d.resume("chaos: operator resumes after the trigger")


async def sigkill(ctx: Ctx) -> None:  # pragma: no cover - the SIGKILL cell runs in tests.chaos.sigkill
    raise AssertionError("handled by run_sigkill_cell")


FAULTS: list[Fault] = [
    Fault("ws_drop", ("ws_drop",), ws_drop),
    Fault("seq_gap", ("ws_skip",), seq_gap),
    Fault("dup_reorder", ("ws_repeat", "ws_reorder", "ws_duplicate", "ws_reorder_unsequenced"), dup_reorder),
    # a 5xx on a create leaves its outcome unknown: the market waits for the lookups (about 8 s) before requoting
    Fault("rest_5xx", ("rest_error",), rest_5xx, window_s=9.0),
    Fault("rest_429", ("rest_429",), rest_429, window_s=9.0),
    Fault("lost_ack", ("lost_ack",), lost_ack, window_s=8.0),
    Fault("ack_after_fill", ("ack_after_fill",), ack_after_fill, window_s=7.0),
    Fault("cancel_404", ("cancel_404_after_fill",), cancel_404, late_ok=True, policy="cancel_replace", size=10),
    Fault("pause_reactivate", ("pause_market", "activate_market"), pause_reactivate),
    Fault("close_settle", ("close_early",), close_settle, window_s=4.0),
    Fault("grid_change", ("set_grid",), grid_change),
    Fault("fee_change", ("set_fee",), fee_change),
    Fault("group_trigger", ("trigger_order_group",), group_trigger, window_s=3.0),
    Fault("sigkill_restart", ("sigkill",), sigkill, window_s=4.0, sigkill=True),
    Fault("loss_kill_restart", ("sigkill",), sigkill, sigkill=True),
]
BY_NAME = {f.name: f for f in FAULTS}


def run_named(name: str, seed: int) -> Cell:
    """Run one cell in a fresh event loop (the worker-process entry point of ``python -m tests.chaos``)."""
    from kalshibot import logsetup
    from tests.chaos.harness import run_cell

    logsetup.configure("critical", "json")
    try:
        cell = asyncio.run(run_cell(BY_NAME[name], seed))
    except Exception as e:  # a harness crash is a failed cell, not a dead matrix
        return Cell(name, seed, failures=[f"harness crashed: {e!r}"])
    if cell.passed and cell.notes.get("dir"):  # keep a failed cell's logs for the post-mortem
        shutil.rmtree(cell.notes["dir"], ignore_errors=True)
    return cell
