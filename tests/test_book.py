"""OrderBook and SequenceTracker: unit cases plus a Hypothesis comparison against a naive reference model."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kalshibot.core.book import OrderBook, SequenceTracker
from kalshibot.core.events import BookDelta, BookSnapshot, TopOfBook
from kalshibot.core.fixed import ONE_DOLLAR, Count, Price, contracts, dollars
from kalshibot.errors import BookError, SequenceGapError

T = "KXTEST-26JAN01-T50"


def P(text: str) -> Price:
    return dollars(text)


def snap(
    yes: list[tuple[str, str]], no: list[tuple[str, str]], *, seq: int = 1, yes_prices: bool = False
) -> BookSnapshot:
    return BookSnapshot(
        ticker=T,
        sid=1,
        seq=seq,
        yes=tuple((P(p), contracts(c)) for p, c in yes),
        no=tuple((P(p), contracts(c)) for p, c in no),
        no_in_yes_prices=yes_prices,
    )


def delta(side: str, price: str, d: str, *, seq: int = 2, yes_prices: bool = False) -> BookDelta:
    sign = -1 if d.startswith("-") else 1
    return BookDelta(
        ticker=T,
        sid=1,
        seq=seq,
        side=side,  # type: ignore[arg-type]
        price=P(price),
        delta=Count(sign * contracts(d.lstrip("-"))),
        no_in_yes_prices=yes_prices,
    )


# ------------------------------------------------------------------------------------------------- unit cases
def test_api_example_book() -> None:
    """API.md §3.4: best YES bid 0.42, best YES ask 1 - 0.56 = 0.44."""
    b = OrderBook(T)
    assert not b.valid and b.best_yes_bid() is None
    b.apply_snapshot(
        snap([("0.01", "200"), ("0.41", "10"), ("0.42", "13")], [("0.01", "100"), ("0.45", "20"), ("0.56", "17")])
    )
    assert b.valid and b.seq == 1
    assert b.best_yes_bid() == (P("0.42"), contracts(13))
    assert b.best_no_bid() == (P("0.56"), contracts(17))
    assert b.best_yes_ask() == (P("0.44"), contracts(17))
    assert b.mid() == P("0.43")
    assert b.spread() == P("0.02")
    assert b.top() == TopOfBook(P("0.42"), contracts(13), P("0.44"), contracts(17), 1)
    assert b.top(7).book_seq == 7
    assert b.levels("yes") == [(P("0.42"), 1300), (P("0.41"), 1000), (P("0.01"), 20000)]
    assert b.levels("no") == [(P("0.56"), 1700), (P("0.45"), 2000), (P("0.01"), 10000)]
    assert b.levels("no", yes_prices=True) == [(P("0.44"), 1700), (P("0.55"), 2000), (P("0.99"), 10000)]
    assert b.depth_at("no", P("0.45")) == 2000
    assert b.depth_at("no", P("0.55"), yes_prices=True) == 2000
    assert b.depth_at("yes", P("0.30")) == 0
    assert len(b) == 6
    assert not b.is_crossed() and not b.is_locked()


def test_microprice_hand_computed() -> None:
    # bid 0.40 x 30, ask 0.50 x 10: (0.40*10 + 0.50*30) / 40 = (4 + 15) / 40 = 0.475
    b = OrderBook(T)
    b.apply_snapshot(snap([("0.40", "30")], [("0.50", "10")]))
    assert b.best_yes_ask() == (P("0.50"), contracts(10))
    assert b.microprice() == P("0.475")
    assert b.mid() == P("0.45")
    # fractional sizes and a non-terminating ratio floor to a micro: (0.40*1 + 0.50*2)/3 = 0.4666666..
    b.apply_snapshot(snap([("0.40", "2")], [("0.50", "1")], seq=2))
    assert b.microprice() == 466_666


def test_mid_and_microprice_need_both_sides() -> None:
    b = OrderBook(T)
    b.apply_snapshot(snap([("0.40", "30")], []))
    assert b.mid() is None and b.microprice() is None and b.spread() is None and b.best_yes_ask() is None
    top = b.top()
    assert top.yes_ask is None and top.yes_ask_size is None and top.yes_bid == P("0.40")


def test_delta_changes_and_top_flag() -> None:
    b = OrderBook(T)
    b.apply_snapshot(snap([("0.40", "30"), ("0.38", "5")], [("0.55", "10")]))
    assert b.apply_delta(delta("yes", "0.38", "2")) is False  # below the best: top unchanged
    assert b.depth_at("yes", P("0.38")) == 700
    assert b.apply_delta(delta("yes", "0.40", "-0.5")) is True  # fractional change of the best's size
    assert b.best_yes_bid() == (P("0.40"), 2950)
    assert b.apply_delta(delta("yes", "0.41", "1")) is True  # new best
    assert b.apply_delta(delta("yes", "0.41", "-1")) is True  # best empties: falls back to 0.40
    assert b.best_yes_bid() == (P("0.40"), 2950)
    assert b.depth_at("yes", P("0.41")) == 0 and P("0.41") not in dict(b.levels("yes"))
    assert b.apply_delta(delta("no", "0.55", "-10")) is True  # NO side empties
    assert b.best_yes_ask() is None
    assert b.apply_delta(delta("yes", "0.10", "0")) is False  # a zero delta creates no level
    assert b.depth_at("yes", P("0.10")) == 0 and len(b) == 2
    assert b.seq == 2


def test_negative_size_raises_and_invalidates() -> None:
    b = OrderBook(T)
    b.apply_snapshot(snap([("0.40", "3")], [("0.55", "1")]))
    with pytest.raises(BookError, match="negative"):
        b.apply_delta(delta("yes", "0.40", "-3.01"))
    assert not b.valid
    assert b.depth_at("yes", P("0.40")) == 300  # nothing was clamped or half-applied
    # deltas are ignored until the resync snapshot arrives
    assert b.apply_delta(delta("yes", "0.40", "1")) is False
    assert b.depth_at("yes", P("0.40")) == 300
    b.apply_snapshot(snap([("0.41", "1")], [], seq=9))
    assert b.valid and b.best_yes_bid() == (P("0.41"), 100) and b.best_yes_ask() is None


def test_delta_on_missing_level_negative_raises() -> None:
    b = OrderBook(T)
    b.apply_snapshot(snap([], []))
    with pytest.raises(BookError):
        b.apply_delta(delta("no", "0.30", "-1"))
    assert not b.valid


@pytest.mark.parametrize("price", [0, ONE_DOLLAR, -10_000, ONE_DOLLAR + 10_000])
def test_out_of_range_prices_rejected(price: int) -> None:
    b = OrderBook(T)
    with pytest.raises(BookError):
        b.apply_snapshot(BookSnapshot(T, 1, 1, yes=((Price(price), Count(100)),), no=()))
    assert not b.valid and len(b) == 0
    b.apply_snapshot(snap([], []))
    with pytest.raises(BookError):
        b.apply_delta(BookDelta(T, 1, 2, "yes", Price(price), Count(100)))
    assert not b.valid


def test_snapshot_negative_size_and_wrong_ticker() -> None:
    b = OrderBook(T)
    with pytest.raises(BookError):
        b.apply_snapshot(BookSnapshot(T, 1, 1, yes=((P("0.40"), Count(-1)),), no=()))
    assert not b.valid
    with pytest.raises(BookError):
        b.apply_snapshot(BookSnapshot("OTHER", 1, 1, yes=(), no=()))
    b.apply_snapshot(snap([("0.40", "1")], []))
    with pytest.raises(BookError):
        b.apply_delta(BookDelta("OTHER", 1, 2, "yes", P("0.40"), Count(100)))


def test_snapshot_zero_levels_dropped_and_duplicates_summed() -> None:
    b = OrderBook(T)
    b.apply_snapshot(BookSnapshot(T, 1, 1, yes=((P("0.40"), Count(0)), (P("0.30"), 100), (P("0.30"), 50)), no=()))
    assert b.levels("yes") == [(P("0.30"), 150)]


def test_snapshot_replaces_everything() -> None:
    b = OrderBook(T)
    b.apply_snapshot(snap([("0.40", "30"), ("0.20", "1")], [("0.55", "10")]))
    assert b.apply_snapshot(snap([("0.40", "30")], [("0.55", "10")], seq=5)) is False  # same top
    assert b.levels("yes") == [(P("0.40"), 3000)]
    assert b.apply_snapshot(snap([("0.41", "30")], [("0.55", "10")], seq=6)) is True


def test_crossed_and_locked() -> None:
    b = OrderBook(T)
    b.apply_snapshot(snap([("0.45", "1")], [("0.55", "1")]))  # ask = 0.45 = bid
    assert b.is_locked() and not b.is_crossed()
    b.apply_snapshot(snap([("0.46", "1")], [("0.55", "1")]))  # ask 0.45 < bid 0.46
    assert b.is_crossed() and not b.is_locked()
    assert b.spread() == -P("0.01")
    b.apply_snapshot(snap([("0.44", "1")], [("0.55", "1")]))
    assert not b.is_crossed() and not b.is_locked()
    b.apply_snapshot(snap([("0.99", "1")], []))
    assert not b.is_crossed() and not b.is_locked()


def test_no_in_yes_prices_conventions_agree() -> None:
    a, b = OrderBook(T), OrderBook(T)
    a.apply_snapshot(snap([("0.40", "3")], [("0.55", "1"), ("0.50", "2")]))
    b.apply_snapshot(snap([("0.40", "3")], [("0.45", "1"), ("0.50", "2")], yes_prices=True))
    assert a.levels("no") == b.levels("no") and a.top() == b.top()
    a.apply_delta(delta("no", "0.56", "4"))
    b.apply_delta(delta("no", "0.44", "4", yes_prices=True))
    assert a.levels("no") == b.levels("no") and b.best_yes_ask() == (P("0.44"), 400)


def test_clear_and_invalidate() -> None:
    b = OrderBook(T)
    b.apply_snapshot(snap([("0.40", "3")], [("0.55", "1")]))
    b.invalidate()
    assert not b.valid and b.best_yes_bid() is not None
    b.clear()
    assert not b.valid and len(b) == 0 and b.best_yes_bid() is None and b.seq is None
    assert "invalid" in repr(b)


def test_apply_dispatch_and_bad_side() -> None:
    b = OrderBook(T)
    assert b.apply(snap([("0.40", "3")], [])) is True
    assert b.apply(delta("yes", "0.40", "1")) is True
    with pytest.raises(ValueError):
        b.levels("maybe")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        b.depth_at("maybe", 1)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------ sequence tracker
def test_sequence_tracker_outcomes() -> None:
    t = SequenceTracker()
    assert 5 not in t
    assert t.check(5, 2) is True  # first seq seen on a sid is accepted whatever it is
    assert t.check(5, 3) is True and t.last(5) == 3
    assert t.check(5, 3) is False  # duplicate: stale, drop
    assert t.check(5, 1) is False  # old
    with pytest.raises(SequenceGapError) as ei:
        t.check(5, 6)
    assert (ei.value.sid, ei.value.expected, ei.value.got) == (5, 4, 6)
    with pytest.raises(SequenceGapError):  # did not advance: still a gap
        t.check(5, 7)
    assert t.last(5) == 3
    assert t.check(5, 4) is True  # the expected one still goes through
    assert t.check(6, 100) is True  # sids are independent
    t.reset(5)
    assert t.last(5) is None and 5 in t
    assert t.check(5, 42) is True and t.check(5, 43) is True
    t.forget(5)
    assert 5 not in t and t.check(5, 1) is True


# ---------------------------------------------------------------------------------- property: reference model
PRICES = [10_000 * i for i in (1, 2, 3, 40, 45, 50, 55, 60, 98, 99)] + [1, 455_500, 999_999]
SIZES = st.integers(min_value=1, max_value=5_000)


class Reference:
    """The naive model: two dicts and max()."""

    def __init__(self) -> None:
        self.yes: dict[int, int] = {}
        self.no: dict[int, int] = {}

    def top(self) -> tuple[object, ...]:
        by = max(self.yes) if self.yes else None
        bn = max(self.no) if self.no else None
        return (by, self.yes[by] if by is not None else 0, bn, self.no[bn] if bn is not None else 0)


def _check_equal(book: OrderBook, ref: Reference) -> None:
    assert book.levels("yes") == sorted(ref.yes.items(), reverse=True)
    assert book.levels("no") == sorted(ref.no.items(), reverse=True)
    by = max(ref.yes) if ref.yes else None
    bn = max(ref.no) if ref.no else None
    assert book.best_yes_bid() == ((by, ref.yes[by]) if by is not None else None)
    assert book.best_yes_ask() == ((ONE_DOLLAR - bn, ref.no[bn]) if bn is not None else None)
    assert all(s > 0 for _, s in book.levels("yes") + book.levels("no"))
    if by is not None and bn is not None:
        assert book.is_crossed() == (by > ONE_DOLLAR - bn)
        assert book.is_locked() == (by == ONE_DOLLAR - bn)
        assert book.mid() == (by + ONE_DOLLAR - bn) // 2


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_book_matches_reference_model(data: st.DataObject) -> None:
    book, mirror, ref = OrderBook(T), OrderBook(T), Reference()
    yes = data.draw(st.dictionaries(st.sampled_from(PRICES), SIZES, max_size=6))
    no = data.draw(st.dictionaries(st.sampled_from(PRICES), SIZES, max_size=6))
    s = BookSnapshot(T, 1, 1, tuple((Price(p), Count(c)) for p, c in yes.items()), tuple(no.items()))  # type: ignore[arg-type]
    book.apply_snapshot(s)
    # the mirror receives the same book with NO levels in YES prices (use_yes_price)
    mirror.apply_snapshot(
        BookSnapshot(T, 1, 1, s.yes, tuple((Price(ONE_DOLLAR - p), Count(c)) for p, c in no.items()), True)
    )
    ref.yes, ref.no = dict(yes), dict(no)
    _check_equal(book, ref)
    for seq in range(2, data.draw(st.integers(1, 60)) + 2):
        side = data.draw(st.sampled_from(["yes", "no"]))
        levels = ref.yes if side == "yes" else ref.no
        price = data.draw(st.sampled_from(PRICES))
        cur = levels.get(price, 0)
        # an overdraw ends the run, so it is drawn rarely to let sequences grow long
        kind = data.draw(st.sampled_from(["add"] * 6 + ["remove_part"] * 6 + ["remove_all"] * 4 + ["overdraw"]))
        if kind == "add" or (cur == 0 and kind != "overdraw"):
            d = data.draw(SIZES)
        elif kind == "remove_part":
            d = -data.draw(st.integers(1, cur))
        elif kind == "remove_all":
            d = -cur
        else:
            d = -(cur + data.draw(st.integers(1, 100)))
        ev = BookDelta(T, 1, seq, side, Price(price), Count(d))  # type: ignore[arg-type]
        mev = BookDelta(T, 1, seq, side, Price(ONE_DOLLAR - price if side == "no" else price), Count(d), True)  # type: ignore[arg-type]
        if cur + d < 0:
            with pytest.raises(BookError):
                book.apply_delta(ev)
            with pytest.raises(BookError):
                mirror.apply_delta(mev)
            assert not book.valid and not mirror.valid
            _check_equal(book, ref)  # the rejected delta left no trace
            return
        before = ref.top()
        if cur + d:
            levels[price] = cur + d
        else:
            levels.pop(price, None)
        changed = book.apply_delta(ev)
        assert mirror.apply_delta(mev) == changed
        assert changed == (ref.top() != before)
        _check_equal(book, ref)
        assert mirror.levels("no") == book.levels("no") and mirror.top() == book.top()
        assert book.seq == seq


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=12), max_size=40))
def test_sequence_tracker_property(seqs: list[int]) -> None:
    t = SequenceTracker()
    last: int | None = None
    for s in seqs:
        if last is None or s == last + 1:
            assert t.check(1, s) is True
            last = s
        elif s <= last:
            assert t.check(1, s) is False
        else:
            with pytest.raises(SequenceGapError):
                t.check(1, s)
        assert t.last(1) == last
