"""The REST client: one ``httpx.AsyncClient`` per process, typed methods for every endpoint the bot uses.

Theory of operation
-------------------
Every call goes through :meth:`KalshiRest._send`: take tokens from the right bucket (``ratelimit``), send, map any
failure into the error tree (``errors_map``, the one place that does it), decode the body with a pydantic model
(``rest_models``) into core types. Retries (tenacity, jittered exponential backoff) apply to idempotent calls and to
failures that prove nothing happened (429, connect errors). Order writes follow stricter rules:

* a create is only ever resent with the same ``client_order_id``; a 409 or a timeout after send is resolved by
  looking the order up by ``client_order_id`` (:meth:`get_order_by_client_id`), never by sending a second order.
  If the lookup cannot find it the call raises :class:`OutcomeUnknownError` and the executor blocks the market
  until ``user_orders`` or a later lookup settles it;
* a 404 on cancel is resolved by reading the order (already executed or cancelled -> a cancel result with
  ``reduced_by`` 0);
* a batch is split so that no request costs more than the write bucket holds (batch create = 10 tokens per order,
  batch cancel = 2, API.md §7.1) and cancels take the bucket before creates.

Paths are relative to ``rest_url`` (``.../trade-api/v2``); the signature covers the full path (API.md §2.1).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import structlog
from pydantic import BaseModel, ValidationError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from kalshibot.core.events import BookSide, TimeInForce
from kalshibot.core.fixed import Count, Price, format_count, format_price
from kalshibot.errors import (
    ConflictError,
    ExchangeError,
    NotFoundError,
    OutcomeUnknownError,
    RateLimitedError,
    RetryableError,
    TransientError,
    WireError,
)
from kalshibot.net import rest_models as m
from kalshibot.net.auth import wall_clock_ms
from kalshibot.net.errors_map import error_for_transport, raise_for_response
from kalshibot.net.ratelimit import (
    BATCH_CANCEL_COST_PER_ORDER,
    BATCH_CREATE_COST_PER_ORDER,
    PRIORITY_BACKGROUND,
    PRIORITY_CANCEL,
    PRIORITY_DEFAULT,
    RateLimiter,
)

log = structlog.get_logger(__name__)
M = TypeVar("M", bound=BaseModel)

PAGE_LIMIT = 1000  # max page size of /markets, /portfolio/orders|fills|positions (API.md §3.1)


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """One V2 create (API.md §3.5). ``price`` is the YES-leg price; ``side`` the V2 book side."""

    ticker: str
    client_order_id: str
    side: BookSide
    price: Price
    count: Count
    time_in_force: TimeInForce = "good_till_canceled"
    post_only: bool = False
    reduce_only: bool = False
    expiration_ts_s: int | None = None
    cancel_order_on_pause: bool = False
    order_group_id: str | None = None
    subaccount: int | None = None
    self_trade_prevention_type: str = "maker"

    def to_wire(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ticker": self.ticker,
            "client_order_id": self.client_order_id,
            "side": self.side,
            "price": format_price(self.price),
            "count": format_count(self.count),
            "time_in_force": self.time_in_force,
            "self_trade_prevention_type": self.self_trade_prevention_type,
        }
        if self.post_only:
            body["post_only"] = True
        if self.reduce_only:
            body["reduce_only"] = True  # only valid with immediate_or_cancel (API.md §3.5)
        if self.expiration_ts_s is not None:
            body["expiration_time"] = self.expiration_ts_s  # Unix seconds, GTC only
        if self.cancel_order_on_pause:
            body["cancel_order_on_pause"] = True
        if self.order_group_id:
            body["order_group_id"] = self.order_group_id
        if self.subaccount is not None:
            body["subaccount"] = self.subaccount
        return body


@dataclass(frozen=True, slots=True)
class CancelRequest:
    order_id: str
    ticker: str | None = None
    subaccount: int | None = None


class KalshiRest:
    """Typed async client of Kalshi's Trade API v2 (or the simulator, which the code cannot tell apart)."""

    def __init__(
        self,
        rest_url: str,
        auth: httpx.Auth | None,
        *,
        clock_ms: Callable[[], int] = wall_clock_ms,
        limiter: RateLimiter | None = None,
        timeout_s: float = 10.0,
        connect_timeout_s: float = 5.0,
        retries: int = 4,
        backoff_initial_s: float = 0.1,
        backoff_max_s: float = 2.0,
        lookup_attempts: int = 4,
        transport: httpx.AsyncBaseTransport | None = None,
        http2: bool = True,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.rest_url = rest_url.rstrip("/")
        self.clock_ms = clock_ms
        self.limiter = limiter or RateLimiter()
        self.retries = retries
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.lookup_attempts = lookup_attempts
        self._sleep = sleep
        self.requests = 0
        self.last_date_header: str | None = None
        self._client = httpx.AsyncClient(
            base_url=self.rest_url + "/",
            auth=auth,
            timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s),
            transport=transport,
            http2=http2 and transport is None,
            limits=httpx.Limits(max_keepalive_connections=20, keepalive_expiry=60.0),
            headers={"Accept": "application/json", "User-Agent": "kalshibot"},
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> KalshiRest:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------------------------------- plumbing
    async def _send(
        self,
        method: str,
        template: str,
        path: str | None = None,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        cost: int | None = None,
        priority: int = PRIORITY_DEFAULT,
        write: bool = False,
    ) -> httpx.Response:
        """One attempt: tokens, send, error mapping. ``template`` names the endpoint for costs and messages."""
        path = path or template
        bucket = self.limiter.bucket_for(method, template)
        await bucket.acquire(cost if cost is not None else self.limiter.cost_of(method, template), priority=priority)
        what = f"{method} {template}"
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        self.requests += 1
        try:
            response = await self._client.request(method, path.lstrip("/"), params=clean or None, json=json)
        except httpx.HTTPError as e:
            raise error_for_transport(e, what=what, write=write) from e
        self.last_date_header = response.headers.get("date")
        try:
            raise_for_response(response, what=what)
        except RateLimitedError:
            bucket.penalize()
            raise
        return response

    def _retrying(self, retry_on: tuple[type[BaseException], ...] = (RetryableError,)) -> AsyncRetrying:
        return AsyncRetrying(
            retry=retry_if_exception_type(retry_on),
            wait=wait_random_exponential(multiplier=self.backoff_initial_s, max=self.backoff_max_s),
            stop=stop_after_attempt(self.retries),
            sleep=self._sleep,
            reraise=True,
        )

    async def _call(
        self,
        method: str,
        template: str,
        path: str | None = None,
        *,
        retry_on: tuple[type[BaseException], ...] = (RetryableError,),
        **kw: Any,
    ) -> httpx.Response:
        """An attempt wrapped in the retry policy for calls that are safe to repeat."""
        async for attempt in self._retrying(retry_on):
            with attempt:
                return await self._send(method, template, path, **kw)
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _decode(model: type[M], response: httpx.Response) -> M:
        try:
            return model.model_validate_json(response.content)
        except ValidationError as e:
            raise WireError(f"{response.request.method} {response.request.url.path}: bad response: {e}") from e

    async def _get(self, model: type[M], template: str, path: str | None = None, **kw: Any) -> M:
        return self._decode(model, await self._call("GET", template, path, **kw))

    async def request_raw(self, method: str, path: str, **kw: Any) -> httpx.Response:
        """Escape hatch for endpoints without a typed method (and for the clock check's ``Date`` header)."""
        return await self._call(method, path, **kw)

    # ------------------------------------------------------------------------------------------- exchange
    async def get_exchange_status(self) -> m.ExchangeStatus:
        return await self._get(m.ExchangeStatus, "/exchange/status")

    async def get_schedule(self) -> dict[str, Any]:
        data: dict[str, Any] = (await self._call("GET", "/exchange/schedule")).json()
        return data

    async def get_series(self, series_ticker: str) -> m.Series:
        r = await self._call("GET", "/series/{series_ticker}", f"/series/{series_ticker}")
        try:
            return m.Series.model_validate(r.json()["series"])
        except (KeyError, ValueError) as e:
            raise WireError(f"GET /series/{series_ticker}: bad response: {e}") from e

    async def list_markets(
        self,
        *,
        status: str | None = None,
        event_ticker: str | None = None,
        series_ticker: str | None = None,
        tickers: Sequence[str] | None = None,
        limit: int = PAGE_LIMIT,
    ) -> AsyncIterator[m.Market]:
        """All matching markets, page by page (cursor pagination, API.md §3.1)."""
        params: dict[str, Any] = {
            "status": status,
            "event_ticker": event_ticker,
            "series_ticker": series_ticker,
            "tickers": ",".join(tickers) if tickers else None,
            "limit": limit,
        }
        async for page in self._pages(m.MarketsPage, "/markets", params):
            for market in page.markets:
                yield market

    async def _pages(self, model: type[M], template: str, params: dict[str, Any]) -> AsyncIterator[M]:
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            page = await self._get(model, template, params={**params, "cursor": cursor}, priority=PRIORITY_BACKGROUND)
            yield page
            cursor = getattr(page, "cursor", "") or None
            if not cursor or cursor in seen:  # empty cursor = last page; a repeated one would loop forever
                return
            seen.add(cursor)

    async def get_market(self, ticker: str) -> m.Market:
        r = await self._call("GET", "/markets/{ticker}", f"/markets/{ticker}")
        try:
            return m.Market.model_validate(r.json()["market"])
        except (KeyError, ValueError) as e:
            raise WireError(f"GET /markets/{ticker}: bad response: {e}") from e

    async def get_orderbook(self, ticker: str, depth: int = 0) -> m.Orderbook:
        resp = await self._get(
            m.OrderbookResponse, "/markets/{ticker}/orderbook", f"/markets/{ticker}/orderbook", params={"depth": depth}
        )
        return resp.orderbook_fp

    # --------------------------------------------------------------------------------------- order writes
    async def create_order(self, req: OrderRequest) -> m.CreateOrderResult:
        """Create one order. Retried only with the same client_order_id, and only when nothing happened (429,
        connect errors); a timeout after send or a 409 is resolved by lookup (see module docstring)."""
        try:
            r = await self._call(
                "POST",
                "/portfolio/events/orders",
                json=req.to_wire(),
                write=True,
                retry_on=(RateLimitedError, TransientError),
            )
        except (OutcomeUnknownError, ConflictError) as e:
            log.warning("create outcome unknown; looking up", client_order_id=req.client_order_id, error=str(e))
            return await self._resolve_create(req, e)
        return self._decode(m.CreateOrderResult, r)

    async def _resolve_create(self, req: OrderRequest, cause: ExchangeError) -> m.CreateOrderResult:
        for attempt in range(self.lookup_attempts):
            try:
                order = await self.get_order_by_client_id(req.client_order_id, ticker=req.ticker)
            except (RetryableError, OutcomeUnknownError):
                order = None
            if order is not None:
                return m.CreateOrderResult(
                    order_id=order.order_id,
                    client_order_id=req.client_order_id,
                    fill_count=order.fill_count_fp,
                    remaining_count=order.remaining_count_fp,
                )
            # REST lags the matching engine (API.md §10.5): give it a moment before concluding anything
            await self._sleep(min(self.backoff_max_s, self.backoff_initial_s * 2**attempt))
        if isinstance(cause, ConflictError):
            raise cause
        raise OutcomeUnknownError(
            f"create {req.client_order_id}: outcome unknown after {self.lookup_attempts} lookups",
            code="outcome_unknown",
        ) from cause

    async def batch_create(self, reqs: Sequence[OrderRequest]) -> list[m.CreateOrderResult]:
        """Batch create, split so no request costs more than the write bucket holds. Items come back in order;
        per-item errors are in ``.error``. A batch whose outcome is unknown is resolved item by item by lookup;
        items still not found carry the error code ``outcome_unknown``."""
        out: list[m.CreateOrderResult] = []
        step = self.limiter.write.max_items(BATCH_CREATE_COST_PER_ORDER)
        for i in range(0, len(reqs), step):
            chunk = reqs[i : i + step]
            try:
                r = await self._call(
                    "POST",
                    "/portfolio/events/orders/batched",
                    json={"orders": [q.to_wire() for q in chunk]},
                    cost=BATCH_CREATE_COST_PER_ORDER * len(chunk),
                    write=True,
                    retry_on=(RateLimitedError, TransientError),
                )
            except (OutcomeUnknownError, ConflictError) as e:
                out.extend(await self._resolve_batch(chunk, e))
                continue
            items = self._decode(m.BatchCreateResponse, r).orders
            if len(items) != len(chunk):
                raise WireError(f"batch create: {len(chunk)} orders sent, {len(items)} results")
            out.extend(items)
        return out

    async def _resolve_batch(self, chunk: Sequence[OrderRequest], cause: ExchangeError) -> list[m.CreateOrderResult]:
        results: list[m.CreateOrderResult] = []
        for req in chunk:
            try:
                results.append(await self._resolve_create(req, cause))
            except ExchangeError as e:
                code = "outcome_unknown" if isinstance(e, OutcomeUnknownError) else (e.code or "error")
                results.append(
                    m.CreateOrderResult(
                        client_order_id=req.client_order_id, error=m.ErrorBody(code=code, message=e.message)
                    )
                )
        return results

    async def cancel_order(
        self, order_id: str, *, ticker: str | None = None, subaccount: int | None = None
    ) -> m.CancelResult:
        """Cancel one order (2 tokens). Retried: cancelling twice is harmless (the second is a 404, resolved by
        reading the order)."""
        try:
            r = await self._call(
                "DELETE",
                "/portfolio/events/orders/{order_id}",
                f"/portfolio/events/orders/{order_id}",
                params={"subaccount": subaccount, "market_ticker": ticker},
                priority=PRIORITY_CANCEL,
                write=False,  # a lost cancel response is safe to retry
            )
        except NotFoundError:
            return await self._resolve_cancel_404(order_id)
        return self._decode(m.CancelResult, r)

    async def _resolve_cancel_404(self, order_id: str) -> m.CancelResult:
        order = await self.get_order(order_id)  # NotFoundError propagates: the order never existed
        if order.status == "resting":
            raise TransientError(f"cancel {order_id}: 404 but the order is still resting", status=404)
        return m.CancelResult(order_id=order_id, client_order_id=order.client_order_id, reduced_by=0)

    async def batch_cancel(self, reqs: Sequence[CancelRequest]) -> list[m.CancelResult]:
        out: list[m.CancelResult] = []
        step = self.limiter.write.max_items(BATCH_CANCEL_COST_PER_ORDER)
        for i in range(0, len(reqs), step):
            chunk = reqs[i : i + step]
            body = {
                "orders": [
                    {
                        k: v
                        for k, v in (
                            ("order_id", c.order_id),
                            ("subaccount", c.subaccount),
                            ("market_ticker", c.ticker),
                        )
                        if v is not None
                    }
                    for c in chunk
                ]
            }
            r = await self._call(
                "DELETE",
                "/portfolio/events/orders/batched",
                json=body,
                cost=BATCH_CANCEL_COST_PER_ORDER * len(chunk),
                priority=PRIORITY_CANCEL,
            )
            items = self._decode(m.BatchCancelResponse, r).orders
            if len(items) != len(chunk):
                raise WireError(f"batch cancel: {len(chunk)} orders sent, {len(items)} results")
            out.extend(items)
        return out

    async def amend_order(
        self,
        order_id: str,
        *,
        ticker: str,
        side: BookSide,
        price: Price,
        count: Count,
        client_order_id: str,
        updated_client_order_id: str,
        expiration_ts_s: int | None = None,
        subaccount: int | None = None,
    ) -> m.AmendResult:
        """V2 amend; ``count`` = filled + desired resting remainder (API.md §3.5). Not retried after send: the
        caller resolves an unknown outcome by reading the order."""
        body: dict[str, Any] = {
            "ticker": ticker,
            "side": side,
            "price": format_price(price),
            "count": format_count(count),
            "client_order_id": client_order_id,
            "updated_client_order_id": updated_client_order_id,
        }
        if expiration_ts_s is not None:
            body["expiration_time"] = expiration_ts_s
        r = await self._call(
            "POST",
            "/portfolio/events/orders/{order_id}/amend",
            f"/portfolio/events/orders/{order_id}/amend",
            params={"subaccount": subaccount},
            json=body,
            write=True,
            retry_on=(RateLimitedError, TransientError),
        )
        return self._decode(m.AmendResult, r)

    async def decrease_order(
        self,
        order_id: str,
        *,
        reduce_by: Count | None = None,
        reduce_to: Count | None = None,
        ticker: str | None = None,
        subaccount: int | None = None,
    ) -> m.DecreaseResult:
        if (reduce_by is None) == (reduce_to is None):
            raise ValueError("exactly one of reduce_by / reduce_to")
        body: dict[str, Any] = (
            {"reduce_by": format_count(reduce_by)}
            if reduce_by is not None
            else {"reduce_to": format_count(reduce_to or 0)}
        )
        if ticker:
            body["market_ticker"] = ticker
        r = await self._call(
            "POST",
            "/portfolio/events/orders/{order_id}/decrease",
            f"/portfolio/events/orders/{order_id}/decrease",
            params={"subaccount": subaccount},
            json=body,
            write=True,
            retry_on=(RateLimitedError, TransientError),
        )
        return self._decode(m.DecreaseResult, r)

    async def cancel_all(self, *, subaccount: int | None = None) -> None:
        """Account-wide cancel of every resting order (all subaccounts when omitted; API.md §3.5). Only for
        ``cancel-all --account``: the bot cancels its own orders by id."""
        await self._call(
            "DELETE", "/portfolio/events/orders", params={"subaccount": subaccount}, priority=PRIORITY_CANCEL
        )

    # ---------------------------------------------------------------------------------------- order reads
    async def list_orders(
        self,
        *,
        ticker: str | None = None,
        event_ticker: str | None = None,
        status: str | None = None,
        min_ts: int | None = None,
        subaccount: int | None = None,
    ) -> list[m.Order]:
        params = {
            "ticker": ticker,
            "event_ticker": event_ticker,
            "status": status,
            "min_ts": min_ts,
            "subaccount": subaccount,
            "limit": PAGE_LIMIT,
        }
        return [o async for page in self._pages(m.OrdersPage, "/portfolio/orders", params) for o in page.orders]

    async def get_order(self, order_id: str) -> m.Order:
        r = await self._get(m.OrderResponse, "/portfolio/orders/{order_id}", f"/portfolio/orders/{order_id}")
        return r.order

    async def get_order_by_client_id(
        self, client_order_id: str, *, ticker: str | None = None, subaccount: int | None = None
    ) -> m.Order | None:
        """Kalshi has no lookup by client_order_id: list (narrowed by ticker) and filter."""
        for order in await self.list_orders(ticker=ticker, subaccount=subaccount):
            if order.client_order_id == client_order_id:
                return order
        return None

    # ------------------------------------------------------------------------------------------ portfolio
    async def get_positions(
        self, *, ticker: str | None = None, subaccount: int | None = None
    ) -> list[m.MarketPosition]:
        params = {"ticker": ticker, "subaccount": subaccount, "limit": PAGE_LIMIT}
        return [
            p
            async for page in self._pages(m.PositionsPage, "/portfolio/positions", params)
            for p in page.market_positions
        ]

    async def get_fills(
        self, *, min_ts: int | None = None, ticker: str | None = None, subaccount: int | None = None
    ) -> list[m.Fill]:
        """Fills since ``min_ts`` (Unix **seconds**, as the endpoint takes it)."""
        params = {"min_ts": min_ts, "ticker": ticker, "subaccount": subaccount, "limit": PAGE_LIMIT}
        return [f async for page in self._pages(m.FillsPage, "/portfolio/fills", params) for f in page.fills]

    async def get_balance(self, *, subaccount: int | None = None) -> m.Balance:
        return await self._get(m.Balance, "/portfolio/balance", params={"subaccount": subaccount})

    async def get_account_limits(self) -> m.AccountLimits:
        return await self._get(m.AccountLimits, "/account/limits")

    async def configure_rate_limits(self) -> m.AccountLimits:
        """Size the client-side buckets from ``GET /account/limits`` (API.md §7.1)."""
        limits = await self.get_account_limits()
        self.limiter.configure(
            (limits.read.refill_rate, limits.read.bucket_capacity),
            (limits.write.refill_rate, limits.write.bucket_capacity),
        )
        return limits

    # --------------------------------------------------------------------------------------- order groups
    async def create_order_group(self, contracts_limit: Count, *, subaccount: int | None = None) -> str:
        body: dict[str, Any] = {"contracts_limit_fp": format_count(contracts_limit)}
        if subaccount is not None:
            body["subaccount"] = subaccount
        r = await self._call("POST", "/portfolio/order_groups/create", json=body)
        return self._decode(m.OrderGroupCreated, r).order_group_id

    async def get_order_group(self, group_id: str) -> m.OrderGroupInfo:
        return await self._get(m.OrderGroupInfo, "/portfolio/order_groups/{id}", f"/portfolio/order_groups/{group_id}")

    async def trigger_order_group(self, group_id: str) -> None:
        await self._call("PUT", "/portfolio/order_groups/{id}/trigger", f"/portfolio/order_groups/{group_id}/trigger")

    async def reset_order_group(self, group_id: str) -> None:
        await self._call("PUT", "/portfolio/order_groups/{id}/reset", f"/portfolio/order_groups/{group_id}/reset")

    async def set_order_group_limit(self, group_id: str, contracts_limit: Count) -> None:
        await self._call(
            "PUT",
            "/portfolio/order_groups/{id}/limit",
            f"/portfolio/order_groups/{group_id}/limit",
            json={"contracts_limit_fp": format_count(contracts_limit)},
        )

    async def delete_order_group(self, group_id: str) -> None:
        await self._call("DELETE", "/portfolio/order_groups/{id}", f"/portfolio/order_groups/{group_id}")


__all__ = ["CancelRequest", "KalshiRest", "OrderRequest"]
