"""Portfolio money-at-stake caches: after any sequence of changes, the cached per-market, per-event and account
stakes (with and without a hypothetical order) equal a from-scratch computation written here from the public
per-market records (position, cost, resting orders, settlement value, event, mutual exclusivity)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kalshibot.core.events import MarketSpec
from kalshibot.core.fixed import ONE_DOLLAR, Count, Price
from kalshibot.core.grid import PriceGrid
from kalshibot.core.portfolio import Hypothetical, MarketPosition, Portfolio

TICKERS = ["A", "B", "C", "D", "E"]
EVENTS = ["E1", "E2", "E3"]
GRID = PriceGrid.linear_cent()


def _ceil(x: int) -> int:
    return -((-x) // 100)


def _losses(m: MarketPosition, h: Hypothetical | None) -> tuple[int, int]:
    if m.position >= 0:
        no, yes = m.cost_x, m.cost_x - m.position * ONE_DOLLAR
    else:
        no, yes = m.cost_x + m.position * ONE_DOLLAR, m.cost_x
    orders = [(o.side, o.price, o.remaining) for oid, o in m.orders.items() if h is None or oid != h.replaces]
    if h is not None and h.ticker == m.ticker:
        orders.append((h.side, h.price, h.count))
    for side, price, count in orders:
        if side == "bid":
            no += price * count
        else:
            yes += (ONE_DOLLAR - price) * count
    return no, yes


def _fixed(m: MarketPosition, h: Hypothetical | None) -> int | None:
    if m.settlement_value is None:
        return None
    no, yes = _losses(m, h)
    return -((-(no * ONE_DOLLAR + (yes - no) * m.settlement_value)) // ONE_DOLLAR)


def _market(m: MarketPosition, h: Hypothetical | None) -> int:
    f = _fixed(m, h)
    return max(0, f) if f is not None else max(0, *_losses(m, h))


def _event(pf: Portfolio, e: str, h: Hypothetical | None) -> int:
    ms = [m for m in pf.markets() if m.event_ticker == e and not m.settled]
    if h is not None and pf.market(h.ticker) is None and h.ticker == e:
        ms.append(MarketPosition(h.ticker, h.ticker))
    if not any(m.mutually_exclusive for m in ms):
        return sum(_market(m, h) for m in ms)
    fixed, opens, winner = 0, [], False
    for m in ms:
        winner = winner or m.settlement_value == ONE_DOLLAR
        f = _fixed(m, h)
        if f is None:
            opens.append(_losses(m, h))
        else:
            fixed += f
    if winner:
        return max(0, fixed + sum(no for no, _ in opens))
    switch = max((yes - no for no, yes in opens), default=0)
    return max(0, fixed + sum(no for no, _ in opens) + max(0, switch))


def _account(pf: Portfolio, h: Hypothetical | None) -> int:
    events = {m.event_ticker for m in pf.markets()}
    if h is not None and pf.market(h.ticker) is None:
        events.add(h.ticker)
    return sum(_event(pf, e, h) for e in events)


prices = st.integers(1, 99).map(lambda c: Price(c * 10_000))
counts = st.integers(1, 40).map(lambda c: Count(c * 50))
sides = st.sampled_from(["bid", "ask"])
tickers = st.sampled_from([*TICKERS, "NEW"])
order_ids = st.sampled_from(["o1", "o2", "o3", "o4", "o5", "o6"])

ops = st.one_of(
    st.tuples(st.just("add"), st.sampled_from(TICKERS), st.sampled_from(EVENTS), st.booleans()),
    st.tuples(st.just("trade"), tickers, sides, prices, counts, st.one_of(st.none(), order_ids)),
    st.tuples(st.just("upsert"), order_ids, tickers, sides, prices, st.integers(0, 2000).map(Count)),
    st.tuples(st.just("remove"), order_ids),
    st.tuples(st.just("mark"), tickers, prices),
    st.tuples(st.just("determine"), st.sampled_from(TICKERS), st.sampled_from([0, 300_000, ONE_DOLLAR])),
    st.tuples(st.just("settle"), st.sampled_from(TICKERS)),
    st.tuples(st.just("position"), tickers, st.integers(-3000, 3000).map(Count)),
)
hypotheticals = st.builds(
    Hypothetical,
    st.sampled_from([*TICKERS, "NEW", "E1"]),
    sides,
    prices,
    counts,
    st.one_of(st.none(), order_ids),
)


def _apply(pf: Portfolio, op: tuple[object, ...]) -> None:
    kind = op[0]
    if kind == "add":
        _, t, e, me = op
        pf.add_market(MarketSpec(str(t), str(e), "S", GRID, mutually_exclusive=bool(me)))
    elif kind == "trade":
        _, t, side, price, count, oid = op
        pf.apply_trade(t, side, price, count, order_id=oid)  # type: ignore[arg-type]
    elif kind == "upsert":
        _, oid, t, side, price, count = op
        pf.upsert_order(oid, t, side, price, count)  # type: ignore[arg-type]
    elif kind == "remove":
        pf.remove_order(str(op[1]))
    elif kind == "mark":
        pf.set_mark(str(op[1]), op[2])  # type: ignore[arg-type]
    elif kind == "determine":
        pf.determine(str(op[1]), Price(int(op[2])))  # type: ignore[call-overload]
    elif kind == "settle":
        m = pf.market(str(op[1]))
        if m is not None and m.settlement_value is not None:
            pf.settle(str(op[1]))
    elif kind == "position":
        pf.set_position(str(op[1]), op[2])  # type: ignore[arg-type]


def _check(pf: Portfolio, hs: list[Hypothetical]) -> None:
    for h in [None, *hs]:
        assert pf.account_stake(h) == _ceil(_account(pf, h)), h
        for e in [*EVENTS, *TICKERS, "NEW"]:
            assert pf.event_stake(e, h) == _ceil(_event(pf, e, h)), (e, h)
        for m in pf.markets():
            assert pf.market_stake(m.ticker, h) == _ceil(_market(m, h)), (m.ticker, h)


@settings(max_examples=150, deadline=None)
@given(st.lists(ops, min_size=1, max_size=40), st.lists(hypotheticals, max_size=3))
def test_cached_stakes_equal_from_scratch(steps: list[tuple[object, ...]], hs: list[Hypothetical]) -> None:
    pf = Portfolio()
    for op in steps:
        _apply(pf, op)
        # query in between so that the caches are warm when the next change lands (stale entries would show)
        _check(pf, hs)


def test_moving_a_market_to_another_event_moves_its_stake() -> None:
    pf = Portfolio()
    pf.add_market(MarketSpec("A", "E1", "S", GRID))
    pf.upsert_order("o1", "A", "bid", Price(400_000), Count(1000))  # $4.00 at stake if NO
    assert pf.event_stake("E1") == 4_000_000 and pf.account_stake() == 4_000_000
    pf.add_market(MarketSpec("A", "E2", "S", GRID))
    assert pf.event_stake("E1") == 0 and pf.event_stake("E2") == 4_000_000 and pf.account_stake() == 4_000_000
    # an amend judged as if it rested: only that market's event and the account change, the cache does not
    h = Hypothetical("A", "bid", Price(500_000), Count(1000), replaces="o1")
    assert pf.account_stake(h) == 5_000_000 and pf.account_stake() == 4_000_000
