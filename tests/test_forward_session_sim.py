"""Forward testing end to end against the simulator over loopback (issue 8's "Done when"): a live daemon session's
journal replays deterministically and its ``recorded`` lane matches the simulator's own fills, fees and cash to the
cent; ``run --paper`` trades the simulator's real market data without sending an order and journals paper fills.
Also the replay of journal shapes a real session produces (a late amend of an order the journal already saw
cancelled, rejected as not resting)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kalshibot.cli import main
from kalshibot.core.fixed import Price, contracts
from kalshibot.daemon import Daemon
from kalshibot.replay.cli import run_replay
from kalshibot.replay.replayer import Replayer
from kalshibot.sim.state import CreateOrderParams
from kalshibot.sim.testing import TestSim, add_test_market, eventually, running_sim
from tests.test_daemon_support import resting_ids, running_daemon, seed_book, settings_for, two_sided

# real daemons against a real simulator over loopback: generous on a loaded 2-core CI machine
pytestmark = pytest.mark.timeout(180)

T = "TEST-MKT"


def journal(d: Daemon) -> list[dict[str, Any]]:
    assert d.journal is not None
    return [json.loads(line) for line in d.journal.journal_path.read_text().splitlines()]


def of_type(d: Daemon, t: str) -> list[dict[str, Any]]:
    return [r for r in journal(d) if r["type"] == t]


def hit_our_quote(sim: TestSim, taker: str, d: Daemon, side: str, n: int) -> None:
    """``taker`` trades ``n`` contracts against our resting quote on ``side`` (IOC at our price)."""
    assert d.engine is not None
    ours = [o for o in d.engine.open_orders() if o.side == side and o.order_id is not None]
    price = max(o.price for o in ours) if side == "bid" else min(o.price for o in ours)
    other = "ask" if side == "bid" else "bid"
    req = CreateOrderParams(T, other, price, contracts(n), "immediate_or_cancel")  # type: ignore[arg-type]
    assert sim.exchange.create_order(taker, req, sim.clock()).fill_count > 0
    sim.exchange.advance(sim.clock())
    sim.poke()


async def test_recorded_replay_of_a_live_session_matches_the_simulator_to_the_cent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running_sim(scenario="none", rate_limit_tier="off") as sim:
        add_test_market(sim, T)
        seed_book(sim, T)
        me = sim.test_user_id
        start_cash = sim.exchange.balance(me).balance
        _k, _s, taker = sim.new_user()
        async with running_daemon(settings_for(tmp_path, sim)) as d:
            await eventually(lambda: two_sided(d, T) and len(resting_ids(sim)) >= 2, timeout=10, what="quotes")
            hit_our_quote(sim, taker, d, "bid", 3)
            await eventually(lambda: len(of_type(d, "fill")) >= 1, timeout=10, what="first fill journaled")
            await eventually(lambda: two_sided(d, T) and len(resting_ids(sim)) >= 2, timeout=10, what="requote")
            hit_our_quote(sim, taker, d, "ask", 5)
            await eventually(lambda: len(of_type(d, "fill")) >= 2, timeout=10, what="second fill journaled")
            now = sim.clock()
            sim.exchange.determine(T, "no", now)
            sim.exchange.settle(T, now)
            sim.exchange.advance(now)
            sim.poke()
            await eventually(lambda: of_type(d, "settlement"), timeout=10, what="settlement journaled")
        assert d.exit_code == 0
        sim_fills = sim.exchange.fills(me)
        acct = sim.exchange.account_state(me)
        end_cash = sim.exchange.balance(me).balance
        assert acct["locked"] == 0 and acct["positions"] == {}
    logs = tmp_path / "logs"

    _lines, res = run_replay([str(logs)], "recorded")
    rec = res.summaries["recorded"]
    assert rec.fills == len(sim_fills) >= 2
    assert rec.contracts == sum(f.count for f in sim_fills)
    assert rec.fees == sum(f.fee for f in sim_fills) == acct["fees_paid"]
    # every position settled and nothing rests: the session's whole PnL is the change in the simulator's cash
    assert rec.net_pnl == end_cash - start_cash

    # the same files give byte-identical stdout, for the recorded lane and for a model
    capsys.readouterr()  # drop the daemon's own log lines
    for model in ("recorded", "queue"):
        assert main(["replay", str(logs), "--fill-model", model]) == 0
        first = capsys.readouterr().out
        assert main(["replay", str(logs), "--fill-model", model]) == 0
        assert capsys.readouterr().out == first
        assert f"fill model: {model}" in first and "TOTAL" in first


async def test_paper_mode_trades_the_simulators_data_and_journals_paper_fills(tmp_path: Path) -> None:
    async with running_sim(scenario="none", rate_limit_tier="off") as sim:
        add_test_market(sim, T)
        maker, _ids = seed_book(sim, T)
        _k, _s, taker = sim.new_user()
        async with running_daemon(settings_for(tmp_path, sim), paper=True) as d:
            await eventually(lambda: two_sided(d, T), timeout=10, what="paper quotes")
            assert d.engine is not None
            bid = max(o.price for o in d.engine.open_orders() if o.side == "bid")
            # a seller sweeps the real book down through our paper bid: trades print at and below it
            # (another trader joins our price first, so prints happen exactly at it, then below it)
            join = CreateOrderParams(T, "bid", bid, contracts(50), post_only=True)
            sim.exchange.create_order(maker, join, sim.clock())
            sweep = CreateOrderParams(T, "ask", Price(bid - 50_000), contracts(200), "immediate_or_cancel")
            assert sim.exchange.create_order(taker, sweep, sim.clock()).fill_count > 0
            sim.exchange.advance(sim.clock())
            sim.poke()
            await eventually(lambda: of_type(d, "fill"), timeout=10, what="a paper fill journaled")
        assert d.exit_code == 0
        fills = of_type(d, "fill")
        assert fills and all(f["paper"] is True for f in fills)
        assert all(f["book_side"] == "bid" and f["side"] == "yes" for f in fills)
        # no order of ours ever reached the exchange, and it saw no fill of ours
        assert sim.exchange.list_orders(sim.test_user_id) == []
        assert sim.exchange.fills(sim.test_user_id) == []
        session = of_type(d, "session")[0]
        assert "paper" in str(session.get("environment"))


def test_late_amend_of_a_cancelled_order_replays() -> None:
    """A real session can send an amend for an order whose cancel was already acked; the exchange rejects it as
    not resting. Every lane must take that in its stride (it crashed the recorded lane with a KeyError)."""
    base = {"v": 1, "session": "s", "ticker": T}
    recs: list[dict[str, Any]] = [
        {**base, "type": "order_sent", "ts_ms": 1, "client_order_id": "c1", "side": "bid", "price": "0.4000",
         "count": "5.00", "tif": "good_till_canceled", "post_only": True, "intent_id": "i1"},
        {**base, "type": "ack", "ts_ms": 2, "client_order_id": "c1", "order_id": "o1"},
        {**base, "type": "cancel", "ts_ms": 3, "stage": "sent", "order_id": "o1", "client_order_id": "c1"},
        {**base, "type": "cancel", "ts_ms": 4, "stage": "acked", "order_id": "o1", "client_order_id": "c1",
         "reduced_by": "5.00"},
        {**base, "type": "amend", "ts_ms": 4, "stage": "sent", "order_id": "o1", "client_order_id": "c1",
         "new_client_order_id": "c2", "side": "bid", "price": "0.4200", "count": "5.00"},
        {**base, "type": "reject", "ts_ms": 5, "client_order_id": "c2", "order_id": "o1", "code": "order_not_resting",
         "message": "order is not resting", "request": "amend"},
    ]  # fmt: skip
    r = Replayer(["recorded", "queue", "touch", "conservative"])
    for rec in recs:
        r.feed(rec)
    res = r.finish()
    for s in res.summaries.values():
        assert s.fills == 0
        assert s.orders == {"amend": 1, "cancel": 1, "create": 1, "decrease": 0}


def test_a_rejected_amend_leaves_a_resting_order_resting() -> None:
    """An amend refused for another reason (here post-only cross) leaves the order on the book: a later trade
    through its price still fills it (the model lanes used to cancel the virtual order on any reject)."""
    base = {"v": 1, "session": "s", "ticker": T}
    recs: list[dict[str, Any]] = [
        {**base, "type": "book", "ts_ms": 0, "kind": "snapshot", "seq": 1,
         "yes": [["0.3000", "10.00"]], "no": [["0.3000", "10.00"]]},
        {**base, "type": "order_sent", "ts_ms": 1, "client_order_id": "c1", "side": "bid", "price": "0.4000",
         "count": "5.00", "tif": "good_till_canceled", "post_only": True, "intent_id": "i1"},
        {**base, "type": "ack", "ts_ms": 2, "client_order_id": "c1", "order_id": "o1"},
        {**base, "type": "reject", "ts_ms": 3, "client_order_id": "c2", "order_id": "o1",
         "code": "invalid_order", "message": "post only cross", "request": "amend"},
        {**base, "type": "trade", "ts_ms": 4, "trade_id": "t1", "taker_side": "no", "yes_price": "0.4000",
         "no_price": "0.6000", "count": "5.00"},
    ]  # fmt: skip
    r = Replayer(["touch"])
    for rec in recs:
        r.feed(rec)
    assert r.finish().summaries["touch"].fills == 1
