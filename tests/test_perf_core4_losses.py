"""Issue 9 round 4: an order change moves its market's cached losses by that order's term instead of dropping them
(``Portfolio._touch_orders``), so the next event and account figures read them without a scan of the market's
orders. After every operation of random histories (resting orders added, changed, moved between markets and
removed, trades, determinations, settlements, event moves) every cached entry must equal ``losses_x()`` from
scratch, and the money at stake the from-scratch figures."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kalshibot.core.events import MarketSpec
from kalshibot.core.portfolio import Portfolio
from tests.test_perf_core_stake import EVENTS, GRID, TICKERS, _apply, changes
from tests.test_portfolio_stake_cache import _account, _ceil, _event


@settings(max_examples=500, deadline=None)
@given(
    st.lists(st.booleans(), min_size=len(TICKERS), max_size=len(TICKERS)),
    st.lists(changes, min_size=1, max_size=40),
    st.lists(st.sampled_from(["account", "event", "none"]), min_size=1, max_size=40),
)
def test_cached_losses_stay_exact(excl: list[bool], ops: list[tuple[object, ...]], asks: list[str]) -> None:
    pf = Portfolio()
    for i, t in enumerate(TICKERS):
        pf.add_market(MarketSpec(t, EVENTS[i // 3], "S", GRID, mutually_exclusive=excl[i]))
    pf.account_stake()  # every market's losses cached: the order changes below move them
    for op, ask in zip(ops, asks * (len(ops) // len(asks) + 1), strict=False):
        _apply(pf, op)
        for t, losses in pf._losses_cache.items():
            m = pf.market(t)
            assert m is not None and losses == m.losses_x(), (op, t)
        if ask == "account":
            assert pf.account_stake() == _ceil(_account(pf, None))
        elif ask == "event":
            for e in EVENTS:
                assert pf.event_stake(e) == _ceil(_event(pf, e, None))
