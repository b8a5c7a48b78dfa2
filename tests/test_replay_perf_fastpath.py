"""The replay fast path (docs/benchmarks.md figure 4) computes exactly what the code before it did.

The reference here is the pre-fast-path code, kept as test-local subclasses: the fill models' per-delta
bookkeeping (``on_delta``, ``expire``, the queue model's book fills), the analytics' per-event top of book and its
PnL sum, and the ``heapq.merge`` reader. A replayer built from those parts only ever takes the general path
(``Replayer.feed``); the stock replayer takes the fast one (``Replayer.feed_all``). Both must end in the same state,
field by field, on the recorded demo journal and on random journals (deltas of every shape, our own orders'
deltas, trades, orders, amends, cancels, rejects, fills, settlements, clocks going back a little, odd field types
and unparsed price strings that send a record down the general path).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kalshibot.core.events import BookDelta, BookSide, BookSnapshot, TradePrint
from kalshibot.core.fixed import COUNT_ONE, ONE_DOLLAR, Count
from kalshibot.replay.analytics import Analytics
from kalshibot.replay.fillmodels import (
    ConservativeModel,
    FillModel,
    LevelBook,
    MarketFillState,
    ModelFill,
    QueueModel,
    TouchModel,
    crosses,
)
from kalshibot.replay.replayer import ModelLane, Replayer
from kalshibot.replay.sources import MARKET_TYPES, ReadStats, expand_paths, iter_file, merged

DATA = Path(__file__).parent / "data" / "replay-demo"


# ------------------------------------------------------------------------------------ the reference (old) code
def _ref_apply_delta(book: LevelBook, ev: BookDelta) -> tuple[BookSide, int, int, int]:
    if ev.side == "yes":
        side: BookSide = "bid"
        price = int(ev.price)
    else:
        side = "ask"
        price = int(ev.price) if ev.no_in_yes_prices else ONE_DOLLAR - int(ev.price)
    levels = book.side(side)
    old = levels.get(price, 0)
    new = max(0, old + int(ev.delta))
    if new:
        levels[price] = new
    else:
        levels.pop(price, None)
    book.seq = ev.seq
    return side, price, old, new


class _RefBookkeeping(FillModel):
    def on_delta(self, st: MarketFillState, ev: BookDelta, now_ms: int) -> list[ModelFill]:
        side, price, old, new = _ref_apply_delta(st.book, ev)
        key = (side, price)
        if key in st.consumed and st.consumed[key] > new:
            st.consumed[key] = new
        if new < old:
            dec = old - new
            credit = st.credit.get(key, 0)
            absorbed = min(dec, credit)
            if absorbed:
                st.credit[key] = credit - absorbed
                dec -= absorbed
            if dec:
                st.pending.append((now_ms, side, price, dec))
        self.expire(st, now_ms)
        return self._book_fills(st)

    def expire(self, st: MarketFillState, now_ms: int) -> None:
        if st.pending:
            st.pending = [p for p in st.pending if p[0] + self.grace_ms >= now_ms]
        for o in st.orders.values():
            cap = st.book.size_at(o.side, o.price) + st.pending_at(o.side, o.price)
            if o.queue_ahead > cap:
                o.queue_ahead = Count(cap)


class RefQueue(_RefBookkeeping, QueueModel):
    def _book_fills(self, st: MarketFillState) -> list[ModelFill]:
        fills: list[ModelFill] = []
        if not st.orders:
            return fills
        for o in st.sorted_orders():
            other: BookSide = "ask" if o.side == "bid" else "bid"
            levels = st.book.side(other)
            if not levels or not crosses(o.side, o.price, max(levels) if other == "bid" else min(levels)):
                continue
            left = int(o.remaining)
            for p in sorted(levels, reverse=(other == "bid")):
                if left <= 0 or not crosses(o.side, o.price, p):
                    break
                key = (other, p)
                n = min(left, levels[p] - st.consumed.get(key, 0))
                if n <= 0:
                    continue
                st.consumed[key] = st.consumed.get(key, 0) + n
                left -= n
                fills.append(ModelFill(o.order_id, Count(n), o.price, False, ""))
        return fills


class RefTouch(_RefBookkeeping, TouchModel):
    pass


class RefConservative(_RefBookkeeping, ConservativeModel):
    pass


REF_MODELS: dict[str, type[FillModel]] = {"queue": RefQueue, "touch": RefTouch, "conservative": RefConservative}


class RefAnalytics(Analytics):
    def on_market(self, ev: BookSnapshot | BookDelta | TradePrint, ts_ms: int) -> None:
        self.advance(ts_ms)
        if isinstance(ev, TradePrint):
            return
        book = self.books.get(ev.ticker)
        if book is None:
            book = self.books[ev.ticker] = LevelBook()
        m = self.market(ev.ticker)
        if m.first_ms is None:
            m.first_ms = m.last_ms = ts_ms
        bids, asks = book.bids, book.asks
        bb = max(bids) if bids else None
        ba = min(asks) if asks else None
        if bb is not None and ba is not None:
            m.mark = (bb + ba) // 2
        self._record_quotes(m, ts_ms, top=(bb, ba))

    def net_pnl(self) -> Fraction:
        return sum((m.marked_pc() for m in self.markets.values()), Fraction(0)) / COUNT_ONE - sum(
            m.fees for m in self.markets.values()
        )


def reference_replayer(models: list[str], series_cap: int = 2_000) -> Replayer:
    r = Replayer(models, series_cap=series_cap)
    for lane in r.lanes.values():
        a = lane.analytics
        lane.analytics = RefAnalytics(a.horizons, a.series_cap, r.books)
        if isinstance(lane, ModelLane):
            lane.venue.model = REF_MODELS[lane.name](grace_ms=lane.venue.model.grace_ms)
    return r


def ref_merged(paths: list[str | Path], stats: ReadStats) -> Iterator[dict[str, Any]]:
    files = expand_paths(paths)
    stats.files = len(files)

    def keyed(i: int, path: Path) -> Iterator[tuple[int, int, int, int, dict[str, Any]]]:
        for n, rec in enumerate(iter_file(path, stats)):
            ts = rec.get("ts_ms")
            yield (ts if isinstance(ts, int) else 0, 0 if rec.get("type") in MARKET_TYPES else 1, i, n, rec)

    for *_, rec in heapq.merge(*(keyed(i, p) for i, p in enumerate(files))):
        yield rec


# ----------------------------------------------------------------------------------------------- comparison
def _series(s: Any) -> tuple[Any, ...]:
    return (list(s.points), s.stride, s._skip)


def state_of(r: Replayer) -> dict[str, Any]:
    out: dict[str, Any] = {
        "counts": dict(r.counts),
        "last_ts": r.last_ts_ms,
        "sessions": list(r.sessions),
        "settled": set(r._settled),
        "books": {t: (b.bids, b.asks, b.seq, b.valid) for t, b in r.books.items()},
    }
    for name, lane in r.lanes.items():
        a = lane.analytics
        lane_state: dict[str, Any] = {
            "fills": lane.fills,
            "markets": dict(a.markets),
            "quotes": {t: _series(s) for t, s in a.quotes.items()},
            "inventory": {t: _series(s) for t, s in a.inventory.items()},
            "pnl": _series(a.pnl_series),
            "orders": dict(a.orders),
            "clock": (a.now_ms, a.start_ms, a._last_sample_ms, a._peak, a._max_dd, a._next_due),
            "markouts": ({h: list(q) for h, q in a._pending.items()}, a._markout_sum, a._markout_n),
        }
        if isinstance(lane, ModelLane):
            v = lane.venue
            lane_state["venue"] = (
                {
                    t: (s.book.bids, s.book.asks, s.book.seq, s.orders, s.credit, s.pending, s.consumed)
                    for t, s in v.markets.items()
                },
                list(v.markets),
                v.positions,
                v._orders,
                v._by_coid,
                v._next_id,
                v._priority,
                v._trade_seq,
                {k: (f._accumulated, f.balance_precision) for k, f in v._fees.items()},
                lane._real_to_coid,
            )
        out[name] = lane_state
    return out


def run_both(
    records: list[dict[str, Any]], models: list[str], series_cap: int = 2_000
) -> tuple[dict[str, Any], dict[str, Any]]:
    fast = Replayer(models, series_cap=series_cap)
    fast.feed_all(records)
    ref = reference_replayer(models, series_cap)
    for rec in records:
        ref.feed(rec)
    a, b = state_of(fast), state_of(ref)
    a["summaries"] = fast.finish().summaries
    b["summaries"] = ref.finish().summaries
    a["after"], b["after"] = state_of(fast), state_of(ref)
    return a, b


MODEL_SETS = (["queue", "recorded"], ["touch", "recorded"], ["conservative", "recorded"], ["recorded", "queue"])


def test_fast_path_is_taken_only_for_stock_parts() -> None:
    from kalshibot.replay.fastpath import supported

    assert supported(Replayer(["queue", "recorded"]))
    assert not supported(reference_replayer(["queue", "recorded"]))
    hooked = Replayer(["queue"])
    hooked.extra.append(lambda rec, ev, ts: None)
    assert not supported(hooked)


def test_demo_journal_fast_path_equals_reference() -> None:
    records = list(merged([DATA]))
    for models in (*MODEL_SETS, ["queue", "touch", "conservative", "recorded"]):
        for cap in (2_000, 7):
            a, b = run_both(records, models, cap)
            assert a == b
    assert a["summaries"]["queue"].fills > 0


# --------------------------------------------------------------------------------------------- random journals
TICKERS = ("A", "B")
PRICES = [f"0.{c:02d}00" for c in range(30, 71, 2)] + ["0.5", "0.52", "0.4800"]
SIZES = ["1.00", "2.00", "5.00", "10.00", "0.50", "3", "12.00"]


@st.composite
def journals(draw: st.DrawFn) -> list[dict[str, Any]]:
    n = draw(st.integers(5, 160))
    ts = 1_000_000
    recs: list[dict[str, Any]] = []
    coids: list[str] = []
    for i in range(n):
        seq = i + 1
        ts += draw(st.sampled_from([0, 0, 1, 5, 40, 200, 300, 700, 1500, -3, -450]))
        t = draw(st.sampled_from(TICKERS))
        kind = draw(
            st.sampled_from(
                ["delta"] * 12 + ["snap", "trade", "sent", "ack", "amend", "cancel", "reject", "fill", "intent"]
            )
        )
        base = {"v": 1, "ts_ms": ts, "session": "s", "ticker": t}
        if kind == "delta":
            rec = {
                **base,
                "type": "book",
                "kind": "delta",
                "sid": 1,
                "seq": seq,
                "side": draw(st.sampled_from(["yes", "no"])),
                "price": draw(st.sampled_from(PRICES)),
                "delta": draw(st.sampled_from(["-", ""])) + draw(st.sampled_from(SIZES)),
                "client_order_id": draw(st.sampled_from([None, None, None, None, "c-own"])),
                "exchange_ts_ms": None,
            }
            odd = draw(st.integers(0, 30))  # shapes the fast path leaves to the general one
            if odd == 0:
                del rec["sid"]
            elif odd == 1:
                rec["seq"] = str(seq)
            elif odd == 2:
                del rec["kind"]
            elif odd == 3:
                rec["ts_ms"] = float(ts)
            elif odd == 4:
                del rec["client_order_id"]
            elif odd == 5:
                rec["sid"] = None
            recs.append(rec)
        elif kind == "intent":  # no lane acts on it; an odd clock goes the general way
            clock = draw(st.sampled_from([ts, ts, None, float(ts)]))
            recs.append({**base, "type": draw(st.sampled_from(["intent", "risk"])), "ts_ms": clock})
        elif kind == "snap":
            lv = draw(st.lists(st.tuples(st.sampled_from(PRICES[:22]), st.sampled_from(SIZES)), max_size=4))
            nv = draw(st.lists(st.tuples(st.sampled_from(PRICES[:22]), st.sampled_from(SIZES)), max_size=4))
            recs.append({**base, "type": "book", "kind": "snapshot", "sid": 1, "seq": seq, "yes": lv, "no": nv})
        elif kind == "trade":
            recs.append(
                {
                    **base,
                    "type": "trade",
                    "trade_id": f"t{i}",
                    "yes_price": draw(st.sampled_from(PRICES)),
                    "count": draw(st.sampled_from(SIZES)),
                    "taker_side": draw(st.sampled_from(["yes", "no"])),
                }
            )
        elif kind == "sent":
            coid = f"c{i}"
            coids.append(coid)
            recs.append(
                {
                    **base,
                    "type": "order_sent",
                    "client_order_id": coid,
                    "side": draw(st.sampled_from(["bid", "ask"])),
                    "price": draw(st.sampled_from(PRICES)),
                    "count": draw(st.sampled_from(SIZES[:4])),
                    "post_only": draw(st.booleans()),
                }
            )
        elif coids:
            coid = draw(st.sampled_from(coids))
            if kind == "ack":
                recs.append({**base, "type": "ack", "client_order_id": coid, "order_id": "r" + coid})
            elif kind == "amend":
                recs.append(
                    {
                        **base,
                        "type": "amend",
                        "client_order_id": coid,
                        "price": draw(st.sampled_from(PRICES)),
                        "count": draw(st.sampled_from(SIZES[:4])),
                    }
                )
            elif kind == "cancel":
                recs.append({**base, "type": "cancel", "client_order_id": coid})
            elif kind == "reject":
                recs.append({**base, "type": "reject", "client_order_id": coid, "request": "create"})
            else:
                recs.append(
                    {
                        **base,
                        "type": "fill",
                        "client_order_id": coid,
                        "order_id": "r" + coid,
                        "trade_id": f"f{i}",
                        "price": draw(st.sampled_from(PRICES)),
                        "count": "1.00",
                        "side": draw(st.sampled_from(["yes", "no"])),
                        "fee": "0.01",
                    }
                )
    if draw(st.booleans()):
        recs.append({"type": "settlement", "ts_ms": ts + 10, "ticker": "A", "result": "yes", "payout": "1.00"})
    return recs


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(journals(), st.sampled_from(MODEL_SETS), st.sampled_from([2, 3, 5, 2_000]))
def test_random_journals_fast_path_equals_reference(
    records: list[dict[str, Any]], models: list[str], series_cap: int
) -> None:
    # small caps: the quote series decimate, so a point offered may not be stored
    a, b = run_both(records, models, series_cap)
    assert a == b


# ------------------------------------------------------------------------------------------ the venue alone
venue_op = st.tuples(
    st.sampled_from(["delta"] * 6 + ["trade", "place", "cancel", "tick", "snap"]),
    st.sampled_from(["yes", "no"]),
    st.integers(48, 52).map(lambda c: c * 10_000),
    st.integers(-6, 3).map(lambda n: n * 100),  # mostly decreases: queues move
    st.sampled_from([0, 1, 30, 80, 150, -60, -200]),  # clock steps; grace is 100 ms
)


@settings(max_examples=300, deadline=None)
@given(st.lists(venue_op, min_size=10, max_size=80), st.sampled_from(["queue", "touch", "conservative"]))
def test_venue_per_delta_bookkeeping_equals_reference(ops: list[Any], model: str) -> None:
    from kalshibot.replay.fillmodels import make_fill_model
    from kalshibot.replay.venue import VirtualVenue

    new, ref = VirtualVenue(make_fill_model(model, grace_ms=100)), VirtualVenue(REF_MODELS[model](grace_ms=100))
    # YES bids at 0.48-0.52 and YES asks at 0.52-0.56 (NO bids at 0.44-0.48), deep enough for many decreases
    full = BookSnapshot(
        "A", 1, 0, tuple((c * 10_000, 2_000) for c in range(48, 53)), tuple((c * 10_000, 2_000) for c in range(44, 49))
    )  # type: ignore[arg-type]
    for v in (new, ref):
        v.on_market_event(full, 1_000)
    ts = 1_000
    for n, (kind, side, price, size, step) in enumerate(ops, 1):
        ts += step
        outs = []
        if side == "no":
            price -= 40_000
        for v in (new, ref):
            if kind == "delta":
                outs.append(v.on_market_event(BookDelta("A", 1, n, side, price, size or 100), ts))  # type: ignore[arg-type]
            elif kind == "trade":
                outs.append(v.on_market_event(TradePrint("A", f"t{n}", price, abs(size) or 100, side), ts))  # type: ignore[arg-type]
            elif kind == "snap":
                outs.append(v.on_market_event(full, ts))
            elif kind == "place":
                bid = side == "yes"
                r = v.place(
                    "A",
                    "bid" if bid else "ask",
                    price if bid else ONE_DOLLAR - price,  # type: ignore[arg-type]
                    abs(size) or 100,  # type: ignore[arg-type]
                    client_order_id=f"c{n}",
                    now_ms=ts,
                    post_only=False,
                )
                outs.append([r])
            elif kind == "cancel" and v._orders:
                outs.append([v.cancel(sorted(v._orders)[0])])
            else:
                v.tick(ts)
        assert outs[:1] == outs[1:]
        a, b = new.markets.get("A"), ref.markets.get("A")
        if a is not None and b is not None:
            assert (a.book, a.orders, a.credit, a.pending, a.consumed) == (
                b.book,
                b.orders,
                b.credit,
                b.pending,
                b.consumed,
            )
    assert new.positions == ref.positions


# ---------------------------------------------------------------------------------------------------- reader
@st.composite
def files(draw: st.DrawFn) -> list[list[bytes]]:
    out = []
    for _ in range(draw(st.integers(1, 3))):
        lines = []
        for _ in range(draw(st.integers(0, 30))):
            k = draw(st.integers(0, 12))
            ts = draw(st.integers(0, 20))
            if k == 0:
                lines.append(b"")
            elif k == 1:
                lines.append(b'{"type":"book","ts_ms":1')  # torn / bad
            elif k == 2:
                lines.append(b"[1,2]")
            elif k == 3:
                lines.append(b'{"type":"intent","ts_ms":"7"}')
            else:
                t = draw(st.sampled_from([b"book", b"trade", b"fill", b"intent"]))
                lines.append(b'{"type":"%s","ts_ms":%d,"k":%d}' % (t, ts, len(lines)))
        out.append(lines)
    return out


@settings(max_examples=200, deadline=None)
@given(files())
def test_merged_equals_heapq_merge_record_by_record(tmp_path_factory: Any, contents: list[list[bytes]]) -> None:
    d = tmp_path_factory.mktemp("m")
    paths: list[str | Path] = []
    for i, lines in enumerate(contents):
        p = d / f"f{i}.jsonl"
        p.write_bytes(b"\n".join(lines))
        paths.append(p)

    def trace(it: Iterator[dict[str, Any]], s: ReadStats) -> list[Any]:
        # the statistics as seen after each record: the files are read at the same moments
        return [(rec, s.lines, s.bad_lines, s.bytes_read, list(s.bad_where)) for rec in it] + [
            (s.files, s.lines, s.bad_lines, s.bytes_read, s.bad_where)
        ]

    s1, s2 = ReadStats(), ReadStats()
    assert trace(merged(paths, s1), s1) == trace(ref_merged(paths, s2), s2)


def test_odd_delta_values_fail_or_parse_as_in_the_general_path() -> None:
    base = {"type": "book", "kind": "delta", "ts_ms": 5, "ticker": "A", "sid": 1, "seq": 1, "side": "yes"}
    base |= {"client_order_id": None}
    for price, delta in (([1], "1.00"), ("0.5000", {"x": 1}), ("1.5", "1.00"), ("0.5000", "-x")):
        rec = {**base, "price": price, "delta": delta}
        errors = []
        for fast in (True, False):
            r = Replayer(["queue", "recorded"])
            try:
                if fast:
                    r.feed_all([rec])
                else:
                    r.feed(rec)
                errors.append(None)
            except Exception as e:  # the same exception either way, whatever it is
                errors.append((type(e), str(e)))
        assert errors[0] is not None and errors[0] == errors[1]
    ok = {**base, "price": 0.5, "delta": 100}  # numbers, not strings: parsed (or refused) by the general path
    a, b = Replayer(["queue"]), Replayer(["queue"])
    outcomes = []
    for r, feed in ((a, a.feed_all), (b, lambda recs: [b.feed(x) for x in recs])):
        try:
            feed([ok])
            outcomes.append(state_of(r))
        except Exception as e:
            outcomes.append((type(e), str(e)))
    assert outcomes[0] == outcomes[1]
