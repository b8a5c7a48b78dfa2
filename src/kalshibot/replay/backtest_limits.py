"""Limit breaches judged from the simulator's books, never from the bot's own bookkeeping.

Theory of operation
-------------------
The backtest must prove the strategy stayed inside its limits (CONTRACTS.md "Risk definitions") using what the
*exchange* says the account holds, so a bug in the engine's portfolio cannot hide a breach. At every fill of the
bot (and after every batch of its requests) :class:`LimitChecker` reads the simulator's account
(:meth:`Exchange.account_state`: net positions and resting order ids; the positions' cost basis and the resting
orders' side/price/remaining from the same exchange) and recomputes, independently of
:mod:`kalshibot.core.portfolio`:

* per market, the worst-case loss at settlement over both outcomes: the net position at its cost (Kalshi nets YES
  against NO, API.md §3.8) plus, per outcome, every resting order that loses in that outcome filling (a bid at p
  for c loses ``p x c`` if NO; an ask at p loses ``(1 - p) x c`` if YES). A determined market contributes its known
  loss at the settlement value (its orders were cancelled at close);
* per event, the sum over its markets, or for mutually exclusive outcomes the worst of "market k alone resolves
  YES" and "none of them does";
* per account, the sum over events;
* per market, the largest |position| reachable if every resting order on one side fills.

Each is compared with the strategy's :class:`~kalshibot.core.risk.RiskLimits` (``max_notional_per_market``,
``max_event_exposure``, ``max_account_exposure``, ``max_position``). The daily loss kill is a reaction (it halts),
not a bound on the state, so it is not judged here. All sums are exact integers in micro-dollars x
centi-contracts; reported values are micro-dollars rounded up (a stake is never understated).
"""

from __future__ import annotations

from dataclasses import dataclass

from kalshibot.core.fixed import COUNT_ONE, ONE_DOLLAR
from kalshibot.core.risk import RiskLimits
from kalshibot.sim.exchange import Exchange


@dataclass(frozen=True, slots=True)
class MarketHolding:
    """One market of the account: net position (+ YES, centi-contracts), the cost of the side held (micros), our
    resting orders as (side, YES price, remaining), and what the market is."""

    ticker: str
    event_ticker: str
    mutually_exclusive: bool
    position: int = 0
    cost: int = 0
    orders: tuple[tuple[str, int, int], ...] = ()
    settlement_value: int | None = None


@dataclass(frozen=True, slots=True)
class Exposure:
    markets: dict[str, int]  # ticker -> money at stake (micros)
    events: dict[str, int]  # event ticker -> money at stake (micros)
    account: int
    reach: dict[str, int]  # ticker -> largest |position| reachable (centi-contracts)


@dataclass(frozen=True, slots=True)
class Breach:
    ts_ms: int
    limit: str
    scope: str
    scope_id: str
    value: int
    threshold: int


def _ceil_micros(x: int) -> int:
    return -((-x) // COUNT_ONE)


def _losses_x(h: MarketHolding) -> tuple[int, int]:
    """(loss if NO, loss if YES) in micros x centi-contracts, each with the resting orders that hurt there."""
    cost_x = h.cost * COUNT_ONE
    if h.position >= 0:
        loss_no, loss_yes = cost_x, cost_x - h.position * ONE_DOLLAR
    else:
        loss_no, loss_yes = cost_x + h.position * ONE_DOLLAR, cost_x
    for side, price, remaining in h.orders:
        if side == "bid":
            loss_no += price * remaining
        else:
            loss_yes += (ONE_DOLLAR - price) * remaining
    return loss_no, loss_yes


def _fixed_x(h: MarketHolding) -> int | None:
    if h.settlement_value is None:
        return None
    no, yes = _losses_x(h)
    num = no * ONE_DOLLAR + (yes - no) * h.settlement_value  # linear in the YES value
    return -((-num) // ONE_DOLLAR)


def exposure(holdings: list[MarketHolding]) -> Exposure:
    """Money at stake per market / event / account and position reach (see the module docstring)."""
    markets: dict[str, int] = {}
    reach: dict[str, int] = {}
    by_event: dict[str, list[MarketHolding]] = {}
    for h in holdings:
        fixed = _fixed_x(h)
        stake_x = max(0, fixed) if fixed is not None else max(0, *_losses_x(h))
        markets[h.ticker] = _ceil_micros(stake_x)
        bids = sum(c for s, _, c in h.orders if s == "bid")
        asks = sum(c for s, _, c in h.orders if s == "ask")
        reach[h.ticker] = max(abs(h.position), h.position + bids, asks - h.position)
        by_event.setdefault(h.event_ticker, []).append(h)
    events: dict[str, int] = {}
    for e, hs in by_event.items():
        if not any(h.mutually_exclusive for h in hs):
            total = 0
            for h in hs:
                f = _fixed_x(h)
                total += max(0, f) if f is not None else max(0, *_losses_x(h))
            events[e] = _ceil_micros(total)
            continue
        fixed = 0
        open_: list[tuple[int, int]] = []
        winner = False
        for h in hs:
            f = _fixed_x(h)
            if f is None:
                open_.append(_losses_x(h))
            else:
                fixed += f
                winner = winner or h.settlement_value == ONE_DOLLAR
        all_no = sum(no for no, _ in open_)
        switch = 0 if winner else max(0, max((yes - no for no, yes in open_), default=0))
        events[e] = _ceil_micros(max(0, fixed + all_no + switch))
    return Exposure(markets, events, sum(events.values()), reach)


def breaches(x: Exposure, limits: RiskLimits, ts_ms: int = 0) -> list[Breach]:
    """Every limit of ``limits`` that ``x`` exceeds (strictly: a stake equal to the limit is allowed)."""
    out: list[Breach] = []
    cap = limits.max_notional_per_market
    for t, v in sorted(x.markets.items()):
        if v > cap:
            out.append(Breach(ts_ms, "max_notional_per_market", "market", t, v, cap))
    if limits.max_position is not None:
        for t, v in sorted(x.reach.items()):
            if v > limits.max_position:
                out.append(Breach(ts_ms, "max_position", "market", t, v, limits.max_position))
    if limits.max_event_exposure is not None:
        for e, v in sorted(x.events.items()):
            if v > limits.max_event_exposure:
                out.append(Breach(ts_ms, "max_event_exposure", "event", e, v, limits.max_event_exposure))
    if limits.max_account_exposure is not None and x.account > limits.max_account_exposure:
        out.append(Breach(ts_ms, "max_account_exposure", "account", "", x.account, limits.max_account_exposure))
    return out


def holdings_of(exchange: Exchange, user_id: str) -> list[MarketHolding]:
    """The account as the simulator has it: positions from ``account_state`` with their cost basis, and the
    resting orders it lists, grouped per market."""
    st = exchange.account_state(user_id)
    positions = st["positions"]
    resting = st["resting"]
    assert isinstance(positions, dict) and isinstance(resting, list)
    orders: dict[str, list[tuple[str, int, int]]] = {}
    for oid in resting:
        o = exchange.get_order(user_id, oid)
        orders.setdefault(o.ticker, []).append((o.side, o.price, o.remaining))
    out: list[MarketHolding] = []
    for t in sorted(set(positions) | set(orders)):
        m = exchange.market(t)
        pos = int(positions.get(t, 0))
        cost = 0
        if pos:
            p = exchange.positions(user_id, ticker=t)[0]
            cost = p.yes_cost if pos > 0 else p.no_cost
        determined = m.status in ("determined", "finalized") and m.settlement_value is not None
        out.append(
            MarketHolding(
                ticker=t,
                event_ticker=m.event_ticker,
                mutually_exclusive=exchange.events_by_ticker[m.event_ticker].mutually_exclusive,
                position=pos,
                cost=cost,
                orders=tuple(orders.get(t, ())),
                settlement_value=m.settlement_value if determined else None,
            )
        )
    return out


class LimitChecker:
    """Checks the simulator's view of one account against one strategy's limits; keeps the worst seen."""

    def __init__(self, exchange: Exchange, user_id: str, limits: RiskLimits, keep: int = 20) -> None:
        self.ex = exchange
        self.user_id = user_id
        self.limits = limits
        self.checks = 0
        self.breach_count = 0
        self.first: list[Breach] = []  # the first ``keep`` breaches, for the report
        self.keep = keep
        self.max_account_stake = 0
        self.max_market_stake = 0

    def check(self, ts_ms: int) -> list[Breach]:
        x = exposure(holdings_of(self.ex, self.user_id))
        self.checks += 1
        self.max_account_stake = max(self.max_account_stake, x.account)
        self.max_market_stake = max(self.max_market_stake, max(x.markets.values(), default=0))
        found = breaches(x, self.limits, ts_ms)
        self.breach_count += len(found)
        room = self.keep - len(self.first)
        if room > 0:
            self.first.extend(found[:room])
        return found
