"""The simulator's REST server: every response validates against the SDK 3.34.0 model with the documented status
(tests/data/sdk-3.34.0-*.json), list parameters in both forms, pagination, the error envelope, ``kalshibot sim``."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from kalshibot.kalshi.keys import write_key_files
from kalshibot.kalshi.signing import Signer, auth_headers
from kalshibot.sim.testing import TestSim, add_test_market, running_sim

DATA = Path(__file__).parent / "data"
MODELS: dict[str, Any] = json.loads((DATA / "sdk-3.34.0-models.schema.json").read_text())
ENDPOINTS: list[dict[str, Any]] = json.loads((DATA / "sdk-3.34.0-endpoints.json").read_text())
P = "/trade-api/v2"


def _spec(method: str, template: str) -> dict[str, Any]:
    for e in ENDPOINTS:
        if e["method"] == method and e["path"] == template:
            return e
    raise AssertionError(f"{method} {template} not in the SDK endpoint list")


def check(r: httpx.Response, method: str, template: str) -> Any:
    """The response has the endpoint's documented success status and validates against its model."""
    spec = _spec(method, template)
    ok = [s for s in spec["responses"] if s.startswith("2")]
    assert str(r.status_code) in ok, (method, template, r.status_code, r.text[:300])
    model = spec["responses"][str(r.status_code)]
    if model is None:
        assert r.content == b""
        return None
    body = r.json()
    if model != "object":
        jsonschema.validate(body, MODELS[model])
    return body


def order_body(side: str, price: str, count: str, coid: str, **kw: Any) -> dict[str, Any]:
    return {
        "ticker": "TEST-MKT",
        "side": side,
        "price": price,
        "count": count,
        "time_in_force": "good_till_canceled",
        "self_trade_prevention_type": "maker",
        "client_order_id": coid,
        **kw,
    }


class Client:
    def __init__(self, sim: TestSim, c: httpx.AsyncClient, signer: Signer, key_id: str) -> None:
        self.sim, self.c, self.signer, self.key_id = sim, c, signer, key_id

    async def req(self, method: str, path: str, **kw: Any) -> httpx.Response:
        h = auth_headers(self.signer, self.key_id, method, P + path.split("?")[0], self.sim.clock())
        return await self.c.request(method, P + path, headers=h, **kw)


async def test_every_endpoint_validates_against_its_model() -> None:
    # rate limits off: this walks every endpoint back to back, faster than the Basic write bucket refills (it used
    # to fit only because every answer was ~40 ms late, see sim/server.py on TCP_NODELAY)
    async with (
        running_sim(scenario="none", rate_limit_tier="off") as sim,
        httpx.AsyncClient(base_url=sim.base_url) as http,
    ):
        add_test_market(sim)
        a = Client(sim, http, sim.test_signer, sim.test_key_id)
        kid_b, signer_b, _ = sim.new_user()
        b = Client(sim, http, signer_b, kid_b)

        for path, tmpl in [
            ("/exchange/status", "/exchange/status"),
            ("/exchange/schedule", "/exchange/schedule"),
            ("/exchange/user_data_timestamp", "/exchange/user_data_timestamp"),
            ("/series", "/series"),
            ("/series/TEST?include_volume=true", "/series/{series_ticker}"),
            ("/events?with_nested_markets=true", "/events"),
            ("/events/TEST-EVT?with_nested_markets=true", "/events/{event_ticker}"),
            ("/markets?status=open", "/markets"),
            ("/markets/TEST-MKT", "/markets/{ticker}"),
            ("/account/endpoint_costs", "/account/endpoint_costs"),
        ]:
            check(await http.get(P + path), "GET", tmpl)

        ORD = "/portfolio/events/orders"
        created = check(await a.req("POST", ORD, json=order_body("bid", "0.4500", "10.00", "a1")), "POST", ORD)
        oid = created["order_id"]
        assert created["client_order_id"] == "a1" and created["remaining_count"] == "10.00"
        taker = check(await b.req("POST", ORD, json=order_body("ask", "0.4400", "4.00", "b1")), "POST", ORD)
        assert taker["fill_count"] == "4.00" and "average_fill_price" in taker
        book = check(await http.get(P + "/markets/TEST-MKT/orderbook"), "GET", "/markets/{ticker}/orderbook")
        assert book["orderbook_fp"]["yes_dollars"] == [["0.4500", "6.00"]]
        check(await http.get(P + "/markets/orderbooks?tickers=TEST-MKT"), "GET", "/markets/orderbooks")
        trades = check(await http.get(P + "/markets/trades?ticker=TEST-MKT"), "GET", "/markets/trades")
        assert trades["trades"][0]["count_fp"] == "4.00"

        amended = check(
            await a.req("POST", f"{ORD}/{oid}/amend", json=order_body("bid", "0.4600", "10.00", "a1")),
            "POST",
            "/portfolio/events/orders/{order_id}/amend",
        )
        assert amended["order_id"] == oid
        dec = check(
            await a.req("POST", f"{ORD}/{oid}/decrease", json={"reduce_by": "1.00"}),
            "POST",
            "/portfolio/events/orders/{order_id}/decrease",
        )
        assert dec["remaining_count"] == "5.00"
        check(await a.req("GET", f"/portfolio/orders/{oid}"), "GET", "/portfolio/orders/{order_id}")
        check(
            await a.req("GET", f"/portfolio/orders/{oid}/queue_position"),
            "GET",
            "/portfolio/orders/{order_id}/queue_position",
        )
        qp = check(
            await a.req("GET", "/portfolio/orders/queue_positions?market_tickers=TEST-MKT"),
            "GET",
            "/portfolio/orders/queue_positions",
        )
        assert qp["queue_positions"][0]["order_id"] == oid
        check(await a.req("GET", "/portfolio/orders?status=resting"), "GET", "/portfolio/orders")
        check(await a.req("GET", "/portfolio/positions"), "GET", "/portfolio/positions")
        fills = check(await a.req("GET", "/portfolio/fills"), "GET", "/portfolio/fills")
        assert fills["fills"][0]["order_id"] == oid
        check(await a.req("GET", "/portfolio/settlements"), "GET", "/portfolio/settlements")
        bal = check(await a.req("GET", "/portfolio/balance"), "GET", "/portfolio/balance")
        assert isinstance(bal["balance"], int) and bal["balance_dollars"].count(".") == 1
        check(await a.req("GET", "/account/limits"), "GET", "/account/limits")

        batch = check(
            await a.req(
                "POST",
                f"{ORD}/batched",
                json={
                    "orders": [
                        order_body("bid", "0.3000", "1.00", "a2"),
                        order_body("bid", "0.3050", "1.00", "a3"),  # off the cent grid -> per-item error
                        {"ticker": "TEST-MKT"},  # malformed -> per-item error
                    ]
                },
            ),
            "POST",
            "/portfolio/events/orders/batched",
        )
        items = batch["orders"]
        assert "error" not in items[0] and items[1]["error"]["code"] and items[2]["error"]["code"]
        bc = check(
            await a.req(
                "DELETE", f"{ORD}/batched", json={"orders": [{"order_id": items[0]["order_id"]}, {"order_id": "nope"}]}
            ),
            "DELETE",
            "/portfolio/events/orders/batched",
        )
        assert bc["orders"][0]["reduced_by"] == "1.00" and bc["orders"][1]["error"]["code"] == "order_not_found"
        cancel = check(await a.req("DELETE", f"{ORD}/{oid}"), "DELETE", "/portfolio/events/orders/{order_id}")
        assert cancel["reduced_by"] == "5.00"
        check(await a.req("DELETE", ORD), "DELETE", "/portfolio/events/orders")  # 204, empty

        G = "/portfolio/order_groups"
        g = check(
            await a.req("POST", f"{G}/create", json={"contracts_limit": 5}), "POST", "/portfolio/order_groups/create"
        )
        gid = g["order_group_id"]
        check(await a.req("GET", G), "GET", "/portfolio/order_groups")
        check(await a.req("GET", f"{G}/{gid}"), "GET", "/portfolio/order_groups/{order_group_id}")
        check(
            await a.req("PUT", f"{G}/{gid}/limit", json={"contracts_limit_fp": "7.00"}),
            "PUT",
            "/portfolio/order_groups/{order_group_id}/limit",
        )
        # trigger and reset accept an empty body (the official SDK sends none)
        check(await a.req("PUT", f"{G}/{gid}/trigger"), "PUT", "/portfolio/order_groups/{order_group_id}/trigger")
        check(await a.req("PUT", f"{G}/{gid}/reset"), "PUT", "/portfolio/order_groups/{order_group_id}/reset")
        check(await a.req("DELETE", f"{G}/{gid}"), "DELETE", "/portfolio/order_groups/{order_group_id}")
        r = await a.req("GET", f"{G}/{gid}")
        assert r.status_code == 404 and r.json()["error"]["code"] == "order_group_not_found"


async def test_errors_use_kalshis_envelope() -> None:
    async with running_sim(scenario="none") as sim, httpx.AsyncClient(base_url=sim.base_url) as http:
        add_test_market(sim)
        a = Client(sim, http, sim.test_signer, sim.test_key_id)
        r = await http.get(P + "/no/such/thing")
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
        r = await http.get(P + "/markets/NOPE")
        assert r.status_code == 404 and r.json()["error"]["code"] == "market_not_found"
        for method, path in [
            ("POST", "/portfolio/orders"),
            ("DELETE", "/portfolio/orders/x"),
            ("POST", "/portfolio/orders/x/amend"),
            ("POST", "/portfolio/orders/batched"),
        ]:
            r = await a.req(method, path, json={})
            assert r.status_code == 410
            assert r.json()["error"]["code"] == "deprecated_v1_order_endpoint"
        r = await a.req("POST", "/portfolio/events/orders", json={**order_body("bid", "0.45", "1", "x"), "side": "buy"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_order"
        r = await a.req("POST", "/portfolio/events/orders", json=order_body("bid", "0.45001", "1", "y"))
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_price"
        r = await a.req("POST", "/portfolio/events/orders", content=b"{not json")
        assert r.status_code == 400 and "error" in r.json()
        too_many = {"orders": [order_body("bid", "0.10", "1", f"z{i}") for i in range(21)]}
        r = await a.req("POST", "/portfolio/events/orders/batched", json=too_many)
        assert r.status_code == 400 and r.json()["error"]["code"] == "batch_too_large"


async def test_rate_limit_429_is_a_bare_string_without_retry_after() -> None:
    async with (
        running_sim(scenario="none", rate_limit_tier="basic") as sim,
        httpx.AsyncClient(base_url=sim.base_url) as http,
    ):
        add_test_market(sim)
        a = Client(sim, http, sim.test_signer, sim.test_key_id)
        rs = await asyncio.gather(
            *(
                a.req("POST", "/portfolio/events/orders", json=order_body("bid", "0.10", "1.00", f"r{i}"))
                for i in range(30)
            )
        )
        statuses = [r.status_code for r in rs]
        for r in rs:
            if r.status_code == 429:
                assert r.json() == {"error": "too many requests"}
                assert "retry-after" not in {k.lower() for k in r.headers}
        assert 201 in statuses and 429 in statuses


async def test_list_params_in_both_forms_and_pagination() -> None:
    async with running_sim(scenario="none") as sim, httpx.AsyncClient(base_url=sim.base_url) as http:
        for i in range(5):
            add_test_market(sim, f"M-{i}")
        comma = (await http.get(P + "/markets?tickers=M-1,M-3")).json()["markets"]
        repeated = (await http.get(P + "/markets?tickers=M-1&tickers=M-3")).json()["markets"]
        assert sorted(m["ticker"] for m in comma) == ["M-1", "M-3"]
        assert comma == repeated
        obs = (await http.get(P + "/markets/orderbooks?tickers=M-0&tickers=M-2")).json()["orderbooks"]
        assert [o["ticker"] for o in obs] == ["M-0", "M-2"]
        seen: list[str] = []
        cursor = None
        for _ in range(10):
            q = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
            body = check(await http.get(P + "/markets" + q), "GET", "/markets")
            seen += [m["ticker"] for m in body["markets"]]
            cursor = body["cursor"]
            if cursor == "":
                break
        assert sorted(seen) == [f"M-{i}" for i in range(5)]


def test_kalshibot_sim_command_serves_until_sigterm(tmp_path: Path) -> None:
    files = write_key_files(tmp_path, "ed25519")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kalshibot",
            "sim",
            "--port",
            "0",
            "--scenario",
            "none",
            "--api-key-id",
            files.key_id,
            "--public-key",
            str(files.public_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as proc:
        _drive_sim_process(proc, files)


def _drive_sim_process(proc: subprocess.Popen[str], files: Any) -> None:
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("listening on http://127.0.0.1:"), line
        base = line.removeprefix("listening on ")
        assert not base.endswith(":0")
        r = httpx.get(base + P + "/markets", timeout=10)  # what `curl` sees
        assert r.status_code == 200 and r.json()["markets"] == []
        signer = Signer.from_pem(files.private_path.read_bytes())
        h = auth_headers(signer, files.key_id, "GET", P + "/portfolio/balance", int(time.time() * 1000))
        r = httpx.get(base + P + "/portfolio/balance", headers=h, timeout=10)
        assert r.status_code == 200 and r.json()["balance_dollars"] == "10000.0000"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("args", [["--api-key-id", "x"], ["--legacy-login", "nocolon"]])
def test_kalshibot_sim_usage_errors(args: list[str]) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "kalshibot", "sim", "--port", "0", *args], capture_output=True, text=True, timeout=30
    )
    assert r.returncode == 2, r.stderr
