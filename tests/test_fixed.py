"""Fixed-point parse/format (core/fixed.py): exact round trips and the documented rejections (API.md §4).

Expected values are written from API.md §4 (order prices 2-4 decimals, responses up to 6, counts 0-2 decimals with
0.01 granularity), not derived from the parser.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kalshibot.core.fixed import (
    ONE_DOLLAR,
    ceil_to,
    complement,
    contracts,
    dollars,
    floor_to,
    format_count,
    format_money,
    format_price,
    notional,
    parse_count,
    parse_money,
    parse_price,
)
from kalshibot.errors import DataError, FixedPointError

# --- hand-written cases -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "micros"),
    [
        ("0.5600", 560_000),
        ("0.56", 560_000),
        ("0.0001", 100),
        ("0.9999", 999_900),
        ("0.01", 10_000),
        (" 0.4200 ", 420_000),
    ],
)
def test_order_price_parses_exactly(text: str, micros: int) -> None:
    assert parse_price(text, order=True) == micros


@pytest.mark.parametrize(
    ("value", "micros"),
    [
        ("0.010000", 10_000),  # fees/costs use 6 decimals (API.md §4)
        ("0.123456", 123_456),
        ("0.560000000", 560_000),  # zeros beyond the precision are harmless
        ("1.0000", ONE_DOLLAR),  # a settlement value may be exactly 1
        ("0", 0),
        (0.56, 560_000),  # JSON numbers where strings are documented (API.md §5.3)
        (1, ONE_DOLLAR),
        (1e-05, 10),
    ],
)
def test_response_price_accepts_up_to_six_decimals_as_strings_or_numbers(value: object, micros: int) -> None:
    assert parse_price(value) == micros


@pytest.mark.parametrize(
    "value",
    [
        "0.56001",  # 5 decimals on the order side
        "0.000050",  # 6 decimals, non-zero beyond the 4th
        "1.0000",  # not strictly inside (0, 1)
        "0",
        "0.0000",
        "-0.5000",
        "1.5",
    ],
)
def test_order_price_rejections(value: object) -> None:
    with pytest.raises(FixedPointError):
        parse_price(value, order=True)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        ".",
        "5.",
        "-",
        "+-1",
        "abc",
        "0.5x",
        "1e-2",
        "1_0",
        "0,56",
        "٣",  # a non-ASCII digit that int() would accept
        "0.1234567",  # 7 decimals
        "1.000001",  # above one dollar
        "-0.10",  # prices are never negative
        True,
        None,
        [0.5],
        float("nan"),
        float("inf"),
    ],
)
def test_malformed_prices_raise_the_one_documented_error(value: object) -> None:
    with pytest.raises(FixedPointError) as info:
        parse_price(value)
    # one documented error: FixedPointError is a DataError and a ValueError
    assert isinstance(info.value, DataError)
    assert isinstance(info.value, ValueError)


def test_counts() -> None:
    assert parse_count("10.00", order=True) == 1000
    assert parse_count("10", order=True) == 1000
    assert parse_count("0.01", order=True) == 1
    assert parse_count("2.5") == 250
    assert parse_count("3.000000") == 300  # responses may pad to 6 decimals
    assert parse_count("-1.50", signed=True) == -150  # positions and book deltas are signed
    assert parse_count(7) == 700
    for bad in ("1.001", "0", "0.00", "-1", "1.005"):
        with pytest.raises(FixedPointError):
            parse_count(bad, order=True)
    with pytest.raises(FixedPointError):
        parse_count("0.001")  # finer than the 0.01 granularity, even on the response side
    with pytest.raises(FixedPointError):
        parse_count("-1.00")  # unsigned unless asked


def test_money() -> None:
    assert parse_money("-12.345678") == -12_345_678
    assert parse_money("0.010000") == 10_000
    assert parse_money(10000) == 10_000 * ONE_DOLLAR
    with pytest.raises(FixedPointError):
        parse_money("0.0000001")


def test_formatting() -> None:
    assert format_price(560_000) == "0.5600"
    assert format_price(100) == "0.0001"
    assert format_price(123_456) == "0.123456"  # never silently drops precision
    assert format_money(-1_500_000) == "-1.5000"
    assert format_money(-1) == "-0.000001"
    assert format_money(10_000, decimals=6) == "0.010000"
    assert format_money(10_000 * ONE_DOLLAR, decimals=2) == "10000.00"
    assert format_count(1000) == "10.00"
    assert format_count(5) == "0.05"
    assert format_count(-250) == "-2.50"


def test_helpers() -> None:
    assert contracts(10) == 1000
    assert contracts("2.5") == 250
    assert dollars("-0.25") == -250_000
    assert complement(560_000) == 440_000
    # 3 contracts at 0.3333 = 0.9999 exactly; 0.01 contracts at 0.0001 = 0.000001 exactly
    assert notional(333_300, 300) == 999_900
    assert notional(100, 1) == 1
    # 0.01 contracts at 0.123457 = 0.00123457: rounded up by default (risk never understated), down on request
    assert notional(123_457, 1) == 1235
    assert notional(123_457, 1, round_up=False) == 1234
    assert ceil_to(10_001, 100) == 10_100
    assert ceil_to(10_000, 100) == 10_000
    assert ceil_to(-150, 100) == -100
    assert floor_to(10_099, 100) == 10_000


# --- properties -------------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=9999))
def test_order_price_round_trip(ticks: int) -> None:
    micros = ticks * 100
    text = format_price(micros)
    assert len(text.partition(".")[2]) == 4
    assert parse_price(text, order=True) == micros
    assert format_price(parse_price(text, order=True)) == text


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=ONE_DOLLAR))
def test_response_price_round_trip(micros: int) -> None:
    assert parse_price(format_price(micros)) == micros


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=-(10**15), max_value=10**15), st.sampled_from([2, 4, 6]))
def test_money_round_trip(micros: int, decimals: int) -> None:
    assert parse_money(format_money(micros, decimals)) == micros


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=-(10**9), max_value=10**9))
def test_count_round_trip(centi: int) -> None:
    text = format_count(centi)
    assert parse_count(text, signed=True) == centi
    if centi > 0:
        assert parse_count(text, order=True) == centi


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=99), st.integers(min_value=1, max_value=9))
def test_a_fifth_price_decimal_is_always_refused_on_the_order_side(cents: int, digit: int) -> None:
    with pytest.raises(FixedPointError):
        parse_price(f"0.{cents:02d}00{digit}", order=True)
    # ...but accepted on the response side, exactly
    assert parse_price(f"0.{cents:02d}00{digit}") == cents * 10_000 + digit * 10
