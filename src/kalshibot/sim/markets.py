"""Instruments (series, events, markets), their lifecycle state, market statistics and the exchange schedule.

Theory of operation
-------------------
A :class:`Market` carries its static terms (grid, times, strikes), its lifecycle ``status`` and its book. The
lifecycle of API.md §9 is driven by the injected clock through :meth:`Market.due` (the exchange's ``advance``
applies what is due): ``initialized -> active`` when ``open_ts_ms`` passes, ``active|inactive -> closed`` when
``close_ts_ms`` passes (resting orders ``CloseCancel``), ``determined -> finalized`` when the settlement timer
runs out after determination. Pausing (``inactive``), determination and early close are admin actions.

Fees resolve event override first, then series (API.md §8). Timestamps are int ms internally; the wire layer
renders RFC3339.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kalshibot.core.fixed import ONE_DOLLAR
from kalshibot.core.grid import PriceGrid
from kalshibot.sim.matching import Book

MARKET_STATUSES = ("initialized", "inactive", "active", "closed", "determined", "disputed", "amended", "finalized")
TRADABLE = "active"
# GET /markets?status= filter values -> internal statuses (API.md §9)
MARKET_STATUS_FILTER: dict[str, tuple[str, ...]] = {
    "unopened": ("initialized",),
    "open": ("active",),
    "paused": ("inactive",),
    "closed": ("closed", "determined", "disputed", "amended"),
    "settled": ("finalized",),
}
# GET /events?status= (API.md §3.3): an event's status derived from its markets
EVENT_STATUS_FILTER = ("unopened", "open", "closed", "settled")


@dataclass(slots=True)
class Series:
    ticker: str
    title: str
    category: str = "Economics"
    frequency: str = "daily"
    fee_type: str = "quadratic_with_maker_fees"
    fee_multiplier_ppm: int = 1_000_000
    tags: list[str] = field(default_factory=list)
    settlement_sources: list[dict[str, str]] = field(default_factory=list)
    contract_url: str = ""
    contract_terms_url: str = ""
    updated_ts_ms: int = 0


@dataclass(slots=True)
class Event:
    event_ticker: str
    series_ticker: str
    title: str
    sub_title: str = ""
    mutually_exclusive: bool = False
    fee_type_override: str | None = None
    fee_multiplier_override_ppm: int | None = None
    strike_date_ms: int | None = None
    strike_period: str | None = None
    markets: list[str] = field(default_factory=list)
    updated_ts_ms: int = 0

    @property
    def collateral_return_type(self) -> str:
        return "MECNET" if self.mutually_exclusive else "DIRECNET"


@dataclass(slots=True, eq=False)
class Market:
    ticker: str
    event_ticker: str
    series_ticker: str
    grid: PriceGrid
    open_ts_ms: int
    close_ts_ms: int
    created_ts_ms: int
    market_id: str
    title: str = ""
    subtitle: str = ""
    yes_sub_title: str = ""
    no_sub_title: str = ""
    status: str = "initialized"
    expected_expiration_ts_ms: int | None = None
    latest_expiration_ts_ms: int | None = None
    settlement_timer_s: int = 60
    can_close_early: bool = True
    strike_type: str | None = None
    floor_strike: float | None = None
    cap_strike: float | None = None
    rules_primary: str = ""
    rules_secondary: str = ""
    result: str = ""  # yes | no | ""
    expiration_value: str = ""  # the underlying value the result was determined from
    settlement_value: int | None = None  # micros per YES contract once determined
    determined_ts_ms: int | None = None
    settled_ts_ms: int | None = None
    updated_ts_ms: int = 0
    # statistics (every one of them moved only by trades that went through the matching engine)
    volume: int = 0
    open_interest: int = 0
    last_price: int = 0
    previous_price: int = 0
    previous_yes_bid: int = 0
    previous_yes_ask: int = 0
    book: Book = field(init=False)

    def __post_init__(self) -> None:
        self.book = Book(self.ticker)

    # --- book-derived quotes (API.md §3.3; asks are complements of the other side's bids) -------------------
    @property
    def yes_bid(self) -> int:
        b = self.book.best_bid()
        return b if b is not None else 0

    @property
    def yes_ask(self) -> int:
        a = self.book.best_ask()
        return a if a is not None else ONE_DOLLAR

    @property
    def yes_bid_size(self) -> int:
        b = self.book.best_bid()
        return self.book.bid_size[b] if b is not None else 0

    @property
    def yes_ask_size(self) -> int:
        a = self.book.best_ask()
        return self.book.ask_size[a] if a is not None else 0

    @property
    def tradable(self) -> bool:
        return self.status == TRADABLE

    def due(self, now_ms: int) -> str | None:
        """The clock-driven transition that is due at ``now_ms`` (``"open"``, ``"close"``, ``"settle"``) or None."""
        if self.status == "initialized" and now_ms >= self.open_ts_ms:
            # a market created after its close time opens and closes in one advance
            return "open"
        if self.status in ("active", "inactive") and now_ms >= self.close_ts_ms:
            return "close"
        if (
            self.status == "determined"
            and self.determined_ts_ms is not None
            and now_ms >= self.determined_ts_ms + self.settlement_timer_s * 1000
        ):
            return "settle"
        return None

    def next_due_ms(self) -> int | None:
        if self.status == "initialized":
            return self.open_ts_ms
        if self.status in ("active", "inactive"):
            return self.close_ts_ms
        if self.status == "determined" and self.determined_ts_ms is not None:
            return self.determined_ts_ms + self.settlement_timer_s * 1000
        return None

    def record_trade(self, yes_price: int) -> None:
        if self.last_price:
            self.previous_price = self.last_price
        self.last_price = yes_price


@dataclass(slots=True)
class ExchangeSchedule:
    """Exchange hours and maintenance (API.md §3.2). The simulator trades around the clock by default;
    ``maintenance_windows`` (ms intervals) make ``exchange_active`` false, ``trading_paused`` makes
    ``trading_active`` false (fault injection / tests)."""

    maintenance_windows: list[tuple[int, int]] = field(default_factory=list)
    trading_paused: bool = False
    # weekly hours as (weekday name -> [(open "HH:MM", close "HH:MM")]) in ET; informational (24/7 by default)
    standard_hours: dict[str, list[tuple[str, str]]] = field(
        default_factory=lambda: {
            d: [("00:00", "23:59")]
            for d in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
        }
    )

    def maintenance_at(self, now_ms: int) -> tuple[int, int] | None:
        for w in self.maintenance_windows:
            if w[0] <= now_ms < w[1]:
                return w
        return None

    def exchange_active(self, now_ms: int) -> bool:
        return self.maintenance_at(now_ms) is None

    def trading_active(self, now_ms: int) -> bool:
        return self.exchange_active(now_ms) and not self.trading_paused
