"""The REST client: :class:`KalshiRest`, typed async methods for every endpoint the bot uses.

Theory of operation
-------------------
The class is assembled from three layers: ``rest_base.RestBase`` (one ``httpx.AsyncClient`` per process with
keep-alive and HTTP/2 where offered, client-side token buckets, the one error mapping, tenacity retries with
jittered backoff, pydantic decoding, cursor paging), ``rest_orders.OrderEndpoints`` (V2 order writes with their
no-duplicate rules, order reads) and this module (exchange, markets, portfolio, account limits, order groups).
Responses are decoded with the models of ``rest_models`` into core types. Paths are relative to ``rest_url``
(``.../trade-api/v2``); the signature covers the full path (API.md §2.1).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import structlog

from kalshibot.core.fixed import Count, format_count
from kalshibot.errors import (
    WireError,
)
from kalshibot.net import rest_models as m
from kalshibot.net.rest_base import PAGE_LIMIT
from kalshibot.net.rest_orders import CancelRequest, OrderEndpoints, OrderRequest

log = structlog.get_logger(__name__)


class KalshiRest(OrderEndpoints):
    """Typed async client of Kalshi's Trade API v2 (or the simulator, which the code cannot tell apart)."""

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
