"""The daemon in process against a test simulator over loopback HTTP/WS: graceful stop leaving nothing resting,
feed loss and stale markets cancelling quotes, release windows and close stopping (and resuming) quoting, the
daily loss kill holding across a restart, the journal flushed while running, sd_notify messages."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kalshibot.core.fixed import contracts
from kalshibot.daemon import Daemon
from kalshibot.errors import JournalError
from kalshibot.sdnotify import Notifier
from kalshibot.sim.state import CreateOrderParams
from kalshibot.sim.testing import TestSim, add_test_market, eventually, running_sim
from tests.test_daemon_support import add_liquidity, resting_ids, running_daemon, seed_book, settings_for, two_sided

# real daemons against a real simulator over loopback: generous on a loaded 2-core CI machine
pytestmark = pytest.mark.timeout(180)

T = "TEST-MKT"


@pytest.fixture
async def sim() -> AsyncIterator[TestSim]:
    async with running_sim(scenario="none", faults_enabled=True, rate_limit_tier="off") as s:
        add_test_market(s, T)
        seed_book(s, T)
        yield s


def journal_types(d: Daemon) -> list[str]:
    assert d.journal is not None
    return [json.loads(line)["type"] for line in d.journal.journal_path.read_text().splitlines()]


async def test_graceful_stop_leaves_no_resting_order(sim: TestSim, tmp_path: Path) -> None:
    async with running_daemon(settings_for(tmp_path, sim)) as d:
        await eventually(lambda: two_sided(d, T), timeout=10, what="two-sided quote")
        await eventually(lambda: len(resting_ids(sim)) >= 2, what="quotes resting on the exchange")
        assert d.first_two_sided_ms is not None
    assert d.exit_code == 0
    assert resting_ids(sim) == set()
    assert d.summary["resting_after_stop"] == 0
    types = journal_types(d)
    assert types[0] == "session" and types[-1] == "session"
    assert "order_sent" in types and "cancel" in types
    saved = json.loads((tmp_path / "logs" / "state" / "risk.json").read_text())
    assert saved["halted"] is False


async def test_feed_loss_cancels_quotes_then_requotes(sim: TestSim, tmp_path: Path) -> None:
    async with running_daemon(settings_for(tmp_path, sim)) as d:
        await eventually(lambda: len(resting_ids(sim)) >= 2, timeout=10, what="quotes resting")
        before = resting_ids(sim)
        sim.faults.inject("ws_drop", user_id=sim.test_user_id)
        # every quote that rested when the feed dropped is cancelled on the exchange...
        await eventually(lambda: not (resting_ids(sim) & before), timeout=10, what="quotes cancelled on feed loss")
        # ...and after the reconnect and a fresh snapshot, new quotes go up
        await eventually(lambda: len(resting_ids(sim) - before) >= 2, timeout=10, what="requoted after reconnect")
        assert d.feed is not None and d.feed.stats.reconnects >= 1
    assert d.exit_code == 0 and resting_ids(sim) == set()


async def test_stale_market_is_treated_as_feed_loss(sim: TestSim, tmp_path: Path) -> None:
    # the test market is silent once our quotes rest (nobody else trades): after 1.5 s it counts as lost
    async with running_daemon(settings_for(tmp_path, sim), stale_market_ms=1500) as d:
        await eventually(lambda: len(resting_ids(sim)) >= 2, timeout=10, what="quotes resting")
        before = resting_ids(sim)
        await eventually(lambda: not (resting_ids(sim) & before), timeout=10, what="stale quotes cancelled")
        assert d.feed is not None and d.feed.stats.resyncs >= 1
        # the resync's snapshot brings the market back
        await eventually(lambda: len(resting_ids(sim) - before) >= 2, timeout=10, what="requoted after resync")
    assert resting_ids(sim) == set()


async def test_release_window_stops_quoting_and_resumes(sim: TestSim, tmp_path: Path) -> None:
    release_ms = sim.clock() + 6000
    at = datetime.fromtimestamp(release_ms / 1000, tz=UTC).isoformat()
    rt = {"series": "TEST", "time": at, "freeze_before_s": 3, "freeze_after_s": 1}
    settings = settings_for(tmp_path, sim, timing={"release_times": [rt]})
    async with running_daemon(settings) as d:
        await eventually(lambda: two_sided(d, T), timeout=5, what="quotes before the window")
        assert sim.clock() < release_ms - 3000, "the test machine was too slow to quote before the window"
        await eventually(lambda: not resting_ids(sim), timeout=6, what="quotes pulled for the release")
        assert sim.clock() >= release_ms - 3000 - 200
        await eventually(lambda: sim.clock() > release_ms + 1000 and two_sided(d, T), timeout=8, what="resumed")
        assert len(resting_ids(sim)) >= 2


async def test_quoting_stops_before_close(tmp_path: Path) -> None:
    async with running_sim(scenario="none", rate_limit_tier="off") as sim:
        m = add_test_market(sim, "TEST-SOON", lifetime_ms=7000)
        seed_book(sim, "TEST-SOON")
        settings = settings_for(tmp_path, sim, timing={"stop_before_close_min": 0.05})  # 3 s before close
        async with running_daemon(settings) as d:
            await eventually(lambda: two_sided(d, "TEST-SOON"), timeout=4, what="quotes")
            await eventually(lambda: not resting_ids(sim), timeout=6, what="quotes pulled before close")
            assert sim.clock() < m.close_ts_ms, "quotes must come down before the close, not at it"
            assert sim.clock() >= m.close_ts_ms - 3000 - 200


async def test_daily_loss_kill_holds_across_restart(tmp_path: Path) -> None:
    async with running_sim(scenario="none", rate_limit_tier="off") as sim:
        add_test_market(sim, T)
        maker, _ids = seed_book(sim, T)
        await _force_loss_then_restart(sim, maker, tmp_path)


async def _force_loss_then_restart(sim: TestSim, maker: str, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, sim, risk={"daily_loss_kill": 1})
    async with running_daemon(settings) as d:
        await eventually(lambda: two_sided(d, T), timeout=10, what="quotes")
        bid = max(o.price for o in d.engine.open_orders() if o.side == "bid")  # type: ignore[union-attr]
        # another trader sells into our bid, then the market collapses: we are long YES marked near 0.10
        _k, _s, taker = sim.new_user()
        hit = CreateOrderParams(T, "ask", bid, contracts(5), "immediate_or_cancel")
        assert sim.exchange.create_order(taker, hit, sim.clock()).fill_count > 0
        for o in sim.exchange.list_orders(maker, status="resting"):
            sim.exchange.cancel_order(maker, o.order_id, sim.clock())
        add_liquidity(sim, maker, T, "0.05", "0.15")
        await eventually(lambda: d.engine is not None and d.engine.risk_state == "HALTED", timeout=10, what="kill")
        await eventually(lambda: not resting_ids(sim), timeout=5, what="quotes cancelled on the kill")
        assert any(r.startswith("HALTED") for r in d.summary["risk_events"])
    saved = json.loads((tmp_path / "logs" / "state" / "risk.json").read_text())
    assert saved["halted"] is True and saved["daily_pnl"] < -1_000_000

    # a restart on the same trading day keeps the kill: HALTED from the start, nothing quoted
    async with running_daemon(settings) as d2:
        assert d2.engine is not None and d2.engine.risk_state == "HALTED"
        await eventually(lambda: d2.feed is not None and d2.feed.book_ready(T), timeout=10, what="book")
        await asyncio.sleep(0)  # let the snapshot's requote (if any) reach the pump
        assert d2.engine.open_orders() == [] and not resting_ids(sim)
        assert d2.status()["risk_state"] == "HALTED"
    assert d2.summary["orders"] == 0


async def test_journal_flushed_while_running_and_sd_notify(
    sim: TestSim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(tmp_path / "notify.sock")
    monkeypatch.setenv("WATCHDOG_USEC", "200000")  # WatchdogSec=0.2 s: pings every 0.1 s
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as srv:
        srv.bind(path)
        srv.setblocking(False)
        notifier = Notifier(path)
        got: list[str] = []

        def drain() -> bool:
            # read as systemd would, while waiting: a unix datagram queue holds only ~10 messages
            # (net.unix.max_dgram_qlen) and the notifier's send blocks the loop when it is full
            while True:
                try:
                    got.append(srv.recv(4096).decode())
                except BlockingIOError:
                    return True

        async with running_daemon(settings_for(tmp_path, sim), notifier=notifier) as d:
            assert d.journal is not None
            market_file = d.journal.market_path
            # the market-data buffer reaches the disk within about a second, not only at close
            await eventually(lambda: drain() and market_file.exists() and market_file.stat().st_size > 0, timeout=10)
            await eventually(lambda: drain() and notifier.sent.count("WATCHDOG=1") >= 3, timeout=10, what="pings")
        drain()
    assert got[0].startswith("READY=1")
    assert "WATCHDOG=1" in got
    assert got[-1] == "STOPPING=1"
    assert got.index("STOPPING=1") > got.index("WATCHDOG=1")


async def test_journal_write_failure_halts(sim: TestSim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with running_daemon(settings_for(tmp_path, sim)) as d:
        await eventually(lambda: len(resting_ids(sim)) >= 2, timeout=10, what="quotes resting")
        assert d.journal is not None

        def disk_full(*_a: object, **_k: object) -> None:
            raise JournalError("journal write failed: No space left on device")

        monkeypatch.setattr(d.journal, "market", disk_full)
        _k, _s, other = sim.new_user()
        add_liquidity(sim, other, T, "0.30", "0.70")  # market data arrives; writing it fails
        await eventually(lambda: d.engine is not None and d.engine.risk_state == "HALTED", timeout=5, what="halt")
        await eventually(lambda: not resting_ids(sim), timeout=5, what="quotes cancelled")
        monkeypatch.undo()
    saved = json.loads((tmp_path / "logs" / "state" / "risk.json").read_text())
    assert saved["halted"] is True and "journal" in saved["halt_reason"]


async def test_unreadable_risk_state_starts_halted(sim: TestSim, tmp_path: Path) -> None:
    state = tmp_path / "logs" / "state"
    state.mkdir(parents=True)
    (state / "risk.json").write_text("{truncated")
    async with running_daemon(settings_for(tmp_path, sim)) as d:
        assert d.engine is not None and d.engine.risk_state == "HALTED"
        await eventually(lambda: d.feed is not None and d.feed.book_ready(T), timeout=10, what="book")
        assert not resting_ids(sim)
    assert d.summary["orders"] == 0
