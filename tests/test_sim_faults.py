"""Every fault of the simulator's injector fires and is counted (docs/simulator.md "Faults")."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from kalshibot.errors import ConfigError
from kalshibot.kalshi.signing import auth_headers
from kalshibot.sim.scenario import load_scenario
from kalshibot.sim.testing import TestSim, add_test_market, eventually, running_sim

P = "/trade-api/v2"
ORD = P + "/portfolio/events/orders"


def body(side: str, price: str, count: str, coid: str) -> dict[str, Any]:
    return {
        "ticker": "TEST-MKT",
        "side": side,
        "price": price,
        "count": count,
        "client_order_id": coid,
        "time_in_force": "good_till_canceled",
        "self_trade_prevention_type": "maker",
    }


class Env:
    def __init__(self, sim: TestSim, http: httpx.AsyncClient) -> None:
        self.sim, self.http = sim, http
        self.kid_b, self.signer_b, self.user_b = sim.new_user()
        self.tasks: list[asyncio.Task[None]] = []

    async def a(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return await self.http.request(method, path, headers=self.sim.signed_headers(method, path), **kw)

    async def b(self, method: str, path: str, **kw: Any) -> httpx.Response:
        h = auth_headers(self.signer_b, self.kid_b, method, path.split("?")[0], self.sim.clock())
        return await self.http.request(method, path, headers=h, **kw)

    async def inject(self, fault: str, **params: Any) -> dict[str, Any]:
        r = await self.http.post("/admin/faults", json={"fault": fault, **params})
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out

    async def counters(self) -> dict[str, int]:
        c: dict[str, int] = (await self.http.get("/admin/faults")).json()["counters"]
        return c

    async def ws(self, channels: list[str]) -> tuple[Any, list[dict[str, Any]]]:
        ws = await websockets.connect(self.sim.ws_url, additional_headers=self.sim.ws_headers())
        msgs: list[dict[str, Any]] = []

        async def pump() -> None:
            try:
                async for raw in ws:
                    msgs.append(json.loads(raw))
            except websockets.ConnectionClosed:
                pass

        self.tasks.append(asyncio.create_task(pump()))
        await ws.send(
            json.dumps({"id": 1, "cmd": "subscribe", "params": {"channels": channels, "market_tickers": ["TEST-MKT"]}})
        )
        await eventually(lambda: len([m for m in msgs if m.get("type") == "subscribed"]) == len(channels))
        return ws, msgs


async def _env(**kw: Any) -> Any:
    return running_sim(scenario="none", faults_enabled=True, rate_limit_tier="off", **kw)


def seqs(msgs: list[dict[str, Any]], type_: str = "orderbook_delta") -> list[int]:
    return [m["seq"] for m in msgs if m["type"] == type_]


async def test_admin_endpoint_only_with_faults_enabled() -> None:
    async with running_sim(scenario="none") as sim, httpx.AsyncClient(base_url=sim.base_url) as http:
        assert (await http.get("/admin/faults")).status_code == 404
    async with await _env() as sim, httpx.AsyncClient(base_url=sim.base_url) as http:
        r = await http.post("/admin/faults", json={"fault": "no_such_fault"})
        assert r.status_code == 400
        r = await http.post("/admin/faults", json={"fault": "rest_error", "bogus": 1})
        assert r.status_code == 400
        assert set((await http.get("/admin/faults")).json()["counters"]) >= {"rest_error", "ws_drop", "lost_ack"}


async def test_rest_5xx_429_burst_and_delay() -> None:
    async with await _env() as sim, httpx.AsyncClient(base_url=sim.base_url) as http:
        e = Env(sim, http)
        await e.inject("rest_error", status=503, count=1, path="/portfolio/balance")
        r = await e.a("GET", P + "/markets")  # other path: untouched
        assert r.status_code == 200
        r = await e.a("GET", P + "/portfolio/balance")
        assert r.status_code == 503 and r.json()["error"]["code"] == "service_unavailable"
        assert (await e.a("GET", P + "/portfolio/balance")).status_code == 200
        await e.inject("rest_429", count=3)
        st = [(await e.a("GET", P + "/portfolio/balance")).status_code for _ in range(4)]
        assert st == [429, 429, 429, 200]
        await e.inject("rest_delay", delay_ms=300)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        assert (await http.get(P + "/exchange/status")).status_code == 200
        assert loop.time() - t0 >= 0.29
        c = await e.counters()
        assert c["rest_error"] == 1 and c["rest_429"] == 3 and c["rest_delay"] == 1


async def test_lost_ack_places_the_order_but_never_answers() -> None:
    async with await _env() as sim, httpx.AsyncClient(base_url=sim.base_url) as http:
        add_test_market(sim)
        e = Env(sim, http)
        await e.inject("lost_ack", hold_ms=5000)
        with pytest.raises(httpx.ReadTimeout):
            await http.post(
                ORD, json=body("bid", "0.4000", "2.00", "lost-1"), headers=sim.signed_headers("POST", ORD), timeout=0.5
            )
        orders = (await e.a("GET", P + "/portfolio/orders?status=resting")).json()["orders"]
        assert [o["client_order_id"] for o in orders] == ["lost-1"]
        assert (await e.counters())["lost_ack"] == 1


async def test_ack_after_fill_delays_the_answer_until_the_ws_fill() -> None:
    async with await _env() as sim, httpx.AsyncClient(base_url=sim.base_url) as http:
        add_test_market(sim)
        e = Env(sim, http)
        ws, msgs = await e.ws(["fill"])
        await e.inject("ack_after_fill", max_ms=5000)
        events: list[str] = []

        async def place() -> None:
            r = await e.a("POST", ORD, json=body("bid", "0.4000", "2.00", "slow-1"))
            assert r.status_code == 201
            events.append("ack")

        task = asyncio.create_task(place())
        await eventually(lambda: sim.exchange.markets_by_ticker["TEST-MKT"].book.best_bid() is not None)
        assert not task.done()
        assert (await e.b("POST", ORD, json=body("ask", "0.4000", "2.00", "taker"))).status_code == 201
        await eventually(lambda: [m for m in msgs if m["type"] == "fill"])
        events.append("fill")
        await task
        assert events == ["fill", "ack"]
        assert (await e.counters())["ack_after_fill"] == 1
        await ws.close()


async def test_cancel_answers_404_after_a_fill() -> None:
    async with await _env() as sim, httpx.AsyncClient(base_url=sim.base_url) as http:
        add_test_market(sim)
        e = Env(sim, http)
        oid = (await e.a("POST", ORD, json=body("bid", "0.4000", "5.00", "c-1"))).json()["order_id"]
        await e.inject("cancel_404_after_fill")
        assert (await e.b("POST", ORD, json=body("ask", "0.4000", "2.00", "t-1"))).status_code == 201
        r = await e.a("DELETE", f"{ORD}/{oid}")
        assert r.status_code == 404 and r.json()["error"]["code"] == "order_not_found"
        assert (await e.counters())["cancel_404_after_fill"] == 1
        order = (await e.a("GET", f"{P}/portfolio/orders/{oid}")).json()["order"]
        assert order["status"] == "canceled" and order["fill_count_fp"] == "2.00"


@pytest.mark.parametrize("fault", ["ws_skip", "ws_repeat", "ws_reorder"])
async def test_sequenced_faults(fault: str) -> None:
    async with await _env() as sim, httpx.AsyncClient(base_url=sim.base_url) as http:
        add_test_market(sim)
        e = Env(sim, http)
        ws, msgs = await e.ws(["orderbook_delta"])
        await e.inject(fault, count=1)
        for i in range(3):
            await e.a("POST", ORD, json=body("bid", f"0.{30 + i}00", "1.00", f"s{i}"))
        sub_seq = next(iter(next(iter(sim.hub.conns)).subs.values())).seq
        expected = {"ws_skip": 2, "ws_repeat": 4, "ws_reorder": 3}[fault]
        await eventually(lambda: len(seqs(msgs)) == expected)
        got = seqs(msgs)
        want = {"ws_skip": [3, 4], "ws_repeat": [2, 2, 3, 4], "ws_reorder": [3, 2, 4]}[fault]
        assert sub_seq == 4 and got == want, got
        assert (await e.counters())[fault] == 1
        await ws.close()


async def test_unsequenced_duplicate_reorder_and_delay() -> None:
    async with await _env() as sim, httpx.AsyncClient(base_url=sim.base_url) as http:
        add_test_market(sim)
        e = Env(sim, http)
        ws, msgs = await e.ws(["user_orders", "orderbook_delta"])
        await e.inject("ws_duplicate", channel="user_orders")
        await e.a("POST", ORD, json=body("bid", "0.3000", "1.00", "d-1"))
        await eventually(lambda: len([m for m in msgs if m["type"] == "user_order"]) == 2)
        uo = [m["msg"]["client_order_id"] for m in msgs if m["type"] == "user_order"]
        assert uo == ["d-1", "d-1"]
        msgs.clear()
        await e.inject("ws_reorder_unsequenced", channel="user_orders")
        await e.a("POST", ORD, json=body("bid", "0.3100", "1.00", "r-1"))
        await e.a("POST", ORD, json=body("bid", "0.3200", "1.00", "r-2"))
        await eventually(lambda: len([m for m in msgs if m["type"] == "user_order"]) == 2)
        assert [m["msg"]["client_order_id"] for m in msgs if m["type"] == "user_order"] == ["r-2", "r-1"]
        msgs.clear()
        await e.inject("ws_delay", channel="orderbook_delta", delay_ms=300)
        await e.a("POST", ORD, json=body("bid", "0.3300", "1.00", "l-1"))
        await eventually(lambda: [m for m in msgs if m["type"] == "orderbook_delta"])
        types = [m["type"] for m in msgs]
        assert types.index("user_order") < types.index("orderbook_delta")  # normally the delta comes first
        c = await e.counters()
        assert c["ws_duplicate"] == 1 and c["ws_reorder_unsequenced"] == 1 and c["ws_delay"] == 1
        await ws.close()


async def test_drop_channel_error_and_firehose() -> None:
    async with await _env() as sim, httpx.AsyncClient(base_url=sim.base_url) as http:
        add_test_market(sim)
        e = Env(sim, http)
        ws, msgs = await e.ws(["orderbook_delta", "ticker"])
        r = await http.post("/admin/firehose", json={"n": 1000, "ticker": "TEST-MKT"})
        assert r.json()["frames"] == 1000
        await eventually(lambda: len(seqs(msgs)) == 1000)
        assert seqs(msgs) == list(range(2, 1002))
        await e.inject("ws_channel_error", channel="orderbook_delta")
        await eventually(lambda: [m for m in msgs if m["type"] == "error"])
        err = next(m for m in msgs if m["type"] == "error")
        assert err["msg"]["code"] == 10 and err["sid"] == 1
        await ws.send(json.dumps({"id": 9, "cmd": "list_subscriptions"}))
        lst = await eventually(lambda: [m for m in msgs if m.get("id") == 9])
        assert [s["channel"] for s in lst[0]["msg"]] == ["ticker"]
        assert (await e.inject("ws_drop"))["dropped"] == 1
        await eventually(lambda: ws.close_code is not None)
        c = await e.counters()
        assert c["ws_drop"] == 1 and c["ws_channel_error"] == 1 and c["firehose"] == 1


async def test_market_and_group_actions() -> None:
    async with await _env() as sim, httpx.AsyncClient(base_url=sim.base_url) as http:
        add_test_market(sim)
        e = Env(sim, http)
        ws, msgs = await e.ws(["market_lifecycle_v2", "order_group_updates"])

        def lifecycle() -> list[str]:
            return [m["msg"]["event_type"] for m in msgs if m["type"] == "market_lifecycle_v2"]

        async def status() -> str:
            s: str = (await http.get(P + "/markets/TEST-MKT")).json()["market"]["status"]
            return s

        await e.inject("pause_market", ticker="TEST-MKT")
        assert await status() == "inactive"
        await e.inject("activate_market", ticker="TEST-MKT")
        assert await status() == "active"
        await e.inject("set_grid", ticker="TEST-MKT", price_level_structure="deci_cent")
        m = (await http.get(P + "/markets/TEST-MKT")).json()["market"]
        assert m["price_level_structure"] == "deci_cent" and m["price_ranges"][0]["step"] == "0.0010"
        await e.inject("set_fee", series_ticker="TEST", fee_type="quadratic", fee_multiplier=2.0)
        s = (await http.get(P + "/series/TEST")).json()["series"]
        assert s["fee_type"] == "quadratic" and s["fee_multiplier"] == 2
        gid = (await e.a("POST", P + "/portfolio/order_groups/create", json={"contracts_limit": 10})).json()[
            "order_group_id"
        ]
        b = {**body("bid", "0.3000", "1.00", "g-1"), "order_group_id": gid}
        oid = (await e.a("POST", ORD, json=b)).json()["order_id"]
        await e.inject("trigger_order_group", order_group_id=gid)
        o = (await e.a("GET", f"{P}/portfolio/orders/{oid}")).json()["order"]
        assert o["status"] == "canceled"
        await e.inject("close_early", ticker="TEST-MKT", result="yes", settle=True)
        assert await status() == "finalized"
        await eventually(lambda: "settled" in lifecycle())
        assert lifecycle()[:3] == ["deactivated", "activated", "price_level_structure_updated"]
        assert "determined" in lifecycle()
        await eventually(
            lambda: [m for m in msgs if m["type"] == "order_group_updates" and m["msg"]["event_type"] == "triggered"]
        )
        c = await e.counters()
        for f in ("pause_market", "activate_market", "set_grid", "set_fee", "trigger_order_group", "close_early"):
            assert c[f] == 1, f
        r = await http.post("/admin/faults", json={"fault": "pause_market", "ticker": "NOPE"})
        assert r.status_code == 400
        await ws.close()


async def test_scheduled_fault_fires_at_its_time() -> None:
    async with await _env() as sim, httpx.AsyncClient(base_url=sim.base_url) as http:
        e = Env(sim, http)
        add_test_market(sim)
        await e.inject("pause_market", ticker="TEST-MKT", at_ms=sim.clock() + 200)
        assert (await e.counters())["pause_market"] == 0
        await eventually(lambda: sim.faults.counters["pause_market"] == 1, timeout=5)
        assert sim.exchange.markets_by_ticker["TEST-MKT"].status == "inactive"
        # in process, without the admin endpoint
        sim.faults.inject("rest_error", status=500)
        assert (await http.get(P + "/markets")).status_code == 500


async def test_fault_script_is_scheduled_relative_to_start_and_speed() -> None:
    script = [{"at_s": 0.4, "fault": "rest_error", "status": 502}]
    t0 = time.time_ns() // 1_000_000
    async with (
        running_sim(scenario="none", speed=2.0, fault_script=script) as sim,
        httpx.AsyncClient(base_url=sim.base_url) as http,
    ):
        due = sim.faults.next_scheduled_ms()
        assert due is not None and 200 <= due - t0 <= 200 + 2000  # 0.4 s of scenario time at speed 2
        await eventually(lambda: sim.faults.has("rest_error"), timeout=5)
        r = await http.get(P + "/markets")
        assert r.status_code == 502 and sim.faults.counters["rest_error"] == 1
    with pytest.raises(Exception, match="unknown fault"):
        async with running_sim(scenario="none", fault_script=[{"at_s": 1, "fault": "nope"}]):
            pass


async def test_scenario_yaml_scripts_faults(tmp_path: Path) -> None:
    """A scenario can carry its own fault script (`faults:`), scheduled like SimConfig.fault_script."""
    from kalshibot.sim.scenario_load import SCENARIO_DIR

    text = (SCENARIO_DIR / "benign.yaml").read_text()
    path = tmp_path / "benign_faulty.yaml"
    path.write_text(text + "\nfaults:\n  - {at_s: 0.2, fault: rest_error, status: 503}\n")
    async with (
        running_sim(scenario=str(path), faults_enabled=True) as sim,
        httpx.AsyncClient(base_url=sim.base_url) as http,
    ):
        await eventually(lambda: sim.faults.has("rest_error"), timeout=5)
        assert (await http.get(P + "/markets")).status_code == 503
        assert sim.faults.counters["rest_error"] == 1
    path.write_text(text + "\nfaults: [{at_s: 1}]\n")
    with pytest.raises(ConfigError, match="faults"):
        load_scenario(path)


async def test_batch_endpoints_carry_the_order_faults_too() -> None:
    """The bot sends creates and cancels in batches: ack_after_fill and cancel_404_after_fill fire there too."""
    async with await _env() as sim, httpx.AsyncClient(base_url=sim.base_url) as http:
        add_test_market(sim)
        e = Env(sim, http)
        ws, msgs = await e.ws(["fill"])
        await e.inject("ack_after_fill", max_ms=5000)
        events: list[str] = []

        async def place() -> None:
            orders = [body("bid", "0.4000", "5.00", "bslow-1"), body("bid", "0.3900", "1.00", "bslow-2")]
            r = await e.a("POST", ORD + "/batched", json={"orders": orders})
            assert r.status_code == 201
            events.append("ack")

        task = asyncio.create_task(place())
        await eventually(lambda: sim.exchange.markets_by_ticker["TEST-MKT"].book.best_bid() is not None)
        assert (await e.b("POST", ORD, json=body("ask", "0.4000", "2.00", "bt-1"))).status_code == 201
        await eventually(lambda: [m for m in msgs if m["type"] == "fill"])
        events.append("fill")
        await task
        assert events == ["fill", "ack"] and (await e.counters())["ack_after_fill"] == 1
        await ws.close()

        oid = sim.exchange.get_order_by_client_id(sim.test_user_id, "bslow-1").order_id
        other = sim.exchange.get_order_by_client_id(sim.test_user_id, "bslow-2").order_id
        await e.inject("cancel_404_after_fill")
        r = await e.a("DELETE", ORD + "/batched", json={"orders": [{"order_id": oid}, {"order_id": other}]})
        items = r.json()["orders"]
        assert items[0]["error"]["code"] == "order_not_found" and "error" not in items[1]
        assert (await e.counters())["cancel_404_after_fill"] == 1
        assert sim.exchange.orders[oid].status == "canceled" and sim.exchange.orders[other].status == "canceled"
