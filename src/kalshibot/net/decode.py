"""Fast decoder for the hottest WebSocket path: ``orderbook_delta`` frames straight into ``BookDelta``.

Theory of operation
-------------------
A busy book sends thousands of deltas a second; building a pydantic model per frame is the single biggest cost on
the feed. :func:`delta_from_obj` checks the already-parsed JSON object field by field with exact type tests and
the same fixed-point parsers the models use. :class:`DeltaMessage` is the pydantic model of the same message
(strict types, unknown fields ignored); a Hypothesis property test (tests/test_net_decode.py) proves the two accept
and reject exactly the same objects and produce the same ``BookDelta``. Message shape: API.md §5.3.

:func:`fast_delta` goes one step earlier, from the raw frame: msgspec decodes the common delta shape into typed
structs in C and the ``BookDelta`` is filled without the frozen class's per-field setters. It declines (None)
whatever it is not sure of, and the caller then takes the reference way above (the feed does; so does
:func:`decode_delta`); tests/test_perf_feed_decode.py proves that what it accepts decodes to the same ``BookDelta``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Annotated, Any, Literal, Union

import msgspec
import orjson
from pydantic import BaseModel, BeforeValidator, ConfigDict

from kalshibot.core.events import BookDelta
from kalshibot.core.fixed import Count, Price, parse_count, parse_price
from kalshibot.errors import FixedPointError, WireError


def _price(v: object) -> Price:
    return parse_price(v)


def _signed_count(v: object) -> Count:
    return parse_count(v, signed=True)


class DeltaBody(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)

    market_ticker: str
    price_dollars: Annotated[int, BeforeValidator(_price)]
    delta_fp: Annotated[int, BeforeValidator(_signed_count)]
    side: Literal["yes", "no"]
    ts_ms: int | None = None
    client_order_id: str | None = None
    subaccount: int | None = None


class DeltaMessage(BaseModel):
    """The reference (slow) model of an ``orderbook_delta`` frame."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)

    type: Literal["orderbook_delta"]
    sid: int
    seq: int
    msg: DeltaBody

    def to_delta(self, no_in_yes_prices: bool) -> BookDelta:
        b = self.msg
        return BookDelta(
            ticker=b.market_ticker,
            sid=self.sid,
            seq=self.seq,
            side=b.side,
            price=Price(b.price_dollars),
            delta=Count(b.delta_fp),
            no_in_yes_prices=no_in_yes_prices,
            client_order_id=b.client_order_id,
            ts_ms=b.ts_ms or 0,
        )


_MISSING: Any = object()


def _bad(why: str) -> WireError:
    return WireError(f"orderbook_delta: {why}")


# Memo of the fixed-point parse of the price and delta strings seen on the wire (performance only, see
# docs/benchmarks.md): a book lives on a few hundred price strings and a few hundred sizes, and parsing is pure, so
# a hit returns exactly what the parser would. Only successful parses of ``str`` values are stored (a bad value
# still raises every time) and the memo stops growing at a bound, so hostile input cannot grow it without limit.
_MEMO_MAX = 50_000
_price_memo: dict[str, Price] = {}
_delta_memo: dict[str, Count] = {}


def delta_from_obj(obj: Any, no_in_yes_prices: bool) -> BookDelta:
    """An already-parsed frame -> ``BookDelta``; raises :class:`WireError` on anything the model would refuse."""
    if type(obj) is not dict:
        raise _bad("frame is not an object")
    if obj.get("type") != "orderbook_delta":
        raise _bad("type is not orderbook_delta")
    sid = obj.get("sid")
    seq = obj.get("seq")
    if type(sid) is not int or type(seq) is not int:  # exact type: bool is not an int here
        raise _bad("sid/seq must be integers")
    msg = obj.get("msg")
    if type(msg) is not dict:
        raise _bad("msg is not an object")
    ticker = msg.get("market_ticker")
    if type(ticker) is not str:
        raise _bad("market_ticker must be a string")
    side = msg.get("side")
    if side != "yes" and side != "no":
        raise _bad("side must be yes|no")
    raw_price = msg.get("price_dollars", _MISSING)
    raw_delta = msg.get("delta_fp", _MISSING)
    if raw_price is _MISSING or raw_delta is _MISSING:
        raise _bad("price_dollars and delta_fp are required")
    try:
        # JSON numbers where strings are documented are accepted (API.md §5.3); the parsers say what is valid
        price = _price_memo.get(raw_price) if type(raw_price) is str else None
        if price is None:
            price = parse_price(raw_price)
            if type(raw_price) is str and len(_price_memo) < _MEMO_MAX:
                _price_memo[raw_price] = price
        delta = _delta_memo.get(raw_delta) if type(raw_delta) is str else None
        if delta is None:
            delta = parse_count(raw_delta, signed=True)
            if type(raw_delta) is str and len(_delta_memo) < _MEMO_MAX:
                _delta_memo[raw_delta] = delta
    except FixedPointError as e:
        raise _bad(str(e)) from None
    ts_ms = msg.get("ts_ms")
    if ts_ms is not None and type(ts_ms) is not int:
        raise _bad("ts_ms must be an integer")
    coid = msg.get("client_order_id")
    if coid is not None and type(coid) is not str:
        raise _bad("client_order_id must be a string")
    sub = msg.get("subaccount")
    if sub is not None and type(sub) is not int:
        raise _bad("subaccount must be an integer")
    # the same frozen BookDelta the dataclass __init__ builds, field by field through the slot descriptors (the
    # generated __init__ goes through object.__setattr__ per field, about twice the cost; see docs/benchmarks.md)
    d: BookDelta = _new(BookDelta)
    _set_ticker(d, ticker)
    _set_sid(d, sid)
    _set_seq(d, seq)
    _set_side(d, side)
    _set_price(d, price)
    _set_delta(d, delta)
    _set_no_in_yes(d, no_in_yes_prices)
    _set_coid(d, coid)
    _set_ts(d, ts_ms or 0)
    return d


def _slot_setter(name: str) -> Callable[[BookDelta, Any], None]:
    setter: Callable[[BookDelta, Any], None] = getattr(BookDelta, name).__set__
    return setter


# BookDelta is a frozen slots dataclass: these are its member descriptors' setters (every field is set once here;
# tests/test_net_decode.py checks the result equals BookDelta(...) field for field)
_new = object.__new__
_set_ticker = _slot_setter("ticker")
_set_sid = _slot_setter("sid")
_set_seq = _slot_setter("seq")
_set_side = _slot_setter("side")
_set_price = _slot_setter("price")
_set_delta = _slot_setter("delta")
_set_no_in_yes = _slot_setter("no_in_yes_prices")
_set_coid = _slot_setter("client_order_id")
_set_ts = _slot_setter("ts_ms")
if len(fields(BookDelta)) != 9:  # pragma: no cover - a new BookDelta field must be set above too
    raise ImportError("net/decode.py: BookDelta gained a field; set it in delta_from_obj")


# ------------------------------------------------------------------------------------- raw bytes -> BookDelta
# The feed's first try on every frame (issue 9): msgspec decodes the raw frame straight into these typed structs, in
# C, with the type checks delta_from_obj makes in Python. It is deliberately narrower than the reference path:
# whatever it refuses (another message type, JSON numbers for price/size, an unknown field, an integer outside
# orjson's 64-bit range, bad UTF-8, any malformed JSON) is not an error here but "not mine", and the caller decodes
# the frame again the reference way (orjson + delta_from_obj), which decides and reports. So it only has to be
# right where it accepts: forbid_unknown_fields means no value goes unread (orjson refuses some values msgspec
# would skip, e.g. 1e400), and integers are bounded to int64, inside what orjson returns as int (beyond u64 orjson
# gives a float that delta_from_obj refuses). tests/test_perf_feed_decode.py: accepted => the reference's BookDelta.
# The frame is decoded as a union tagged by "type": a known other type comes back as a _NotDelta (no exception,
# see there) and only _FastFrame is ever read (tests/test_perf_feed2_decode.py).
_Int = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]  # msgspec bounds are int64; orjson's reach u64


class _FastBody(msgspec.Struct, forbid_unknown_fields=True, gc=False, kw_only=True):
    # declared in Kalshi's key order (API.md §5.3): msgspec tries the next declared field first (kw_only lets
    # the optional ones sit where they come on the wire)
    market_ticker: str
    market_id: str | None = None  # not used
    price_dollars: str
    delta_fp: str
    side: Literal["yes", "no"]
    ts_ms: _Int | None = None
    ts: str | None = None  # deprecated RFC3339 time, not used
    client_order_id: str | None = None
    subaccount: _Int | None = None


class _FastFrame(msgspec.Struct, forbid_unknown_fields=True, gc=False, tag_field="type", tag="orderbook_delta"):
    # "type" is the tag: exactly "orderbook_delta", wherever it sits in the object (the union below picks the class)
    sid: _Int
    seq: _Int
    msg: _FastBody


class _NotDelta(msgspec.Struct, gc=False, tag_field="type"):
    """Any other message type the feed knows: decoded as "not mine" without reading its fields (unknown fields
    are skipped) and without raising, which is what costs a refused frame ~0.5 µs (issue 9: trades, fills, replies
    and snapshots all try :func:`fast_delta` first). What it makes of the frame is never used: the caller parses
    the frame again the reference way, so a malformed one is still reported there."""


_OTHER_TYPES = (
    "orderbook_snapshot",
    "trade",
    "fill",
    "user_order",
    "market_position",
    "market_lifecycle_v2",
    "event_fee_update",
    "order_group_updates",
    "subscribed",
    "ok",
    "unsubscribed",
    "error",
    "event_lifecycle",
    "ticker",
)
_not_delta = tuple(msgspec.defstruct(f"_NotDelta_{t}", [], bases=(_NotDelta,), tag=t) for t in _OTHER_TYPES)
# a type not listed (or no "type") still raises, as before: also "not mine"
_fast_decode = msgspec.json.Decoder(Union[(_FastFrame, *_not_delta)]).decode
# what msgspec raises on input it refuses: its own errors, UnicodeError (a ValueError) on bad UTF-8 / surrogates,
# TypeError for a frame that is neither text nor bytes (orjson reports that one, as a bad frame)
_NOT_MINE = (msgspec.MsgspecError, ValueError, TypeError, RecursionError)


def fast_delta(frame: bytes | str, no_in_yes_prices: bool) -> BookDelta | None:
    """The ``BookDelta`` of a raw ``orderbook_delta`` frame in the common shape, or None: then decode the frame
    the reference way (:func:`delta_from_obj` on ``orjson.loads(frame)``), which accepts or reports it."""
    try:
        f = _fast_decode(frame)
    except _NOT_MINE:
        return None
    if f.__class__ is not _FastFrame:
        return None  # another message type
    b = f.msg
    try:
        # subscripts, not .get(): a method call costs more than the lookup (try is free in 3.11 until it raises)
        price = _price_memo[b.price_dollars]
        delta = _delta_memo[b.delta_fp]
    except KeyError:
        return None  # first sight of this string: the reference path parses (and memoizes) it
    # see _DeltaDraft: filled with plain slot stores, then made the BookDelta it is; calling the class is ~20 ns
    # cheaper than object.__new__(cls) (no tp_new_wrapper checks), and it has no __init__ of its own
    d = _DeltaDraft()
    d.ticker = b.market_ticker
    d.sid = f.sid
    d.seq = f.seq
    d.side = b.side
    d.price = price
    d.delta = delta
    d.no_in_yes_prices = no_in_yes_prices
    d.client_order_id = b.client_order_id
    d.ts_ms = b.ts_ms or 0
    d.__class__ = BookDelta  # type: ignore[assignment]
    return d  # type: ignore[return-value]


class _DeltaDraft:
    """A mutable twin of the frozen ``BookDelta`` with the very same slots (so the same memory layout), used only
    inside :func:`fast_delta`: its fields are filled with ordinary slot stores (the fastest attribute write CPython
    has; the frozen class refuses them) and the finished object's ``__class__`` is then set to ``BookDelta``, which
    CPython allows between layout-compatible classes. The result is a genuine ``BookDelta``: same type, value, hash,
    repr and immutability as ``BookDelta(...)`` builds (checked below at import and in
    tests/test_perf_feed_decode.py), for ~0.2 µs where nine slot-descriptor calls cost ~0.45 µs (issue 9)."""

    __slots__ = BookDelta.__slots__  # the same slots, hence the same layout
    ticker: str
    sid: int
    seq: int
    side: Literal["yes", "no"]
    price: Price
    delta: Count
    no_in_yes_prices: bool
    client_order_id: str | None
    ts_ms: int


def _check_draft() -> None:
    # a BookDelta that gains a field the draft does not declare (or stops being a plain slots class) must fail
    # loudly here, not build wrong events
    if set(_DeltaDraft.__annotations__) != {f.name for f in fields(BookDelta)}:  # pragma: no cover
        raise ImportError("net/decode.py: _DeltaDraft must declare exactly BookDelta's fields")
    want = BookDelta("T", 1, 2, "no", Price(3), Count(-4), True, "c", 5)
    d = _new(_DeltaDraft)
    for name in _DeltaDraft.__slots__:
        setattr(d, name, getattr(want, name))
    d.__class__ = BookDelta  # type: ignore[assignment]
    got: object = d
    if type(got) is not BookDelta or got != want or hash(got) != hash(want):  # pragma: no cover
        raise ImportError("net/decode.py: a _DeltaDraft does not become the same BookDelta")


_check_draft()


def decode_delta(frame: bytes | str, no_in_yes_prices: bool = True) -> BookDelta:
    """A raw frame -> ``BookDelta`` the way the feed decodes it (fast path first); raises :class:`WireError`."""
    d = fast_delta(frame, no_in_yes_prices)
    if d is not None:
        return d
    try:
        obj = orjson.loads(frame)
    except orjson.JSONDecodeError as e:
        raise WireError(f"orderbook_delta: not JSON: {e}") from None
    return delta_from_obj(obj, no_in_yes_prices)


__all__ = ["DeltaMessage", "decode_delta", "delta_from_obj", "fast_delta"]
