"""Reconciliation after a restart with resting orders and fills present; adopt-or-cancel; cancel-all (function
and CLI, which maps a loose key file to exit code 3)."""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kalshibot.cli import main as cli_main
from kalshibot.core import events as ev
from kalshibot.core.fixed import contracts, dollars
from kalshibot.net.auth import KalshiAuth, load_private_key
from kalshibot.net.cancel_all import cancel_all, cancel_all_main
from kalshibot.net.reconcile import apply_policy, reconcile
from kalshibot.net.rest import KalshiRest, OrderRequest
from kalshibot.sim.state import CreateOrderParams
from kalshibot.sim.testing import TestSim, add_test_market, running_sim, write_private_key_file

T = "REC-A"


@pytest.fixture
async def sim() -> AsyncIterator[TestSim]:
    async with running_sim(scenario="none") as s:
        add_test_market(s, T)
        yield s


def rest_for(sim: TestSim) -> KalshiRest:
    return KalshiRest(sim.rest_url, KalshiAuth(sim.test_key_id, load_private_key(sim.test_private_key_pem)))


async def seed(sim: TestSim, rest: KalshiRest) -> None:
    """A previous session left: three of our orders resting (one partly filled), one foreign order, one fill."""
    for i, p in enumerate(("0.40", "0.41", "0.42")):
        await rest.create_order(OrderRequest(T, f"kb-0-old{i}", "bid", dollars(p), contracts(2), post_only=True))
    await rest.create_order(OrderRequest(T, "human-1", "ask", dollars("0.70"), contracts(1)))
    _k, _s, other = sim.new_user()
    hit = CreateOrderParams(T, "ask", dollars("0.42"), contracts(1), "immediate_or_cancel", "maker")
    sim.exchange.create_order(other, hit, sim.clock())


async def test_reconcile_after_restart(sim: TestSim) -> None:
    async with rest_for(sim) as rest:
        await seed(sim, rest)
        since_s = sim.clock() // 1000 - 60
        res = await reconcile(rest, "kb-", 0, set(), since_s, tickers=[T])
        assert sorted(u.client_order_id or "" for u in res.ours) == ["kb-0-old0", "kb-0-old1", "kb-0-old2"]
        assert [u.client_order_id for u in res.foreign] == ["human-1"]
        part = next(u for u in res.ours if u.client_order_id == "kb-0-old2")
        assert (part.fill_count, part.remaining_count) == (contracts(1), contracts(1))
        assert [(p.ticker, p.position) for p in res.positions] == [(T, contracts(1))]
        assert len(res.missed_fills) == 1
        fill = res.missed_fills[0]
        assert fill.client_order_id == "kb-0-old2"  # restored from the orders: REST fills no longer carry it
        assert (fill.outcome, fill.count, fill.yes_price) == ("yes", contracts(1), dollars("0.42"))
        assert res.markets == {T}
        # a fill already journaled is not reported again
        again = await reconcile(rest, "kb-", 0, {(fill.order_id, fill.trade_id)}, since_s, tickers=[T])
        assert again.missed_fills == []
        assert [type(e) for e in res.events()][:2] == [ev.PositionSnapshot, ev.FillEvent]


async def test_adopt_or_cancel(sim: TestSim) -> None:
    async with rest_for(sim) as rest:
        await seed(sim, rest)
        res = await reconcile(rest, "kb-", 0, set(), None)
        adopted = await apply_policy(rest, res, "adopt", subaccount=0)
        assert len(adopted) == 3 and len(await rest.list_orders(status="resting")) == 4
        cancelled: list[str] = []
        assert (
            await apply_policy(rest, res, "cancel", subaccount=0, on_cancel=lambda u, _n: cancelled.append(u.order_id))
            == []
        )
        left = await rest.list_orders(status="resting")
        assert [o.client_order_id for o in left] == ["human-1"] and len(cancelled) == 3


async def test_cancel_all_ours_then_account(sim: TestSim) -> None:
    async with rest_for(sim) as rest:
        await seed(sim, rest)
        assert await cancel_all(rest, prefix="kb-", subaccount=0, account=False) == 3
        assert [o.client_order_id for o in await rest.list_orders(status="resting")] == ["human-1"]
        assert await cancel_all(rest, prefix="kb-", subaccount=0, account=True) == 1
        assert await rest.list_orders(status="resting") == []


def _config(tmp_path: Path, sim: TestSim) -> Path:
    cfg = tmp_path / "bot.yaml"
    cfg.write_text(f"environment: sim\nsim_url: {sim.base_url}\nclient_order_id_prefix: kb-\n")
    return cfg


async def test_cancel_all_cli(
    sim: TestSim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    key = write_private_key_file(sim.test_private_key_pem, tmp_path)
    monkeypatch.setenv("KALSHI_API_KEY_ID", sim.test_key_id)
    monkeypatch.setenv("KALSHI_PRIVATE_KEY_PATH", str(key))
    cfg = _config(tmp_path, sim)
    async with rest_for(sim) as rest:
        await seed(sim, rest)
        args = argparse.Namespace(config=str(cfg), account=False)
        assert await asyncio.to_thread(cancel_all_main, args) == 0
        assert "cancelled 3 resting order(s)" in capsys.readouterr().out
        assert [o.client_order_id for o in await rest.list_orders(status="resting")] == ["human-1"]
    os.chmod(key, 0o644)  # loose key file: credential error, exit code 3, no key material printed
    code = await asyncio.to_thread(cli_main, ["cancel-all", "--config", str(cfg)])
    err = capsys.readouterr().err
    assert code == 3 and "BEGIN" not in err
