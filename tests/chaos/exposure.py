"""Money at stake recomputed from the simulator's own records (test-only helper).

CONTRACTS.md "Risk definitions": the worst-case loss at settlement over both outcomes, with the net position and
assuming our resting orders fill. We take the *worst subset* of resting orders per outcome (only the orders that
lose in that outcome fill), which is what the engine's risk guard judges and is never below the "all fill" figure.
Per event: over its mutually exclusive outcomes (each market YES and the rest NO, or all NO) for an MECNET event;
otherwise the sum of its markets' worst cases (an upper bound for nested ladders). Per account: sum over events.

Everything is computed from ``exchange.accounts[user]`` (positions with their cost basis, resting orders), never
from the daemon, so a daemon whose view drifted from the exchange is caught.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ONE = 1_000_000  # $1 in micros
CENTI = 100  # centi-contracts per contract


def _cost(price: int, count: int) -> int:
    return price * count // CENTI


def market_losses(position: Any | None, resting: list[Any]) -> tuple[int, int]:
    """(loss if YES, loss if NO) in micros for one market: the open position plus the worst subset of resting
    orders for each outcome."""
    ly = ln = 0
    if position is not None and not position.settled and position.position:
        p = position.position
        if p > 0:
            ly, ln = position.yes_cost - _cost(ONE, p), position.yes_cost
        else:
            ly, ln = position.no_cost, position.no_cost - _cost(ONE, -p)
    for o in resting:
        c, px = o.remaining, o.price
        if o.side == "bid":  # buys YES at px: loses px if NO, wins 1 - px if YES
            cy, cn = -_cost(ONE - px, c), _cost(px, c)
        else:  # sells YES at px == buys NO at 1 - px
            cy, cn = _cost(ONE - px, c), -_cost(px, c)
        ly += max(cy, 0)
        ln += max(cn, 0)
    return ly, ln


@dataclass
class Stakes:
    market: dict[str, int] = field(default_factory=dict)
    event: dict[str, int] = field(default_factory=dict)
    account: int = 0


def stakes(exchange: Any, user_id: str) -> Stakes:
    acct = exchange.accounts[user_id]
    by_market: dict[str, list[Any]] = {}
    for o in acct.resting.values():
        by_market.setdefault(o.ticker, []).append(o)
    tickers = set(by_market) | {t for t, p in acct.positions.items() if p.position and not p.settled}
    losses = {t: market_losses(acct.positions.get(t), by_market.get(t, [])) for t in tickers}
    out = Stakes()
    events: dict[str, list[str]] = {}
    for t, (ly, ln) in losses.items():
        out.market[t] = max(ly, ln, 0)
        events.setdefault(exchange.markets_by_ticker[t].event_ticker, []).append(t)
    for e, ts in events.items():
        ev = exchange.events_by_ticker.get(e)
        if ev is not None and ev.mutually_exclusive:
            all_no = sum(losses[t][1] for t in ts)
            outcomes = [all_no] + [all_no - losses[t][1] + losses[t][0] for t in ts]
            out.event[e] = max(max(outcomes), 0)
        else:
            out.event[e] = sum(out.market[t] for t in ts)
    out.account = sum(out.event.values())
    return out


@dataclass
class StakeWatch:
    """Listens to the exchange and re-checks money at stake after every fill of ``user_id`` (once the matching
    step that produced it is complete: checked from the event loop's next turn)."""

    exchange: Any
    user_id: str
    limits: tuple[int, int, int]  # per market, per event, per account (micros)
    fills_seen: int = 0
    checks: int = 0
    violations: list[str] = field(default_factory=list)
    max_seen: list[int] = field(default_factory=lambda: [0, 0, 0])
    _pending: bool = False

    def attach(self) -> None:
        self.exchange.listeners.append(self._on_event)

    def _on_event(self, event: Any) -> None:
        if type(event).__name__ == "FillEvent" and event.user_id == self.user_id:
            self.fills_seen += 1
            if not self._pending:
                import asyncio

                self._pending = True
                asyncio.get_running_loop().call_soon(self.check)

    def check(self) -> None:
        self._pending = False
        self.checks += 1
        s = stakes(self.exchange, self.user_id)
        lm, le, la = self.limits
        worst_m = max(s.market.values(), default=0)
        worst_e = max(s.event.values(), default=0)
        self.max_seen = [
            max(self.max_seen[0], worst_m),
            max(self.max_seen[1], worst_e),
            max(self.max_seen[2], s.account),
        ]
        if len(self.violations) >= 5:
            return
        for t, v in s.market.items():
            if v > lm:
                self.violations.append(f"market {t} at stake {v / ONE:.4f} > {lm / ONE}")
        for e, v in s.event.items():
            if v > le:
                self.violations.append(f"event {e} at stake {v / ONE:.4f} > {le / ONE}")
        if s.account > la:
            self.violations.append(f"account at stake {s.account / ONE:.4f} > {la / ONE}")
