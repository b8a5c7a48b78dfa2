"""Per-market state the engine keeps, and the pure decisions about one market: may we quote it now, and when
must we look at it again.

Theory of operation
-------------------
A :class:`MarketState` bundles what the engine knows about one market: its spec (grid, close time, fees), its
:class:`~kalshibot.core.book.OrderBook`, why it is not quoting (a set of *blocks*), the last desired quote per side
(so an intent note is written only when it changes) and when it was last quoted. Blocks are plain strings so the
engine's ``markets()`` view can show them:

* ``no_book`` (no snapshot yet, or a gap / feed loss until the next snapshot: API.md §5.4),
* ``paused`` (``deactivated``; on ``activated`` Kalshi has cancelled every resting order, API.md §9),
* ``closed`` / ``determined`` / ``settled`` (no new orders; stays in the risk picture until settled),
* ``removed`` (taken out of the universe), ``cooldown`` (after a reject: no tight loop with the exchange).

Time-based blocks (close approaching, release windows) are computed from ``now_ms`` by :func:`time_block`, and
:func:`next_time_edge` says when one of them next starts or ends, so the engine's ``next_deadline()`` wakes it then.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from kalshibot.core import events as ev
from kalshibot.core.book import OrderBook
from kalshibot.core.events import MarketSpec
from kalshibot.core.fixed import ONE_DOLLAR, Count, Price
from kalshibot.core.orders import Order, State

Levels = tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class ReleaseWindow:
    """No quoting in ``[start_ms, end_ms)`` for markets whose ticker or series ticker starts with ``prefix``
    (e.g. around a data release that moves the market faster than we can requote)."""

    prefix: str
    start_ms: int
    end_ms: int

    def applies(self, spec: MarketSpec) -> bool:
        return spec.ticker.startswith(self.prefix) or spec.series_ticker.startswith(self.prefix)


@dataclass(slots=True)
class MarketState:
    spec: MarketSpec
    book: OrderBook
    blocks: set[str] = field(default_factory=lambda: {"no_book"})
    # last desired levels per side, after risk: what the intent notes said
    intent_levels: dict[str, Levels] = field(default_factory=lambda: {"bid": (), "ask": ()})
    intent_ids: dict[str, dict[int, str]] = field(default_factory=lambda: {"bid": {}, "ask": {}})
    last_quote_ms: int | None = None
    last_quote_seq: int | None = None
    cooldown_until_ms: int = 0
    settlement_value: int | None = None
    refusals: dict[str, str] = field(default_factory=dict)  # side -> what risk refused there (intent dedup)
    # our size in the book as the feed showed it: deltas our orders caused carry our client_order_id (API.md
    # §5.3), so this is exact when the feed attributes them; reset from our resting orders on a snapshot
    own: dict[tuple[str, int], int] = field(default_factory=dict)
    flatten_inflight: str | None = None  # client_order_id of the flatten order in flight
    # the last requote's quoter inputs and output, valid while the engine's epoch is unchanged (-1: invalidated)
    cache_epoch: int = -1
    cache_key: tuple[object, ...] | None = None
    cache_levels: tuple[object, object] | None = None
    version: int = 0  # bumps when the market's deadline must be recomputed

    @property
    def ticker(self) -> str:
        return self.spec.ticker

    @property
    def tradable(self) -> bool:
        """Not closed/determined/settled/removed: orders may still rest here."""
        return not (self.blocks & {"closed", "determined", "settled", "removed"})


def time_block(
    spec: MarketSpec, now_ms: int, stop_before_close_ms: int, windows: tuple[ReleaseWindow, ...]
) -> str | None:
    """A reason not to quote right now because of the clock, or None."""
    if spec.close_ts_ms is not None and now_ms >= spec.close_ts_ms - stop_before_close_ms:
        return "near_close" if now_ms < spec.close_ts_ms else "closed"
    for w in windows:
        if w.start_ms <= now_ms < w.end_ms and w.applies(spec):
            return "release_window"
    return None


def next_time_edge(
    spec: MarketSpec,
    now_ms: int,
    stop_before_close_ms: int,
    flatten_before_ms: int | None,
    windows: tuple[ReleaseWindow, ...],
) -> int | None:
    """The next instant after ``now_ms`` at which :func:`time_block` (or the flatten window) may change."""
    close = spec.close_ts_ms
    if not windows and close is not None and flatten_before_ms is None:
        # the common case (no release windows, no flatten) without building lists: the earlier future edge of
        # the stop-quoting instant and the close
        stop = close - stop_before_close_ms
        best = stop if stop > now_ms else None
        if close > now_ms and (best is None or close < best):
            best = close
        return best
    edges: list[int] = []
    if spec.close_ts_ms is not None:
        edges.append(spec.close_ts_ms - stop_before_close_ms)
        edges.append(spec.close_ts_ms)
        if flatten_before_ms is not None:
            edges.append(spec.close_ts_ms - flatten_before_ms)
    for w in windows:
        if w.applies(spec):
            edges += [w.start_ms, w.end_ms]
    future = [e for e in edges if e > now_ms]
    return min(future) if future else None


def cap_levels(levels: tuple[tuple[Price, Count], ...], room: int) -> tuple[tuple[Price, Count], ...]:
    """Levels trimmed so their total does not exceed ``room`` (a reducing order must not flip the position)."""
    out: list[tuple[Price, Count]] = []
    for p, c in levels:
        if room <= 0:
            break
        take = min(c, room)
        out.append((p, Count(take)))
        room -= take
    return tuple(out)


def external_top(
    book: OrderBook, own: dict[tuple[str, int], int]
) -> tuple[Price | None, Count | None, Price | None, Count | None]:
    """Best YES bid/ask and sizes with our own resting size taken out (our quotes must not move our fair).
    ``own`` is what we know of our size in the book: ``{("bid"|"ask", YES price): count}``."""
    if not own:
        # none of the book is ours: the best levels as they are (a level of size <= 0 takes the general walk)
        b, a = book.best_yes_bid(), book.best_yes_ask()
        if (b is None or b[1] > 0) and (a is None or a[1] > 0):
            return (
                b[0] if b else None,
                Count(b[1]) if b else None,
                a[0] if a else None,
                Count(a[1]) if a else None,
            )
    own_bid = {p: c for (sd, p), c in own.items() if sd == "bid"} if own else {}
    own_ask = {p: c for (sd, p), c in own.items() if sd == "ask"} if own else {}
    bid = _best_excluding(book.best_yes_bid(), own_bid, lambda: book.levels("yes"))
    ask = _best_excluding(book.best_yes_ask(), own_ask, lambda: book.levels("no", yes_prices=True))
    return (
        bid[0] if bid else None,
        bid[1] if bid else None,
        ask[0] if ask else None,
        ask[1] if ask else None,
    )


def own_from_orders(live: list[Order]) -> dict[tuple[str, int], int]:
    """Our size in a fresh snapshot: the orders acknowledged as resting (pending ones may not be there yet)."""
    own: dict[tuple[str, int], int] = {}
    for o in live:
        if o.state in (State.RESTING, State.PARTIALLY_FILLED) and o.kind == "quote":
            own[(o.side, o.price)] = own.get((o.side, o.price), 0) + o.remaining
    return own


def _best_excluding(
    best: tuple[Price, Count] | None, own: dict[int, int], levels: Callable[[], list[tuple[Price, Count]]]
) -> tuple[Price, Count] | None:
    if best is None:
        return None
    mine = own.get(best[0], 0)
    if mine < best[1]:
        return best[0], Count(best[1] - mine)
    for p, s in levels():  # rare: the best level is all ours; walk down the book
        rest = s - own.get(p, 0)
        if rest > 0:
            return p, Count(rest)
    return None


def settlement_value(e: ev.MarketLifecycle) -> int | None:
    if e.settlement_value is not None:
        return e.settlement_value
    if e.result == "yes":
        return ONE_DOLLAR
    if e.result == "no":
        return 0
    return None


def replace_spec(spec: ev.MarketSpec, **changes: Any) -> ev.MarketSpec:
    return replace(spec, **changes)
