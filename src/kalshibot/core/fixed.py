"""Fixed-point prices, counts and money.

Theory of operation
-------------------
Kalshi writes prices and money as dollar strings (``"0.5600"``, fees ``"0.010000"``) and counts as strings with two
decimals (``"10.00"``), and sometimes sends JSON numbers where strings are documented (API.md §4, §5.3). Floats
never enter the core: every value is an ``int`` in a fixed unit.

* Prices and money: **micro-dollars** (``1 dollar == 1_000_000``), type aliases ``Price`` and ``Money``.
  Order-side prices carry at most 4 decimals (a multiple of 100 micros); responses carry up to 6.
* Counts: **centi-contracts** (``1 contract == 100``), type ``Count``. Kalshi's minimum granularity is 0.01
  contracts (API.md §4), so a count with a non-zero third decimal is malformed.

Money for ``count`` contracts at ``price`` is ``price * count // COUNT_ONE`` micros (exact for order-side values:
4 price decimals times 2 count decimals is 6 decimals).

Parsing is exact (``decimal`` never used on the hot path): the digits are split at the point and checked. Every
malformed input raises :class:`kalshibot.errors.FixedPointError`.
"""

from __future__ import annotations

from typing import NewType

from kalshibot.errors import FixedPointError

Price = NewType("Price", int)  # micro-dollars per contract (YES-leg unless the name says otherwise)
Money = NewType("Money", int)  # micro-dollars
Count = NewType("Count", int)  # centi-contracts (signed for positions and deltas)

PRICE_DECIMALS = 6
MONEY_DECIMALS = 6
COUNT_DECIMALS = 2
ONE_DOLLAR: Price = Price(1_000_000)
COUNT_ONE: Count = Count(100)

# order-side limits (API.md §3.5 and §4): price 2-4 decimals, count 0-2 decimals
ORDER_PRICE_DECIMALS = 4
ORDER_COUNT_DECIMALS = 2

_DIGITS = frozenset("0123456789")


def _parse_fixed(value: object, scale_decimals: int, max_decimals: int, what: str, signed: bool) -> int:
    """Parse ``value`` (str, int, or float as sent by a sloppy JSON encoder) into an int at 10**scale_decimals."""
    if isinstance(value, bool):
        raise FixedPointError(f"{what}: expected a decimal string, got a boolean")
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        # JSON numbers where strings are documented (API.md §5.3): take the shortest repr, which is what the
        # sender wrote for any value with <= 15 significant digits.
        if value != value or value in (float("inf"), float("-inf")):
            raise FixedPointError(f"{what}: not a finite number: {value!r}")
        text = repr(value)
        if "e" in text or "E" in text:
            text = f"{value:.{max_decimals + 1}f}"
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise FixedPointError(f"{what}: expected a decimal string, got {type(value).__name__}")
    neg = False
    if text[:1] in ("-", "+"):
        if not signed and text[0] == "-":
            raise FixedPointError(f"{what}: must not be negative: {value!r}")
        neg = text[0] == "-"
        text = text[1:]
    whole, dot, frac = text.partition(".")
    if not whole and not frac:
        raise FixedPointError(f"{what}: not a number: {value!r}")
    if (whole and not _DIGITS.issuperset(whole)) or (frac and not _DIGITS.issuperset(frac)) or (dot and not frac):
        raise FixedPointError(f"{what}: not a decimal number: {value!r}")
    if len(frac) > max_decimals:
        # digits beyond the allowed precision are accepted only if they are zeros
        if frac[max_decimals:].strip("0"):
            raise FixedPointError(f"{what}: more than {max_decimals} decimals: {value!r}")
        frac = frac[:max_decimals]
    if len(frac) > scale_decimals:
        if frac[scale_decimals:].strip("0"):
            raise FixedPointError(f"{what}: finer than {scale_decimals} decimals: {value!r}")
        frac = frac[:scale_decimals]
    if len(whole) > 12:
        raise FixedPointError(f"{what}: out of range: {value!r}")
    n: int = int(whole or "0") * 10**scale_decimals + int((frac or "0").ljust(scale_decimals, "0"))
    return -n if neg else n


def parse_price(value: object, *, order: bool = False) -> Price:
    """A price in dollars -> micros. ``order=True`` applies the order-side rule (at most 4 decimals) and the range
    0 < p < 1; response side accepts up to 6 decimals in [0, 1]."""
    if order:
        p = _parse_fixed(value, PRICE_DECIMALS, ORDER_PRICE_DECIMALS, "price", signed=False)
        if not 0 < p < ONE_DOLLAR:
            raise FixedPointError(f"price: must be strictly between 0 and 1 dollar: {value!r}")
    else:
        p = _parse_fixed(value, PRICE_DECIMALS, PRICE_DECIMALS, "price", signed=False)
        if p > ONE_DOLLAR:
            raise FixedPointError(f"price: above 1 dollar: {value!r}")
    return Price(p)


def parse_money(value: object) -> Money:
    """A signed dollar amount (fees, costs, PnL, balances) -> micros; up to 6 decimals."""
    return Money(_parse_fixed(value, MONEY_DECIMALS, MONEY_DECIMALS, "money", signed=True))


def parse_count(value: object, *, order: bool = False, signed: bool = False) -> Count:
    """A contract count -> centi-contracts. Order side: 0-2 decimals and > 0. Response side: up to 6 decimals
    (trailing zeros only beyond the second). ``signed`` for positions and book deltas."""
    if order:
        c = _parse_fixed(value, COUNT_DECIMALS, ORDER_COUNT_DECIMALS, "count", signed=False)
        if c <= 0:
            raise FixedPointError(f"count: must be positive: {value!r}")
    else:
        c = _parse_fixed(value, COUNT_DECIMALS, 6, "count", signed=signed)
    return Count(c)


def _format(n: int, scale_decimals: int, decimals: int) -> str:
    sign = "-" if n < 0 else ""
    n = abs(n)
    unit = 10**scale_decimals
    whole, frac = divmod(n, unit)
    if decimals < scale_decimals:
        drop = 10 ** (scale_decimals - decimals)
        if frac % drop:
            # never lose precision silently: fall back to the full scale
            return f"{sign}{whole}.{frac:0{scale_decimals}d}"
        frac //= drop
    if decimals == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac:0{decimals}d}"


def format_price(p: int) -> str:
    """Micros -> ``"0.5600"`` (4 decimals, as Kalshi writes order prices; 6 when finer)."""
    return _format(p, PRICE_DECIMALS, ORDER_PRICE_DECIMALS)


def format_money(m: int, decimals: int = 4) -> str:
    """Micros -> dollars string with ``decimals`` places (6 when the value is finer)."""
    return _format(m, MONEY_DECIMALS, decimals)


def format_count(c: int) -> str:
    """Centi-contracts -> ``"10.00"``."""
    return _format(c, COUNT_DECIMALS, COUNT_DECIMALS)


def contracts(n: int | str) -> Count:
    """Convenience for code and tests: ``contracts(10) == 1000``; a string is parsed (``contracts("2.5")``)."""
    if isinstance(n, str):
        return parse_count(n)
    return Count(n * COUNT_ONE)


def dollars(text: str) -> Price:
    """Convenience for code and tests: ``dollars("0.56") == 560_000`` (no range check; use for money too)."""
    return Price(_parse_fixed(text, PRICE_DECIMALS, PRICE_DECIMALS, "dollars", signed=True))


def notional(price: int, count: int, *, round_up: bool = True) -> Money:
    """Money for ``count`` contracts at ``price``: micros, rounded up by default (risk is never understated)."""
    q, r = divmod(price * count, COUNT_ONE)
    return Money(q + (1 if r and round_up else 0))


def complement(p: int) -> Price:
    """The other leg's price: a NO price q is the YES price 1 - q."""
    return Price(ONE_DOLLAR - p)


def ceil_to(m: int, unit: int) -> int:
    """Round ``m`` up to a multiple of ``unit`` (e.g. fees up to $0.0001 = 100 micros)."""
    return -((-m) // unit) * unit


def floor_to(m: int, unit: int) -> int:
    return (m // unit) * unit
