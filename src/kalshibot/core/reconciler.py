"""The quote reconciler: from the quotes the strategy wants and our live orders, the fewest, cheapest actions.

Theory of operation
-------------------
For one market and one book side, the strategy wants a set of levels ``(price, count)``; we have some live orders
there. :func:`reconcile_side` returns a plan of :data:`Step` values: keep, place, amend (price, size or expiry),
decrease, cancel. It is pure: the engine turns steps into order actions, ids and journal notes.

How it chooses (costs are Kalshi write-bucket tokens, API.md §7.1: create 10, amend 10, decrease 10, cancel 2):

1. *Tolerance.* A live order whose price is within ``tolerance_ticks`` grid ticks of a desired level serves that
   level: a one-tick wobble of the fair value does not churn orders (and does not lose queue position). Orders off
   the market's grid (after ``price_level_structure_updated``, API.md §4) never serve a level.
2. *Size.* If a level's orders hold more than wanted, the excess comes off the newest orders first (the oldest has
   the best queue position): an order that must go entirely is cancelled (2 tokens), otherwise it is decreased
   (10 tokens, and a decrease keeps queue priority, API.md §3.5). If they hold less, the shortfall is *added* as a
   new order rather than amending size up, because an amend that increases size forfeits queue priority while a new
   order costs the same 10 tokens and leaves the old one in place.
3. *Moves.* A level with no order is served by amending an unused live order to it (10 tokens instead of cancel +
   create = 12); otherwise by a new order. Unused orders left over are cancelled.
4. *Expiry.* Quotes are good-till-time (``expiration_time``, API.md §3.5) so a dead bot's quotes lapse on the
   exchange. A kept order whose expiry is within ``refresh_before_s`` is refreshed by an expiry-only amend (same
   price and count): the only amend that keeps queue priority.
5. *In flight.* An order with a request in flight (pending new/amend/decrease) gets no second request, except a
   cancel: a quote whose book moved beyond tolerance before its ack is cancelled (and its level re-served), which is
   how "every action carries the book sequence it came from" is enforced. Orders pending cancel are ignored.

``policy="cancel_replace"`` is the seed guide's baseline: never amend or decrease; every change is cancel + place.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from kalshibot.core.event_builders import draft_class
from kalshibot.core.events import BookSide
from kalshibot.core.fixed import Count, Price
from kalshibot.core.grid import PriceGrid
from kalshibot.core.orders import TERMINAL, Order, State

Policy = Literal["amend", "cancel_replace"]

COST_CREATE = 10
COST_AMEND = 10
COST_DECREASE = 10  # default cost (API.md §7.1: only cancels are cheaper)
COST_CANCEL = 2


@dataclass(frozen=True, slots=True)
class Level:
    price: Price
    count: Count


@dataclass(frozen=True, slots=True)
class ReconcileParams:
    tolerance_ticks: int = 1
    policy: Policy = "amend"
    expiration_s: int | None = 60  # good-till-time length; None = plain GTC (no refresh)
    refresh_before_s: int | None = None  # refresh when this close to expiry; default: half of expiration_s
    size_tolerance: Count = Count(0)  # a shortfall up to this is not topped up (partial fills do not churn)

    @property
    def refresh_window_s(self) -> int:
        if self.expiration_s is None:
            return 0
        return self.refresh_before_s if self.refresh_before_s is not None else self.expiration_s // 2


@dataclass(frozen=True, slots=True)
class Keep:
    order: Order


@dataclass(frozen=True, slots=True)
class Place:
    side: BookSide
    price: Price
    count: Count
    expiration_ts_s: int | None


@dataclass(frozen=True, slots=True)
class Amend:
    order: Order
    price: Price
    total: Count  # V2 amend count: already filled + desired resting remainder (API.md §3.5)
    expiration_ts_s: int | None
    expiry_only: bool = False  # same price and count: keeps queue priority


@dataclass(frozen=True, slots=True)
class Decrease:
    order: Order
    reduce_by: Count


@dataclass(frozen=True, slots=True)
class Cancel:
    order: Order
    reason: str


Step = Keep | Place | Amend | Decrease | Cancel


def step_cost(step: Step) -> int:
    if isinstance(step, Place):
        return COST_CREATE
    if isinstance(step, Amend):
        return COST_AMEND
    if isinstance(step, Decrease):
        return COST_DECREASE
    if isinstance(step, Cancel):
        return COST_CANCEL
    return 0


def plan_cost(steps: Sequence[Step]) -> int:
    """Write-bucket tokens the plan spends."""
    return sum(step_cost(s) for s in steps)


def tick_index(grid: PriceGrid, price: int) -> int:
    """Position of ``price`` among the grid's ticks (off-grid prices land between neighbours)."""
    return bisect_left(grid.ticks, price)


def _merge(levels: Sequence[Level]) -> list[Level]:
    if len(levels) == 1:  # the common one-level quote: nothing to merge (a Level is immutable: share it)
        lv = levels[0]
        return [lv] if lv.count > 0 else []
    by_price: dict[int, int] = {}
    for lv in levels:
        if lv.count > 0:
            by_price[lv.price] = by_price.get(lv.price, 0) + lv.count
    return [Level(Price(p), Count(c)) for p, c in by_price.items()]


def reconcile_side(
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
    if len(levels) == 1 and len(live) == 1:
        # the usual quote: one level, one order (the general steps below, specialised; tests/test_perf_core4_*)
        return _one_on_one(side, levels[0], live[0], grid, now_s, new_exp, amend_ok, window, params, midpoint2)
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


def _one_on_one(
    side: BookSide,
    lv: Level,
    o: Order,
    grid: PriceGrid,
    now_s: int,
    new_exp: int | None,
    amend_ok: bool,
    window: int,
    params: ReconcileParams,
    midpoint2: int | None,
) -> list[Step]:
    """:func:`reconcile_side`'s plan when one level is wanted and one live order is there: the same four steps
    with the lists of one (no groups, no spare list, no sort of one order), in the same order and with the same
    step values. Every full requote of a one-level quote lands here (issue 9)."""
    p = o.target_price
    best_d = params.tolerance_ticks + 1
    if midpoint2 is not None and (2 * p >= midpoint2 if side == "bid" else 2 * p <= midpoint2):
        best_d = 1  # exact matches only
    valid = grid.is_valid(p)
    if valid:
        ticks = grid.ticks
        d = bisect_left(ticks, p) - bisect_left(ticks, lv.price)
        served = (d if d >= 0 else -d) < best_d
    else:
        served = False
    if not served:
        # 2. the level has no order: move this one there (it is the only spare), or place; 4. cancel it if unused
        if amend_ok and not o.in_flight:
            return [_amend(o, lv.price, Count(o.filled + lv.count), new_exp, False)]
        return [Place(side, lv.price, lv.count, new_exp), Cancel(o, "requote" if valid else "off_grid")]
    # 3. the order serves the level: fix the size, refresh the expiry
    steps: list[Step] = []
    held = o.target_remaining
    kept = True
    if held > lv.count:
        excess = held - lv.count
        if held <= excess:
            steps.append(Cancel(o, "size"))
            kept = False
        elif o.in_flight:
            pass  # one request at a time: reduce it after its answer
        elif amend_ok:
            steps.append(Decrease(o, Count(excess)))
            kept = False
        else:
            steps.append(Cancel(o, "size"))
            steps.append(Place(side, lv.price, Count(held - excess), new_exp))
            kept = False
    elif held < lv.count - params.size_tolerance:
        steps.append(Place(side, lv.price, Count(lv.count - held), new_exp))
    if kept:
        if not steps:
            return _refresh_or_keep(o, lv, side, now_s, new_exp, params, window)
        steps += _refresh_or_keep(o, lv, side, now_s, new_exp, params, window)
    return steps


def _take_spare(spare: list[Order], price: int) -> Order | None:
    """The unused, amendable order nearest ``price``, taken out of ``spare`` (the amend policy's move; a module
    function rather than a closure made on every call of :func:`reconcile_side`)."""
    cands = [o for o in spare if not o.in_flight]
    if not cands:
        return None
    # one candidate (the usual "move the one order" plan) is its own minimum
    best = cands[0] if len(cands) == 1 else min(cands, key=lambda x: (abs(x.target_price - price), x.created_ms))
    spare.remove(best)
    return best


_IGNORED = frozenset({State.PENDING_CANCEL, State.UNKNOWN})
_SKIPPED = TERMINAL | _IGNORED  # terminal (``Order.is_terminal``) or ignored: one set lookup per order


def _refresh_or_keep(
    o: Order, lv: Level, side: BookSide, now_s: int, new_exp: int | None, params: ReconcileParams, window: int
) -> list[Step]:
    """``window`` is ``params.refresh_window_s``."""
    if (
        o.state in _REFRESHABLE
        and o.expiration_ts_s is not None
        and new_exp is not None
        and o.expiration_ts_s - now_s <= window
    ):
        if params.policy == "amend":
            return [_amend(o, o.price, o.total, new_exp, True)]
        # cancel-replace cannot refresh in place; it loses the queue anyway, so it goes to the desired price
        return [Cancel(o, "expiry"), Place(side, lv.price, o.remaining, new_exp)]
    k: Any = _new(_KeepDraft)
    k.order = o
    k.__class__ = Keep
    return [k]


_REFRESHABLE = frozenset({State.RESTING, State.PARTIALLY_FILLED})

# Keep and Amend are built on every requote (a Keep per kept order, an Amend per moved one): through a mutable
# twin with the same slots whose __class__ then becomes the frozen class (see event_builders.draft_class; the same
# value, type and immutability as the constructor, checked at import below and in tests/test_perf_core2_builders.py)
_new = object.__new__
_KeepDraft = draft_class(Keep)
_AmendDraft = draft_class(Amend)


_LevelDraft = draft_class(Level)


def level(price: Price, count: Count) -> Level:
    """``Level(price, count)``, built cheaply (see above): the engine makes one per desired level per requote."""
    lv: Any = _new(_LevelDraft)
    lv.price = price
    lv.count = count
    lv.__class__ = Level
    return lv  # type: ignore[no-any-return]


def _amend(order: Order, price: Price, total: Count, expiration_ts_s: int | None, expiry_only: bool) -> Amend:
    """``Amend(order, price, total, expiration_ts_s, expiry_only)``, built cheaply (see above)."""
    a: Any = _new(_AmendDraft)
    a.order = order
    a.price = price
    a.total = total
    a.expiration_ts_s = expiration_ts_s
    a.expiry_only = expiry_only
    a.__class__ = Amend
    return a  # type: ignore[no-any-return]


def _check_builders() -> None:
    from dataclasses import fields

    if (
        [f.name for f in fields(Amend)] != ["order", "price", "total", "expiration_ts_s", "expiry_only"]
        or [f.name for f in fields(Keep)] != ["order"]
        or [f.name for f in fields(Level)] != ["price", "count"]
    ):  # pragma: no cover - a new field must be set by the builders too
        raise ImportError("core/reconciler.py: Keep/Amend/Level changed; update their builders")


_check_builders()


def _best(levels: Sequence[Level], pick: Callable[..., Price]) -> Price | None:
    """``pick`` of the prices with a positive count (None if none); one level, the usual quote, without a
    generator."""
    if len(levels) == 1:
        lv = levels[0]
        return lv.price if lv.count > 0 else None
    return pick((lv.price for lv in levels if lv.count > 0), default=None)


def reconcile_market(
    bids: Sequence[Level],
    asks: Sequence[Level],
    orders: Sequence[Order],
    grid: PriceGrid,
    now_ms: int,
    params: ReconcileParams,
) -> list[Step]:
    """Both sides of one market. ``asks`` are YES-leg ask prices (V2 side ``ask``)."""
    best_bid = _best(bids, max)
    best_ask = _best(asks, min)
    mid2 = best_bid + best_ask if best_bid is not None and best_ask is not None else None
    plan = reconcile_side("bid", bids, orders, grid, now_ms, params, mid2)
    return plan + reconcile_side("ask", asks, orders, grid, now_ms, params, mid2)


def reconcile_quote(
    bids: Sequence[tuple[Price, Count]],
    asks: Sequence[tuple[Price, Count]],
    orders: Sequence[Order],
    grid: PriceGrid,
    now_ms: int,
    params: ReconcileParams,
) -> list[Step]:
    """:func:`reconcile_market` of the quoter's ``(price, count)`` levels. The engine's usual requote (one level a
    side, one live quote order a side) goes straight to :func:`_one_on_one` for both sides, with the setup both
    :func:`reconcile_side` calls would repeat done once: the same plan (tests/test_perf_core4_reconcile.py)."""
    if len(bids) == 1 and len(asks) == 1:
        bp, bc = bids[0]
        ap, ac = asks[0]
        if bc > 0 and ac > 0:
            bid_o: Order | None = None
            ask_o: Order | None = None
            nb = na = 0
            for o in orders:  # reconcile_side's filter of live quote orders, both sides in one pass
                if o.kind == "quote" and o.state not in _SKIPPED:
                    if o.side == "bid":
                        bid_o = o
                        nb += 1
                    elif o.side == "ask":
                        ask_o = o
                        na += 1
            if nb == 1 and na == 1 and bid_o is not None and ask_o is not None:
                now_s = now_ms // 1000
                new_exp = now_s + params.expiration_s if params.expiration_s is not None else None
                amend_ok = params.policy == "amend"
                window = params.refresh_window_s
                mid2 = bp + ap  # reconcile_market's midpoint of the one bid and one ask wanted
                plan = _one_on_one("bid", level(bp, bc), bid_o, grid, now_s, new_exp, amend_ok, window, params, mid2)
                return plan + _one_on_one(
                    "ask", level(ap, ac), ask_o, grid, now_s, new_exp, amend_ok, window, params, mid2
                )
    return reconcile_market(
        [level(p, c) for p, c in bids], [level(p, c) for p, c in asks], orders, grid, now_ms, params
    )
