"""Issue 9 fast paths in the core, each against the straightforward computation it replaces.

* Engine level: two engines get the same random stream (book deltas on markets sharing an event under tight event
  limits, so the risk guard refuses levels; answers, rejects, venue updates, fills: the harness of
  ``tests/test_engine_cache_scope.py``) and must produce identical outputs at every step. The reference engine's
  portfolio judges every risk check the slow way (separate reducing / stake / bounds figures, a full scan of the
  event for the stake as if an order rested and for the stake as it is). A portfolio whose one-pass judgement is
  broken on purpose makes the harness diverge (so it is sensitive).
* Unit level: ``next_time_edge``'s list-free common case, ``_no_self_cross``'s early exit (round 3's pass, kept in
  tests/test_perf_core4_engine.py as a reference), the reconciler's one-level merge, the quoter's one-level ladder
  and memoized strings, and the identity hash of the order lifecycle enums, each against the general formula.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kalshibot.core.book import OrderBook
from kalshibot.core.events import BookSnapshot, MarketSpec
from kalshibot.core.fixed import Count, Price, format_count, format_price
from kalshibot.core.grid import PriceGrid
from kalshibot.core.market import ReleaseWindow, external_top, next_time_edge
from kalshibot.core.orders import TABLE, TERMINAL, WORKING, Ev, Order, State
from kalshibot.core.portfolio import _HYP_FIELDS, Hypothetical, Portfolio, hypothetical
from kalshibot.core.quoter import (
    _QC_FIELDS,
    LinearQuoter,
    QuoteContext,
    _count_str,
    _ladder,
    _price_str,
    _skew_str,
    quote_context,
)
from kalshibot.core.reconciler import Amend, Cancel, Keep, Level, Place, Step, _best, _merge
from tests.test_engine_cache_scope import _Counting, _Run
from tests.test_perf_core4_engine import _no_self_cross

GRID = PriceGrid.linear_cent()


# ------------------------------------------------------------------------------------------------ engine level
class _ScanPortfolio(Portfolio):
    """The risk check's figures computed the slow way (what the fast paths replaced)."""

    def judge_market(self, change: Hypothetical) -> tuple[bool, object, Count, Count]:  # type: ignore[override]
        t = change.ticker
        reducing = self.would_be_reducing(t, change.side, change.count, change.replaces)
        lo, hi = self.position_bounds(t, change)
        return reducing, self.market_stake(t, change), lo, hi

    def _event_stake_hyp(self, event_ticker: str, change: Hypothetical) -> int:
        return self._event_stake_scan(event_ticker, change)

    def _event_stake_clean(self, event_ticker: str) -> int:
        self._event_excl[event_ticker] = True  # the slow path everywhere
        return self._event_stake_scan(event_ticker, None)


class _BrokenJudge(Portfolio):
    """Broken on purpose: the one-pass judgement forgets that an amend replaces its order."""

    def judge_market(self, change: Hypothetical) -> tuple[bool, object, Count, Count]:  # type: ignore[override]
        h = Hypothetical(change.ticker, change.side, change.price, change.count)
        return super().judge_market(h)


def _with_portfolio(e: _Counting, cls: type[Portfolio]) -> None:
    p = cls()
    e.desk.portfolio = p
    e.desk.guard.portfolio = p


def _run(seed: int, cls: type[Portfolio], steps: int = 1500) -> _Run:
    run = _Run(seed)
    cfg = run.b.config
    run.a = _Counting(cfg, client_order_id_prefix="kb-", id_seed="d")  # the engine as shipped
    run.b = _Counting(cfg, client_order_id_prefix="kb-", id_seed="d")  # type: ignore[assignment]
    _with_portfolio(run.b, cls)
    run.start()
    for _ in range(steps):
        run.now += run.rng.randint(0, 40)
        run.step()
    return run


@pytest.mark.parametrize("seed", range(5))
def test_fast_risk_judgement_sends_what_the_slow_one_sends(seed: int) -> None:
    run = _run(seed, _ScanPortfolio)
    while run.inflight:
        run.answer()
    assert run.a.money_at_stake() == run.b.money_at_stake()
    assert run.a.desk.portfolio._event_excl and not any(run.a.desk.portfolio._event_excl.values())  # fast path ran


def test_the_engine_differential_catches_a_broken_judgement() -> None:
    """The harness is sensitive: a fast judgement that forgets the replaced order diverges from the slow one."""
    diverged = 0
    for seed in range(5):
        run = _Run(seed)
        cfg = run.b.config
        run.a = _Counting(cfg, client_order_id_prefix="kb-", id_seed="d")
        _with_portfolio(run.a, _BrokenJudge)
        run.b = _Counting(cfg, client_order_id_prefix="kb-", id_seed="d")  # type: ignore[assignment]
        _with_portfolio(run.b, _ScanPortfolio)
        run.start()
        try:
            for _ in range(1500):
                run.now += run.rng.randint(0, 40)
                run.step()
        except AssertionError as e:
            assert "diverged" in str(e)
            diverged += 1
    assert diverged >= 3


# -------------------------------------------------------------------------------------------------- unit level
def _edge_reference(
    spec: MarketSpec, now: int, stop: int, flatten: int | None, windows: tuple[ReleaseWindow, ...]
) -> int | None:
    edges: list[int] = []
    if spec.close_ts_ms is not None:
        edges += [spec.close_ts_ms - stop, spec.close_ts_ms]
        if flatten is not None:
            edges.append(spec.close_ts_ms - flatten)
    for w in windows:
        if w.applies(spec):
            edges += [w.start_ms, w.end_ms]
    future = [e for e in edges if e > now]
    return min(future) if future else None


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(st.none(), st.integers(0, 10_000)),
    st.integers(0, 10_000),
    st.integers(-3_000, 3_000),
    st.one_of(st.none(), st.integers(-3_000, 3_000)),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 10_000)), max_size=2),
)
def test_next_time_edge_equals_the_list_formula(
    close: int | None, now: int, stop: int, flatten: int | None, wins: list[tuple[int, int]]
) -> None:
    spec = MarketSpec("KXA-1", "KXA", "KXA", GRID, close_ts_ms=close)
    windows = tuple(ReleaseWindow("KXA", a, b) for a, b in wins)
    assert next_time_edge(spec, now, stop, flatten, windows) == _edge_reference(spec, now, stop, flatten, windows)


def _order(coid: str, side: str, price: int, pending: int | None = None) -> Order:
    o = Order(coid, "T", side, Price(price), Count(100), 0)  # type: ignore[arg-type]
    o.pending_price = Price(pending) if pending is not None else None
    return o


def _cross_reference(live: list[Order], steps: list[Step]) -> list[Step]:
    bid_top = max((p for o in live if o.side == "bid" for p in (o.price, o.target_price)), default=None)
    ask_low = min((p for o in live if o.side == "ask" for p in (o.price, o.target_price)), default=None)
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


cents = st.integers(1, 99).map(lambda c: c * 10_000)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["bid", "ask"]), cents, st.one_of(st.none(), cents)), max_size=4),
    st.lists(st.tuples(st.integers(0, 4), st.sampled_from(["bid", "ask"]), cents, st.booleans()), max_size=5),
)
def test_no_self_cross_equals_the_general_filter(
    orders: list[tuple[str, int, int | None]], plan: list[tuple[int, str, int, bool]]
) -> None:
    live = [_order(f"c{i}", sd, p, pp) for i, (sd, p, pp) in enumerate(orders)]
    steps: list[Step] = []
    for kind, side, price, flag in plan:
        o = live[0] if live else _order("x", side, price)
        if kind == 0:
            steps.append(Place(side, Price(price), Count(100), None))  # type: ignore[arg-type]
        elif kind == 1:
            steps.append(Amend(o, Price(price), Count(100), None, expiry_only=flag))
        elif kind == 2:
            steps.append(Cancel(o, "requote"))
        else:
            steps.append(Keep(o))
    assert _no_self_cross(live, steps) == _cross_reference(live, steps)


@given(st.lists(st.tuples(cents, st.integers(-100, 500)), max_size=4))
def test_merge_equals_the_general_merge(levels: list[tuple[int, int]]) -> None:
    lv = [Level(Price(p), Count(c)) for p, c in levels]
    by: dict[int, int] = {}
    for p, c in levels:
        if c > 0:
            by[p] = by.get(p, 0) + c
    assert _merge(lv) == [Level(Price(p), Count(c)) for p, c in by.items()]


@settings(max_examples=300, deadline=None)
@given(cents, st.integers(-20_000, 20_000), st.integers(1, 3), st.integers(1, 3), st.booleans())
def test_quote_ladders_and_strings_equal_the_general_path(
    fair: int, position: int, levels: int, spacing: int, post_only: bool
) -> None:
    q = LinearQuoter(Price(20_000), Price(5_000), Count(100), levels, spacing, Count(10_000))
    ctx = QuoteContext(
        "T",
        Price(fair),
        Price(max(fair - 10_000, 10_000)),
        Price(min(fair + 10_000, 990_000)),
        Count(position),
        GRID,
        post_only=post_only,
    )
    out = q.quote(ctx)
    for side, levels_ in (("bid", out.bids), ("ask", out.asks)):
        if levels_:
            ladder = _ladder(GRID, levels_[0][0], len(levels_), spacing, down=side == "bid")
            assert levels_ == tuple((p, Count(100)) for p in ladder)
    # the one-level shortcut against the general ladder: without a position bound two levels always go the
    # general way, and their first level is the one-level quote
    one = LinearQuoter(Price(20_000), Price(5_000), Count(100), 1, spacing, None).quote(ctx)
    two = LinearQuoter(Price(20_000), Price(5_000), Count(100), 2, spacing, None).quote(ctx)
    assert (one.bids, one.asks) == (two.bids[:1], two.asks[:1])
    assert one.reason == two.reason
    assert out.reason["fair"] == format_price(fair) and out.reason["position"] == format_count(position)
    assert _price_str(fair) == format_price(fair) and _count_str(position) == format_count(position)


def test_lifecycle_enums_hash_by_identity() -> None:
    """Identity hash, consistent with Enum's identity equality: every set and table lookup still finds them."""
    for s in State:
        assert hash(s) == object.__hash__(s)
        assert (s in TERMINAL) == (s.value in {"cancelled", "executed", "expired", "rejected"})
        assert (s in WORKING) == (s.value in {"resting", "partially_filled"})
    assert all(isinstance(k[0], State) and isinstance(k[1], Ev) for k in TABLE)
    assert TABLE[(State.RESTING, Ev.SEND_AMEND)] is State.PENDING_AMEND
    assert {State(v.value) for v in State} == set(State)


@settings(max_examples=100, deadline=None)
@given(
    cents,
    st.one_of(st.none(), cents),
    st.one_of(st.none(), cents),
    st.integers(-5000, 5000),
    st.one_of(st.none(), st.floats(0, 1e6)),
    st.booleans(),
)
def test_quote_context_fast_builder_equals_the_dataclass(
    fair: int, bid: int | None, ask: int | None, pos: int, ttc: float | None, post_only: bool
) -> None:
    """The slot-setter builder makes the very value the dataclass makes, for every field (a new field fails)."""
    assert tuple(f.name for f in dataclasses.fields(QuoteContext)) == _QC_FIELDS
    a = quote_context("T", Price(fair), bid, ask, Count(pos), GRID, "quadratic", 1_000_000, ttc, post_only)  # type: ignore[arg-type]
    b = QuoteContext("T", Price(fair), bid, ask, Count(pos), GRID, "quadratic", 1_000_000, ttc, post_only)  # type: ignore[arg-type]
    assert a == b and hash(a) == hash(b) and repr(a) == repr(b)
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.fair = Price(1)  # type: ignore[misc]


@given(
    st.sampled_from(["A", "B"]),
    st.sampled_from(["bid", "ask"]),
    cents,
    st.integers(-5, 500),
    st.one_of(st.none(), st.text(max_size=3)),
)
def test_hypothetical_fast_builder_equals_the_dataclass(
    t: str, side: str, price: int, count: int, replaces: str | None
) -> None:
    assert tuple(f.name for f in dataclasses.fields(Hypothetical)) == _HYP_FIELDS
    a = hypothetical(t, side, Price(price), Count(count), replaces)  # type: ignore[arg-type]
    b = Hypothetical(t, side, Price(price), Count(count), replaces)  # type: ignore[arg-type]
    assert a == b and hash(a) == hash(b) and repr(a) == repr(b)
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.count = Count(1)  # type: ignore[misc]


@given(st.lists(st.tuples(cents, st.integers(-100, 500)), max_size=3))
def test_best_level_equals_the_generator(levels: list[tuple[int, int]]) -> None:
    lv = [Level(Price(p), Count(c)) for p, c in levels]
    for pick in (max, min):
        assert _best(lv, pick) == pick((x.price for x in lv if x.count > 0), default=None)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.integers(1, 49), st.integers(1, 500), max_size=4),
    st.dictionaries(st.integers(1, 49), st.integers(1, 500), max_size=4),
)
def test_external_top_without_own_size_equals_the_general_walk(yes: dict[int, int], no: dict[int, int]) -> None:
    """With none of the book ours, the shortcut answers what the general path (an ``own`` map that holds
    nothing in this book) answers."""
    book = OrderBook("T")
    book.apply_snapshot(
        BookSnapshot(
            "T",
            1,
            1,
            tuple((Price(p * 10_000), Count(c)) for p, c in sorted(yes.items())),
            tuple((Price(p * 10_000), Count(c)) for p, c in sorted(no.items())),
        )
    )
    assert external_top(book, {}) == external_top(book, {("bid", 999_999): 0, ("ask", 1): 0})


@given(st.integers(0, 100_000), st.integers(-100_000, 100_000))
def test_skew_string_equals_the_formula(skew: int, position: int) -> None:
    assert _skew_str(skew, position) == str(round(skew * position / 100))
