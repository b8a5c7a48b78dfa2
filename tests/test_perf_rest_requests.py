"""The REST client's request fast path (issue 9, loop stall): the URL built once per (path, query) and cached must be
exactly the URL httpx builds from a relative path and ``params`` (the old way), the requests on the wire must be
byte-identical, and ``_send`` must give the loop a turn before httpx builds and writes a request. Also the bench's
stall meter (``bench.net._TimedLoop``): it counts the CPU of every callback of a loop iteration, not idle time."""

from __future__ import annotations

import asyncio
import importlib.util
import time
from typing import Any

import httpx
import pytest
from bench.net import _TimedLoop
from hypothesis import given, settings
from hypothesis import strategies as st

from kalshibot.core.fixed import contracts, dollars
from kalshibot.net.rest import CancelRequest, KalshiRest, OrderRequest
from kalshibot.net.rest_base import RestBase

BASES = (
    "http://x/trade-api/v2",
    "https://api.elections.kalshi.com/trade-api/v2",
    "http://127.0.0.1:8123/trade-api/v2/",
    "http://[::1]:8080/trade-api/v2",
    "HTTPS://User@Demo-API.Kalshi.CO:443/Trade-API/v2",
)

# unreserved characters (the fast path) mixed with everything that needs quoting, normalising or parsing
SEGMENT = st.one_of(
    st.sampled_from(["portfolio", "events", "orders", "amend", "KXQUIET-26NOV25-T1", "o_1~a.b", ".", "..", ""]),
    st.text(alphabet="aZ09-._~ %?#&=+/é\u00a0:@!$'()*,;", max_size=8),
)
PATH = st.lists(SEGMENT, min_size=1, max_size=5).map(lambda segs: "/" + "/".join(segs))
VALUE = st.one_of(
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.sampled_from(["KXQUIET-T1", "open", "abc,def", "", "a b", "é", "x&y=z", "1.5"]),
    st.text(alphabet="aZ09-._~ %&=+,é", max_size=6),
)
PARAMS = st.dictionaries(st.sampled_from(["ticker", "limit", "cursor", "min_ts", "a b", "market_ticker"]), VALUE)


def _old_url(rest: RestBase, path: str, params: dict[str, Any]) -> httpx.URL:
    """What the client did before: a relative path and ``params`` handed to httpx."""
    return rest._client.build_request("GET", path.lstrip("/"), params=params or None).url


@settings(max_examples=400, deadline=None)
@given(base=st.sampled_from(BASES), path=PATH, params=PARAMS)
def test_cached_url_is_the_url_httpx_builds(base: str, path: str, params: dict[str, Any]) -> None:
    rest = RestBase(base, None, http2=False)
    try:
        try:
            want: httpx.URL | type[Exception] = _old_url(rest, path, params)
        except Exception as e:  # httpx refuses some inputs: the new way must refuse them the same way
            want = type(e)
        for _ in range(2):  # built, then from the cache
            if isinstance(want, httpx.URL):
                got = rest._url(path, params)
                assert str(got) == str(want)
                assert (got.scheme, got.host, got.port, got.raw_path, got.query) == (
                    want.scheme,
                    want.host,
                    want.port,
                    want.raw_path,
                    want.query,
                )
            else:
                with pytest.raises(want):
                    rest._url(path, params)
    finally:
        asyncio.run(rest.aclose())


def test_cache_tells_true_from_one_and_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    rest = RestBase("http://x/trade-api/v2", None, http2=False)
    assert str(rest._url("/p", {"a": True})).endswith("/p?a=true")
    assert str(rest._url("/p", {"a": 1})).endswith("/p?a=1")  # True == 1, but not the same query
    assert str(rest._url("/p", {"a": 1.0})).endswith("/p?a=1.0")
    monkeypatch.setattr("kalshibot.net.rest_base.URL_CACHE_SIZE", 8)
    for i in range(50):
        assert str(rest._url(f"/portfolio/orders/o{i}", {})) == f"http://x/trade-api/v2/portfolio/orders/o{i}"
        assert len(rest._urls) <= 8
    assert str(rest._url("/l", {"tickers": ["a", "b"]})) == str(_old_url(rest, "/l", {"tickers": ["a", "b"]}))
    asyncio.run(rest.aclose())


class _OldSend(KalshiRest):
    """The request as it was built before the fast path: relative path + params, httpx merges and encodes."""

    async def _send(
        self,
        method: str,
        template: str,
        path: str | None = None,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        **_: Any,
    ) -> httpx.Response:
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        return await self._client.request(method, (path or template).lstrip("/"), params=clean or None, json=json)


def _responder(seen: list[tuple[str, str, list[tuple[bytes, bytes]], bytes]]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, str(request.url), request.headers.raw, request.content))
        p = request.url.path
        if p.endswith("/batched"):
            n = len(httpx.Response(200, content=request.content).json()["orders"])
            return httpx.Response(200, json={"orders": [{"order_id": f"o{i}"} for i in range(n)]})
        if "/portfolio/orders" in p and request.method == "GET":
            order = {
                "order_id": "o1",
                "ticker": "M",
                "client_order_id": "kb-1",
                "side": "bid",
                "status": "resting",
                "yes_price_dollars": "0.4000",
                "fill_count_fp": "0.00",
                "remaining_count_fp": "1.00",
                "initial_count_fp": "1.00",
            }
            return httpx.Response(200, json={"order": order, "orders": [order], "cursor": ""})
        return httpx.Response(
            200, json={"order_id": "o1", "remaining_count": "1.00", "balance": 100, "orderbook_fp": {}}
        )

    return httpx.MockTransport(handler)


async def _calls(rest: KalshiRest) -> None:
    req = OrderRequest("KXQUIET-T1", "kb-1", "bid", dollars("0.40"), contracts(1), post_only=True, subaccount=2)
    await rest.create_order(req)
    await rest.batch_create([req, OrderRequest("KXQUIET-T1", "kb-2", "ask", dollars("0.60"), contracts(2))])
    await rest.cancel_order("o1", ticker="KXQUIET-T1")
    await rest.cancel_order("o 1/é", ticker="a b", subaccount=3)
    await rest.batch_cancel([CancelRequest("o1", "KXQUIET-T1"), CancelRequest("o2", None, 1)])
    for _ in range(2):  # the second one from the cache
        await rest.amend_order(
            "o1",
            ticker="KXQUIET-T1",
            side="bid",
            price=dollars("0.41"),
            count=contracts(1),
            client_order_id="kb-1",
            updated_client_order_id="kb-3",
            subaccount=None,
        )
    await rest.decrease_order("o1", reduce_by=contracts(1), ticker="KXQUIET-T1", subaccount=0)
    await rest.get_order("o1")
    await rest.list_orders(ticker="KXQUIET-T1", status="resting", min_ts=1_700_000_000)
    await rest.get_balance(subaccount=1)
    await rest.get_orderbook("KXQUIET-T1", depth=0)


async def test_requests_on_the_wire_are_unchanged() -> None:
    new: list[tuple[str, str, list[tuple[bytes, bytes]], bytes]] = []
    old: list[tuple[str, str, list[tuple[bytes, bytes]], bytes]] = []
    async with KalshiRest("http://sim:1/trade-api/v2", None, transport=_responder(new)) as rest:
        await _calls(rest)
    async with _OldSend("http://sim:1/trade-api/v2", None, transport=_responder(old)) as ref:
        await _calls(ref)
    assert len(new) == 12
    assert new == old


async def test_send_gives_the_loop_a_turn_before_the_request() -> None:
    ran: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        ran.append("request")
        return httpx.Response(200, json={"exchange_active": True, "trading_active": True})

    def chain() -> None:  # ready now, and schedules more work for the loop turn after
        ran.append("feed")
        asyncio.get_running_loop().call_soon(ran.append, "feed2")

    async with KalshiRest("http://x/trade-api/v2", None, transport=httpx.MockTransport(handler)) as rest:
        asyncio.get_running_loop().call_soon(chain)  # e.g. WebSocket frames that became ready
        await rest.get_exchange_status()  # a URL not seen before: one turn before building it, one after
        assert ran == ["feed", "feed2", "request"]
        ran.clear()
        asyncio.get_running_loop().call_soon(chain)
        await rest.get_exchange_status()  # from the cache: one turn
        assert ran == ["feed", "request"]
        await asyncio.sleep(0)
        assert ran == ["feed", "request", "feed2"]


def _spin(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_stall_meter_counts_every_callback_of_an_iteration_and_not_idle_time() -> None:
    async def main(loop: _TimedLoop) -> tuple[float, float]:
        await asyncio.sleep(0.02)  # idle: the loop waits in select, no CPU
        idle = loop.take()
        loop.call_soon(_spin, 0.002)  # two callbacks that run in the same iteration: one stretch of ~4 ms
        loop.call_soon(_spin, 0.002)
        await asyncio.sleep(0.01)
        return idle, loop.take()

    with asyncio.Runner(loop_factory=_TimedLoop) as runner:
        loop = runner.get_loop()
        assert isinstance(loop, _TimedLoop)
        idle, busy = runner.run(main(loop))
    assert idle < 0.002
    assert busy >= 0.0039


def test_sniffio_is_installed() -> None:
    # httpcore imports it ~4 times per request; absent (anyio >= 4.11 no longer pulls it in), every one of those
    # is a failed import, a sys.path search of ~30 µs on the event loop (pyproject lists it for that reason)
    assert importlib.util.find_spec("sniffio") is not None
