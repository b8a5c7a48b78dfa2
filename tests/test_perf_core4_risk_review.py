"""Review of the bounded risk filter (issue 9 round 4): fast (``RiskDesk.use_bound``) vs exact, over portfolio
histories richer than tests/test_perf_core4_risk_bound.py's: set_position, settle, determine, fills with an order id,
terminal and pending orders, event moves, caches warmed or dirtied between plans, amends below filled. Also an oracle
(the exact filter on a cache-free copy of the portfolio) and a targeted test that puts one limit at, just under and
just over the largest figure of the plan's step-by-step checks: it catches a bound that counts an amended order at
its new figures only (a mutant the equality tests above let through)."""

from __future__ import annotations

import copy

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kalshibot.core.engine_risk import RiskDesk
from kalshibot.core.events import MarketSpec
from kalshibot.core.fixed import Count, Money, Price
from kalshibot.core.grid import PriceGrid
from kalshibot.core.orders import Order, State
from kalshibot.core.portfolio import hypothetical as _hyp
from kalshibot.core.reconciler import Amend, Cancel, Keep, Place, Step
from kalshibot.core.risk import RiskLimits

GRID = PriceGrid.linear_cent()
TICKERS = ["A", "B", "C", "D"]
EVENTS = {"A": "E1", "B": "E1", "C": "E2", "D": "E2"}
KEYS = ["k1", "k2", "k3", "k4"]

prices = st.integers(1, 99).map(lambda c: Price(c * 10_000))
counts = st.integers(1, 40).map(lambda c: Count(c * 50))
sides = st.sampled_from(["bid", "ask"])
money = st.integers(0, 60).map(lambda d: Money(d * 1_000_000))

ops = st.lists(
    st.one_of(
        st.tuples(st.just("trade"), st.sampled_from(TICKERS), sides, prices, counts),
        st.tuples(st.just("fill"), st.sampled_from(KEYS), counts),
        st.tuples(
            st.just("order"),
            st.sampled_from(KEYS),
            st.sampled_from(["A", "A", "B", "C"]),
            sides,
            prices,
            counts,
            st.integers(0, 3).map(lambda c: Count(c * 50)),
            st.sampled_from(
                [
                    State.RESTING,
                    State.PARTIALLY_FILLED,
                    State.PENDING_NEW,
                    State.PENDING_AMEND,
                    State.PENDING_DECREASE,
                    State.CANCELLED,
                ]
            ),
        ),
        st.tuples(st.just("setpos"), st.sampled_from(TICKERS), st.integers(-40, 40).map(lambda c: Count(c * 50))),
        st.tuples(st.just("determine"), st.sampled_from(["B", "C", "D"]), st.sampled_from([0, 1_000_000])),
        st.tuples(st.just("settle"), st.sampled_from(["B", "C", "D"])),
        st.tuples(
            st.just("move"), st.sampled_from(["B", "C", "D"]), st.sampled_from(["E1", "E2", "E3"]), st.booleans()
        ),
        st.tuples(st.just("warm"), st.sampled_from(["acc", "ev", "mkt", "none"])),
        st.tuples(st.just("mark"), st.sampled_from(TICKERS), prices),
    ),
    max_size=20,
)

plan_raw = st.lists(
    st.one_of(
        st.tuples(st.just("place"), sides, prices, counts),
        st.tuples(st.just("amend"), st.integers(0, 3), prices, st.integers(-2, 40).map(lambda c: c * 50)),
        st.tuples(st.just("keep"), st.integers(0, 3)),
        st.tuples(st.just("cancel"), st.integers(0, 3)),
    ),
    min_size=1,
    max_size=5,
)


def build(lim: RiskLimits, excl: list[bool], history, use_bound: bool):
    desk = RiskDesk(lim)
    desk.use_bound = use_bound
    for i, t in enumerate(TICKERS):
        desk.add_market(MarketSpec(t, EVENTS[t], "S", GRID, mutually_exclusive=excl[i]))
    orders: dict[str, Order] = {}
    for op in history:
        _apply_more(desk, orders, op)
    return desk, orders


def mkplan(raw, orders, ticker):
    here = [o for o in orders.values() if o.ticker == ticker and not o.is_terminal]
    steps: list[Step] = []
    used = set()
    for r in raw:
        if r[0] == "place":
            steps.append(Place(r[1], r[2], r[3], 100))
            continue
        if not here:
            continue
        o = here[r[1] % len(here)]
        if r[0] == "amend":
            if o.key in used:
                continue
            used.add(o.key)
            steps.append(Amend(o, r[2], Count(r[3] + o.filled), 100, False))
        elif r[0] == "keep":
            steps.append(Keep(o))
        else:
            steps.append(Cancel(o, "requote"))
    return steps


def fresh(pf):
    """A cache-free deep copy."""
    q = copy.deepcopy(pf)
    q._losses_cache = {}
    q._event_cache = {}
    q._event_excl = {}
    q._account_clean = 0
    q._event_base = {}
    q._dirty_events = set(q._events)
    q._hyp = None
    q._hyp_losses = {}
    q._hyp_events = {}
    return q


def figs(desk):
    pf = desk.portfolio
    return (
        pf.account_stake(),
        tuple(pf.event_stake(e) for e in ("E1", "E2", "E3")),
        tuple(pf.market_stake(t) for t in TICKERS),
    )


limits_st = st.builds(
    RiskLimits,
    max_notional_per_market=money,
    max_event_exposure=st.one_of(st.none(), money),
    max_account_exposure=st.one_of(st.none(), money),
    max_position=st.one_of(st.none(), st.integers(0, 4000).map(Count)),
    max_order_size=st.one_of(st.none(), st.integers(0, 3000).map(Count)),
    price_band=st.none(),
)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    limits_st,
    st.lists(st.booleans(), min_size=4, max_size=4),
    ops,
    st.lists(st.tuples(st.sampled_from(["A", "A", "B", "C"]), plan_raw, ops), min_size=1, max_size=3),
)
def test_fast_equals_exact(lim, excl, history, plans):
    fast, orders_f = build(lim, excl, history, True)
    slow, orders_s = build(lim, excl, history, False)
    for ticker, raw, between in plans:
        spec = MarketSpec(ticker, EVENTS[ticker], "S", GRID, mutually_exclusive=excl[TICKERS.index(ticker)])
        # the same Order objects' shapes on both desks (plans reference the tracked orders)
        steps_f = mkplan(raw, orders_f, ticker)
        steps_s = mkplan(raw, orders_s, ticker)
        ref = fresh(fast.portfolio)
        gf = fast.filter(spec, steps_f, None)
        gs = slow.filter(spec, steps_s, None)
        assert repr(gf) == repr(gs), (ticker, steps_f)
        assert fast.drain_notes() == slow.drain_notes()
        assert figs(fast) == figs(slow)
        # oracle: the exact filter on a cache-free copy gives the same answer
        d2 = RiskDesk(lim)
        d2.use_bound = False
        d2.portfolio = ref
        d2.guard.portfolio = ref
        g2 = d2.filter(spec, steps_f, None)
        assert repr(g2) == repr(gf), ("vs fresh", ticker, steps_f)
        # mutate between plans (both desks alike)
        for desk, orders in ((fast, orders_f), (slow, orders_s)):
            d3, o3 = desk, orders
            for op in between:
                _apply_more(d3, o3, op)
        assert figs(fast) == figs(fresh_desk_figs(fast))


def fresh_desk_figs(desk):
    class D:
        pass

    d = D()
    d.portfolio = fresh(desk.portfolio)
    return d


def _apply_more(desk, orders, op):
    pf = desk.portfolio
    k = op[0]
    if k == "order":
        _, key, t, side, price, total, filled, s = op
        o = Order(
            client_order_id=key,
            ticker=t,
            side=side,
            price=price,
            total=Count(total + filled),
            created_ms=0,
            key=key,
            state=s,
            fills_counted=filled,
            order_id=f"x-{key}",
        )
        if s is State.PENDING_AMEND:
            o.pending_price = Price(min(990_000, price + 20_000))
            o.pending_total = Count(total + filled + 50)
        orders[key] = o
        desk.sync_order(o)
    elif k == "trade":
        pf.apply_trade(op[1], op[2], op[3], op[4])
    elif k == "fill":
        o = orders.get(op[1])
        if o is not None:
            pf.apply_trade(o.ticker, o.side, o.price, op[2], order_id=o.key)
    elif k == "setpos":
        pf.set_position(op[1], op[2])
    elif k == "determine":
        pf.determine(op[1], Price(op[2]))
    elif k == "settle":
        m = pf.market(op[1])
        if m is not None and m.settlement_value is not None and not m.settled:
            pf.settle(op[1])
    elif k == "move":
        pf.add_market(MarketSpec(op[1], op[2], "S", GRID, mutually_exclusive=op[3]))
    elif k == "warm":
        if op[1] == "acc":
            pf.account_stake()
        elif op[1] == "ev":
            for e in ("E1", "E2", "E3"):
                pf.event_stake(e)
        elif op[1] == "mkt":
            for t in TICKERS:
                pf.market_stake(t)
    elif k == "mark":
        pf.set_mark(op[1], op[2])


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.lists(st.booleans(), min_size=4, max_size=4),
    ops,
    st.sampled_from(["A", "A", "B", "C"]),
    plan_raw,
    st.lists(st.integers(-6, 10), min_size=4, max_size=4),
    st.lists(st.booleans(), min_size=4, max_size=4),
)
def test_near_limits(excl, history, ticker, raw, offs, nones):
    base, _ = build(RiskLimits(), excl, history, True)
    pf = base.portfolio
    lo, hi = pf.position_bounds(ticker)
    e = pf.event_of(ticker)
    lim = RiskLimits(
        max_notional_per_market=Money(max(0, pf.market_stake(ticker) + offs[0] * 300_000)),
        max_event_exposure=None if nones[1] else Money(max(0, pf.event_stake(e) + offs[1] * 300_000)),
        max_account_exposure=None if nones[2] else Money(max(0, pf.account_stake() + offs[2] * 300_000)),
        max_position=None if nones[3] else Count(max(0, max(-lo, hi) + offs[3] * 100)),
        max_order_size=Count(2000),
        price_band=None,
    )
    fast, of = build(lim, excl, history, True)
    slow, os_ = build(lim, excl, history, False)
    spec = MarketSpec(ticker, EVENTS[ticker], "S", GRID, mutually_exclusive=excl[TICKERS.index(ticker)])
    for _ in range(2):
        gf = fast.filter(spec, mkplan(raw, of, ticker), None)
        gs = slow.filter(spec, mkplan(raw, os_, ticker), None)
        assert repr(gf) == repr(gs)
        assert fast.drain_notes() == slow.drain_notes()
        assert figs(fast) == figs(slow)


def _check_figures(desk, steps, ticker):
    """max over the plan's checks (as the step-by-step filter makes them) of each exposure figure."""
    pf = desk.portfolio
    out = [0, 0, 0, 0]
    temps = []
    for n, s in enumerate(steps):
        if isinstance(s, Place):
            h = _hyp(ticker, s.side, s.price, s.count, None)
        elif isinstance(s, Amend) and not s.expiry_only:
            ro = pf.order(s.order.key)
            if ro is None:
                continue
            rest = max(0, s.total - s.order.filled)
            if rest <= 0:
                continue
            h = _hyp(ro.ticker, ro.side, s.price, Count(rest), s.order.key)
        else:
            continue
        _, stake, lo, hi = pf.judge_market(h)
        es = pf.event_stake(pf.event_of(ticker), h)
        acc = pf.account_stake(h)
        for i, v in enumerate((stake, max(-lo, hi), es, acc)):
            out[i] = max(out[i], v)
        if isinstance(s, Place):
            temps.append(f"~t{n}")
            pf.upsert_order(temps[-1], ticker, s.side, s.price, s.count)
    for k in temps:
        pf.remove_order(k)
    return out


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.lists(st.booleans(), min_size=4, max_size=4),
    ops,
    st.sampled_from(["A", "A", "B", "C"]),
    plan_raw,
    st.sampled_from([0, 1, 2, 3]),
    st.integers(-2, 1),
)
def test_targeted_limit(excl, history, ticker, raw, which, off):
    base, ob = build(RiskLimits(), excl, history, False)
    steps = mkplan(raw, ob, ticker)
    f = _check_figures(base, steps, ticker)
    big = 10**12
    vals = [big, big, big, big]
    vals[which] = max(0, f[which] + off)
    lim = RiskLimits(
        max_notional_per_market=Money(vals[0]),
        max_position=Count(vals[1]),
        max_event_exposure=Money(vals[2]),
        max_account_exposure=Money(vals[3]),
        max_order_size=None,
        price_band=None,
    )
    fast, of = build(lim, excl, history, True)
    slow, os_ = build(lim, excl, history, False)
    spec = MarketSpec(ticker, EVENTS[ticker], "S", GRID, mutually_exclusive=excl[TICKERS.index(ticker)])
    gf = fast.filter(spec, mkplan(raw, of, ticker), None)
    gs = slow.filter(spec, mkplan(raw, os_, ticker), None)
    assert repr(gf) == repr(gs)
    assert fast.drain_notes() == slow.drain_notes()


def test_amend_counts_at_its_old_figures_until_answered() -> None:
    """A bid amended from 0.50 x 10 down to 0.10 x 10 plus a new bid at 0.50 x 1 under a $5.20 market limit: the
    exact check judges the place with the amended order still at its old figures ($5.50) and refuses it; the bound
    must refuse it too (a bound counting the amend at its new figures only would approve it)."""
    spec = MarketSpec("A", "E1", "S", GRID)
    answers = []
    for use_bound in (True, False):
        d = RiskDesk(RiskLimits(max_notional_per_market=Money(5_200_000), max_position=None, price_band=None))
        d.use_bound = use_bound
        d.add_market(spec)
        o = Order("k", "A", "bid", Price(500_000), Count(1000), 0, key="k", state=State.RESTING, order_id="xk")
        d.sync_order(o)
        plan = [Amend(o, Price(100_000), Count(1000), 100), Place("bid", Price(500_000), Count(100), 100)]
        answers.append(d.filter(spec, plan, None))
    assert answers[0] == answers[1]
    assert answers[0][1] == {("bid", 500_000): "max_notional_per_market"}
