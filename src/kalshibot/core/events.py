"""The core's vocabulary: what goes in (events) and what comes out (actions and journal notes).

Theory of operation
-------------------
The async shells (WebSocket feed, REST client, executor, timers, operator control) turn everything they see into
one of the frozen event dataclasses below and hand it to ``Engine.handle(event, now_ms)``. The engine answers with a
list of outputs: *order actions* (place, amend, decrease, cancel) the executor carries out, *book actions*
(resync) the feed carries out, and *notes* (intent, risk, lifecycle, settlement) that only go to the journal.
Paper trading, the simulator-backed demo, backtests and replay use exactly these types; only the shells differ.

Conventions: prices are YES-leg micro-dollars unless a field says otherwise (``no_price``), counts are
centi-contracts, times are integers with the unit in the name. ``side`` of an order action is the V2 book side
(``bid`` = buy YES, ``ask`` = sell YES = buy NO at 1 - price); ``outcome`` is the outcome bought (``yes``|``no``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from kalshibot.core.fixed import Count, Money, Price
from kalshibot.core.grid import PriceGrid

Outcome = Literal["yes", "no"]
BookSide = Literal["bid", "ask"]
TimeInForce = Literal["good_till_canceled", "immediate_or_cancel", "fill_or_kill"]
OrderStatus = Literal["resting", "canceled", "executed", "unknown"]


# --------------------------------------------------------------------------------------------- market metadata
@dataclass(frozen=True, slots=True)
class MarketSpec:
    """What the core needs to know about one market (built by the shell from REST ``Market`` + its event/series)."""

    ticker: str
    event_ticker: str
    series_ticker: str
    grid: PriceGrid
    status: str = "active"  # Kalshi market status: initialized|active|inactive|closed|determined|finalized...
    close_ts_ms: int | None = None
    fee_type: str = "quadratic_with_maker_fees"
    fee_multiplier_ppm: int = 1_000_000  # fee multiplier in parts per million (1.0 = 1_000_000)
    mutually_exclusive: bool = False  # the event's outcomes are mutually exclusive (temperature brackets)
    result: str = ""  # "yes" | "no" | "" once determined


# --------------------------------------------------------------------------------------------------- events in
@dataclass(frozen=True, slots=True)
class BookSnapshot:
    """A full book. ``yes`` are YES bids; ``no`` are NO bids, in NO-leg prices unless ``no_in_yes_prices``
    (the subscription's ``use_yes_price``), in which case each NO bid at q is given as the YES ask 1 - q."""

    ticker: str
    sid: int
    seq: int
    yes: tuple[tuple[Price, Count], ...]
    no: tuple[tuple[Price, Count], ...]
    no_in_yes_prices: bool = False
    ts_ms: int = 0


@dataclass(frozen=True, slots=True)
class BookDelta:
    ticker: str
    sid: int
    seq: int
    side: Outcome
    price: Price  # for side "no": NO-leg price unless no_in_yes_prices
    delta: Count  # signed, possibly fractional
    no_in_yes_prices: bool = False
    client_order_id: str | None = None  # present when our own order caused the change
    ts_ms: int = 0


@dataclass(frozen=True, slots=True)
class BookGap:
    """The feed saw a sequence gap (or a terminal channel error) for these markets: their books are invalid."""

    tickers: tuple[str, ...]
    sid: int
    reason: str = "gap"


@dataclass(frozen=True, slots=True)
class FeedDown:
    """Market data for these markets is lost (connection dropped / stale); quotes there must come down."""

    tickers: tuple[str, ...]
    reason: str = "disconnected"


@dataclass(frozen=True, slots=True)
class TradePrint:
    ticker: str
    trade_id: str
    yes_price: Price
    count: Count
    taker_outcome: Outcome
    ts_ms: int = 0


@dataclass(frozen=True, slots=True)
class FillEvent:
    """One fill of one of our orders (WS ``fill``, REST ``/portfolio/fills``, or the paper venue)."""

    order_id: str
    trade_id: str
    ticker: str
    outcome: Outcome  # the outcome bought: bid fills buy YES, ask fills buy NO
    book_side: BookSide
    yes_price: Price
    count: Count
    fee: Money
    is_taker: bool
    client_order_id: str | None = None
    post_position: Count | None = None  # signed, + YES, when the venue tells us
    ts_ms: int = 0
    paper: bool = False


@dataclass(frozen=True, slots=True)
class OrderAck:
    """A create (or batch item) accepted: the exchange's ``order_id`` for our ``client_order_id``."""

    client_order_id: str
    order_id: str
    fill_count: Count = Count(0)
    remaining_count: Count = Count(0)
    exchange_ts_ms: int = 0


@dataclass(frozen=True, slots=True)
class OrderReject:
    """A create/amend/decrease/cancel refused by the exchange (or by our own client before sending)."""

    client_order_id: str
    order_id: str | None
    code: str
    message: str
    request: Literal["create", "amend", "decrease", "cancel"] = "create"
    exchange_ts_ms: int = 0


@dataclass(frozen=True, slots=True)
class CancelAck:
    order_id: str
    client_order_id: str | None
    reduced_by: Count  # remaining count at cancel time; 0 means it had already filled
    exchange_ts_ms: int = 0


@dataclass(frozen=True, slots=True)
class AmendAck:
    order_id: str
    client_order_id: str  # the (possibly updated) client_order_id now on the order
    price: Price
    remaining_count: Count
    fill_count: Count
    expiration_ts_s: int | None = None
    exchange_ts_ms: int = 0


@dataclass(frozen=True, slots=True)
class DecreaseAck:
    order_id: str
    client_order_id: str | None
    remaining_count: Count
    exchange_ts_ms: int = 0


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """The venue's view of an order (WS ``user_order`` or REST ``Order``): authoritative state."""

    order_id: str
    client_order_id: str | None
    ticker: str
    status: OrderStatus
    book_side: BookSide
    yes_price: Price
    fill_count: Count
    remaining_count: Count
    initial_count: Count
    reason: str = ""  # last_update_reason: Trade, PostOnlyCrossCancel, CloseCancel, ExpiryCancel, ...
    expiration_ts_s: int | None = None
    ts_ms: int = 0


@dataclass(frozen=True, slots=True)
class OutcomeUnknown:
    """A request whose outcome we do not know (timeout after send, lost ack): the market is blocked until a
    lookup by client_order_id resolves it (the shell then sends OrderAck/OrderReject/OrderUpdate)."""

    client_order_id: str
    order_id: str | None = None
    request: Literal["create", "amend", "decrease", "cancel"] = "create"


@dataclass(frozen=True, slots=True)
class MarketAdded:
    spec: MarketSpec


@dataclass(frozen=True, slots=True)
class MarketRemoved:
    ticker: str


@dataclass(frozen=True, slots=True)
class MarketLifecycle:
    """WS ``market_lifecycle_v2`` (or a REST status change): ``event_type`` is Kalshi's."""

    ticker: str
    event_type: str  # created|activated|deactivated|close_date_updated|determined|settled|price_level_structure_updated
    close_ts_ms: int | None = None
    result: str | None = None
    settlement_value: Price | None = None
    grid: PriceGrid | None = None
    is_deactivated: bool | None = None
    ts_ms: int = 0


@dataclass(frozen=True, slots=True)
class FeeChange:
    """A series/event fee change (WS ``event_fee_update`` or REST): applies to markets of that event/series."""

    event_ticker: str | None
    series_ticker: str | None
    fee_type: str | None
    fee_multiplier_ppm: int | None


@dataclass(frozen=True, slots=True)
class ExchangeState:
    exchange_active: bool
    trading_active: bool
    maintenance_until_ms: int | None = None


@dataclass(frozen=True, slots=True)
class PositionSnapshot:
    """Reconciliation: the venue's position in a market (signed, + YES) and its realized PnL/fees if known."""

    ticker: str
    position: Count
    realized_pnl: Money | None = None
    fees_paid: Money | None = None


@dataclass(frozen=True, slots=True)
class OrderGroupTriggered:
    order_group_id: str


@dataclass(frozen=True, slots=True)
class Timer:
    """Wake-up at or after ``Engine.next_deadline()``."""


@dataclass(frozen=True, slots=True)
class OperatorCommand:
    command: Literal["halt", "resume", "flatten", "shutdown"]
    reason: str = "operator"


Event = (
    BookSnapshot
    | BookDelta
    | BookGap
    | FeedDown
    | TradePrint
    | FillEvent
    | OrderAck
    | OrderReject
    | CancelAck
    | AmendAck
    | DecreaseAck
    | OrderUpdate
    | OutcomeUnknown
    | MarketAdded
    | MarketRemoved
    | MarketLifecycle
    | FeeChange
    | ExchangeState
    | PositionSnapshot
    | OrderGroupTriggered
    | Timer
    | OperatorCommand
)


# -------------------------------------------------------------------------------------------------- actions out
@dataclass(frozen=True, slots=True)
class PlaceOrder:
    client_order_id: str
    ticker: str
    side: BookSide
    price: Price  # YES-leg price (V2)
    count: Count
    intent_id: str
    book_seq: int | None  # the book sequence the quote was computed from
    time_in_force: TimeInForce = "good_till_canceled"
    post_only: bool = True
    reduce_only: bool = False
    expiration_ts_s: int | None = None  # good-till-time (Unix seconds), quotes only
    cancel_order_on_pause: bool = True
    use_order_group: bool = True


@dataclass(frozen=True, slots=True)
class AmendOrder:
    order_id: str
    client_order_id: str
    new_client_order_id: str
    ticker: str
    side: BookSide
    price: Price
    count: Count  # V2 amend count = already filled + desired resting remainder
    expiration_ts_s: int | None
    intent_id: str
    book_seq: int | None


@dataclass(frozen=True, slots=True)
class DecreaseOrder:
    order_id: str
    client_order_id: str
    ticker: str
    reduce_by: Count
    intent_id: str


@dataclass(frozen=True, slots=True)
class CancelOrder:
    order_id: str | None  # None only while the create is unacknowledged (cancel by client_order_id lookup)
    client_order_id: str
    ticker: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ResyncBook:
    ticker: str


@dataclass(frozen=True, slots=True)
class LookupOrder:
    """Resolve an order whose outcome is unknown: read it by client_order_id / order_id from REST."""

    client_order_id: str
    order_id: str | None
    ticker: str


# ------------------------------------------------------------------------------------------- journal-only notes
@dataclass(frozen=True, slots=True)
class TopOfBook:
    yes_bid: Price | None
    yes_bid_size: Count | None
    yes_ask: Price | None
    yes_ask_size: Count | None
    book_seq: int | None


@dataclass(frozen=True, slots=True)
class IntentNote:
    """The guide's Intent: buy ``outcome`` at ``price`` (the price of the side bought) for ``count``, with the top
    of book the strategy saw. Written when the desired quote changes, not on every tick."""

    intent_id: str
    ts_ms: int
    ticker: str
    outcome: Outcome
    price: Price  # price of the outcome bought: YES bid, or NO price 1 - ask
    count: Count  # 0 means "no quote on this side"
    top: TopOfBook
    reason: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RiskNote:
    state: Literal["ACTIVE", "REDUCING", "HALTED"]
    limit: str
    value: Money | Count | None
    threshold: Money | Count | None
    scope: Literal["market", "event", "account"]
    scope_id: str = ""
    message: str = ""


@dataclass(frozen=True, slots=True)
class LifecycleNote:
    ticker: str
    event_type: str
    detail: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SettlementNote:
    ticker: str
    result: str
    position: Count
    payout: Money
    fees: Money


Action = PlaceOrder | AmendOrder | DecreaseOrder | CancelOrder | ResyncBook | LookupOrder
Note = IntentNote | RiskNote | LifecycleNote | SettlementNote
Output = Action | Note
