"""Portfolio, account and order-group endpoints (API.md §3.8, §3.10, §7.1)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from kalshibot.core.fixed import parse_count
from kalshibot.errors import FixedPointError
from kalshibot.sim import ratelimit, wire
from kalshibot.sim.rest import Ctx, Endpoint, Json, JSONResp, paginate
from kalshibot.sim.simerrors import sim_error


def _account(c: Ctx) -> Any:
    acct = c.exchange.accounts.get(c.user)
    if acct is None:
        raise sim_error("user_not_found")
    return acct


async def balance(c: Ctx) -> Json:
    acct = _account(c)
    return wire.balance(acct, c.exchange.portfolio_value(c.user))


async def positions(c: Ctx) -> Json:
    acct = _account(c)
    status = c.q("settlement_status") or "unsettled"
    if status not in ("unsettled", "settled", "all"):
        raise sim_error("invalid_parameters", "settlement_status must be unsettled, settled or all")
    count_filter = set(c.qlist("count_filter") or ())
    if count_filter - {"position", "total_traded"}:
        raise sim_error("invalid_parameters", "count_filter must be position and/or total_traded")
    ticker, events = c.q("ticker"), c.qlist("event_ticker")
    sel = []
    for p in acct.positions.values():
        if (status == "unsettled" and p.settled) or (status == "settled" and not p.settled):
            continue
        if ticker is not None and p.ticker != ticker:
            continue
        if events is not None and p.event_ticker not in events:
            continue
        if "position" in count_filter and not p.position:
            continue
        if "total_traded" in count_filter and not p.total_traded:
            continue
        sel.append(p)
    page, cursor = paginate(sel, c, 100, 1000)
    return {
        "market_positions": [wire.market_position(p) for p in page],
        "event_positions": wire.event_positions(page),
        "cursor": cursor,
    }


async def fills(c: Ctx) -> Json:
    acct = _account(c)
    tickers, order_id = c.qlist("ticker"), c.q("order_id")
    min_ts, max_ts, sub = c.qint("min_ts"), c.qint("max_ts"), c.qint("subaccount", None, 0, 63)
    sel = [
        f
        for f in reversed(acct.fills)  # newest first
        if (tickers is None or f.ticker in tickers)
        and (order_id is None or f.order_id == order_id)
        and (min_ts is None or f.ts_ms // 1000 >= min_ts)
        and (max_ts is None or f.ts_ms // 1000 <= max_ts)
        and (sub is None or f.subaccount == sub)
    ]
    page, cursor = paginate(sel, c, 100, 1000)
    return {"fills": [wire.fill(f) for f in page], "cursor": cursor}


async def settlements(c: Ctx) -> Json:
    acct = _account(c)
    ticker, events = c.q("ticker"), c.qlist("event_ticker")
    min_ts, max_ts = c.qint("min_ts"), c.qint("max_ts")
    sel = [
        s
        for s in reversed(acct.settlements)
        if (ticker is None or s.ticker == ticker)
        and (events is None or s.event_ticker in events)
        and (min_ts is None or s.settled_ts_ms // 1000 >= min_ts)
        and (max_ts is None or s.settled_ts_ms // 1000 <= max_ts)
    ]
    page, cursor = paginate(sel, c, 100, 1000)
    return {"settlements": [wire.settlement(s) for s in page], "cursor": cursor}


async def account_limits(c: Ctx) -> Json:
    limits: Json = c.exchange.rate_limiter.limits()
    return limits


async def endpoint_costs(c: Ctx) -> Json:
    return ratelimit.endpoint_costs()


# ---------------------------------------------------------------------------------------------- order groups
def _limit(d: Json) -> int:
    """``contracts_limit`` (int contracts) or ``contracts_limit_fp`` (fp string), API.md §3.10."""
    if d.get("contracts_limit_fp") is not None:
        try:
            return parse_count(d["contracts_limit_fp"], order=True)
        except FixedPointError as e:
            raise sim_error("invalid_count", details=str(e)) from e
    v = d.get("contracts_limit")
    if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
        raise sim_error("invalid_parameters", "contracts_limit (positive integer) or contracts_limit_fp is required")
    return v * 100


def _gid(c: Ctx) -> str:
    gid: str = c.request.path_params["order_group_id"]
    return gid


async def create_group(c: Ctx) -> Response:
    sub = c.body.get("subaccount", 0)
    if isinstance(sub, bool) or not isinstance(sub, int) or not 0 <= sub <= 63:
        raise sim_error("invalid_parameters", "subaccount must be 0-63")
    g = c.exchange.create_order_group(c.user, _limit(c.body), c.server.clock(), subaccount=sub)
    return JSONResp(wire.order_group_created(g), status_code=201)


async def list_groups(c: Ctx) -> Json:
    gs = c.exchange.order_groups(c.user, c.qint("subaccount", None, 0, 63))
    return {"order_groups": [wire.order_group(g) for g in gs]}


async def get_group(c: Ctx) -> Json:
    g, resting = c.exchange.order_group(c.user, _gid(c))
    return wire.order_group_detail(g, resting)


async def group_limit(c: Ctx) -> Json:
    c.exchange.update_order_group_limit(c.user, _gid(c), _limit(c.body), c.server.clock())
    c.server.poke()
    return {}


async def group_trigger(c: Ctx) -> Json:
    # the body is optional: the official SDK 3.34.0 sends none (API.md §3.10)
    c.exchange.trigger_group(c.user, _gid(c), c.server.clock())
    return {}


async def group_reset(c: Ctx) -> Json:
    c.exchange.reset_group(c.user, _gid(c), c.server.clock())
    return {}


async def group_delete(c: Ctx) -> Json:
    c.exchange.delete_group(c.user, _gid(c), c.server.clock())
    return {}


_G = "/portfolio/order_groups"
ENDPOINTS = [
    Endpoint("GET", "/portfolio/balance", balance),
    Endpoint("GET", "/portfolio/positions", positions),
    Endpoint("GET", "/portfolio/fills", fills),
    Endpoint("GET", "/portfolio/settlements", settlements),
    Endpoint("GET", "/account/limits", account_limits),
    Endpoint("GET", "/account/endpoint_costs", endpoint_costs, public=True),
    Endpoint("POST", _G + "/create", create_group),
    Endpoint("GET", _G, list_groups),
    Endpoint("GET", _G + "/{order_group_id}", get_group),
    Endpoint("PUT", _G + "/{order_group_id}/limit", group_limit),
    Endpoint("PUT", _G + "/{order_group_id}/trigger", group_trigger),
    Endpoint("PUT", _G + "/{order_group_id}/reset", group_reset),
    Endpoint("DELETE", _G + "/{order_group_id}", group_delete),
]
