"""Protocol-fidelity fixes of the simulator (API.md §2.1, §3.5): the simulator must refuse what Kalshi refuses,
so that a client bug cannot pass every test here and fail live."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from kalshibot.errors import AuthError, NotFoundError
from kalshibot.kalshi.signing import auth_headers
from kalshibot.net.auth import KalshiAuth
from kalshibot.net.rest import KalshiRest
from kalshibot.sim.testing import TestSim, add_test_market, running_sim

P = "/trade-api/v2"


def _order(coid: str, **kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "ticker": "TEST-MKT",
        "side": "bid",
        "price": "0.4500",
        "count": "1.00",
        "time_in_force": "good_till_canceled",
        "self_trade_prevention_type": "maker",
        "client_order_id": coid,
    }
    body.update(kw)
    return body


async def _req(sim: TestSim, http: httpx.AsyncClient, method: str, path: str, **kw: Any) -> httpx.Response:
    return await http.request(method, P + path, headers=sim.signed_headers(method, path), **kw)


async def test_v2_price_and_count_must_be_strings() -> None:
    """CreateOrderV2Request.price/count and DecreaseOrderV2Request.reduce_by/reduce_to are strings (SDK 3.34.0)."""
    async with running_sim(scenario="none") as sim, httpx.AsyncClient(base_url=sim.base_url) as http:
        add_test_market(sim)
        r = await _req(sim, http, "POST", "/portfolio/events/orders", json=_order("n1", price=0.45))
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_price"
        r = await _req(sim, http, "POST", "/portfolio/events/orders", json=_order("n2", count=1))
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_count"
        batch = {"orders": [_order("n3", count=2.0), _order("n4")]}
        r = await _req(sim, http, "POST", "/portfolio/events/orders/batched", json=batch)
        assert r.status_code == 201
        items = r.json()["orders"]
        assert items[0]["error"]["code"] == "invalid_count" and "order_id" not in items[0]
        assert items[1].get("error") is None and items[1]["remaining_count"] == "1.00"
        oid = items[1]["order_id"]
        for field in ("reduce_by", "reduce_to"):
            r = await _req(sim, http, "POST", f"/portfolio/events/orders/{oid}/decrease", json={field: 0})
            assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_count", field
        r = await _req(sim, http, "POST", f"/portfolio/events/orders/{oid}/amend", json={**_order("n4"), "count": 2})
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_count"
        r = await _req(sim, http, "POST", f"/portfolio/events/orders/{oid}/decrease", json={"reduce_to": "0.50"})
        assert r.status_code == 200 and r.json()["remaining_count"] == "0.50"


async def test_batch_cancel_items_must_be_objects_with_order_id() -> None:
    """BatchCancelOrdersV2Request is {"orders": [{"order_id", ...}]} (API.md §3.5): a bare id is a per-item error
    and cancels nothing."""
    async with running_sim(scenario="none") as sim, httpx.AsyncClient(base_url=sim.base_url) as http:
        add_test_market(sim)
        r = await _req(sim, http, "POST", "/portfolio/events/orders", json=_order("c1"))
        assert r.status_code == 201
        oid = r.json()["order_id"]
        r = await _req(sim, http, "DELETE", "/portfolio/events/orders/batched", json={"orders": [oid]})
        assert r.status_code == 200
        [item] = r.json()["orders"]
        assert item["error"]["code"] == "invalid_order" and item["reduced_by"] == "0.00"
        assert sim.exchange.orders[oid].status == "resting"
        r = await _req(sim, http, "DELETE", "/portfolio/events/orders/batched", json={"orders": [{"order_id": oid}]})
        [item] = r.json()["orders"]
        assert item.get("error") is None and item["order_id"] == oid and item["reduced_by"] == "1.00"
        assert sim.exchange.orders[oid].status == "canceled"


async def test_expiration_time_in_milliseconds_is_refused() -> None:
    """expiration_time is Unix seconds (API.md §3.5): a millisecond value must not rest as a far-future GTT."""
    async with running_sim(scenario="none") as sim, httpx.AsyncClient(base_url=sim.base_url) as http:
        add_test_market(sim)
        in_a_minute_ms = sim.clock() + 60_000
        r = await _req(sim, http, "POST", "/portfolio/events/orders", json=_order("e1", expiration_time=in_a_minute_ms))
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_expiration"
        assert not sim.exchange.accounts[sim.test_user_id].resting
        exp_s = in_a_minute_ms // 1000
        r = await _req(sim, http, "POST", "/portfolio/events/orders", json=_order("e2", expiration_time=exp_s))
        assert r.status_code == 201
        assert sim.exchange.orders[r.json()["order_id"]].expiration_ts_s == exp_s
        oid = r.json()["order_id"]
        amend = {**_order("e2"), "expiration_time": in_a_minute_ms}
        r = await _req(sim, http, "POST", f"/portfolio/events/orders/{oid}/amend", json=amend)
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_expiration"


@pytest.mark.parametrize("transport", ["asgi", "socket"])
async def test_signature_covers_the_path_as_sent(transport: str) -> None:
    """API.md §2.1: the signed path is the URL path as sent (percent-encoding kept), query stripped. A signature
    over the decoded path must fail, as on Kalshi; the client's KalshiAuth signs the raw path and passes."""
    async with running_sim(scenario="none") as sim:
        raw = P + "/portfolio/orders/no%2Dsuch%20order"
        decoded = P + "/portfolio/orders/no-such order"
        t: httpx.AsyncBaseTransport | None = httpx.ASGITransport(app=sim.app) if transport == "asgi" else None
        async with httpx.AsyncClient(base_url=sim.base_url, transport=t) as http:
            good = auth_headers(sim.test_signer, sim.test_key_id, "GET", raw, sim.clock())
            r = await http.get(raw + "?x=1", headers=good)
            assert r.status_code == 404 and r.json()["error"]["code"] == "order_not_found"
            bad = auth_headers(sim.test_signer, sim.test_key_id, "GET", decoded, sim.clock())
            r = await http.get(raw, headers=bad)
            assert r.status_code == 401
        rest = KalshiRest(sim.rest_url, KalshiAuth(sim.test_key_id, sim.test_signer), transport=t)
        try:
            with pytest.raises(NotFoundError):
                await rest.get_order("no%2Dsuch")
            bad_rest = KalshiRest(sim.rest_url, KalshiAuth("not-a-key", sim.test_signer), transport=t, retries=1)
            try:
                with pytest.raises(AuthError):
                    await bad_rest.get_order("x")
            finally:
                await bad_rest.aclose()
        finally:
            await rest.aclose()
