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

Layout: this module holds the connection, the receive loop and the straight path for in-sequence deltas;
``feed_dispatch.py`` the subscription commands and the general message path (a mixin of :class:`Feed`);
``feed_records.py`` the market-data records and :class:`FeedStats`. Their public names are re-exported here.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Coroutine, Iterable
from time import time_ns
from typing import Any

import orjson
import structlog
from pydantic import ValidationError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK, InvalidHandshake

from kalshibot.core import events as ev
from kalshibot.core.book import SequenceTracker
from kalshibot.errors import DataError, SequenceGapError
from kalshibot.net.auth import WsAuth, wall_clock_ms
from kalshibot.net.decode import delta_from_obj, fast_delta
from kalshibot.net.feed_dispatch import _UNPARSED, MARKET_CHANNELS, TERMINAL_ERRORS, FeedDispatch, _Reconnect
from kalshibot.net.feed_records import FeedStats, MarketData, market_fields

log = structlog.get_logger(__name__)

ACCOUNT_CHANNELS = ("fill", "user_orders", "market_positions", "order_group_updates", "market_lifecycle_v2")


class Feed(FeedDispatch):
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
        self.markets = set()
        self._ws = None
        self._outbox = asyncio.Queue()
        self._stopping = False
        self._stop_event = asyncio.Event()
        self._connected = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._out = []
        self._in_frame = False
        self._reset_connection_state()

    # -------------------------------------------------------------------------------------------- state
    def _reset_connection_state(self) -> None:
        self._next_id = 1
        self._pending = {}
        self._sid_ticker = {}
        self._sid_channel = {}
        self._market_sids = {}
        self._book_sid = {}
        self._awaiting = set()
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
            await self._read(ws)
        finally:
            writer.cancel()

    async def _read(self, ws: ClientConnection) -> None:
        """The receive loop: :meth:`handle_frame` for every frame until the connection closes (a normal close
        ends it as ``async for frame in ws`` does; any other close raises).

        The in-sequence delta, nearly every frame, is :meth:`handle_frame`'s straight path inlined here with all it
        touches bound to locals once per connection (issue 9, figure 2: a method call and ~10 attribute reads a
        frame). That is sound because the state it reads is created by ``_reset_connection_state`` just before and
        only ever changed in place while connected; the callbacks, clock and ``use_yes_price`` are read once per
        connection (the subscriptions were made with that ``use_yes_price`` anyway). Everything else goes to
        :meth:`_after_fast`, as it does from :meth:`handle_frame`. tests/test_perf_feed2_loop.py: this loop and
        :meth:`handle_frame` give the same events, records, stats and commands."""
        recv = ws.recv
        stats = self.stats
        last_msg = stats.last_msg_ms
        awaiting, book_sid, seq_last = self._awaiting, self._book_sid, self._seq_last
        on_event, on_market_data, use_yes = self.on_event, self.on_market_data, self.use_yes_price
        clock = self.clock_ms
        wall = clock is wall_clock_ms  # then the same reading without a Python call per frame
        after_fast = self._after_fast
        while True:
            try:
                frame = await recv()
            except ConnectionClosedOK:
                return
            stats.messages += 1
            d = fast_delta(frame, use_yes)
            if d is not None:
                t = d.ticker
                sid = d.sid
                if t not in awaiting and book_sid.get(t) == sid:
                    seq = d.seq
                    last = seq_last.get(sid)
                    if last is not None and seq == last + 1:
                        seq_last[sid] = seq
                        stats.deltas += 1
                        now = time_ns() // 1_000_000 if wall else clock()
                        last_msg[t] = now
                        on_event(d)
                        if on_market_data is not None:
                            on_market_data(MarketData("book", now, market_fields(d), d))
                        continue
            after_fast(frame, d)

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
        if d is not None:
            t = d.ticker
            sid = d.sid
            if t not in self._awaiting and self._book_sid.get(t) == sid:
                seq = d.seq
                last = self._seq_last.get(sid)
                if last is not None and seq == last + 1:  # SequenceTracker.check's in-order case, inlined
                    self._seq_last[sid] = seq
                    stats = self.stats  # _on_delta's accept, inlined: this runs for nearly every frame
                    stats.deltas += 1
                    now = self.clock_ms()
                    stats.last_msg_ms[t] = now
                    self.on_event(d)
                    if self.on_market_data is not None:
                        self.on_market_data(MarketData("book", now, market_fields(d), d))
                    return
        self._after_fast(frame, d)

    def _after_fast(self, frame: str | bytes, d: ev.BookDelta | None) -> None:
        """The rest of :meth:`handle_frame` (and of the receive loop) after the in-order case: ``d`` is what
        ``fast_delta`` made of the frame (None: parse it the reference way). A delta whose market is ready is
        sequence-checked in full here (first after a reset, duplicate); a gap, an awaiting market or any other
        message takes :meth:`_handle_slow`."""
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
            if t not in self._awaiting and self._book_sid.get(t) == d.sid:
                fresh: bool | None
                try:
                    fresh = self._seq.check(d.sid, d.seq)
                except SequenceGapError:
                    fresh = None  # the general path below reports and resyncs
                if fresh is not None:
                    if fresh:
                        stats = self.stats
                        stats.deltas += 1
                        now = self.clock_ms()
                        stats.last_msg_ms[t] = now
                        self.on_event(d)
                        if self.on_market_data is not None:
                            self.on_market_data(MarketData("book", now, market_fields(d), d))
                    return
        self._handle_slow(frame, obj)


__all__ = ["ACCOUNT_CHANNELS", "MARKET_CHANNELS", "TERMINAL_ERRORS", "Feed", "FeedStats", "MarketData", "market_fields"]
