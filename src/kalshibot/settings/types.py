"""Field types shared by the settings models: fixed-point money/price/count fields, tickers, time zones.

A trader writes money and prices in dollars and sizes in contracts, as numbers or strings (``500``, ``"0.02"``,
``0.005``). They become the core's fixed-point ints (:mod:`kalshibot.core.fixed`) at once: money and prices in
micro-dollars, counts in centi-contracts. Numbers are parsed through ``str()`` (the shortest repr of a float is
exactly what was written in YAML for any sane value), never through float arithmetic, so ``0.1 + 0.2`` drift cannot
creep in. In JSON mode (``model_dump(mode="json")``, which ``check-config`` prints and ``config_hash`` hashes) the
values are written back as decimal strings, so the printed effective settings load again unchanged.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, model_validator

from kalshibot.core import fixed
from kalshibot.errors import FixedPointError


class FieldValueError(ValueError):
    """A cross-field check that knows which field is wrong: ``field`` is relative to the model that raised it.

    pydantic reports errors from a model validator at the model's own location; the loader unwraps this exception
    (kept in the error's ``ctx``) to name the exact field path in the message.
    """

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(message)


class Section(BaseModel):
    """Base of every settings model: unknown keys refused, immutable, strict scalar types."""

    # strict: YAML already gives typed scalars, so "5" for an int or 1 for a bool is a mistake worth reporting
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    @model_validator(mode="before")
    @classmethod
    def _null_section_is_default(cls, data: Any) -> Any:
        # `risk:` with every child commented out is YAML null: for a section or a list that means "the defaults"
        if not isinstance(data, dict):
            return data
        out = {}
        for k, v in data.items():
            info = cls.model_fields.get(k) if isinstance(k, str) else None
            if v is None and info is not None and _is_section_or_list(info.annotation):
                continue
            out[k] = v
        return out


def _is_section_or_list(annotation: Any) -> bool:
    return get_origin(annotation) is list or (isinstance(annotation, type) and issubclass(annotation, BaseModel))


def _number_text(value: object, what: str) -> str:
    if isinstance(value, bool):
        raise ValueError(f"expected {what}, got a boolean ({value})")
    if isinstance(value, int | str):
        return str(value).strip()
    if isinstance(value, float):
        # str() of a float is its shortest round-trip repr: exactly the digits written in the YAML file; Decimal
        # only expands an exponent (1e-06 -> 0.000001) without touching the digits
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"expected {what}, got {value!r}")
        return format(Decimal(str(value)), "f")
    raise ValueError(f"expected {what}, got {type(value).__name__}")


def _money(value: object) -> int:
    """Dollars (number or string) -> micro-dollars, must not be negative."""
    what = 'a dollar amount (number or string, e.g. 500 or "0.02")'
    text = _number_text(value, what)
    try:
        m = fixed.parse_money(text)
    except FixedPointError as e:
        raise ValueError(f"expected {what}, got {value!r}: {e}") from None
    if m < 0:
        raise ValueError(f"must not be negative, got {value!r}")
    return int(m)


def _signed_money(value: object) -> int:
    what = "a dollar amount (number or string)"
    text = _number_text(value, what)
    try:
        return int(fixed.parse_money(text))
    except FixedPointError as e:
        raise ValueError(f"expected {what}, got {value!r}: {e}") from None


def _price(value: object) -> int:
    """A price difference or level in dollars (0 <= p < 1) -> micro-dollars, at most 6 decimals."""
    what = 'a price in dollars between 0 and 1 (e.g. 0.02 or "0.005")'
    m = _money(value)
    if m >= fixed.ONE_DOLLAR:
        raise ValueError(f"expected {what}, got {value!r}")
    return m


def _count(value: object) -> int:
    """Contracts (number or string, up to 2 decimals: Kalshi's 0.01 granularity, API.md §4) -> centi-contracts."""
    what = 'a number of contracts (e.g. 5 or "2.50")'
    text = _number_text(value, what)
    if text.startswith("-"):
        raise ValueError(f"must not be negative, got {value!r}")
    try:
        c = fixed.parse_count(text)
    except FixedPointError as e:
        raise ValueError(f"expected {what} with at most 2 decimals, got {value!r}: {e}") from None
    return int(c)


def _fmt_money(m: int) -> str:
    return fixed.format_money(m, 2)


def _fmt_price(p: int) -> str:
    return fixed.format_price(p)


def _fmt_count(c: int) -> str:
    return fixed.format_count(c)


# int micro-dollars, written as dollars in YAML; never negative
Money = Annotated[int, BeforeValidator(_money), PlainSerializer(_fmt_money, return_type=str, when_used="json")]
# int micro-dollars, may be negative (e.g. a hypothesis threshold)
SignedMoney = Annotated[
    int, BeforeValidator(_signed_money), PlainSerializer(_fmt_money, return_type=str, when_used="json")
]
# int micro-dollars in [0, 1 dollar): spreads, skews, price bands, concessions
PriceDelta = Annotated[int, BeforeValidator(_price), PlainSerializer(_fmt_price, return_type=str, when_used="json")]
# int centi-contracts, written as contracts in YAML; never negative
Contracts = Annotated[int, BeforeValidator(_count), PlainSerializer(_fmt_count, return_type=str, when_used="json")]

NonNegFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
PosFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegInt = Annotated[int, Field(ge=0)]
PosInt = Annotated[int, Field(ge=1)]

# Kalshi tickers: upper-case letters, digits, '-', '.', '_' in practice (e.g. KXHIGHNY-26NOV24-B45.5); we only refuse
# characters that can never appear, so a typo like a space or a comma is caught early.
_TICKER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def _ticker(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a ticker string, got {type(value).__name__} {value!r}")
    text = value.strip()
    if not _TICKER_RE.match(text):
        raise ValueError(f"not a valid ticker: {value!r} (letters, digits, '-', '.', '_')")
    return text


Ticker = Annotated[str, BeforeValidator(_ticker)]


def check_timezone(name: str) -> str:
    """A zoneinfo key (e.g. ``America/New_York``); ValueError naming it otherwise."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as e:  # OSError: a name too long for a file path
        raise ValueError(f"unknown time zone {name[:80]!r} (expected an IANA name such as America/New_York)") from e
    return name


def _tz(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a time zone name, got {type(value).__name__}")
    return check_timezone(value.strip())


TimeZoneName = Annotated[str, BeforeValidator(_tz)]
