"""The feed's subscription bookkeeping and its general message path (a mixin of :class:`kalshibot.net.feed.Feed`).

Split out of ``feed.py``, which keeps the connection, the receive loop and the straight path for in-sequence
deltas. Here: the commands sent to the exchange (subscribe, unsubscribe, ``get_snapshot`` resyncs) and what their
replies mean (``sid`` -> market, book ``sid`` per market), and the reference decoding of every frame
(:meth:`FeedDispatch._handle_slow`): snapshots, trades, account channels, replies, errors, and the deltas the
straight path leaves to it (a gap, a market awaiting its snapshot, a delta it could not decode).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

import orjson
import structlog
from pydantic import ValidationError
from websockets.asyncio.client import ClientConnection

from kalshibot.core import events as ev
from kalshibot.core.book import SequenceTracker
from kalshibot.core.fixed import Count, Price
from kalshibot.errors import DataError, SequenceGapError
from kalshibot.net import ws_models as wm
from kalshibot.net.decode import delta_from_obj
from kalshibot.net.feed_records import FeedStats, MarketData, market_fields

log = structlog.get_logger("kalshibot.net.feed")  # the feed's logger, whichever of its modules logs

MARKET_CHANNELS = ("orderbook_delta", "trade")
TERMINAL_ERRORS = frozenset({10, 25})  # channel error, subscription buffer overflow (API.md §5.4)
_UNPARSED: Any = object()


class _Reconnect(Exception):
    """A terminal channel error: drop the connection and start over."""


class FeedDispatch:
    """Commands and the general message path; ``Feed`` owns and initialises the state declared here."""

    stats: FeedStats
    markets: set[str]
    on_event: Callable[[ev.Event], None]
    on_market_data: Callable[[MarketData], None] | None
    use_yes_price: bool
    emit_positions: bool
    clock_ms: Callable[[], int]
    _ws: ClientConnection | None
    _outbox: asyncio.Queue[dict[str, Any]]
    _out: list[ev.Event | MarketData]
    _in_frame: bool
    # per connection (Feed._reset_connection_state)
    _next_id: int
    _pending: dict[int, str | None]  # command id -> market ticker (None: account channels)
    _sid_ticker: dict[int, str]  # book/trade sid -> its one market
    _sid_channel: dict[int, str]
    _market_sids: dict[str, list[int]]
    _book_sid: dict[str, int]
    _awaiting: set[str]  # markets whose book is invalid until a snapshot arrives
    _seq: SequenceTracker

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


__all__ = ["MARKET_CHANNELS", "TERMINAL_ERRORS", "FeedDispatch"]
