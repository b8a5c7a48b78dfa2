"""The SIGKILL cells: the daemon as a real subprocess (``python -m kalshibot run``) against the simulator in this
process, killed with SIGKILL mid-quote and restarted (test-only).

``sigkill_restart``: kill while orders rest, restart; the new process must adopt or cancel every order the dead one
left (checked through its control endpoint's ``/status``), journal the fills it missed while down exactly once,
keep quoting, and leave nothing resting after SIGTERM. ``loss_kill_restart``: a tiny daily loss kill is hit
(HALTED), the process is SIGKILLed and restarted, and the restarted process must still be HALTED and send
nothing new.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from kalshibot.sim.testing import TestSim, eventually, running_sim, write_private_key_file
from tests.chaos import invariants as inv
from tests.chaos.exposure import StakeWatch
from tests.chaos.harness import (
    MIN_FILLS,
    MIN_TWO_SIDED,
    SIM_RATE_TIER,
    SPEED,
    Cell,
    Fault,
    Sampler,
    chaos_config,
    fills_of,
    limits_micros,
    note_stakes,
)


class DaemonProcess:
    """``python -m kalshibot run --config CFG`` in ``workdir`` with the key in its environment."""

    def __init__(self, workdir: Path, config: Path, env: dict[str, str]) -> None:
        self.workdir, self.config, self.env = workdir, config, env
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, **self.env}
        with open(self.workdir / "daemon.stderr", "ab") as err:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "kalshibot", "run", "--config", str(self.config)],
                cwd=self.workdir,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    async def wait(self, timeout: float) -> int:  # noqa: ASYNC109 - a deadline for a child process
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                self.proc.kill()
                raise TimeoutError("daemon did not exit")
            await asyncio.sleep(0.05)
        return self.proc.returncode

    def control_url(self) -> str | None:
        p = self.workdir / "logs" / "state" / "control.json"
        try:
            return str(json.loads(p.read_text())["url"])
        except (OSError, ValueError, KeyError):
            return None

    async def status(self) -> dict[str, Any] | None:
        url = self.control_url()
        if url is None:
            return None
        try:
            async with httpx.AsyncClient(timeout=2) as c:
                r = await c.get(url.rstrip("/") + "/status")
            return r.json() if r.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return None


def _session_of(records: list[dict[str, Any]]) -> list[str]:
    out: list[str] = []
    for r in records:
        if r["session"] not in out:
            out.append(r["session"])
    return out


async def run_sigkill_cell(fault: Fault, seed: int, *, run_s: float) -> Cell:
    cell = Cell(fault.name, seed)
    t_start = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix=f"chaos-{fault.name}-{seed}-"))
    cell.notes["dir"] = str(tmp)
    loss_kill = fault.name == "loss_kill_restart"
    async with running_sim(
        scenario="default", seed=seed, speed=SPEED, faults_enabled=True, rate_limit_tier=SIM_RATE_TIER
    ) as sim:
        user = sim.test_user_id
        watch = StakeWatch(sim.exchange, user, limits_micros())
        watch.attach()
        log = inv.OrderLog(sim.exchange, user)
        log.attach()
        key = write_private_key_file(sim.test_private_key_pem, tmp)
        cfg = tmp / "bot.yaml"
        cfg.write_text(chaos_config(sim.base_url, tmp / "logs", daily_loss_kill="0.5" if loss_kill else "100"))
        proc = DaemonProcess(tmp, cfg, {"KALSHI_API_KEY_ID": sim.test_key_id, "KALSHI_PRIVATE_KEY_PATH": str(key)})
        sampler = Sampler(sim, user)
        try:
            if loss_kill:
                await _loss_kill(cell, sim, user, proc, tmp / "logs")
            else:
                await _kill_restart(cell, sim, user, proc, sampler, run_s)
            await sampler.stop()
            if proc.alive():
                assert proc.proc is not None
                proc.proc.send_signal(signal.SIGTERM)
                code = await proc.wait(30)
                if code != 0:
                    cell.failures.append(f"sigterm-exit: daemon exited {code}")
        except (AssertionError, TimeoutError) as e:
            cell.failures.append(f"harness: {e}")
        finally:
            await sampler.stop()
            if proc.alive():
                assert proc.proc is not None
                proc.proc.kill()
                proc.proc.wait()
        ex = sim.exchange
        if inv.resting_ids(ex, user):
            cell.failures.append(f"sigterm-resting: {len(inv.resting_ids(ex, user))} order(s) resting after SIGTERM")
        records = inv.journal_records(tmp / "logs")
        cell.failures += inv.check_fills_exactly_once(ex, user, records)
        cell.failures += inv.check_positions(ex, user, records)
        cell.failures += inv.check_one_order_per_intent(ex, user, records, log)
        cell.failures += [f"at-stake: {v}" for v in watch.violations[:2]]
        cell.fills = fills_of(sim, user)
        note_stakes(cell, watch, sampler, cell.notes.get("windows", []), records)
        cell.notes["sessions"] = len(_session_of(records))
        if cell.fired == 0:
            cell.failures.append("vacuous: the daemon was never SIGKILLed")
        if cell.fills < MIN_FILLS and not loss_kill:
            cell.failures.append(f"vacuous: {cell.fills} fills < {MIN_FILLS}")
        if not loss_kill:
            windows = cell.notes.pop("windows", None)  # unset when the harness failed before the kill
            cell.two_sided = None if windows is None else inv.two_sided_fraction(sampler.samples, windows)
            if cell.two_sided is None or cell.two_sided < MIN_TWO_SIDED:
                cell.failures.append(f"vacuous: two-sided {cell.two_sided} < {MIN_TWO_SIDED} outside the fault window")
    cell.elapsed_s = time.monotonic() - t_start
    return cell


async def _kill_restart(
    cell: Cell, sim: TestSim, user: str, proc: DaemonProcess, sampler: Sampler, run_s: float
) -> None:
    ex = sim.exchange
    t0 = time.monotonic()
    proc.start()
    sampler.start()
    await eventually(lambda: inv.two_sided(ex, user), timeout=25, what="first two-sided quote")
    t_live = time.monotonic()
    await eventually(lambda: fills_of(sim, user) >= 2 or time.monotonic() - t_live > 4, timeout=6, what="warm-up")
    await eventually(lambda: bool(inv.resting_ids(ex, user)), timeout=5, what="orders resting at the kill")
    assert proc.proc is not None
    orphans = inv.resting_ids(ex, user)
    t_kill = time.monotonic()
    proc.proc.kill()  # SIGKILL: no handler, no cleanup
    await proc.wait(10)
    cell.fired = 1
    cell.notes["orphans"] = len(orphans)
    proc.start()  # the instance lock is a flock: the kernel dropped it with the dead process

    async def status() -> dict[str, Any] | None:
        return await proc.status()

    st = await eventually(status, timeout=25, what="restarted daemon's /status")
    t_back = time.monotonic()
    cell.notes["windows"] = [(0.0, t_live), (t_kill, t_back + 4.0)]

    async def unknown() -> list[str]:
        s = await proc.status()
        if s is None:
            return ["no status"]
        coids = {o["client_order_id"] for o in s.get("open_orders", [])}
        return inv.unknown_resting(ex, user, set(), coids)

    async def settled() -> bool:
        return not await unknown()

    try:
        await eventually(settled, timeout=8, what="orphans adopted or cancelled")
    except AssertionError:
        cell.failures.append(f"unknown-resting: after restart {(await unknown())[:2]}")
    del st
    await eventually(
        lambda: (
            (time.monotonic() - t_back >= run_s and fills_of(sim, user) >= MIN_FILLS)
            or time.monotonic() - t_back > run_s + 20
            or not proc.alive()
        ),
        timeout=run_s + 30,
        what="run after restart",
    )
    if not proc.alive():
        cell.failures.append(f"restart: daemon exited {proc.proc.returncode} during the run")
    cell.notes["elapsed_before_kill"] = round(t_kill - t0, 1)


async def _loss_kill(cell: Cell, sim: TestSim, user: str, proc: DaemonProcess, log_dir: Path) -> None:
    """The kill must hold across SIGKILL + restart: the second process stays HALTED and sends no order.

    The loss is made real: once we hold a position, its market is determined against us and settled (the
    simulator's ``close_early``), a loss well above the $0.50 kill."""
    ex = sim.exchange
    proc.start()

    def losing_market() -> tuple[str, str] | None:
        for t, p in ex.accounts[user].positions.items():
            if not p.settled and abs(p.position) >= 200 and p.exposure >= 600_000:
                return t, "no" if p.position > 0 else "yes"
        return None

    pick = await eventually(losing_market, timeout=40, what="a position worth losing")
    sim.faults.inject("close_early", ticker=pick[0], result=pick[1], settle=True)

    async def halted() -> bool:
        s = await proc.status()
        return bool(s and s.get("risk_state") == "HALTED")

    await eventually(halted, timeout=20, what="the daily loss kill (HALTED)")
    records = inv.journal_records(log_dir)
    if not any(r["type"] == "risk" and r.get("state") == "HALTED" for r in records):
        cell.failures.append("loss-kill: HALTED but no HALTED risk record in the journal")
    try:  # HALTED cancels our orders (CONTRACTS.md); the orphan case of a kill mid-cancel is sigkill_restart's
        await eventually(lambda: not inv.resting_ids(ex, user), timeout=5, what="HALTED to cancel our orders")
    except AssertionError:
        cell.failures.append(f"loss-kill: {len(inv.resting_ids(ex, user))} order(s) still resting while HALTED")
    assert proc.proc is not None
    proc.proc.kill()
    await proc.wait(10)
    cell.fired = 1
    proc.start()
    await eventually(proc.status, timeout=25, what="restarted daemon's /status")
    # give the restarted daemon market data to act on; acting would be the failure (a bounded observation
    # period, not a wait for a condition)
    await asyncio.sleep(3)
    s = await proc.status()
    if not s or s.get("risk_state") != "HALTED":
        cell.failures.append(f"loss-kill: restarted daemon is {s and s.get('risk_state')}, not HALTED")
    records = inv.journal_records(log_dir)
    sessions = _session_of(records)
    if len(sessions) < 2:
        cell.failures.append("loss-kill: the restarted daemon wrote no session")
    sent_after = [r for r in records if r["type"] == "order_sent" and r["session"] == sessions[-1]]
    if sent_after:
        cell.failures.append(f"loss-kill: restarted daemon sent {len(sent_after)} order(s) while HALTED")
    if inv.resting_ids(ex, user):
        cell.failures.append(f"loss-kill: {len(inv.resting_ids(ex, user))} order(s) resting after the restart")
    cell.notes["loss_market"] = pick[0]
