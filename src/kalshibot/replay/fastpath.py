"""The replayer's per-record fast path for public book deltas (docs/benchmarks.md, figure 4).

Why it exists: about nine records in ten of a journal are book deltas, and :meth:`Replayer.feed` builds a frozen
:class:`~kalshibot.core.events.BookDelta` for each, hands it through every lane to its analytics and its venue's
fill model, and each lane's analytics scans the shared book again for its best bid and ask. Here a delta record is
checked, turned into (ticker, YES-leg side, price, delta) with the memoised string parses of
:mod:`kalshibot.replay.sources`, applied to the shared book once, the book's best bid/ask kept incrementally, and
each lane gets the values directly: the common case of :meth:`Analytics.on_book_top` and all of
:meth:`FillModel.on_level` are inlined in the loop (copies of those methods, kept in step with them; the tests
below compare against the pre-fast-path code). :func:`feed_files` is what ``kalshibot replay`` calls: it reads one
or two files with :mod:`kalshibot.replay.fastread` (deltas decoded straight to a :class:`DeltaRec`, records
handed over in lists rather than one generator step each).

Trades with an int clock take :func:`_trade` (``feed``'s steps for a print, without its dispatch). Everything
else goes through :meth:`Replayer.feed` unchanged: records of other types, snapshots, any delta this
path is not sure of (a field of an unexpected type, a price or size string not parsed before: ``feed`` parses it,
remembers it, or raises exactly as before), and replayers whose lanes, analytics, venues, models or event builder
are not the stock ones or that have ``extra`` hooks (they want the event object). The results equal
``feed``'s record by record (tests/test_replay_perf_fastpath.py runs both on recorded and random journals;
tests/test_replay_perf2_fastpath.py does the same from journal files, through the fast reader).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kalshibot.core.events import BookSide, TradePrint
from kalshibot.core.fixed import ONE_DOLLAR
from kalshibot.replay import sources
from kalshibot.replay.analytics import Analytics
from kalshibot.replay.fastread import DeltaRec, merged_fast
from kalshibot.replay.fillmodels import (
    ConservativeModel,
    FillModel,
    LevelBook,
    MarketFillState,
    QueueModel,
    TouchModel,
)
from kalshibot.replay.replayer import ModelLane, Record, RecordedLane, Replayer
from kalshibot.replay.sources import ReadStats
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


def feed_files(r: Replayer, paths: Iterable[str | Path], stats: ReadStats) -> bool:
    """Read ``paths`` (as :func:`~kalshibot.replay.sources.merged` would, into ``stats``) and feed every record to
    ``r``, one or two files by the fast reader (:mod:`kalshibot.replay.fastread`); False, having read nothing, if
    ``r`` is not :func:`supported`."""
    if not supported(r):
        return False
    files = sources.expand_paths(paths)
    chunks = merged_fast(files, stats)
    _feed(r, chunks if chunks is not None else (sources.merged(files, stats),))
    return True


def feed_fast(r: Replayer, records: Iterable[Record]) -> bool:
    """Feed every record to ``r`` (deltas by the fast path); False, having consumed nothing, if ``r`` is not
    :func:`supported`."""
    if not supported(r):
        return False
    _feed(r, (records,))
    return True


def _trade(
    r: Replayer,
    rec: dict[str, Any],
    ts: int,
    lanes: list[tuple[Analytics, tuple[ModelLane, dict[str, MarketFillState], FillModel, int] | None]],
) -> None:
    """:meth:`Replayer.feed` of a ``trade`` record whose ``ts_ms`` is an int, without the general dispatch: the same
    state changes in the same order (count, clock, the event built by the same builder, which raises as before;
    then per lane ``Lane.on_market``: the analytics' ``on_market``, which for a trade print only advances the
    clock, and for a model lane the venue's ``on_market_event`` and the fills). tests/test_perf_replay3_fastpath.py
    compares it with ``feed``."""
    counts = r.counts
    counts["trade"] = counts.get("trade", 0) + 1
    last_ts = r.last_ts_ms
    if last_ts is None or ts > last_ts:
        r.last_ts_ms = ts
    ev = sources.market_event_of(rec)
    if type(ev) is not TradePrint:  # pragma: no cover - a trade record always builds a TradePrint
        raise AssertionError("a trade record built another event")
    ticker = ev.ticker
    for a, model in lanes:
        a.advance(ts)  # Analytics.on_market(ev, ts) for a TradePrint
        if model is not None:
            # ModelLane.on_market's venue half: VirtualVenue.on_market_event for a print, then the lane's fills
            model_lane, markets, fm, _ = model
            fst = markets.get(ticker)
            if fst is None:
                fst = model_lane.venue.state(ticker)
            mf = fm.on_trade(fst, ev, ts)
            if mf:  # no model fill: apply_fills gives [] and _fills does nothing
                model_lane._fills(model_lane.venue.apply_fills(mf, ts), ticker, ts)


def _feed(r: Replayer, chunks: Iterable[Iterable[Any]]) -> None:
    """The loop of :func:`feed_fast` over records in chunks (lists from the fast reader: dicts and
    :class:`~kalshibot.replay.fastread.DeltaRec`; or one iterable of dicts)."""
    feed = r.feed
    counts = r.counts
    books = r.books
    tops = r._tops
    prices = sources._PRICES
    signed = sources._SIGNED
    # per lane: its analytics' entry point and, for a model lane, the lane, its venue's markets and its model's entry
    # point (looked up once here rather than once per record)
    lanes: list[tuple[Analytics, tuple[ModelLane, dict[str, MarketFillState], FillModel, int] | None]] = []
    for lane in r.lanes.values():
        if isinstance(lane, ModelLane):
            fmodel = lane.venue.model
            lanes.append((lane.analytics, (lane, lane.venue.markets, fmodel, fmodel.grace_ms)))
        else:
            lanes.append((lane.analytics, None))
    delta_rec = DeltaRec
    nbook = 0
    try:
        for chunk in chunks:
            for rec in chunk:
                if type(rec) is delta_rec:
                    # decoded by the fast reader: the types are checked; a price or size string not parsed before
                    # goes to the general path, which parses it (or raises) as it always did
                    # (subscripts: cheaper than .get() calls; try is free in 3.11 until it raises)
                    try:
                        price = prices[rec.price]
                        delta = signed[rec.delta]
                    except KeyError:
                        feed(rec.as_record())
                        continue
                    ts = rec.ts_ms
                    ticker = rec.ticker
                    seq = rec.seq
                    ask = rec.side == "no"
                    ours = rec.client_order_id is not None  # a DeltaRec's is a str or None
                else:
                    t = rec.get("type")
                    if t != "book":
                        if t == "trade":
                            ts = rec.get("ts_ms")
                            if type(ts) is int:
                                _trade(r, rec, ts, lanes)
                                continue
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
                    # a delta as the journal writes it has all of these; any field missing, a price or size that is
                    # not a string parsed before (the memos hold only those: KeyError, or TypeError if unhashable) or
                    # a field of another type, and the general path decides (parses, or raises as it always did)
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
                    ours = isinstance(coid, str)
                # from here on nothing can fail: the same state changes as Replayer.feed, in the same order
                nbook += 1  # counts["book"], added once at the end
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
                # ours: our own order's change (a client_order_id), not public liquidity
                for a, model in lanes:
                    # Analytics.on_book_top, inlined (twice per record); the book exists (books are shared, see
                    # supported)
                    now = a.now_ms
                    if ts > now:
                        now = ts
                    # now > a._until: a markout or a PnL sample is due, or no sample yet (Analytics._retime); and
                    # start_ms is set whenever _last_sample_ms is: advance() sets both, and every other caller of
                    # _sample advances first
                    if now > a._until:
                        a.advance(ts)
                    else:
                        a.now_ms = now
                    if not same or ticker not in a._quiet:
                        a._on_top(ticker, ts, bb, ba)
                    if model is not None:
                        # VirtualVenue.on_market_event for a delta, with the values: the market's state exists from its
                        # first event on; our own orders' deltas are not public liquidity
                        model_lane, markets, fm, grace = model
                        fst = markets.get(ticker)
                        if fst is None:
                            fst = model_lane.venue.state(ticker)
                        if ours:
                            continue
                        # FillModel.on_level(fst, side, yp, delta, seq, ts), inlined: it runs for nine records in ten
                        side: BookSide = "ask" if ask else "bid"
                        fb = fst.book
                        lv = fb.asks if ask else fb.bids
                        mold = lv.get(yp, 0)
                        mnew = mold + delta
                        if mnew > 0:
                            lv[yp] = mnew
                        else:
                            mnew = 0
                            lv.pop(yp, None)
                        fb.seq = seq
                        consumed = fst.consumed
                        if consumed:
                            used = consumed.get((side, yp))
                            if used is not None and used > mnew:
                                consumed[(side, yp)] = mnew
                        pending = fst.pending
                        if mnew < mold:
                            dec = mold - mnew
                            fcredit = fst.credit
                            if fcredit:
                                credit = fcredit.get((side, yp), 0)
                                absorbed = dec if dec < credit else credit
                                if absorbed:
                                    fcredit[(side, yp)] = credit - absorbed
                                    dec -= absorbed
                            if dec:
                                if not pending:
                                    fst.pending_floor = ts
                                    fst.pending_sorted = True
                                elif ts < pending[-1][0]:
                                    fst.pending_sorted = False
                                    if ts < fst.pending_floor:
                                        fst.pending_floor = ts
                                pending.append((ts, side, yp, dec))
                        if fst.orders:
                            fm.expire(fst, ts)
                            mf = fm._book_fills(fst)
                            if mf:
                                model_lane._fills(model_lane.venue.apply_fills(mf, ts), ticker, ts)
                        elif pending and fst.pending_floor + grace < ts:
                            if fst.pending_sorted:
                                # FillModel.expire without orders, inlined: drop the expired prefix
                                cut = ts - grace
                                i = 0
                                for pend in pending:
                                    if pend[0] >= cut:
                                        break
                                    i += 1
                                del pending[:i]
                                if pending:
                                    fst.pending_floor = pending[0][0]
                            else:
                                fm.expire(fst, ts)
    finally:
        if nbook:
            counts["book"] = counts.get("book", 0) + nbook
