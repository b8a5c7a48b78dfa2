"""The quote reconciler: tolerance, size changes, moves, expiry refresh, in-flight orders, policies, and properties
(the plan converges in one step, is idempotent, and never costs more than cancel-everything-and-replace)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from kalshibot.core import events as ev
from kalshibot.core.fixed import Price, contracts, dollars
from kalshibot.core.grid import PriceGrid
from kalshibot.core.order_tracker import OrderTracker
from kalshibot.core.orders import Order, State
from kalshibot.core.reconciler import (
    Amend,
    Cancel,
    Decrease,
    Keep,
    Level,
    Place,
    ReconcileParams,
    Step,
    plan_cost,
    reconcile_market,
    reconcile_side,
)

GRID = PriceGrid.linear_cent()
NOW_MS = 1_700_000_000_000
NOW_S = NOW_MS // 1000
FAR = NOW_S + 3600


class Book:
    def __init__(self) -> None:
        self.tr = OrderTracker(strict=True)
        self.n = 0

    def order(
        self,
        price: str,
        count: int,
        side: ev.BookSide = "bid",
        *,
        state: State = State.RESTING,
        filled: int = 0,
        exp: int | None = FAR,
    ) -> Order:
        self.n += 1
        coid = f"c{self.n}"
        o = self.tr.new(coid, "M", side, dollars(price), contracts(count), self.n, expiration_ts_s=exp)
        if state is State.PENDING_NEW:
            return o
        self.tr.apply(ev.OrderAck(coid, f"o{self.n}", contracts(filled), contracts(count - filled)), self.n)
        if state is State.PENDING_CANCEL:
            self.tr.send_cancel(o, self.n)
        elif state is State.PENDING_AMEND:
            self.tr.send_amend(o, coid + "a", Price(o.price + 10_000), o.total, exp, self.n)
        assert o.state is state or (state is State.RESTING and o.state is State.PARTIALLY_FILLED)
        return o


def lv(price: str, count: int) -> Level:
    return Level(dollars(price), contracts(count))


def plan(levels: list[Level], orders: list[Order], side: ev.BookSide = "bid", **kw: object) -> list[Step]:
    return reconcile_side(side, levels, orders, GRID, NOW_MS, ReconcileParams(**kw))  # type: ignore[arg-type]


def actions(steps: list[Step]) -> list[Step]:
    return [s for s in steps if not isinstance(s, Keep)]


def test_exact_match_keeps() -> None:
    b = Book()
    o = b.order("0.45", 10)
    assert plan([lv("0.45", 10)], [o]) == [Keep(o)]


@pytest.mark.parametrize(("desired", "moved"), [("0.46", False), ("0.44", False), ("0.47", True), ("0.43", True)])
def test_requote_tolerance(desired: str, moved: bool) -> None:
    b = Book()
    o = b.order("0.45", 10)
    steps = plan([lv(desired, 10)], [o], tolerance_ticks=1)
    if moved:
        assert steps == [Amend(o, dollars(desired), contracts(10), NOW_S + 60)]
    else:
        assert steps == [Keep(o)]


def test_tolerance_zero_always_moves() -> None:
    b = Book()
    o = b.order("0.45", 10)
    assert plan([lv("0.46", 10)], [o], tolerance_ticks=0) == [Amend(o, dollars("0.46"), contracts(10), NOW_S + 60)]


def test_tolerance_counts_grid_ticks_not_cents() -> None:
    grid = PriceGrid.from_wire([], "tapered_deci_cent")
    b = Book()
    o = b.order("0.050", 10)
    # 0.052 is two deci-cent ticks away on the tapered grid: beyond a one-tick tolerance
    steps = reconcile_side("bid", [lv("0.052", 10)], [o], grid, NOW_MS, ReconcileParams(tolerance_ticks=1))
    assert isinstance(steps[0], Amend)
    steps = reconcile_side("bid", [lv("0.051", 10)], [o], grid, NOW_MS, ReconcileParams(tolerance_ticks=1))
    assert steps == [Keep(o)]


def test_amend_keeps_filled_in_count() -> None:
    b = Book()
    o = b.order("0.45", 10, filled=4)
    steps = plan([lv("0.40", 5)], [o])
    assert steps == [Amend(o, dollars("0.40"), contracts(9), NOW_S + 60)]  # 4 filled + 5 resting


def test_cancel_replace_policy_never_amends() -> None:
    b = Book()
    o = b.order("0.45", 10)
    steps = plan([lv("0.40", 10)], [o], policy="cancel_replace")
    assert steps == [Place("bid", dollars("0.40"), contracts(10), NOW_S + 60), Cancel(o, "requote")]
    assert plan_cost(steps) == 12
    assert plan_cost(plan([lv("0.40", 10)], [o])) == 10


def test_size_down_decreases_keeping_queue() -> None:
    b = Book()
    o = b.order("0.45", 10)
    assert plan([lv("0.45", 6)], [o]) == [Decrease(o, contracts(4))]
    cr = plan([lv("0.45", 6)], [o], policy="cancel_replace")
    assert cr == [Cancel(o, "size"), Place("bid", dollars("0.45"), contracts(6), NOW_S + 60)]


def test_size_down_cancels_newest_whole_order_first() -> None:
    b = Book()
    old = b.order("0.45", 6)
    new = b.order("0.45", 4)
    assert plan([lv("0.45", 6)], [old, new]) == [Cancel(new, "size"), Keep(old)]
    assert plan([lv("0.45", 3)], [old, new]) == [Cancel(new, "size"), Decrease(old, contracts(3))]


def test_size_up_adds_an_order_instead_of_losing_queue() -> None:
    b = Book()
    o = b.order("0.45", 6)
    assert plan([lv("0.45", 10)], [o]) == [Place("bid", dollars("0.45"), contracts(4), NOW_S + 60), Keep(o)]
    assert plan([lv("0.45", 10)], [o], size_tolerance=contracts(4)) == [Keep(o)]


def test_new_level_and_stale_level() -> None:
    b = Book()
    assert plan([lv("0.45", 10)], []) == [Place("bid", dollars("0.45"), contracts(10), NOW_S + 60)]
    o = b.order("0.45", 10)
    assert plan([], [o]) == [Cancel(o, "requote")]


def test_off_grid_order_is_never_kept() -> None:
    grid = PriceGrid.from_wire([{"start": "0", "end": "1", "step": "0.02"}])
    b = Book()
    o = b.order("0.45", 10)
    p = ReconcileParams(tolerance_ticks=5)
    assert reconcile_side("bid", [], [o], grid, NOW_MS, p) == [Cancel(o, "off_grid")]
    # with a level to serve it moves there instead (10 tokens rather than 12)
    assert reconcile_side("bid", [lv("0.44", 10)], [o], grid, NOW_MS, p) == [
        Amend(o, dollars("0.44"), contracts(10), NOW_S + 60)
    ]


def test_expiry_refresh_is_expiry_only_amend() -> None:
    b = Book()
    o = b.order("0.45", 10, exp=NOW_S + 20, filled=3)
    steps = plan([lv("0.46", 7)], [o], expiration_s=60)
    assert steps == [Amend(o, dollars("0.45"), contracts(10), NOW_S + 60, expiry_only=True)]
    fresh = b.order("0.45", 10, exp=NOW_S + 40)
    assert plan([lv("0.45", 10)], [fresh], expiration_s=60) == [Keep(fresh)]
    cr = plan([lv("0.45", 7)], [o], expiration_s=60, policy="cancel_replace")
    assert cr == [Cancel(o, "expiry"), Place("bid", dollars("0.45"), contracts(7), NOW_S + 60)]
    # plain GTC quotes are never refreshed
    assert plan([lv("0.45", 7)], [o], expiration_s=None) == [Keep(o)]


def test_pending_new_beyond_tolerance_is_cancelled_and_replaced() -> None:
    b = Book()
    o = b.order("0.45", 10, state=State.PENDING_NEW)
    assert plan([lv("0.46", 10)], [o]) == [Keep(o)]
    steps = plan([lv("0.40", 10)], [o])
    assert steps == [Place("bid", dollars("0.40"), contracts(10), NOW_S + 60), Cancel(o, "requote")]


def test_in_flight_gets_no_second_request() -> None:
    b = Book()
    o = b.order("0.45", 10, state=State.PENDING_NEW)
    # wants fewer: a decrease must wait for the ack
    assert plan([lv("0.45", 6)], [o]) == [Keep(o)]
    a = b.order("0.30", 10, state=State.PENDING_AMEND)  # amend to 0.31 in flight
    assert plan([lv("0.31", 10)], [a]) == [Keep(a)]


def test_pending_cancel_is_ignored() -> None:
    b = Book()
    o = b.order("0.45", 10, state=State.PENDING_CANCEL)
    assert plan([lv("0.45", 10)], [o]) == [Place("bid", dollars("0.45"), contracts(10), NOW_S + 60)]


def test_sides_and_kinds_are_separate() -> None:
    b = Book()
    ask = b.order("0.55", 10, side="ask")
    flat = b.tr.new("flat", "M", "bid", dollars("0.45"), contracts(3), 0, kind="flatten")
    steps = reconcile_market([lv("0.45", 10)], [lv("0.55", 10)], [ask, flat], GRID, NOW_MS, ReconcileParams())
    assert steps == [Place("bid", dollars("0.45"), contracts(10), NOW_S + 60), Keep(ask)]


# ---------------------------------------------------------------------------------------------- properties
PRICES = st.integers(1, 99)


def _apply(steps: list[Step], filled: dict[int, int]) -> list[tuple[int, int]]:
    """The book after the plan's requests all land: (price, resting) pairs."""
    out: list[tuple[int, int]] = []
    for s in steps:
        if isinstance(s, Keep):
            out.append((s.order.price, s.order.remaining))
        elif isinstance(s, Place):
            out.append((s.price, s.count))
        elif isinstance(s, Amend):
            out.append((s.price, s.total - filled[id(s.order)]))
        elif isinstance(s, Decrease):
            out.append((s.order.price, s.order.remaining - s.reduce_by))
    return out


@settings(max_examples=200, deadline=None)
@given(
    live=st.lists(st.tuples(PRICES, st.integers(1, 20), st.integers(0, 5)), max_size=5),
    want=st.dictionaries(PRICES, st.integers(1, 20), max_size=3),
    tol=st.integers(0, 3),
    policy=st.sampled_from(["amend", "cancel_replace"]),
)
def test_plan_converges_and_is_cheap(
    live: list[tuple[int, int, int]], want: dict[int, int], tol: int, policy: str
) -> None:
    ps = sorted(want)
    assume(all(b_ - a_ > 2 * tol for a_, b_ in itertools.pairwise(ps)))  # levels whose tolerance bands do not overlap
    b = Book()
    orders = [b.order(f"0.{p:02d}", c + f, filled=f) for p, c, f in live]
    levels = [Level(Price(p * 10_000), contracts(c)) for p, c in want.items()]
    params = ReconcileParams(tolerance_ticks=tol, policy=policy)  # type: ignore[arg-type]
    steps = reconcile_side("bid", levels, orders, GRID, NOW_MS, params)
    # every live order is accounted for exactly once (kept, changed or cancelled)
    touched = [s.order for s in steps if not isinstance(s, Place)]
    assert sorted(map(id, touched)) == sorted(map(id, orders))
    if policy == "cancel_replace":
        assert not any(isinstance(s, Amend | Decrease) for s in steps)
    # after the plan lands, each level holds exactly its size within tolerance, and nothing else rests
    after = _apply(steps, {id(o): o.filled for o in orders})
    for lvl in levels:
        near = [(p, c) for p, c in after if abs(p - lvl.price) <= tol * 10_000]
        assert sum(c for _, c in near) == lvl.count
    assert sum(c for _, c in after) == sum(lvl.count for lvl in levels)
    assert all(c > 0 for _, c in after)
    # never dearer than the baseline of cancelling everything and placing every level
    assert plan_cost(steps) <= 2 * len(orders) + 10 * len(levels)
    if policy == "amend":
        cr = reconcile_side(
            "bid", levels, orders, GRID, NOW_MS, ReconcileParams(tolerance_ticks=tol, policy="cancel_replace")
        )
        assert plan_cost(steps) <= plan_cost(cr)
    # idempotent: rebuilt from the result, the next pass keeps everything
    b2 = Book()
    again = [b2.order(f"0.{p // 10_000:02d}", c // 100) for p, c in after]
    steps2 = reconcile_side("bid", levels, again, GRID, NOW_MS, params)
    assert all(isinstance(s, Keep) for s in steps2)


def test_tolerance_never_keeps_our_quotes_crossed() -> None:
    b = Book()
    bid = b.order("0.46", 10)
    ask = b.order("0.46", 10, side="ask")  # each one tick off its desired level, and touching
    steps = reconcile_market([lv("0.45", 10)], [lv("0.47", 10)], [bid, ask], GRID, NOW_MS, ReconcileParams())
    assert Keep(bid) not in steps and Keep(ask) not in steps
    # without the opposite side in view the tolerance alone would have kept them
    assert plan([lv("0.45", 10)], [bid]) == [Keep(bid)]
