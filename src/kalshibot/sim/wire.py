"""Kalshi wire serializers: the simulator's state rendered as the JSON shapes of spec 3.34.0 (API.md §3, §5.3).

Theory of operation
-------------------
Pure functions from the exchange's internal records to plain dicts ready for ``orjson``/``json``: every required
field of the SDK 3.34.0 models is present, prices/money are fixed-point dollar strings, counts 2-decimal strings,
and the only integers are the ones Kalshi keeps (balance/portfolio_value cents, settlement revenue/value cents,
``_ts`` seconds, ``_ts_ms`` milliseconds). Times are RFC3339 UTC strings. Prices print with 4 decimals, per-order
costs and fees with 6 (as in the ``Order`` example of API.md §3.6). The V2 write answers carry the order's own
``order_id``; an amend keeps it (the amended order is the same order).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kalshibot.core.fixed import ONE_DOLLAR, format_count, format_money, format_price
from kalshibot.sim.accounts import Account, FillRecord, Position, SettlementRecord
from kalshibot.sim.groups import OrderGroup
from kalshibot.sim.markets import Event, ExchangeSchedule, Market, Series
from kalshibot.sim.matching import Order

if TYPE_CHECKING:
    from kalshibot.sim.exchange import CreateResult, TradeRecord

Json = dict[str, Any]
EXCHANGE_INDEX = 0  # single shard (API.md §10.4)


def rfc3339(ts_ms: int) -> str:
    """Unix ms -> ``2026-11-01T10:00:00.123Z``."""
    s, ms = divmod(ts_ms, 1000)
    return datetime.fromtimestamp(s, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{ms:03d}Z"


def rfc3339_opt(ts_ms: int | None) -> str | None:
    return None if ts_ms is None else rfc3339(ts_ms)


def px(p: int) -> str:
    return format_price(p)


def cost6(m: int) -> str:
    return format_money(m, 6)


def money4(m: int) -> str:
    return format_money(m, 4)


def cnt(c: int) -> str:
    return format_count(c)


def multiplier(ppm: int) -> float | int:
    """Fee multiplier as a JSON number (Series.fee_multiplier is a float in the spec)."""
    return ppm // 1_000_000 if ppm % 1_000_000 == 0 else ppm / 1_000_000


# ------------------------------------------------------------------------------------------------ instruments
def market(m: Market) -> Json:
    latest = m.latest_expiration_ts_ms or m.expected_expiration_ts_ms or m.close_ts_ms
    yes_bid, no_bid = m.yes_bid, ONE_DOLLAR - m.yes_ask
    return {
        "ticker": m.ticker,
        "event_ticker": m.event_ticker,
        "market_type": "binary",
        "title": m.title,
        "subtitle": m.subtitle,
        "yes_sub_title": m.yes_sub_title,
        "no_sub_title": m.no_sub_title,
        "created_time": rfc3339(m.created_ts_ms),
        "updated_time": rfc3339(m.updated_ts_ms or m.created_ts_ms),
        "open_time": rfc3339(m.open_ts_ms),
        "close_time": rfc3339(m.close_ts_ms),
        "expected_expiration_time": rfc3339_opt(m.expected_expiration_ts_ms),
        "expiration_time": rfc3339_opt(m.expected_expiration_ts_ms),
        "latest_expiration_time": rfc3339(latest),
        "settlement_timer_seconds": m.settlement_timer_s,
        "status": m.status,
        "yes_bid_dollars": px(yes_bid),
        "yes_bid_size_fp": cnt(m.yes_bid_size),
        "yes_ask_dollars": px(m.yes_ask),
        "yes_ask_size_fp": cnt(m.yes_ask_size),
        "no_bid_dollars": px(no_bid),
        "no_ask_dollars": px(ONE_DOLLAR - yes_bid),
        "last_price_dollars": px(m.last_price),
        "previous_price_dollars": px(m.previous_price),
        "previous_yes_bid_dollars": px(m.previous_yes_bid),
        "previous_yes_ask_dollars": px(m.previous_yes_ask),
        "volume_fp": cnt(m.volume),
        "volume_24h_fp": cnt(m.volume),
        "open_interest_fp": cnt(m.open_interest),
        "notional_value_dollars": px(ONE_DOLLAR),
        "result": m.result,
        "can_close_early": m.can_close_early,
        "expiration_value": m.expiration_value,
        "settlement_value_dollars": None if m.settlement_value is None else px(m.settlement_value),
        "settlement_ts": rfc3339_opt(m.settled_ts_ms),
        "settlement_bounds_type": "default",
        "strike_type": m.strike_type,
        "floor_strike": m.floor_strike,
        "cap_strike": m.cap_strike,
        "rules_primary": m.rules_primary,
        "rules_secondary": m.rules_secondary,
        "price_level_structure": m.grid.structure,
        "price_ranges": m.grid.to_wire(),
        "is_provisional": False,
        "exchange_index": EXCHANGE_INDEX,
    }


def event(e: Event, markets: Iterable[Market] | None = None) -> Json:
    out: Json = {
        "event_ticker": e.event_ticker,
        "series_ticker": e.series_ticker,
        "title": e.title,
        "sub_title": e.sub_title,
        "collateral_return_type": e.collateral_return_type,
        "mutually_exclusive": e.mutually_exclusive,
        "settlement_sources": [],
        "strike_date": rfc3339_opt(e.strike_date_ms),
        "strike_period": e.strike_period,
        "fee_type_override": e.fee_type_override,
        "fee_multiplier_override": (
            None if e.fee_multiplier_override_ppm is None else multiplier(e.fee_multiplier_override_ppm)
        ),
        "last_updated_ts": rfc3339_opt(e.updated_ts_ms or None),
        "exchange_index": EXCHANGE_INDEX,
    }
    if markets is not None:
        out["markets"] = [market(m) for m in markets]
    return out


def series(s: Series, volume: int | None = None) -> Json:
    out: Json = {
        "ticker": s.ticker,
        "title": s.title,
        "frequency": s.frequency,
        "category": s.category,
        "categories": [s.category],
        "tags": list(s.tags),
        "settlement_sources": [dict(x) for x in s.settlement_sources],
        "contract_url": s.contract_url,
        "contract_terms_url": s.contract_terms_url,
        "fee_type": s.fee_type,
        "fee_multiplier": multiplier(s.fee_multiplier_ppm),
        "additional_prohibitions": [],
        "last_updated_ts": rfc3339_opt(s.updated_ts_ms or None),
        "exchange_index": EXCHANGE_INDEX,
    }
    if volume is not None:
        out["volume_fp"] = cnt(volume)
    return out


def orderbook(yes: list[tuple[int, int]], no: list[tuple[int, int]]) -> Json:
    """``GET /markets/{ticker}/orderbook`` body: bids only, ascending, best last, NO side in NO prices (§3.4)."""
    return {
        "orderbook_fp": {
            "yes_dollars": [[px(p), cnt(c)] for p, c in yes],
            "no_dollars": [[px(p), cnt(c)] for p, c in no],
        }
    }


def trade(t: TradeRecord) -> Json:
    outcome = "yes" if t.taker_side == "bid" else "no"
    return {
        "trade_id": t.trade_id,
        "ticker": t.ticker,
        "count_fp": cnt(t.count),
        "yes_price_dollars": px(t.yes_price),
        "no_price_dollars": px(ONE_DOLLAR - t.yes_price),
        "taker_outcome_side": outcome,
        "taker_book_side": t.taker_side,
        "taker_side": outcome,
        "created_time": rfc3339(t.ts_ms),
        "is_block_trade": False,
    }


# --------------------------------------------------------------------------------------------------- orders
def order(o: Order) -> Json:
    outcome = o.outcome
    return {
        "order_id": o.order_id,
        "user_id": o.user_id,
        "client_order_id": o.client_order_id,
        "ticker": o.ticker,
        "outcome_side": outcome,
        "book_side": o.side,
        "side": outcome,
        "action": "buy",
        "type": "limit",
        "status": o.status,
        "yes_price_dollars": px(o.price),
        "no_price_dollars": px(ONE_DOLLAR - o.price),
        "fill_count_fp": cnt(o.filled),
        "remaining_count_fp": cnt(o.remaining),
        "initial_count_fp": cnt(o.initial_count),
        "taker_fill_cost_dollars": cost6(o.taker_fill_cost),
        "maker_fill_cost_dollars": cost6(o.maker_fill_cost),
        "taker_fees_dollars": cost6(o.taker_fees),
        "maker_fees_dollars": cost6(o.maker_fees),
        "expiration_time": None if o.expiration_ts_s is None else rfc3339(o.expiration_ts_s * 1000),
        "created_time": rfc3339(o.created_ts_ms),
        "last_update_time": rfc3339(o.last_update_ts_ms or o.created_ts_ms),
        "self_trade_prevention_type": o.stp,
        "order_group_id": o.order_group_id,
        "cancel_order_on_pause": o.cancel_order_on_pause,
        "subaccount_number": o.subaccount,
        "exchange_index": EXCHANGE_INDEX,
    }


def create_response(r: CreateResult) -> Json:
    """CreateOrderV2Response (also a batch item without ``error``)."""
    out: Json = {
        "order_id": r.order.order_id,
        "client_order_id": r.order.client_order_id,
        "fill_count": cnt(r.fill_count),
        "remaining_count": cnt(r.order.remaining),
        "ts_ms": r.ts_ms,
    }
    if r.fill_count > 0:
        out["average_fill_price"] = format_money(r.average_fill_price or 0, 4)
        out["average_fee_paid"] = format_money(r.average_fee_paid or 0, 4)
    return out


def amend_response(r: CreateResult) -> Json:
    """AmendOrderV2Response: the same order_id; fill fields only when the amend crossed."""
    out: Json = {"order_id": r.order.order_id, "client_order_id": r.order.client_order_id, "ts_ms": r.ts_ms}
    out["remaining_count"] = cnt(r.order.remaining)
    if r.fill_count > 0:
        out["fill_count"] = cnt(r.fill_count)
        out["average_fill_price"] = format_money(r.average_fill_price or 0, 4)
        out["average_fee_paid"] = format_money(r.average_fee_paid or 0, 4)
    return out


def cancel_response(o: Order, reduced_by: int, ts_ms: int) -> Json:
    return {"order_id": o.order_id, "client_order_id": o.client_order_id, "reduced_by": cnt(reduced_by), "ts_ms": ts_ms}


def decrease_response(o: Order, ts_ms: int) -> Json:
    return {
        "order_id": o.order_id,
        "client_order_id": o.client_order_id,
        "remaining_count": cnt(o.remaining),
        "ts_ms": ts_ms,
    }


def batch_error_item(error: Json, client_order_id: str | None = None, order_id: str | None = None) -> Json:
    """A failed batch item: ``{"error": ErrorResponse}`` plus whatever identifies it."""
    out: Json = {"error": error}
    if client_order_id is not None:
        out["client_order_id"] = client_order_id
    if order_id is not None:
        out["order_id"] = order_id
        out["reduced_by"] = cnt(0)  # BatchCancelOrdersV2ResponseOrdersInner requires it
    return out


def queue_position(ahead: int) -> Json:
    return {"queue_position_fp": cnt(ahead)}


# ------------------------------------------------------------------------------------------------ portfolio
def fill(f: FillRecord) -> Json:
    outcome = f.outcome
    return {
        "fill_id": f.trade_id,
        "trade_id": f.trade_id,
        "order_id": f.order_id,
        "ticker": f.ticker,
        "market_ticker": f.ticker,
        "exchange_index": EXCHANGE_INDEX,
        "outcome_side": outcome,
        "book_side": f.side,
        "side": outcome,
        "action": "buy",
        "count_fp": cnt(f.count),
        "yes_price_dollars": px(f.yes_price),
        "no_price_dollars": px(ONE_DOLLAR - f.yes_price),
        "is_taker": f.is_taker,
        "fee_cost": money4(f.fee),
        "created_time": rfc3339(f.ts_ms),
        "ts": f.ts_ms // 1000,
        "subaccount_number": f.subaccount,
    }


def market_position(p: Position) -> Json:
    return {
        "ticker": p.ticker,
        "exchange_index": EXCHANGE_INDEX,
        "total_traded_dollars": money4(p.total_traded),
        "position_fp": cnt(p.position),
        "market_exposure_dollars": money4(p.exposure),
        "realized_pnl_dollars": money4(p.realized_pnl),
        "fees_paid_dollars": money4(p.fees_paid),
        "last_updated_ts": rfc3339(p.last_updated_ts_ms),
    }


def event_positions(positions: Iterable[Position]) -> list[Json]:
    """EventPosition rows: market positions summed per event (first-seen order)."""
    agg: dict[str, list[int]] = {}
    for p in positions:
        a = agg.setdefault(p.event_ticker, [0, 0, 0, 0, 0])
        a[0] += p.total_traded
        a[1] += p.volume
        a[2] += p.exposure
        a[3] += p.realized_pnl
        a[4] += p.fees_paid
    return [
        {
            "event_ticker": et,
            "total_cost_dollars": money4(a[0]),
            "total_cost_shares_fp": cnt(a[1]),
            "event_exposure_dollars": money4(a[2]),
            "realized_pnl_dollars": money4(a[3]),
            "fees_paid_dollars": money4(a[4]),
        }
        for et, a in agg.items()
    ]


def settlement(s: SettlementRecord) -> Json:
    return {
        "ticker": s.ticker,
        "event_ticker": s.event_ticker,
        "exchange_index": EXCHANGE_INDEX,
        "market_result": s.result,
        "yes_count_fp": cnt(s.yes_count),
        "yes_total_cost_dollars": money4(s.yes_total_cost),
        "no_count_fp": cnt(s.no_count),
        "no_total_cost_dollars": money4(s.no_total_cost),
        "revenue": s.revenue // 10_000,  # integer cents (API.md §3.8)
        "value": s.value // 10_000,
        "fee_cost": money4(s.fee_cost),
        "settled_time": rfc3339(s.settled_ts_ms),
    }


def balance(a: Account, portfolio_value: int) -> Json:
    """GetBalanceResponse: ``balance``/``portfolio_value`` integer cents (floored), ``balance_dollars`` exact."""
    return {
        "balance": a.balance // 10_000,
        "balance_dollars": money4(a.balance),
        "portfolio_value": portfolio_value // 10_000,
        "updated_ts": a.updated_ts_ms // 1000,
        "balance_breakdown": [{"exchange_index": EXCHANGE_INDEX, "balance": money4(a.balance)}],
    }


# --------------------------------------------------------------------------------------------- order groups
def order_group(g: OrderGroup) -> Json:
    return {
        "id": g.group_id,
        "contracts_limit_fp": cnt(g.contracts_limit),
        "is_auto_cancel_enabled": True,
        "exchange_index": EXCHANGE_INDEX,
    }


def order_group_detail(g: OrderGroup, resting_order_ids: list[str]) -> Json:
    return {
        "is_auto_cancel_enabled": True,
        "contracts_limit_fp": cnt(g.contracts_limit),
        "orders": resting_order_ids,
        "exchange_index": EXCHANGE_INDEX,
    }


def order_group_created(g: OrderGroup) -> Json:
    return {"order_group_id": g.group_id, "subaccount": g.subaccount, "exchange_index": EXCHANGE_INDEX}


# ------------------------------------------------------------------------------------------------- exchange
def exchange_status(sched: ExchangeSchedule, now_ms: int) -> Json:
    ex_active = sched.exchange_active(now_ms)
    tr_active = sched.trading_active(now_ms)
    window = sched.maintenance_at(now_ms)
    return {
        "exchange_active": ex_active,
        "trading_active": tr_active,
        "exchange_estimated_resume_time": rfc3339(window[1]) if window else None,
        "intra_exchange_transfers_active": ex_active,
        "exchange_index_statuses": [
            {
                "exchange_index": EXCHANGE_INDEX,
                "description": "simulated exchange",
                "exchange_active": ex_active,
                "trading_active": tr_active,
                "intra_exchange_transfers_active": ex_active,
            }
        ],
    }


def schedule(sched: ExchangeSchedule, now_ms: int) -> Json:
    """GetExchangeScheduleResponse: one weekly schedule valid for a year around ``now_ms``."""
    year_ms = 366 * 86_400_000
    week: Json = {
        day: [{"open_time": o, "close_time": c} for o, c in sessions] for day, sessions in sched.standard_hours.items()
    }
    week["start_time"] = rfc3339(max(0, now_ms - year_ms))
    week["end_time"] = rfc3339(now_ms + year_ms)
    return {
        "schedule": {
            "standard_hours": [week],
            "maintenance_windows": [
                {"start_datetime": rfc3339(s), "end_datetime": rfc3339(e)} for s, e in sched.maintenance_windows
            ],
        }
    }
