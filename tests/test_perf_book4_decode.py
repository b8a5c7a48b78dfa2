"""``fast_delta`` round 4 (issue 9): the memo lookups are subscripts under ``try/except KeyError`` and the draft is
made by calling its class. Differential checks against the reference decode (``orjson.loads`` + ``delta_from_obj``)
over random delta streams as the feed and the benchmark decode them (``fast_delta(f) or delta_from_obj(...)``):
same ``BookDelta`` (type, value, hash, field types) for every valid frame, a first-seen price or size declined (the
reference parses and memoizes it), and every malformed frame refused with the reference's exact error."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kalshibot.core.book import OrderBook
from kalshibot.core.events import BookDelta, BookSnapshot
from kalshibot.errors import WireError
from kalshibot.net import decode
from kalshibot.net.decode import decode_delta, delta_from_obj, fast_delta


def reference(frame: bytes, use_yes: bool) -> tuple[str, Any]:
    try:
        return "ok", delta_from_obj(orjson.loads(frame), use_yes)
    except WireError as e:
        return "error", str(e)
    except orjson.JSONDecodeError:
        return "error", "not JSON"


def as_feed(frame: bytes, use_yes: bool) -> tuple[str, Any]:
    """What the feed and bench/tick.py do with a frame."""
    try:
        return "ok", fast_delta(frame, use_yes) or delta_from_obj(orjson.loads(frame), use_yes)
    except WireError as e:
        return "error", str(e)
    except orjson.JSONDecodeError:
        return "error", "not JSON"


def same(a: tuple[str, Any], b: tuple[str, Any]) -> None:
    assert a[0] == b[0] and a == b
    if a[0] == "ok":
        assert type(a[1]) is BookDelta and hash(a[1]) == hash(b[1]) and repr(a[1]) == repr(b[1])
        for f in dataclasses.fields(BookDelta):
            assert type(getattr(a[1], f.name)) is type(getattr(b[1], f.name))


def frame_of(
    ticker: str, sid: int, seq: int, price: str, size: str, side: str, ts: int | None, coid: str | None
) -> dict[str, Any]:
    body: dict[str, Any] = {"market_ticker": ticker, "price_dollars": price, "delta_fp": size, "side": side}
    if ts is not None:
        body["ts_ms"] = ts
    if coid is not None:
        body["client_order_id"] = coid
    return {"type": "orderbook_delta", "sid": sid, "seq": seq, "msg": body}


prices = st.integers(1, 9999).map(lambda c: f"{c / 10_000:.4f}")
sizes = st.integers(-99_999, 99_999).filter(bool).map(lambda c: f"{c / 100:.2f}")
frames = st.builds(
    frame_of,
    st.sampled_from(["KXA-1", "KXBENCH-26JAN05-T001", "FED-23DEC-T3.00"]),
    st.integers(1, 60),
    st.integers(1, 2**40),
    prices,
    sizes,
    st.sampled_from(["yes", "no"]),
    st.one_of(st.none(), st.integers(0, 2**45)),
    st.one_of(st.none(), st.text(max_size=6)),
)
# corruptions that leave the frame JSON but wrong for the message, at each field the fast path reads
breakages = st.sampled_from(
    [
        ("msg", "price_dollars", "1.5000"),
        ("msg", "price_dollars", 0.45),
        ("msg", "price_dollars", "0.123456"),
        ("msg", "delta_fp", "1.001"),
        ("msg", "delta_fp", None),
        ("msg", "side", "YES"),
        ("msg", "market_ticker", 7),
        ("msg", "ts_ms", "1"),
        ("msg", "ts_ms", True),
        ("msg", "client_order_id", 3),
        ("msg", "subaccount", 1.5),
        (None, "sid", "7"),
        (None, "seq", True),
        (None, "seq", 2**63),  # past msgspec's int64 bound: declined, the reference takes it
        (None, "type", "orderbook_snapshot"),
        (None, "msg", []),
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    stream=st.lists(st.tuples(frames, st.one_of(st.none(), breakages), st.booleans()), min_size=1, max_size=40),
    use_yes=st.booleans(),
)
def test_feed_decode_equals_reference_on_random_streams(
    stream: list[tuple[dict[str, Any], tuple[str | None, str, Any] | None, bool]], use_yes: bool
) -> None:
    for obj, breakage, as_text in stream:
        if breakage is not None:
            where, key, value = breakage
            if where is None:
                obj[key] = value
            else:
                obj[where][key] = value
        raw = orjson.dumps(obj)
        frame: Any = raw.decode() if as_text else raw
        same(as_feed(frame, use_yes), reference(frame, use_yes))
        # and again: now every string is in the memo, so a valid frame takes the fast path
        same(as_feed(frame, use_yes), reference(frame, use_yes))
        if breakage is None:
            assert fast_delta(frame, use_yes) is not None
        else:
            # the reference judges each breakage (it accepts a JSON number price and a micro-dollar price, refuses
            # the rest); decode_delta, the fast path first, must come to the same outcome and the same error
            want = reference(frame, use_yes)
            if want[0] == "ok":
                same(("ok", decode_delta(frame, use_yes)), want)
            else:
                with pytest.raises(WireError) as e:
                    decode_delta(frame, use_yes)
                assert str(e.value) == want[1]


def test_first_sight_of_a_string_declines_then_hits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decode, "_price_memo", {})
    monkeypatch.setattr(decode, "_delta_memo", {})
    frame = orjson.dumps(frame_of("KXA-1", 3, 9, "0.4500", "-12.50", "no", 5, None))
    assert fast_delta(frame, False) is None  # neither string seen yet
    decode._price_memo["0.4500"] = decode.parse_price("0.4500")
    assert fast_delta(frame, False) is None  # the size still unseen: the KeyError of the second lookup
    want = delta_from_obj(orjson.loads(frame), False)  # the reference memoizes both
    got = fast_delta(frame, False)
    assert got is not None
    same(("ok", got), ("ok", want))


def test_bench_shaped_stream_builds_the_reference_books() -> None:
    """The benchmark's per-frame path (decode, apply, both best reads) against the reference decode, book by book."""
    rng_frames = []
    for i in range(400):
        side = "yes" if i % 3 else "no"
        size = f"{(i % 7 + 1) * (1 if i % 4 else -1)}.00"
        rng_frames.append(orjson.dumps(frame_of("KXB-1", 1, 2 + i, f"0.{40 + i % 9:02d}00", size, side, 1, None)))
    levels = tuple((p * 10_000, 100_000) for p in range(30, 50))
    fast_book, ref_book = OrderBook("KXB-1"), OrderBook("KXB-1")
    for b in (fast_book, ref_book):
        b.apply_snapshot(BookSnapshot("KXB-1", 1, 1, levels, levels))  # type: ignore[arg-type]
    for f in rng_frames:
        d = fast_delta(f, False) or delta_from_obj(orjson.loads(f), False)
        r = delta_from_obj(orjson.loads(f), False)
        assert d == r
        assert fast_book.apply_delta(d) == ref_book.apply_delta(r)
        assert fast_book.best_yes_bid() == ref_book.best_yes_bid()
        assert fast_book.best_no_bid() == ref_book.best_no_bid()
    assert fast_book.levels("yes") == ref_book.levels("yes") and fast_book.levels("no") == ref_book.levels("no")
