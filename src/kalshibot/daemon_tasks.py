"""The daemon's periodic background tasks: the exchange-status poller (with the schedule's maintenance windows), the
REST reconciler, the universe refresher and the watchdog. Each is a coroutine over a
:class:`~kalshibot.daemon.Daemon` that turns what it learns into core events through ``Daemon.on_event``; failures
of one round are logged and retried next round.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog

from kalshibot.core import events as ev
from kalshibot.core.fixed import format_count
from kalshibot.errors import KalshibotError
from kalshibot.net.reconcile import apply_policy, reconcile
from kalshibot.universe import list_series_tickers, load_universe

if TYPE_CHECKING:
    from kalshibot.daemon import Daemon

log = structlog.get_logger("kalshibot.daemon")

STATUS_POLL_S = 30.0
SCHEDULE_POLL_S = 600.0


def _rfc3339_ms(value: object) -> int | None:
    if not isinstance(value, str):
        return None
    try:
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


def maintenance_windows(schedule: dict[str, Any]) -> list[tuple[int, int]]:
    """``GET /exchange/schedule`` -> [(start_ms, end_ms)] of its maintenance windows (API.md §3.2)."""
    body = schedule.get("schedule", schedule)
    raw = body.get("maintenance_windows") if isinstance(body, dict) else None
    out: list[tuple[int, int]] = []
    for w in raw if isinstance(raw, list) else []:
        if isinstance(w, dict):
            start, end = _rfc3339_ms(w.get("start_datetime")), _rfc3339_ms(w.get("end_datetime"))
            if start is not None and end is not None and end > start:
                out.append((start, end))
    return sorted(out)


def in_maintenance(windows: list[tuple[int, int]], now_ms: int) -> int | None:
    """The end of the maintenance window ``now_ms`` falls in, or None."""
    for start, end in windows:
        if start <= now_ms < end:
            return end
    return None


async def status_poller(d: Daemon) -> None:
    """No quoting while trading is inactive or inside a scheduled maintenance window: the exchange status is
    polled every 30 s, the schedule every 10 min, and the engine hears an ``ExchangeState`` whenever the combined
    picture changes."""
    assert d.rest is not None
    last: tuple[bool, bool, int | None] | None = None
    windows: list[tuple[int, int]] = []
    next_schedule = 0.0
    loop = asyncio.get_running_loop()
    while True:
        if loop.time() >= next_schedule:
            try:
                windows = maintenance_windows(await d.rest.get_schedule())
                next_schedule = loop.time() + SCHEDULE_POLL_S
            except (KalshibotError, ValueError) as e:
                log.warning("exchange schedule poll failed", error=str(e))
                next_schedule = loop.time() + STATUS_POLL_S
        try:
            state = (await d.rest.get_exchange_status()).to_event()
            until = in_maintenance(windows, d.clock_ms())
            if until is not None:
                state = ev.ExchangeState(state.exchange_active, False, until)
            key = (state.exchange_active, state.trading_active, state.maintenance_until_ms)
            if last != key:
                last = key
                log.info("exchange state", exchange_active=key[0], trading_active=key[1], maintenance_until_ms=key[2])
                d.on_event(state)
        except KalshibotError as e:
            log.warning("exchange status poll failed", error=str(e))
        await asyncio.sleep(STATUS_POLL_S)


async def reconciler(d: Daemon) -> None:
    while True:
        await asyncio.sleep(d.settings.reconcile.interval_s)
        try:
            await reconcile_now(d, startup=False)
        except KalshibotError as e:
            log.warning("periodic reconcile failed", error=str(e))


async def reconcile_now(d: Daemon, *, startup: bool) -> None:
    """Resting orders, positions and missed fills from REST; adopt or cancel our leftovers at startup."""
    if d.rest is None or d.paper:
        return
    known: set[tuple[str, str]] = getattr(d.executor, "known_fills", set())
    s = d.settings
    res = await reconcile(
        d.rest, s.client_order_id_prefix, s.subaccount, known, d.last_fill_ts_s, tickers=d.tickers or None
    )
    for f in res.missed_fills:
        d.on_event(f)
    if startup:

        def journal_cancel(u: ev.OrderUpdate, reduced_by: int) -> None:
            if d.journal is not None:
                d.journal.record(
                    "cancel",
                    d.clock_ms(),
                    order_id=u.order_id,
                    client_order_id=u.client_order_id,
                    ticker=u.ticker,
                    reduced_by=format_count(reduced_by),
                    reason="startup reconcile (adopt_orphans: cancel)",
                )

        adopt = await apply_policy(
            d.rest, res, s.reconcile.adopt_orphans, subaccount=s.subaccount, on_cancel=journal_cancel
        )
        for u in adopt:
            d.on_event(u)
    else:
        for u in res.ours:
            d.on_event(u)
    for p in res.positions:
        d.on_event(p)


async def watchdog(d: Daemon) -> None:
    """WATCHDOG=1 from the event loop itself (a stuck loop stops the pings, so systemd restarts the unit), at half
    of WatchdogSec; measures the loop's lateness for ``/healthz``."""
    interval = min(d.notifier.watchdog_interval_s() or 1.0, 1.0)
    loop = asyncio.get_running_loop()
    while True:
        t0 = loop.time()
        await asyncio.sleep(interval)
        d.loop_lag_s = max(0.0, loop.time() - t0 - interval)
        d.metrics.loop_lag.set(d.loop_lag_s)
        d.notifier.watchdog()


__all__ = ["in_maintenance", "maintenance_windows", "reconcile_now", "reconciler", "status_poller", "watchdog"]


# ------------------------------------------------------------------------------------------------ universe
async def universe_refresher(d: Daemon) -> None:
    """Re-read the configured universe every ``universe.refresh_s``: new markets are added, vanished ones removed."""
    interval = d.settings.universe.refresh_s
    while True:
        await asyncio.sleep(interval)
        try:
            await refresh_universe(d)
        except KalshibotError as e:
            log.warning("universe refresh failed", error=str(e))


async def refresh_universe(d: Daemon) -> None:
    assert d.rest is not None and d.feed is not None
    specs = await load_specs(d)
    fresh = {s.ticker: s for s in specs}
    for t, spec in fresh.items():
        if t not in d.tickers:
            d.on_event(ev.MarketAdded(spec))
    for t in d.tickers - fresh.keys():
        d.on_event(ev.MarketRemoved(t))
    d.tickers = set(fresh)
    d.feed.set_markets(d.tickers)


async def load_specs(d: Daemon) -> list[ev.MarketSpec]:
    assert d.rest is not None
    u = d.settings.universe
    series = list(u.series) if u.series else await list_series_tickers(d.rest)
    return await load_universe(d.rest, series, markets=u.markets, max_per_series=u.max_markets_per_series)
