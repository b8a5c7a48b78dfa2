"""Order endpoints of the REST client: V2 writes (API.md §3.5) and order reads (§3.6).

Order writes follow stricter rules than the rest of the client:

* a create is only ever resent with the same ``client_order_id``, and only after failures that prove nothing
  happened (429, connect errors); a 409 or a timeout after send is resolved by looking the order up by
  ``client_order_id`` (:meth:`OrderEndpoints.get_order_by_client_id`), never by sending a second order. If the
  lookups cannot find it the call raises :class:`OutcomeUnknownError` and the executor blocks the market until
  ``user_orders`` or a later lookup settles it;
* a 404 on cancel is resolved by reading the order (already executed or cancelled -> a cancel result with
  ``reduced_by`` 0);
* a batch is split so that no request costs more than the write bucket holds (batch create = 10 tokens per order,
  batch cancel = 2, API.md §7.1) and cancels take the bucket before creates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import structlog

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
from kalshibot.net.ratelimit import (
    BATCH_CANCEL_COST_PER_ORDER,
    BATCH_CREATE_COST_PER_ORDER,
    PRIORITY_CANCEL,
)
from kalshibot.net.rest_base import PAGE_LIMIT, RestBase

log = structlog.get_logger(__name__)


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


class OrderEndpoints(RestBase):
    """V2 order writes (API.md §3.5) and order reads (§3.6)."""

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
        step = min(self.max_batch_items, self.limiter.write.max_items(BATCH_CREATE_COST_PER_ORDER))
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
        """Cancel one order (2 tokens). Retried: cancelling twice is harmless. A 404 is resolved by reading the
        order: gone (executed/cancelled) -> a result with ``reduced_by`` 0; still resting -> cancel once more."""
        for _ in range(2):
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
                order = await self.get_order(order_id)  # NotFoundError propagates: the order never existed
                if order.status != "resting":
                    return m.CancelResult(order_id=order_id, client_order_id=order.client_order_id, reduced_by=0)
                continue
            return self._decode(m.CancelResult, r)
        raise TransientError(f"cancel {order_id}: 404 but the order is still resting", status=404)

    async def batch_cancel(self, reqs: Sequence[CancelRequest]) -> list[m.CancelResult]:
        out: list[m.CancelResult] = []
        step = min(self.max_batch_items, self.limiter.write.max_items(BATCH_CANCEL_COST_PER_ORDER))
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
