"""The simulator's WebSocket: ``/trade-api/ws/v2`` (API.md §5).

Theory of operation
-------------------
The handshake must be signed (API.md §2.2: "the connection itself still requires authentication"); an unsigned or
badly signed upgrade is refused with HTTP 401 in Kalshi's error envelope before the socket is accepted.

One :class:`Conn` per socket holds its subscriptions (server-assigned ``sid`` from 1, one per channel of a
``subscribe``) and an outbound deque drained by one writer task, so publishing from the exchange's synchronous
listeners never awaits. The :class:`WsHub` indexes subscriptions by ``(channel, market ticker)`` (``None`` = all
markets) and turns each publication into frames. Message bodies (``msg``) are serialized once with orjson and the
envelope (``type``/``sid``/``seq``) is spliced around them as bytes, so N subscribers cost N byte joins, not N
JSON encodes. ``seq`` is per sid (API.md §5.4); sequenced channels are orderbook_delta, trade,
market_lifecycle_v2 and order_group_updates, and ``ok``/``unsubscribed`` replies on them also take a seq.

Faults (:mod:`.faults`) hook in at :meth:`Conn.push`, after the seq has been assigned: skipping a frame there makes
a real gap, repeating it a real duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketDisconnect

from kalshibot.core.fixed import ONE_DOLLAR, format_count, format_price
from kalshibot.sim import choices
from kalshibot.sim.auth import AuthFailure, signed_path

if TYPE_CHECKING:
    from kalshibot.sim.server import SimServer

WS_PATH = "/trade-api/ws/v2"

SEQUENCED = frozenset({"orderbook_delta", "trade", "market_lifecycle_v2", "order_group_updates"})
PRIVATE = frozenset({"fill", "user_orders", "market_positions", "order_group_updates"})
MARKET_REQUIRED = frozenset({"orderbook_delta"})
ALL_MARKETS_ONLY = frozenset({"market_lifecycle_v2", "order_group_updates"})  # market filter ignored
CHANNELS = frozenset(
    {
        "orderbook_delta",
        "ticker",
        "trade",
        "fill",
        "user_orders",
        "market_positions",
        "market_lifecycle_v2",
        "order_group_updates",
    }
)

# API.md §5.6
ERR_PROCESS, ERR_PARAMS, ERR_CHANNELS, ERR_SIDS, ERR_UNKNOWN_CMD = 1, 2, 3, 4, 5
ERR_UNKNOWN_SID, ERR_UNKNOWN_CHANNEL, ERR_AUTH, ERR_CHANNEL, ERR_INVALID = 7, 8, 9, 10, 11
ERR_ONE_SID, ERR_UNSUPPORTED_ACTION, ERR_TICKER_REQUIRED, ERR_ACTION_REQUIRED = 12, 13, 14, 15
ERR_BUFFER_OVERFLOW = 25
ERROR_TEXT = {
    1: "Unable to process message",
    2: "Params required",
    3: "Channels required",
    4: "Subscription IDs required",
    5: "Unknown command",
    7: "Unknown subscription ID",
    8: "Unknown channel name",
    9: "Authentication required",
    10: "Channel error",
    11: "Invalid parameter",
    12: "Exactly one subscription ID is required",
    13: "Unsupported action",
    14: "Market Ticker required",
    15: "Action required",
    25: "Subscription buffer overflow",
}


def _b(n: int) -> bytes:
    return str(n).encode()


@dataclass(eq=False, slots=True)
class Sub:
    sid: int
    channel: str
    conn: Conn
    tickers: set[str] | None  # None = all markets
    use_yes_price: bool = False
    seq: int = 0
    alive: bool = True
    sid_b: bytes = b""

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq


@dataclass(eq=False)
class Conn:
    hub: WsHub
    ws: WebSocket
    user_id: str
    subs: dict[int, Sub] = field(default_factory=dict)
    next_sid: int = 1
    out: deque[bytes] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    closed: bool = False
    close_code: int | None = None
    close_reason: str = ""
    sent: int = 0

    def push(self, frame: bytes, sub: Sub | None = None, channel: str = "") -> None:
        """Queue one frame (faults may drop, repeat, hold or delay it)."""
        if self.closed:
            return
        if self.hub.faults.ws_armed and sub is not None:
            frames = self.hub.faults.ws_transform(self, sub, channel or sub.channel, frame)
            if not frames:
                return
            self.out.extend(frames)
        else:
            self.out.append(frame)
        if len(self.out) > choices.WS_SEND_QUEUE_LIMIT and sub is not None:
            # a reader that cannot keep up: its subscription dies with the terminal error 25 (API.md §5.4)
            self.out.clear()
            self.hub.kill_sub(sub, ERR_BUFFER_OVERFLOW)
        self.wake.set()

    def push_many(self, frames: Sequence[bytes]) -> None:
        if self.closed:
            return
        self.out.extend(frames)
        self.wake.set()

    def reply(self, obj: dict[str, Any]) -> None:
        if not self.closed:
            self.out.append(orjson.dumps(obj))
            self.wake.set()

    def error(self, cmd_id: int | None, code: int, extra: dict[str, Any] | None = None) -> None:
        msg: dict[str, Any] = {"code": code, "msg": ERROR_TEXT.get(code, "error")}
        if extra:
            msg.update(extra)
        obj: dict[str, Any] = {"type": "error", "msg": msg}
        if cmd_id:
            obj = {"id": cmd_id, **obj}
        self.reply(obj)

    def drop(self, code: int = 1011, reason: str = "") -> None:
        """Close from the server side at the next writer turn (used by faults and shutdown)."""
        self.close_code, self.close_reason = code, reason
        self.closed = True
        self.out.clear()
        self.wake.set()

    async def writer(self) -> None:
        send = self.ws.send
        out = self.out
        while True:
            while out:
                frame = out.popleft()
                await send({"type": "websocket.send", "text": frame.decode()})
                self.sent += 1
            if self.closed:
                if self.close_code is not None:
                    with contextlib.suppress(Exception):
                        await self.ws.close(self.close_code, self.close_reason)
                return
            self.wake.clear()
            await self.wake.wait()


class WsHub:
    """All connections and subscriptions; the bridge publishes into it (synchronously)."""

    def __init__(self, server: SimServer) -> None:
        self.server = server
        self.faults = server.faults
        self.conns: set[Conn] = set()
        self.index: dict[str, dict[str | None, set[Sub]]] = {c: {} for c in CHANNELS}
        self.frames_out = 0

    # -- subscription index -------------------------------------------------------------------------------------
    def _add(self, sub: Sub) -> None:
        idx = self.index[sub.channel]
        for t in sub.tickers if sub.tickers is not None else (None,):
            idx.setdefault(t, set()).add(sub)

    def _remove(self, sub: Sub, tickers: Iterable[str | None] | None = None) -> None:
        idx = self.index[sub.channel]
        keys: Iterable[str | None] = (
            tickers if tickers is not None else (sub.tickers if sub.tickers is not None else (None,))
        )
        for t in keys:
            s = idx.get(t)
            if s is not None:
                s.discard(sub)
                if not s:
                    del idx[t]

    def subs_for(self, channel: str, ticker: str | None) -> list[Sub]:
        idx = self.index[channel]
        if not idx:
            return []
        out = list(idx.get(None, ()))
        if ticker is not None:
            out.extend(idx.get(ticker, ()))
        return out

    def kill_sub(self, sub: Sub, code: int) -> None:
        """End a subscription with a terminal error (10 or 25, API.md §5.4)."""
        if not sub.alive:
            return
        sub.alive = False
        self._remove(sub)
        sub.conn.subs.pop(sub.sid, None)
        sub.conn.reply({"type": "error", "sid": sub.sid, "msg": {"code": code, "msg": ERROR_TEXT[code]}})

    # -- publishing (called from the exchange's listeners, never awaits) --------------------------------------------
    def publish(
        self,
        channel: str,
        msg_type: str,
        ticker: str | None,
        msg: dict[str, Any] | bytes,
        user_id: str | None = None,
    ) -> int:
        """Send one message body to every matching subscription; returns the number of frames queued."""
        subs = self.subs_for(channel, ticker)
        if not subs:
            return 0
        body = msg if isinstance(msg, bytes) else orjson.dumps(msg)
        head = b'{"type":"' + msg_type.encode() + b'","sid":'
        sequenced = channel in SEQUENCED
        n = 0
        for sub in subs:
            if user_id is not None and sub.conn.user_id != user_id:
                continue
            if sequenced:
                frame = head + sub.sid_b + b',"seq":' + _b(sub.next_seq()) + b',"msg":' + body + b"}"
            else:
                frame = head + sub.sid_b + b',"msg":' + body + b"}"
            sub.conn.push(frame, sub, channel)
            n += 1
        self.frames_out += n
        return n

    def publish_book_delta(
        self,
        ticker: str,
        market_id: str,
        side: str,
        price: int,
        delta: int,
        ts_ms: int,
        owner_user_id: str | None = None,
        client_order_id: str | None = None,
        subaccount: int | None = None,
    ) -> int:
        """An ``orderbook_delta`` (API.md §5.3): ``price`` is the leg's own price (NO-leg for side ``no``);
        ``use_yes_price`` subscribers get side-``no`` prices as 1 - q. ``client_order_id`` (+ ``subaccount``)
        only for the owner's subscriptions."""
        subs = self.subs_for("orderbook_delta", ticker)
        if not subs:
            return 0
        bodies: dict[tuple[bool, bool], bytes] = {}
        n = 0
        for sub in subs:
            yes_px = sub.use_yes_price and side == "no"
            own = owner_user_id is not None and client_order_id is not None and sub.conn.user_id == owner_user_id
            key = (yes_px, own)
            body = bodies.get(key)
            if body is None:
                m: dict[str, Any] = {
                    "market_ticker": ticker,
                    "market_id": market_id,
                    "price_dollars": format_price(ONE_DOLLAR - price if yes_px else price),
                    "delta_fp": format_count(delta),
                    "side": side,
                    "ts_ms": ts_ms,
                }
                if own:
                    m["client_order_id"] = client_order_id
                    if subaccount is not None:
                        m["subaccount"] = subaccount
                body = bodies[key] = orjson.dumps(m)
            frame = (
                (b'{"type":"orderbook_delta","sid":' + sub.sid_b + b',"seq":' + _b(sub.next_seq()) + b',"msg":')
                + body
                + b"}"
            )
            sub.conn.push(frame, sub, "orderbook_delta")
            n += 1
        self.frames_out += n
        return n

    # -- snapshots --------------------------------------------------------------------------------------------------
    def snapshot_frame(self, sub: Sub, ticker: str, cmd_id: int | None = None) -> bytes | None:
        book = self.server.bridge.book_levels(ticker)
        if book is None:
            return None
        yes, no = book
        msg: dict[str, Any] = {"market_ticker": ticker, "market_id": self.server.bridge.market_id(ticker)}
        if yes:
            msg["yes_dollars_fp"] = [[format_price(p), format_count(c)] for p, c in yes]
        if no:
            if sub.use_yes_price:
                msg["no_dollars_fp"] = [[format_price(ONE_DOLLAR - p), format_count(c)] for p, c in reversed(no)]
            else:
                msg["no_dollars_fp"] = [[format_price(p), format_count(c)] for p, c in no]
        obj: dict[str, Any] = {"type": "orderbook_snapshot", "sid": sub.sid, "seq": sub.next_seq(), "msg": msg}
        if cmd_id:
            obj = {"id": cmd_id, **obj}
        return orjson.dumps(obj)

    def firehose(self, n: int, ticker: str | None = None, price: int = 10_000, side: str = "yes") -> int:
        """Queue ``n`` precomputed orderbook_delta frames per matching subscription, as fast as possible (the
        feed-throughput benchmark). Deltas alternate +1/-1 contract at ``price`` so, for an even ``n``, a client's
        book ends where it started; the exchange's book is not touched. Returns frames queued."""
        total = 0
        for t in self._book_tickers(ticker):
            mid = self.server.bridge.market_id(t)
            plus, minus = (
                orjson.dumps(
                    {
                        "market_ticker": t,
                        "market_id": mid,
                        "price_dollars": format_price(price),
                        "delta_fp": format_count(100 * sign),
                        "side": side,
                        "ts_ms": 0,
                    }
                )
                for sign in (1, -1)
            )
            for sub in self.subs_for("orderbook_delta", t):
                head = b'{"type":"orderbook_delta","sid":' + sub.sid_b + b',"seq":'
                frames = [
                    head + _b(sub.next_seq()) + b',"msg":' + (plus if i % 2 == 0 else minus) + b"}" for i in range(n)
                ]
                sub.conn.push_many(frames)
                total += n
        self.frames_out += total
        return total

    def _book_tickers(self, ticker: str | None) -> list[str]:
        if ticker is not None:
            return [ticker]
        return [t for t in self.index["orderbook_delta"] if t is not None]

    async def close_all(self, code: int = 1001, reason: str = "") -> None:
        for conn in list(self.conns):
            conn.drop(code, reason)
        for _ in range(100):
            if not self.conns:
                return
            await asyncio.sleep(0.01)

    def drop_connections(self, user_id: str | None = None, code: int = 1011, reason: str = "fault: dropped") -> int:
        n = 0
        for conn in list(self.conns):
            if user_id is None or conn.user_id == user_id:
                conn.drop(code, reason)
                n += 1
        return n

    # -- the endpoint -----------------------------------------------------------------------------------------------
    async def endpoint(self, ws: WebSocket) -> None:
        try:
            user_id = self.server.auth.authenticate(ws.headers, "GET", signed_path(ws.scope))
        except AuthFailure as e:
            await _deny(ws, e.status, e.code, e.message)
            return
        if user_id is None:
            await _deny(ws, 401, choices.AUTH_MISSING, "authentication is required to connect")
            return
        await ws.accept()
        conn = Conn(self, ws, user_id)
        self.conns.add(conn)
        writer = asyncio.create_task(conn.writer(), name="sim-ws-writer")
        from kalshibot.sim.ws_commands import handle_command

        try:
            while not conn.closed:
                try:
                    text = await ws.receive_text()
                except (WebSocketDisconnect, RuntimeError, KeyError):
                    break
                handle_command(self, conn, text)
        finally:
            conn.closed = True
            conn.wake.set()
            for sub in list(conn.subs.values()):
                sub.alive = False
                self._remove(sub)
            conn.subs.clear()
            self.conns.discard(conn)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer, timeout=2)
            if not writer.done():
                writer.cancel()


async def _deny(ws: WebSocket, status: int, code: str, message: str) -> None:
    body = orjson.dumps({"error": {"code": code, "message": message}})
    if "websocket.http.response" in ws.scope.get("extensions", {}):
        await ws.send_denial_response(Response(body, status_code=status, media_type="application/json"))
    else:  # a server without the denial extension: plain refusal (HTTP 403)
        await ws.close(1008)
