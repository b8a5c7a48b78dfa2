"""The delta fast path accepts and rejects exactly what the pydantic model of the message does (Hypothesis)."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from kalshibot.core.events import BookDelta
from kalshibot.core.fixed import Count, Price
from kalshibot.errors import WireError
from kalshibot.net.decode import DeltaMessage, decode_delta, delta_from_obj

MISSING = object()

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
good_price = st.decimals(min_value=0, max_value=1, places=4).map(str)
good_count = st.decimals(min_value=-(10**5), max_value=10**5, places=2).map(str)
price_like = st.one_of(
    good_price,
    good_price,
    st.sampled_from(["0.5600", "0.01", "1.0000", "0", "0.123456", "0.1234567", "1.01", "-0.5", ".5", "5.", " 0.5 "]),
    st.decimals(min_value=-1, max_value=2, places=6).map(str),
    st.floats(min_value=-0.5, max_value=1.5),
    st.integers(-2, 2),
    junk,
)
count_like = st.one_of(
    good_count,
    good_count,
    st.sampled_from(["10.00", "-54.00", "0.01", "1.001", "1.000000", "+3", "-", "1e3"]),
    st.decimals(min_value=-(10**6), max_value=10**6, places=3).map(str),
    st.integers(-(10**6), 10**6),
    st.floats(min_value=-1e6, max_value=1e6),
    junk,
)


def field(strategy: st.SearchStrategy[Any], valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly (~93%) plausible values, sometimes anything, sometimes missing: both outcomes stay common."""
    return st.integers(0, 29).flatmap(lambda i: strategy if i == 29 else st.just(MISSING) if i == 28 else valid)


def drop_missing(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not MISSING}


body = st.builds(
    lambda **kw: drop_missing(kw),
    market_ticker=field(junk, st.text(min_size=1, max_size=12)),
    price_dollars=field(junk, price_like),
    delta_fp=field(junk, count_like),
    side=field(st.one_of(junk, st.sampled_from(["YES", "bid"])), st.sampled_from(["yes", "no"])),
    ts_ms=field(junk, st.one_of(st.none(), st.integers(0, 2**41))),
    client_order_id=field(junk, st.one_of(st.none(), st.text(max_size=10))),
    subaccount=field(junk, st.one_of(st.none(), st.integers(0, 63))),
    market_id=field(junk, st.text(max_size=5)),  # unknown/extra fields are ignored
)
frame = st.builds(
    lambda **kw: drop_missing(kw),
    type=field(st.one_of(junk, st.just("orderbook_snapshot")), st.just("orderbook_delta")),
    sid=field(junk, st.integers(-5, 2**31)),
    seq=field(junk, st.integers(-5, 2**31)),
    msg=field(junk, body),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(obj=st.one_of(frame, junk), use_yes=st.booleans())
def test_fast_decoder_agrees_with_model(obj: Any, use_yes: bool) -> None:
    # compare on the object a JSON round trip produces (what the feed sees), when it is representable
    try:
        obj = orjson.loads(orjson.dumps(obj))
    except (orjson.JSONEncodeError, TypeError):
        return
    try:
        expected = DeltaMessage.model_validate(obj).to_delta(use_yes)
    except ValidationError:
        expected = None
    try:
        got = delta_from_obj(obj, use_yes)
    except WireError:
        got = None
    assert got == expected


def test_known_frames() -> None:
    f = (
        b'{"type":"orderbook_delta","sid":2,"seq":3,"msg":{"market_ticker":"FED-23DEC-T3.00","market_id":"x",'
        b'"price_dollars":"0.9600","delta_fp":"-54.00","side":"yes","ts_ms":1669149841000,'
        b'"client_order_id":"kb-0-1","subaccount":3}}'
    )
    d = decode_delta(f)
    assert (d.ticker, d.sid, d.seq, d.side, d.price, d.delta) == ("FED-23DEC-T3.00", 2, 3, "yes", 960_000, -5400)
    assert d.client_order_id == "kb-0-1" and d.ts_ms == 1669149841000
    # numbers where strings are documented (API.md §5.3) are accepted
    assert decode_delta(f.replace(b'"0.9600"', b"0.96").replace(b'"-54.00"', b"-54")).price == 960_000
    for bad in (b"{", b"[]", f.replace(b'"sid":2', b'"sid":true'), f.replace(b'"yes"', b'"maybe"')):
        with pytest.raises(WireError):
            decode_delta(bad)


def test_fast_built_delta_is_a_frozen_book_delta() -> None:
    # delta_from_obj builds BookDelta through its slot setters: it must be the same immutable value as __init__'s
    obj = {
        "type": "orderbook_delta",
        "sid": 3,
        "seq": 9,
        "msg": {
            "market_ticker": "M",
            "price_dollars": "0.4100",
            "delta_fp": "-2.50",
            "side": "no",
            "client_order_id": "c1",
            "ts_ms": 5,
        },
    }
    got = delta_from_obj(obj, True)
    want = BookDelta("M", 3, 9, "no", Price(410_000), Count(-250), True, "c1", 5)
    assert type(got) is BookDelta and got == want and hash(got) == hash(want) and repr(got) == repr(want)
    with pytest.raises(dataclasses.FrozenInstanceError):
        got.seq = 10  # type: ignore[misc]
