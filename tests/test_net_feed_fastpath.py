"""The feed's straight path for in-sequence ``orderbook_delta`` frames (issue 9, figure 2) must behave exactly like
the general path it skips (``Feed._handle_slow``): same events, same market-data records, same stats, same
resyncs, for any mix of deltas in sequence, duplicates, gaps, stale sids, snapshots and bad frames."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from kalshibot.core import events as ev
from kalshibot.net.feed import Feed, MarketData

TICKERS = ("KXA-1", "KXB-2")

op = st.one_of(
    st.tuples(
        st.just("delta"),
        st.integers(0, 1),  # market
        st.sampled_from(["next", "next", "next", "dup", "gap", "stale_sid"]),
        st.integers(1, 99),  # price in cents
        st.integers(-5, 5).filter(bool),
        st.sampled_from(["yes", "no"]),
    ),
    st.tuples(st.just("snapshot"), st.integers(0, 1)),
    st.tuples(st.just("bad"), st.sampled_from(["json", "list", "price", "sid", "side"])),
    st.tuples(st.just("trade"), st.integers(0, 1)),
)


def _frames(ops: list[tuple[Any, ...]]) -> list[bytes]:
    """The exchange's side: book sids 1 and 3 (trade sids 2 and 4) after the subscribe replies, seq per sid."""
    out: list[bytes] = []
    for cid, _t in enumerate(TICKERS, start=2):  # command 1 is the account subscribe
        for k, ch in enumerate(("orderbook_delta", "trade")):
            sid = 2 * (cid - 2) + 1 + k
            out.append(orjson.dumps({"id": cid, "type": "subscribed", "msg": {"channel": ch, "sid": sid}}))
    seq = {1: 0, 2: 0, 3: 0, 4: 0}
    for o in ops:
        if o[0] == "delta":
            _, m, how, cents, d, side = o
            sid = 2 * m + 1
            if how == "next":
                seq[sid] += 1
                s = seq[sid]
            elif how == "dup":
                s = max(seq[sid], 1)
            elif how == "gap":
                seq[sid] += 2
                s = seq[sid]
            else:
                sid, s = 99, 1
            msg = {
                "market_ticker": TICKERS[m],
                "price_dollars": f"0.{cents:02d}00",
                "delta_fp": f"{d}.00",
                "side": side,
            }
            out.append(orjson.dumps({"type": "orderbook_delta", "sid": sid, "seq": s, "msg": msg}))
        elif o[0] == "snapshot":
            sid = 2 * o[1] + 1
            seq[sid] += 1
            body = {"market_ticker": TICKERS[o[1]], "yes_dollars_fp": [["0.4000", "10.00"]], "no_dollars_fp": []}
            out.append(orjson.dumps({"type": "orderbook_snapshot", "sid": sid, "seq": seq[sid], "msg": body}))
        elif o[0] == "trade":
            sid = 2 * o[1] + 2
            seq[sid] += 1
            body = {"trade_id": f"t{seq[sid]}", "market_ticker": TICKERS[o[1]], "yes_price_dollars": "0.4000"}
            body |= {"count_fp": "1.00", "taker_outcome_side": "yes"}
            out.append(orjson.dumps({"type": "trade", "sid": sid, "seq": seq[sid], "msg": body}))
        else:
            bad = {
                "json": b'{"type": "orderbook_delta", ',
                "list": b"[1, 2]",
                "price": orjson.dumps(
                    {
                        "type": "orderbook_delta",
                        "sid": 1,
                        "seq": 1,
                        "msg": {"market_ticker": TICKERS[0], "price_dollars": "x", "delta_fp": "1.00", "side": "yes"},
                    }
                ),
                "sid": b'{"type": "orderbook_delta", "sid": "1", "seq": 1, "msg": {}}',
                "side": orjson.dumps(
                    {
                        "type": "orderbook_delta",
                        "sid": 1,
                        "seq": 1,
                        "msg": {"market_ticker": TICKERS[0], "price_dollars": "0.1000", "delta_fp": "1", "side": "up"},
                    }
                ),
            }[o[1]]
            out.append(bad)
    return out


def _run(frames: list[bytes], slow: bool) -> tuple[list[Any], list[Any], Any, set[str], list[Any]]:
    events: list[ev.Event] = []
    records: list[MarketData] = []
    feed = Feed("ws://unused", None, events.append, records.append, clock_ms=lambda: 1_000)  # type: ignore[arg-type]
    feed.set_markets(TICKERS)
    feed._ws = object()  # type: ignore[assignment]  # "connected": commands are queued, not deferred
    feed._command("subscribe", {"channels": ["fill"]})
    for t in TICKERS:
        feed._subscribe_market(t)
    handle = feed._handle_slow if slow else feed.handle_frame
    for f in frames:
        if slow:
            feed.stats.messages += 1  # handle_frame's own count, which the slow path leaves to its caller
        handle(f)
    sent = []
    while not feed._outbox.empty():
        sent.append(feed._outbox.get_nowait())
    return events, records, feed.stats, set(feed._awaiting), sent


@settings(max_examples=150, deadline=None)
@given(st.lists(op, max_size=60))
def test_fast_path_equals_general_path(ops: list[tuple[Any, ...]]) -> None:
    frames = _frames(ops)
    assert _run(frames, slow=False) == _run(frames, slow=True)


def test_in_sequence_deltas_are_delivered_and_a_gap_resyncs() -> None:
    """The straight path is actually taken and still ends in the right place (a check that can fail on its own)."""
    ops: list[tuple[Any, ...]] = [("snapshot", 0), *[("delta", 0, "next", 40, 1, "yes")] * 3]
    ops += [("delta", 0, "gap", 41, 1, "yes"), ("delta", 0, "next", 42, 1, "yes")]
    events, records, stats, awaiting, sent = _run(_frames(ops), slow=False)
    deltas = [e for e in events if isinstance(e, ev.BookDelta)]
    assert [d.seq for d in deltas] == [2, 3, 4]
    assert stats.deltas == 3 and stats.gaps == 1 and stats.dropped_deltas == 1
    assert any(isinstance(e, ev.BookGap) for e in events) and awaiting == {"KXA-1", "KXB-2"}
    assert sent[-1]["cmd"] == "update_subscription"
    assert [r.fields["seq"] for r in records if r.fields.get("kind") == "delta"] == [2, 3, 4]
