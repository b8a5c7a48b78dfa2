"""Risk guard properties against a brute-force model written here, independent of the portfolio's arithmetic.

The model keeps each market's position and average-cost basis in exact fractions of dollars and contracts, and
judges money at stake by enumeration: every outcome (for a mutually exclusive event: each market alone resolving
YES, or none of ours) and every subset of our resting orders filling in full (partial fills are convex
combinations of these, so they can never do worse).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from itertools import combinations

from hypothesis import event, given, settings
from hypothesis import strategies as st

from kalshibot.core.events import MarketSpec
from kalshibot.core.fixed import Count, Price
from kalshibot.core.grid import PriceGrid
from kalshibot.core.portfolio import Portfolio
from kalshibot.core.risk import RiskGuard, RiskLimits

EVENTS = {"A": "E", "B": "E", "C": "E", "X": "F", "Y": "G"}
ME = {"E"}
LIMITS = RiskLimits(
    max_notional_per_market=10_000_000,  # type: ignore[arg-type]
    daily_loss_kill=1_000_000_000,  # type: ignore[arg-type]
    max_event_exposure=12_000_000,  # type: ignore[arg-type]
    max_account_exposure=20_000_000,  # type: ignore[arg-type]
    max_position=4_000,  # type: ignore[arg-type]
    max_order_size=2_500,  # type: ignore[arg-type]
    price_band=None,
    reducing_fraction=0.5,
)
MARGIN = Fraction(1, 10_000)  # liveness slack for the guard's conservative (ceil) rounding


def usd(micros: int) -> Fraction:
    return Fraction(micros, 1_000_000)


def qty(centi: int) -> Fraction:
    return Fraction(centi, 100)


@dataclass
class Held:
    yes: bool = True
    n: Fraction = Fraction(0)
    basis: Fraction = Fraction(0)  # dollars paid for the n contracts held (average cost)

    def buy(self, yes: bool, price_of_side: Fraction, q: Fraction) -> None:
        if self.n and self.yes != yes:
            k = min(q, self.n)
            self.basis -= self.basis * k / self.n
            self.n -= k
            q -= k
        if q:
            if not self.n:
                self.yes, self.basis = yes, Fraction(0)
            self.n += q
            self.basis += q * price_of_side

    def signed(self) -> Fraction:
        return self.n if self.yes else -self.n


@dataclass
class Model:
    held: dict[str, Held] = field(default_factory=lambda: {t: Held() for t in EVENTS})
    resting: dict[str, tuple[str, str, int, int]] = field(default_factory=dict)  # id -> ticker, side, price, count


def worst_losses(model: Model, ticker: str, orders: list[tuple[str, int, int]]) -> dict[str, Fraction]:
    """max over fill subsets of the loss at settlement, for each outcome of one market."""
    h = model.held[ticker]
    out: dict[str, Fraction] = {}
    for outcome in ("yes", "no"):
        worst: Fraction | None = None
        for r in range(len(orders) + 1):
            for subset in combinations(orders, r):
                cost = h.basis
                inflow = h.n if (h.yes == (outcome == "yes")) else Fraction(0)
                for side, price, count in subset:
                    q = qty(count)
                    if side == "bid":  # YES bought at price; pays in YES
                        cost += q * usd(price)
                        inflow += q if outcome == "yes" else 0
                    else:  # NO bought at 1 - price; pays in NO
                        cost += q * (1 - usd(price))
                        inflow += q if outcome == "no" else 0
                loss = cost - inflow
                worst = loss if worst is None else max(worst, loss)
        assert worst is not None
        out[outcome] = worst
    return out


def brute(model: Model, extra: tuple[str, str, int, int] | None, replaces: str | None) -> dict[str, Fraction]:
    orders: dict[str, list[tuple[str, int, int]]] = {t: [] for t in EVENTS}
    for oid, (t, side, price, count) in model.resting.items():
        if oid != replaces:
            orders[t].append((side, price, count))
    if extra is not None:
        orders[extra[0]].append(extra[1:])  # type: ignore[arg-type]
    losses = {t: worst_losses(model, t, orders[t]) for t in EVENTS}
    stakes: dict[str, Fraction] = {t: max(Fraction(0), *losses[t].values()) for t in EVENTS}
    account = Fraction(0)
    for e in sorted(set(EVENTS.values())):
        ms = [t for t in EVENTS if EVENTS[t] == e]
        if e in ME:
            outcomes = [sum(losses[t]["yes" if t == k else "no"] for t in ms) for k in [*ms, None]]
            stakes["event:" + e] = max(Fraction(0), *outcomes)
        else:
            stakes["event:" + e] = sum((stakes[t] for t in ms), Fraction(0))
        account += stakes["event:" + e]
    stakes["account"] = account
    return stakes


def reach(model: Model, ticker: str, extra: tuple[str, int] | None, replaces: str | None) -> Fraction:
    pos = model.held[ticker].signed()
    hi = lo = pos
    items = [(s, c) for oid, (t, s, _p, c) in model.resting.items() if t == ticker and oid != replaces]
    if extra:
        items.append(extra)
    for s, c in items:
        if s == "bid":
            hi += qty(c)
        else:
            lo -= qty(c)
    return max(hi, -lo)


def reducing(model: Model, ticker: str, side: str, count: int, replaces: str | None) -> bool:
    pos = model.held[ticker].signed()
    same = sum(qty(c) for oid, (t, s, _p, c) in model.resting.items() if t == ticker and s == side and oid != replaces)
    return pos + same + qty(count) <= 0 if side == "bid" else pos - same - qty(count) >= 0


def within(stakes: dict[str, Fraction], ticker: str, slack: Fraction) -> bool:
    e = EVENTS[ticker]
    return (
        stakes[ticker] <= usd(LIMITS.max_notional_per_market) - slack
        and stakes["event:" + e] <= usd(LIMITS.max_event_exposure or 0) - slack
        and stakes["account"] <= usd(LIMITS.max_account_exposure or 0) - slack
    )


tickers = st.sampled_from(sorted(EVENTS))
sides = st.sampled_from(["bid", "ask"])
prices = st.integers(1, 99).map(lambda c: c * 10_000)
counts = st.integers(1, 60).map(lambda h: h * 50)  # 0.5 .. 30 contracts (some above max_order_size)
_order = st.tuples(st.just("order"), tickers, sides, prices, counts)
_fill = st.tuples(st.just("fill"), st.integers(0, 50), st.integers(1, 6_000))
ops = st.one_of(
    _order,
    _order,
    _order,
    _fill,
    _fill,
    _fill,
    st.tuples(st.just("amend"), st.integers(0, 50), prices, counts),
    st.tuples(st.just("cancel"), st.integers(0, 50)),
    st.tuples(st.just("state")),
    st.tuples(st.just("reduce"), tickers, prices, st.integers(1, 120)),
    st.tuples(st.just("reduce"), tickers, prices, st.integers(1, 120)),
    st.tuples(st.just("state")),
    st.tuples(st.just("halt")),
    st.tuples(st.just("resume")),
    st.tuples(st.just("resume")),
    st.tuples(st.just("resume")),
)


def judge(g: RiskGuard, model: Model, ticker: str, side: str, price: int, count: int, replaces: str | None) -> bool:
    """Run the guard on one order (or amend) and check safety and liveness against the brute force."""
    if replaces is None:
        refusal = g.check_order(ticker, EVENTS[ticker], side, Price(price), Count(count), None)  # type: ignore[arg-type]
    else:
        refusal = g.check_amend(replaces, Price(price), Count(count), None)
    before = brute(model, None, None)
    after = brute(model, (ticker, side, price, count), replaces)
    red = reducing(model, ticker, side, count, replaces)
    fat_ok = count <= (LIMITS.max_order_size or 0)
    reach_after = reach(model, ticker, (side, count), replaces)
    if refusal is None:
        # safety
        assert fat_ok
        assert g.state != "HALTED"
        if red:
            # a reducing order never raises |position| nor the market's worst case, and never pushes the event
            # or account above a limit it was not already above
            assert reach_after <= reach(model, ticker, None, replaces) or reach_after <= usd(0)
            assert after[ticker] <= max(before[ticker], usd(LIMITS.max_notional_per_market))
            ek = "event:" + EVENTS[ticker]
            assert after[ek] <= max(before[ek], usd(LIMITS.max_event_exposure or 0))
            assert after["account"] <= max(before["account"], usd(LIMITS.max_account_exposure or 0))
        else:
            assert g.state == "ACTIVE"
            assert within(after, ticker, Fraction(0))
            assert reach_after <= qty(LIMITS.max_position or 0)
    else:
        # liveness
        if fat_ok and g.state == "ACTIVE" and not red:
            assert not (within(after, ticker, MARGIN) and reach_after <= qty(LIMITS.max_position or 0)), refusal
        if fat_ok and g.state in ("ACTIVE", "REDUCING") and red:
            ek = "event:" + EVENTS[ticker]
            assert not (
                after[ek] <= usd(LIMITS.max_event_exposure or 0) - MARGIN
                and after["account"] <= usd(LIMITS.max_account_exposure or 0) - MARGIN
            ), refusal
    event(f"{'pass' if refusal is None else refusal.limit} red={red} state={g.state}")
    return refusal is None


@settings(max_examples=200, deadline=None)
@given(seq=st.lists(ops, min_size=10, max_size=60))
def test_guard_safety_and_liveness(seq: list[tuple[object, ...]]) -> None:
    pf = Portfolio()
    for t, e in EVENTS.items():
        pf.add_market(MarketSpec(t, e, "S", PriceGrid.linear_cent(), mutually_exclusive=e in ME))
    g = RiskGuard(LIMITS, pf)
    model = Model()
    next_id = 0
    for op in seq:
        kind = op[0]
        ids = sorted(model.resting)
        if kind == "order":
            _, ticker, side, price, count = op
            if judge(g, model, ticker, side, price, count, None):  # type: ignore[arg-type]
                oid = f"o{next_id}"
                next_id += 1
                model.resting[oid] = (ticker, side, price, count)  # type: ignore[assignment]
                pf.upsert_order(oid, ticker, side, Price(price), Count(count))  # type: ignore[arg-type]
        elif kind == "reduce":
            # an order against the held position, sized around what is left after our resting orders on that side
            _, ticker, price, pct = op
            pos = model.held[ticker].signed()  # type: ignore[index]
            side = "ask" if pos > 0 else "bid"
            same = sum(qty(c) for t, s_, _p, c in model.resting.values() if t == ticker and s_ == side)
            count = int((abs(pos) - same) * pct) if pos else 0  # pct% of the room, in centi-contracts
            if count > 0 and judge(g, model, ticker, side, price, count, None):  # type: ignore[arg-type]
                oid = f"o{next_id}"
                next_id += 1
                model.resting[oid] = (ticker, side, price, count)  # type: ignore[assignment]
                pf.upsert_order(oid, ticker, side, Price(price), Count(count))  # type: ignore[arg-type]
        elif kind == "amend" and ids:
            oid = ids[op[1] % len(ids)]  # type: ignore[operator]
            ticker, side, _, _ = model.resting[oid]
            _, _, price, count = op
            if judge(g, model, ticker, side, price, count, oid):  # type: ignore[arg-type]
                model.resting[oid] = (ticker, side, price, count)  # type: ignore[assignment]
                pf.upsert_order(oid, ticker, side, Price(price), Count(count))  # type: ignore[arg-type]
        elif kind == "fill" and ids:
            oid = ids[op[1] % len(ids)]  # type: ignore[operator]
            ticker, side, price, count = model.resting[oid]
            n = 1 + (op[2] - 1) % count  # type: ignore[operator]
            pf.apply_trade(ticker, side, Price(price), Count(n), order_id=oid)  # type: ignore[arg-type]
            yes = side == "bid"
            model.held[ticker].buy(yes, usd(price) if yes else 1 - usd(price), qty(n))
            if n == count:
                del model.resting[oid]
            else:
                model.resting[oid] = (ticker, side, price, count - n)
            assert pf.position(ticker) == model.held[ticker].signed() * 100
        elif kind == "cancel" and ids:
            oid = ids[op[1] % len(ids)]  # type: ignore[operator]
            del model.resting[oid]
            pf.remove_order(oid)
        elif kind == "state":
            g.update_state()
        elif kind == "halt":
            g.halt("operator")
        elif kind == "resume":
            g.resume()
    # the guard's own stake figures agree with the brute force (never below it, at most rounding above)
    final = brute(model, None, None)
    for t in EVENTS:
        assert usd(pf.market_stake(t)) >= final[t] > usd(pf.market_stake(t)) - MARGIN or final[t] == 0
    assert usd(pf.account_stake()) >= final["account"] > usd(pf.account_stake()) - MARGIN or final["account"] == 0


fills = st.lists(st.tuples(tickers, sides, prices, st.integers(1, 40).map(lambda h: h * 50)), max_size=8)
rests = st.lists(st.tuples(tickers, sides, prices, st.integers(1, 40).map(lambda h: h * 50)), max_size=6)


@settings(max_examples=300, deadline=None)
@given(
    pre_fills=fills,
    pre_rest=rests,
    order=st.tuples(tickers, sides, prices, st.integers(1, 60).map(lambda h: h * 50)),
    state=st.sampled_from(["ACTIVE", "REDUCING", "HALTED"]),
    amend=st.booleans(),
    against=st.booleans(),
)
def test_guard_from_arbitrary_states(
    pre_fills: list[tuple[str, str, int, int]],
    pre_rest: list[tuple[str, str, int, int]],
    order: tuple[str, str, int, int],
    state: str,
    amend: bool,
    against: bool,
) -> None:
    """Any state (also one already over its limits, as after a limit change): one order or amend is judged."""
    pf = Portfolio()
    for t, e in EVENTS.items():
        pf.add_market(MarketSpec(t, e, "S", PriceGrid.linear_cent(), mutually_exclusive=e in ME))
    g = RiskGuard(LIMITS, pf)
    model = Model()
    for t, side, price, count in pre_fills:
        pf.apply_trade(t, side, Price(price), Count(count))  # type: ignore[arg-type]
        yes = side == "bid"
        model.held[t].buy(yes, usd(price) if yes else 1 - usd(price), qty(count))
    for i, (t, side, price, count) in enumerate(pre_rest):
        model.resting[f"r{i}"] = (t, side, price, count)
        pf.upsert_order(f"r{i}", t, side, Price(price), Count(count))  # type: ignore[arg-type]
    if state == "HALTED":
        g.halt("test")
    elif state == "REDUCING":
        g._state = "REDUCING"  # forced: the judgement must hold in the state whatever brought it there
    ticker, side, price, count = order
    pos = model.held[ticker].signed()
    if against and pos:
        # aim at a reducing order: against the position, within what our resting orders leave
        side = "ask" if pos > 0 else "bid"
        same = sum(qty(c) for t, s_, _p, c in model.resting.values() if t == ticker and s_ == side)
        count = max(1, min(count, int((abs(pos) - same) * 100)))
    if amend and model.resting:
        oid = sorted(model.resting)[price % len(model.resting)]
        ticker, side, _, _ = model.resting[oid]
        judge(g, model, ticker, side, price, count, oid)
    else:
        judge(g, model, ticker, side, price, count, None)
