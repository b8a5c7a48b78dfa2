"""Issue 9 round 4: ``RiskDesk.sync_order`` reads ``Order.filled`` once and computes the remaining counts itself
(``Order.remaining`` / ``Order.target_remaining`` inlined). Its mirror in the portfolio must be the one the round-3
code (copied below, through the properties) made, for orders in every state, with fills counted by us or by the
venue, amends and decreases in flight, pending figures above and below the current ones. Also the quoter's ``_fit``
(how many levels fit under ``max_position``), now without ``max()``/``min()``, against the round-3 formula."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kalshibot.core.engine_risk import RiskDesk
from kalshibot.core.events import MarketSpec
from kalshibot.core.fixed import Count, Price
from kalshibot.core.grid import PriceGrid
from kalshibot.core.orders import Order, State
from kalshibot.core.quoter import _fit
from kalshibot.core.risk import RiskLimits

counts = st.integers(-2, 12).map(lambda c: Count(c * 50))


def _round3_sync(desk: RiskDesk, o: Order) -> None:
    p = desk.portfolio
    if o.is_terminal:
        p.remove_order(o.key)
        return
    price, count = o.price, o.remaining
    if o.state is State.PENDING_AMEND and o.pending_price is not None:
        pp = o.pending_price
        if (pp > price) if o.side == "bid" else (pp < price):
            price = pp
        tr = o.target_remaining
        if tr > count:
            count = tr
    p.upsert_order(o.key, o.ticker, o.side, price, count)


@settings(max_examples=1500, deadline=None)
@given(
    st.sampled_from(list(State)),
    st.sampled_from(["bid", "ask"]),
    st.integers(1, 99).map(lambda c: Price(c * 10_000)),
    counts,
    counts,
    counts,
    st.one_of(st.none(), st.integers(1, 99).map(lambda c: Price(c * 10_000))),
    st.one_of(st.none(), counts),
    st.booleans(),
)
def test_sync_order_mirrors_as_round3(
    state: State,
    side: str,
    price: Price,
    total: Count,
    fills: Count,
    venue: Count,
    pp: Price | None,
    pt: Count | None,
    resting_first: bool,
) -> None:
    mirrors = []
    for sync in (RiskDesk.sync_order, _round3_sync):
        desk = RiskDesk(RiskLimits())
        desk.add_market(MarketSpec("A", "E", "S", PriceGrid.linear_cent()))
        o = Order("c", "A", side, price, total, 0, key="k", state=state, fills_counted=fills, venue_filled=venue)  # type: ignore[arg-type]
        if resting_first:  # an earlier mirror of the order is there to be replaced or removed
            desk.portfolio.upsert_order("k", "A", side, Price(500_000), Count(100))  # type: ignore[arg-type]
        o.pending_price, o.pending_total = pp, pt
        sync(desk, o)
        ro = desk.portfolio.order("k")
        mirrors.append(None if ro is None else (ro.side, ro.price, ro.remaining, type(ro.remaining)))
        mirrors.append(desk.portfolio.market_stake("A"))
    assert mirrors[:2] == mirrors[2:]


@settings(max_examples=1000, deadline=None)
@given(
    st.integers(-50_000, 50_000),
    st.integers(1, 5_000),
    st.integers(1, 6),
    st.one_of(st.none(), st.integers(0, 60_000)),
    st.booleans(),
)
def test_quoter_fit_is_the_min_max_formula(position: int, size: int, n: int, max_pos: int | None, buy: bool) -> None:
    """``quoter._fit`` without ``max()``/``min()`` (round 4) is the round-3 formula."""
    if max_pos is None:
        want = n
    else:
        room = max_pos - position if buy else max_pos + position
        want = max(0, min(n, room // size)) if room > 0 else 0
    assert _fit(position, size, n, max_pos, buy) == want
