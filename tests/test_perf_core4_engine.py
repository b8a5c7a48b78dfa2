"""Issue 9 round 4, engine level: the requote pipeline with this round's fast paths sends and notes exactly what
the round-3 pipeline sends and notes.

Two engines get the same random stream (the harness of ``tests/test_engine_cache_scope.py``: book deltas on
markets sharing an event, answers, rejects, venue updates, fills) and must produce identical outputs at every step.
The reference engine runs the round-3 pipeline: the risk desk judges every step on its own (no plan bound), the
self-cross check is its own pass before the actions (``_no_self_cross`` below, round 3's engine_plan code), the
reconciler is the round-3 ``reconcile_market`` of ``Level`` objects with the round-3 ``reconcile_side`` (copied in
``tests/test_perf_core4_reconcile.py``) and ``has_unknown`` scans the market's orders. Limits range from tight
(refusals, near-limit plans, REDUCING) to loose (the bound decides almost every plan). A broken bound makes the
harness diverge (so it is sensitive).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from kalshibot.core import engine_quote
from kalshibot.core import events as ev
from kalshibot.core.engine_plan import _own_extremes
from kalshibot.core.fixed import Money, Price, contracts
from kalshibot.core.market import MarketState
from kalshibot.core.orders import Order, State
from kalshibot.core.portfolio import Portfolio
from kalshibot.core.reconciler import Amend, Place, Step
from kalshibot.core.risk import RiskLimits
from tests.test_engine_cache_scope import TICKERS, _Counting, _Run
from tests.test_perf_core4_reconcile import _reference_quote


def _no_self_cross(live: list[Order], steps: list[Step]) -> list[Step]:
    """Round 3's separate self-cross pass (now folded into ``QuotingCore._actions``). Drop a place/amend that would
    meet one of our own orders on the other side that may still rest (being cancelled, or moved by an amend not
    yet acknowledged): a post-only order would be cancelled by the exchange and a plain one would trade with
    ourselves. The next requote (after the other order's answer) sends it."""
    for s in steps:  # any() over a generator, as a plain loop (every requote that plans asks)
        if isinstance(s, Place) or (isinstance(s, Amend) and not s.expiry_only):
            break
    else:
        return steps  # nothing that could cross (the plan of keeps, cancels and decreases passes unchanged)
    bid_top, ask_low = _own_extremes(live)
    out: list[Step] = []
    for s in steps:
        if isinstance(s, Place | Amend) and not (isinstance(s, Amend) and s.expiry_only):
            side = s.side if isinstance(s, Place) else s.order.side
            if side == "bid" and ask_low is not None and s.price >= ask_low:
                continue
            if side == "ask" and bid_top is not None and s.price <= bid_top:
                continue
        out.append(s)
    return out


class _Round3(_Counting):
    """The round-3 pipeline (module docstring)."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.desk.use_bound = False
        tracker = self.orders
        tracker.has_unknown = lambda t: any(  # type: ignore[method-assign]
            o.state is State.UNKNOWN for o in tracker._open_by_ticker.get(t, {}).values()
        )

    def handle(self, event: ev.Event, now_ms: int) -> list[ev.Output]:
        new = engine_quote.reconcile_quote
        engine_quote.reconcile_quote = _reference_quote  # type: ignore[assignment]
        try:
            return super().handle(event, now_ms)
        finally:
            engine_quote.reconcile_quote = new

    def _actions(
        self,
        m: MarketState,
        steps: list[Step],
        now_ms: int,
        seq: int | None,
        block: str | None = None,
        live: list[Order] | None = None,
    ) -> list[ev.Output]:
        if live is not None:
            steps = _no_self_cross(live, steps)
        return super()._actions(m, steps, now_ms, seq, block, None)


class _BrokenBound(Portfolio):
    """Broken on purpose: the plan bound forgets the places of the plan."""

    def plan_bound(self, ticker: str, amends: Any, places: Any) -> Any:
        return super().plan_bound(ticker, amends, [])


LIMITS = {
    "tight": RiskLimits(
        price_band=None,
        max_event_exposure=Money(8_000_000),
        max_account_exposure=Money(20_000_000),
        reducing_fraction=1.0,
        reducing_hysteresis=0.0,
    ),
    "market": RiskLimits(
        price_band=Price(20_000),
        max_notional_per_market=Money(3_500_000),
        max_position=contracts(12),
        max_event_exposure=Money(30_000_000),
        max_account_exposure=Money(30_000_000),
    ),
    "reducing": RiskLimits(
        price_band=None,
        max_notional_per_market=Money(6_000_000),
        max_event_exposure=Money(12_000_000),
        reducing_fraction=0.5,
        reducing_hysteresis=0.1,
    ),
    "loose": RiskLimits(price_band=None),
}


def _run(seed: int, limits: str, a_cls: type[_Counting] = _Counting, portfolio: type[Portfolio] | None = None) -> _Run:
    run = _Run(seed)
    cfg = dataclasses.replace(run.b.config, risk=LIMITS[limits])
    run.a = a_cls(cfg, client_order_id_prefix="kb-", id_seed="d")
    if portfolio is not None:
        p = portfolio()
        run.a.desk.portfolio = p
        run.a.desk.guard.portfolio = p
    run.b = _Round3(cfg, client_order_id_prefix="kb-", id_seed="d")  # type: ignore[assignment]
    run.start()
    return run


@pytest.mark.parametrize("limits", sorted(LIMITS))
@pytest.mark.parametrize("seed", range(3))
def test_round4_pipeline_sends_what_round3_sends(seed: int, limits: str) -> None:
    run = _run(seed, limits)
    tracker = run.a.orders
    for _ in range(1500):
        run.now += run.rng.randint(0, 40)
        run.step()
        for t in TICKERS:  # the kept count answers as the scan does, after every event
            assert tracker.has_unknown(t) == any(o.state is State.UNKNOWN for o in tracker.orders(t))
    while run.inflight:
        run.answer()
    for t in TICKERS:
        run.delta()
        assert run.a.orders.orders(t) == run.b.orders.orders(t)
    assert run.a.money_at_stake() == run.b.money_at_stake()
    assert run.a.full > 100  # full requotes ran (the stream exercised the pipeline)


def test_the_engine_differential_catches_a_broken_bound() -> None:
    diverged = 0
    for seed in range(4):
        run = _run(seed, "market", portfolio=_BrokenBound)
        try:
            for _ in range(1500):
                run.now += run.rng.randint(0, 40)
                run.step()
        except AssertionError as e:
            assert "diverged" in str(e)
            diverged += 1
    assert diverged >= 2
