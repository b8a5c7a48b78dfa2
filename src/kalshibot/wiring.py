"""Settings -> the engine's configuration, and the trading day: shared by the daemon, paper mode, replay's
"what if" and backtests, so they all run the same strategy for the same config.

Time zones live here, in the shell (the core reads no clock and no tz database): the daemon computes the trading
day's id and start in ``risk.trading_day_tz`` and hands them to the engine with ``Engine.set_trading_day``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from kalshibot.config import Settings, quote_params, risk_limits
from kalshibot.core.engine import EngineConfig, FlattenConfig
from kalshibot.core.fixed import Price
from kalshibot.core.market import ReleaseWindow

RELEASE_HORIZON_MS = 8 * 24 * 3600 * 1000  # release windows are computed this far ahead (refreshed on restart)


def release_windows(settings: Settings, now_ms: int, horizon_ms: int = RELEASE_HORIZON_MS) -> tuple[ReleaseWindow, ...]:
    out: list[ReleaseWindow] = []
    for w in settings.timing.release_windows(now_ms - 24 * 3600 * 1000, now_ms + horizon_ms):
        for prefix in (p for p in (w.ticker_pattern, w.series) if p):
            out.append(ReleaseWindow(prefix.rstrip("*"), w.start_ms, w.end_ms))
    return tuple(out)


def engine_config(settings: Settings, now_ms: int, *, strict: bool = False) -> EngineConfig:
    q, t = settings.quoting, settings.timing
    fl = t.flatten_before_close
    return EngineConfig(
        quote=quote_params(settings),
        risk=risk_limits(settings),
        requote_tolerance_ticks=q.requote_tolerance_ticks,
        quote_ttl_ms=q.quote_ttl_ms,
        expiration_s=q.expiration_s or None,
        policy=q.policy,
        stop_before_close_ms=t.stop_before_close_ms,
        release_windows=release_windows(settings, now_ms),
        flatten=FlattenConfig(
            enabled=fl.enabled, before_close_ms=fl.before_close_ms, max_concession=Price(fl.max_price_concession)
        ),
        strict=strict,
    )


def trading_day(now_ms: int, tz_name: str) -> tuple[str, int, int]:
    """(day id ``YYYY-MM-DD``, start of that trading day in ms, start of the next one in ms) in ``tz_name``."""
    tz = ZoneInfo(tz_name)
    local = datetime.fromtimestamp(now_ms / 1000, tz=UTC).astimezone(tz)
    start = datetime(local.year, local.month, local.day, tzinfo=tz)
    nxt = (start + timedelta(days=1, hours=2)).replace(hour=0)  # safe across DST changes
    return start.date().isoformat(), int(start.timestamp() * 1000), int(nxt.timestamp() * 1000)
