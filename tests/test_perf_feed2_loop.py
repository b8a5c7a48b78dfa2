"""The feed's receive loop (``Feed._read``, issue 9 figure 2) inlines ``handle_frame``'s in-sequence delta path with
its state bound once per connection: it must give exactly what ``handle_frame`` gives for the same frames (events,
market-data records, stats, resyncs, commands), end on a normal close like ``async for`` and raise on any other."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK
from websockets.frames import Close

from kalshibot.core import events as ev
from kalshibot.net.auth import wall_clock_ms
from kalshibot.net.feed import Feed, MarketData
from tests.test_net_feed_fastpath import TICKERS, _frames, op


class _Socket:
    """Hands out the frames one ``recv`` at a time, then closes (normally unless told otherwise)."""

    def __init__(self, frames: list[bytes | str], error: bool = False) -> None:
        self.frames = list(frames)
        self.error = error

    async def recv(self) -> bytes | str:
        if self.frames:
            return self.frames.pop(0)
        if self.error:
            raise ConnectionClosedError(Close(1011, "boom"), None)
        raise ConnectionClosedOK(Close(1000, ""), Close(1000, ""), rcvd_then_sent=True)


def _connected_feed(clock: Any) -> tuple[Feed, list[ev.Event], list[MarketData]]:
    events: list[ev.Event] = []
    records: list[MarketData] = []
    feed = Feed("ws://unused", None, events.append, records.append, clock_ms=clock)  # type: ignore[arg-type]
    feed.set_markets(TICKERS)
    feed._ws = object()  # type: ignore[assignment]  # "connected": commands are queued, not deferred
    feed._command("subscribe", {"channels": ["fill"]})
    for t in TICKERS:
        feed._subscribe_market(t)
    return feed, events, records


def _outcome(feed: Feed, events: list[ev.Event], records: list[MarketData]) -> tuple[Any, ...]:
    sent = []
    while not feed._outbox.empty():
        sent.append(feed._outbox.get_nowait())
    return events, records, feed.stats, set(feed._awaiting), sent


def _by_handle_frame(frames: list[bytes], clock: Any = lambda: 1_000) -> tuple[Any, ...]:
    feed, events, records = _connected_feed(clock)
    for f in frames:
        feed.handle_frame(f)
    return _outcome(feed, events, records)


def _by_loop(frames: list[bytes], clock: Any = lambda: 1_000) -> tuple[Any, ...]:
    feed, events, records = _connected_feed(clock)
    asyncio.run(feed._read(_Socket(list(frames))))  # type: ignore[arg-type]
    return _outcome(feed, events, records)


@settings(max_examples=150, deadline=None)
@given(st.lists(op, max_size=60), st.integers(0, 3))
def test_receive_loop_equals_handle_frame(ops: list[tuple[Any, ...]], rounds: int) -> None:
    frames = _frames(ops)
    # the same stream several times over: the later rounds find the decoder's price/size memo warm, so the
    # loop's inlined straight path (not only the general path behind it) is what is compared
    for _ in range(rounds + 1):
        assert _by_loop(frames) == _by_handle_frame(frames)


def _stream(n: int) -> list[bytes]:
    ops: list[tuple[Any, ...]] = [("snapshot", 0)] + [
        ("delta", 0, "next", 40, 1 - 2 * (i % 2), "yes") for i in range(n)
    ]
    ops += [("delta", 0, "gap", 41, 1, "yes"), ("delta", 0, "next", 42, 1, "yes"), ("trade", 0)]
    return _frames(ops)


def test_loop_takes_the_straight_path_and_still_resyncs_on_a_gap() -> None:
    frames = _stream(6)
    _by_handle_frame(frames)  # warm the decoder's memo so the loop's own straight path runs
    events, records, stats, awaiting, sent = _by_loop(frames)
    assert [e.seq for e in events if isinstance(e, ev.BookDelta)] == [2, 3, 4, 5, 6, 7]
    assert stats.deltas == 6 and stats.gaps == 1 and stats.dropped_deltas == 1 and stats.trades == 1
    assert stats.messages == len(frames)
    assert any(isinstance(e, ev.BookGap) for e in events) and "KXA-1" in awaiting
    assert sent[-1]["cmd"] == "update_subscription"
    assert [r.fields["seq"] for r in records if r.fields.get("kind") == "delta"] == [2, 3, 4, 5, 6, 7]


def test_loop_honours_a_custom_clock_and_reads_the_wall_clock_by_default() -> None:
    frames = _stream(4)
    _by_handle_frame(frames)
    ticks = iter(range(10_000, 20_000))
    _, records, stats, _, _ = _by_loop(frames, clock=lambda: next(ticks))
    assert [r.ts_ms for r in records] == list(range(10_000, 10_000 + len(records)))  # one reading per record
    assert stats.last_msg_ms["KXA-1"] == records[-1].ts_ms
    before = wall_clock_ms()
    _, records, stats, _, _ = _by_loop(frames, clock=wall_clock_ms)
    after = wall_clock_ms()
    assert records and all(before <= r.ts_ms <= after for r in records)
    assert before <= stats.last_msg_ms["KXA-1"] <= after <= time.time_ns() // 1_000_000


def test_loop_ends_on_a_normal_close_and_raises_on_an_abnormal_one() -> None:
    feed, events, _ = _connected_feed(lambda: 1)
    asyncio.run(feed._read(_Socket([orjson.dumps({"type": "ticker"})])))  # type: ignore[arg-type]
    assert feed.stats.messages == 1 and events == []
    with pytest.raises(ConnectionClosedError):
        asyncio.run(feed._read(_Socket([], error=True)))  # type: ignore[arg-type]


@pytest.mark.parametrize("loop", [True, False])
def test_a_resync_asked_mid_stream_drops_in_sequence_deltas_until_the_snapshot(loop: bool) -> None:
    """The engine's ``ResyncBook`` arrives between frames (from the event callback): the deltas that follow are
    in sequence but the book is invalid, so they are dropped, in the loop's straight path as in ``handle_frame``."""
    ops: list[tuple[Any, ...]] = [("snapshot", 0)] + [("delta", 0, "next", 40, 1, "yes")] * 5 + [("snapshot", 0)]
    ops += [("delta", 0, "next", 40, 1, "yes")]
    frames = _frames(ops)
    _by_handle_frame(frames)  # warm the decoder's memo
    feed, events, _ = _connected_feed(lambda: 1)

    def on_event(e: ev.Event) -> None:
        events.append(e)
        if isinstance(e, ev.BookDelta) and e.seq == 3:
            feed.resync(e.ticker)

    feed.on_event = on_event
    ready = 5  # the four subscribe replies and the first snapshot: the loop starts with the book ready
    for f in frames[:ready]:
        feed.handle_frame(f)
    assert not feed._awaiting - {"KXB-2"}
    if loop:
        asyncio.run(feed._read(_Socket(list(frames[ready:]))))  # type: ignore[arg-type]
    else:
        for f in frames[ready:]:
            feed.handle_frame(f)
    assert [e.seq for e in events if isinstance(e, ev.BookDelta)] == [2, 3, 8]
    assert feed.stats.dropped_deltas == 3 and feed.stats.resyncs == 1 and feed.stats.snapshots == 2
    assert [e.reason for e in events if isinstance(e, ev.BookGap)] == ["requested"]


def test_markets_dropped_and_added_mid_stream_match_handle_frame() -> None:
    """The loop binds the per-connection state once: changes made from a callback while it runs (the daemon's
    universe update unsubscribing a market, then subscribing it again) must land in that same state."""
    ops: list[tuple[Any, ...]] = [("snapshot", 0), ("snapshot", 1)]
    ops += [("delta", m, "next", 40, 1, "yes") for _ in range(4) for m in (0, 1)]
    frames = _frames(ops)
    _by_handle_frame(frames)  # warm the decoder's memo

    def run(loop: bool) -> tuple[Any, ...]:
        feed, events, records = _connected_feed(lambda: 1)

        def on_event(e: ev.Event) -> None:
            events.append(e)
            if isinstance(e, ev.BookDelta) and e.ticker == "KXB-2" and e.seq == 3:
                feed.set_markets(["KXA-1"])  # KXB-2 unsubscribed: its later deltas are no longer its book's
                feed.set_markets(TICKERS)  # and subscribed again: awaiting a new sid and snapshot
            if isinstance(e, ev.BookDelta) and e.ticker == "KXA-1" and e.seq == 4:
                feed.resync("KXA-1")

        feed.on_event = on_event
        if loop:
            asyncio.run(feed._read(_Socket(list(frames))))  # type: ignore[arg-type]
        else:
            for f in frames:
                feed.handle_frame(f)
        return (*_outcome(feed, events, records), feed.book_ready("KXA-1"), feed.book_ready("KXB-2"))

    got = run(loop=True)
    assert got == run(loop=False)
    events, _, stats, awaiting, sent, *_ = got
    assert [(e.ticker, e.seq) for e in events if isinstance(e, ev.BookDelta)] == [
        ("KXA-1", 2),
        ("KXB-2", 2),
        ("KXA-1", 3),
        ("KXB-2", 3),
        ("KXA-1", 4),
    ]
    assert awaiting == {"KXA-1", "KXB-2"} and stats.dropped_deltas == 3
    assert [c["cmd"] for c in sent][-3:] == ["unsubscribe", "subscribe", "update_subscription"]
