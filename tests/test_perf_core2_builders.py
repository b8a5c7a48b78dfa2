"""Issue 9 round 2: the hot path's cheap builders of frozen values make exactly what the constructors make.

``event_builders.intent_note`` / ``event_builders.amend_order``, the quoter's ``quote_context`` and its ``Quote``,
the reconciler's ``Keep`` / ``Amend`` are built through a mutable twin with the same slots whose ``__class__``
becomes the frozen class (``event_builders.draft_class``). Each result must be the same type, compare and repr equal
to the constructor's, hash the same (where the class is hashable) and stay immutable; a builder that swapped two
fields or left one unset fails here. The ``Order`` quantity properties now avoid ``max()``: checked against the
plain formulas."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kalshibot.core import event_builders as eb
from kalshibot.core import events as ev
from kalshibot.core import reconciler as rc
from kalshibot.core.fixed import Count, Price
from kalshibot.core.grid import PriceGrid
from kalshibot.core.orders import Order, State
from kalshibot.core.portfolio import Hypothetical, hypothetical
from kalshibot.core.quoter import LinearQuoter, Quote, QuoteContext, quote_context

ints = st.integers(-(10**9), 10**9)
opt_ints = st.one_of(st.none(), ints)
texts = st.text(max_size=12)
tops = st.builds(ev.TopOfBook, opt_ints, opt_ints, opt_ints, opt_ints, opt_ints)
reasons = st.dictionaries(st.text(max_size=5), st.one_of(ints, texts), max_size=3)


def _same(got: object, want: object) -> None:
    assert type(got) is type(want)
    assert got == want
    assert repr(got) == repr(want)
    for f in dataclasses.fields(want):  # type: ignore[arg-type]
        assert getattr(got, f.name) is getattr(want, f.name)
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(got, dataclasses.fields(want)[0].name, None)  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(texts, ints, texts, st.sampled_from(["yes", "no"]), ints, ints, tops, reasons)
def test_intent_note_builder(
    iid: str, ts: int, t: str, outcome: ev.Outcome, p: int, c: int, top: ev.TopOfBook, r: dict[str, object]
) -> None:
    _same(
        eb.intent_note(iid, ts, t, outcome, Price(p), Count(c), top, r),
        ev.IntentNote(iid, ts, t, outcome, p, c, top, r),
    )  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(texts, texts, texts, texts, st.sampled_from(["bid", "ask"]), ints, ints, opt_ints, texts, opt_ints)
def test_amend_order_builder(
    oid: str, coid: str, new: str, t: str, side: ev.BookSide, p: int, c: int, exp: int | None, iid: str, seq: int | None
) -> None:
    got = eb.amend_order(oid, coid, new, t, side, Price(p), Count(c), exp, iid, seq)
    want = ev.AmendOrder(oid, coid, new, t, side, Price(p), Count(c), exp, iid, seq)
    _same(got, want)
    assert hash(got) == hash(want)


@settings(max_examples=200, deadline=None)
@given(
    texts, ints, opt_ints, opt_ints, ints, texts, ints, st.one_of(st.none(), st.floats(allow_nan=False)), st.booleans()
)
def test_quote_context_builder(
    t: str, fair: int, bb: int | None, ba: int | None, pos: int, ft: str, mult: int, ttc: float | None, po: bool
) -> None:
    grid = PriceGrid.linear_cent()
    got = quote_context(t, Price(fair), bb, ba, Count(pos), grid, ft, mult, ttc, po)  # type: ignore[arg-type]
    want = QuoteContext(t, Price(fair), bb, ba, Count(pos), grid, ft, mult, ttc, po)  # type: ignore[arg-type]
    _same(got, want)
    assert hash(got) == hash(want)


@settings(max_examples=200, deadline=None)
@given(st.integers(100_000, 900_000), st.integers(-5_000, 5_000), st.integers(0, 2))
def test_quoter_returns_a_genuine_quote(fair: int, pos: int, level_count: int) -> None:
    q = LinearQuoter(Price(20_000), Price(5_000), Count(100), levels=level_count + 1)
    ctx = quote_context(
        "T", Price(fair), None, None, Count(pos), PriceGrid.linear_cent(), "quadratic", 1_000_000, None, True
    )
    got = q.quote(ctx)
    _same(got, Quote(got.bids, got.asks, got.reason))


qty = st.one_of(st.integers(-3, 3), ints)  # small values hit the boundaries (0, equal fills) often


def _order(state: State, total: int, fills: int, venue: int, pending_total: int | None) -> Order:
    o = Order("c", "T", "bid", Price(500_000), Count(total), 0, state=state)
    o.fills_counted, o.venue_filled, o.pending_total = Count(fills), Count(venue), pending_total  # type: ignore[assignment]
    return o


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(list(State)), qty, qty, qty, st.one_of(st.none(), qty))
def test_order_quantities_equal_the_max_formulas(
    state: State, total: int, fills: int, venue: int, pending_total: int | None
) -> None:
    o = _order(state, total, fills, venue, pending_total)
    filled = max(fills, venue)
    assert o.filled == filled
    terminal = o.is_terminal
    assert o.remaining == (0 if terminal else max(0, total - filled))
    tgt = pending_total if pending_total is not None else total
    assert o.target_remaining == (0 if terminal else max(0, tgt - filled))


@settings(max_examples=200, deadline=None)
@given(ints, ints, opt_ints, st.booleans())
def test_reconciler_step_builders(p: int, total: int, exp: int | None, expiry_only: bool) -> None:
    o = _order(State.RESTING, 500, 0, 0, None)
    _same(rc._amend(o, Price(p), Count(total), exp, expiry_only), rc.Amend(o, Price(p), Count(total), exp, expiry_only))
    # Keep comes out of _refresh_or_keep for an order not due a refresh
    steps = rc._refresh_or_keep(o, rc.Level(Price(p), Count(total)), "bid", 0, None, rc.ReconcileParams(), 30)
    assert len(steps) == 1
    _same(steps[0], rc.Keep(o))


def test_draft_class_has_the_same_slots() -> None:
    for cls in (ev.IntentNote, ev.AmendOrder, QuoteContext, Quote, rc.Keep, rc.Amend):
        draft = eb.draft_class(cls)
        assert draft.__slots__ == cls.__slots__  # type: ignore[attr-defined]
        assert not hasattr(draft, "__dict__") or "__dict__" not in draft.__slots__  # type: ignore[attr-defined]


@settings(max_examples=200, deadline=None)
@given(texts, st.sampled_from(["bid", "ask"]), ints, ints, st.one_of(st.none(), texts))
def test_hypothetical_and_level_builders(t: str, side: ev.BookSide, p: int, c: int, rep: str | None) -> None:
    got = hypothetical(t, side, Price(p), Count(c), rep)
    want = Hypothetical(t, side, Price(p), Count(c), rep)
    _same(got, want)
    assert hash(got) == hash(want)
    lv = rc.level(Price(p), Count(c))
    _same(lv, rc.Level(Price(p), Count(c)))
    assert hash(lv) == hash(rc.Level(Price(p), Count(c)))
