"""The fast subset of the fault matrix (``make test``): a few faults x one seed, each a real daemon against the
simulator over loopback sockets, checked by the same invariants as ``make chaos`` (tests/chaos/).

Cells that currently fail because of a daemon/engine bug are marked ``xfail(strict=True)`` with the bug named: they
pin it, and they start failing (XPASS) the day it is fixed, so the mark gets removed.
"""

from __future__ import annotations

import shutil

import pytest

from tests.chaos.harness import run_cell
from tests.chaos.matrix import BY_NAME

pytestmark = pytest.mark.timeout(120)


# make test shares this 2-core machine with everything else: the fast subset holds every safety invariant exactly
# and the fault/fill liveness checks, but accepts two-sided quoting down to 25% (the full matrix holds 50%)
FAST_TWO_SIDED = 0.25


async def _check(name: str, seed: int) -> None:
    cell = await run_cell(BY_NAME[name], seed)
    safety = [f for f in cell.failures if not f.startswith("vacuous: two-sided")]
    if not safety:
        shutil.rmtree(cell.notes.get("dir", ""), ignore_errors=True)  # keep a failed cell's logs
    assert not safety, f"{name} seed {seed}: {safety} (fills {cell.fills}, two-sided {cell.two_sided})"
    assert cell.fired > 0 and cell.fills >= 5
    assert cell.two_sided is not None and cell.two_sided >= FAST_TWO_SIDED, cell.two_sided


@pytest.mark.parametrize(
    ("name", "seed"),
    [("ws_drop", 1), ("lost_ack", 2), ("seq_gap", 1), ("dup_reorder", 1), ("pause_reactivate", 1)],
)
async def test_feed_and_lifecycle_faults(name: str, seed: int) -> None:
    await _check(name, seed)


async def test_loss_kill_holds_across_sigkill_restart() -> None:
    cell = await run_cell(BY_NAME["loss_kill_restart"], 2)
    assert cell.passed, cell.failures
    shutil.rmtree(cell.notes.get("dir", ""), ignore_errors=True)
    assert cell.fired == 1 and cell.notes["sessions"] == 2


# adopt_orphans=adopt: the engine takes over our resting orders of an earlier session (core/order_tracker.py
# OrderTracker._adopt); before, it ignored their OrderUpdates and the orphans (and their fills) stayed unknown


def test_engine_adopts_an_orphan_order_update() -> None:
    """The sigkill_restart row on the pure core: an orphan of ours is adopted and managed."""
    from kalshibot.config import parse_settings_text
    from kalshibot.core import events as ev
    from kalshibot.core.engine import Engine
    from kalshibot.core.fixed import contracts, dollars
    from kalshibot.core.grid import PriceGrid
    from kalshibot.wiring import engine_config

    now = 1_800_000_000_000
    s = parse_settings_text("environment: sim\nclient_order_id_prefix: kbc-\n", env={}, env_file=None)
    e = Engine(engine_config(s, now), client_order_id_prefix="kbc-", id_seed="pin001")
    e.handle(
        ev.MarketAdded(ev.MarketSpec("PIN-A", "PIN-E", "PIN", PriceGrid.linear_cent(), close_ts_ms=now + 10**7)), now
    )
    orphan = ev.OrderUpdate(
        "ord-1", "kbc-oldsess-7", "PIN-A", "resting", "bid", dollars("0.40"), 0, contracts(5), contracts(5)
    )
    e.handle(orphan, now + 1)  # what the startup reconcile does under adopt_orphans: adopt
    assert "kbc-oldsess-7" in {o.client_order_id for o in e.open_orders()}


async def test_sigkill_restart_adopts_orphans() -> None:
    await _check("sigkill_restart", 1)
