"""The trading universe: the configured series -> their open markets, as core ``MarketSpec``s.

The guide's advice: "Do not scan the whole exchange. Pick 3-5 event series where you understand the resolution
mechanics". Markets come from ``GET /markets?series_ticker=..&status=open`` (paged); the fee schedule from the
series (``fee_type``, ``fee_multiplier``) with the event's overrides, and whether the event's outcomes are mutually
exclusive (a temperature's brackets: exactly one settles YES, which the per-event risk limit uses) from
``GET /events/{event_ticker}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import structlog

from kalshibot.core import events as ev
from kalshibot.errors import ExchangeError, WireError
from kalshibot.net.rest import KalshiRest

log = structlog.get_logger(__name__)


async def list_series_tickers(rest: KalshiRest) -> list[str]:
    """Every series the venue lists (used for ``environment: sim`` with ``universe.series`` left out)."""
    r = await rest.request_raw("GET", "/series")
    try:
        return sorted(str(s["ticker"]) for s in r.json()["series"])
    except (KeyError, TypeError, ValueError) as e:
        raise WireError(f"GET /series: bad response: {e}") from e


async def _event_info(rest: KalshiRest, event_ticker: str) -> dict[str, Any]:
    r = await rest.request_raw("GET", f"/events/{event_ticker}")
    try:
        event: dict[str, Any] = r.json()["event"]
    except (KeyError, TypeError, ValueError) as e:
        raise WireError(f"GET /events/{event_ticker}: bad response: {e}") from e
    return event


async def load_universe(
    rest: KalshiRest,
    series: Sequence[str],
    *,
    markets: Sequence[str] | None = None,
    max_per_series: int | None = None,
) -> list[ev.MarketSpec]:
    """The open markets of ``series`` (optionally only the explicit ``markets``), soonest close first per series."""
    out: list[ev.MarketSpec] = []
    events: dict[str, dict[str, Any]] = {}
    wanted = set(markets) if markets else None
    for s in series:
        try:
            info = await rest.get_series(s)
        except ExchangeError as e:
            log.warning("series not found; skipped", series=s, error=str(e))
            continue
        found: list[ev.MarketSpec] = []
        async for m in rest.list_markets(series_ticker=s, status="open"):
            if wanted is not None and m.ticker not in wanted:
                continue
            if m.event_ticker not in events:
                events[m.event_ticker] = await _event_info(rest, m.event_ticker)
            event = events[m.event_ticker]
            fee_type = event.get("fee_type_override") or info.fee_type
            mult = event.get("fee_multiplier_override")
            mult_ppm = round(float(mult) * 1_000_000) if mult is not None else info.fee_multiplier_ppm
            try:
                spec = m.to_spec(series_ticker=s, fee_type=str(fee_type), fee_multiplier_ppm=mult_ppm)
            except (ValueError, WireError) as err:
                log.warning("market skipped: bad price grid", ticker=m.ticker, error=str(err))
                continue
            found.append(replace(spec, mutually_exclusive=bool(event.get("mutually_exclusive", False))))
        found.sort(key=lambda sp: (sp.close_ts_ms or 0, sp.ticker))
        if max_per_series is not None:
            found = found[:max_per_series]
        out.extend(found)
    return out
