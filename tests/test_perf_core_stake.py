"""The O(1) event stake of a hypothetical order (``Portfolio._event_stake_hyp``: cached clean stake adjusted by the
touched markets) equals the from-scratch computation, on portfolios built to exercise it: events of several
markets, some mutually exclusive (those must scan), amends replacing an order of another market or event, settled
and determined members, and queries in either order (event first or account first) between changes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kalshibot.core.events import MarketSpec
from kalshibot.core.fixed import Count, Price
from kalshibot.core.grid import PriceGrid
from kalshibot.core.portfolio import Hypothetical, Portfolio
from tests.test_portfolio_stake_cache import _account, _ceil, _event, _market

GRID = PriceGrid.linear_cent()
TICKERS = ["A", "B", "C", "D", "F", "G"]
EVENTS = ["E1", "E2"]
OIDS = ["o1", "o2", "o3", "o4", "o5", "o6", "o7", "o8"]

prices = st.integers(1, 99).map(lambda c: Price(c * 10_000))
counts = st.integers(1, 40).map(lambda c: Count(c * 50))
sides = st.sampled_from(["bid", "ask"])

changes = st.one_of(
    st.tuples(st.just("upsert"), st.sampled_from(OIDS), st.sampled_from(TICKERS), sides, prices, counts),
    st.tuples(st.just("remove"), st.sampled_from(OIDS)),
    st.tuples(st.just("trade"), st.sampled_from(TICKERS), sides, prices, counts),
    st.tuples(st.just("determine"), st.sampled_from(TICKERS), st.sampled_from([0, 1_000_000])),
    st.tuples(st.just("settle"), st.sampled_from(TICKERS)),
    st.tuples(st.just("move"), st.sampled_from(TICKERS), st.sampled_from(EVENTS), st.booleans()),
)
hyps = st.builds(
    Hypothetical, st.sampled_from(TICKERS), sides, prices, counts, st.one_of(st.none(), st.sampled_from(OIDS))
)


def _apply(pf: Portfolio, op: tuple[object, ...]) -> None:
    kind = op[0]
    if kind == "upsert":
        _, oid, t, side, price, count = op
        pf.upsert_order(str(oid), str(t), side, price, count)  # type: ignore[arg-type]
    elif kind == "remove":
        pf.remove_order(str(op[1]))
    elif kind == "trade":
        _, t, side, price, count = op
        pf.apply_trade(str(t), side, price, count)  # type: ignore[arg-type]
    elif kind == "determine":
        pf.determine(str(op[1]), Price(int(op[2])))  # type: ignore[call-overload]
    elif kind == "settle":
        m = pf.market(str(op[1]))
        if m is not None and m.settlement_value is not None:
            pf.settle(str(op[1]))
    elif kind == "move":
        _, t, e, me = op
        pf.add_market(MarketSpec(str(t), str(e), "S", GRID, mutually_exclusive=bool(me)))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.booleans(), min_size=len(TICKERS), max_size=len(TICKERS)),
    st.lists(changes, min_size=1, max_size=30),
    st.lists(hyps, min_size=1, max_size=4),
    st.booleans(),
)
def test_hypothetical_event_stake_equals_scratch(
    excl: list[bool], ops: list[tuple[object, ...]], hs: list[Hypothetical], account_first: bool
) -> None:
    pf = Portfolio()
    for i, t in enumerate(TICKERS):  # two events of three markets each; mutual exclusivity per market drawn
        pf.add_market(MarketSpec(t, EVENTS[i // 3], "S", GRID, mutually_exclusive=excl[i]))
    for op in ops:
        _apply(pf, op)
        for h in hs:
            if account_first:
                assert pf.account_stake(h) == _ceil(_account(pf, h)), h
            for e in EVENTS:
                assert pf.event_stake(e, h) == _ceil(_event(pf, e, h)), (e, h)
            assert pf.market_stake(h.ticker, h) == _ceil(_market(pf.market(h.ticker), h))  # type: ignore[arg-type]
            assert pf.account_stake(h) == _ceil(_account(pf, h)), h
            # the clean figures are untouched by the judgement
            assert pf.account_stake() == _ceil(_account(pf, None))


def _scratch_bounds_reducing(pf: Portfolio, h: Hypothetical) -> tuple[int, int, bool]:
    m = pf.market(h.ticker)
    pos = m.position if m is not None else 0
    orders = [o for oid, o in (m.orders.items() if m is not None else []) if oid != h.replaces]
    bids = sum(o.remaining for o in orders if o.side == "bid")
    asks = sum(o.remaining for o in orders if o.side == "ask")
    lo, hi = pos - asks, pos + bids
    if h.side == "bid":
        hi += h.count
        reducing = h.count > 0 and pos + bids + h.count <= 0
    else:
        lo -= h.count
        reducing = h.count > 0 and pos - asks - h.count >= 0
    return lo, hi, reducing


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.booleans(), min_size=len(TICKERS), max_size=len(TICKERS)),
    st.lists(changes, min_size=1, max_size=30),
    st.lists(
        st.builds(
            Hypothetical,
            st.sampled_from([*TICKERS, "NEW"]),
            sides,
            prices,
            st.integers(-100, 2000).map(Count),
            st.one_of(st.none(), st.sampled_from(OIDS)),
        ),
        min_size=1,
        max_size=4,
    ),
    st.lists(st.tuples(st.sampled_from(TICKERS), st.integers(-3000, 3000).map(Count)), max_size=4),
)
def test_judge_market_equals_the_separate_figures(
    excl: list[bool],
    ops: list[tuple[object, ...]],
    hs: list[Hypothetical],
    positions: list[tuple[str, Count]],
) -> None:
    """``judge_market`` (one pass for the risk check) = would_be_reducing, market_stake and position_bounds
    computed from scratch, whatever the position's sign (reducing orders), and for a ticker not yet known."""
    pf = Portfolio()
    for i, t in enumerate(TICKERS):
        pf.add_market(MarketSpec(t, EVENTS[i // 3], "S", GRID, mutually_exclusive=excl[i]))
    for t, pos in positions:
        pf.set_position(t, pos)
    for op in ops:
        _apply(pf, op)
        for h in hs:
            reducing, stake, lo, hi = pf.judge_market(h)
            slo, shi, sred = _scratch_bounds_reducing(pf, h)
            assert (reducing, lo, hi) == (sred, slo, shi), h
            m = pf.market(h.ticker)
            if m is not None:
                assert stake == _ceil(_market(m, h)), h
                # and what it cached for h is what the event and account figures then use
                assert pf.event_stake(m.event_ticker, h) == _ceil(_event(pf, m.event_ticker, h)), h
                assert pf.account_stake(h) == _ceil(_account(pf, h)), h
            else:
                assert stake == _ceil(max(0, *_scratch_fresh_losses(h)))


def _scratch_fresh_losses(h: Hypothetical) -> tuple[int, int]:
    if h.side == "bid":
        return h.price * h.count, 0
    return 0, (1_000_000 - h.price) * h.count
