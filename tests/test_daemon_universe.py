"""The daemon's universe refresh against a test simulator over loopback (issue 7 "Universe"): a market that opens
in a configured series is picked up, subscribed and quoted once its first snapshot arrives; a market that closed
leaves the feed and quoting but stays in the risk picture (with its position) until settlement."""

from __future__ import annotations

from pathlib import Path

import pytest

from kalshibot.core.fixed import contracts
from kalshibot.sim.state import CreateOrderParams
from kalshibot.sim.testing import add_test_market, eventually, running_sim
from tests.test_daemon_support import resting_ids, running_daemon, seed_book, settings_for, two_sided

# real daemons against a real simulator over loopback: generous on a loaded 2-core CI machine
pytestmark = pytest.mark.timeout(180)

OLD, NEW = "TEST-MKT", "TEST-NEW"


async def test_refresh_adds_new_markets_and_keeps_closed_ones_in_risk(tmp_path: Path) -> None:
    async with running_sim(scenario="none", rate_limit_tier="off") as sim:
        add_test_market(sim, OLD)
        seed_book(sim, OLD)
        async with running_daemon(settings_for(tmp_path, sim)) as d:
            assert d.engine is not None and d.feed is not None
            await eventually(lambda: two_sided(d, OLD), timeout=10, what="quotes in the first market")
            assert d.tickers == {OLD}
            # we get filled in OLD (a position to keep in the risk picture), then a new market opens in the series
            bid = max(o.price for o in d.engine.open_orders() if o.side == "bid" and o.order_id is not None)
            _k, _s, taker = sim.new_user()
            hit = CreateOrderParams(OLD, "ask", bid, contracts(2), "immediate_or_cancel")
            assert sim.exchange.create_order(taker, hit, sim.clock()).fill_count > 0
            sim.exchange.advance(sim.clock())
            sim.poke()
            await eventually(lambda: d.engine is not None and d.engine.positions().get(OLD), timeout=10, what="fill")
            add_test_market(sim, NEW, event_ticker="TEST-EVT2")
            seed_book(sim, NEW)
            sim.exchange.close_market_early(OLD, sim.clock())
            sim.poke()

            await d._refresh_universe()

            assert d.tickers == {NEW}
            await eventually(lambda: d.feed is not None and d.feed.book_ready(NEW), timeout=10, what="NEW snapshot")
            await eventually(lambda: two_sided(d, NEW), timeout=10, what="quotes in the new market")
            # the closed market: nothing of ours rests there, but its position is still in the risk picture
            await eventually(
                lambda: not [o for o in d.engine.open_orders() if o.ticker == OLD] if d.engine else False,
                timeout=10,
                what="no quotes in the closed market",
            )
            on_exchange = {o.ticker for o in sim.exchange.list_orders(sim.test_user_id, status="resting")}
            assert OLD not in on_exchange and resting_ids(sim)
            old = next(m for m in d.engine.markets() if m["ticker"] == OLD)
            assert old["position"] == contracts(2)
            assert d.engine.positions().get(OLD) == contracts(2)
