"""``RestBase._call`` runs its retry loop itself (no ``AsyncRetrying`` per request, issue 9 loop stall): it must do
exactly what iterating tenacity's ``AsyncRetrying`` from ``_retrying`` did, for any script of failures: the same
attempts, the same jittered waits (same random draws), the same result or the very same exception."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from kalshibot.errors import (
    ConflictError,
    OutcomeUnknownError,
    RateLimitedError,
    RejectedError,
    RetryableError,
    TransientError,
)
from kalshibot.net.rest_base import RestBase

KINDS = {
    "transient": lambda: TransientError("503", status=503),
    "ratelimited": lambda: RateLimitedError("429", status=429),
    "rejected": lambda: RejectedError("400", status=400),
    "conflict": lambda: ConflictError("409", status=409),
    "unknown": lambda: OutcomeUnknownError("timeout"),
    "cancelled": asyncio.CancelledError,
    "value": lambda: ValueError("not an exchange error"),
}
RETRY_ON: list[tuple[type[BaseException], ...]] = [
    (RetryableError,),
    (RateLimitedError, TransientError),
    (RateLimitedError,),
    (RetryableError, OutcomeUnknownError),
]


class _Scripted(RestBase):
    def __init__(self, script: list[str], retries: int, initial: float, cap: float) -> None:
        self.sleeps: list[float] = []

        async def sleep(s: float) -> None:
            self.sleeps.append(s)

        super().__init__(
            "http://x/trade-api/v2",
            None,
            retries=retries,
            backoff_initial_s=initial,
            backoff_max_s=cap,
            sleep=sleep,
            transport=httpx.MockTransport(lambda r: httpx.Response(200)),
        )
        self.script = [KINDS[k]() if k != "ok" else None for k in script]
        self.calls = 0
        self.ok = httpx.Response(200)

    async def _send(self, method: str, template: str, path: str | None = None, **kw: Any) -> httpx.Response:
        i = min(self.calls, len(self.script) - 1)
        self.calls += 1
        exc = self.script[i]
        if exc is not None:
            raise exc
        return self.ok


async def _tenacity_call(rest: RestBase, retry_on: tuple[type[BaseException], ...]) -> httpx.Response:
    """The loop as it was: ``async for attempt in AsyncRetrying``."""
    async for attempt in rest._retrying(retry_on):
        with attempt:
            return await rest._send("GET", "/x")
    raise AssertionError("unreachable")


async def _outcome(coro: Any, rest: _Scripted) -> tuple[object, int, list[float]]:
    try:
        result: object = await coro
    except BaseException as e:  # CancelledError too: the exception object itself is compared
        result = e
    return result, rest.calls, rest.sleeps


@settings(max_examples=300, deadline=None)
@given(
    script=st.lists(st.sampled_from([*KINDS, "ok"]), min_size=1, max_size=7),
    retries=st.integers(0, 6),
    initial=st.sampled_from([0.0, 0.01, 0.1, 0.5, 3.0]),
    cap=st.sampled_from([0.0, 0.05, 2.0, 1e9]),
    retry_on=st.sampled_from(RETRY_ON),
    seed=st.integers(0, 2**32 - 1),
)
def test_call_retries_exactly_like_async_retrying(
    script: list[str],
    retries: int,
    initial: float,
    cap: float,
    retry_on: tuple[type[BaseException], ...],
    seed: int,
) -> None:
    async def both() -> None:
        old = _Scripted(script, retries, initial, cap)
        new = _Scripted(script, retries, initial, cap)
        new.script = old.script  # the same exception objects, so identity can be compared
        new.ok = old.ok
        random.seed(seed)
        want = await _outcome(_tenacity_call(old, retry_on), old)
        random.seed(seed)
        got = await _outcome(new._call("GET", "/x", retry_on=retry_on), new)
        assert got[0] is want[0]  # the same response, or the very same exception object
        assert got[1:] == want[1:]  # attempts and waits
        await old.aclose()
        await new.aclose()

    asyncio.run(both())


async def test_call_without_failures_builds_no_retry_policy(monkeypatch: Any) -> None:
    rest = _Scripted(["ok"], 4, 0.1, 2.0)

    def boom(*_: Any) -> Any:
        raise AssertionError("the retry policy is built on the first failure only")

    monkeypatch.setattr(rest, "_retrying", boom)
    assert await rest._call("GET", "/x") is rest.ok
    await rest.aclose()
