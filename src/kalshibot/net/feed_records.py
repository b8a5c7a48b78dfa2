"""What the feed reports besides core events: market-data records for the journal and the feed's counters.

Split out of ``feed.py`` (which re-exports every name here): :class:`MarketData` and :func:`market_fields` are the
market-data file's records (CONTRACTS.md), one per applied book/trade message; :class:`FeedStats` holds the
counters and each market's last-message time, which the daemon reads for staleness and health.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kalshibot.core import events as ev
from kalshibot.core.fixed import ONE_DOLLAR, format_count, format_price


@dataclass(frozen=True, slots=True)
class MarketData:
    """One record for the market-data file: ``Journal.market(rec.type, rec.ts_ms, **rec.fields)``. ``fields``
    follow the journal's ``book``/``trade`` records (CONTRACTS.md; NO levels in NO-leg prices whatever the
    subscription's ``use_yes_price``); ``event`` is the core event the record was made from."""

    type: str  # "book" | "trade"
    ts_ms: int  # when we received it (wall clock)
    fields: dict[str, Any]
    event: ev.BookSnapshot | ev.BookDelta | ev.TradePrint


# The daemon writes one market-data record per applied delta: the decimal strings of the prices and sizes a book
# lives on are memoized (pure functions of an int; bounded, like decode.py's parse memo), saving two formatting
# calls (~1 µs) per delta. tests/test_perf_feed_records.py holds the records to the unmemoized formatting.
_TEXT_MEMO_MAX = 50_000
_price_text: dict[int, str] = {}
_count_text: dict[int, str] = {}


def market_fields(e: ev.BookSnapshot | ev.BookDelta | ev.TradePrint) -> dict[str, Any]:
    """The market-data record fields for one applied message (decimal strings, as the journal writes them)."""
    if isinstance(e, ev.BookDelta):  # the per-delta case first
        price = ONE_DOLLAR - e.price if e.side == "no" and e.no_in_yes_prices else e.price
        price_s = _price_text.get(price)
        if price_s is None:
            price_s = format_price(price)
            if len(_price_text) < _TEXT_MEMO_MAX:
                _price_text[price] = price_s
        delta_s = _count_text.get(e.delta)
        if delta_s is None:
            delta_s = format_count(e.delta)
            if len(_count_text) < _TEXT_MEMO_MAX:
                _count_text[e.delta] = delta_s
        return {
            "kind": "delta",
            "ticker": e.ticker,
            "sid": e.sid,
            "seq": e.seq,
            "side": e.side,
            "price": price_s,
            "delta": delta_s,
            "client_order_id": e.client_order_id,
            "exchange_ts_ms": e.ts_ms or None,
        }
    if isinstance(e, ev.TradePrint):
        return {
            "ticker": e.ticker,
            "trade_id": e.trade_id,
            "yes_price": format_price(e.yes_price),
            "count": format_count(e.count),
            "taker_side": e.taker_outcome,
            "exchange_ts_ms": e.ts_ms or None,
        }
    flip = e.no_in_yes_prices
    no = sorted((ONE_DOLLAR - p if flip else p, c) for p, c in e.no)
    return {
        "kind": "snapshot",
        "ticker": e.ticker,
        "sid": e.sid,
        "seq": e.seq,
        "yes": [[format_price(p), format_count(c)] for p, c in e.yes],
        "no": [[format_price(p), format_count(c)] for p, c in no],
        "exchange_ts_ms": e.ts_ms or None,
    }


@dataclass
class FeedStats:
    messages: int = 0
    deltas: int = 0
    snapshots: int = 0
    trades: int = 0
    gaps: int = 0
    resyncs: int = 0
    reconnects: int = 0
    connects: int = 0
    bad_frames: int = 0
    dropped_deltas: int = 0  # deltas of a market awaiting its snapshot
    errors: int = 0
    last_msg_ms: dict[str, int] = field(default_factory=dict)

    def age_ms(self, ticker: str, now_ms: int) -> int | None:
        """Milliseconds since ``ticker``'s last book/trade message (None if none yet on this connection)."""
        last = self.last_msg_ms.get(ticker)
        return None if last is None else now_ms - last

    def stale(self, tickers: Iterable[str], now_ms: int, max_age_ms: int) -> list[str]:
        """Markets with no book/trade message for ``max_age_ms`` (or none yet): the daemon decides what a quiet
        market means (a thin market is legitimately silent; a dead subscription is not)."""
        return [t for t in tickers if (a := self.age_ms(t, now_ms)) is None or a > max_age_ms]


__all__ = ["FeedStats", "MarketData", "market_fields"]
