"""Issue 9's book-side shortcuts against naive references: the best-price reads without their NewType wrappers
(same values, plain ints), and the feed's inlined in-order sequence check over ``SequenceTracker.last_map``
(same outcomes and state as ``check`` for any seq stream with resets and forgets)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kalshibot.core.book import OrderBook, SequenceTracker
from kalshibot.core.events import BookDelta, BookSnapshot
from kalshibot.core.fixed import ONE_DOLLAR, Count, Price
from kalshibot.errors import SequenceGapError

T = "KXT-1"
PRICES = [1, 10_000, 20_000, 450_000, 500_000, 550_000, 990_000, 999_999]


@settings(max_examples=200, deadline=None)
@given(
    yes=st.dictionaries(st.sampled_from(PRICES), st.integers(1, 500), max_size=5),
    no=st.dictionaries(st.sampled_from(PRICES), st.integers(1, 500), max_size=5),
    deltas=st.lists(st.tuples(st.sampled_from(["yes", "no"]), st.sampled_from(PRICES), st.integers(-600, 600))),
)
def test_best_reads_equal_naive_max(
    yes: dict[int, int], no: dict[int, int], deltas: list[tuple[str, int, int]]
) -> None:
    book = OrderBook(T)
    book.apply_snapshot(BookSnapshot(T, 1, 1, tuple(yes.items()), tuple(no.items())))  # type: ignore[arg-type]
    ref = {"yes": dict(yes), "no": dict(no)}
    for seq, (side, price, d) in enumerate(deltas, start=2):
        cur = ref[side].get(price, 0)
        if cur + d < 0:
            continue  # refused deltas are tests/test_book.py's business
        if cur + d:
            ref[side][price] = cur + d
        else:
            ref[side].pop(price, None)
        book.apply_delta(BookDelta(T, 1, seq, side, Price(price), Count(d)))  # type: ignore[arg-type]
        by = max(ref["yes"], default=None)
        bn = max(ref["no"], default=None)
        assert book.best_yes_bid() == (None if by is None else (by, ref["yes"][by]))
        assert book.best_no_bid() == (None if bn is None else (bn, ref["no"][bn]))
        assert book.best_yes_ask() == (None if bn is None else (ONE_DOLLAR - bn, ref["no"][bn]))
        for got in (book.best_yes_bid(), book.best_no_bid(), book.best_yes_ask()):
            assert got is None or (type(got) is tuple and all(type(x) is int for x in got))


def inlined_check(trk: SequenceTracker, sid: int, seq: int) -> bool | None:
    """The feed's fast path: the in-order case on the map, anything else through check (None: a gap)."""
    m = trk.last_map
    last = m.get(sid)
    if last is not None and seq == last + 1:
        m[sid] = seq
        return True
    try:
        return trk.check(sid, seq)
    except SequenceGapError:
        return None


op = st.one_of(
    st.tuples(st.just("seq"), st.integers(1, 3), st.integers(-1, 3)),  # seq relative to the last one
    st.tuples(st.just("reset"), st.integers(1, 3), st.just(0)),
    st.tuples(st.just("forget"), st.integers(1, 3), st.just(0)),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(op, max_size=80))
def test_inlined_sequence_check_equals_check(ops: list[tuple[str, int, int]]) -> None:
    a, b = SequenceTracker(), SequenceTracker()
    for kind, sid, step in ops:
        if kind == "reset":
            a.reset(sid)
            b.reset(sid)
        elif kind == "forget":
            a.forget(sid)
            b.forget(sid)
        else:
            seq = (a.last(sid) or 0) + step
            try:
                want: bool | None = a.check(sid, seq)
            except SequenceGapError:
                want = None
            assert inlined_check(b, sid, seq) == want
        assert a.last_map == b.last_map
