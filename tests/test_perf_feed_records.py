"""The market-data record of a delta (``feed.market_fields``, one per applied delta in the daemon) memoizes the
decimal strings of prices and sizes (issue 9): on first sight and on every later hit it must equal the record
formatted from scratch."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kalshibot.core.events import BookDelta
from kalshibot.core.fixed import ONE_DOLLAR, Count, Price, format_count, format_price
from kalshibot.net.feed import market_fields


def naive(d: BookDelta) -> dict[str, Any]:
    price = ONE_DOLLAR - d.price if d.side == "no" and d.no_in_yes_prices else d.price
    return {
        "kind": "delta",
        "ticker": d.ticker,
        "sid": d.sid,
        "seq": d.seq,
        "side": d.side,
        "price": format_price(price),
        "delta": format_count(d.delta),
        "client_order_id": d.client_order_id,
        "exchange_ts_ms": d.ts_ms or None,
    }


deltas = st.builds(
    BookDelta,
    ticker=st.sampled_from(["KXA-1", "KXB-2"]),
    sid=st.integers(1, 9),
    seq=st.integers(1, 10**6),
    side=st.sampled_from(["yes", "no"]),
    # cent and sub-cent prices (format_price widens to 6 decimals), sizes of either sign and fractional
    price=st.one_of(st.integers(1, 99).map(lambda c: c * 10_000), st.integers(1, ONE_DOLLAR - 1)).map(Price),
    delta=st.one_of(st.integers(-(10**6), 10**6), st.integers(-50, 50)).map(Count),
    no_in_yes_prices=st.booleans(),
    client_order_id=st.one_of(st.none(), st.just("kb-1")),
    ts_ms=st.one_of(st.just(0), st.integers(1, 2**41)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(deltas, min_size=1, max_size=20))
def test_delta_record_equals_unmemoized_formatting(ds: list[BookDelta]) -> None:
    for d in ds + ds:  # the second pass reads the memo
        assert market_fields(d) == naive(d)
