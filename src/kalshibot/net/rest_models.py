"""Pydantic models of the REST responses the bot reads (API.md §3, SDK 3.34.0 schemas), and their conversion
into core types.

Parse once at the edge: every price, count and money field goes through ``kalshibot.core.fixed`` (strings or, as
Kalshi sometimes sends, JSON numbers, API.md §4) into integer micro-dollars / centi-contracts. Unknown fields are
ignored (Kalshi adds fields often); fields the bot does not need are left out, and fields that the spec marks
required but the bot can live without get defaults so a thin response (the simulator, an older shard) still parses.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from kalshibot.core import events as ev
from kalshibot.core.fixed import Count, Money, Price, parse_count, parse_money, parse_price
from kalshibot.core.grid import PriceGrid


def _price(v: object) -> Price:
    return parse_price(v)


def _count(v: object) -> Count:
    return parse_count(v, signed=True)


def _money(v: object) -> Money:
    return parse_money(v)


PriceF = Annotated[int, BeforeValidator(_price)]
CountF = Annotated[int, BeforeValidator(_count)]
MoneyF = Annotated[int, BeforeValidator(_money)]


def rfc3339_to_ms(value: str | int | None) -> int | None:
    """An RFC3339 timestamp (or Unix seconds, as some ``*_ts`` fields are) -> Unix ms; None stays None."""
    if value is None or value == "":
        return None
    if isinstance(value, int):
        return value * 1000
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return int(dt.timestamp() * 1000)


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


# ------------------------------------------------------------------------------------------------ exchange
class ExchangeStatus(_Model):
    exchange_active: bool
    trading_active: bool
    exchange_estimated_resume_time: str | None = None

    def to_event(self) -> ev.ExchangeState:
        return ev.ExchangeState(
            self.exchange_active, self.trading_active, rfc3339_to_ms(self.exchange_estimated_resume_time)
        )


class Series(_Model):
    ticker: str
    title: str = ""
    fee_type: str = "quadratic"
    fee_multiplier: float = 1.0

    @property
    def fee_multiplier_ppm(self) -> int:
        # float on the wire (API.md §8); snapped to ppm at once
        return round(self.fee_multiplier * 1_000_000)


class Market(_Model):
    ticker: str
    event_ticker: str
    status: str
    close_time: str | None = None
    result: str = ""
    price_level_structure: str = ""
    price_ranges: list[dict[str, Any]] = Field(default_factory=list)
    yes_bid_dollars: PriceF | None = None
    yes_ask_dollars: PriceF | None = None
    exchange_index: int | None = None

    def grid(self) -> PriceGrid:
        return PriceGrid.from_wire(self.price_ranges, self.price_level_structure)

    def to_spec(
        self,
        *,
        series_ticker: str,
        fee_type: str = "quadratic_with_maker_fees",
        fee_multiplier_ppm: int = 1_000_000,
        mutually_exclusive: bool = False,
    ) -> ev.MarketSpec:
        return ev.MarketSpec(
            ticker=self.ticker,
            event_ticker=self.event_ticker,
            series_ticker=series_ticker,
            grid=self.grid(),
            status=self.status,
            close_ts_ms=rfc3339_to_ms(self.close_time),
            fee_type=fee_type,
            fee_multiplier_ppm=fee_multiplier_ppm,
            mutually_exclusive=mutually_exclusive,
            result=self.result,
        )


class MarketsPage(_Model):
    markets: list[Market]
    cursor: str = ""


class Orderbook(_Model):
    """REST book: bids only, ascending, best last (API.md §3.4); NO side in NO-leg prices."""

    yes_dollars: list[tuple[PriceF, CountF]] = Field(default_factory=list)
    no_dollars: list[tuple[PriceF, CountF]] = Field(default_factory=list)


class OrderbookResponse(_Model):
    orderbook_fp: Orderbook


# --------------------------------------------------------------------------------------------------- orders
class Order(_Model):
    order_id: str
    client_order_id: str | None = None
    ticker: str
    status: Literal["resting", "canceled", "executed", "unknown"]
    book_side: Literal["bid", "ask"] | None = None
    side: str | None = None  # deprecated yes|no
    action: str | None = None  # deprecated buy|sell
    yes_price_dollars: PriceF
    fill_count_fp: CountF = 0
    remaining_count_fp: CountF = 0
    initial_count_fp: CountF = 0
    taker_fees_dollars: MoneyF = 0
    maker_fees_dollars: MoneyF = 0
    expiration_time: str | int | None = None
    created_time: str | None = None
    last_update_time: str | None = None
    order_group_id: str | None = None
    subaccount_number: int | None = None

    def resolved_book_side(self) -> ev.BookSide:
        if self.book_side is not None:
            return self.book_side
        # API.md §3.6: buy-yes & sell-no -> bid; buy-no & sell-yes -> ask
        buy = self.action != "sell"
        return "bid" if (self.side == "yes") == buy else "ask"

    def to_update(self) -> ev.OrderUpdate:
        exp_ms = rfc3339_to_ms(self.expiration_time)
        return ev.OrderUpdate(
            order_id=self.order_id,
            client_order_id=self.client_order_id or None,
            ticker=self.ticker,
            status=self.status,
            book_side=self.resolved_book_side(),
            yes_price=Price(self.yes_price_dollars),
            fill_count=Count(self.fill_count_fp),
            remaining_count=Count(self.remaining_count_fp),
            initial_count=Count(self.initial_count_fp),
            expiration_ts_s=exp_ms // 1000 if exp_ms is not None else None,
            ts_ms=rfc3339_to_ms(self.last_update_time) or 0,
        )


class OrdersPage(_Model):
    orders: list[Order]
    cursor: str = ""


class OrderResponse(_Model):
    order: Order


class ErrorBody(_Model):
    code: str | None = None
    message: str = ""
    details: str | None = None


class CreateOrderResult(_Model):
    """V2 create response (201) and batch-create item (API.md §3.5)."""

    order_id: str | None = None
    client_order_id: str | None = None
    fill_count: CountF = 0
    remaining_count: CountF = 0
    average_fill_price: PriceF | None = None
    average_fee_paid: MoneyF | None = None
    ts_ms: int = 0
    error: ErrorBody | None = None


class BatchCreateResponse(_Model):
    orders: list[CreateOrderResult]


class CancelResult(_Model):
    order_id: str | None = None
    client_order_id: str | None = None
    reduced_by: CountF = 0
    ts_ms: int = 0
    error: ErrorBody | None = None


class BatchCancelResponse(_Model):
    orders: list[CancelResult]


class AmendResult(_Model):
    order_id: str
    client_order_id: str | None = None
    remaining_count: CountF | None = None
    fill_count: CountF | None = None
    average_fill_price: PriceF | None = None
    average_fee_paid: MoneyF | None = None
    ts_ms: int = 0


class DecreaseResult(_Model):
    order_id: str
    client_order_id: str | None = None
    remaining_count: CountF
    ts_ms: int = 0


# ------------------------------------------------------------------------------------------------ portfolio
class MarketPosition(_Model):
    ticker: str
    position_fp: CountF
    realized_pnl_dollars: MoneyF | None = None
    fees_paid_dollars: MoneyF | None = None
    market_exposure_dollars: MoneyF | None = None

    def to_snapshot(self) -> ev.PositionSnapshot:
        return ev.PositionSnapshot(
            self.ticker,
            Count(self.position_fp),
            Money(self.realized_pnl_dollars) if self.realized_pnl_dollars is not None else None,
            Money(self.fees_paid_dollars) if self.fees_paid_dollars is not None else None,
        )


class PositionsPage(_Model):
    market_positions: list[MarketPosition] = Field(default_factory=list)
    cursor: str = ""


class Fill(_Model):
    fill_id: str | None = None
    trade_id: str
    order_id: str
    ticker: str | None = None
    market_ticker: str | None = None
    outcome_side: Literal["yes", "no"] | None = None
    book_side: Literal["bid", "ask"] | None = None
    side: str | None = None
    action: str | None = None
    count_fp: CountF
    yes_price_dollars: PriceF
    is_taker: bool = False
    fee_cost: MoneyF = 0
    client_order_id: str | None = None  # removed from REST fills Mar 30 2026 (API.md §0); kept if present
    ts: int | None = None  # Unix seconds
    created_time: str | None = None

    def to_event(self, client_order_id: str | None = None) -> ev.FillEvent:
        book_side: ev.BookSide
        if self.book_side is not None:
            book_side = self.book_side
        else:
            buy = self.action != "sell"
            book_side = "bid" if (self.side == "yes") == buy else "ask"
        outcome: ev.Outcome = self.outcome_side or ("yes" if book_side == "bid" else "no")
        ts_ms = self.ts * 1000 if self.ts is not None else (rfc3339_to_ms(self.created_time) or 0)
        return ev.FillEvent(
            order_id=self.order_id,
            trade_id=self.trade_id,
            ticker=self.market_ticker or self.ticker or "",
            outcome=outcome,
            book_side=book_side,
            yes_price=Price(self.yes_price_dollars),
            count=Count(self.count_fp),
            fee=Money(self.fee_cost),
            is_taker=self.is_taker,
            client_order_id=client_order_id or self.client_order_id,
            ts_ms=ts_ms,
        )


class FillsPage(_Model):
    fills: list[Fill]
    cursor: str = ""


class Balance(_Model):
    balance: int  # integer cents (API.md §3.8)
    balance_dollars: MoneyF | None = None
    portfolio_value: int = 0
    updated_ts: int = 0

    @property
    def balance_micros(self) -> Money:
        return Money(self.balance_dollars) if self.balance_dollars is not None else Money(self.balance * 10_000)


class BucketLimit(_Model):
    refill_rate: int
    bucket_capacity: int


class AccountLimits(_Model):
    usage_tier: str = "basic"
    read: BucketLimit
    write: BucketLimit


class OrderGroupCreated(_Model):
    order_group_id: str
    subaccount: int = 0


class OrderGroupInfo(_Model):
    is_auto_cancel_enabled: bool = False
    contracts_limit_fp: CountF | None = None
    orders: list[str] = Field(default_factory=list)


class LoginResponse(_Model):
    member_id: str = ""
    token: str

    def __repr__(self) -> str:  # the token is a secret
        return f"LoginResponse(member_id={self.member_id!r}, token=****)"

    __str__ = __repr__
