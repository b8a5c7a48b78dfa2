"""Issue 9 round 3: the new cheap builders of frozen values make exactly what the constructors make.

``order_tracker._applied`` (every ``OrderTracker`` transition) and ``event_builders.top_of_book``
(``OrderBook.top``, once per requote) are built through a mutable twin with the same slots whose ``__class__``
becomes the frozen class (``event_builders.draft_class``). Each result must be the same type, compare, repr and hash
equal to the constructor's and stay immutable; a builder that swapped two fields or left one unset fails here.
``OrderBook.top`` is checked against the plain formula on random books (it no longer wraps values in the NewTypes,
which are identities)."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kalshibot.core import event_builders as eb
from kalshibot.core import events as ev
from kalshibot.core import order_tracker as ot
from kalshibot.core.book import OrderBook
from kalshibot.core.fixed import ONE_DOLLAR, Count, Price
from kalshibot.core.orders import Applied, Ev, Order, State
from kalshibot.errors import BookError

ints = st.integers(-(10**9), 10**9)
opt_ints = st.one_of(st.none(), ints)
texts = st.text(max_size=12)


def _same(got: object, want: object, *, identical: bool = True) -> None:
    assert type(got) is type(want)
    assert got == want
    assert repr(got) == repr(want)
    for f in dataclasses.fields(want):  # type: ignore[arg-type]
        g, w = getattr(got, f.name), getattr(want, f.name)
        assert g is w if identical else (type(g) is type(w) and g == w)
    for f in dataclasses.fields(want):  # type: ignore[arg-type]
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(got, f.name, None)


@settings(max_examples=200, deadline=None)
@given(opt_ints, opt_ints, opt_ints, opt_ints, opt_ints)
def test_top_of_book_builder(
    bid: int | None, bs: int | None, ask: int | None, asz: int | None, seq: int | None
) -> None:
    got = eb.top_of_book(bid, bs, ask, asz, seq)  # type: ignore[arg-type]
    want = ev.TopOfBook(bid, bs, ask, asz, seq)  # type: ignore[arg-type]
    _same(got, want)
    assert hash(got) == hash(want)


orders = st.one_of(st.none(), st.builds(lambda c: Order(c, "T", "bid", Price(500_000), Count(100), 0), texts))
lookups = st.one_of(st.none(), st.builds(ev.LookupOrder, texts, st.one_of(st.none(), texts), texts))


@settings(max_examples=200, deadline=None)
@given(
    orders,
    st.one_of(st.none(), st.sampled_from(list(Ev))),
    st.one_of(st.none(), st.sampled_from(list(State))),
    st.one_of(st.none(), st.sampled_from(list(State))),
    ints,
    lookups,
    st.booleans(),
)
def test_applied_builder(
    o: Order | None, e: Ev | None, old: State | None, new: State | None, fill: int, look: ev.LookupOrder | None, u: bool
) -> None:
    got = ot._applied(o, e, old, new, Count(fill), look, u)
    want = Applied(o, e, old, new, Count(fill), look, u)
    _same(got, want)
    if o is None:  # an Order is mutable (unhashable): only a matchless Applied hashes
        assert hash(got) == hash(want)


def test_step_results_equal_the_constructor_defaults() -> None:
    # what _step / _unexpected used to build with keyword defaults: new_fill 0, lookup None, unexpected False
    t = ot.OrderTracker()
    o = t.new("c1", "T", "bid", Price(500_000), Count(100), 0)
    t.apply(ev.OrderAck("c1", "x1", Count(0), Count(100)), 1)
    res = t.send_amend(o, "c2", Price(510_000), Count(100), None, 2)
    _same(res, Applied(o, Ev.SEND_AMEND, State.RESTING, State.PENDING_AMEND))
    bad = t.apply(ev.CancelAck("x1", "c1", Count(0)), 3)  # no row for (PENDING_AMEND, CANCEL_TOO_LATE): unexpected
    assert bad.unexpected and bad.new is State.UNKNOWN and type(bad) is Applied
    _same(bad, Applied(o, Ev.CANCEL_TOO_LATE, State.PENDING_AMEND, State.UNKNOWN, Count(0), bad.lookup, True))
    assert bad.lookup == ev.LookupOrder("c1", "x1", "T")


levels = st.dictionaries(st.integers(1, 98).map(lambda c: c * 10_000), st.integers(1, 10**6), max_size=6)


@settings(max_examples=200, deadline=None)
@given(levels, levels, st.integers(0, 10**6), opt_ints)
def test_book_top_matches_the_formula(yes: dict[int, int], no: dict[int, int], seq: int, ask_seq: int | None) -> None:
    b = OrderBook("T")
    b.apply_snapshot(
        ev.BookSnapshot(
            "T",
            1,
            seq,
            tuple((Price(p), Count(c)) for p, c in sorted(yes.items())),
            tuple((Price(p), Count(c)) for p, c in sorted(no.items())),
        )
    )
    by = max(yes) if yes else None
    bn = max(no) if no else None
    want = ev.TopOfBook(
        by,  # type: ignore[arg-type]
        yes[by] if by is not None else None,  # type: ignore[arg-type]
        ONE_DOLLAR - bn if bn is not None else None,  # type: ignore[arg-type]
        no[bn] if bn is not None else None,  # type: ignore[arg-type]
        b.seq if ask_seq is None else ask_seq,
    )
    _same(b.top(ask_seq), want, identical=False)  # computed ints: equal and plain int, not the same object


deltas = st.lists(
    st.tuples(
        st.sampled_from(["yes", "no"]), st.integers(1, 9).map(lambda c: c * 100_000), st.integers(-3, 3), st.booleans()
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(deltas)
def test_apply_delta_matches_a_naive_book(ds: list[tuple[str, int, int, bool]]) -> None:
    # the hot book path (figure 2) against a plain dict model: levels, bests, "top changed", the seq, and the
    # negative-size refusal that invalidates the book (a guard for any later rewrite of apply_delta)
    b = OrderBook("T")
    b.apply_snapshot(ev.BookSnapshot("T", 1, 0, (), ()))
    model: dict[str, dict[int, int]] = {"yes": {}, "no": {}}

    def top() -> tuple[object, ...]:
        y, n = model["yes"], model["no"]
        return (max(y), y[max(y)]) if y else None, (max(n), n[max(n)]) if n else None

    for seq, (side, price, delta, flip) in enumerate(ds, start=1):
        p = ONE_DOLLAR - price if side == "no" and flip else price
        levels = model[side]
        before = top()
        d = ev.BookDelta("T", 1, seq, side, Price(price), Count(delta), flip)  # type: ignore[arg-type]
        new = levels.get(p, 0) + delta
        if new < 0:
            with pytest.raises(BookError):
                b.apply_delta(d)
            assert not b.valid
            return
        if new:
            levels[p] = new
        else:
            levels.pop(p, None)
        changed = b.apply_delta(d)
        assert b.seq == seq
        assert (b.best_yes_bid(), b.best_no_bid()) == top()
        assert changed == (top() != before)
