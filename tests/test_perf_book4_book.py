"""``OrderBook`` against a naive reference (issue 9, round 4): the book caches each side's best ``(price, size)``
tuple and drops it only when that side's top changes, and ``apply_delta`` returns early on the common deep-level
change. Random snapshots and delta streams (both price conventions, refused deltas, invalidations, re-snapshots,
clears) are played into both; after every step the best reads, the return value ("top of book changed"), the
levels, ``seq``, ``valid`` and the error (type and message) must be the reference's."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kalshibot.core.book import OrderBook
from kalshibot.core.events import BookDelta, BookSnapshot
from kalshibot.core.fixed import ONE_DOLLAR, Count, Price
from kalshibot.errors import BookError

T = "KXT-26JAN05-B1"
# a handful of prices so levels collide, empty and refill often; the edges and out-of-range ones too
PRICES = [10_000, 440_000, 450_000, 460_000, 470_000, 500_000, 540_000, 550_000, 560_000, 990_000]
BAD_PRICES = [0, ONE_DOLLAR, -10_000, 1_010_000]


class NaiveBook:
    """The plain model: a dict per side, the top of book by max() on every read, no caches."""

    def __init__(self) -> None:
        self.sides: dict[str, dict[int, int]] = {"yes": {}, "no": {}}
        self.seq: int | None = None
        self.valid = False

    def best(self, side: str) -> tuple[int, int] | None:
        lv = self.sides[side]
        if not lv:
            return None
        p = max(lv)
        return p, lv[p]

    def top(self) -> tuple[Any, Any]:
        return self.best("yes"), self.best("no")

    def clear(self) -> None:
        self.sides = {"yes": {}, "no": {}}
        self.seq = None
        self.valid = False

    def snapshot(self, s: BookSnapshot) -> bool:
        before = self.top()
        self.clear()
        for side, levels, flip in (("yes", s.yes, False), ("no", s.no, s.no_in_yes_prices)):
            for price, size in levels:
                if not 0 < price < ONE_DOLLAR:
                    self.clear()
                    raise BookError(f"snapshot {side} level price {price} outside (0, 1)")
                if size < 0:
                    self.clear()
                    raise BookError(f"snapshot {side} level at {price} has negative size {size}")
                if size:
                    p = ONE_DOLLAR - price if flip else price
                    self.sides[side][p] = self.sides[side].get(p, 0) + size
        self.seq = s.seq
        self.valid = True
        return self.top() != before

    def delta(self, d: BookDelta) -> bool:
        if not self.valid:
            return False
        if not 0 < d.price < ONE_DOLLAR:
            self.valid = False
            raise BookError(f"{T}: delta price {d.price} outside (0, 1)")
        price = ONE_DOLLAR - d.price if d.side == "no" and d.no_in_yes_prices else d.price
        lv = self.sides[d.side]
        old = lv.get(price, 0)
        new = old + d.delta
        if new < 0:
            self.valid = False
            raise BookError(f"{T}: {d.side} level {price} would go negative ({old} + {d.delta}) at seq {d.seq}")
        before = self.best(d.side)
        self.seq = d.seq
        if new:
            lv[price] = new
        else:
            lv.pop(price, None)
        return self.best(d.side) != before


def outcome(fn: Any, *args: Any) -> tuple[str, Any]:
    try:
        return "ok", fn(*args)
    except BookError as e:
        return "error", str(e)


def same_state(book: OrderBook, ref: NaiveBook) -> None:
    want_yes, want_no = ref.best("yes"), ref.best("no")
    # read twice: the second read is served from the cache and must still be the levels' truth
    for _ in range(2):
        assert book.best_yes_bid() == want_yes
        assert book.best_no_bid() == want_no
    assert book.best_yes_ask() == (None if want_no is None else (ONE_DOLLAR - want_no[0], want_no[1]))
    top = book.top()
    assert (top.yes_bid, top.yes_bid_size) == (want_yes or (None, None))
    assert book.levels("yes") == sorted(ref.sides["yes"].items(), reverse=True)
    assert book.levels("no") == sorted(ref.sides["no"].items(), reverse=True)
    assert (book.seq, book.valid) == (ref.seq, ref.valid)


levels = st.lists(st.tuples(st.sampled_from(PRICES), st.integers(-2, 300)), max_size=6)
step = st.one_of(
    *[st.tuples(st.just("delta"), st.sampled_from(["yes", "no"]), st.sampled_from(PRICES), st.integers(-320, 320))]
    * 12,
    # a delta taking out exactly what rests there (the level empties: the next best must be found)
    st.tuples(st.just("empty"), st.sampled_from(["yes", "no"]), st.sampled_from(PRICES), st.just(0)),
    st.tuples(st.just("delta"), st.sampled_from(["yes", "no"]), st.sampled_from(BAD_PRICES), st.integers(-5, 5)),
    st.tuples(st.just("snapshot"), levels, levels, st.booleans()),
    st.tuples(st.just("invalidate")),
    st.tuples(st.just("clear")),
)


@settings(max_examples=400, deadline=None)
@given(first=st.tuples(levels, levels), steps=st.lists(step, max_size=60), use_yes=st.booleans())
def test_book_equals_naive_reference_after_every_step(
    first: tuple[list[tuple[int, int]], list[tuple[int, int]]], steps: list[tuple[Any, ...]], use_yes: bool
) -> None:
    book, ref = OrderBook(T), NaiveBook()
    same_state(book, ref)  # a new book: no levels, invalid, reads None
    snap = BookSnapshot(T, 1, 1, tuple(first[0]), tuple(first[1]), use_yes)  # type: ignore[arg-type]
    assert outcome(book.apply_snapshot, snap) == outcome(ref.snapshot, snap)
    same_state(book, ref)
    for seq, st_ in enumerate(steps, start=2):
        kind = st_[0]
        if kind in ("delta", "empty"):
            _, side, price, d = st_
            wire_price = ONE_DOLLAR - price if side == "no" and use_yes and 0 < price < ONE_DOLLAR else price
            if kind == "empty":
                d = -ref.sides[side].get(price, 0)
            delta = BookDelta(T, 1, seq, side, Price(wire_price), Count(d), use_yes)
            assert outcome(book.apply_delta, delta) == outcome(ref.delta, delta)
        elif kind == "snapshot":
            _, yes, no, flip = st_
            snap = BookSnapshot(T, 1, seq, tuple(yes), tuple(no), flip)
            assert outcome(book.apply_snapshot, snap) == outcome(ref.snapshot, snap)
        elif kind == "invalidate":
            book.invalidate()
            ref.valid = False
        else:
            book.clear()
            ref.clear()
        same_state(book, ref)


def test_cached_best_is_dropped_when_the_best_size_changes_in_place() -> None:
    """The case a price-only cache would miss: the best level's size changes, its price does not."""
    book = OrderBook(T)
    book.apply_snapshot(BookSnapshot(T, 1, 1, ((Price(450_000), Count(100)),), ((Price(500_000), Count(7)),)))
    assert book.best_yes_bid() == (450_000, 100)
    assert book.apply_delta(BookDelta(T, 1, 2, "yes", Price(450_000), Count(-40))) is True
    assert book.best_yes_bid() == (450_000, 60)
    assert book.apply_delta(BookDelta(T, 1, 3, "yes", Price(440_000), Count(5))) is False  # below the best
    assert book.best_yes_bid() == (450_000, 60)
    assert book.apply_delta(BookDelta(T, 1, 4, "yes", Price(450_000), Count(-60))) is True  # emptied
    assert book.best_yes_bid() == (440_000, 5)
    assert book.best_no_bid() == (500_000, 7)  # the other side untouched
