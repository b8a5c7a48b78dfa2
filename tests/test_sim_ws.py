"""The simulator's WebSocket (API.md §5) over real loopback sockets; every message is validated against models
written here from API.md §5.3 (the 3.34.0 schema file covers REST only)."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any, Literal

import httpx
import pytest
import websockets
from pydantic import BaseModel, ConfigDict
from websockets.asyncio.client import ClientConnection
from websockets.frames import Frame, Opcode

from kalshibot.core.fixed import ONE_DOLLAR, parse_count, parse_price
from kalshibot.sim.state import CreateOrderParams
from kalshibot.sim.testing import TestSim, add_test_market, eventually, running_sim

P = "/trade-api/v2"


# ------------------------------------------------------------------------------ models from API.md §5.3 / §5.1
class _M(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SnapshotMsg(_M):
    market_ticker: str
    market_id: str
    yes_dollars_fp: list[tuple[str, str]] | None = None
    no_dollars_fp: list[tuple[str, str]] | None = None


class DeltaMsg(_M):
    market_ticker: str
    market_id: str
    price_dollars: str
    delta_fp: str
    side: Literal["yes", "no"]
    ts_ms: int | None = None
    ts: str | None = None
    client_order_id: str | None = None
    subaccount: int | None = None


class TickerMsg(_M):
    market_id: str
    market_ticker: str
    price_dollars: str
    yes_bid_dollars: str
    yes_ask_dollars: str
    yes_bid_size_fp: str
    yes_ask_size_fp: str
    last_trade_size_fp: str
    volume_fp: str
    open_interest_fp: str
    dollar_volume: int
    dollar_open_interest: int
    ts: int
    ts_ms: int
    time: str | None = None


class TradeMsg(_M):
    trade_id: str
    market_ticker: str
    yes_price_dollars: str
    no_price_dollars: str
    count_fp: str
    taker_side: Literal["yes", "no"]
    taker_outcome_side: Literal["yes", "no"]
    taker_book_side: Literal["bid", "ask"]
    is_block_trade: bool
    ts: int
    ts_ms: int


class FillMsg(_M):
    trade_id: str
    order_id: str
    client_order_id: str
    market_ticker: str
    exchange_index: int
    is_taker: bool
    side: Literal["yes", "no"]
    action: str
    purchased_side: Literal["yes", "no"]
    outcome_side: Literal["yes", "no"]
    book_side: Literal["bid", "ask"]
    yes_price_dollars: str
    count_fp: str
    fee_cost: str
    post_position_fp: str
    subaccount: int
    ts: int
    ts_ms: int


class UserOrderMsg(_M):
    order_id: str
    user_id: str
    ticker: str
    exchange_index: int
    status: Literal["resting", "canceled", "executed", "unknown"]
    side: Literal["yes", "no"]
    is_yes: bool
    outcome_side: Literal["yes", "no"]
    book_side: Literal["bid", "ask"]
    yes_price_dollars: str
    fill_count_fp: str
    remaining_count_fp: str
    initial_count_fp: str
    taker_fill_cost_dollars: str
    maker_fill_cost_dollars: str
    taker_fees_dollars: str
    maker_fees_dollars: str
    client_order_id: str
    order_group_id: str | None
    self_trade_prevention_type: str
    created_time: str
    created_ts_ms: int
    expiration_time: str | None
    expiration_ts_ms: int | None
    last_updated_ts_ms: int
    last_update_reason: str
    subaccount_number: int


class PositionMsg(_M):
    user_id: str
    market_ticker: str
    position_fp: str
    position_cost_dollars: str
    realized_pnl_dollars: str
    fees_paid_dollars: str
    position_fee_cost_dollars: str
    volume_fp: str
    subaccount: int


class LifecycleMsg(BaseModel):  # variants add keys (API.md §5.3): only the common ones are fixed
    market_ticker: str
    event_type: Literal[
        "created",
        "activated",
        "deactivated",
        "close_date_updated",
        "determined",
        "settled",
        "price_level_structure_updated",
        "metadata_updated",
    ]


class GroupMsg(_M):
    event_type: Literal["created", "triggered", "reset", "deleted", "limit_updated"]
    order_group_id: str
    contracts_limit_fp: str | None = None
    ts_ms: int


DATA_MODELS: dict[str, tuple[type[BaseModel], bool]] = {
    "orderbook_snapshot": (SnapshotMsg, True),
    "orderbook_delta": (DeltaMsg, True),
    "ticker": (TickerMsg, False),
    "trade": (TradeMsg, True),
    "fill": (FillMsg, False),
    "user_order": (UserOrderMsg, False),
    "market_position": (PositionMsg, False),
    "market_lifecycle_v2": (LifecycleMsg, True),
    "order_group_updates": (GroupMsg, True),
}


def validate(m: dict[str, Any]) -> dict[str, Any]:
    t = m["type"]
    if t in DATA_MODELS:
        model, sequenced = DATA_MODELS[t]
        assert isinstance(m["sid"], int) and m["sid"] >= 1
        assert ("seq" in m) == sequenced, m
        model.model_validate(m["msg"])
        if t == "orderbook_snapshot":  # a key is absent when that side is empty
            assert m["msg"].get("yes_dollars_fp") != [] and m["msg"].get("no_dollars_fp") != []
    elif t == "subscribed":
        assert set(m["msg"]) == {"channel", "sid"}
    elif t == "error":
        assert isinstance(m["msg"]["code"], int) and isinstance(m["msg"]["msg"], str)
    else:
        assert t in ("ok", "unsubscribed", "event_lifecycle", "event_fee_update"), m
    return m


class Feed:
    """A WebSocket client collecting validated messages."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.msgs: list[dict[str, Any]] = []
        self.task = asyncio.create_task(self._run())
        self.next_id = 1

    async def _run(self) -> None:
        async for raw in self.ws:
            assert isinstance(raw, str)  # text frames, as Kalshi
            self.msgs.append(validate(json.loads(raw)))

    async def cmd(self, cmd: str, params: dict[str, Any] | None = None) -> int:
        i = self.next_id
        self.next_id += 1
        body: dict[str, Any] = {"id": i, "cmd": cmd}
        if params is not None:
            body["params"] = params
        await self.ws.send(json.dumps(body))
        return i

    def of(self, type_: str, **match: Any) -> list[dict[str, Any]]:
        return [m for m in self.msgs if m["type"] == type_ and all(m.get(k) == v for k, v in match.items())]

    async def reply(self, cmd_id: int) -> dict[str, Any]:
        return (await eventually(lambda: [m for m in self.msgs if m.get("id") == cmd_id], what=f"reply {cmd_id}"))[0]


async def connect(sim: TestSim, headers: dict[str, str] | None = None) -> Feed:
    ws = await websockets.connect(sim.ws_url, additional_headers=headers or sim.ws_headers())
    return Feed(ws)


def order_body(side: str, price: str, count: str, coid: str, ticker: str = "TEST-MKT") -> dict[str, Any]:
    return {
        "ticker": ticker,
        "side": side,
        "price": price,
        "count": count,
        "client_order_id": coid,
        "time_in_force": "good_till_canceled",
        "self_trade_prevention_type": "maker",
    }


async def post_order(sim: TestSim, http: httpx.AsyncClient, body: dict[str, Any], headers: Any = None) -> Any:
    path = P + "/portfolio/events/orders"
    r = await http.post(path, json=body, headers=headers or sim.signed_headers("POST", path))
    assert r.status_code == 201, r.text
    return r.json()


# ------------------------------------------------------------------------------------------------------- tests
async def test_channels_deliver_own_private_data_and_attribute_own_deltas() -> None:
    async with running_sim(scenario="none") as sim, httpx.AsyncClient(base_url=sim.base_url) as http:
        add_test_market(sim)
        kid_b, signer_b, _ = sim.new_user()
        from kalshibot.kalshi.signing import auth_headers

        a = await connect(sim)
        b = await connect(sim, auth_headers(signer_b, kid_b, "GET", "/trade-api/ws/v2", sim.clock()))
        chans = [
            "orderbook_delta",
            "ticker",
            "trade",
            "fill",
            "user_orders",
            "market_positions",
            "market_lifecycle_v2",
            "order_group_updates",
        ]
        for f in (a, b):
            cid = await f.cmd("subscribe", {"channels": chans, "market_tickers": ["TEST-MKT"]})
            await eventually(lambda f=f, cid=cid: len([m for m in f.msgs if m.get("id") == cid]) == len(chans))
            subs = [m for m in f.msgs if m.get("id") == cid]
            assert [s["msg"]["sid"] for s in subs] == list(range(1, len(chans) + 1))
        made = await post_order(sim, http, order_body("bid", "0.4500", "10.00", "a-1"))
        path = P + "/portfolio/events/orders"
        hb = auth_headers(signer_b, kid_b, "POST", path, sim.clock())
        await post_order(sim, http, order_body("ask", "0.4500", "4.00", "b-1"), hb)
        await eventually(lambda: a.of("fill") and b.of("fill") and a.of("market_position") and a.of("trade"))
        af, bf = a.of("fill"), b.of("fill")
        assert [f["msg"]["client_order_id"] for f in af] == ["a-1"] and af[0]["msg"]["is_taker"] is False
        assert [f["msg"]["client_order_id"] for f in bf] == ["b-1"] and bf[0]["msg"]["is_taker"] is True
        assert af[0]["msg"]["order_id"] == made["order_id"] and af[0]["msg"]["post_position_fp"] == "4.00"
        assert {m["msg"]["client_order_id"] for m in a.of("user_order")} == {"a-1"}
        assert {m["msg"]["client_order_id"] for m in b.of("user_order")} == {"b-1"}
        # a's own resting order: a sees client_order_id on the delta, b does not
        a_d = [m["msg"] for m in a.of("orderbook_delta")]
        b_d = [m["msg"] for m in b.of("orderbook_delta")]
        assert a_d[0]["client_order_id"] == "a-1" and a_d[0]["delta_fp"] == "10.00"
        assert all("client_order_id" not in d or d["client_order_id"] != "a-1" for d in b_d)
        assert a.of("trade")[0]["msg"]["count_fp"] == "4.00"
        assert a.of("ticker")
        # sequenced channels: contiguous per sid starting at 1
        for f in (a, b):
            for sid in {m["sid"] for m in f.msgs if "seq" in m}:
                seqs = [m["seq"] for m in f.msgs if m.get("sid") == sid and "seq" in m]
                assert seqs == list(range(1, len(seqs) + 1)), (sid, seqs)
        for f in (a, b):
            await f.ws.close()


async def test_commands_and_error_codes() -> None:
    async with running_sim(scenario="none") as sim:
        add_test_market(sim)
        add_test_market(sim, "OTHER")
        f = await connect(sim)
        await f.ws.send("not json")
        await eventually(lambda: f.of("error"))
        assert f.of("error")[0]["msg"]["code"] == 1
        cases = [
            ("subscribe", None, 2),
            ("subscribe", {}, 3),
            ("subscribe", {"channels": ["nope"]}, 8),
            ("subscribe", {"channels": ["orderbook_delta"]}, 14),
            ("subscribe", {"channels": ["ticker"], "market_ticker": "A", "market_tickers": ["B"]}, 11),
            ("unsubscribe", {"sids": [99]}, 7),
            ("unsubscribe", {}, 4),
            ("update_subscription", {"sid": 1, "sids": [1]}, 12),
            ("frobnicate", {}, 5),
        ]
        for cmd, params, code in cases:
            i = await f.cmd(cmd, params)
            r = await f.reply(i)
            assert r["type"] == "error" and r["msg"]["code"] == code, (cmd, params, r)
        i = await f.cmd("subscribe", {"channels": ["orderbook_delta"], "market_ticker": "TEST-MKT"})
        sid = (await f.reply(i))["msg"]["sid"]
        for params, code in [
            ({"sid": sid}, 15),
            ({"sid": sid, "action": "explode"}, 13),
            ({"sid": sid, "action": "add_markets"}, 14),
            ({"sid": 42, "action": "add_markets"}, 7),
        ]:
            r = await f.reply(await f.cmd("update_subscription", params))
            assert r["msg"]["code"] == code
        r = await f.reply(
            await f.cmd("update_subscription", {"sids": [sid], "market_tickers": ["OTHER"], "action": "add_markets"})
        )
        assert r["type"] == "ok" and r["sid"] == sid and r["msg"]["market_tickers"] == ["OTHER", "TEST-MKT"]
        assert "seq" in r
        await eventually(lambda: f.of("orderbook_snapshot", sid=sid) and len(f.of("orderbook_snapshot")) == 2)
        i = await f.cmd("update_subscription", {"sid": sid, "market_tickers": ["OTHER"], "action": "get_snapshot"})
        snap = await f.reply(i)
        assert snap["type"] == "orderbook_snapshot" and snap["msg"]["market_ticker"] == "OTHER"
        r = await f.reply(
            await f.cmd("update_subscription", {"sid": sid, "market_tickers": ["OTHER"], "action": "delete_markets"})
        )
        assert r["msg"]["market_tickers"] == ["TEST-MKT"]
        lst = await f.reply(await f.cmd("list_subscriptions"))
        assert lst["msg"] == [{"channel": "orderbook_delta", "sid": sid}]
        un = await f.reply(await f.cmd("unsubscribe", {"sids": [sid]}))
        assert un["type"] == "unsubscribed" and un["sid"] == sid and isinstance(un["seq"], int)
        # seq of the sid is contiguous across snapshots, ok and unsubscribed replies
        seqs = [m["seq"] for m in f.msgs if m.get("sid") == sid and "seq" in m]
        assert seqs == list(range(1, len(seqs) + 1))
        assert (await f.reply(await f.cmd("list_subscriptions")))["msg"] == []
        await f.ws.close()


@pytest.mark.parametrize("use_yes_price", [False, True])
async def test_use_yes_price_both_ways(use_yes_price: bool) -> None:
    async with running_sim(scenario="none") as sim, httpx.AsyncClient(base_url=sim.base_url) as http:
        add_test_market(sim)
        await post_order(sim, http, order_body("ask", "0.6000", "3.00", "s-1"))  # a NO bid at 0.40
        f = await connect(sim)
        await f.cmd(
            "subscribe",
            {"channels": ["orderbook_delta"], "market_tickers": ["TEST-MKT"], "use_yes_price": use_yes_price},
        )
        await eventually(lambda: f.of("orderbook_snapshot"))
        await post_order(sim, http, order_body("ask", "0.6100", "2.00", "s-2"))  # a NO bid at 0.39
        await eventually(lambda: f.of("orderbook_delta"))
        snap = f.of("orderbook_snapshot")[0]["msg"]
        delta = f.of("orderbook_delta")[0]["msg"]
        assert "yes_dollars_fp" not in snap  # empty side omitted
        assert delta["side"] == "no"
        if use_yes_price:
            assert snap["no_dollars_fp"] == [["0.6000", "3.00"]] and delta["price_dollars"] == "0.6100"
        else:
            assert snap["no_dollars_fp"] == [["0.4000", "3.00"]] and delta["price_dollars"] == "0.3900"
        await f.ws.close()


class _PingRecorder(ClientConnection):
    pings: list[bytes]

    def process_event(self, event: Any) -> None:
        if isinstance(event, Frame) and event.opcode is Opcode.PING:
            self.pings = [*getattr(self, "pings", []), bytes(event.data)]
        super().process_event(event)


async def test_server_pings_with_heartbeat_body() -> None:
    async with running_sim(scenario="none", ping_interval_s=0.2) as sim:
        ws = await websockets.connect(sim.ws_url, additional_headers=sim.ws_headers(), create_connection=_PingRecorder)
        assert isinstance(ws, _PingRecorder)
        recv = asyncio.create_task(ws.recv())
        await eventually(lambda: getattr(ws, "pings", None), timeout=5)
        assert ws.pings[0] == b"heartbeat"
        recv.cancel()
        await ws.close()


def _apply(book: dict[tuple[str, int], int], side: str, price: int, delta: int) -> None:
    k = (side, price)
    book[k] = book.get(k, 0) + delta
    assert book[k] >= 0
    if book[k] == 0:
        del book[k]


@pytest.mark.slow
async def test_rest_ws_and_engine_books_identical_after_thousands_of_random_orders() -> None:
    async with (
        running_sim(scenario="none", rate_limit_tier="off") as sim,
        httpx.AsyncClient(base_url=sim.base_url) as http,
    ):
        tickers = ["R-0", "R-1"]
        for t in tickers:
            add_test_market(sim, t)
        users = [sim.test_user_id] + [sim.new_user()[2] for _ in range(3)]
        f_no = await connect(sim)
        f_yes = await connect(sim)
        await f_no.cmd("subscribe", {"channels": ["orderbook_delta"], "market_tickers": tickers})
        await f_yes.cmd(
            "subscribe", {"channels": ["orderbook_delta"], "market_tickers": tickers, "use_yes_price": True}
        )
        await eventually(lambda: len(f_no.of("orderbook_snapshot")) == 2 and len(f_yes.of("orderbook_snapshot")) == 2)
        rng = random.Random(7)
        ex = sim.exchange
        resting: list[tuple[str, str]] = []
        for i in range(3000):
            u = rng.choice(users)
            if resting and rng.random() < 0.25:
                uid, oid = resting.pop(rng.randrange(len(resting)))
                ex.cancel_order(uid, oid, sim.clock())
                continue
            p = CreateOrderParams(
                ticker=rng.choice(tickers),
                side=rng.choice(["bid", "ask"]),
                price=rng.randint(30, 70) * 10_000,
                count=rng.randint(1, 500) * 10,
                time_in_force="good_till_canceled",
                self_trade_prevention_type=rng.choice(["maker", "taker_at_cross"]),
                client_order_id=f"o{i}",
            )
            r = ex.create_order(u, p, sim.clock())
            if r.order.status == "resting":
                resting.append((u, r.order.order_id))
            if i % 200 == 0:
                await asyncio.sleep(0)  # let the writers drain
        hub_seqs = {(id(c), s.sid): s.seq for c in sim.hub.conns for s in c.subs.values()}
        assert hub_seqs
        await eventually(
            lambda: sum(1 for m in f_no.msgs + f_yes.msgs if "seq" in m) == sum(hub_seqs.values()),
            timeout=30,
            what="all frames",
        )
        for t in tickers:
            engine_yes, engine_no = ex.markets_by_ticker[t].book.snapshot(0)
            rest = (await http.get(f"{P}/markets/{t}/orderbook")).json()["orderbook_fp"]
            rest_yes = [(parse_price(p), parse_count(c)) for p, c in rest["yes_dollars"]]
            rest_no = [(parse_price(p), parse_count(c)) for p, c in rest["no_dollars"]]
            assert rest_yes == engine_yes and rest_no == engine_no
            for feed, yes_px in ((f_no, False), (f_yes, True)):
                book: dict[tuple[str, int], int] = {}
                snap = next(m for m in feed.of("orderbook_snapshot") if m["msg"]["market_ticker"] == t)
                for side, key in (("yes", "yes_dollars_fp"), ("no", "no_dollars_fp")):
                    for p, c in snap["msg"].get(key, []):
                        _apply(book, side, parse_price(p), parse_count(c))
                deltas = [m for m in feed.of("orderbook_delta") if m["msg"]["market_ticker"] == t]
                assert len(deltas) > 500
                for m in deltas:
                    d = m["msg"]
                    _apply(book, d["side"], parse_price(d["price_dollars"]), parse_count(d["delta_fp"], signed=True))
                ws_yes = sorted((p, c) for (s, p), c in book.items() if s == "yes")
                ws_no = sorted(((ONE_DOLLAR - p) if yes_px else p, c) for (s, p), c in book.items() if s == "no")
                assert ws_yes == engine_yes and ws_no == engine_no, (t, yes_px)
        for feed in (f_no, f_yes):
            seqs = [m["seq"] for m in feed.msgs if m.get("sid") == 1]
            assert seqs == list(range(1, len(seqs) + 1))
            await feed.ws.close()


@pytest.mark.slow
async def test_default_scenario_feed_end_to_end() -> None:
    """A signed client on the default scenario sees a snapshot and contiguous deltas on every market, fills and
    user_order updates for its own orders, and lifecycle events as markets close and settle."""
    async with running_sim(speed=300.0) as sim, httpx.AsyncClient(base_url=sim.base_url) as http:
        markets = (await http.get(P + "/markets?status=open")).json()["markets"]
        tickers = [m["ticker"] for m in markets]
        assert len(tickers) >= 3
        f = await connect(sim)
        await f.cmd("subscribe", {"channels": ["orderbook_delta"], "market_tickers": tickers})
        await f.cmd("subscribe", {"channels": ["market_lifecycle_v2", "fill", "user_orders"]})
        await eventually(lambda: len(f.of("orderbook_snapshot")) == len(tickers), timeout=10)
        # take liquidity on the first market with a resting ask
        target = None
        for t in tickers:
            ob = (await http.get(f"{P}/markets/{t}/orderbook")).json()["orderbook_fp"]
            if ob["no_dollars"]:
                target = (t, ob["no_dollars"][-1][0])
                break
        assert target is not None
        t, best_no = target
        yes_ask = f"{1 - float(best_no):.4f}"
        body = {**order_body("bid", yes_ask, "1.00", "mine-1", ticker=t), "time_in_force": "immediate_or_cancel"}
        await post_order(sim, http, body)
        await eventually(lambda: f.of("user_order") and f.of("fill"), timeout=10)
        assert {m["msg"]["client_order_id"] for m in f.of("user_order")} == {"mine-1"}
        await eventually(
            lambda: {"determined", "settled"} <= {m["msg"]["event_type"] for m in f.of("market_lifecycle_v2")},
            timeout=30,
            what="markets to close and settle",
        )
        with_deltas = {m["msg"]["market_ticker"] for m in f.of("orderbook_delta")}
        assert with_deltas == set(tickers)
        seqs = [m["seq"] for m in f.msgs if m.get("sid") == 1 and "seq" in m]
        assert seqs == list(range(1, len(seqs) + 1))
        await f.ws.close()
