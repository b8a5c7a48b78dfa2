"""Public REST endpoints (no key needed, API.md §2.1): exchange status/schedule, series, events, markets,
orderbooks, public trades; plus ``/exchange/user_data_timestamp``. Shapes: API.md §3.2-§3.4, §3.9 via :mod:`.wire`.
"""

from __future__ import annotations

from typing import Any

from kalshibot.sim import choices, wire
from kalshibot.sim.markets import MARKET_STATUS_FILTER, Market
from kalshibot.sim.rest import Ctx, Endpoint, Json, paginate
from kalshibot.sim.simerrors import sim_error


async def exchange_status(c: Ctx) -> Json:
    return wire.exchange_status(c.exchange.exchange_schedule, c.server.clock())


async def exchange_schedule(c: Ctx) -> Json:
    return wire.schedule(c.exchange.exchange_schedule, c.server.clock())


async def user_data_timestamp(c: Ctx) -> Json:
    # the simulator's REST views are never stale: "as of" is now (API.md §3.2)
    return {"as_of_time": wire.rfc3339(c.server.clock())}


def _series_volume(c: Ctx, series_ticker: str) -> int:
    return sum(m.volume for m in c.exchange.markets_by_ticker.values() if m.series_ticker == series_ticker)


async def get_series(c: Ctx) -> Json:
    t = c.request.path_params["series_ticker"]
    s = c.exchange.series_by_ticker.get(t)
    if s is None:
        raise sim_error("series_not_found")
    vol = _series_volume(c, t) if c.qbool("include_volume") else None
    return {"series": wire.series(s, vol)}


async def list_series(c: Ctx) -> Json:
    category, tags = c.q("category"), c.qlist("tags")
    min_updated = c.qint("min_updated_ts")
    with_vol = c.qbool("include_volume")
    out = []
    for s in c.exchange.series_by_ticker.values():
        if category is not None and s.category != category:
            continue
        if tags and not set(tags) & set(s.tags):
            continue
        if min_updated is not None and s.updated_ts_ms // 1000 < min_updated:
            continue
        out.append(wire.series(s, _series_volume(c, s.ticker) if with_vol else None))
    return {"series": out}


def _event_markets(c: Ctx, event_ticker: str) -> list[Market]:
    ev = c.exchange.events_by_ticker[event_ticker]
    mk = c.exchange.markets_by_ticker
    return [mk[t] for t in ev.markets if t in mk]


async def list_events(c: Ctx) -> Json:
    status = c.q("status")
    if status is not None and status not in ("unopened", "open", "closed", "settled"):
        raise sim_error("invalid_parameters", "status must be one of unopened, open, closed, settled")
    series_t, tickers = c.q("series_ticker"), c.qlist("tickers")
    min_close, min_updated = c.qint("min_close_ts"), c.qint("min_updated_ts")
    nested = c.qbool("with_nested_markets")
    chosen = []
    for ev in c.exchange.events_by_ticker.values():
        if series_t is not None and ev.series_ticker != series_t:
            continue
        if tickers and ev.event_ticker not in tickers:
            continue
        ms = _event_markets(c, ev.event_ticker)
        if status is not None and c.exchange.event_status(ev) != status:
            continue
        if min_close is not None and not any(m.close_ts_ms // 1000 >= min_close for m in ms):
            continue
        if min_updated is not None and ev.updated_ts_ms // 1000 < min_updated:
            continue
        chosen.append((ev, ms))
    page, cursor = paginate(chosen, c, 200, 200)
    out: Json = {"events": [wire.event(ev, ms if nested else None) for ev, ms in page], "cursor": cursor}
    if c.qbool("with_milestones"):
        out["milestones"] = []
    return out


async def get_event(c: Ctx) -> Json:
    t = c.request.path_params["event_ticker"]
    ev = c.exchange.events_by_ticker.get(t)
    if ev is None:
        raise sim_error("event_not_found")
    ms = _event_markets(c, t)
    nested = c.qbool("with_nested_markets")
    # top-level "markets" is deprecated but still in the response model (API.md §3.3)
    return {"event": wire.event(ev, ms if nested else None), "markets": [wire.market(m) for m in ms]}


_TS_FILTERS = (
    ("min_created_ts", "created_ts_ms", 1),
    ("max_created_ts", "created_ts_ms", -1),
    ("min_updated_ts", "updated_ts_ms", 1),
    ("max_updated_ts", "updated_ts_ms", -1),
    ("min_close_ts", "close_ts_ms", 1),
    ("max_close_ts", "close_ts_ms", -1),
    ("min_settled_ts", "settled_ts_ms", 1),
    ("max_settled_ts", "settled_ts_ms", -1),
)


async def list_markets(c: Ctx) -> Json:
    statuses: set[str] | None = None
    st = c.qlist("status")
    if st:
        statuses = set()
        for s in st:
            if s not in MARKET_STATUS_FILTER:
                raise sim_error("invalid_parameters", f"unknown status filter {s!r}")
            statuses.update(MARKET_STATUS_FILTER[s])
    event_t, series_t, tickers = c.q("event_ticker"), c.q("series_ticker"), c.qlist("tickers")
    event_set = set(event_t.split(",")) if event_t else None
    ts_filters = [(attr, sign, c.qint(name)) for name, attr, sign in _TS_FILTERS]
    mve = c.q("mve_filter")
    out: list[Market] = []
    for m in c.exchange.markets_by_ticker.values():
        if statuses is not None and m.status not in statuses:
            continue
        if event_set is not None and m.event_ticker not in event_set:
            continue
        if series_t is not None and m.series_ticker != series_t:
            continue
        if tickers and m.ticker not in tickers:
            continue
        if mve == "only":  # the simulator lists no multivariate markets
            continue
        ok = True
        for attr, sign, bound in ts_filters:
            if bound is None:
                continue
            v: Any = getattr(m, attr)
            if attr == "updated_ts_ms":
                v = v or m.created_ts_ms
            if v is None or (sign > 0 and v // 1000 < bound) or (sign < 0 and v // 1000 > bound):
                ok = False
                break
        if ok:
            out.append(m)
    page, cursor = paginate(out, c, 100, 1000)
    return {"markets": [wire.market(m) for m in page], "cursor": cursor}


def _market(c: Ctx, ticker: str) -> Market:
    m = c.exchange.markets_by_ticker.get(ticker)
    if m is None:
        raise sim_error("market_not_found", f"market {ticker} not found")
    m_typed: Market = m
    return m_typed


async def get_market(c: Ctx) -> Json:
    return {"market": wire.market(_market(c, c.request.path_params["ticker"]))}


async def get_orderbook(c: Ctx) -> Json:
    m = _market(c, c.request.path_params["ticker"])
    depth = c.qint("depth", 0) or 0
    if depth > 100:
        raise sim_error("invalid_parameters", "depth must be <= 100")
    yes, no = m.book.snapshot(max(depth, 0))
    return wire.orderbook(yes, no)


async def get_orderbooks(c: Ctx) -> Json:
    tickers = c.qlist("tickers")
    if not tickers:
        raise sim_error("invalid_parameters", "tickers is required")
    if len(tickers) > choices.MAX_ORDERBOOK_TICKERS:
        raise sim_error("invalid_parameters", f"at most {choices.MAX_ORDERBOOK_TICKERS} tickers")
    out = []
    for t in tickers:
        yes, no = _market(c, t).book.snapshot(0)
        out.append({"ticker": t, **wire.orderbook(yes, no)})
    return {"orderbooks": out}


async def list_trades(c: Ctx) -> Json:
    ticker, min_ts, max_ts = c.q("ticker"), c.qint("min_ts"), c.qint("max_ts")
    if c.q("is_block_trade") is not None and c.qbool("is_block_trade"):
        return {"trades": [], "cursor": ""}  # the simulator has no block trades
    trades = [
        t
        for t in reversed(c.exchange.trade_log)  # newest first
        if (ticker is None or t.ticker == ticker)
        and (min_ts is None or t.ts_ms // 1000 >= min_ts)
        and (max_ts is None or t.ts_ms // 1000 <= max_ts)
    ]
    page, cursor = paginate(trades, c, 100, 1000)
    return {"trades": [wire.trade(t) for t in page], "cursor": cursor}


ENDPOINTS = [
    Endpoint("GET", "/exchange/status", exchange_status, public=True),
    Endpoint("GET", "/exchange/schedule", exchange_schedule, public=True),
    Endpoint("GET", "/exchange/user_data_timestamp", user_data_timestamp, public=True),
    Endpoint("GET", "/series", list_series, public=True),
    Endpoint("GET", "/series/{series_ticker}", get_series, public=True),
    Endpoint("GET", "/events", list_events, public=True),
    Endpoint("GET", "/events/{event_ticker}", get_event, public=True),
    Endpoint("GET", "/markets", list_markets, public=True),
    Endpoint("GET", "/markets/trades", list_trades, public=True),
    Endpoint("GET", "/markets/orderbooks", get_orderbooks, public=True),
    Endpoint("GET", "/markets/{ticker}", get_market, public=True),
    Endpoint("GET", "/markets/{ticker}/orderbook", get_orderbook, public=True),
]
