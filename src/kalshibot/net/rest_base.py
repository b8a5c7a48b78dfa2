"""Plumbing of the REST client: one ``httpx.AsyncClient`` per process, token buckets, the error mapping, retries,
response decoding and cursor paging (API.md §3.1, §6, §7). The endpoints live in ``rest_orders.py`` (order
writes and reads) and ``rest.py`` (everything else; ``KalshiRest`` is the class to use).

Every call goes through :meth:`RestBase._send`: take tokens from the right bucket, send, map any failure into the
error tree (``errors_map``, the one place that does it). :meth:`RestBase._call` wraps it in tenacity's jittered
exponential backoff for failures worth retrying; which failures those are is each endpoint's decision.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Self, TypeVar

import httpx
import structlog
from pydantic import BaseModel, ValidationError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

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
# Merged request URLs kept per (path, query): parsing and merging a URL is ~45 µs of httpx's request building
# (~75 µs with a query) on the event loop, per request; quote paths repeat (the batch endpoints, amends of the
# same order). Bounded: cleared when full, so one-off paths (cursors, cancelled order ids) cannot grow it.
URL_CACHE_SIZE = 4096
_UNRESERVED = re.compile(r"[A-Za-z0-9._~-]+")  # RFC 3986 unreserved: never percent-encoded by httpx
_DOT_SEGMENTS = ("", ".", "..")  # left to the general way (httpx normalises them; not worth reasoning about)
_UrlKey = tuple[str, tuple[tuple[str, type, Any], ...]]


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
        self._urls: dict[_UrlKey, httpx.URL] = {}
        self._client = httpx.AsyncClient(
            base_url=self.rest_url + "/",
            auth=auth,
            timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s),
            transport=transport,
            http2=http2 and transport is None,
            limits=httpx.Limits(max_keepalive_connections=20, keepalive_expiry=60.0),
            headers={"Accept": "application/json", "User-Agent": "kalshibot"},
        )
        self._base = str(self._client.base_url)  # normalised by httpx, ends with "/"

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
        url = self._cached_url(path, clean)
        # Let the loop run what is ready (feed frames, timers) before httpx builds, signs and writes the request:
        # the caller's work up to here (the engine's requote, the executor, the previous response's decoding) and
        # httpx's ~0.2 ms of request building would otherwise be one stretch without an await. A URL not seen
        # before (a new order id) costs another ~0.1 ms of httpx parsing: that gets a loop turn of its own.
        await asyncio.sleep(0)
        if url is None:
            url = self._url(path, clean)
            await asyncio.sleep(0)
        self.requests += 1
        try:
            response = await self._client.request(method, url, json=json)
        except httpx.HTTPError as e:
            raise error_for_transport(e, what=what, write=write) from e
        self.last_date_header = response.headers.get("date")
        try:
            raise_for_response(response, what=what)
        except RateLimitedError:
            bucket.penalize()
            raise
        return response

    @staticmethod
    def _url_key(path: str, params: dict[str, Any]) -> _UrlKey | None:
        # the value's type is part of the key: True == 1 but the query says "true" for one and "1" for the other
        key: _UrlKey = (path, tuple((k, type(v), v) for k, v in params.items()))
        try:
            hash(key)
        except TypeError:  # an unhashable query value (a list): not cached, built every time
            return None
        return key

    def _cached_url(self, path: str, params: dict[str, Any]) -> httpx.URL | None:
        key = self._url_key(path, params)
        return None if key is None else self._urls.get(key)

    def _url(self, path: str, params: dict[str, Any]) -> httpx.URL:
        """The absolute URL httpx would build from ``path`` (relative to ``rest_url``) and the query ``params``:
        merged with the client's base URL as ``build_request`` merges it, the query added as ``httpx.Request``
        adds it. httpx takes an absolute ``URL`` object as it is (no parse, no merge)."""
        key = self._url_key(path, params)
        url = None if key is None else self._urls.get(key)
        if url is None:
            url = self._plain_url(path, params) or self._merged_url(path, params)
            if key is not None:
                if len(self._urls) >= URL_CACHE_SIZE:
                    self._urls.clear()
                self._urls[key] = url
        return url

    def _merged_url(self, path: str, params: dict[str, Any]) -> httpx.URL:
        url = httpx.URL(path.lstrip("/"))
        if url.is_relative_url:  # as AsyncClient._merge_url: append to the base URL's path
            base = self._client.base_url
            url = base.copy_with(raw_path=base.raw_path + url.raw_path.lstrip(b"/"))
        if params:  # as httpx.Request(params=...): the query is replaced (a "?" in the path is overridden)
            url = url.copy_with(params=params)
        return url

    def _plain_url(self, path: str, params: dict[str, Any]) -> httpx.URL | None:
        """One parse instead of three for the usual case, where nothing needs quoting or normalising: path segments
        and query keys/values of unreserved characters only (no empty, ``.`` or ``..`` segment), values str or int
        (bool as ``true``/``false``, as httpx writes them). Anything else: None (the general way)."""
        rel = path.lstrip("/")
        if not all(seg not in _DOT_SEGMENTS and _UNRESERVED.fullmatch(seg) for seg in rel.split("/")):
            return None
        parts = []
        for k, v in params.items():
            if v is True or v is False:
                value = "true" if v else "false"
            elif isinstance(v, str | int) and not isinstance(v, bool):
                value = str(v)
            else:
                return None
            if not (_UNRESERVED.fullmatch(k) and _UNRESERVED.fullmatch(value)):
                return None
            parts.append(f"{k}={value}")
        return httpx.URL(self._base + rel + ("?" + "&".join(parts) if parts else ""))

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
        """An attempt wrapped in the retry policy for calls that are safe to repeat: a failure of a ``retry_on``
        type is retried after tenacity's jittered exponential wait until tenacity's stop says so, then re-raised;
        any other exception propagates at once. The strategies are those of :meth:`_retrying`, called with the
        attempt number as ``AsyncRetrying`` calls them; the loop is written out because iterating an
        ``AsyncRetrying`` costs ~15 µs on the event loop and ~30 objects in reference cycles for the GC, per
        request, failure or not."""
        policy: AsyncRetrying | None = None  # built at the first failure only
        attempt = 1
        while True:
            try:
                return await self._send(method, template, path, **kw)
            except retry_on:
                policy = policy or self._retrying(retry_on)
                state = RetryCallState(policy, None, (), {})
                state.attempt_number = attempt
                if policy.stop(state):
                    raise
                await self._sleep(policy.wait(state))
                attempt += 1

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
