"""Clock-skew check at startup: compare the local wall clock with the exchange's.

Signatures carry our timestamp and Kalshi does not publish its tolerance (API.md §2.1; the simulator accepts
30 s), and every journal timestamp is wall clock: a skewed host must be caught before trading. The exchange's
time comes from the ``Date`` header of ``GET /exchange/status`` (one-second resolution, so the estimate is taken at
the midpoint of the round trip and thresholds should be seconds, not milliseconds). Past ``warn_ms`` it logs a
warning; past ``fatal_ms`` it raises :class:`ClockSkewError` (exit code 3).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime

import structlog

from kalshibot.errors import ClockSkewError, WireError
from kalshibot.net.auth import wall_clock_ms
from kalshibot.net.rest import KalshiRest

log = structlog.get_logger(__name__)

DEFAULT_WARN_MS = 2_000
DEFAULT_FATAL_MS = 20_000


def parse_http_date_ms(value: str) -> int:
    try:
        return int(parsedate_to_datetime(value).timestamp() * 1000)
    except (TypeError, ValueError) as e:
        raise WireError(f"unparseable Date header {value!r}") from e


def judge_skew(skew_ms: int, *, warn_ms: int = DEFAULT_WARN_MS, fatal_ms: int = DEFAULT_FATAL_MS) -> str:
    """``"ok"`` | ``"warn"``, or raises :class:`ClockSkewError` (pure; the unit of the thresholds is ms)."""
    if abs(skew_ms) > fatal_ms:
        raise ClockSkewError(
            f"local clock is {skew_ms / 1000:+.1f} s off the exchange's (limit {fatal_ms / 1000:.0f} s): fix NTP"
        )
    if abs(skew_ms) > warn_ms:
        log.warning("clock skew", skew_ms=skew_ms, warn_ms=warn_ms)
        return "warn"
    return "ok"


async def measure_skew_ms(rest: KalshiRest, *, clock_ms: Callable[[], int] = wall_clock_ms) -> int:
    """Local minus exchange time, in ms (positive: our clock is ahead). The ``Date`` header has second
    resolution; it is truncated, so half a second is added to its value."""
    t0 = clock_ms()
    p0 = time.perf_counter()
    response = await rest.request_raw("GET", "/exchange/status")
    rtt_ms = (time.perf_counter() - p0) * 1000
    date = response.headers.get("date")
    if not date:
        raise WireError("GET /exchange/status: no Date header to compare clocks with")
    server_ms = parse_http_date_ms(date) + 500
    local_ms = t0 + int(rtt_ms / 2)
    return local_ms - server_ms


async def check_clock(
    rest: KalshiRest,
    *,
    warn_ms: int = DEFAULT_WARN_MS,
    fatal_ms: int = DEFAULT_FATAL_MS,
    clock_ms: Callable[[], int] = wall_clock_ms,
) -> int:
    """Measure and judge; returns the skew in ms."""
    skew = await measure_skew_ms(rest, clock_ms=clock_ms)
    judge_skew(skew, warn_ms=warn_ms, fatal_ms=fatal_ms)
    return skew


__all__ = ["check_clock", "judge_skew", "measure_skew_ms", "parse_http_date_ms"]
