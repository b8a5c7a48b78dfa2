"""Order endpoints: V2 writes (API.md §3.5), order reads and queue positions (§3.6), V1 writes answering
``deprecated_v1_order_endpoint`` (§3.7). Order groups live in :mod:`.rest_groups`.

The server parses and validates the wire strings (prices with at most 4 decimals, counts with at most 2, enums,
types) into :class:`~kalshibot.sim.state.CreateOrderParams`; the exchange checks everything that needs state
(grid, market status, balance, duplicates). Three order faults hook in here: ``lost_ack`` (the order is placed
but the answer never comes), ``ack_after_fill`` (the answer waits until the order's WebSocket fill went out) and
``cancel_404_after_fill`` (a cancel of an order that has fills answers 404).
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.responses import Response

from kalshibot.core.fixed import parse_count, parse_price
from kalshibot.errors import FixedPointError
from kalshibot.sim import choices, wire
from kalshibot.sim.rest import Ctx, Endpoint, Json, JSONResp, error_response, paginate
from kalshibot.sim.simerrors import SimError, sim_error
from kalshibot.sim.state import STP_TYPES, TIME_IN_FORCE, AmendParams, CreateOrderParams

_CREATE_FIELDS = frozenset(
    {
        "ticker",
        "client_order_id",
        "side",
        "count",
        "price",
        "time_in_force",
        "self_trade_prevention_type",
        "expiration_time",
        "post_only",
        "reduce_only",
        "cancel_order_on_pause",
        "order_group_id",
        "subaccount",
        "exchange_index",
    }
)


def _bad(details: str) -> SimError:
    return sim_error("invalid_order", details=details)


def _opt_bool(d: Json, key: str) -> bool:
    v = d.get(key)
    if v is None:
        return False
    if not isinstance(v, bool):
        raise _bad(f"{key} must be a boolean")
    return v


def _opt_int(d: Json, key: str, lo: int | None = None, hi: int | None = None) -> int | None:
    v = d.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        raise _bad(f"{key} must be an integer")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise _bad(f"{key} out of range")
    return v


def _opt_str(d: Json, key: str) -> str | None:
    v = d.get(key)
    if v is None:
        return None
    if not isinstance(v, str) or not v:
        raise _bad(f"{key} must be a non-empty string")
    return v


def _req_str(d: Json, key: str) -> str:
    v = _opt_str(d, key)
    if v is None:
        raise _bad(f"{key} is required")
    return v


def _price(d: Json) -> int:
    if d.get("price") is None:
        raise _bad("price is required")
    if not isinstance(d["price"], str):
        # FixedPointDollars is a string in CreateOrderV2Request (API.md §3.5, SDK 3.34.0): a client that sends a
        # JSON number must fail here as it would on Kalshi, not pass the simulator and fail live
        raise sim_error("invalid_price", details='price must be a decimal string such as "0.5600"')
    try:
        return parse_price(d["price"], order=True)
    except FixedPointError as e:
        raise sim_error("invalid_price", details=str(e)) from e


def _count(d: Json, key: str = "count") -> int:
    if d.get(key) is None:
        raise _bad(f"{key} is required")
    if not isinstance(d[key], str):
        # FixedPointCount is a string on the wire (API.md §3.5); see _price
        raise sim_error("invalid_count", details=f'{key} must be a decimal string such as "10.00"')
    try:
        return parse_count(d[key], order=True)
    except FixedPointError as e:
        raise sim_error("invalid_count", details=str(e)) from e


# Unix seconds at 2100-01-01. expiration_time is Unix SECONDS (API.md §3.5); a millisecond value (~1.7e12 today)
# is far above this. Kalshi's answer to one is not documented; the simulator refuses it (a simulator
# choice) so a units bug in a client fails here instead of resting a "good till year 55000" order.
MAX_EXPIRATION_TS_S = 4_102_444_800


def _expiration(d: Json) -> int | None:
    exp = _opt_int(d, "expiration_time", 0)
    if exp is not None and exp > MAX_EXPIRATION_TS_S:
        raise sim_error("invalid_expiration", details="expiration_time is Unix seconds (this looks like milliseconds)")
    return exp


def _exchange_index(d: Json) -> None:
    # single shard (API.md §10.4): 0, -1 (auto-route) or omitted
    ei = _opt_int(d, "exchange_index")
    if ei not in (None, 0, -1):
        raise _bad("unknown exchange_index (the simulator has one shard, 0)")


def parse_create(d: Any) -> CreateOrderParams:
    """A ``CreateOrderV2Request`` (API.md §3.5) -> params, or SimError 400."""
    if not isinstance(d, dict):
        raise _bad("an order must be a JSON object")
    side = d.get("side")
    if side not in ("bid", "ask"):
        raise _bad("side must be bid or ask")
    tif = d.get("time_in_force")
    if tif not in TIME_IN_FORCE:
        raise _bad(f"time_in_force must be one of {', '.join(TIME_IN_FORCE)}")
    stp = d.get("self_trade_prevention_type")
    if stp not in STP_TYPES:
        raise _bad(f"self_trade_prevention_type must be one of {', '.join(STP_TYPES)}")
    _exchange_index(d)
    return CreateOrderParams(
        ticker=_req_str(d, "ticker"),
        side=side,
        price=_price(d),
        count=_count(d),
        time_in_force=tif,
        self_trade_prevention_type=stp,
        client_order_id=_opt_str(d, "client_order_id"),
        expiration_ts_s=_expiration(d),
        post_only=_opt_bool(d, "post_only"),
        reduce_only=_opt_bool(d, "reduce_only"),
        cancel_order_on_pause=_opt_bool(d, "cancel_order_on_pause"),
        order_group_id=_opt_str(d, "order_group_id"),
        subaccount=_opt_int(d, "subaccount", 0, 63) or 0,
    )


def parse_amend(d: Json) -> AmendParams:
    side = d.get("side")
    if side not in ("bid", "ask"):
        raise _bad("side must be bid or ask")
    _exchange_index(d)
    return AmendParams(
        ticker=_req_str(d, "ticker"),
        side=side,
        price=_price(d),
        count=_count(d),
        client_order_id=_opt_str(d, "client_order_id"),
        updated_client_order_id=_opt_str(d, "updated_client_order_id"),
        expiration_ts_s=_expiration(d),
    )


# -------------------------------------------------------------------------------------------------- V2 writes
async def create_order(c: Ctx) -> Response | Json:
    params = parse_create(c.body)
    lost = c.server.faults.take("lost_ack", "POST", c.path)
    late = None if lost is not None else c.server.faults.has("ack_after_fill")
    result = c.exchange.create_order(c.user, params, c.server.clock())
    c.server.poke()
    if lost is not None:
        return await _lost_ack(c, int(lost["hold_ms"]))
    body = wire.create_response(result)
    if late and result.order.status == "resting" and result.fill_count == 0:
        p = c.server.faults.take("ack_after_fill", "POST", c.path)
        if p is not None:
            await c.server.bridge.wait_for_fill(result.order.order_id, int(p["max_ms"]))
    return JSONResp(body, status_code=201)


async def _lost_ack(c: Ctx, hold_ms: int) -> Response:
    """The order is in the book; the answer never comes: hold the request until the client gives up (disconnects)
    or ``hold_ms`` passes, then answer 504 (a client that waited that long sees a gateway timeout)."""
    deadline = asyncio.get_running_loop().time() + hold_ms / 1000
    while asyncio.get_running_loop().time() < deadline:
        if await c.request.is_disconnected():
            break
        await asyncio.sleep(0.05)
    return error_response(504, choices.INTERNAL_ERROR, "gateway timeout")


async def cancel_order(c: Ctx) -> Json:
    oid = c.request.path_params["order_id"]
    now = c.server.clock()
    if c.server.faults.has("cancel_404_after_fill"):
        o = c.exchange.orders.get(oid)
        if o is not None and o.user_id == c.user and o.filled > 0:
            c.server.faults.take("cancel_404_after_fill", "DELETE", c.path)
            if o.status == "resting":
                c.exchange.cancel_order(c.user, oid, now)
            raise sim_error("order_not_found")
    order, reduced = c.exchange.cancel_order(c.user, oid, now)
    return wire.cancel_response(order, reduced, now)


async def amend_order(c: Ctx) -> Json:
    params = parse_amend(c.body)
    result = c.exchange.amend_order(c.user, c.request.path_params["order_id"], params, c.server.clock())
    c.server.poke()
    return wire.amend_response(result)


async def decrease_order(c: Ctx) -> Json:
    d = c.body
    _exchange_index(d)
    by = _count(d, "reduce_by") if d.get("reduce_by") is not None else None
    to = None
    if d.get("reduce_to") is not None:
        if not isinstance(d["reduce_to"], str):
            raise sim_error("invalid_count", details='reduce_to must be a decimal string such as "2.00"')
        try:
            to = parse_count(d["reduce_to"])
        except FixedPointError as e:
            raise sim_error("invalid_count", details=str(e)) from e
    if (by is None) == (to is None):
        raise _bad("exactly one of reduce_by and reduce_to is required")
    now = c.server.clock()
    order = c.exchange.decrease_order(c.user, c.request.path_params["order_id"], now, reduce_by=by, reduce_to=to)
    return wire.decrease_response(order, now)


def _batch_list(c: Ctx) -> list[Any]:
    orders = c.body.get("orders")
    if not isinstance(orders, list) or not orders:
        raise sim_error("invalid_parameters", "orders must be a non-empty list")
    if len(orders) > choices.MAX_BATCH_SIZE:
        raise SimError(400, choices.BATCH_TOO_LARGE, f"at most {choices.MAX_BATCH_SIZE} orders per batch")
    return orders


async def batch_create(c: Ctx) -> Response | Json:
    items = _batch_list(c)
    parsed: list[CreateOrderParams | SimError] = []
    for d in items:
        try:
            parsed.append(parse_create(d))
        except SimError as e:
            parsed.append(e)
    now = c.server.clock()
    good = [p for p in parsed if isinstance(p, CreateOrderParams)]
    results = iter(c.exchange.batch_create(c.user, good, now) if good else [])
    lost = c.server.faults.take("lost_ack", "POST", c.path)
    c.server.poke()
    out: list[Json] = []
    waiting_for: str | None = None  # ack_after_fill: the first resting, unfilled order of the batch
    for d, p in zip(items, parsed):
        r = p if isinstance(p, SimError) else next(results)
        if isinstance(r, SimError):
            coid = d.get("client_order_id") if isinstance(d, dict) else None
            out.append(wire.batch_error_item(r.to_wire(), coid if isinstance(coid, str) else None))
        else:
            out.append(wire.create_response(r))
            if waiting_for is None and r.order.status == "resting" and r.fill_count == 0:
                waiting_for = r.order.order_id
    if lost is not None:
        return await _lost_ack(c, int(lost["hold_ms"]))
    if waiting_for is not None and c.server.faults.has("ack_after_fill"):
        f = c.server.faults.take("ack_after_fill", "POST", c.path)
        if f is not None:
            await c.server.bridge.wait_for_fill(waiting_for, int(f["max_ms"]))
    return JSONResp({"orders": out}, status_code=201)


async def batch_cancel(c: Ctx) -> Json:
    items = _batch_list(c)
    ids: list[str | None] = []
    for d in items:
        # BatchCancelOrdersV2Request items are objects {"order_id", ...} (API.md §3.5); a bare id string (the V1
        # {"ids": [...]} habit) is a per-item error here as it would be on Kalshi
        oid = d.get("order_id") if isinstance(d, dict) else None
        ids.append(oid if isinstance(oid, str) and oid else None)
    now = c.server.clock()
    gone: set[str] = set()  # cancel_404_after_fill: orders with fills answered 404 (their rest is cancelled)
    if c.server.faults.has("cancel_404_after_fill"):
        for oid in ids:
            o = c.exchange.orders.get(oid) if oid is not None else None
            if o is not None and o.user_id == c.user and o.filled > 0:
                if c.server.faults.take("cancel_404_after_fill", "DELETE", c.path) is None:
                    break
                if o.status == "resting":
                    c.exchange.cancel_order(c.user, o.order_id, now)
                gone.add(o.order_id)
    valid = [i for i in ids if i is not None and i not in gone]
    results = iter(c.exchange.batch_cancel(c.user, valid, now) if valid else [])
    out: list[Json] = []
    for oid in ids:
        if oid is None:
            out.append(wire.batch_error_item(_bad("order_id is required").to_wire(), order_id=""))
            continue
        if oid in gone:
            out.append(wire.batch_error_item(sim_error("order_not_found").to_wire(), order_id=oid))
            continue
        r = next(results)
        if isinstance(r, SimError):
            out.append(wire.batch_error_item(r.to_wire(), order_id=oid))
        else:
            order, reduced = r
            out.append(wire.cancel_response(order, reduced, now))
    return {"orders": out}


async def cancel_all(c: Ctx) -> Response:
    sub = c.qint("subaccount", None, 0, 63)
    c.exchange.cancel_all(c.user, sub, c.server.clock())
    return Response(status_code=204)


async def v1_write(c: Ctx) -> Response:
    # API.md §3.7: V1 order writes were cut off in June 2026
    return error_response(
        choices.V1_DEPRECATED_STATUS,
        choices.V1_DEPRECATED_CODE,
        choices.V1_DEPRECATED_MESSAGE,
        choices.V1_DEPRECATED_DETAILS,
    )


# ---------------------------------------------------------------------------------------------------- reads
async def list_orders(c: Ctx) -> Json:
    acct = c.exchange.accounts.get(c.user)
    orders = list(reversed(acct.orders)) if acct is not None else []  # newest first
    ticker, events = c.q("ticker"), c.qlist("event_ticker")
    status, sub = c.q("status"), c.qint("subaccount", None, 0, 63)
    if status is not None and status not in ("resting", "canceled", "executed"):
        raise sim_error("invalid_parameters", "status must be resting, canceled or executed")
    if events is not None and len(events) > 10:
        raise sim_error("invalid_parameters", "at most 10 event tickers")
    min_ts, max_ts = c.qint("min_ts"), c.qint("max_ts")
    markets = c.exchange.markets_by_ticker
    sel = [
        o
        for o in orders
        if (ticker is None or o.ticker == ticker)
        and (events is None or (o.ticker in markets and markets[o.ticker].event_ticker in events))
        and (status is None or o.status == status)
        and (sub is None or o.subaccount == sub)
        and (min_ts is None or o.created_ts_ms // 1000 >= min_ts)
        and (max_ts is None or o.created_ts_ms // 1000 <= max_ts)
    ]
    page, cursor = paginate(sel, c, 100, 1000)
    return {"orders": [wire.order(o) for o in page], "cursor": cursor}


def _own_order(c: Ctx, oid: str) -> Any:
    o = c.exchange.orders.get(oid)
    if o is None or o.user_id != c.user:
        raise sim_error("order_not_found")
    return o


async def get_order(c: Ctx) -> Json:
    return {"order": wire.order(_own_order(c, c.request.path_params["order_id"]))}


def _queue_ahead(c: Ctx, o: Any) -> int:
    if o.status != "resting":
        return 0
    ahead: int = c.exchange.markets_by_ticker[o.ticker].book.queue_ahead(o)
    return ahead


async def queue_position(c: Ctx) -> Json:
    o = _own_order(c, c.request.path_params["order_id"])
    return wire.queue_position(_queue_ahead(c, o))


async def queue_positions(c: Ctx) -> Json:
    tickers, event = c.qlist("market_tickers"), c.q("event_ticker")
    if not tickers and not event:
        raise sim_error("invalid_parameters", "market_tickers or event_ticker is required")
    sub = c.qint("subaccount", None, 0, 63)
    acct = c.exchange.accounts.get(c.user)
    markets = c.exchange.markets_by_ticker
    out = []
    for o in acct.resting.values() if acct is not None else ():
        if tickers and o.ticker not in tickers:
            continue
        if event and (o.ticker not in markets or markets[o.ticker].event_ticker != event):
            continue
        if sub is not None and o.subaccount != sub:
            continue
        out.append({"order_id": o.order_id, "market_ticker": o.ticker, **wire.queue_position(_queue_ahead(c, o))})
    return {"queue_positions": out}


_V1 = "/portfolio/orders"
ENDPOINTS = [
    Endpoint("POST", "/portfolio/events/orders", create_order),
    Endpoint("DELETE", "/portfolio/events/orders", cancel_all),
    Endpoint("POST", "/portfolio/events/orders/batched", batch_create),
    Endpoint("DELETE", "/portfolio/events/orders/batched", batch_cancel),
    Endpoint("DELETE", "/portfolio/events/orders/{order_id}", cancel_order),
    Endpoint("POST", "/portfolio/events/orders/{order_id}/amend", amend_order),
    Endpoint("POST", "/portfolio/events/orders/{order_id}/decrease", decrease_order),
    Endpoint("GET", _V1, list_orders),
    Endpoint("GET", _V1 + "/queue_positions", queue_positions),
    Endpoint("GET", _V1 + "/{order_id}", get_order),
    Endpoint("GET", _V1 + "/{order_id}/queue_position", queue_position),
    # V1 writes (API.md §3.7)
    Endpoint("POST", _V1, v1_write),
    Endpoint("POST", _V1 + "/batched", v1_write),
    Endpoint("DELETE", _V1 + "/batched", v1_write),
    Endpoint("DELETE", _V1 + "/{order_id}", v1_write),
    Endpoint("POST", _V1 + "/{order_id}/amend", v1_write),
    Endpoint("POST", _V1 + "/{order_id}/decrease", v1_write),
]
