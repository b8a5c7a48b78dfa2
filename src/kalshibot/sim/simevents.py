"""The exchange's event stream: one frozen dataclass per state change, each able to render its WS message body.

Theory of operation
-------------------
Every state change of :class:`~kalshibot.sim.exchange.Exchange` is announced synchronously to
``exchange.listeners`` as one of the events below, in the order it happened. The WebSocket layer routes them to
subscriptions and wraps ``to_wire()`` (the ``msg`` body of API.md §5.3) with ``type``/``sid``/``seq``:

==================  =========================  ===========================================================
event               WS ``type``                notes
==================  =========================  ===========================================================
BookChanged         ``orderbook_delta``        ``side`` yes|no; a NO level is in NO-leg price (Kalshi's
                                               default); ``client_order_id`` only for the owner
TradeEvent          ``trade``
FillEvent           ``fill``                   private to ``user_id``
OrderEvent          ``user_order``             private; a snapshot of the order with ``last_update_reason``
PositionEvent       ``market_position``        private
LifecycleEvent      ``market_lifecycle_v2``
EventCreated        ``event_lifecycle``        (channel ``market_lifecycle_v2``)
EventFeeEvent       ``event_fee_update``       (channel ``market_lifecycle_v2``)
OrderGroupEvent     ``order_group_updates``    private
==================  =========================  ===========================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from kalshibot.core.fixed import ONE_DOLLAR
from kalshibot.sim import wire
from kalshibot.sim.accounts import FillRecord

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class BookChanged:
    ticker: str
    market_id: str
    side: Literal["yes", "no"]
    price: int  # YES bid price for side "yes"; NO-leg price (1 - YES ask) for side "no"
    delta: int  # signed centi-contracts
    user_id: str | None
    client_order_id: str | None
    subaccount: int
    ts_ms: int

    ws_type = "orderbook_delta"

    @property
    def yes_price(self) -> int:
        """The level's YES-leg price (for ``use_yes_price`` subscriptions)."""
        return self.price if self.side == "yes" else ONE_DOLLAR - self.price

    def to_wire(self, for_user: str | None = None, use_yes_price: bool = False) -> Json:
        out: Json = {
            "market_ticker": self.ticker,
            "market_id": self.market_id,
            "price_dollars": wire.px(self.yes_price if use_yes_price else self.price),
            "delta_fp": wire.cnt(self.delta),
            "side": self.side,
            "ts_ms": self.ts_ms,
            "ts": wire.rfc3339(self.ts_ms),
        }
        # API.md §5.3: client_order_id (+ subaccount) only when your own order caused the change
        if for_user is not None and for_user == self.user_id and self.client_order_id is not None:
            out["client_order_id"] = self.client_order_id
            out["subaccount"] = self.subaccount
        return out


@dataclass(frozen=True, slots=True)
class TradeEvent:
    trade_id: str
    ticker: str
    yes_price: int
    count: int
    taker_side: Literal["bid", "ask"]
    ts_ms: int

    ws_type = "trade"

    def to_wire(self) -> Json:
        outcome = "yes" if self.taker_side == "bid" else "no"
        return {
            "trade_id": self.trade_id,
            "market_ticker": self.ticker,
            "yes_price_dollars": wire.px(self.yes_price),
            "no_price_dollars": wire.px(ONE_DOLLAR - self.yes_price),
            "count_fp": wire.cnt(self.count),
            "taker_side": outcome,
            "taker_outcome_side": outcome,
            "taker_book_side": self.taker_side,
            "is_block_trade": False,
            "ts": self.ts_ms // 1000,
            "ts_ms": self.ts_ms,
        }


@dataclass(frozen=True, slots=True)
class FillEvent:
    user_id: str
    fill: FillRecord

    ws_type = "fill"

    @property
    def ticker(self) -> str:
        return self.fill.ticker

    def to_wire(self) -> Json:
        f = self.fill
        outcome = f.outcome
        return {
            "trade_id": f.trade_id,
            "order_id": f.order_id,
            "client_order_id": f.client_order_id,
            "market_ticker": f.ticker,
            "exchange_index": wire.EXCHANGE_INDEX,
            "is_taker": f.is_taker,
            "side": outcome,
            "action": "buy",
            "purchased_side": outcome,
            "outcome_side": outcome,
            "book_side": f.side,
            "yes_price_dollars": wire.px(f.yes_price),
            "count_fp": wire.cnt(f.count),
            "fee_cost": wire.cost6(f.fee),
            "post_position_fp": wire.cnt(f.post_position),
            "subaccount": f.subaccount,
            "ts": f.ts_ms // 1000,
            "ts_ms": f.ts_ms,
        }


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """A snapshot of an order after a change (``order`` is the REST ``Order`` dict at that instant)."""

    user_id: str
    ticker: str
    order_id: str
    client_order_id: str
    status: str
    last_update_reason: str
    ts_ms: int
    order: Json = field(repr=False)
    created_ts_ms: int = 0
    expiration_ts_ms: int | None = None

    ws_type = "user_order"

    def to_wire(self) -> Json:
        o = self.order
        return {
            "order_id": o["order_id"],
            "user_id": o["user_id"],
            "ticker": o["ticker"],
            "exchange_index": wire.EXCHANGE_INDEX,
            "status": o["status"],
            "side": o["outcome_side"],
            "is_yes": o["outcome_side"] == "yes",
            "outcome_side": o["outcome_side"],
            "book_side": o["book_side"],
            "yes_price_dollars": o["yes_price_dollars"],
            "fill_count_fp": o["fill_count_fp"],
            "remaining_count_fp": o["remaining_count_fp"],
            "initial_count_fp": o["initial_count_fp"],
            "taker_fill_cost_dollars": o["taker_fill_cost_dollars"],
            "maker_fill_cost_dollars": o["maker_fill_cost_dollars"],
            "taker_fees_dollars": o["taker_fees_dollars"],
            "maker_fees_dollars": o["maker_fees_dollars"],
            "client_order_id": o["client_order_id"],
            "order_group_id": o["order_group_id"],
            "self_trade_prevention_type": o["self_trade_prevention_type"],
            "created_time": o["created_time"],
            "created_ts_ms": self.created_ts_ms,
            "expiration_time": o["expiration_time"],
            "expiration_ts_ms": self.expiration_ts_ms,
            "last_updated_ts_ms": self.ts_ms,
            "last_update_reason": self.last_update_reason,
            "subaccount_number": o["subaccount_number"],
        }


@dataclass(frozen=True, slots=True)
class PositionEvent:
    user_id: str
    ticker: str
    position: int
    position_cost: int
    realized_pnl: int
    fees_paid: int
    volume: int
    subaccount: int
    ts_ms: int

    ws_type = "market_position"

    def to_wire(self) -> Json:
        return {
            "user_id": self.user_id,
            "market_ticker": self.ticker,
            "position_fp": wire.cnt(self.position),
            "position_cost_dollars": wire.money4(self.position_cost),
            "realized_pnl_dollars": wire.money4(self.realized_pnl),
            "fees_paid_dollars": wire.money4(self.fees_paid),
            "position_fee_cost_dollars": wire.money4(self.fees_paid),
            "volume_fp": wire.cnt(self.volume),
            "subaccount": self.subaccount,
        }


@dataclass(frozen=True, slots=True)
class LifecycleEvent:
    """``event_type`` in created|activated|deactivated|close_date_updated|determined|settled|
    price_level_structure_updated; ``fields`` are the extra keys of that variant (already wire-shaped)."""

    ticker: str
    event_type: str
    ts_ms: int
    fields: Json = field(default_factory=dict)

    ws_type = "market_lifecycle_v2"

    def to_wire(self) -> Json:
        return {"market_ticker": self.ticker, "event_type": self.event_type, "exchange_index": 0, **self.fields}


@dataclass(frozen=True, slots=True)
class EventCreated:
    event_ticker: str
    series_ticker: str
    title: str
    subtitle: str
    collateral_return_type: str
    ts_ms: int

    ws_type = "event_lifecycle"

    def to_wire(self) -> Json:
        return {
            "event_ticker": self.event_ticker,
            "exchange_index": 0,
            "title": self.title,
            "subtitle": self.subtitle,
            "collateral_return_type": self.collateral_return_type,
            "series_ticker": self.series_ticker,
        }


@dataclass(frozen=True, slots=True)
class EventFeeEvent:
    event_ticker: str
    fee_type_override: str | None
    fee_multiplier_override_ppm: int | None
    ts_ms: int

    ws_type = "event_fee_update"

    def to_wire(self) -> Json:
        m = self.fee_multiplier_override_ppm
        return {
            "event_ticker": self.event_ticker,
            "fee_type_override": self.fee_type_override,
            "fee_multiplier_override": None if m is None else wire.multiplier(m),
        }


@dataclass(frozen=True, slots=True)
class OrderGroupEvent:
    """``event_type`` in created|triggered|reset|deleted|limit_updated (API.md §5.2)."""

    user_id: str
    event_type: str
    order_group_id: str
    contracts_limit: int | None
    ts_ms: int

    ws_type = "order_group_updates"

    def to_wire(self) -> Json:
        out: Json = {"event_type": self.event_type, "order_group_id": self.order_group_id, "ts_ms": self.ts_ms}
        if self.contracts_limit is not None:
            out["contracts_limit_fp"] = wire.cnt(self.contracts_limit)
        return out


SimEvent = (
    BookChanged
    | TradeEvent
    | FillEvent
    | OrderEvent
    | PositionEvent
    | LifecycleEvent
    | EventCreated
    | EventFeeEvent
    | OrderGroupEvent
)
