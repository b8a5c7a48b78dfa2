"""The WebSocket feed: one signed connection, books kept in sequence, reconnects on its own.

Theory of operation
-------------------
:meth:`Feed.run` loops: sign the handshake (API.md §2.2), connect, subscribe, read frames until the connection
ends, report the markets as down (:class:`FeedDown`), back off with jitter, go again. Every (re)connect starts
from fresh subscriptions, so fresh snapshots rebuild every book.

Subscriptions (API.md §5.1-5.2):

* per market, one ``subscribe`` of ``orderbook_delta`` + ``trade`` for that single ticker, with ``use_yes_price``
  set explicitly (Kalshi plans to flip its default, §5.3). One market per book subscription means a sequence gap
  (``seq`` is per ``sid``, §5.4) invalidates exactly one book: only that market is resynchronized, with
  ``update_subscription`` ``get_snapshot``, and its deltas are dropped until the snapshot arrives;
* once, ``fill``, ``user_orders``, ``market_positions``, ``order_group_updates`` (all markets) and
  ``market_lifecycle_v2`` (all markets only).

Every message is decoded once at the edge into a core event and handed to ``on_event`` synchronously (the engine
runs in this loop); ``orderbook_delta`` takes the fast path in ``decode.py``. Book and trade messages that were
applied are also handed to ``on_market_data`` for the market-data file (CONTRACTS.md). A frame that does not parse
is counted and logged, never fatal. Terminal channel errors 10 and 25 (§5.4) end the connection: reconnecting
resubscribes everything. Liveness: the client's own keepalive pings (a missing pong closes the connection) and
the age of each market's last message (:meth:`FeedStats.age_ms`), which the daemon checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog
from pydantic import ValidationError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from kalshibot.core import events as ev
from kalshibot.core.book import SequenceTracker
from kalshibot.core.fixed import ONE_DOLLAR, Count, Price, format_count, format_price
from kalshibot.errors import DataError, SequenceGapError
from kalshibot.net import ws_models as wm
from kalshibot.net.auth import WsAuth, wall_clock_ms
from kalshibot.net.decode import delta_from_obj, fast_delta

log = structlog.get_logger(__name__)

MARKET_CHANNELS = ("orderbook_delta", "trade")
ACCOUNT_CHANNELS = ("fill", "user_orders", "market_positions", "order_group_updates", "market_lifecycle_v2")
TERMINAL_ERRORS = frozenset({10, 25})  # channel error, subscription buffer overflow (API.md §5.4)
_UNPARSED: Any = object()


@dataclass(frozen=True, slots=True)
class MarketData:
    """One record for the market-data file: ``Journal.market(rec.type, rec.ts_ms, **rec.fields)``. ``fields``
    follow the journal's ``book``/``trade`` records (CONTRACTS.md; NO levels in NO-leg prices whatever the
    subscription's ``use_yes_price``); ``event`` is the core event the record was made from."""

    type: str  # "book" | "trade"
    ts_ms: int  # when we received it (wall clock)
    fields: dict[str, Any]
    event: ev.BookSnapshot | ev.BookDelta | ev.TradePrint


# The daemon writes one market-data record per applied delta: the decimal strings of the prices and sizes a book
# lives on are memoized (pure functions of an int; bounded, like decode.py's parse memo), saving two formatting
# calls (~1 µs) per delta. tests/test_perf_feed_records.py holds the records to the unmemoized formatting.
_TEXT_MEMO_MAX = 50_000
_price_text: dict[int, str] = {}
_count_text: dict[int, str] = {}


def market_fields(e: ev.BookSnapshot | ev.BookDelta | ev.TradePrint) -> dict[str, Any]:
    """The market-data record fields for one applied message (decimal strings, as the journal writes them)."""
    if isinstance(e, ev.BookDelta):  # the per-delta case first
        price = ONE_DOLLAR - e.price if e.side == "no" and e.no_in_yes_prices else e.price
        price_s = _price_text.get(price)
        if price_s is None:
            price_s = format_price(price)
            if len(_price_text) < _TEXT_MEMO_MAX:
                _price_text[price] = price_s
        delta_s = _count_text.get(e.delta)
        if delta_s is None:
            delta_s = format_count(e.delta)
            if len(_count_text) < _TEXT_MEMO_MAX:
                _count_text[e.delta] = delta_s
        return {
            "kind": "delta",
            "ticker": e.ticker,
            "sid": e.sid,
            "seq": e.seq,
            "side": e.side,
            "price": price_s,
            "delta": delta_s,
            "client_order_id": e.client_order_id,
            "exchange_ts_ms": e.ts_ms or None,
        }
    if isinstance(e, ev.TradePrint):
        return {
            "ticker": e.ticker,
            "trade_id": e.trade_id,
            "yes_price": format_price(e.yes_price),
            "count": format_count(e.count),
            "taker_side": e.taker_outcome,
            "exchange_ts_ms": e.ts_ms or None,
        }
    flip = e.no_in_yes_prices
    no = sorted((ONE_DOLLAR - p if flip else p, c) for p, c in e.no)
    return {
        "kind": "snapshot",
        "ticker": e.ticker,
        "sid": e.sid,
        "seq": e.seq,
        "yes": [[format_price(p), format_count(c)] for p, c in e.yes],
        "no": [[format_price(p), format_count(c)] for p, c in no],
        "exchange_ts_ms": e.ts_ms or None,
    }


@dataclass
class FeedStats:
    messages: int = 0
    deltas: int = 0
    snapshots: int = 0
    trades: int = 0
    gaps: int = 0
    resyncs: int = 0
    reconnects: int = 0
    connects: int = 0
    bad_frames: int = 0
    dropped_deltas: int = 0  # deltas of a market awaiting its snapshot
    errors: int = 0
    last_msg_ms: dict[str, int] = field(default_factory=dict)

    def age_ms(self, ticker: str, now_ms: int) -> int | None:
        """Milliseconds since ``ticker``'s last book/trade message (None if none yet on this connection)."""
        last = self.last_msg_ms.get(ticker)
        return None if last is None else now_ms - last

    def stale(self, tickers: Iterable[str], now_ms: int, max_age_ms: int) -> list[str]:
        """Markets with no book/trade message for ``max_age_ms`` (or none yet): the daemon decides what a quiet
        market means (a thin market is legitimately silent; a dead subscription is not)."""
        return [t for t in tickers if (a := self.age_ms(t, now_ms)) is None or a > max_age_ms]


class _Reconnect(Exception):
    """A terminal channel error: drop the connection and start over."""


class Feed:
    def __init__(
        self,
        ws_url: str,
        auth: WsAuth,
        on_event: Callable[[ev.Event], None],
        on_market_data: Callable[[MarketData], None] | None = None,
        *,
        use_yes_price: bool = True,
        account_channels: Iterable[str] = ACCOUNT_CHANNELS,
        emit_positions: bool = False,
        clock_ms: Callable[[], int] = wall_clock_ms,
        ping_interval_s: float | None = 10.0,
        ping_timeout_s: float | None = 10.0,
        open_timeout_s: float = 10.0,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        rng: random.Random | None = None,
        on_connect: Callable[[], Coroutine[Any, Any, None]] | None = None,
    ) -> None:
        self.ws_url = ws_url
        self.auth = auth
        self.on_event = on_event
        self.on_market_data = on_market_data
        self.use_yes_price = use_yes_price
        self.account_channels = tuple(account_channels)
        # WS market_position lags fills by ~1 s (API.md §3.8): only forwarded when asked (reconciliation is REST)
        self.emit_positions = emit_positions
        self.clock_ms = clock_ms
        self.ping_interval_s = ping_interval_s
        self.ping_timeout_s = ping_timeout_s
        self.open_timeout_s = open_timeout_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self._rng = rng or random.Random()
        self.on_connect = on_connect
        self.stats = FeedStats()
        self.markets: set[str] = set()
        self._ws: ClientConnection | None = None
        self._outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._stopping = False
        self._stop_event = asyncio.Event()
        self._connected = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._out: list[ev.Event | MarketData] = []
        self._in_frame = False
        self._reset_connection_state()

    # -------------------------------------------------------------------------------------------- state
    def _reset_connection_state(self) -> None:
        self._next_id = 1
        self._pending: dict[int, str | None] = {}  # command id -> market ticker (None: account channels)
        self._sid_ticker: dict[int, str] = {}  # book/trade sid -> its one market
        self._sid_channel: dict[int, str] = {}
        self._market_sids: dict[str, list[int]] = {}
        self._book_sid: dict[str, int] = {}
        self._awaiting: set[str] = set()  # markets whose book is invalid until a snapshot arrives
        self._seq = SequenceTracker()
        self._seq_last = self._seq.last_map  # the fast path's inlined in-order check reads and advances it
        self._outbox = asyncio.Queue()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self) -> None:
        await self._connected.wait()

    def book_ready(self, ticker: str) -> bool:
        """True once ``ticker``'s book snapshot arrived on this connection and no gap is pending."""
        return ticker in self._book_sid and ticker not in self._awaiting

    # ------------------------------------------------------------------------------------------ commands
    def _command(self, cmd: str, params: dict[str, Any] | None = None, ticker: str | None = None) -> int:
        cid = self._next_id
        self._next_id += 1
        self._pending[cid] = ticker
        body: dict[str, Any] = {"id": cid, "cmd": cmd}
        if params is not None:
            body["params"] = params
        self._outbox.put_nowait(body)
        return cid

    def _subscribe_market(self, ticker: str) -> None:
        self._awaiting.add(ticker)
        params = {"channels": list(MARKET_CHANNELS), "market_ticker": ticker, "use_yes_price": self.use_yes_price}
        self._command("subscribe", params, ticker)

    def set_markets(self, tickers: Iterable[str]) -> None:
        """Make the universe ``tickers``: new markets are subscribed (snapshot first), dropped ones unsubscribed."""
        new = set(tickers)
        added, removed = new - self.markets, self.markets - new
        self.markets = new
        if self._ws is None:
            return  # subscribed on (re)connect
        for t in sorted(added):
            self._subscribe_market(t)
        for t in sorted(removed):
            sids = self._market_sids.pop(t, [])
            self._book_sid.pop(t, None)
            self._awaiting.discard(t)
            self.stats.last_msg_ms.pop(t, None)
            for sid in sids:
                self._sid_ticker.pop(sid, None)
                self._sid_channel.pop(sid, None)
                self._seq.forget(sid)
            if sids:
                self._command("unsubscribe", {"sids": sids})

    def resync(self, ticker: str, reason: str = "requested") -> None:
        """Invalidate ``ticker``'s book and ask for a fresh snapshot (the engine's ``ResyncBook``, or a gap)."""
        sid = self._book_sid.get(ticker)
        if sid is None or self._ws is None:
            return
        if ticker not in self._awaiting:
            self._awaiting.add(ticker)
            self.stats.resyncs += 1
            self._emit(ev.BookGap((ticker,), sid, reason))
            params = {"sids": [sid], "market_tickers": [ticker], "action": "get_snapshot"}
            self._command("update_subscription", params, ticker)

    def stop(self) -> None:
        self._stopping = True
        self._stop_event.set()
        if self._ws is not None:
            asyncio.get_running_loop().create_task(self._ws.close())

    # ---------------------------------------------------------------------------------------------- loop
    async def run(self) -> None:
        """Connect, subscribe, read; on any loss reconnect with jittered exponential backoff until :meth:`stop`."""
        failures = 0
        while not self._stopping:
            try:
                headers = await self.auth.ws_headers(self.ws_url)
                async with connect(
                    self.ws_url,
                    additional_headers=headers,
                    ping_interval=self.ping_interval_s,
                    ping_timeout=self.ping_timeout_s,
                    open_timeout=self.open_timeout_s,
                    max_size=2**24,
                    compression=None,
                ) as ws:
                    failures = 0
                    await self._serve(ws)
            except (OSError, TimeoutError, ConnectionClosed, InvalidHandshake, _Reconnect) as e:
                log.warning("feed connection lost", error=f"{type(e).__name__}: {e}")
            finally:
                self._on_disconnect()
            if self._stopping:
                break
            failures += 1
            self.stats.reconnects += 1
            delay = min(self.backoff_max_s, self.backoff_initial_s * 2 ** min(failures - 1, 16))
            with contextlib.suppress(TimeoutError):  # stop() cuts the backoff short
                await asyncio.wait_for(self._stop_event.wait(), delay * self._rng.uniform(0.5, 1.0))

    async def _serve(self, ws: ClientConnection) -> None:
        self._reset_connection_state()
        self._ws = ws
        self.stats.connects += 1
        self._command("subscribe", {"channels": list(self.account_channels)})
        for t in sorted(self.markets):
            self._subscribe_market(t)
        writer = asyncio.create_task(self._writer(ws))
        self._connected.set()
        if self.on_connect is not None:
            # reconciliation after every (re)connect; the daemon keeps markets un-quoted until it is done
            task = asyncio.get_running_loop().create_task(self.on_connect())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        try:
            async for frame in ws:
                self.handle_frame(frame)
        finally:
            writer.cancel()

    async def _writer(self, ws: ClientConnection) -> None:
        while True:
            cmd = await self._outbox.get()
            await ws.send(orjson.dumps(cmd).decode())

    def _on_disconnect(self) -> None:
        was = self._ws is not None
        self._ws = None
        self._connected.clear()
        if was and self.markets:
            self.on_event(ev.FeedDown(tuple(sorted(self.markets)), "disconnected"))
        self._awaiting = set(self.markets)
        self._book_sid.clear()

    # ------------------------------------------------------------------------------------------ decoding
    def handle_frame(self, frame: str | bytes) -> None:
        """Decode one frame and dispatch it (public so tests and replay can feed frames without a socket).

        Decoding fills ``self._out``; the callbacks run only after the frame decoded cleanly, outside the
        ``try``, so a bug in a consumer is never mistaken for (and swallowed as) a bad frame.

        ``orderbook_delta`` frames in sequence take a straight path (no output list, no dispatch; issue 9, figure
        2): decoded from the raw frame by ``decode.fast_delta`` when they have the common shape, then the same
        checks in the same order as :meth:`_on_delta`, which still handles everything else about a delta (a
        sequence gap, a market awaiting its snapshot)."""
        self.stats.messages += 1
        # raw bytes -> BookDelta in one typed C decode for the common delta shape; anything else (None) is parsed
        # and judged the reference way, so errors and odd-but-valid deltas behave exactly as before
        d = fast_delta(frame, self.use_yes_price)
        obj = _UNPARSED
        if d is None:
            try:
                obj = orjson.loads(frame)
                if type(obj) is dict and obj.get("type") == "orderbook_delta":
                    d = delta_from_obj(obj, self.use_yes_price)
            except (orjson.JSONDecodeError, DataError, ValidationError, KeyError, TypeError, ValueError) as e:
                self._bad_frame(e, frame)
                return
        if d is not None:
            t = d.ticker
            sid = d.sid
            if t not in self._awaiting and self._book_sid.get(t) == sid:
                seq = d.seq
                last = self._seq_last.get(sid)
                fresh: bool | None
                if last is not None and seq == last + 1:  # SequenceTracker.check's in-order case, inlined
                    self._seq_last[sid] = seq
                    fresh = True
                else:
                    try:
                        fresh = self._seq.check(sid, seq)
                    except SequenceGapError:
                        fresh = None  # the general path below reports and resyncs
                if fresh is not None:
                    if fresh:  # _on_delta's accept, inlined: this runs for nearly every frame
                        stats = self.stats
                        stats.deltas += 1
                        now = self.clock_ms()
                        stats.last_msg_ms[t] = now
                        self.on_event(d)
                        if self.on_market_data is not None:
                            self.on_market_data(MarketData("book", now, market_fields(d), d))
                    return
        self._handle_slow(frame, obj)

    def _handle_slow(self, frame: str | bytes, obj: Any = _UNPARSED) -> None:
        """The general path for any frame (the fast path's reference: tests check they agree); ``obj`` is the
        frame already parsed, if it was."""
        self._out = []
        self._in_frame = True
        try:
            if obj is _UNPARSED:
                obj = orjson.loads(frame)
            if type(obj) is not dict:
                raise DataError("frame is not a JSON object")
            kind = obj.get("type")
            if kind == "orderbook_delta":
                self._on_delta(obj)
            else:
                self._dispatch(kind, obj)
        except (orjson.JSONDecodeError, DataError, ValidationError, KeyError, TypeError, ValueError) as e:
            self._bad_frame(e, frame)
        finally:
            self._in_frame = False
        out, self._out = self._out, []
        for item in out:
            if isinstance(item, MarketData):
                if self.on_market_data is not None:
                    self.on_market_data(item)
            else:
                self.on_event(item)

    def _bad_frame(self, e: Exception, frame: str | bytes) -> None:
        self.stats.bad_frames += 1
        self._out = [x for x in self._out if isinstance(x, ev.BookGap)]  # a resync already asked for stands
        log.warning("bad frame", error=f"{type(e).__name__}: {str(e)[:200]}", frame=str(frame[:120]))

    def _emit(self, e: ev.Event) -> None:
        if self._in_frame:
            self._out.append(e)
        else:
            self.on_event(e)

    def _seq_ok(self, sid: int, seq: int | None) -> bool:
        """Apply the per-sid sequence check; on a gap resync the market (book) or just count it (other channels)."""
        if seq is None or type(seq) is not int:
            return True
        try:
            return self._seq.check(sid, seq)
        except SequenceGapError as e:
            self.stats.gaps += 1
            ticker = self._sid_ticker.get(sid)
            log.warning("sequence gap", sid=sid, expected=e.expected, got=e.got, ticker=ticker)
            if ticker is not None and self._sid_channel.get(sid) == "orderbook_delta":
                self.resync(ticker, "gap")
                return False
            self._seq.reset(sid)  # trades / lifecycle: nothing to rebuild; note it and carry on
            self._seq.check(sid, seq)
            return True

    def _on_delta(self, obj: dict[str, Any]) -> None:
        d = delta_from_obj(obj, self.use_yes_price)
        if d.ticker in self._awaiting or self._book_sid.get(d.ticker) != d.sid:
            self.stats.dropped_deltas += 1
            return
        if not self._seq_ok(d.sid, d.seq):
            return
        self.stats.deltas += 1
        now = self.clock_ms()
        self.stats.last_msg_ms[d.ticker] = now
        self._emit(d)
        if self.on_market_data is not None:
            self._out.append(MarketData("book", now, market_fields(d), d))

    def _dispatch(self, kind: object, obj: dict[str, Any]) -> None:
        sid = obj.get("sid")
        seq = obj.get("seq")
        msg = obj.get("msg")
        if kind == "orderbook_snapshot":
            self._on_snapshot(obj)
        elif kind == "trade":
            if isinstance(sid, int) and not self._seq_ok(sid, seq):
                return
            t = wm.TradeBody.model_validate(msg).to_event()
            self.stats.trades += 1
            now = self.clock_ms()
            self.stats.last_msg_ms[t.ticker] = now
            self._emit(t)
            if self.on_market_data is not None:
                self._out.append(MarketData("trade", now, market_fields(t), t))
        elif kind == "fill":
            self._emit(wm.FillBody.model_validate(msg).to_event())
        elif kind == "user_order":
            self._emit(wm.UserOrderBody.model_validate(msg).to_event())
        elif kind == "market_position":
            if self.emit_positions:
                self._emit(wm.PositionBody.model_validate(msg).to_event())
        elif kind == "market_lifecycle_v2":
            if isinstance(sid, int):
                self._seq_ok(sid, seq)
            self._emit(wm.LifecycleBody.model_validate(msg).to_event(self.clock_ms()))
        elif kind == "event_fee_update":
            if isinstance(sid, int):
                self._seq_ok(sid, seq)
            self._emit(wm.FeeUpdateBody.model_validate(msg).to_event())
        elif kind == "order_group_updates":
            if isinstance(sid, int):
                self._seq_ok(sid, seq)
            g = wm.GroupUpdateBody.model_validate(msg)
            if g.event_type == "triggered":
                self._emit(ev.OrderGroupTriggered(g.order_group_id))
        elif kind in ("subscribed", "ok", "unsubscribed", "error"):
            self._on_reply(kind, obj)
        elif kind in ("event_lifecycle", "ticker"):
            pass  # not used by the bot
        else:
            log.debug("unhandled message type", type=str(kind)[:40])

    def _on_snapshot(self, obj: dict[str, Any]) -> None:
        sid, seq = obj.get("sid"), obj.get("seq")
        body = wm.SnapshotBody.model_validate(obj.get("msg"))
        t = body.market_ticker
        if not isinstance(sid, int) or self._book_sid.get(t) != sid:
            return  # a snapshot for a subscription we already dropped
        self._seq.reset(sid)
        if isinstance(seq, int):
            self._seq.check(sid, seq)
        self._awaiting.discard(t)
        self.stats.snapshots += 1
        now = self.clock_ms()
        self.stats.last_msg_ms[t] = now
        yes = tuple((Price(p), Count(c)) for p, c in body.yes_dollars_fp)
        no = tuple((Price(p), Count(c)) for p, c in body.no_dollars_fp)
        snap = ev.BookSnapshot(t, sid, seq if isinstance(seq, int) else 0, yes, no, self.use_yes_price)
        self._emit(snap)
        if self.on_market_data is not None:
            self._out.append(MarketData("book", now, market_fields(snap), snap))

    def _on_reply(self, kind: str, obj: dict[str, Any]) -> None:
        cid = obj.get("id")
        ticker = self._pending.get(cid) if isinstance(cid, int) else None
        msg = obj.get("msg")
        if kind == "subscribed" and isinstance(msg, dict):
            sid, channel = msg.get("sid"), msg.get("channel")
            if not isinstance(sid, int) or not isinstance(channel, str):
                raise DataError("subscribed reply without sid/channel")
            self._sid_channel[sid] = channel
            if ticker is not None:
                if ticker not in self.markets:  # removed while the subscribe was in flight
                    self._command("unsubscribe", {"sids": [sid]})
                    return
                self._sid_ticker[sid] = ticker
                self._market_sids.setdefault(ticker, []).append(sid)
                if channel == "orderbook_delta":
                    self._book_sid[ticker] = sid
                    self._seq.reset(sid)
        elif kind in ("ok", "unsubscribed"):
            sid, seq = obj.get("sid"), obj.get("seq")
            if isinstance(sid, int) and isinstance(seq, int) and sid in self._seq:
                t = self._sid_ticker.get(sid)
                if t is None or t not in self._awaiting:
                    self._seq_ok(sid, seq)
        elif kind == "error":
            self.stats.errors += 1
            code = msg.get("code") if isinstance(msg, dict) else None
            log.warning("ws error", code=code, msg=str(msg)[:200], ticker=ticker)
            if code in TERMINAL_ERRORS:
                raise _Reconnect(f"terminal channel error {code}")


__all__ = ["ACCOUNT_CHANNELS", "MARKET_CHANNELS", "Feed", "FeedStats", "MarketData"]
