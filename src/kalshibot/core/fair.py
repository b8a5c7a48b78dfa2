"""Fair value from the top of the book (or from outside).

Theory of operation
-------------------
The quoter centres its quotes on a fair value. Three sources, chosen by configuration:

* ``mid``: (best YES bid + best YES ask) / 2.
* ``microprice``: the size-weighted mid ``(bid x ask_size + ask x bid_size) / (bid_size + ask_size)``: a heavy bid
  pushes fair value towards the ask (the next trade is likelier to lift it). Falls back to the mid when sizes are
  missing or zero.
* ``external``: a value computed elsewhere (a model, another venue) passed in as a price.

The inputs are plain values, not the order book class, so this module depends on nothing but fixed-point types.
A one-sided or crossed book has no fair value (``None``): the caller should not quote from it. The result is an
integer micro-dollar value rounded to the nearest micro; it is a valuation, not an order price, so it is *not*
snapped to the grid (the quoter snaps its outputs in the maker's favour).
"""

from __future__ import annotations

from typing import Literal

from kalshibot.core.fixed import ONE_DOLLAR, Count, Price

FairValueMode = Literal["microprice", "mid", "external"]
FAIR_VALUE_MODES: tuple[FairValueMode, ...] = ("microprice", "mid", "external")


def _round_div(num: int, den: int) -> int:
    """Nearest integer of num/den (half up), den > 0."""
    return (2 * num + den) // (2 * den)


def fair_value(
    mode: FairValueMode,
    best_bid: Price | None,
    best_bid_size: Count | None,
    best_ask: Price | None,
    best_ask_size: Count | None,
    external: Price | None = None,
) -> Price | None:
    """The fair value of a market's YES contract, or None when it cannot be told (see module docstring)."""
    if mode == "external":
        if external is None or not 0 < external < ONE_DOLLAR:
            return None
        return external
    if best_bid is None or best_ask is None or best_bid >= best_ask:
        return None
    if mode == "mid":
        return Price(_round_div(best_bid + best_ask, 2))
    if mode == "microprice":
        bs = best_bid_size or 0
        as_ = best_ask_size or 0
        if bs <= 0 or as_ <= 0:
            return Price(_round_div(best_bid + best_ask, 2))
        return Price(_round_div(best_bid * as_ + best_ask * bs, bs + as_))
    raise ValueError(f"unknown fair value mode {mode!r}")
