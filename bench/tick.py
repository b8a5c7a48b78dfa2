"""Figure 1, tick-to-intent: one WebSocket frame's bytes to the engine's actions, in process.

Ours: ``Feed.handle_frame(bytes)`` (the msgspec delta decoder, else orjson + the reference one; per-sid sequence
check) calling ``Engine.handle`` (book update, fair value, quoter, risk, fees, grid, reconcile) with the default
settings; the clock is read around that one call. The exchange's answers to the actions are fed back to the engine
between frames, outside the timed region (in the daemon they arrive later, as their own events).

Baselines on the very same frames, same process:

* the guide, transcribed plainly: stdlib ``json``, a dict per side keyed by float price, top of book by
  ``max()``, a float mid, the guide's ``quote()`` with ``round()``, and on every quote change a cancel of every
  resting order and a create of each side, built as the REST requests it would send (no signing, no I/O);
* kalshi-simple-ws-orderbook 1.0.0 (``OrderbookManager``), fed the same deltas converted to the legacy integer
  fields it expects (``price`` in cents, ``delta`` in contracts) with the stdlib decoder it uses, for
  decode + book apply + best prices only; compared with our decode + ``OrderBook.apply_delta`` + best prices.
"""

from __future__ import annotations

import contextlib
import gc
import io
import json
import random
import time
import uuid
from collections.abc import Callable
from typing import Any

import orjson

from bench.common import Result, lower, percentile, upper
from kalshibot.config import parse_settings_text
from kalshibot.core import events as ev
from kalshibot.core.book import OrderBook
from kalshibot.core.engine import Engine
from kalshibot.core.fixed import Count, Price
from kalshibot.core.grid import PriceGrid
from kalshibot.net.decode import delta_from_obj, fast_delta
from kalshibot.net.feed import Feed
from kalshibot.wiring import engine_config, trading_day

T0_MS = 1_767_621_600_000  # Monday 2026-01-05 14:00 UTC
CENT = 10_000  # micro-dollars
CC = 100  # centi-contracts per contract


# ------------------------------------------------------------------------------------------------ the workload
class Workload:
    """``markets`` books of ``levels`` levels a side and a random stream of deltas on them, as wire frames.

    Books are kept in cents / whole contracts so the legacy conversion for the PyPI package is exact. A fraction
    ``top_share`` of the deltas touches the top of book (size change at the best level, a new better level, or
    the best level emptied); the rest land deeper. Every side always keeps at least ``levels - 5`` levels and
    the book never crosses, so all three consumers apply every delta."""

    def __init__(self, markets: int, levels: int, deltas: int, seed: int = 7, top_share: float = 0.4) -> None:
        rng = random.Random(seed)
        self.tickers = [f"KXBENCH-26JAN05-T{i:03d}" for i in range(markets)]
        self.books: dict[str, dict[str, dict[int, int]]] = {}
        self.snapshots: list[bytes] = []
        self.legacy_snapshots: list[dict[str, Any]] = []
        lo = 45 - levels
        for sid, t in enumerate(self.tickers, start=1):
            b = {s: {p: rng.randint(10, 200) for p in range(lo, 45)} for s in ("yes", "no")}
            self.books[t] = b
            self.snapshots.append(
                orjson.dumps(
                    {
                        "type": "orderbook_snapshot",
                        "sid": sid,
                        "seq": 1,
                        "msg": {
                            "market_ticker": t,
                            "yes_dollars_fp": [[f"{p / 100:.4f}", f"{q}.00"] for p, q in sorted(b["yes"].items())],
                            "no_dollars_fp": [[f"{p / 100:.4f}", f"{q}.00"] for p, q in sorted(b["no"].items())],
                        },
                    }
                )
            )
            self.legacy_snapshots.append(
                {
                    "market_ticker": t,
                    "market_id": str(sid),
                    "yes": [[p, q] for p, q in sorted(b["yes"].items())],
                    "no": [[p, q] for p, q in sorted(b["no"].items())],
                }
            )
        self.frames: list[bytes] = []
        self.legacy: list[bytes] = []
        self.top_touches = 0
        seqs = dict.fromkeys(self.tickers, 1)
        min_levels = max(1, levels - 5)
        for _ in range(deltas):
            i = rng.randrange(markets)
            t = self.tickers[i]
            side = rng.choice(("yes", "no"))
            other = "no" if side == "yes" else "yes"
            lv = self.books[t][side]
            best, other_best = max(lv), max(self.books[t][other])
            if rng.random() < top_share:
                self.top_touches += 1
                r = rng.random()
                if r < 0.3 and best + 1 + other_best <= 97:
                    price, d = best + 1, rng.randint(5, 50)  # a better level appears
                elif r < 0.5 and len(lv) > min_levels:
                    price, d = best, -lv[best]  # the best level is taken out
                else:
                    price = best
                    d = rng.randint(1, 30) * rng.choice((1, -1))
                    if lv[best] + d <= 0:
                        d = -(lv[best] // 2) or 1
            else:
                prices = sorted(lv)[:-1]
                r = rng.random()
                if r < 0.15 and min(lv) > 1:
                    price, d = min(lv) - 1, rng.randint(5, 100)
                elif r < 0.3 and len(lv) > min_levels + 1:
                    price = rng.choice(prices)
                    d = -lv[price]
                else:
                    price = rng.choice(prices)
                    d = rng.randint(1, 30) * rng.choice((1, -1))
                    if lv[price] + d <= 0:
                        d = -(lv[price] // 2) or 1
            new = lv.get(price, 0) + d
            if new:
                lv[price] = new
            else:
                del lv[price]
            seqs[t] += 1
            sid = i + 1
            self.frames.append(
                orjson.dumps(
                    {
                        "type": "orderbook_delta",
                        "sid": sid,
                        "seq": seqs[t],
                        "msg": {
                            "market_ticker": t,
                            "price_dollars": f"{price / 100:.4f}",
                            "delta_fp": f"{d}.00",
                            "side": side,
                            "ts_ms": T0_MS,
                        },
                    }
                )
            )
            self.legacy.append(
                json.dumps(
                    {
                        "type": "orderbook_delta",
                        "sid": sid,
                        "seq": seqs[t],
                        "msg": {"market_ticker": t, "price": price, "delta": d, "side": side},
                    }
                ).encode()
            )


# ------------------------------------------------------------------------------------------------------- ours
class _Acker:
    """Answers the engine's order actions as an exchange would (between frames, not timed)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.n = 0
        self.actions = 0

    def answer(self, out: list[ev.Output], now_ms: int) -> None:
        pending = list(out)
        while pending:
            a = pending.pop(0)
            reply: ev.Event | None = None
            if isinstance(a, ev.PlaceOrder):
                self.n += 1
                reply = ev.OrderAck(a.client_order_id, f"ex-{self.n}", Count(0), a.count)
            elif isinstance(a, ev.CancelOrder):
                o = self.engine.orders.get(a.client_order_id)
                rem = o.remaining if o is not None else Count(0)
                reply = ev.CancelAck(a.order_id or "?", a.client_order_id, rem)
            elif isinstance(a, ev.AmendOrder):
                o = self.engine.orders.get(a.client_order_id)
                filled = o.filled if o is not None else Count(0)
                reply = ev.AmendAck(
                    a.order_id, a.new_client_order_id, a.price, Count(a.count - filled), filled, a.expiration_ts_s
                )
            elif isinstance(a, ev.DecreaseOrder):
                o = self.engine.orders.get(a.client_order_id)
                rem = o.remaining if o is not None else Count(0)
                reply = ev.DecreaseAck(a.order_id, a.client_order_id, Count(rem - a.reduce_by))
            if reply is not None:
                self.actions += 1
                pending += self.engine.handle(reply, now_ms)


def build_ours(w: Workload) -> tuple[Feed, Engine, list[ev.Output], _Acker]:
    settings = parse_settings_text("", source="defaults", env={}, env_file=None, require_secrets=False)
    engine = Engine(engine_config(settings, T0_MS), client_order_id_prefix="kb-", id_seed="bench")
    day, start, _ = trading_day(T0_MS, settings.risk.trading_day_tz)
    engine.set_trading_day(day, start)
    acker = _Acker(engine)
    sink: list[ev.Output] = []
    clock = [T0_MS]

    def on_event(e: ev.Event) -> None:
        sink.extend(engine.handle(e, clock[0]))

    feed = Feed("ws://bench.invalid/trade-api/ws/v2", None, on_event, use_yes_price=False)  # type: ignore[arg-type]
    grid = PriceGrid.linear_cent()
    for i, t in enumerate(w.tickers):
        # ladders of 5 markets per event, as Kalshi lists them (risk sums stake per event and per account)
        spec = ev.MarketSpec(t, f"KXBENCH-26JAN05-E{i // 5}", "KXBENCH", grid, close_ts_ms=T0_MS + 6 * 3600_000)
        acker.answer(engine.handle(ev.MarketAdded(spec), T0_MS), T0_MS)
    # subscribe as the feed does on connect, answered by the exchange's replies (ids and sids in order)
    feed._ws = object()  # type: ignore[assignment]  # commands are queued, never sent: no socket here
    feed.set_markets(w.tickers)
    for cid, t in enumerate(sorted(w.tickers), start=2 - 1):
        sid = w.tickers.index(t) + 1
        reply = {"type": "subscribed", "id": cid, "msg": {"channel": "orderbook_delta", "sid": sid}}
        feed.handle_frame(orjson.dumps(reply))
    for snap in w.snapshots:
        feed.handle_frame(snap)
        acker.answer(sink, T0_MS)
        sink.clear()
    return feed, engine, sink, acker


def run_ours(w: Workload) -> tuple[list[float], int, int, Feed]:
    """Per-frame latencies (µs), frames that produced order actions, order actions sent."""
    feed, _engine, sink, acker = build_ours(w)
    lat: list[float] = []
    requotes = 0
    actions = 0
    pc = time.perf_counter_ns
    for frame in w.frames:
        t0 = pc()
        feed.handle_frame(frame)
        t1 = pc()
        lat.append((t1 - t0) / 1000)
        if sink:
            acts = [a for a in sink if isinstance(a, ev.PlaceOrder | ev.AmendOrder | ev.CancelOrder)]
            if acts:
                requotes += 1
                actions += len(acts)
            acker.answer(sink, T0_MS)
            sink.clear()
    assert feed.stats.deltas == len(w.frames), "every delta must be applied"
    return lat, requotes, actions, feed


# -------------------------------------------------------------------------------------------------- the guide
GUIDE_BASE = "https://trading-api.kalshi.com/trade-api/v2"
SPREAD = 0.02
SKEW = 0.005
GUIDE_SIZE = 5


def guide_quote(mid: float, inventory: int) -> tuple[float, float]:
    adj = SKEW * inventory
    bid = round(mid - SPREAD / 2 - adj, 2)
    ask = round(mid + SPREAD / 2 - adj, 2)
    return max(0.01, bid), min(0.99, ask)


def guide_place(ticker: str, side: str, price: float, count: int) -> dict[str, Any]:
    """The guide's ``place()`` up to the request it sends (no signing, no I/O)."""
    return {
        "method": "POST",
        "url": f"{GUIDE_BASE}/portfolio/orders",
        "json": {
            "action": "buy",
            "side": side,
            "ticker": ticker,
            "type": "limit",
            "yes_price": int(price * 100),
            "count": count,
            "client_order_id": str(uuid.uuid4()),
        },
    }


class GuideBot:
    def __init__(self, w: Workload) -> None:
        self.books: dict[str, dict[str, dict[float, float]]] = {}
        for s in w.snapshots:
            m = json.loads(s)["msg"]
            self.books[m["market_ticker"]] = {
                "yes": {float(p): float(q) for p, q in m["yes_dollars_fp"]},
                "no": {float(p): float(q) for p, q in m["no_dollars_fp"]},
            }
        self.inventory = dict.fromkeys(self.books, 0)
        self.last: dict[str, tuple[float, float]] = {}
        self.resting: dict[str, list[str]] = {t: [] for t in self.books}
        self.sent: list[dict[str, Any]] = []

    def on_message(self, raw: bytes) -> list[dict[str, Any]]:
        msg = json.loads(raw)
        if msg["type"] != "orderbook_delta":
            return []
        m = msg["msg"]
        ticker = m["market_ticker"]
        book = self.books[ticker]
        side = book[m["side"]]
        price = float(m["price_dollars"])
        size = side.get(price, 0.0) + float(m["delta_fp"])
        if size <= 0:
            side.pop(price, None)
        else:
            side[price] = size
        if not book["yes"] or not book["no"]:
            return []
        best_bid = max(book["yes"])
        best_ask = 1 - max(book["no"])
        mid = (best_bid + best_ask) / 2
        bid, ask = guide_quote(mid, self.inventory[ticker])
        if self.last.get(ticker) == (bid, ask):
            return []
        self.last[ticker] = (bid, ask)
        # cancel-replace on every quote change: cancel every resting order, create both sides again
        reqs = [{"method": "DELETE", "url": f"{GUIDE_BASE}/portfolio/orders/{oid}"} for oid in self.resting[ticker]]
        new = [guide_place(ticker, "yes", bid, GUIDE_SIZE), guide_place(ticker, "no", 1 - ask, GUIDE_SIZE)]
        self.resting[ticker] = [r["json"]["client_order_id"] for r in new]
        return reqs + new


def run_guide(w: Workload) -> tuple[list[float], int, int]:
    bot = GuideBot(w)
    lat: list[float] = []
    requotes = actions = 0
    pc = time.perf_counter_ns
    for frame in w.frames:
        t0 = pc()
        reqs = bot.on_message(frame)
        t1 = pc()
        lat.append((t1 - t0) / 1000)
        if reqs:
            requotes += 1
            actions += len(reqs)
    return lat, requotes, actions


# --------------------------------------------------------------------------------- book only: vs the PyPI package
def run_book_ours(w: Workload) -> tuple[float, list[tuple[Any, ...]]]:
    """Mean µs per delta for decode (raw frame to ``BookDelta``, as the feed does it) + apply + best prices; the
    final tops for the cross-check."""
    books = {t: OrderBook(t) for t in w.tickers}
    for s in w.snapshots:
        o = orjson.loads(s)
        m = o["msg"]
        yes = tuple((Price(round(float(p) * 1e6)), Count(round(float(q) * CC))) for p, q in m["yes_dollars_fp"])
        no = tuple((Price(round(float(p) * 1e6)), Count(round(float(q) * CC))) for p, q in m["no_dollars_fp"])
        books[m["market_ticker"]].apply_snapshot(ev.BookSnapshot(m["market_ticker"], o["sid"], 1, yes, no))
    loads = orjson.loads
    t0 = time.perf_counter_ns()
    for frame in w.frames:
        # decoded as Feed.handle_frame does: the typed fast path, else orjson + the reference decoder
        d = fast_delta(frame, False) or delta_from_obj(loads(frame), False)
        b = books[d.ticker]
        b.apply_delta(d)
        b.best_yes_bid()
        b.best_no_bid()
    el = time.perf_counter_ns() - t0
    tops = [(t, books[t].best_yes_bid(), books[t].best_no_bid()) for t in w.tickers]
    return el / 1000 / len(w.frames), tops


def run_book_ksob(w: Workload) -> tuple[float, list[tuple[Any, ...]]]:
    from orderbook_manager import OrderbookManager  # kalshi-simple-ws-orderbook 1.0.0 (the bench extra)

    mgr = OrderbookManager()
    with contextlib.redirect_stdout(io.StringIO()):  # it prints a line per snapshot
        for s in w.legacy_snapshots:
            mgr.handle_snapshot(s)
    loads = json.loads
    t0 = time.perf_counter_ns()
    for frame in w.legacy:
        msg = loads(frame)
        if msg["type"] == "orderbook_delta":
            m = msg["msg"]
            mgr.handle_delta(m)
            mgr.get_best_prices(m["market_ticker"])
    el = time.perf_counter_ns() - t0
    tops = []
    for t in w.tickers:
        bp = mgr.get_best_prices(t)
        tops.append((t, (bp["best_yes"], bp["best_yes_qty"]), (bp["best_no"], bp["best_no_qty"])))
    return el / 1000 / len(w.legacy), tops


def _best_of(fn: Callable[[], Any], n: int) -> Any:
    return min((fn() for _ in range(n)), key=lambda r: r[0])


def run(markets: int = 50, levels: int = 25, deltas: int = 40_000, repeats: int = 3) -> list[Result]:
    w = Workload(markets, levels, deltas)
    gc.collect()
    # warm-up pass of each path (imports, caches), then the measured passes, interleaved so drift hits all alike
    run_ours(Workload(markets, levels, min(deltas, 2000), seed=1))
    ours_p50s, ours_p99s, guide_p50s, guide_p99s = [], [], [], []
    requotes = actions = g_requotes = g_actions = 0
    for _ in range(repeats):
        lat, requotes, actions, _feed = run_ours(w)
        glat, g_requotes, g_actions = run_guide(w)
        lat.sort()
        glat.sort()
        ours_p50s.append(percentile(lat, 50))
        ours_p99s.append(percentile(lat, 99))
        guide_p50s.append(percentile(glat, 50))
        guide_p99s.append(percentile(glat, 99))
    p50, p99 = min(ours_p50s), min(ours_p99s)
    g50, g99 = min(guide_p50s), min(guide_p99s)
    ours_book, ours_tops = _best_of(lambda: run_book_ours(w), repeats)
    ksob_book, ksob_tops = _best_of(lambda: run_book_ksob(w), repeats)
    # the same frames must build the same books in both (prices in cents vs micros, sizes in contracts vs centi)
    conv = [(t, (y[0] // CENT, y[1] // CC), (n[0] // CENT, n[1] // CC)) for t, y, n in ours_tops]
    if conv != ksob_tops:
        raise AssertionError("our books and kalshi-simple-ws-orderbook's disagree at the end")
    share = w.top_touches / len(w.frames)
    notes = {
        "frames": len(w.frames),
        "markets": markets,
        "levels": levels,
        "top_share": round(share, 3),
        "ours_requote_frames": requotes,
        "ours_order_actions": actions,
        "guide_requote_frames": g_requotes,
        "guide_requests": g_actions,
        "guide_p50_us": round(g50, 2),
        "guide_p99_us": round(g99, 2),
        "ksob_us": round(ksob_book, 2),
        "ours_book_us": round(ours_book, 2),
    }
    return [
        upper("tick_to_intent_p50", p50, "us", 15, **notes),
        upper("tick_to_intent_p99", p99, "us", 50, **notes),
        lower("tick_to_intent_vs_guide_p50", g50 / p50, "x", 1.0, **notes),
        lower("book_vs_kalshi_simple_ws_orderbook", ksob_book / ours_book, "x", 3.0, **notes),
    ]
