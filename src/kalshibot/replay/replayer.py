"""Journal replay: the logged strategy's orders against recorded market data, under several fill models at once.

Theory of operation
-------------------
Input is the stream of journal records (``journal-*.jsonl``: what the bot decided and did) and market records
(``market-*.jsonl``: the books and trades it saw), merged in timestamp order by :mod:`kalshibot.replay.sources`.
The replayer hands each record to every *lane*; a lane is one way of answering "what fills would we have had":

* :class:`ModelLane` (``queue``, ``touch``, ``conservative``): the journaled order requests (``order_sent``,
  ``amend``, ``decrease``, ``cancel``) are re-executed on a :class:`~kalshibot.replay.venue.VirtualVenue`, whose
  fill model turns the recorded market data into fills. It never reads ``fill`` records. Two rules keep the virtual
  orders' lifetimes close to the real ones without looking at fills: a ``reject`` of a create removes the virtual
  order (the real one never existed), as does a rejected amend/decrease/cancel whose reason is that the order is no
  longer resting (:func:`reject_ends_order`; other rejected changes leave the order as it was), and an
  ``order_sent`` on a market side supersedes (cancels) our older virtual orders on the same side that the journal
  never cancelled (the engine keeps one quote per side; a real order the journal never cancelled had filled, and
  the strategy replaced it).
* :class:`RecordedLane` (``recorded``): the journaled fills, fees and settlements as they happened; it reproduces
  the session's own accounting and is the calibration reference for the models.

Each lane feeds an :class:`~kalshibot.replay.analytics.Analytics`. Everything is deterministic: no clocks, ids
from counters, iteration in sorted or insertion order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kalshibot.core.events import BookDelta, BookSide, BookSnapshot, TimeInForce, TradePrint
from kalshibot.core.fixed import ONE_DOLLAR, Count, Money, Price, parse_count, parse_money, parse_price
from kalshibot.replay.analytics import DEFAULT_HORIZONS_MS, Analytics, Summary
from kalshibot.replay.fillmodels import LevelBook, make_fill_model
from kalshibot.replay.sources import _count as _memo_count  # memoised parses of the journal's repeated strings
from kalshibot.replay.sources import _price as _memo_price
from kalshibot.replay.venue import VenueFill, VirtualVenue

Record = Mapping[str, Any]
MarketEvent = BookSnapshot | BookDelta | TradePrint


def _price(v: object) -> Price:
    return parse_price(v)


def _count(v: object) -> Count:
    return parse_count(v, signed=True)


def yes_value_of(rec: Record) -> Price | None:
    """The YES settlement value of a ``settlement``/``lifecycle`` record (API.md §9), None if not determined."""
    sv = rec.get("settlement_value")
    if sv not in (None, ""):
        return _price(sv)
    result = rec.get("result")
    if result == "yes":
        return ONE_DOLLAR
    if result == "no":
        return Price(0)
    return None


def reject_ends_order(rec: Record) -> bool:
    """Whether a ``reject`` record means the order it names is not (or no longer) resting.

    A rejected create never existed. A rejected amend, decrease or cancel leaves the order as it was (API.md: the
    exchange refuses the change, not the order) unless the reason is that the order is already gone (filled,
    cancelled or expired before the request arrived: ``order_not_resting``, ``not_found``).
    """
    if rec.get("request", "create") == "create":
        return True
    code = str(rec.get("code") or "")
    return "not_resting" in code or "not_found" in code


class Lane:
    name = "lane"

    def __init__(
        self, horizons_ms: tuple[int, ...], series_cap: int, books: dict[str, LevelBook] | None = None
    ) -> None:
        self.analytics = Analytics(horizons_ms, series_cap, books)
        self.fills = 0

    def on_market(self, ev: MarketEvent, ts_ms: int) -> None:
        self.analytics.on_market(ev, ts_ms)

    def on_journal(self, rec: Record, ts_ms: int) -> None:
        raise NotImplementedError

    def on_settlement(self, ticker: str, value: Price, ts_ms: int) -> None:
        self.analytics.on_settlement(ticker, value, ts_ms)

    def finish(self, end_ms: int | None) -> Summary:
        return self.analytics.finish(end_ms)


class ModelLane(Lane):
    def __init__(
        self, model: str, horizons_ms: tuple[int, ...], series_cap: int, books: dict[str, LevelBook] | None = None
    ) -> None:
        super().__init__(horizons_ms, series_cap, books)
        self.name = model
        self.venue = VirtualVenue(make_fill_model(model), id_prefix=f"replay-{model}")
        self._real_to_coid: dict[str, str] = {}

    def on_market(self, ev: MarketEvent, ts_ms: int) -> None:
        super().on_market(ev, ts_ms)
        self._fills(self.venue.on_market_event(ev, ts_ms), ev.ticker, ts_ms)

    def _fills(self, fills: Iterable[VenueFill], ticker: str, ts_ms: int) -> None:
        n = 0
        for f in fills:
            n += 1
            self.analytics.on_fill(f.ticker, f.book_side, f.yes_price, f.count, f.fee, f.is_taker, ts_ms)
        self.fills += n
        if n:
            self._quotes(ticker, ts_ms)

    def _quotes(self, ticker: str, ts_ms: int) -> None:
        # the best of our live orders in the market: no need for venue.resting(), which sorts them
        bids: list[Price] = []
        asks: list[Price] = []
        for o in self.venue.live_orders():
            if o.ticker == ticker:
                (bids if o.side == "bid" else asks).append(o.price)
        self.analytics.on_quotes(ticker, max(bids) if bids else None, min(asks) if asks else None, ts_ms)

    def _virtual(self, rec: Record) -> str | None:
        coid = rec.get("client_order_id")
        if isinstance(coid, str):
            oid = self.venue.order_id_for(coid)
            if oid is not None:
                return oid
        real = rec.get("order_id")
        if isinstance(real, str) and real in self._real_to_coid:
            return self.venue.order_id_for(self._real_to_coid[real])
        return None

    def on_journal(self, rec: Record, ts_ms: int) -> None:
        t = rec.get("type")
        if t in ("amend", "decrease", "cancel") and rec.get("stage", "sent") != "sent":
            return
        ticker = str(rec.get("ticker") or "")
        if t == "order_sent":
            side: BookSide = "ask" if rec.get("side") == "ask" else "bid"
            for old in self.venue.resting(ticker):
                if old.side == side:
                    self.venue.cancel(old.order_id)
            self.analytics.on_request("create")
            tif: TimeInForce = "good_till_canceled"
            if rec.get("tif") == "immediate_or_cancel":
                tif = "immediate_or_cancel"
            elif rec.get("tif") == "fill_or_kill":
                tif = "fill_or_kill"
            r = self.venue.place(
                ticker,
                side,
                _memo_price(rec["price"]),
                _memo_count(rec["count"]),
                client_order_id=str(rec["client_order_id"]),
                now_ms=ts_ms,
                post_only=bool(rec.get("post_only", True)),
                time_in_force=tif,
                intent_id=str(rec.get("intent_id") or ""),
            )
            self._fills(r.fills, ticker, ts_ms)
            self._quotes(ticker, ts_ms)
        elif t == "ack":
            real, coid = rec.get("order_id"), rec.get("client_order_id")
            if isinstance(real, str) and isinstance(coid, str):
                self._real_to_coid[real] = coid
        elif t in ("reject", "cancel"):
            if t == "cancel":
                self.analytics.on_request("cancel")
            elif not reject_ends_order(rec):
                return
            oid = self._virtual(rec)
            if oid is not None:
                gone = self.venue.order(oid)
                self.venue.cancel(oid)
                if gone is not None:
                    self._quotes(gone.ticker, ts_ms)
        elif t == "amend":
            self.analytics.on_request("amend")
            oid = self._virtual(rec)
            o = self.venue.order(oid) if oid else None
            if oid is not None and o is not None:
                price = _memo_price(rec["price"]) if rec.get("price") not in (None, "") else o.price
                total = _memo_count(rec["count"]) if rec.get("count") not in (None, "") else o.initial
                new_coid = rec.get("new_client_order_id") or rec.get("updated_client_order_id") or ""
                self.venue.amend(oid, price=price, total_count=total, new_client_order_id=str(new_coid), now_ms=ts_ms)
                self._quotes(o.ticker, ts_ms)
        elif t == "decrease":
            self.analytics.on_request("decrease")
            oid = self._virtual(rec)
            o = self.venue.order(oid) if oid else None
            if oid is not None and o is not None and rec.get("reduced_by") not in (None, ""):
                self.venue.decrease(oid, _memo_count(rec["reduced_by"]))
                self._quotes(o.ticker, ts_ms)


@dataclass(slots=True)
class _RecOrder:
    ticker: str
    side: BookSide
    price: Price
    remaining: Count


class RecordedLane(Lane):
    """The session as it happened: journaled fills and fees; resting orders tracked from the journal for uptime."""

    name = "recorded"

    def __init__(
        self, horizons_ms: tuple[int, ...], series_cap: int, books: dict[str, LevelBook] | None = None
    ) -> None:
        super().__init__(horizons_ms, series_cap, books)
        self._orders: dict[str, _RecOrder] = {}  # by client_order_id
        self._real_to_coid: dict[str, str] = {}
        self.seen_fills: set[tuple[str, str]] = set()
        self.recorded_payout = Money(0)
        self.recorded_fees_settlement = Money(0)

    def _coid(self, rec: Record) -> str | None:
        coid = rec.get("client_order_id")
        if isinstance(coid, str) and coid in self._orders:
            return coid
        real = rec.get("order_id")
        if isinstance(real, str):
            # the order may already be gone (filled, cancelled): a late amend/reject naming it changes nothing
            known = self._real_to_coid.get(real)
            if known is not None and known in self._orders:
                return known
        return None

    def _quotes(self, ticker: str, ts_ms: int) -> None:
        os_ = [o for o in self._orders.values() if o.ticker == ticker and o.remaining > 0]
        bids = [o.price for o in os_ if o.side == "bid"]
        asks = [o.price for o in os_ if o.side == "ask"]
        self.analytics.on_quotes(ticker, max(bids) if bids else None, min(asks) if asks else None, ts_ms)

    def on_journal(self, rec: Record, ts_ms: int) -> None:
        t = rec.get("type")
        if t == "order_sent":
            self.analytics.on_request("create")
            ticker = str(rec["ticker"])
            self._orders[str(rec["client_order_id"])] = _RecOrder(
                ticker,
                "ask" if rec.get("side") == "ask" else "bid",
                _memo_price(rec["price"]),
                _memo_count(rec["count"]),
            )
            self._quotes(ticker, ts_ms)
            return
        if t == "ack":
            real, coid = rec.get("order_id"), rec.get("client_order_id")
            if isinstance(real, str) and isinstance(coid, str):
                self._real_to_coid[real] = coid
            return
        if t == "fill":
            self._fill(rec, ts_ms)
            return
        if t == "settlement":
            self.recorded_payout = Money(self.recorded_payout + parse_money(rec.get("payout") or "0"))
            return
        if t not in ("cancel", "reject", "amend", "decrease"):
            return
        if t in ("cancel", "amend", "decrease"):
            if rec.get("stage", "sent") != "sent":
                return
            self.analytics.on_request(t)
        if t == "reject" and not reject_ends_order(rec):
            return
        coid = self._coid(rec)
        if coid is None:
            return
        o = self._orders[coid]
        if t in ("cancel", "reject"):
            del self._orders[coid]
        elif t == "amend":
            if rec.get("price") not in (None, ""):
                o.price = _memo_price(rec["price"])
            new = rec.get("new_client_order_id") or rec.get("updated_client_order_id")
            if isinstance(new, str) and new and new != coid:
                self._orders[new] = self._orders.pop(coid)
                for real, c in self._real_to_coid.items():
                    if c == coid:
                        self._real_to_coid[real] = new
        elif t == "decrease" and rec.get("reduced_by") not in (None, ""):
            o.remaining = Count(max(0, o.remaining - _memo_count(rec["reduced_by"])))
        self._quotes(o.ticker, ts_ms)

    def _fill(self, rec: Record, ts_ms: int) -> None:
        key = (str(rec.get("order_id")), str(rec.get("trade_id")))
        if key in self.seen_fills:  # CONTRACTS.md: journaled exactly once; stay safe on merged duplicates
            return
        self.seen_fills.add(key)
        ticker = str(rec["ticker"])
        price = _memo_price(rec["price"])
        outcome = rec.get("side")
        yes_price = price if outcome == "yes" else Price(ONE_DOLLAR - price)
        book_side: BookSide = "bid" if rec.get("book_side", "bid" if outcome == "yes" else "ask") == "bid" else "ask"
        count = _memo_count(rec["count"])
        fee = parse_money(rec.get("fee") or "0")
        self.analytics.on_fill(ticker, book_side, yes_price, count, fee, bool(rec.get("is_taker")), ts_ms)
        self.fills += 1
        coid = self._coid(rec)
        if coid is not None:
            o = self._orders[coid]
            o.remaining = Count(max(0, o.remaining - count))
            if o.remaining == 0:
                del self._orders[coid]
            self._quotes(ticker, ts_ms)


@dataclass(slots=True)
class ReplayResult:
    summaries: dict[str, Summary]
    lanes: dict[str, Lane]
    counts: dict[str, int] = field(default_factory=dict)
    sessions: list[Record] = field(default_factory=list)


class Replayer:
    """Feed merged records with :meth:`feed` (or all of them with :meth:`feed_all`, which is faster), then
    :meth:`finish`. ``models`` lists the lanes to run."""

    def __init__(
        self,
        models: Sequence[str],
        *,
        horizons_ms: tuple[int, ...] = DEFAULT_HORIZONS_MS,
        series_cap: int = 2_000,
        market_event: Callable[[Record], MarketEvent | None] | None = None,
    ) -> None:
        self.lanes: dict[str, Lane] = {}
        # every lane's analytics sees the same public book: keep it once here (applied in feed) rather than once
        # per lane
        self.books: dict[str, LevelBook] = {}
        for m in models:
            if m in self.lanes:
                continue
            if m == "recorded":
                self.lanes[m] = RecordedLane(horizons_ms, series_cap, self.books)
            else:
                self.lanes[m] = ModelLane(m, horizons_ms, series_cap, self.books)
        from kalshibot.replay.sources import market_event_of

        self._market_event = market_event or market_event_of
        # best (bid, ask) of each shared book, kept by the fast path; the general path drops a market's entry
        # whenever it changes that book
        self._tops: dict[str, tuple[int | None, int | None]] = {}
        self.counts: dict[str, int] = {}
        self.sessions: list[Record] = []
        self.last_ts_ms: int | None = None
        self._settled: set[str] = set()
        self.extra: list[Callable[[Record, MarketEvent | None, int], None]] = []

    def feed(self, rec: Record) -> None:
        t = str(rec.get("type"))
        self.counts[t] = self.counts.get(t, 0) + 1
        ts = int(rec.get("ts_ms") or 0)
        if self.last_ts_ms is None or ts > self.last_ts_ms:
            self.last_ts_ms = ts
        ev: MarketEvent | None = None
        if t in ("book", "trade"):
            ev = self._market_event(rec)
            if ev is not None:
                if not isinstance(ev, TradePrint):
                    book = self.books.get(ev.ticker)
                    if book is None:
                        book = self.books[ev.ticker] = LevelBook()
                    if isinstance(ev, BookSnapshot):
                        book.apply_snapshot(ev)
                    else:
                        book.apply_delta(ev)
                    self._tops.pop(ev.ticker, None)
                for lane in self.lanes.values():
                    lane.on_market(ev, ts)
        elif t == "session":
            if len(self.sessions) < 100:
                self.sessions.append(rec)
        elif t in ("settlement", "lifecycle"):
            ticker = str(rec.get("ticker") or "")
            value = yes_value_of(rec)
            if t == "settlement":
                for lane in self.lanes.values():
                    if isinstance(lane, RecordedLane):
                        lane.on_journal(rec, ts)
            if value is not None and ticker and ticker not in self._settled:
                self._settled.add(ticker)
                for lane in self.lanes.values():
                    lane.on_settlement(ticker, value, ts)
        else:
            for lane in self.lanes.values():
                lane.on_journal(rec, ts)
        for hook in self.extra:
            hook(rec, ev, ts)

    def feed_all(self, records: Iterable[Record]) -> None:
        """:meth:`feed` every record, book deltas through :func:`~kalshibot.replay.fastpath.feed_fast` when the
        lanes are the stock ones (same results, see that module)."""
        from kalshibot.replay.fastpath import feed_fast

        if not feed_fast(self, records):
            for rec in records:
                self.feed(rec)

    def finish(self) -> ReplayResult:
        summaries = {name: lane.finish(self.last_ts_ms) for name, lane in self.lanes.items()}
        return ReplayResult(summaries, self.lanes, dict(sorted(self.counts.items())), self.sessions)
