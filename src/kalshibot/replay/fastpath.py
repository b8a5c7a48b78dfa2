"""The replayer's per-record fast path for public book deltas (docs/benchmarks.md, figure 4).

Why it exists: about nine records in ten of a journal are book deltas, and :meth:`Replayer.feed` builds a frozen
:class:`~kalshibot.core.events.BookDelta` for each, hands it through every lane to its analytics and its venue's
fill model, and each lane's analytics scans the shared book again for its best bid and ask. Here a delta record is
checked, turned into (ticker, YES-leg side, price, delta) with the memoised string parses of
:mod:`kalshibot.replay.sources`, applied to the shared book once, the book's best bid/ask kept incrementally, and
each lane gets the values directly (:meth:`Analytics.on_book_top`, :meth:`FillModel.on_level`).

Everything else goes through :meth:`Replayer.feed` unchanged: records of other types, snapshots, any delta this
path is not sure of (a field of an unexpected type, a price or size string not parsed before: ``feed`` parses it,
remembers it, or raises exactly as before), and replayers whose lanes, analytics, venues, models or event builder
are not the stock ones or that have ``extra`` hooks (they want the event object). The results equal
``feed``'s record by record (tests/test_replay_perf_fastpath.py runs both on recorded and random journals).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from kalshibot.core.events import BookSide
from kalshibot.core.fixed import ONE_DOLLAR
from kalshibot.replay import sources
from kalshibot.replay.analytics import Analytics
from kalshibot.replay.fillmodels import (
    ConservativeModel,
    LevelBook,
    MarketFillState,
    ModelFill,
    QueueModel,
    TouchModel,
)
from kalshibot.replay.replayer import ModelLane, Record, RecordedLane, Replayer
from kalshibot.replay.venue import VirtualVenue

_MODELS = (QueueModel, TouchModel, ConservativeModel)
# record types the replayer or one of the stock lanes acts on; any other (``intent``, ...) only counts and moves
# the clock
_HANDLED = frozenset(
    {"book", "trade", "session", "settlement", "lifecycle", "order_sent", "ack", "reject", "cancel", "amend"}
    | {"decrease", "fill"}
)


def supported(r: Replayer) -> bool:
    """Whether ``r`` is made of the stock parts whose behaviour this module reproduces."""
    if r.extra or r._market_event is not sources.market_event_of or type(r).feed is not Replayer.feed:
        return False
    for lane in r.lanes.values():
        if type(lane) is ModelLane:
            if type(lane.venue) is not VirtualVenue or type(lane.venue.model) not in _MODELS:
                return False
        elif type(lane) is not RecordedLane:
            return False
        a = lane.analytics
        if type(a) is not Analytics or a.books is not r.books or a._own_books:
            return False
    return True


def feed_fast(r: Replayer, records: Iterable[Record]) -> bool:
    """Feed every record to ``r`` (deltas by the fast path); False, having consumed nothing, if ``r`` is not
    :func:`supported`."""
    if not supported(r):
        return False
    feed = r.feed
    counts = r.counts
    books = r.books
    tops = r._tops
    prices = sources._PRICES
    signed = sources._SIGNED
    # per lane: its analytics' entry point and, for a model lane, the lane, its venue's markets and its model's entry
    # point (looked up once here rather than once per record)
    OnLevel = Callable[[MarketFillState, BookSide, int, int, int, int], list[ModelFill]]
    lanes: list[tuple[Callable[..., None], tuple[ModelLane, dict[str, MarketFillState], OnLevel] | None]] = []
    for lane in r.lanes.values():
        if isinstance(lane, ModelLane):
            lanes.append((lane.analytics.on_book_top, (lane, lane.venue.markets, lane.venue.model.on_level)))
        else:
            lanes.append((lane.analytics.on_book_top, None))
    for rec in records:
        t = rec.get("type")
        if t != "book":
            if type(t) is str and t not in _HANDLED:
                ts = rec.get("ts_ms")
                if type(ts) is int:  # what Replayer.feed does with it (every lane ignores it; no hooks)
                    counts[t] = counts.get(t, 0) + 1
                    last_ts = r.last_ts_ms
                    if last_ts is None or ts > last_ts:
                        r.last_ts_ms = ts
                    continue
            feed(rec)
            continue
        # a delta as the journal writes it has all of these; any field missing, a price or size that is not a
        # string parsed before (the memos hold only those: KeyError, or TypeError if unhashable) or a field of
        # another type, and the general path decides (parses, or raises as it always did)
        try:
            kind = rec["kind"]
            ts = rec["ts_ms"]
            ticker = rec["ticker"]
            price = prices[rec["price"]]
            delta = signed[rec["delta"]]
            seq = rec["seq"]
            sid = rec["sid"]
            ask = rec["side"] == "no"
            coid = rec["client_order_id"]
        except (KeyError, TypeError):
            kind = None
        if (
            kind != "delta"
            or type(ts) is not int
            or type(ticker) is not str
            or type(seq) is not int
            or type(sid) is not int
        ):
            feed(rec)
            continue
        # from here on nothing can fail: the same state changes as Replayer.feed, in the same order
        counts["book"] = counts.get("book", 0) + 1
        last_ts = r.last_ts_ms
        if last_ts is None or ts > last_ts:
            r.last_ts_ms = ts
        book = books.get(ticker)
        if book is None:
            book = books[ticker] = LevelBook()
        # LevelBook.apply_level, inlined: this loop runs once per record
        if ask:
            yp = ONE_DOLLAR - price
            levels = book.asks
        else:
            yp = price
            levels = book.bids
        new = levels.get(yp, 0) + delta
        if new > 0:
            levels[yp] = new
        else:
            new = 0
            levels.pop(yp, None)
        book.seq = seq
        # the best bid/ask, and whether they are those of the market's previous book event (all lanes saw it)
        top = tops.get(ticker)
        if top is None:
            bb = max(book.bids) if book.bids else None
            ba = min(book.asks) if book.asks else None
            tops[ticker] = (bb, ba)
            same = False
        else:
            bb, ba = top
            same = True
            if ask:
                if new:
                    if ba is None or yp < ba:
                        ba = yp
                        tops[ticker] = (bb, ba)
                        same = False
                elif yp == ba:
                    ba = min(levels) if levels else None
                    tops[ticker] = (bb, ba)
                    same = False
            elif new:
                if bb is None or yp > bb:
                    bb = yp
                    tops[ticker] = (bb, ba)
                    same = False
            elif yp == bb:
                bb = max(levels) if levels else None
                tops[ticker] = (bb, ba)
                same = False
        ours = isinstance(coid, str)  # our own order's change: not public liquidity
        for on_top, model in lanes:
            on_top(ticker, ts, bb, ba, same)
            if model is not None:
                # VirtualVenue.on_market_event for a delta, with the values: the market's state exists from its
                # first event on; our own orders' deltas are not public liquidity
                model_lane, markets, on_level = model
                fst = markets.get(ticker)
                if fst is None:
                    fst = model_lane.venue.state(ticker)
                if not ours:
                    mf = on_level(fst, "ask" if ask else "bid", yp, delta, seq, ts)
                    if mf:
                        model_lane._fills(model_lane.venue.apply_fills(mf, ts), ticker, ts)
    return True
