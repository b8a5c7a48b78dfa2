"""Pydantic models of the WebSocket messages other than ``orderbook_delta`` (API.md §5.3), and their conversion
into core events. Lenient like the REST models: unknown fields ignored, numbers accepted where strings are
documented. The delta fast path is in ``decode.py``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from kalshibot.core import events as ev
from kalshibot.core.fixed import Count, Money, Price
from kalshibot.core.grid import PriceGrid
from kalshibot.errors import GridError
from kalshibot.net.rest_models import CountF, MoneyF, PriceF


class _M(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class SnapshotBody(_M):
    market_ticker: str
    yes_dollars_fp: list[tuple[PriceF, CountF]] = Field(default_factory=list)  # absent when the side is empty
    no_dollars_fp: list[tuple[PriceF, CountF]] = Field(default_factory=list)
    ts_ms: int | None = None


class TradeBody(_M):
    trade_id: str
    market_ticker: str
    yes_price_dollars: PriceF
    count_fp: CountF
    taker_outcome_side: Literal["yes", "no"] | None = None
    taker_side: Literal["yes", "no"] | None = None  # deprecated twin
    ts_ms: int | None = None
    ts: int | None = None

    def to_event(self) -> ev.TradePrint:
        taker: ev.Outcome = self.taker_outcome_side or self.taker_side or "yes"
        return ev.TradePrint(
            self.market_ticker,
            self.trade_id,
            Price(self.yes_price_dollars),
            Count(self.count_fp),
            taker,
            self.ts_ms or (self.ts or 0) * 1000,
        )


class FillBody(_M):
    trade_id: str
    order_id: str
    client_order_id: str | None = None
    market_ticker: str
    is_taker: bool = False
    outcome_side: Literal["yes", "no"] | None = None
    purchased_side: Literal["yes", "no"] | None = None  # deprecated twin
    book_side: Literal["bid", "ask"] | None = None
    yes_price_dollars: PriceF
    count_fp: CountF
    fee_cost: MoneyF = 0
    post_position_fp: CountF | None = None
    ts_ms: int | None = None
    ts: int | None = None

    def to_event(self) -> ev.FillEvent:
        outcome: ev.Outcome = self.outcome_side or self.purchased_side or ("yes" if self.book_side == "bid" else "no")
        book_side: ev.BookSide = self.book_side or ("bid" if outcome == "yes" else "ask")
        return ev.FillEvent(
            order_id=self.order_id,
            trade_id=self.trade_id,
            ticker=self.market_ticker,
            outcome=outcome,
            book_side=book_side,
            yes_price=Price(self.yes_price_dollars),
            count=Count(self.count_fp),
            fee=Money(self.fee_cost),
            is_taker=self.is_taker,
            client_order_id=self.client_order_id or None,
            post_position=Count(self.post_position_fp) if self.post_position_fp is not None else None,
            ts_ms=self.ts_ms or (self.ts or 0) * 1000,
        )


class UserOrderBody(_M):
    order_id: str
    client_order_id: str | None = None
    ticker: str
    status: Literal["resting", "canceled", "executed", "unknown"]
    book_side: Literal["bid", "ask"] | None = None
    is_yes: bool | None = None
    side: str | None = None
    yes_price_dollars: PriceF
    fill_count_fp: CountF = 0
    remaining_count_fp: CountF = 0
    initial_count_fp: CountF = 0
    expiration_ts_ms: int | None = None
    last_updated_ts_ms: int | None = None
    last_update_reason: str | None = None
    order_group_id: str | None = None

    def to_event(self) -> ev.OrderUpdate:
        side: ev.BookSide = self.book_side or ("bid" if (self.is_yes or self.side == "yes") else "ask")
        return ev.OrderUpdate(
            order_id=self.order_id,
            client_order_id=self.client_order_id or None,
            ticker=self.ticker,
            status=self.status,
            book_side=side,
            yes_price=Price(self.yes_price_dollars),
            fill_count=Count(self.fill_count_fp),
            remaining_count=Count(self.remaining_count_fp),
            initial_count=Count(self.initial_count_fp),
            reason=self.last_update_reason or "",
            expiration_ts_s=self.expiration_ts_ms // 1000 if self.expiration_ts_ms else None,
            ts_ms=self.last_updated_ts_ms or 0,
        )


class PositionBody(_M):
    market_ticker: str
    position_fp: CountF
    realized_pnl_dollars: MoneyF | None = None
    fees_paid_dollars: MoneyF | None = None

    def to_event(self) -> ev.PositionSnapshot:
        return ev.PositionSnapshot(
            self.market_ticker,
            Count(self.position_fp),
            Money(self.realized_pnl_dollars) if self.realized_pnl_dollars is not None else None,
            Money(self.fees_paid_dollars) if self.fees_paid_dollars is not None else None,
        )


class LifecycleBody(_M):
    market_ticker: str
    event_type: str
    close_ts: int | None = None
    result: str | None = None
    settlement_value: PriceF | None = None
    price_level_structure: str | None = None
    price_ranges: list[dict[str, Any]] | None = None
    is_deactivated: bool | None = None
    determination_ts: int | None = None
    settled_ts: int | None = None

    def to_event(self, now_ms: int) -> ev.MarketLifecycle:
        grid: PriceGrid | None = None
        if self.event_type == "price_level_structure_updated" or self.price_ranges:
            try:
                grid = PriceGrid.from_wire(self.price_ranges or [], self.price_level_structure or "")
            except GridError:
                grid = None  # the engine keeps its grid; a later REST read of the market corrects it
        return ev.MarketLifecycle(
            ticker=self.market_ticker,
            event_type=self.event_type,
            close_ts_ms=self.close_ts * 1000 if self.close_ts is not None else None,
            result=self.result,
            settlement_value=Price(self.settlement_value) if self.settlement_value is not None else None,
            grid=grid,
            is_deactivated=self.is_deactivated,
            ts_ms=now_ms,
        )


class FeeUpdateBody(_M):
    event_ticker: str
    fee_type_override: str | None = None
    fee_multiplier_override: float | None = None

    def to_event(self) -> ev.FeeChange:
        ppm = round(self.fee_multiplier_override * 1_000_000) if self.fee_multiplier_override is not None else None
        return ev.FeeChange(self.event_ticker, None, self.fee_type_override, ppm)


class GroupUpdateBody(_M):
    event_type: str
    order_group_id: str
    contracts_limit_fp: CountF | None = None
    ts_ms: int | None = None
