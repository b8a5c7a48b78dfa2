"""WebSocket client commands (API.md §5.1): subscribe, unsubscribe, update_subscription, list_subscriptions.

Replies echo the command's ``id``; errors use the codes of API.md §5.6. Kept apart from :mod:`.ws` (transport and
fan-out) so each stays small.
"""

from __future__ import annotations

from typing import Any

import orjson

from kalshibot.sim.ws import (
    ALL_MARKETS_ONLY,
    CHANNELS,
    ERR_ACTION_REQUIRED,
    ERR_CHANNELS,
    ERR_INVALID,
    ERR_ONE_SID,
    ERR_PARAMS,
    ERR_PROCESS,
    ERR_SIDS,
    ERR_TICKER_REQUIRED,
    ERR_UNKNOWN_CHANNEL,
    ERR_UNKNOWN_CMD,
    ERR_UNKNOWN_SID,
    ERR_UNSUPPORTED_ACTION,
    MARKET_REQUIRED,
    SEQUENCED,
    Conn,
    Sub,
    WsHub,
    _b,
)


class _CmdError(Exception):
    def __init__(self, code: int, extra: dict[str, Any] | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.extra = extra


def handle_command(hub: WsHub, conn: Conn, text: str) -> None:
    try:
        cmd = orjson.loads(text)
    except orjson.JSONDecodeError:
        conn.error(None, ERR_PROCESS)
        return
    if not isinstance(cmd, dict):
        conn.error(None, ERR_PROCESS)
        return
    raw_id = cmd.get("id")
    cmd_id = raw_id if isinstance(raw_id, int) and not isinstance(raw_id, bool) else None
    name = cmd.get("cmd")
    try:
        if name == "subscribe":
            _subscribe(hub, conn, cmd_id, _params(cmd))
        elif name == "unsubscribe":
            _unsubscribe(hub, conn, cmd_id, _params(cmd))
        elif name == "update_subscription":
            _update(hub, conn, cmd_id, _params(cmd))
        elif name == "list_subscriptions":
            conn.reply(
                {
                    **({"id": cmd_id} if cmd_id else {}),
                    "type": "ok",
                    "msg": [{"channel": s.channel, "sid": s.sid} for s in conn.subs.values()],
                }
            )
        else:
            raise _CmdError(ERR_UNKNOWN_CMD)
    except _CmdError as e:
        conn.error(cmd_id, e.code, e.extra)


def _params(cmd: dict[str, Any]) -> dict[str, Any]:
    params = cmd.get("params")
    if not isinstance(params, dict):
        raise _CmdError(ERR_PARAMS)
    return params


def _tickers(hub: WsHub, params: dict[str, Any], required: bool) -> list[str] | None:
    one, many = params.get("market_ticker"), params.get("market_tickers")
    if one is not None and many is not None:
        raise _CmdError(ERR_INVALID, {"msg": "market_ticker and market_tickers are mutually exclusive"})
    if one is not None:
        many = [one]
    if many is None or many == []:
        if required:
            raise _CmdError(ERR_TICKER_REQUIRED)
        return None
    if not isinstance(many, list) or not all(isinstance(t, str) and t for t in many):
        raise _CmdError(ERR_INVALID)
    # choice (docs/simulator.md): an unknown ticker is refused with code 11 and the offending tickers
    unknown = [t for t in many if not hub.server.bridge.has_market(t)]
    if unknown:
        raise _CmdError(ERR_INVALID, {"msg": "Unknown market ticker", "market_tickers": unknown})
    return list(dict.fromkeys(many))


def _subscribe(hub: WsHub, conn: Conn, cmd_id: int | None, params: dict[str, Any]) -> None:
    channels = params.get("channels")
    if not channels or not isinstance(channels, list):
        raise _CmdError(ERR_CHANNELS)
    bad = [c for c in channels if c not in CHANNELS]
    if bad:
        raise _CmdError(ERR_UNKNOWN_CHANNEL)
    need_tickers = any(c in MARKET_REQUIRED for c in channels)
    tickers = _tickers(hub, params, required=need_tickers)
    use_yes = params.get("use_yes_price") is True
    for channel in dict.fromkeys(channels):
        sid = conn.next_sid
        conn.next_sid += 1
        sub_tickers = None if channel in ALL_MARKETS_ONLY or tickers is None else set(tickers)
        sub = Sub(sid, channel, conn, sub_tickers, use_yes_price=use_yes and channel == "orderbook_delta")
        sub.sid_b = _b(sid)
        conn.subs[sid] = sub
        hub._add(sub)
        conn.reply(
            {**({"id": cmd_id} if cmd_id else {}), "type": "subscribed", "msg": {"channel": channel, "sid": sid}}
        )
        if channel == "orderbook_delta" and tickers:
            for t in tickers:
                frame = hub.snapshot_frame(sub, t)
                if frame is not None:
                    conn.push(frame, sub)
        elif channel == "ticker" and params.get("send_initial_snapshot") is True:
            for t in tickers if tickers is not None else hub.server.bridge.market_tickers():
                body = hub.server.bridge.ticker_body(t)
                if body is not None:
                    conn.push(b'{"type":"ticker","sid":' + sub.sid_b + b',"msg":' + body + b"}", sub)


def _sids(params: dict[str, Any]) -> list[int]:
    sids = params.get("sids")
    if sids is None and "sid" in params:
        sids = [params["sid"]]
    if not sids or not isinstance(sids, list) or not all(isinstance(s, int) for s in sids):
        raise _CmdError(ERR_SIDS)
    return sids


def _unsubscribe(hub: WsHub, conn: Conn, cmd_id: int | None, params: dict[str, Any]) -> None:
    sids = _sids(params)
    unknown = [s for s in sids if s not in conn.subs]
    if unknown:
        raise _CmdError(ERR_UNKNOWN_SID)
    for sid in sids:
        sub = conn.subs.pop(sid)
        sub.alive = False
        hub._remove(sub)
        reply: dict[str, Any] = {**({"id": cmd_id} if cmd_id else {}), "type": "unsubscribed", "sid": sid}
        if sub.channel in SEQUENCED:
            reply["seq"] = sub.next_seq()
        conn.reply(reply)


def _update(hub: WsHub, conn: Conn, cmd_id: int | None, params: dict[str, Any]) -> None:
    has_sid, sids = "sid" in params, params.get("sids")
    if has_sid and sids is not None:
        raise _CmdError(ERR_ONE_SID)
    if not has_sid and sids is None:
        raise _CmdError(ERR_SIDS)
    sid_list = [params["sid"]] if has_sid else sids
    if not isinstance(sid_list, list) or len(sid_list) != 1 or not isinstance(sid_list[0], int):
        raise _CmdError(ERR_ONE_SID)
    sub = conn.subs.get(sid_list[0])
    if sub is None:
        raise _CmdError(ERR_UNKNOWN_SID)
    action = params.get("action")
    if not action:
        raise _CmdError(ERR_ACTION_REQUIRED)
    if action not in ("add_markets", "delete_markets", "get_snapshot"):
        raise _CmdError(ERR_UNSUPPORTED_ACTION)
    if sub.channel in ALL_MARKETS_ONLY or (action == "get_snapshot" and sub.channel != "orderbook_delta"):
        raise _CmdError(ERR_UNSUPPORTED_ACTION)
    tickers = _tickers(hub, params, required=True)
    assert tickers is not None
    if action == "get_snapshot":
        # a fresh snapshot without changing the subscription (API.md §5.4); the snapshot carries the id
        for t in tickers:
            if sub.tickers is not None and t not in sub.tickers:
                raise _CmdError(ERR_INVALID, {"msg": "market not in subscription", "market_tickers": [t]})
        for t in tickers:
            frame = hub.snapshot_frame(sub, t, cmd_id)
            if frame is not None:
                conn.push(frame, sub)
        return
    if action == "add_markets":
        new = [t for t in tickers if sub.tickers is None or t not in sub.tickers]
        if sub.tickers is not None:
            sub.tickers.update(new)
            for t in new:
                hub.index[sub.channel].setdefault(t, set()).add(sub)
        if sub.channel == "orderbook_delta":
            for t in new:
                frame = hub.snapshot_frame(sub, t)
                if frame is not None:
                    conn.push(frame, sub)
    else:
        if sub.tickers is not None:
            gone = [t for t in tickers if t in sub.tickers]
            sub.tickers.difference_update(gone)
            hub._remove(sub, gone)
    reply: dict[str, Any] = {**({"id": cmd_id} if cmd_id else {}), "type": "ok", "sid": sub.sid}
    if sub.channel in SEQUENCED:
        reply["seq"] = sub.next_seq()
    reply["msg"] = {"market_tickers": sorted(sub.tickers or ())}
    conn.reply(reply)
