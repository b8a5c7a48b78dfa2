"""The REST client against the simulator over loopback: RSA / Ed25519 / legacy-token auth, paging, batches, no
duplicate order when an ack is lost or delayed past its fill, a 404 on cancel, staying under the rate limit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from kalshibot.core.fixed import contracts, dollars
from kalshibot.errors import OutcomeUnknownError, RejectedError
from kalshibot.net.auth import KalshiAuth, LegacyTokenAuth, load_private_key
from kalshibot.net.clock import check_clock
from kalshibot.net.feed import Feed
from kalshibot.net.rest import KalshiRest, OrderRequest
from kalshibot.sim.state import CreateOrderParams
from kalshibot.sim.testing import TestSim, add_test_market, eventually, running_sim

T = "REST-A"


def rest_for(sim: TestSim, **kw: Any) -> KalshiRest:
    return KalshiRest(sim.rest_url, KalshiAuth(sim.test_key_id, load_private_key(sim.test_private_key_pem)), **kw)


def order(coid: str, price: str = "0.40", side: str = "bid", n: int = 1) -> OrderRequest:
    return OrderRequest(T, coid, side, dollars(price), contracts(n), post_only=True)  # type: ignore[arg-type]


def count_429(rest: KalshiRest) -> list[int]:
    seen: list[int] = []

    async def hook(response: httpx.Response) -> None:
        if response.status_code == 429:
            seen.append(1)

    rest._client.event_hooks["response"].append(hook)
    return seen


@pytest.fixture
async def sim() -> AsyncIterator[TestSim]:
    async with running_sim(scenario="none", faults_enabled=True) as s:
        add_test_market(s, T)
        yield s


@pytest.mark.parametrize("key_type", ["rsa", "ed25519"])
async def test_api_key_auth(key_type: str) -> None:
    async with running_sim(key_type=key_type, scenario="none") as s, rest_for(s) as rest:
        bal = await rest.get_balance()
        assert bal.balance_micros == dollars("10000")
        assert await check_clock(rest) < 2_000  # same host, same clock


async def test_legacy_token_auth_refreshes_and_serves_the_websocket() -> None:
    async with running_sim(scenario="none", legacy_logins={"me@example.com": "s3cret"}, token_lifetime_s=2) as s:
        add_test_market(s, T)
        auth = LegacyTokenAuth(s.rest_url, "me@example.com", "s3cret", token_lifetime_s=2, refresh_margin_s=0.5)
        async with KalshiRest(s.rest_url, auth) as rest:
            for _ in range(3):
                await rest.get_balance()
            assert auth.logins == 1
            await eventually(lambda: not auth._fresh(), timeout=3, what="token near expiry")
            await rest.get_balance()
            assert auth.logins == 2  # refreshed before the server's lifetime ran out: no 401 needed
            events: list[Any] = []
            feed = Feed(s.ws_url, auth, events.append)
            feed.set_markets([T])
            task = asyncio.create_task(feed.run())
            await eventually(lambda: feed.book_ready(T), what="legacy-authenticated websocket")
            feed.stop()
            await asyncio.wait_for(task, 5)
        bad = LegacyTokenAuth(s.rest_url, "me@example.com", "wrong")
        async with KalshiRest(s.rest_url, bad) as rest:
            with pytest.raises(Exception, match="login"):
                await rest.get_balance()


async def test_pages_through_markets(sim: TestSim) -> None:
    for i in range(7):
        add_test_market(sim, f"PAGE-{i}")
    async with rest_for(sim) as rest:
        before = rest.requests
        tickers = [m.ticker async for m in rest.list_markets(limit=3)]
        assert sorted(tickers) == sorted([T, *(f"PAGE-{i}" for i in range(7))])
        assert rest.requests - before == 3  # 8 markets at 3 per page


async def test_batch_create_and_cancel_split_to_the_budget(sim: TestSim) -> None:
    async with rest_for(sim) as rest:
        reqs = [order(f"kb-0-batch{i}", f"0.{10 + i}") for i in range(12)]
        results = await rest.batch_create(reqs)
        assert [r.client_order_id for r in results] == [q.client_order_id for q in reqs]
        assert all(r.error is None and r.order_id for r in results)
        resting = await rest.list_orders(status="resting")
        assert len(resting) == 12
        from kalshibot.net.rest import CancelRequest

        cancelled = await rest.batch_cancel([CancelRequest(r.order_id or "", T) for r in results])
        assert all(c.error is None and c.reduced_by == contracts(1) for c in cancelled)
        assert await rest.list_orders(status="resting") == []


async def test_reject_keeps_kalshis_code(sim: TestSim) -> None:
    async with rest_for(sim) as rest:
        with pytest.raises(RejectedError) as ei:
            await rest.create_order(order("kb-0-offgrid", "0.405"))
        assert ei.value.code and ei.value.status == 400


async def test_lost_ack_is_resolved_by_lookup_without_a_duplicate(sim: TestSim) -> None:
    sim.faults.inject("lost_ack", hold_ms=5_000)
    async with rest_for(sim, timeout_s=0.5, backoff_initial_s=0.05) as rest:
        res = await rest.create_order(order("kb-0-lost"))
        assert res.order_id and res.client_order_id == "kb-0-lost"
        mine = [o for o in await rest.list_orders() if o.client_order_id == "kb-0-lost"]
        assert len(mine) == 1 and mine[0].order_id == res.order_id
    assert sim.faults.counters["lost_ack"] == 1


async def test_lost_ack_answered_504_is_resent_with_the_same_id_then_looked_up(sim: TestSim) -> None:
    sim.faults.inject("lost_ack", hold_ms=200)  # the client is still waiting when the 504 comes
    async with rest_for(sim, timeout_s=5, backoff_initial_s=0.05) as rest:
        res = await rest.create_order(order("kb-0-504"))
        assert res.order_id
        assert len([o for o in await rest.list_orders() if o.client_order_id == "kb-0-504"]) == 1


async def test_ack_delayed_past_its_fill(sim: TestSim) -> None:
    sim.faults.inject("ack_after_fill", max_ms=5_000)
    _k, _s, other = sim.new_user()
    async with rest_for(sim, timeout_s=0.5, backoff_initial_s=0.05) as rest:
        task = asyncio.create_task(rest.create_order(order("kb-0-late", "0.40", n=2)))

        def filled() -> bool:
            try:
                o = sim.exchange.get_order_by_client_id(sim.test_user_id, "kb-0-late")
            except Exception:
                return False
            sell = CreateOrderParams(T, "ask", dollars("0.40"), contracts(2), "immediate_or_cancel", "maker")
            sim.exchange.create_order(other, sell, sim.clock())
            sim.poke()
            return o is not None

        await eventually(filled, what="our order on the book, then hit")
        res = await task
        assert res.order_id and res.client_order_id == "kb-0-late"
        mine = [o for o in await rest.list_orders() if o.client_order_id == "kb-0-late"]
        assert len(mine) == 1 and mine[0].status == "executed"


async def test_cancel_404_after_fill_is_resolved_by_reading_the_order(sim: TestSim) -> None:
    sim.faults.inject("cancel_404_after_fill")
    _k, _s, other = sim.new_user()
    async with rest_for(sim) as rest:
        res = await rest.create_order(order("kb-0-c404", "0.40", n=2))
        sell = CreateOrderParams(T, "ask", dollars("0.40"), contracts(1), "immediate_or_cancel", "maker")
        sim.exchange.create_order(other, sell, sim.clock())
        assert res.order_id
        c = await rest.cancel_order(res.order_id, ticker=T)
        assert c.order_id == res.order_id and c.reduced_by == 0
        assert sim.faults.counters["cancel_404_after_fill"] == 1
        assert (await rest.get_order(res.order_id)).status == "canceled"


async def test_a_burst_stays_under_the_rate_limit(sim: TestSim) -> None:
    async with rest_for(sim) as rest:
        seen = count_429(rest)
        limits = await rest.configure_rate_limits()
        assert limits.write.bucket_capacity == 100
        creates = [rest.create_order(order(f"kb-0-burst{i}", f"0.{10 + i}")) for i in range(25)]
        reads = [rest.get_balance() for _ in range(40)]
        results = await asyncio.gather(*creates, *reads)
        assert all(getattr(r, "order_id", True) for r in results)
        assert seen == []  # the client's buckets kept it under Kalshi's: not one 429


async def test_unknown_outcome_when_the_order_never_appears() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(f"{request.method} {request.url.path}")
        if request.method == "POST":
            raise httpx.ReadTimeout("slow", request=request)
        return httpx.Response(200, json={"orders": [], "cursor": ""})

    async def no_sleep(_s: float) -> None:
        return None

    rest = KalshiRest("http://x/trade-api/v2", None, transport=httpx.MockTransport(handler), sleep=no_sleep)
    with pytest.raises(OutcomeUnknownError):
        await rest.create_order(order("kb-0-gone"))
    await rest.aclose()
    assert calls.count("POST /trade-api/v2/portfolio/events/orders") == 1  # never resent blindly
    assert calls.count("GET /trade-api/v2/portfolio/orders") == rest.lookup_attempts
