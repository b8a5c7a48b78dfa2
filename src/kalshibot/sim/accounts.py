"""Users' money: balances, locked collateral, netted positions, realized PnL, fees, settlements.

Theory of operation
-------------------
Each API key is one user (:class:`Account`), synthetic participants are internal users. All amounts are int
micro-dollars, counts centi-contracts.

* **Balance** is available cash. A resting order *locks* the cost of its remainder: a bid at p for c locks
  ``p*c``, an ask at p (a NO bid at 1 - p) locks ``(1-p)*c`` (:func:`collateral`). A fill spends the cost of what
  was bought (a maker's from its lock, a taker's from the balance) plus the fee (API.md §8, via the per-order
  :class:`~kalshibot.core.fees.FeeAccumulator` so the balance moves by ``revenue - net_fee`` floored to the
  balance precision).
* **Positions** are signed (+YES / -NO) and netted (API.md §3.8 ``position_fp``): buying YES while holding NO
  closes pairs first, and each YES+NO pair is worth exactly $1, so closing k pairs pays $1 x k back into the
  balance ("netting releases collateral"). The cost basis of the held side is kept so realized PnL of a close is
  ``$1 x k - cost of the k NO contracts - cost of the k YES contracts`` (fees excluded; reported separately).
* **Settlement** pays $1 per winning contract (API.md §9) and records a ``Settlement`` row.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kalshibot.core.fixed import COUNT_ONE, ONE_DOLLAR
from kalshibot.sim.matching import Order


def cost_of(price: int, count: int) -> int:
    """Micros for ``count`` centi-contracts at ``price`` micros (exact for 4-decimal prices; rounded up else)."""
    return -((-price * count) // COUNT_ONE)


def collateral(side: str, yes_price: int, count: int) -> int:
    """What a resting order locks: the cost of the outcome it buys (bid: YES at p; ask: NO at 1 - p)."""
    return cost_of(yes_price if side == "bid" else ONE_DOLLAR - yes_price, count)


@dataclass(slots=True)
class Position:
    ticker: str
    event_ticker: str
    position: int = 0  # signed centi-contracts, + YES
    yes_cost: int = 0  # cost basis of the YES contracts held (micros)
    no_cost: int = 0
    realized_pnl: int = 0
    fees_paid: int = 0
    total_traded: int = 0  # money traded (micros): cost of every contract bought
    volume: int = 0  # contracts traded (centi)
    last_updated_ts_ms: int = 0
    settled: bool = False

    @property
    def exposure(self) -> int:
        """Cost basis of the open position (``market_exposure_dollars``)."""
        return self.yes_cost if self.position > 0 else self.no_cost

    def buy(self, outcome: str, count: int, cost: int) -> tuple[int, int]:
        """Add ``count`` contracts of ``outcome`` bought for ``cost``; returns (payout from netted pairs, realized
        PnL of the close)."""
        self.total_traded += cost
        self.volume += count
        held = -self.position if outcome == "yes" else self.position  # opposite contracts held
        k = min(count, held) if held > 0 else 0
        payout = realized = 0
        if k:
            old_basis = self.no_cost if outcome == "yes" else self.yes_cost
            old_part = old_basis if k == held else old_basis * k // held
            new_part = cost if k == count else cost * k // count
            payout = ONE_DOLLAR * k // COUNT_ONE
            realized = payout - old_part - new_part
            self.realized_pnl += realized
            if outcome == "yes":
                self.no_cost -= old_part
                self.position += k
            else:
                self.yes_cost -= old_part
                self.position -= k
            cost -= new_part
        opened = count - k
        if opened:
            if outcome == "yes":
                self.yes_cost += cost
                self.position += opened
            else:
                self.no_cost += cost
                self.position -= opened
        return payout, realized


@dataclass(frozen=True, slots=True)
class FillRecord:
    """One fill of one order (REST ``Fill`` / WS ``fill``). ``trade_id`` is the trade's id, shared by both
    counterparties' fills; ``fill_id`` equals it (Fill.trade_id: "same as fill_id")."""

    trade_id: str
    order_id: str
    user_id: str
    ticker: str
    side: str  # book side of the order: bid | ask
    yes_price: int
    count: int
    is_taker: bool
    fee: int  # net fee charged on this fill (trade fee + rounding - rebate)
    ts_ms: int
    client_order_id: str
    subaccount: int
    post_position: int

    @property
    def outcome(self) -> str:
        return "yes" if self.side == "bid" else "no"


@dataclass(frozen=True, slots=True)
class SettlementRecord:
    ticker: str
    event_ticker: str
    result: str
    yes_count: int
    yes_total_cost: int
    no_count: int
    no_total_cost: int
    revenue: int  # micros paid out
    value: int  # payout of one YES contract (micros)
    fee_cost: int
    settled_ts_ms: int


@dataclass(slots=True)
class Account:
    user_id: str
    balance: int  # available cash (micros)
    internal: bool = False
    locked: int = 0  # collateral held by resting orders
    positions: dict[str, Position] = field(default_factory=dict)
    orders: list[Order] = field(default_factory=list)  # every order ever, oldest first
    client_order_ids: dict[str, Order] = field(default_factory=dict)
    fills: list[FillRecord] = field(default_factory=list)
    settlements: list[SettlementRecord] = field(default_factory=list)
    resting: dict[str, Order] = field(default_factory=dict)  # resting orders by id, oldest first
    updated_ts_ms: int = 0

    def position(self, ticker: str, event_ticker: str) -> Position:
        p = self.positions.get(ticker)
        if p is None:
            p = self.positions[ticker] = Position(ticker, event_ticker)
        return p

    def lock(self, amount: int) -> None:
        self.balance -= amount
        self.locked += amount

    def unlock(self, amount: int) -> None:
        self.balance += amount
        self.locked -= amount

    def release_order(self, order: Order) -> None:
        """Give back whatever the order still locks (cancel, expiry, full fill)."""
        if order.locked:
            self.unlock(order.locked)
            order.locked = 0

    def settle(self, pos: Position, result: str, value: int, ts_ms: int) -> SettlementRecord:
        """Pay out a position at a settlement ``value`` per YES contract (micros; $1 for yes, 0 for no)."""
        yes_n = pos.position if pos.position > 0 else 0
        no_n = -pos.position if pos.position < 0 else 0
        revenue = (value * yes_n + (ONE_DOLLAR - value) * no_n) // COUNT_ONE
        pos.realized_pnl += revenue - pos.yes_cost - pos.no_cost
        rec = SettlementRecord(
            ticker=pos.ticker,
            event_ticker=pos.event_ticker,
            result=result,
            yes_count=yes_n,
            yes_total_cost=pos.yes_cost,
            no_count=no_n,
            no_total_cost=pos.no_cost,
            revenue=revenue,
            value=value,
            fee_cost=pos.fees_paid,
            settled_ts_ms=ts_ms,
        )
        self.balance += revenue
        pos.position = pos.yes_cost = pos.no_cost = 0
        pos.settled = True
        pos.last_updated_ts_ms = ts_ms
        self.settlements.append(rec)
        self.updated_ts_ms = ts_ms
        return rec
