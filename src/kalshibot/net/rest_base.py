"""Plumbing of the REST client: one ``httpx.AsyncClient`` per process, token buckets, the error mapping, retries,
response decoding and cursor paging (API.md §3.1, §6, §7). The endpoints live in ``rest_orders.py`` (order
writes and reads) and ``rest.py`` (everything else; ``KalshiRest`` is the class to use).

Every call goes through :meth:`RestBase._send`: take tokens from the right bucket, send, map any failure into the
error tree (``errors_map``, the one place that does it). :meth:`RestBase._call` wraps it in tenacity's jittered
exponential backoff for failures worth retrying; which failures those are is each endpoint's decision.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Self, TypeVar

import httpx
import structlog
from pydantic import BaseModel, ValidationError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from kalshibot.errors import (
    RateLimitedError,
    RetryableError,
    WireError,
)
from kalshibot.net.auth import wall_clock_ms
from kalshibot.net.errors_map import error_for_transport, raise_for_response
from kalshibot.net.ratelimit import (
    PRIORITY_BACKGROUND,
    PRIORITY_DEFAULT,
    RateLimiter,
)

log = structlog.get_logger(__name__)
M = TypeVar("M", bound=BaseModel)

PAGE_LIMIT = 1000  # max page size of /markets, /portfolio/orders|fills|positions (API.md §3.1)


class RestBase:
    """Plumbing shared by the endpoint groups: client, tokens, error mapping, retries, decoding, paging."""

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
        max_batch_items: int = 20,
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
        # Kalshi: the batch size limit "scales with your tier's write budget" (API.md §3.5) and was 20 per batch
        # (§3.7); a batch is never larger than this, whatever the token bucket would allow
        self.max_batch_items = max(1, max_batch_items)
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

    async def __aenter__(self) -> Self:
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
