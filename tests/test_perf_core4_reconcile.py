"""Issue 9 round 4: ``reconcile_side``'s one-level, one-order plan (``reconciler._one_on_one``, every full requote
of the default one-level quote) is the general plan, and so is ``reconcile_quote`` (the engine's entry: the quoter's
``(price, count)`` levels, both one-on-one sides at once).

The round-3 ``reconcile_side`` is copied below verbatim as the reference (its helpers are the module's, unchanged).
Random live orders on both sides (every state, quote and flatten kinds, on and off the grid, amends and decreases
in flight, partial fills, expiries near and far), one or two desired levels a side (zero counts too), both
policies, tolerances, size tolerance and expiry settings: ``reconcile_market`` must give the very steps the
reference gives, in the same order."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from kalshibot.core.events import BookSide
from kalshibot.core.fixed import Count, Price
from kalshibot.core.grid import PriceGrid
from kalshibot.core.orders import Order, State
from kalshibot.core.reconciler import (
    _SKIPPED,
    Cancel,
    Decrease,
    Level,
    Place,
    ReconcileParams,
    Step,
    _amend,
    _best,
    _merge,
    _refresh_or_keep,
    _take_spare,
    reconcile_market,
    reconcile_quote,
    reconcile_side,
)

GRID = PriceGrid.linear_cent()
NOW_MS = 1_767_621_600_000


# ---------------------------------------------------------------------------------- round 3, verbatim (renamed)
def _reference_side(
    side: BookSide,
    desired: Sequence[Level],
    orders: Sequence[Order],
    grid: PriceGrid,
    now_ms: int,
    params: ReconcileParams,
    midpoint2: int | None = None,
) -> list[Step]:
    """The plan for one book side. ``orders`` may hold any of our orders in the market; only this side's quote
    orders that are still live are considered (UNKNOWN orders are left alone: the engine blocks the market).
    ``midpoint2`` is twice the midpoint of our best desired bid and ask: an order off its level is kept by the
    tolerance only if it stays strictly on its own side of that midpoint, so a bid and an ask each kept a tick off
    can never lock or cross each other (exact matches are always fine: the desired bid is below the desired ask)."""
    now_s = now_ms // 1000
    new_exp = now_s + params.expiration_s if params.expiration_s is not None else None
    amend_ok = params.policy == "amend"
    window = params.refresh_window_s  # a computed property: read once per side, not once per kept order
    levels = _merge(desired)
    live = [o for o in orders if o.side == side and o.kind == "quote" and o.state not in _SKIPPED]
    steps: list[Step] = []

    # 1. assign each live order to the nearest desired level within tolerance (exact matches win)
    spare: list[Order] = []
    ticks = grid.ticks  # tick_index inlined (a bisect per level and per live order on every requote)
    if len(levels) == 1:  # the one-level quote without the two comprehensions (each a function call)
        groups: list[list[Order]] = [[]]
        level_idx = [bisect_left(ticks, levels[0].price)]
    else:
        groups = [[] for _ in levels]
        level_idx = [bisect_left(ticks, lv.price) for lv in levels]
    for o in live:
        p = o.target_price
        best, best_d = -1, params.tolerance_ticks + 1
        if midpoint2 is not None and (2 * p >= midpoint2 if side == "bid" else 2 * p <= midpoint2):
            best_d = 1  # exact matches only
        if grid.is_valid(p):
            oi = bisect_left(ticks, p)
            for i, li in enumerate(level_idx):
                d = abs(oi - li)
                if d < best_d:
                    best, best_d = i, d
        if best >= 0:
            groups[best].append(o)
        else:
            spare.append(o)

    # 2. levels nobody serves: move a spare order there, or place
    for lv, group in zip(levels, groups):
        if group:
            continue
        mover = _take_spare(spare, lv.price) if amend_ok else None
        if mover is not None:
            steps.append(_amend(mover, lv.price, Count(mover.filled + lv.count), new_exp, False))
        else:
            steps.append(Place(side, lv.price, lv.count, new_exp))

    # 3. levels with orders: fix the size, refresh expiries
    for lv, group in zip(levels, groups):
        if not group:
            continue
        # one order per level is the usual case: its remainder without a generator
        held = group[0].target_remaining if len(group) == 1 else sum(o.target_remaining for o in group)
        kept = list(group)
        if held > lv.count:
            excess = held - lv.count
            for o in sorted(group, key=lambda x: x.created_ms, reverse=True):
                if excess <= 0:
                    break
                rem = o.target_remaining
                if rem <= excess:
                    steps.append(Cancel(o, "size"))
                    kept.remove(o)
                    excess -= rem
                elif o.in_flight:
                    continue  # one request at a time: reduce it after its answer
                elif amend_ok:
                    steps.append(Decrease(o, Count(excess)))
                    kept.remove(o)
                    excess = 0
                else:
                    steps.append(Cancel(o, "size"))
                    steps.append(Place(side, lv.price, Count(rem - excess), new_exp))
                    kept.remove(o)
                    excess = 0
        elif held < lv.count - params.size_tolerance:
            steps.append(Place(side, lv.price, Count(lv.count - held), new_exp))
        for o in kept:
            steps += _refresh_or_keep(o, lv, side, now_s, new_exp, params, window)

    # 4. whatever is left over comes off the book
    for o in spare:
        steps.append(Cancel(o, "off_grid" if not grid.is_valid(o.target_price) else "requote"))
    return steps


def _reference_market(
    bids: Sequence[Level],
    asks: Sequence[Level],
    orders: Sequence[Order],
    grid: PriceGrid,
    now_ms: int,
    params: ReconcileParams,
) -> list[Step]:
    best_bid = _best(bids, max)
    best_ask = _best(asks, min)
    mid2 = best_bid + best_ask if best_bid is not None and best_ask is not None else None
    plan = _reference_side("bid", bids, orders, grid, now_ms, params, mid2)
    return plan + _reference_side("ask", asks, orders, grid, now_ms, params, mid2)


def _reference_quote(
    bids: Sequence[tuple[Price, Count]],
    asks: Sequence[tuple[Price, Count]],
    orders: Sequence[Order],
    grid: PriceGrid,
    now_ms: int,
    params: ReconcileParams,
) -> list[Step]:
    """What the round-3 engine did with the quoter's levels."""
    return _reference_market(
        [Level(p, c) for p, c in bids], [Level(p, c) for p, c in asks], orders, grid, now_ms, params
    )


# ------------------------------------------------------------------------------------------------ the property
# mostly a few ticks apart, so orders are within tolerance of a level as often as not
cents = st.one_of(st.integers(40, 45), st.integers(40, 45), st.integers(1, 99)).map(lambda c: Price(c * 10_000))
prices = st.one_of(cents, cents, cents, st.integers(1, 999_999).map(Price))  # sometimes off the grid
counts = st.integers(0, 6).map(lambda c: Count(c * 100))
levels = st.lists(st.builds(Level, cents, counts), max_size=2)


@st.composite
def orders(draw: st.DrawFn, n: int) -> list[Order]:
    out = []
    for i in range(n):
        total = draw(st.integers(1, 6).map(lambda c: Count(c * 100)))
        o = Order(
            client_order_id=f"c{i}",
            ticker="A",
            side=draw(st.sampled_from(["bid", "ask"])),
            price=draw(prices),
            total=total,
            created_ms=draw(st.integers(0, 5)),
            kind=draw(st.sampled_from(["quote", "quote", "quote", "flatten"])),
            order_id=f"x{i}",
            state=draw(st.sampled_from(list(State))),
            fills_counted=draw(st.sampled_from([Count(0), Count(0), Count(50), total])),
            expiration_ts_s=draw(st.one_of(st.none(), st.integers(NOW_MS // 1000 - 5, NOW_MS // 1000 + 90))),
            key=f"c{i}",
        )
        if draw(st.booleans()):
            o.pending_price = draw(st.one_of(st.none(), prices))
            o.pending_total = draw(st.one_of(st.none(), st.integers(0, 8).map(lambda c: Count(c * 100))))
        out.append(o)
    return out


params = st.builds(
    ReconcileParams,
    tolerance_ticks=st.integers(0, 3),
    policy=st.sampled_from(["amend", "amend", "cancel_replace"]),
    expiration_s=st.one_of(st.none(), st.sampled_from([60, 120])),
    refresh_before_s=st.one_of(st.none(), st.integers(0, 60)),
    size_tolerance=st.sampled_from([Count(0), Count(0), Count(100)]),
)


@settings(max_examples=3000, deadline=None)
@given(levels, levels, st.integers(0, 4).flatmap(orders), params, st.integers(0, 3000))
def test_one_on_one_plan_equals_round3(
    bids: list[Level], asks: list[Level], live: list[Order], p: ReconcileParams, dt_ms: int
) -> None:
    now = NOW_MS + dt_ms
    assert reconcile_market(bids, asks, live, GRID, now, p) == _reference_market(bids, asks, live, GRID, now, p)
    tb = [(lv.price, lv.count) for lv in bids]
    ta = [(lv.price, lv.count) for lv in asks]
    assert reconcile_quote(tb, ta, live, GRID, now, p) == _reference_quote(tb, ta, live, GRID, now, p)
    for side, want in (("bid", bids), ("ask", asks)):
        for mid2 in (None, 1_000_000, 2 * 450_000):
            got = reconcile_side(side, want, live, GRID, now, p, mid2)  # type: ignore[arg-type]
            assert got == _reference_side(side, want, live, GRID, now, p, mid2)  # type: ignore[arg-type]
