"""Fast decoder for the hottest WebSocket path: ``orderbook_delta`` frames straight into ``BookDelta``.

Theory of operation
-------------------
A busy book sends thousands of deltas a second; building a pydantic model per frame is the single biggest cost on
the feed. :func:`delta_from_obj` checks the already-parsed JSON object field by field with exact type tests and
the same fixed-point parsers the models use. :class:`DeltaMessage` is the pydantic model of the same message
(strict types, unknown fields ignored); a Hypothesis property test (tests/test_net_decode.py) proves the two accept
and reject exactly the same objects and produce the same ``BookDelta``. Message shape: API.md §5.3.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Annotated, Any, Literal

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


def decode_delta(frame: bytes | str, no_in_yes_prices: bool = True) -> BookDelta:
    """Parse a raw frame and decode it (for tests and benchmarks; the feed parses once and dispatches)."""
    try:
        obj = orjson.loads(frame)
    except orjson.JSONDecodeError as e:
        raise WireError(f"orderbook_delta: not JSON: {e}") from None
    return delta_from_obj(obj, no_in_yes_prices)


__all__ = ["DeltaMessage", "decode_delta", "delta_from_obj"]
