"""The WebSocket feed against the simulator over loopback: books identical to the exchange's after thousands of
deltas, per-market resync after an injected gap, reconnect after a dropped connection or a channel error."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from kalshibot.core import events as ev
from kalshibot.core.book import OrderBook
from kalshibot.journal.records import make_record
from kalshibot.net.auth import KalshiAuth, load_private_key
from kalshibot.net.feed import Feed, MarketData
from kalshibot.sim.simerrors import SimError
from kalshibot.sim.state import CreateOrderParams
from kalshibot.sim.testing import TestSim, add_test_market, eventually, running_sim

TICKERS = ("NET-A", "NET-B")


@dataclass
class Recorder:
    books: dict[str, OrderBook] = field(default_factory=dict)
    events: list[ev.Event] = field(default_factory=list)
    market_data: list[MarketData] = field(default_factory=list)

    def on_event(self, e: ev.Event) -> None:
        self.events.append(e)
        if isinstance(e, ev.BookSnapshot | ev.BookDelta):
            self.books.setdefault(e.ticker, OrderBook(e.ticker)).apply(e)
        elif isinstance(e, ev.BookGap | ev.FeedDown):
            for t in e.tickers:
                self.books.setdefault(t, OrderBook(t)).invalidate()

    def of(self, cls: type) -> list[ev.Event]:
        return [e for e in self.events if isinstance(e, cls)]


@dataclass
class Rig:
    sim: TestSim
    feed: Feed
    rec: Recorder
    other_user: str


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with running_sim(scenario="none", rate_limit_tier="off", faults_enabled=True) as sim:
        for t in TICKERS:
            add_test_market(sim, t)
        _key, _signer, other = sim.new_user()
        rec = Recorder()
        auth = KalshiAuth(sim.test_key_id, load_private_key(sim.test_private_key_pem))
        feed = Feed(sim.ws_url, auth, rec.on_event, rec.market_data.append, backoff_initial_s=0.02, backoff_max_s=0.2)
        feed.set_markets(TICKERS)
        task = asyncio.create_task(feed.run())
        await eventually(lambda: all(feed.book_ready(t) for t in TICKERS), what="initial snapshots")
        try:
            yield Rig(sim, feed, rec, other)
        finally:
            feed.stop()
            await asyncio.wait_for(task, 5)


def churn(rig: Rig, n: int, seed: int, tickers: tuple[str, ...] = TICKERS) -> None:
    """``n`` order operations by another user straight on the exchange: rests, cancels and crossing trades."""
    rng = random.Random(seed)
    ex = rig.sim.exchange
    resting: list[str] = []
    for _ in range(n):
        now = rig.sim.clock()
        if resting and rng.random() < 0.35:
            oid = resting.pop(rng.randrange(len(resting)))
            with contextlib.suppress(SimError):  # filled meanwhile
                ex.cancel_order(rig.other_user, oid, now)
            continue
        side = rng.choice(("bid", "ask"))
        cents = rng.randint(30, 55) if side == "bid" else rng.randint(45, 70)
        req = CreateOrderParams(
            ticker=rng.choice(tickers), side=side, price=cents * 10_000, count=rng.randint(1, 5) * 100,
            self_trade_prevention_type="maker",
        )  # fmt: skip
        try:
            res = ex.create_order(rig.other_user, req, now)
        except SimError:
            continue
        resting.append(res.order.order_id)
    rig.sim.poke()


def same_book(rig: Rig, ticker: str) -> bool:
    levels = rig.sim.bridge.book_levels(ticker)
    book = rig.rec.books.get(ticker)
    if levels is None or book is None or not book.valid:
        return False
    yes, no = levels
    return sorted(book.levels("yes")) == sorted(yes) and sorted(book.levels("no")) == sorted(no)


async def test_books_match_the_exchange_after_thousands_of_deltas(rig: Rig) -> None:
    churn(rig, 3000, seed=7)
    await eventually(lambda: all(same_book(rig, t) for t in TICKERS), timeout=20, what="books equal the exchange's")
    assert rig.feed.stats.deltas >= 2000
    assert rig.feed.stats.gaps == 0 and rig.feed.stats.bad_frames == 0
    # every applied message went to the market-data file, in the journal's record shape
    book_md = [m for m in rig.rec.market_data if m.type == "book"]
    assert len(book_md) == rig.feed.stats.deltas + rig.feed.stats.snapshots
    for md in (book_md[0], book_md[-1], *[m for m in rig.rec.market_data if m.type == "trade"][:3]):
        make_record(md.type, md.ts_ms, "s1", **md.fields)  # raises if the record is not valid


async def test_gap_resyncs_only_the_affected_market(rig: Rig) -> None:
    churn(rig, 50, seed=1)
    await eventually(lambda: all(same_book(rig, t) for t in TICKERS), what="books settle")
    rig.sim.faults.inject("ws_skip", count=1, channel="orderbook_delta")
    churn(rig, 30, seed=2, tickers=("NET-A",))
    await eventually(lambda: rig.feed.stats.resyncs == 1, what="resync")
    gaps = rig.rec.of(ev.BookGap)
    assert [g.tickers for g in gaps] == [("NET-A",)]  # NET-B's book stayed valid throughout
    churn(rig, 30, seed=3)
    await eventually(lambda: all(same_book(rig, t) for t in TICKERS), what="books equal after the resync")
    assert rig.feed.stats.reconnects == 0


@pytest.mark.parametrize("fault", ["ws_drop", "ws_channel_error"])
async def test_reconnects_and_rebuilds(rig: Rig, fault: str) -> None:
    churn(rig, 50, seed=4)
    await eventually(lambda: all(same_book(rig, t) for t in TICKERS), what="books settle")
    rig.sim.faults.inject(fault)
    await eventually(lambda: rig.feed.stats.reconnects >= 1 and rig.feed.connected, what="reconnect")
    down = rig.rec.of(ev.FeedDown)
    assert down and set(down[0].tickers) == set(TICKERS)
    churn(rig, 50, seed=5)
    await eventually(lambda: all(same_book(rig, t) for t in TICKERS), what="books rebuilt after reconnect")


async def test_markets_added_and_removed_live(rig: Rig) -> None:
    add_test_market(rig.sim, "NET-C")
    rig.feed.set_markets(("NET-A", "NET-C"))
    await eventually(lambda: rig.feed.book_ready("NET-C"), what="new market snapshot")
    n_b = sum(1 for e in rig.rec.events if isinstance(e, ev.BookDelta) and e.ticker == "NET-B")
    churn(rig, 60, seed=6, tickers=("NET-B", "NET-C"))
    await eventually(lambda: same_book(rig, "NET-C"), what="NET-C book")
    assert sum(1 for e in rig.rec.events if isinstance(e, ev.BookDelta) and e.ticker == "NET-B") == n_b
    assert not rig.feed.book_ready("NET-B")


async def test_bad_frames_are_counted_not_fatal(rig: Rig) -> None:
    for frame in (b"{nope", b"[]", b'{"type":"orderbook_delta","sid":"x"}', b'{"type":"fill","msg":{}}'):
        rig.feed.handle_frame(frame)
    assert rig.feed.stats.bad_frames == 4
    churn(rig, 20, seed=8)
    await eventually(lambda: all(same_book(rig, t) for t in TICKERS), what="still in sync")


def test_consumer_errors_are_not_swallowed_as_bad_frames() -> None:
    def boom(_e: ev.Event) -> None:
        raise ValueError("engine bug")

    class NoAuth:
        async def ws_headers(self, ws_url: str) -> dict[str, str]:
            return {}

    feed = Feed("ws://unused", NoAuth(), boom)
    fill = (
        b'{"type":"fill","sid":3,"msg":{"trade_id":"t1","order_id":"o1","market_ticker":"X","is_taker":false,'
        b'"outcome_side":"yes","book_side":"bid","yes_price_dollars":"0.4000","count_fp":"1.00","fee_cost":"0"}}'
    )
    with pytest.raises(ValueError, match="engine bug"):
        feed.handle_frame(fill)
    assert feed.stats.bad_frames == 0
    assert feed.stats.stale(["X"], now_ms=10, max_age_ms=5) == ["X"]  # never heard of: stale
