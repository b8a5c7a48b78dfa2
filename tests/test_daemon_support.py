"""Helpers shared by the daemon tests (a daemon in process against a test simulator), plus unit tests of the
daemon's small pure pieces: maintenance windows, the persisted risk state, the instance lock, sd_notify."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from kalshibot.config import Settings, parse_settings
from kalshibot.core.fixed import contracts, dollars
from kalshibot.daemon import Daemon
from kalshibot.daemon_support import StateStore
from kalshibot.daemon_tasks import in_maintenance, maintenance_windows
from kalshibot.errors import LockHeldError
from kalshibot.lock import InstanceLock
from kalshibot.sdnotify import Notifier
from kalshibot.sim.state import CreateOrderParams
from kalshibot.sim.testing import TestSim, eventually

PREFIX = "kbt-"


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def sim_env(sim: TestSim) -> dict[str, str]:
    return {"KALSHI_API_KEY_ID": sim.test_key_id, "KALSHI_PRIVATE_KEY": sim.test_private_key_pem.decode()}


def settings_for(tmp_path: Path, sim: TestSim, **over: Any) -> Settings:
    """Settings trading the test simulator ``sim`` (``sim_url``), logs under ``tmp_path``, control on port 0."""
    data = {
        "environment": "sim",
        "sim_url": sim.base_url,
        "client_order_id_prefix": PREFIX,
        "control": {"port": 0},
        "logging": {"dir": str(tmp_path / "logs"), "format": "json", "level": "warning"},
        "universe": {"series": ["TEST"]},
        "quoting": {"expiration_s": 0},
    }
    return parse_settings(_merge(data, over), env=sim_env(sim), env_file=None)


@asynccontextmanager
async def running_daemon(settings: Settings, **kw: Any) -> AsyncIterator[Daemon]:
    """A daemon in this event loop, ready (quoting can start); stopped gracefully on exit (``d.exit_code``)."""
    kw.setdefault("handle_signals", False)
    d = Daemon(settings, **kw)
    task = asyncio.create_task(d.run())
    await eventually(lambda: d.ready.is_set() or task.done(), timeout=20, what="daemon ready")
    if task.done():
        task.result()  # raises the start-up failure
    try:
        yield d
    finally:
        d.stop_event.set()
        d.exit_code = await asyncio.wait_for(task, 30)


def two_sided(d: Daemon, ticker: str | None = None) -> bool:
    assert d.engine is not None
    sides: dict[str, set[str]] = {}
    for o in d.engine.open_orders():
        if o.order_id is not None and (ticker is None or o.ticker == ticker):
            sides.setdefault(o.ticker, set()).add(o.side)
    return any(len(s) == 2 for s in sides.values())


def resting_ids(sim: TestSim, prefix: str = PREFIX) -> set[str]:
    """Our resting orders as the exchange sees them (the ground truth, not the daemon's belief)."""
    return {
        o.order_id
        for o in sim.exchange.list_orders(sim.test_user_id, status="resting")
        if (o.client_order_id or "").startswith(prefix)
    }


def seed_book(sim: TestSim, ticker: str, bid: str = "0.40", ask: str = "0.60", n: int = 100) -> tuple[str, list[str]]:
    """Another user rests a bid and an ask in ``ticker`` (so the bot has a book to quote around).
    Returns (that user's id, its order ids)."""
    _k, _s, other = sim.new_user()
    return other, add_liquidity(sim, other, ticker, bid, ask, n)


def add_liquidity(sim: TestSim, user: str, ticker: str, bid: str, ask: str, n: int = 100) -> list[str]:
    now = sim.clock()
    ids = []
    for side, price in (("bid", bid), ("ask", ask)):
        req = CreateOrderParams(ticker, side, dollars(price), contracts(n), post_only=True)  # type: ignore[arg-type]
        ids.append(sim.exchange.create_order(user, req, now).order.order_id)
    sim.exchange.advance(now)
    sim.poke()
    return ids


# ------------------------------------------------------------------------------------------------- unit tests
def test_maintenance_windows_parse_and_match() -> None:
    sched = {
        "schedule": {
            "standard_hours": [],
            "maintenance_windows": [
                {"start_datetime": "2026-11-26T10:00:00Z", "end_datetime": "2026-11-26T11:00:00Z"},
                {"start_datetime": "2026-11-26T08:00:00Z", "end_datetime": "2026-11-26T09:00:00+00:00"},
                {"start_datetime": "garbage", "end_datetime": "2026-11-26T09:00:00Z"},
                {"start_datetime": "2026-11-27T09:00:00Z", "end_datetime": "2026-11-27T08:00:00Z"},  # inverted
            ],
        }
    }
    w = maintenance_windows(sched)
    eight = 1_795_680_000_000  # 2026-11-26T08:00:00Z
    assert w == [(eight, eight + 3_600_000), (eight + 7_200_000, eight + 10_800_000)]
    assert in_maintenance(w, eight - 1) is None
    assert in_maintenance(w, eight) == eight + 3_600_000
    assert in_maintenance(w, eight + 3_600_000) is None  # end is exclusive
    assert in_maintenance(w, eight + 7_300_000) == eight + 10_800_000
    assert maintenance_windows({}) == []


def test_state_store_roundtrip_and_unreadable(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state")
    assert store.load() is None
    store.save({"v": 1, "trading_day": "2026-11-24", "day_start_ms": 1, "daily_pnl": -5, "halted": True})
    assert store.load() == {"v": 1, "trading_day": "2026-11-24", "day_start_ms": 1, "daily_pnl": -5, "halted": True}
    assert [p.name for p in (tmp_path / "state").iterdir()] == ["risk.json"]  # no temp file left behind
    store.path.write_text("{not json")
    loaded = store.load()
    assert loaded is not None and loaded["halted"] is True  # unreadable state: halted is the safe reading


def test_instance_lock_is_exclusive_per_account_and_released(tmp_path: Path) -> None:
    a = InstanceLock(tmp_path, "sim/embedded", 0)
    a.acquire()
    with pytest.raises(LockHeldError, match="another kalshibot instance"):
        InstanceLock(tmp_path, "sim/embedded", 0).acquire()
    with InstanceLock(tmp_path, "sim/embedded", 1):  # another subaccount is another instance
        pass
    a.release()
    with InstanceLock(tmp_path, "sim/embedded", 0) as b:
        assert b.path.read_text() == str(os.getpid())


def test_notifier_sends_datagrams(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as srv:
        srv.bind(path)
        n = Notifier(path)
        assert n.ready("quoting 3 markets") and n.watchdog() and n.stopping()
        got = [srv.recv(4096).decode() for _ in range(3)]
    assert got == ["READY=1\nSTATUS=quoting 3 markets", "WATCHDOG=1", "STOPPING=1"]
    assert not Notifier("").ready()  # not under systemd: a no-op
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert n.watchdog_interval_s() == 15.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))  # the watchdog is meant for another process
    assert n.watchdog_interval_s() is None


def test_notifier_never_blocks_on_a_full_queue(tmp_path: Path) -> None:
    """A Unix datagram queue holds few messages; a full one must drop the message, not freeze the event loop."""
    import socket
    import time

    from kalshibot.sdnotify import Notifier

    path = str(tmp_path / "full.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as srv:
        srv.bind(path)
        n = Notifier(path)
        t0 = time.monotonic()
        results = [n.watchdog() for _ in range(200)]  # nobody reads: the queue fills up
        assert time.monotonic() - t0 < 2.0
        assert results[0] is True and results[-1] is False
