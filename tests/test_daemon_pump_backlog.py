"""The pump sends one batch-create request's worth at a time and re-reads the queue before the next: a cancel the
engine decides while a request waits on the write bucket meets its still-unsent create, and the pair is dropped
instead of sending a create and then its cancel (a rate-limited backlog used to feed itself that way, issue 10)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from kalshibot.config import parse_settings
from kalshibot.core import events as ev
from kalshibot.core.coalesce import coalesce
from kalshibot.core.fixed import contracts, dollars
from kalshibot.daemon import Daemon
from kalshibot.sim.testing import eventually


def _place(i: int) -> ev.PlaceOrder:
    return ev.PlaceOrder(f"kbt-{i}", "T-A", "bid", dollars("0.40"), contracts(1), f"i{i}", 1)


class _SlowExecutor:
    """Records what each submission would put on the wire (after the venues' shared coalescing rule); the first
    submission waits until the test lets it go, as a request held by the write bucket would."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.wire: list[list[str]] = []

    async def submit(self, actions: Sequence[ev.Action]) -> None:
        kept, _dropped = coalesce(actions)
        self.wire.append([f"{type(a).__name__}:{getattr(a, 'client_order_id', '')}" for a in kept])
        if len(self.wire) == 1:
            await self.release.wait()


async def test_a_cancel_decided_during_a_request_meets_its_unsent_create(tmp_path: Path) -> None:
    settings = parse_settings(
        {"environment": "sim", "logging": {"dir": str(tmp_path / "logs")}, "control": {"port": 0}},
        env={},
        env_file=None,
        require_secrets=False,
    )
    d = Daemon(settings, handle_signals=False)
    ex = _SlowExecutor()
    d.executor = ex  # type: ignore[assignment]
    d._create_step = lambda: 2  # type: ignore[method-assign]  # two creates per batch request
    pump = asyncio.create_task(d._pump())
    try:
        d.dispatch([_place(i) for i in range(6)], 0)  # three requests' worth
        await eventually(lambda: len(ex.wire) == 1, what="first request in flight")
        assert ex.wire[0] == ["PlaceOrder:kbt-0", "PlaceOrder:kbt-1"]
        # the engine changes its mind about a create that has not left yet (no order_id: never acknowledged)
        d.dispatch([ev.CancelOrder(None, "kbt-4", "T-A", "requote")], 1)
        ex.release.set()
        await eventually(lambda: not d.pending and len(ex.wire) >= 3, what="queue drained")
        sent = [x for request in ex.wire for x in request]
        assert "PlaceOrder:kbt-4" not in sent and "CancelOrder:kbt-4" not in sent
        assert sent == [f"PlaceOrder:kbt-{i}" for i in (0, 1, 2, 3, 5)]
        assert d.summary["orders"] == 6  # every create the engine decided is counted, sent or dropped
    finally:
        d._pump_stop = True
        d._pump_wake.set()
        await asyncio.wait_for(pump, 5)
