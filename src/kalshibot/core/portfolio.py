"""Positions, PnL and money at stake, per market, per event and per account.

Theory of operation
-------------------
Kalshi nets YES against NO in a market (API.md §3.8): one signed position per market, + YES / - NO. We keep with
it the *cost basis of the side held* (what we paid for those contracts), realized PnL, fees paid, the last mark and,
once known, the settlement value. Buying YES at p while holding NO bought at average q closes ``k`` contracts: the
pair pays $1, so it realizes ``k x (1 - p - q)``; any excess opens YES at p. An ask fill is a NO purchase at
``1 - price`` and mirrors this. Settlement pays $1 per winning contract (``value`` per YES and ``1 - value`` per NO
for scalar markets, API.md §9) and realizes the rest of the cost basis.

Money at stake (CONTRACTS.md "Risk definitions") is computed from two numbers per market: the loss if the market
resolves NO and the loss if it resolves YES, taking the net position and our resting orders. A resting bid at p
for c adds ``p x c`` to the NO loss (c YES bought, worthless) and, if it filled, would *reduce* the YES loss; a
resting ask adds ``(1 - p) x c`` to the YES loss. We take, per outcome, the worst subset of resting orders filling
(every order that hurts in that outcome fills, the others do not): this is never below "every order fills" and is
exactly the brute-force worst case over outcomes and fill subsets (losses are linear in each order's fill, so
partial fills never do worse). Per market: the larger of the two losses (not below 0). Per event: when the event's
markets are mutually exclusive, the worst over the outcomes "market k alone resolves YES" and "none of our markets
resolves YES" (we may not track every market of the event, so the latter is kept: conservative); otherwise the sum
of the markets. Per account: the sum over events. A market whose result is determined contributes its known loss
only; closed-but-unsettled markets stay in the picture until settlement.

Internally money is in micro-dollars x centi-contracts ("x units", exact products of price and count); reported
values are micro-dollars, rounded so that losses and stakes are never understated (ceil) and PnL never overstated
(floor). Daily PnL = realized - fees + marked-to-market, minus the same total at the start of the trading day
(:meth:`Portfolio.start_day`, called by the engine at the day boundary: there is no clock here).

Money at stake (computed by :class:`~kalshibot.core.portfolio_stake.StakeMath`, which :class:`Portfolio` mixes
in) is cached, because the risk guard asks for it on every order check (the hot path): per market its
two losses, per event its stake and the account total, each for the portfolio as it is (no hypothetical order).
Every :class:`Portfolio` method that changes a market's position, cost, resting orders, settlement value, event or
mutual exclusivity invalidates that market, its event(s) and the account (marks do not enter money at stake). A
check *as if* an order rested then recomputes only the market(s) the hypothetical touches (its ticker, and the
market of the order it replaces), their event, and adjusts the cached account total by the difference: O(markets
in one event) instead of O(all markets). Hence: change :class:`MarketPosition` records only through the portfolio.
"""

from __future__ import annotations

from collections.abc import Iterable

from kalshibot.core.events import BookSide, FillEvent, MarketSpec
from kalshibot.core.fixed import ONE_DOLLAR, Count, Money, Price
from kalshibot.core.portfolio_stake import StakeMath, _share
from kalshibot.core.position import (
    _HYP_FIELDS,
    _X,
    _ZERO_COUNT,
    _ZERO_MONEY,
    Hypothetical,
    MarketPosition,
    RestingOrder,
    _floor_money,
    hypothetical,
)

__all__ = ["_HYP_FIELDS", "Hypothetical", "MarketPosition", "Portfolio", "RestingOrder", "hypothetical"]


class Portfolio(StakeMath):
    """All our markets. The engine feeds it fills, resting-order changes, marks, determinations and settlements;
    the risk guard reads money at stake and daily PnL from it."""

    def __init__(self) -> None:
        self._markets: dict[str, MarketPosition] = {}
        self._order_market: dict[str, str] = {}
        self._day_base_x = 0
        # money-at-stake caches (module docstring): valid entries only, dropped by _touch
        self._events: dict[str, dict[str, MarketPosition]] = {}  # event ticker -> its markets (settled included)
        self._losses_cache: dict[str, tuple[int, int]] = {}  # ticker -> losses_x()
        self._event_cache: dict[str, int] = {}  # event ticker -> _event_stake_x(e, None)
        # event ticker -> whether an unsettled member is mutually exclusive; written with every _event_cache entry
        # (and read only while that entry is present), so it is valid exactly when the cached stake is
        self._event_excl: dict[str, bool] = {}
        self._account_clean = 0  # sum of _event_cache's values
        # event ticker -> (its cached stake without market m's share, m), for an event dropped from _event_cache by
        # order changes of that one market m only (_touch_orders): it is recomputed as that base plus m's share
        # instead of a scan of its markets. Any other change to the event drops the entry (_touch).
        self._event_base: dict[str, tuple[int, MarketPosition]] = {}
        self._dirty_events: set[str] = set()  # events whose stake must be recomputed into the account total
        # the last hypothetical judged (by identity: the guard asks market, event and account stake for the same
        # object in a row) and what was computed for it; dropped by _touch
        self._hyp: Hypothetical | None = None
        self._hyp_losses: dict[str, tuple[int, int]] = {}
        self._hyp_events: dict[str, int] = {}

    # --- registry ---------------------------------------------------------------------------------------
    def add_market(self, spec: MarketSpec) -> MarketPosition:
        m = self.ensure_market(spec.ticker, spec.event_ticker, spec.mutually_exclusive)
        if m.event_ticker != spec.event_ticker or m.mutually_exclusive != spec.mutually_exclusive:
            self._touch(m)  # the old event loses this market
            self._events[m.event_ticker].pop(m.ticker, None)
            m.event_ticker, m.mutually_exclusive = spec.event_ticker, spec.mutually_exclusive
            self._events.setdefault(m.event_ticker, {})[m.ticker] = m
            self._touch(m)  # and the new one gains it
        return m

    def ensure_market(
        self, ticker: str, event_ticker: str | None = None, mutually_exclusive: bool = False
    ) -> MarketPosition:
        m = self._markets.get(ticker)
        if m is None:
            # an unknown market is its own event (independent) until add_market says otherwise
            m = MarketPosition(ticker, event_ticker or ticker, mutually_exclusive)
            self._markets[ticker] = m
            self._events.setdefault(m.event_ticker, {})[ticker] = m
            self._touch(m)
        return m

    def _touch(self, m: MarketPosition) -> None:
        """``m``'s money at stake may have changed: drop its cached losses and its event's stake (taken out of the
        account total until recomputed)."""
        self._losses_cache.pop(m.ticker, None)
        self._hyp = None
        e = m.event_ticker
        old = self._event_cache.pop(e, None)
        if old is not None:
            self._account_clean -= old
        self._event_base.pop(e, None)
        self._dirty_events.add(e)

    def _touch_orders(self, m: MarketPosition, d_no: int, d_yes: int) -> None:
        """:meth:`_touch` for a change of one of ``m``'s resting orders only (its position, settlement, event and
        flags unchanged), which moves ``m``'s losses by ``(d_no, d_yes)``: cached losses are moved by as much (the
        same integer sums :meth:`MarketPosition.losses_x` adds up, one term changed), and when the event's stake
        was cached it is remembered without ``m``'s share, so that recomputing it needs ``m``'s losses only (the
        requote path changes one order at a time; issue 9)."""
        old_losses = self._losses_cache.get(m.ticker)
        if old_losses is not None:
            self._losses_cache[m.ticker] = (old_losses[0] + d_no, old_losses[1] + d_yes)
        self._hyp = None
        e = m.event_ticker
        old = self._event_cache.pop(e, None)
        if old is not None:
            self._account_clean -= old
            if old_losses is not None and not self._event_excl[e] and not m.settled:
                self._event_base[e] = (old - _share(m, old_losses), m)
            else:
                self._event_base.pop(e, None)
        else:
            base = self._event_base.get(e)
            if base is not None and base[1] is not m:
                del self._event_base[e]  # two markets changed since the event was cached: scan it
        self._dirty_events.add(e)

    def market(self, ticker: str) -> MarketPosition | None:
        return self._markets.get(ticker)

    def markets(self) -> Iterable[MarketPosition]:
        return self._markets.values()

    def event_markets(self, event_ticker: str) -> list[MarketPosition]:
        return [m for m in self._markets.values() if m.event_ticker == event_ticker]

    # --- fills and orders -------------------------------------------------------------------------------
    def apply_fill(self, fill: FillEvent) -> Count:
        """Apply one (deduplicated) fill: a bid fill buys YES at ``yes_price``, an ask fill buys NO at
        ``1 - yes_price``. Also takes the count off our resting order. Returns the position after."""
        return self.apply_trade(fill.ticker, fill.book_side, fill.yes_price, fill.count, fill.fee, fill.order_id)

    def apply_trade(
        self,
        ticker: str,
        side: BookSide,
        yes_price: Price,
        count: Count,
        fee: Money = _ZERO_MONEY,
        order_id: str | None = None,
    ) -> Count:
        if count < 0:
            raise ValueError("fill count must be >= 0")
        m = self.ensure_market(ticker)
        self._touch(m)
        if side == "bid":
            m.buy(True, yes_price, count)
        else:
            m.buy(False, ONE_DOLLAR - yes_price, count)
        m.fees += fee
        if order_id is not None and order_id in m.orders:
            o = m.orders[order_id]
            o.remaining = Count(max(0, o.remaining - count))
            if o.remaining == 0:
                self.remove_order(order_id)
        return Count(m.position)

    def upsert_order(self, order_id: str, ticker: str, side: BookSide, price: Price, remaining: Count) -> None:
        """Add or change one of our resting orders (absolute remaining; 0 removes it)."""
        old = self._order_market.get(order_id)
        if old is not None and old != ticker:
            self.remove_order(order_id)
        if remaining <= 0:
            self.remove_order(order_id)
            return
        m = self._markets.get(ticker)
        if m is None:
            m = self.ensure_market(ticker)
        prev = m.orders.get(order_id)
        m.orders[order_id] = RestingOrder(order_id, ticker, side, price, remaining)
        self._order_market[order_id] = ticker
        # the change in each outcome's loss: this order's term in losses_x, new minus old
        d_no = d_yes = 0
        if side == "bid":
            d_no = price * remaining
        else:
            d_yes = (ONE_DOLLAR - price) * remaining
        if prev is not None:
            if prev.side == "bid":
                d_no -= prev.price * prev.remaining
            else:
                d_yes -= (ONE_DOLLAR - prev.price) * prev.remaining
        self._touch_orders(m, d_no, d_yes)

    def remove_order(self, order_id: str) -> None:
        ticker = self._order_market.pop(order_id, None)
        if ticker is not None:
            m = self._markets[ticker]
            prev = m.orders.pop(order_id, None)
            d_no = d_yes = 0
            if prev is not None:  # its term in losses_x comes out
                if prev.side == "bid":
                    d_no = -prev.price * prev.remaining
                else:
                    d_yes = -(ONE_DOLLAR - prev.price) * prev.remaining
            self._touch_orders(m, d_no, d_yes)

    def order(self, order_id: str) -> RestingOrder | None:
        ticker = self._order_market.get(order_id)
        return None if ticker is None else self._markets[ticker].orders.get(order_id)

    def orders(self, ticker: str) -> list[RestingOrder]:
        m = self._markets.get(ticker)
        return [] if m is None else list(m.orders.values())

    # --- marks, determination, settlement, reconciliation --------------------------------------------
    def set_mark(self, ticker: str, mark: Price | None) -> None:
        """The mark for PnL (the book's mid). None keeps the previous mark (a one-sided book says nothing new)."""
        if mark is not None:
            self.ensure_market(ticker).mark = mark

    def determine(self, ticker: str, yes_value: Price) -> None:
        """The result is known (WS ``determined``): mark to it and count only its loss (API.md §9)."""
        m = self.ensure_market(ticker)
        m.settlement_value = yes_value
        self._touch(m)

    def settle(self, ticker: str, yes_value: Price | None = None) -> Money:
        """Settlement: pay $1 per winning contract (``yes_value`` per YES for scalar markets); realizes the
        position and drops any resting orders. Returns the payout."""
        m = self.ensure_market(ticker)
        value = yes_value if yes_value is not None else m.settlement_value
        if value is None:
            raise ValueError(f"settle {ticker}: no settlement value")
        for oid in list(m.orders):
            self._order_market.pop(oid, None)
        self._touch(m)
        return _floor_money(m.settle(value))

    def set_position(self, ticker: str, position: Count) -> None:
        """Reconcile to the venue's position (PositionSnapshot). The cost basis keeps its average per contract
        when the side is unchanged; otherwise it is re-based at the mark (or $0.50 if never marked). Partial:
        the venue's realized PnL is not imported."""
        m = self.ensure_market(ticker)
        if position == m.position:
            return
        self._touch(m)
        if m.position != 0 and (position > 0) == (m.position > 0) and position != 0:
            m.cost_x = m.cost_x * abs(position) // abs(m.position)
        else:
            mark = m.mark if m.mark is not None else ONE_DOLLAR // 2
            m.cost_x = abs(position) * (mark if position > 0 else ONE_DOLLAR - mark)
        m.position = position

    # --- positions ------------------------------------------------------------------------------------
    def position(self, ticker: str) -> Count:
        m = self._markets.get(ticker)
        return Count(0 if m is None else m.position)

    def position_after(self, ticker: str, side: BookSide | None = None, count: Count = _ZERO_COUNT) -> Count:
        """The signed position after a fill of ``count`` on ``side`` (the current position when no side)."""
        p = self.position(ticker)
        if side is None:
            return p
        return Count(p + count if side == "bid" else p - count)

    def position_bounds(self, ticker: str, change: Hypothetical | None = None) -> tuple[Count, Count]:
        """(lowest, highest) position reachable if any subset of our resting orders (and ``change``) fills."""
        m = self._markets.get(ticker)
        if m is None:
            m = MarketPosition(ticker, ticker)
        lo = hi = m.position
        for side, _price, count in m._orders_with(change):
            if side == "bid":
                hi += count
            else:
                lo -= count
        return Count(lo), Count(hi)

    def would_be_reducing(self, ticker: str, side: BookSide, count: Count, exclude_order_id: str | None = None) -> bool:
        """CONTRACTS.md: reducing only if it cannot increase |position| even when it and all our other resting
        orders in that market fill. A bid (buys YES) qualifies iff position + all our resting bids + count <= 0:
        then whatever subset fills, the position stays <= 0 and every YES bought brings it towards 0 (asks
        filling only make it more negative, which the bid then reduces). An ask mirrors this."""
        if count <= 0:
            return False
        m = self._markets.get(ticker)
        if m is None:
            return False
        if side == "bid":
            return m.position + m.resting("bid", exclude_order_id) + count <= 0
        return m.position - m.resting("ask", exclude_order_id) - count >= 0

    def judge_market(self, change: Hypothetical) -> tuple[bool, Money, Count, Count]:
        """For the risk check, in one pass over the market's orders: ``(would_be_reducing(ticker, side, count,
        replaces), market_stake(ticker, change), *position_bounds(ticker, change))`` for ``change``'s market. The
        hypothetical's losses are left in the per-hypothetical cache, as :meth:`market_stake` would leave them, so
        the event and account figures that follow reuse them."""
        ticker = change.ticker
        m = self._markets.get(ticker)
        if m is None:
            low, high = self.position_bounds(ticker, change)
            reducing = self.would_be_reducing(ticker, change.side, change.count, change.replaces)
            return reducing, self.market_stake(ticker, change), low, high
        pos = m.position
        if pos >= 0:
            loss_no, loss_yes = m.cost_x, m.cost_x - pos * ONE_DOLLAR
        else:
            loss_no, loss_yes = m.cost_x + pos * ONE_DOLLAR, m.cost_x
        skip = change.replaces
        bids = asks = others = 0  # resting counts, the replaced order excluded ("others": neither side's name)
        for oid, o in m.orders.items():
            if skip is not None and oid == skip:
                continue
            if o.side == "bid":
                loss_no += o.price * o.remaining
                bids += o.remaining
            else:
                loss_yes += (ONE_DOLLAR - o.price) * o.remaining
                if o.side == "ask":
                    asks += o.remaining
                else:
                    others += o.remaining
        count = change.count
        if change.side == "bid":
            loss_no += change.price * count
            lo, hi = pos - asks - others, pos + bids + count
            reducing = count > 0 and pos + bids + count <= 0
        else:
            loss_yes += (ONE_DOLLAR - change.price) * count
            lo, hi = pos - asks - others - count, pos + bids
            reducing = count > 0 and pos - asks - count >= 0
        if change is not self._hyp:
            self._hyp = change
            self._hyp_losses.clear()
            self._hyp_events.clear()
        self._hyp_losses[ticker] = (loss_no, loss_yes)
        if m.settlement_value is not None:
            stake = self._market_stake_x(m, change)
        else:  # _market_stake_x(m, change) of the losses just stored, without the calls
            stake = loss_no if loss_no > loss_yes else loss_yes
            if stake < 0:
                stake = 0
        return reducing, Money(-((-stake) // _X)), Count(lo), Count(hi)

    # --- PnL --------------------------------------------------------------------------------------------
    def realized_pnl(self, ticker: str | None = None) -> Money:
        return _floor_money(sum(m.realized_x for m in self._select(ticker)))

    def fees_paid(self, ticker: str | None = None) -> Money:
        return Money(sum(m.fees for m in self._select(ticker)))

    def unrealized_pnl(self, ticker: str | None = None) -> Money:
        return _floor_money(sum(m.unrealized_x() for m in self._select(ticker)))

    def mark_value(self, ticker: str, mark: Price | None = None) -> Money:
        """What the position is worth at ``mark`` (default: the stored mark / settlement value / cost)."""
        m = self._markets.get(ticker)
        if m is None:
            return Money(0)
        if mark is None:
            mark = m.settlement_value if m.settlement_value is not None else m.mark
        if mark is None:
            return _floor_money(m.cost_x)
        return _floor_money(m.value_x(mark))

    def total_pnl_x(self) -> int:
        return sum(m.realized_x + m.unrealized_x() - m.fees * _X for m in self._markets.values())

    def total_pnl(self) -> Money:
        return _floor_money(self.total_pnl_x())

    def start_day(self) -> None:
        """The trading day starts now: daily PnL is measured from the current total (realized + marked - fees)."""
        self._day_base_x = self.total_pnl_x()

    def daily_pnl(self) -> Money:
        return _floor_money(self.total_pnl_x() - self._day_base_x)

    def _select(self, ticker: str | None) -> Iterable[MarketPosition]:
        if ticker is None:
            return self._markets.values()
        m = self._markets.get(ticker)
        return () if m is None else (m,)
