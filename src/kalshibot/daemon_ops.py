"""The daemon's operations side: what it reports (``/status``, ``/healthz``, Prometheus gauges), its once-a-second
housekeeping (journal flush, stale-feed detection, counters fed from the feed and the rate limiter) and the
shutdown check that no order of ours rests.

These are functions over a :class:`~kalshibot.daemon.Daemon` rather than methods so the event flow in
``daemon.py`` stays readable on its own; they only read the daemon's state and feed events back through
``Daemon.on_event`` (never the engine directly).

Staleness: the websockets client's keepalive pings catch a dead TCP connection (the feed then reconnects and
reports ``FeedDown``, which cancels every quote of those markets). A connection that stays up while a market's
subscription goes silent is caught here: a market whose book we hold but that sent nothing for
``stale_market_ms`` is treated as lost (``Feed.resync`` -> ``BookGap``: the engine cancels its quotes and asks for
a snapshot; quoting resumes when the snapshot arrives). On Kalshi a genuinely quiet market pays one cancel and
re-quote per period for this safety; the default period is long (60 s) for that reason.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog

from kalshibot import __version__
from kalshibot.core import events as ev
from kalshibot.core.fixed import format_count, format_money, format_price
from kalshibot.core.orders import State
from kalshibot.errors import JournalError, KalshibotError
from kalshibot.metrics import RISK_STATE_CODE
from kalshibot.net.rest import CancelRequest

if TYPE_CHECKING:
    from kalshibot.daemon import Daemon

log = structlog.get_logger("kalshibot.daemon")

STALE_FEED_MS = 30_000  # /healthz fails when the newest market-data message is older than this
STUCK_LOOP_S = 5.0  # /healthz fails when the event loop was this late waking a sleeper
STALE_MARKET_MS = 60_000  # a market silent this long is treated as lost (resync: cancel quotes, fresh snapshot)
FLUSH_INTERVAL_MS = 1_000  # the journal's market-data buffer is flushed at least this often


@dataclass
class Housekeeping:
    """Counters already exported (Prometheus counters only go up: we add the difference) and timestamps."""

    last_flush_ms: int = 0
    last_stale_check_ms: int = 0
    seen: dict[str, int] = field(default_factory=dict)


def _inc(h: Housekeeping, key: str, total: int, counter: Any) -> None:
    delta = total - h.seen.get(key, 0)
    if delta > 0:
        counter.inc(delta)
    h.seen[key] = total


def housekeeping(d: Daemon, h: Housekeeping, now_ms: int) -> None:
    """Once a second from the timer task: flush the journal, check staleness, refresh gauges and counters."""
    if d.journal is not None and now_ms - h.last_flush_ms >= FLUSH_INTERVAL_MS:
        h.last_flush_ms = now_ms
        try:
            d.journal.flush()
        except JournalError as e:
            d.journal_failed(e)
    check_stale_markets(d, now_ms)
    update_gauges(d, now_ms)
    feed = d.feed
    m = d.metrics
    if feed is not None:
        _inc(h, "reconnects", feed.stats.reconnects, m.reconnects)
        _inc(h, "gaps", feed.stats.gaps, m.gaps)
        _inc(h, "bad_frames", feed.stats.bad_frames, m.bad_frames)
    if d.rest is not None:
        for bucket in (d.rest.limiter.read, d.rest.limiter.write):
            _inc(h, f"tokens_{bucket.name}", int(bucket.spent), m.tokens.labels(bucket.name))


def check_stale_markets(d: Daemon, now_ms: int) -> list[str]:
    """Markets with a book but no message for ``d.stale_market_ms``: resync them (the engine cancels their
    quotes on the resulting BookGap). Returns the tickers acted on."""
    feed = d.feed
    if feed is None or not feed.connected:
        return []  # a disconnected feed already reported FeedDown for every market
    out = []
    for t in sorted(d.tickers):
        age = feed.stats.age_ms(t, now_ms)
        if age is not None and age > d.stale_market_ms and feed.book_ready(t):
            log.warning("market feed stale; treating as lost", ticker=t, age_ms=age)
            feed.resync(t, "stale")
            out.append(t)
    return out


def newest_message_age_ms(d: Daemon, now_ms: int) -> int | None:
    if d.feed is None or not d.feed.stats.last_msg_ms:
        return None
    return min(now_ms - t for t in d.feed.stats.last_msg_ms.values())


def update_gauges(d: Daemon, now_ms: int) -> None:
    e = d.engine
    if e is None:
        return
    m = d.metrics
    m.pnl.set(e.daily_pnl(now_ms) / 1e6)
    for scope, v in e.money_at_stake().items():
        m.at_stake.labels(scope).set(v / 1e6)
    for t, pos in e.positions().items():
        m.position.labels(t).set(pos / 100)
    m.resting.set(len(e.open_orders()))
    m.risk_state.set(RISK_STATE_CODE.get(e.risk_state, 0))
    age = newest_message_age_ms(d, now_ms)
    m.feed_lag.set(age / 1000 if age is not None else 0)


def _levels(levels: object) -> list[list[str]]:
    """The engine's desired quote levels ``[(price, count), ...]`` as ``[["0.4900", "5.00"], ...]``."""
    out: list[list[str]] = []
    for lv in levels if isinstance(levels, list | tuple) else []:
        if isinstance(lv, tuple | list) and len(lv) == 2 and isinstance(lv[0], int) and isinstance(lv[1], int):
            out.append([format_price(lv[0]), format_count(lv[1])])
    return out


def status_view(d: Daemon) -> dict[str, Any]:
    """``GET /status``: positions, orders, PnL and risk per market (prices and money as Kalshi's strings)."""
    e = d.engine
    if e is None:
        return {"state": "starting"}
    now = d.clock_ms()
    stake = e.money_at_stake()
    markets = []
    for mk in e.markets():
        t = str(mk["ticker"])
        yb, ya = mk.get("yes_bid"), mk.get("yes_ask")
        markets.append(
            {
                **mk,
                "yes_bid": format_price(yb) if isinstance(yb, int) else None,
                "yes_ask": format_price(ya) if isinstance(ya, int) else None,
                "position": format_count(e.positions().get(t, 0)),
                "money_at_stake": format_money(stake.get(t, 0)),
                "bids": _levels(mk.get("bids")),
                "asks": _levels(mk.get("asks")),
            }
        )
    return {
        "session": d.session_id,
        "environment": d.settings.environment,
        "paper": d.paper,
        "risk_state": e.risk_state,
        "daily_pnl": format_money(e.daily_pnl(now)),
        "money_at_stake": {k: format_money(v) for k, v in stake.items()},
        "markets": markets,
        "positions": {t: format_count(c) for t, c in e.positions().items()},
        "open_orders": [
            {
                "ticker": o.ticker,
                "side": o.side,
                "price": format_price(o.price),
                "remaining": format_count(o.remaining),
                "client_order_id": o.client_order_id,
                "order_id": o.order_id,
                "state": o.state.name,
            }
            for o in e.open_orders()
        ],
        "feed": {
            "connected": bool(d.feed and d.feed.connected),
            "reconnects": d.feed.stats.reconnects if d.feed else 0,
            "newest_message_age_ms": newest_message_age_ms(d, now),
        },
    }


def health_view(d: Daemon) -> tuple[bool, dict[str, Any]]:
    """``GET /healthz``: fails on a disconnected or stale feed or a stuck loop. (A loop stuck for good cannot
    answer at all, which a prober sees as a failure too; ``loop_lag_s`` catches one that stalls repeatedly.)"""
    now = d.clock_ms()
    connected = bool(d.feed and d.feed.connected)
    age = newest_message_age_ms(d, now)
    stale = age is None or age > STALE_FEED_MS
    stuck = d.loop_lag_s > STUCK_LOOP_S
    ok = connected and not stale and not stuck
    problems = [
        p for p, bad in (("feed disconnected", not connected), ("feed stale", stale), ("loop stuck", stuck)) if bad
    ]
    return ok, {
        "feed_connected": connected,
        "newest_message_age_ms": age,
        "loop_lag_s": round(d.loop_lag_s, 3),
        "problems": problems,
    }


async def cancel_leftovers(d: Daemon, attempts: int = 5) -> bool:
    """Whatever the engine believed, ask the exchange: every resting order with our prefix gets cancelled, until a
    listing shows none (True) or the attempts run out (False)."""
    assert d.rest is not None
    prefix, sub = d.settings.client_order_id_prefix, d.settings.subaccount
    for attempt in range(attempts):
        try:
            resting = [
                o
                for o in await d.rest.list_orders(status="resting", subaccount=sub)
                if (o.client_order_id or "").startswith(prefix)
            ]
        except KalshibotError as e:
            log.error("could not list resting orders at shutdown", error=str(e), attempt=attempt)
            await asyncio.sleep(0.5)
            continue
        if not resting:
            log.info("shutdown: no resting orders remain")
            return True
        log.info("shutdown: cancelling resting orders", count=len(resting))
        with contextlib.suppress(KalshibotError):
            await d.rest.batch_cancel([CancelRequest(o.order_id, o.ticker, sub) for o in resting])
    log.error("shutdown: could not verify that no order rests")
    return False


__all__ = [
    "FLUSH_INTERVAL_MS",
    "STALE_FEED_MS",
    "STALE_MARKET_MS",
    "STUCK_LOOP_S",
    "Housekeeping",
    "cancel_leftovers",
    "check_stale_markets",
    "health_view",
    "housekeeping",
    "status_view",
    "update_gauges",
]


# ------------------------------------------------------------------------------------------------ shutdown
async def shutdown(d: Daemon) -> None:
    """Stop quoting, cancel our resting orders and verify none remain, flush the journal."""
    d.notifier.stopping()
    assert d.engine is not None
    d.on_event(ev.OperatorCommand("shutdown", "graceful stop"))
    await drain(d)
    if d.rest is not None and not d.paper:
        ok = await cancel_leftovers(d)
        d.summary["resting_after_stop"] = 0 if ok else -1
        if not ok:
            d.exit_code = 1
        # the feed stopped before the cancels went out: a fill in between reached no socket. Read fills from
        # REST once more so it is journaled (found by the chaos matrix, issue 10)
        try:
            await d.reconcile_now(startup=False)
        except KalshibotError as e:
            log.error("final fill reconciliation failed", error=str(e))
    d.persist_state()
    d.write_session("stop")
    if d.journal is not None:
        d.journal.flush()


async def drain(d: Daemon, budget_s: float = 10.0) -> None:
    """Send what the engine decided last (its shutdown cancels), for a bounded time: whatever is left after that is
    found and cancelled by :func:`cancel_leftovers` from the exchange's own list."""
    assert d.executor is not None
    loop = asyncio.get_running_loop()
    give_up = loop.time() + budget_s
    for _ in range(50):
        if not d.pending or loop.time() > give_up:
            break
        batch, d.pending = d.pending, []
        try:
            await d.executor.submit(batch)
        except KalshibotError as e:
            log.error("shutdown cancel failed", error=str(e))


def write_session(d: Daemon, phase: str) -> None:
    """The journal's ``session`` record (start / stop): version, config hash, environment and universe."""
    if d.journal is None:
        return
    s = d.settings
    d.journal.record(
        "session",
        d.clock_ms(),
        version=__version__,
        config_hash=s.config_hash(),
        environment=s.environment + (" (paper)" if d.paper else ""),
        universe=sorted(d.tickers) or list(s.universe.series or []),
        phase=phase,
    )


def note_first_two_sided(d: Daemon) -> None:
    """Record when a market first had both sides acknowledged by the exchange (the startup figure, issue 9)."""
    if d.first_two_sided_ms is not None or d.engine is None:
        return
    sides: dict[str, set[str]] = {}
    for o in d.engine.open_orders():
        if o.state in (State.PENDING_NEW, State.UNKNOWN):
            continue  # not (known to be) resting at the exchange yet
        sides.setdefault(o.ticker, set()).add(o.side)
    if any(len(s) == 2 for s in sides.values()):
        d.first_two_sided_ms = d.clock_ms()
        log.info("first two-sided quote", after_ms=d.first_two_sided_ms - d.started_ms)
