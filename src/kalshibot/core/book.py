"""The order book of one market, and per-subscription sequence tracking.

Theory of operation
-------------------
Kalshi publishes two books per market, both made of *bids* only (API.md §3.4, §5.3): YES bids and NO bids. A NO bid
at NO price ``q`` is the same thing as a YES ask at ``1 - q``. :class:`OrderBook` stores exactly that: two plain
``dict[int, int]`` maps, ``price -> size``, one for YES bids keyed by YES price and one for NO bids keyed by NO-leg
price, sizes in centi-contracts. When a subscription uses ``use_yes_price`` (API.md §5.3) the feed hands us NO levels
at YES prices; :class:`~kalshibot.core.events.BookSnapshot` / :class:`~kalshibot.core.events.BookDelta` say so with
``no_in_yes_prices`` and the book converts ``p -> 1 - p`` on the way in, so both conventions build the same book.

A snapshot replaces the whole book and makes it ``valid``. A delta adds a signed, possibly fractional change to one
level (API.md §5.3: "remove level when size reaches 0"). A change that would leave a negative size, a price outside
(0, 1), or a delta for another ticker cannot be applied: the book raises :class:`~kalshibot.errors.BookError` and
marks itself invalid; it is never clamped, because a book we cannot trust must not be quoted against. While invalid
the book ignores deltas (``apply_delta`` returns False) until the next snapshot: the caller resyncs (API.md §5.4).

Best prices are cached per side. A delta can only raise the best (a level above it appears) or empty the best level;
only the second case costs a ``max()`` over that side, so lookups are O(1) and updates O(1) amortized on the delta
hot path. ``apply_delta`` reports whether the top of book (best price or its size on either side) changed, so the
engine requotes only then. The ``(price, size)`` tuple of each side's best level is cached too (built on the first
read after the top of that side changed), because the feed reads both on every delta and most deltas leave them be.

:class:`SequenceTracker` checks ``seq`` per subscription id (API.md §5.4: the counter is per ``sid``; a snapshot and
its deltas share it). ``check`` returns True for the next expected seq, False for a duplicate or old one (stale: drop
the message, it is already applied), and raises :class:`~kalshibot.errors.SequenceGapError` on a gap without
advancing, so every later message on that sid keeps failing until the caller resyncs and calls ``reset``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from kalshibot.core.event_builders import top_of_book
from kalshibot.core.events import BookDelta, BookSnapshot, TopOfBook
from kalshibot.core.fixed import ONE_DOLLAR, Count, Price
from kalshibot.errors import BookError, SequenceGapError

Side = Literal["yes", "no"]

# "not cached": the top-of-side tuple must be rebuilt from the levels on the next read (None means "no level")
_STALE: object = object()

__all__ = ["OrderBook", "SequenceTracker", "Side"]


class OrderBook:
    """YES bids and NO bids of one market (see the module docstring). Not thread-safe; one owner."""

    __slots__ = ("_best_no", "_best_yes", "_no", "_top_no", "_top_yes", "_yes", "seq", "ticker", "valid")

    def __init__(self, ticker: str) -> None:
        self.ticker = ticker
        self._yes: dict[int, int] = {}  # YES price -> size
        self._no: dict[int, int] = {}  # NO-leg price -> size
        self._best_yes: int | None = None
        self._best_no: int | None = None
        # best_yes_bid() / best_no_bid() results, or _STALE: rebuilt from the levels on the next read
        self._top_yes: object = _STALE
        self._top_no: object = _STALE
        self.seq: int | None = None  # seq of the last snapshot/delta applied
        # a book starts invalid: nothing may be quoted against it before the first snapshot
        self.valid = False

    # ------------------------------------------------------------------------------------------------ updates
    def clear(self) -> None:
        """Drop every level and mark the book invalid (waiting for a snapshot)."""
        self._yes.clear()
        self._no.clear()
        self._best_yes = self._best_no = None
        self._top_yes = self._top_no = _STALE
        self.seq = None
        self.valid = False

    def invalidate(self) -> None:
        """Mark the book invalid (a gap was seen elsewhere, e.g. by the SequenceTracker); levels are kept for
        display but ``valid`` is False until the next snapshot."""
        self.valid = False

    def apply_snapshot(self, snap: BookSnapshot) -> bool:
        """Replace the book with ``snap``. Returns whether the top of book changed. Raises BookError (and leaves
        the book cleared and invalid) on a malformed level."""
        if snap.ticker != self.ticker:
            raise BookError(f"snapshot for {snap.ticker} applied to the book of {self.ticker}")
        before = self._top_key()
        self.clear()
        try:
            self._load(self._yes, snap.yes, False, "yes")
            self._load(self._no, snap.no, snap.no_in_yes_prices, "no")
        except BookError:
            self.clear()
            raise
        self._best_yes = max(self._yes) if self._yes else None
        self._best_no = max(self._no) if self._no else None
        self.seq = snap.seq
        self.valid = True
        return self._top_key() != before

    @staticmethod
    def _load(levels: dict[int, int], src: Iterable[tuple[Price, Count]], flip: bool, side: str) -> None:
        for price, size in src:
            if not 0 < price < ONE_DOLLAR:
                raise BookError(f"snapshot {side} level price {price} outside (0, 1)")
            if size < 0:
                raise BookError(f"snapshot {side} level at {price} has negative size {size}")
            if size == 0:
                continue  # an empty level is no level
            p = ONE_DOLLAR - price if flip else price
            # a level listed twice is summed: the snapshot's total resting size at that price is what it states
            levels[p] = levels.get(p, 0) + size

    def apply_delta(self, d: BookDelta) -> bool:
        """Apply one delta. Returns True when the top of book changed (best price or its size, either side).

        On an invalid book the delta is ignored (False): a resync is pending and the snapshot replaces everything.
        A negative resulting size or a price outside (0, 1) raises BookError and invalidates the book."""
        if not self.valid:
            return False
        if d.ticker != self.ticker:
            raise BookError(f"delta for {d.ticker} applied to the book of {self.ticker}")
        price: int = d.price
        if not 0 < price < ONE_DOLLAR:
            self.valid = False
            raise BookError(f"{self.ticker}: delta price {price} outside (0, 1)")
        if d.side == "yes":
            levels, best = self._yes, self._best_yes
        elif d.side == "no":
            levels, best = self._no, self._best_no
            if d.no_in_yes_prices:
                price = ONE_DOLLAR - price
        else:  # pragma: no cover - guarded by the type, but wire data is wire data
            self.valid = False
            raise BookError(f"{self.ticker}: unknown book side {d.side!r}")
        old = levels.get(price, 0)
        new = old + d.delta
        if new < 0:
            # never clamp: the book disagrees with the exchange, quoting against it would be quoting blind
            self.valid = False
            raise BookError(
                f"{self.ticker}: {d.side} level {price} would go negative ({old} + {d.delta}) at seq {d.seq}"
            )
        self.seq = d.seq
        if new == old:
            return False
        # the top of that side changes when a level appears above the best, or the best level's size changes
        # (emptied: the next best is found by max()); every other change leaves best and cached tuple as they are
        top: int | None = price
        if new:
            levels[price] = new
            if best is not None and price < best:
                return False
        else:
            # old > 0 here (new == 0 != old), so the level exists
            del levels[price]
            if price != best:
                return False
            top = max(levels) if levels else None
        if levels is self._yes:
            self._best_yes = top
            self._top_yes = _STALE
        else:
            self._best_no = top
            self._top_no = _STALE
        return True

    def apply(self, ev: BookSnapshot | BookDelta) -> bool:
        """Dispatch a snapshot or a delta; returns whether the top of book changed."""
        if isinstance(ev, BookSnapshot):
            return self.apply_snapshot(ev)
        return self.apply_delta(ev)

    # ------------------------------------------------------------------------------------------------ queries
    def _top_key(self) -> tuple[int | None, int, int | None, int]:
        by, bn = self._best_yes, self._best_no
        return (
            by,
            self._yes[by] if by is not None else 0,
            bn,
            self._no[bn] if bn is not None else 0,
        )

    # The three best-price reads run on every delta (issue 9): the levels hold Price -> Count values, so the
    # NewType wrappers (a C call each, ~40 ns, identity at run time) are left out and the ignores say so to mypy.
    # best_yes_bid / best_no_bid return the cached tuple (an immutable value, so sharing it is safe) until the top
    # of their side changes; tests/test_perf_book4_book.py checks them against the levels after every delta
    def best_yes_bid(self) -> tuple[Price, Count] | None:
        t = self._top_yes
        if t is _STALE:
            by = self._best_yes
            t = self._top_yes = None if by is None else (by, self._yes[by])
        return t  # type: ignore[return-value]

    def best_no_bid(self) -> tuple[Price, Count] | None:
        """Best NO bid in NO-leg price."""
        t = self._top_no
        if t is _STALE:
            bn = self._best_no
            t = self._top_no = None if bn is None else (bn, self._no[bn])
        return t  # type: ignore[return-value]

    def best_yes_ask(self) -> tuple[Price, Count] | None:
        """Best YES ask = 1 - best NO bid, with the size of that NO level (API.md §3.4)."""
        bn = self._best_no
        if bn is None:
            return None
        return ONE_DOLLAR - bn, self._no[bn]  # type: ignore[return-value]

    def top(self, seq: int | None = None) -> TopOfBook:
        """The top of book for journal intents; ``seq`` defaults to the last applied seq."""
        # once per requote (issue 9): the slot builder skips the frozen __init__, and the levels already hold
        # Price -> Count ints, so the NewType wrappers (identity at run time) are left out, as for best_* above
        by, bn = self._best_yes, self._best_no
        if by is None:
            if bn is None:
                return top_of_book(None, None, None, None, self.seq if seq is None else seq)
            return top_of_book(None, None, ONE_DOLLAR - bn, self._no[bn], self.seq if seq is None else seq)  # type: ignore[arg-type]
        if bn is None:
            return top_of_book(by, self._yes[by], None, None, self.seq if seq is None else seq)  # type: ignore[arg-type]
        return top_of_book(by, self._yes[by], ONE_DOLLAR - bn, self._no[bn], self.seq if seq is None else seq)  # type: ignore[arg-type]

    def mid(self) -> Price | None:
        """(bid + ask) // 2 in micros (floor); None unless both sides have a level."""
        by, bn = self._best_yes, self._best_no
        if by is None or bn is None:
            return None
        return Price((by + ONE_DOLLAR - bn) // 2)

    def microprice(self) -> Price | None:
        """Size-weighted mid: (bid * ask_size + ask * bid_size) / (bid_size + ask_size), floored to a micro.
        Leans toward the side with less size (the side more likely to be taken out next)."""
        by, bn = self._best_yes, self._best_no
        if by is None or bn is None:
            return None
        bid_size, ask_size = self._yes[by], self._no[bn]
        ask = ONE_DOLLAR - bn
        return Price((by * ask_size + ask * bid_size) // (bid_size + ask_size))

    def spread(self) -> Price | None:
        by, bn = self._best_yes, self._best_no
        if by is None or bn is None:
            return None
        return Price(ONE_DOLLAR - bn - by)

    def is_crossed(self) -> bool:
        """Best YES bid above best YES ask (YES bid + NO bid > 1): impossible on a healthy exchange book."""
        by, bn = self._best_yes, self._best_no
        return by is not None and bn is not None and by + bn > ONE_DOLLAR

    def is_locked(self) -> bool:
        """Best YES bid equals best YES ask (YES bid + NO bid == 1)."""
        by, bn = self._best_yes, self._best_no
        return by is not None and bn is not None and by + bn == ONE_DOLLAR

    def levels(self, side: Side, yes_prices: bool = False) -> list[tuple[Price, Count]]:
        """Levels of one side, best first. ``side="no"`` gives NO bids in NO-leg prices (descending), or with
        ``yes_prices=True`` the same levels as YES asks at 1 - q (ascending: best ask first). ``yes_prices`` has
        no effect on the YES side."""
        if side == "yes":
            return [(Price(p), Count(s)) for p, s in sorted(self._yes.items(), reverse=True)]
        if side != "no":
            raise ValueError(f"side must be 'yes' or 'no', not {side!r}")
        items = sorted(self._no.items(), reverse=True)
        if yes_prices:
            return [(Price(ONE_DOLLAR - p), Count(s)) for p, s in items]
        return [(Price(p), Count(s)) for p, s in items]

    def depth_at(self, side: Side, price: int, yes_prices: bool = False) -> Count:
        """Resting size at ``price`` on ``side`` (NO-leg price for ``"no"`` unless ``yes_prices``); 0 if none."""
        if side == "yes":
            return Count(self._yes.get(price, 0))
        if side != "no":
            raise ValueError(f"side must be 'yes' or 'no', not {side!r}")
        return Count(self._no.get(ONE_DOLLAR - price if yes_prices else price, 0))

    def __len__(self) -> int:
        return len(self._yes) + len(self._no)

    def __repr__(self) -> str:
        state = "valid" if self.valid else "invalid"
        return f"OrderBook({self.ticker!r}, {state}, seq={self.seq}, top={self._top_key()})"


class SequenceTracker:
    """Per-subscription ``seq`` checking (API.md §5.4).

    Outcomes of :meth:`check`:

    * ``True``: ``seq`` is the expected ``last + 1`` (or the first seq seen for a sid that is new or was
      ``reset``): apply the message; the tracker advanced.
    * ``False``: ``seq <= last``: a duplicate or old message (e.g. replayed after a resubscribe): drop it; the
      tracker did not move.
    * raises :class:`SequenceGapError` (``sid``, ``expected``, ``got``) when ``seq > last + 1``: messages were
      lost; the tracker does not advance, so it keeps raising until the caller resyncs and calls :meth:`reset`.
    """

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: dict[int, int | None] = {}  # None = reset, accept any next seq

    def check(self, sid: int, seq: int) -> bool:
        last = self._last.get(sid)
        if last is None:
            self._last[sid] = seq
            return True
        if seq == last + 1:
            self._last[sid] = seq
            return True
        if seq <= last:
            return False
        raise SequenceGapError(sid, last + 1, seq)

    @property
    def last_map(self) -> dict[int, int | None]:
        """The live ``sid -> last seq`` map (None: reset), for a per-frame loop that inlines :meth:`check`'s
        in-order case (the feed, issue 9): when ``last`` is not None and ``seq == last + 1`` store ``seq`` there;
        every other case must go through :meth:`check`."""
        return self._last

    def reset(self, sid: int) -> None:
        """Accept whatever seq comes next on ``sid`` (after a resnapshot or resubscribe)."""
        self._last[sid] = None

    def forget(self, sid: int) -> None:
        """Stop tracking ``sid`` (unsubscribed); a later message on it starts fresh."""
        self._last.pop(sid, None)

    def last(self, sid: int) -> int | None:
        """The last accepted seq on ``sid`` (None if unknown or reset)."""
        return self._last.get(sid)

    def __contains__(self, sid: object) -> bool:
        return sid in self._last
