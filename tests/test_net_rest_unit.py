"""REST client retry policy with httpx.MockTransport: what is retried, what is not, and how often."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from kalshibot.core.fixed import contracts, dollars
from kalshibot.errors import AuthError, RejectedError, WireError
from kalshibot.net.rest import KalshiRest, OrderRequest

Handler = Callable[[httpx.Request], httpx.Response]


async def no_sleep(_s: float) -> None:
    return None


def client(handler: Handler) -> KalshiRest:
    return KalshiRest("http://x/trade-api/v2", None, transport=httpx.MockTransport(handler), sleep=no_sleep)


def script(*responses: httpx.Response) -> tuple[Handler, list[str]]:
    seen: list[str] = []
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path.removeprefix('/trade-api/v2')}")
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return handler, seen


STATUS = {"exchange_active": True, "trading_active": True}
CREATED = {"order_id": "o1", "client_order_id": "kb-0-a", "fill_count": "0.00", "remaining_count": "1.00", "ts_ms": 5}


async def test_reads_are_retried_on_5xx_and_429() -> None:
    h, seen = script(
        httpx.Response(503), httpx.Response(429, json={"error": "too many requests"}), httpx.Response(200, json=STATUS)
    )
    async with client(h) as rest:
        assert (await rest.get_exchange_status()).trading_active
        assert rest.limiter.read.tokens < rest.limiter.read.capacity  # the 429 emptied the client bucket
    assert seen == ["GET /exchange/status"] * 3


async def test_rejects_and_auth_errors_are_not_retried() -> None:
    h, seen = script(httpx.Response(400, json={"error": {"code": "invalid_price", "message": "invalid price"}}))
    async with client(h) as rest:
        with pytest.raises(RejectedError) as ei:
            await rest.create_order(OrderRequest("M", "kb-0-a", "bid", dollars("0.5"), contracts(1)))
        assert ei.value.code == "invalid_price"
    assert len(seen) == 1
    h, seen = script(httpx.Response(401, json={"error": {"code": "unauthorized", "message": "bad signature"}}))
    async with client(h) as rest:
        with pytest.raises(AuthError):
            await rest.get_balance()
    assert len(seen) == 1


async def test_create_retried_after_503_with_the_same_body() -> None:
    bodies: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content)
        return httpx.Response(503) if len(bodies) == 1 else httpx.Response(201, json=CREATED)

    async with client(handler) as rest:
        res = await rest.create_order(OrderRequest("M", "kb-0-a", "bid", dollars("0.5"), contracts(1), post_only=True))
    assert res.order_id == "o1" and len(bodies) == 2 and bodies[0] == bodies[1]
    assert (
        b'"client_order_id":"kb-0-a"' in bodies[0]
        and b'"price":"0.5000"' in bodies[0]
        and b'"count":"1.00"' in bodies[0]
    )


async def test_conflict_is_resolved_by_lookup() -> None:
    order = {"order_id": "o9", "client_order_id": "kb-0-a", "ticker": "M", "status": "resting"}
    order |= {"book_side": "bid", "yes_price_dollars": "0.5000", "fill_count_fp": "0", "remaining_count_fp": "1"}
    h, seen = script(
        httpx.Response(409, json={"error": {"code": "duplicate_client_order_id", "message": "exists"}}),
        httpx.Response(200, json={"orders": [order], "cursor": ""}),
    )
    async with client(h) as rest:
        res = await rest.create_order(OrderRequest("M", "kb-0-a", "bid", dollars("0.5"), contracts(1)))
    assert res.order_id == "o9"
    assert seen == ["POST /portfolio/events/orders", "GET /portfolio/orders"]


async def test_malformed_response_is_a_wire_error() -> None:
    h, _ = script(httpx.Response(200, json={"exchange_active": "maybe"}))
    async with client(h) as rest:
        with pytest.raises(WireError):
            await rest.get_exchange_status()
