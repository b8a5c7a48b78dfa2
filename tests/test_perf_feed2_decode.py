"""``fast_delta`` tells other message types apart without raising (issue 9: a refused frame cost ~0.5 µs): msgspec
decodes the frame as a union tagged by ``type``, where every type but ``orderbook_delta`` is a field-less "not
mine". It must still accept only what the reference decode (orjson + ``delta_from_obj``) turns into the same
``BookDelta``, whatever the ``type`` members say (any known or unknown value, anywhere, more than once), and the
feed must treat every such frame exactly as its general path does."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kalshibot.core import events as ev
from kalshibot.errors import WireError
from kalshibot.net.decode import _OTHER_TYPES, decode_delta, delta_from_obj, fast_delta
from kalshibot.net.feed import Feed, MarketData

BODY = {"market_ticker": "KXA-1", "price_dollars": "0.4500", "delta_fp": "-3.00", "side": "no", "ts_ms": 5}
DELTA = {"type": "orderbook_delta", "sid": 1, "seq": 7, "msg": BODY}


def reference(frame: bytes) -> ev.BookDelta | None:
    try:
        return delta_from_obj(orjson.loads(frame), True)
    except (WireError, orjson.JSONDecodeError):
        return None


def setup_module() -> None:
    decode_delta(orjson.dumps(DELTA))  # the price/size strings are in the memo: the fast path gets its go


@pytest.mark.parametrize("kind", [*_OTHER_TYPES, "unheard_of"])
@pytest.mark.parametrize("shape", ["delta_like", "plain", "bad_json"])
def test_other_types_are_not_deltas(kind: str, shape: str) -> None:
    """Even with a delta's members, a frame of another type is declined (and never half-read as a delta)."""
    if shape == "delta_like":
        frame = orjson.dumps({**DELTA, "type": kind})
    elif shape == "plain":
        frame = orjson.dumps({"type": kind, "id": 3, "msg": {"code": 10, "x": [1, {"y": None}]}})
    else:
        frame = b'{"type":"' + kind.encode() + b'","msg":{"a":tru}}'
    assert fast_delta(frame, True) is None
    assert fast_delta(frame.decode(), False) is None


def test_the_delta_itself_still_takes_the_fast_path() -> None:
    for frame in (orjson.dumps(DELTA), orjson.dumps({"sid": 1, "seq": 7, "msg": BODY, "type": "orderbook_delta"})):
        got = fast_delta(frame, True)
        assert got is not None and got == reference(frame)
        assert got == ev.BookDelta("KXA-1", 1, 7, "no", ev.Price(450_000), ev.Count(-300), True, None, 5)


type_value = st.sampled_from(['"orderbook_delta"'] * 4 + [f'"{t}"' for t in _OTHER_TYPES] + ['"zz"', "null", "7"])


@settings(max_examples=400, deadline=None)
@given(
    types=st.lists(type_value, min_size=0, max_size=3),
    where=st.lists(st.integers(0, 3), min_size=3, max_size=3),
)
def test_accepts_only_what_the_reference_decodes_the_same(types: list[str], where: list[int]) -> None:
    """``type`` members (none, one, several; any value) spliced anywhere into a valid delta: orjson keeps the last
    of duplicates; whenever the fast path accepts, the reference sees the same delta."""
    members = ['"sid":1', '"seq":7', '"msg":' + orjson.dumps(BODY).decode()]
    for t, at in zip(types, where, strict=False):
        members.insert(at % (len(members) + 1), f'"type":{t}')
    frame = ("{" + ",".join(members) + "}").encode()
    want = reference(frame)
    got = fast_delta(frame, True)
    if got is not None:
        assert want is not None and got == want, frame
    if types == ['"orderbook_delta"']:
        assert got is not None  # not vacuous: the plain delta is taken, wherever its type sits


def _feed_outcome(frames: list[bytes], slow: bool) -> tuple[Any, ...]:
    events: list[ev.Event] = []
    records: list[MarketData] = []
    feed = Feed("ws://unused", None, events.append, records.append, clock_ms=lambda: 9)  # type: ignore[arg-type]
    feed.set_markets(["KXA-1"])
    feed._ws = object()  # type: ignore[assignment]
    feed._subscribe_market("KXA-1")
    for f in frames:
        if slow:
            feed.stats.messages += 1
            feed._handle_slow(f)
        else:
            feed.handle_frame(f)
    return events, records, feed.stats, set(feed._awaiting)


def test_the_feed_handles_every_type_as_its_general_path_does() -> None:
    frames = [orjson.dumps({"id": 1, "type": "subscribed", "msg": {"channel": "orderbook_delta", "sid": 1}})]
    frames.append(orjson.dumps({"type": "orderbook_snapshot", "sid": 1, "seq": 6, "msg": {"market_ticker": "KXA-1"}}))
    frames += [orjson.dumps({**DELTA, "type": t}) for t in (*_OTHER_TYPES, "zz")]
    # (the other types' own seq on sid 1 moves its sequence to 7, in both paths alike)
    frames += [orjson.dumps({**DELTA, "seq": 8}), orjson.dumps({**DELTA, "seq": 9})]
    fast = _feed_outcome(frames, slow=False)
    assert fast == _feed_outcome(frames, slow=True)
    assert [e.seq for e in fast[0] if isinstance(e, ev.BookDelta)] == [8, 9]
