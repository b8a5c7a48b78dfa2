"""The msgspec fast path for raw ``orderbook_delta`` frames (issue 9): wherever it accepts a frame it must produce
exactly the ``BookDelta`` of the reference decode (``orjson.loads`` + ``delta_from_obj``) and of the pydantic model
of the message (``DeltaMessage``); wherever it declines, ``decode_delta`` (what the feed does) falls back and so
behaves as the reference, accept or reject. Frames are generated as JSON text, valid and invalid, including the
places where msgspec and orjson differ (integers past 64 bits, duplicate keys, unknown fields holding values
orjson refuses, bad UTF-8, numbers where strings are documented)."""

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
from kalshibot.net.decode import DeltaMessage, decode_delta, delta_from_obj, fast_delta


def reference(frame: bytes | str, use_yes: bool) -> BookDelta | None:
    try:
        return delta_from_obj(orjson.loads(frame), use_yes)
    except (WireError, orjson.JSONDecodeError):
        return None


def model(frame: bytes | str, use_yes: bool) -> BookDelta | None:
    try:
        return DeltaMessage.model_validate(orjson.loads(frame)).to_delta(use_yes)
    except (ValidationError, orjson.JSONDecodeError):
        return None


def same_delta(a: BookDelta, b: BookDelta) -> None:
    assert type(a) is BookDelta and a == b and hash(a) == hash(b) and repr(a) == repr(b)
    for f in dataclasses.fields(BookDelta):  # same values and the same types (True is not 1 here)
        assert type(getattr(a, f.name)) is type(getattr(b, f.name))


# --------------------------------------------------------------------------------------------- JSON text parts
def js(v: Any) -> str:
    return orjson.dumps(v).decode()


big_ints = st.sampled_from([2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, 10**30, -(10**30)])
int_text = st.integers(-5, 2**41).map(str)
odd_value = st.one_of(
    st.sampled_from(
        ["null", "true", "false", "1e400", "-1e400", "NaN", "[]", "{}", '"x"', "0.5", "[[[[1]]]]", '"\\ud800"', '"é"']
    ),
    big_ints.map(str),  # past 64 bits orjson returns a float; msgspec's own bound is int64
    st.sampled_from(["-0", "1.0", "1e2", "01"]),
)
good_price = st.one_of(
    st.sampled_from(["0.0100", "0.4500", "0.9900", "0.5600", "0.1000"]),
    st.decimals(min_value=0, max_value=1, places=4).map(str),
)
good_count = st.one_of(
    st.sampled_from(["1.00", "-1.00", "10.00", "-54.00", "0.01"]),
    st.decimals(min_value=-(10**5), max_value=10**5, places=2).map(str),
)
price_text = st.one_of(
    *[good_price.map(js)] * 6,
    st.sampled_from(["0.56", "1", "0", "-0.5", "1.0000", "0.123456", " 0.5 ", "5."]).map(js),
    st.sampled_from(["0.45", "1", "0"]),  # JSON numbers where strings are documented
    odd_value,
)
count_text = st.one_of(
    *[good_count.map(js)] * 6,
    st.sampled_from(["1.001", "+3", "-", "1e3", "1.000000"]).map(js),
    st.sampled_from(["-54", "2.5"]),
    odd_value,
)
text_value = st.one_of(st.text(max_size=8).map(js), st.sampled_from(['"T\\ud83d\\ude00"', '"a\\u0000b"']), odd_value)


def member(name: str, valid: st.SearchStrategy[str], other: st.SearchStrategy[str]) -> st.SearchStrategy[list[str]]:
    """Mostly (~94%) a valid value, sometimes anything, sometimes missing, sometimes twice (the last one counts):
    a frame has about a dozen members, so whole frames still come out valid about half the time."""
    good = valid.map(lambda v: [f'"{name}":{v}'])
    bad = other.map(lambda v: [f'"{name}":{v}'])
    twice = st.tuples(st.one_of(valid, other), valid).map(lambda vs: [f'"{name}":{vs[0]}', f'"{name}":{vs[1]}'])
    return st.integers(0, 99).flatmap(lambda i: st.just([]) if i == 0 else twice if i < 3 else bad if i < 6 else good)


def obj_text(members: st.SearchStrategy[list[list[str]]], sep: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(members, sep).map(lambda ms: "{" + ms[1].join(p for m in ms[0] for p in m) + "}")


sep = st.sampled_from([",", ",", ",", " , ", ",\n"])
extra_key = st.sampled_from(["market_id", "ts", "zz", "trade_id"])
extra = st.tuples(extra_key, st.one_of(text_value, int_text)).map(lambda kv: [f'"{kv[0]}":{kv[1]}'])
body_text = obj_text(
    st.tuples(
        member(
            "market_ticker",
            st.one_of(st.sampled_from(["KXA-1", "FED-23DEC-T3.00", "KXÉ-2"]).map(js), st.just('"T\\ud83d\\ude00"')),
            text_value,
        ),
        member("price_dollars", price_text, odd_value),
        member("delta_fp", count_text, odd_value),
        member("side", st.sampled_from(['"yes"', '"no"']), st.sampled_from(['"YES"', '"bid"', "1", "null"])),
        member("ts_ms", st.one_of(int_text, st.just("null")), odd_value),
        member("client_order_id", st.one_of(st.text(max_size=8).map(js), st.just("null")), text_value),
        member("subaccount", st.one_of(int_text, st.just("null")), odd_value),
        st.one_of(st.just([]), extra),
    )
    .flatmap(st.permutations)
    .map(list),
    sep,
)
frame_text = obj_text(
    st.tuples(
        member("type", st.just('"orderbook_delta"'), st.sampled_from(['"trade"', '"orderbook_snapshot"', "null"])),
        member("sid", int_text, odd_value),
        member("seq", int_text, odd_value),
        member("msg", body_text, st.one_of(odd_value, st.just('{"x":1}'))),
        st.one_of(st.just([]), extra),
    )
    .flatmap(st.permutations)
    .map(list),
    sep,
)


def mutate(text: str, how: int, at: int) -> bytes | str:
    """Also the raw forms the feed can be handed: bytes, bad UTF-8, truncation, surrounding whitespace."""
    b = text.encode()
    at %= len(b) + 1
    forms: list[bytes | str] = [
        text,
        b,
        b[:at] + b"\xff" + b[at:],
        b[:at],
        f" {text}\n",
        text + "x",
        b"\xef\xbb\xbf" + b,
    ]
    return forms[how]


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=frame_text, how=st.sampled_from([0, 0, 0, 1, 1, 2, 3, 4, 5, 6]), at=st.integers(0, 400), yes=st.booleans())
def test_fast_path_accepts_only_what_the_reference_decodes_the_same(text: str, how: int, at: int, yes: bool) -> None:
    frame = mutate(text, how, at)
    want = reference(frame, yes)
    assert want == model(frame, yes)  # the reference decode is the pydantic model (also tests/test_net_decode.py)
    reference(frame, yes)  # warms the price/size memo as the feed's fallback does, so the fast path gets its go
    got = fast_delta(frame, yes)
    if got is not None:
        assert want is not None, f"fast path accepted a frame the reference refuses: {frame!r}"
        same_delta(got, want)
    # what the feed and the benchmark call: fast path, else the reference, with the reference's outcome
    if want is None:
        with pytest.raises(WireError):
            decode_delta(frame, yes)
    else:
        same_delta(decode_delta(frame, yes), want)


SIM_FRAME = (
    '{"type":"orderbook_delta","sid":7,"seq":12,"msg":{"market_ticker":"FED-23DEC-T3.00",'
    '"market_id":"9b0f6b43-5b68-4f9f-9f02-9a2d1b8ac1a1","price_dollars":"0.9600","delta_fp":"-54.00","side":"no",'
    '"ts_ms":1669149841000,"ts":"2022-11-22T20:44:01Z","client_order_id":"kb-0-1","subaccount":3}}'
)


@pytest.mark.parametrize("frame", [SIM_FRAME, SIM_FRAME.encode()])
def test_the_common_frame_takes_the_fast_path(frame: str | bytes) -> None:
    """API.md §5.3's delta (every documented field) decodes on the fast path once its strings were seen: the
    property above would pass vacuously if the fast path never accepted anything."""
    decode_delta(frame, True)  # first sight: the reference parses and memoizes "0.9600" / "-54.00"
    got = fast_delta(frame, True)
    want = BookDelta("FED-23DEC-T3.00", 7, 12, "no", Price(960_000), Count(-5400), True, "kb-0-1", 1669149841000)
    assert got is not None
    same_delta(got, want)
    with pytest.raises(dataclasses.FrozenInstanceError):
        got.seq = 13  # type: ignore[misc]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('"sid":7', '"sid":18446744073709551615'),  # u64: orjson's int, past msgspec's int64 bound: declined
        ('"sid":7', '"sid":18446744073709551616'),  # past u64: orjson gives a float, refused by the reference
        ('"ts":"2022-11-22T20:44:01Z"', '"ts":1e400'),  # orjson refuses the whole frame; msgspec would skip it
        ('"ts":"2022-11-22T20:44:01Z"', '"zz":1'),  # an unknown field: declined, the reference ignores it
        ('"ts":"2022-11-22T20:44:01Z"', '"zz":1e400'),  # an unknown field orjson refuses: so must we
        ('"sid":7', '"zz":-1e400,"sid":7'),  # the same at the top level
        ('"0.9600"', "0.96"),  # a JSON number where a string is documented: declined, the reference accepts
        ('"side":"no"', '"side":"no","side":"yes"'),  # duplicate key: last one wins in both
    ],
)
def test_edges_where_msgspec_and_orjson_differ(old: str, new: str) -> None:
    decode_delta(SIM_FRAME, True)
    frame = SIM_FRAME.replace(old, new)
    assert frame != SIM_FRAME
    want = reference(frame, True)
    got = fast_delta(frame, True)
    assert got is None or (want is not None and got == want)
    if want is None:
        with pytest.raises(WireError):
            decode_delta(frame, True)
    else:
        same_delta(decode_delta(frame, True), want)


@pytest.mark.parametrize("frame", [123, None, ["x"]])
def test_a_frame_of_the_wrong_type_is_refused_as_before(frame: Any) -> None:
    """msgspec raises TypeError where orjson raises its JSONDecodeError: the fast path declines, so the reference
    reports it (the feed counts a bad frame rather than raising)."""
    from kalshibot.net.feed import Feed

    assert fast_delta(frame, True) is None
    with pytest.raises(WireError):
        decode_delta(frame, True)
    if isinstance(frame, list):  # the feed logs frame[:120]: only a sliceable frame gets that far, before as now
        feed = Feed("ws://unused", None, lambda e: None)  # type: ignore[arg-type]
        feed.handle_frame(frame)  # type: ignore[arg-type]
        assert feed.stats.bad_frames == 1 and feed.stats.messages == 1
