"""Journal record models (CONTRACTS.md "Journal records"; every type documented with an example in docs/journal.md).

One pydantic model per record ``type``; every record carries the envelope ``v`` (schema version), ``type``, ``ts_ms``
(wall clock, integer) and ``session``. Prices and money are decimal strings as Kalshi writes them (``"0.5600"``,
fees may carry 6 decimals), counts are strings with two decimals (``"10.00"``): no floats, and the string formats
are checked by pattern, so a float or an int in a price field is refused. Unknown fields are refused
(``extra="forbid"``) and the models are strict (no "1" -> 1 coercion), so the reader accepts exactly what the
checked-in JSON Schema describes.

Two ways in:

* the converters (``intent_record``, ``fill_record``, ``book_record``, ...) build a record from the core's events,
  actions and notes, formatting fixed-point ints with :mod:`kalshibot.core.fixed`;
* :func:`make_record` builds one from keyword fields (what ``Journal.record`` uses); there, price / count / money
  fields may also be given as the core's fixed-point ints and are formatted the same way. Reading a line
  (:func:`parse_record`) never does that: a JSON number where a decimal string belongs is an invalid line.

Book records keep NO levels in NO-leg prices (Kalshi's default convention, API.md §5.3) whatever the feed used, so
a replay never needs to know the subscription's ``use_yes_price``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError
from pydantic_core.core_schema import ValidationInfo

from kalshibot.core.events import (
    AmendAck,
    AmendOrder,
    BookDelta,
    BookSnapshot,
    CancelAck,
    CancelOrder,
    DecreaseAck,
    DecreaseOrder,
    FillEvent,
    IntentNote,
    LifecycleNote,
    OrderAck,
    OrderReject,
    PlaceOrder,
    RiskNote,
    SettlementNote,
    TradePrint,
)
from kalshibot.core.fixed import ONE_DOLLAR, format_count, format_money, format_price
from kalshibot.errors import JournalError

SCHEMA_VERSION = 1
CORE_INTS = "core_ints"  # validation-context key: fixed-point ints are accepted in decimal-string fields

# --------------------------------------------------------------------------------------------- field formats
# [0-9] rather than \d: pydantic's regex engine treats \d as any Unicode digit.
PRICE_PATTERN = r"^(0\.[0-9]{4}([0-9]{2})?|1\.0000(00)?)$"
MONEY_PATTERN = r"^-?[0-9]+\.[0-9]{4}([0-9]{2})?$"
COUNT_PATTERN = r"^[0-9]+\.[0-9]{2}$"
SIGNED_COUNT_PATTERN = r"^-?[0-9]+\.[0-9]{2}$"
DECIMAL_PATTERN = r"^-?[0-9]+\.[0-9]{2,6}$"


def _core_int(fmt: Callable[[int], str]) -> Callable[[Any, ValidationInfo], Any]:
    def convert(value: Any, info: ValidationInfo) -> Any:
        if type(value) is int and isinstance(info.context, Mapping) and info.context.get(CORE_INTS):
            return fmt(value)
        return value

    return convert


PriceStr = Annotated[str, StringConstraints(pattern=PRICE_PATTERN), BeforeValidator(_core_int(format_price))]
MoneyStr = Annotated[str, StringConstraints(pattern=MONEY_PATTERN), BeforeValidator(_core_int(format_money))]
CountStr = Annotated[str, StringConstraints(pattern=COUNT_PATTERN), BeforeValidator(_core_int(format_count))]
SignedCountStr = Annotated[
    str, StringConstraints(pattern=SIGNED_COUNT_PATTERN), BeforeValidator(_core_int(format_count))
]
DecimalStr = Annotated[str, StringConstraints(pattern=DECIMAL_PATTERN)]
NonNegInt = Annotated[int, Field(ge=0)]
Outcome = Literal["yes", "no"]
BookSide = Literal["bid", "ask"]
Stage = Literal["sent", "acked"]
Level = tuple[PriceStr, CountStr]


def _envelope_required(schema: dict[str, Any]) -> None:
    # v and type have defaults in Python (so models are easy to build) but every line must carry them
    req = [f for f in schema.get("required", []) if f not in ("v", "type", "ts_ms", "session")]
    schema["required"] = ["v", "type", "ts_ms", "session", *req]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, json_schema_extra=_envelope_required)

    v: Literal[1] = 1
    type: str
    ts_ms: NonNegInt
    session: str


# ---------------------------------------------------------------------------------------- decisions/execution
class SessionRecord(_Record):
    """Daemon start and stop (``phase``); the stop record's ``detail`` carries the session summary."""

    type: Literal["session"] = "session"
    phase: Literal["start", "stop"]
    version: str
    config_hash: str
    environment: str
    universe: list[str]
    paper: bool = False
    detail: dict[str, Any] = Field(default_factory=dict)


class IntentRecord(_Record):
    """What the strategy wanted and the top of book it saw (top fields always present, null when empty)."""

    type: Literal["intent"] = "intent"
    intent_id: str
    ticker: str
    side: Outcome
    price: PriceStr
    count: CountStr
    yes_bid: PriceStr | None
    yes_bid_size: CountStr | None
    yes_ask: PriceStr | None
    yes_ask_size: CountStr | None
    book_seq: int | None
    reason: dict[str, Any] = Field(default_factory=dict)


class OrderSentRecord(_Record):
    type: Literal["order_sent"] = "order_sent"
    intent_id: str
    client_order_id: str
    ticker: str
    side: BookSide
    price: PriceStr
    count: CountStr
    tif: Literal["good_till_canceled", "immediate_or_cancel", "fill_or_kill"]
    post_only: bool
    expiration_time: int | None  # Unix seconds, Kalshi's field (API.md §3.5); null = no expiry
    reduce_only: bool = False
    book_seq: int | None = None


class AckRecord(_Record):
    type: Literal["ack"] = "ack"
    client_order_id: str
    order_id: str
    exchange_ts_ms: int | None
    fill_count: CountStr | None = None
    remaining_count: CountStr | None = None


class RejectRecord(_Record):
    type: Literal["reject"] = "reject"
    client_order_id: str
    order_id: str | None
    exchange_ts_ms: int | None
    code: str
    message: str
    request: Literal["create", "amend", "decrease", "cancel"] = "create"


class AmendRecord(_Record):
    """An amend sent (``stage: sent``) or acknowledged (``acked``: remaining/fill counts as the exchange says)."""

    type: Literal["amend"] = "amend"
    stage: Stage = "sent"
    order_id: str
    client_order_id: str
    new_client_order_id: str | None = None
    ticker: str | None = None
    side: BookSide | None = None
    price: PriceStr
    count: CountStr  # V2 amend count = filled + desired resting (API.md §3.5)
    remaining_count: CountStr | None = None
    fill_count: CountStr | None = None
    expiration_time: int | None = None
    intent_id: str | None = None
    exchange_ts_ms: int | None = None


class DecreaseRecord(_Record):
    type: Literal["decrease"] = "decrease"
    stage: Stage = "sent"
    order_id: str
    client_order_id: str | None
    reduced_by: CountStr | None = None
    remaining_count: CountStr | None = None
    ticker: str | None = None
    intent_id: str | None = None
    exchange_ts_ms: int | None = None


class CancelRecord(_Record):
    """A cancel sent or acknowledged; ``reduced_by`` "0.00" on the ack means it had already filled (API.md §3.5)."""

    type: Literal["cancel"] = "cancel"
    stage: Stage = "sent"
    order_id: str | None  # null only while the create is unacknowledged
    client_order_id: str | None
    ticker: str | None = None
    reason: str = ""
    reduced_by: CountStr | None = None
    exchange_ts_ms: int | None = None


class FillRecord(_Record):
    """One fill, journaled exactly once per (order_id, trade_id). ``price`` is that of the outcome bought."""

    type: Literal["fill"] = "fill"
    order_id: str
    trade_id: str
    client_order_id: str | None
    ticker: str
    side: Outcome
    book_side: BookSide
    price: PriceStr
    count: CountStr
    fee: MoneyStr
    is_taker: bool
    position_after: SignedCountStr
    paper: bool
    exchange_ts_ms: int | None = None


class RiskRecord(_Record):
    type: Literal["risk"] = "risk"
    state: Literal["ACTIVE", "REDUCING", "HALTED"]
    limit: str
    value: DecimalStr | None
    threshold: DecimalStr | None
    unit: Literal["dollars", "contracts"] | None = None
    scope: Literal["market", "event", "account"]
    scope_id: str = ""
    message: str = ""


class LifecycleRecord(_Record):
    type: Literal["lifecycle"] = "lifecycle"
    ticker: str
    event_type: str  # Kalshi's market_lifecycle_v2 event_type, or a REST status change (API.md §5.3, §9)
    status: str | None = None
    close_ts_ms: int | None = None
    result: str | None = None
    settlement_value: PriceStr | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class SettlementRecord(_Record):
    type: Literal["settlement"] = "settlement"
    ticker: str
    result: str
    position: SignedCountStr
    payout: MoneyStr
    fees: MoneyStr


# ----------------------------------------------------------------------------------------------- market data
class BookSnapshotRecord(_Record):
    """A full book; ``no`` levels in NO-leg prices. Levels are ``[price, size]`` pairs in the order received."""

    type: Literal["book"] = "book"
    kind: Literal["snapshot"] = "snapshot"
    ticker: str
    sid: NonNegInt
    seq: NonNegInt
    yes: list[Level] = Field(strict=False)  # lax only so Python lists and JSON arrays both make tuples
    no: list[Level] = Field(strict=False)
    exchange_ts_ms: int | None = None


class BookDeltaRecord(_Record):
    type: Literal["book"] = "book"
    kind: Literal["delta"] = "delta"
    ticker: str
    sid: NonNegInt
    seq: NonNegInt
    side: Outcome
    price: PriceStr  # NO-leg price for side "no"
    delta: SignedCountStr
    client_order_id: str | None = None
    exchange_ts_ms: int | None = None


class TradeRecord(_Record):
    type: Literal["trade"] = "trade"
    ticker: str
    trade_id: str
    yes_price: PriceStr
    count: CountStr
    taker_side: Outcome
    exchange_ts_ms: int | None = None


BookRecord = Annotated[BookSnapshotRecord | BookDeltaRecord, Field(discriminator="kind")]
AnyRecord = (
    SessionRecord
    | IntentRecord
    | OrderSentRecord
    | AckRecord
    | RejectRecord
    | AmendRecord
    | DecreaseRecord
    | CancelRecord
    | FillRecord
    | RiskRecord
    | LifecycleRecord
    | SettlementRecord
    | BookSnapshotRecord
    | BookDeltaRecord
    | TradeRecord
)
Record = AnyRecord  # the public name

MODELS: tuple[type[_Record], ...] = (
    SessionRecord,
    IntentRecord,
    OrderSentRecord,
    AckRecord,
    RejectRecord,
    AmendRecord,
    DecreaseRecord,
    CancelRecord,
    FillRecord,
    RiskRecord,
    LifecycleRecord,
    SettlementRecord,
    BookSnapshotRecord,
    BookDeltaRecord,
    TradeRecord,
)
JOURNAL_TYPES: frozenset[str] = frozenset(
    {
        "session",
        "intent",
        "order_sent",
        "ack",
        "reject",
        "amend",
        "decrease",
        "cancel",
        "fill",
        "risk",
        "lifecycle",
        "settlement",
    }
)
MARKET_TYPES: frozenset[str] = frozenset({"book", "trade"})
RECORD_TYPES: frozenset[str] = JOURNAL_TYPES | MARKET_TYPES

_ADAPTER: TypeAdapter[AnyRecord] = TypeAdapter(
    Annotated[
        SessionRecord
        | IntentRecord
        | OrderSentRecord
        | AckRecord
        | RejectRecord
        | AmendRecord
        | DecreaseRecord
        | CancelRecord
        | FillRecord
        | RiskRecord
        | LifecycleRecord
        | SettlementRecord
        | BookRecord
        | TradeRecord,
        Field(discriminator="type"),
    ]
)


# ------------------------------------------------------------------------------------------- build/parse/dump
def _errors(e: ValidationError) -> str:
    parts = []
    for err in e.errors(include_url=False)[:5]:
        loc = ".".join(str(x) for x in err["loc"]) or "<record>"
        parts.append(f"{loc}: {err['msg']}")
    more = e.error_count() - len(parts)
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def make_record(type: str, ts_ms: int, session: str, **fields: Any) -> AnyRecord:
    """Build and validate a record from keyword fields; price/count/money fields may be fixed-point ints.
    Raises JournalError naming the offending fields."""
    if type not in RECORD_TYPES:
        raise JournalError(f"unknown journal record type {type!r}")
    data = {"v": SCHEMA_VERSION, "type": type, "ts_ms": ts_ms, "session": session, **fields}
    try:
        return _ADAPTER.validate_python(data, context={CORE_INTS: True})
    except ValidationError as e:
        raise JournalError(f"invalid {type} record: {_errors(e)}") from e


def parse_record(line: bytes | str) -> AnyRecord:
    """Parse and validate one JSON line (strict: decimal strings only). Raises JournalError."""
    try:
        return _ADAPTER.validate_json(line)
    except ValidationError as e:
        raise JournalError(_errors(e)) from e


def validate_obj(obj: Any) -> AnyRecord:
    """Validate an already-decoded JSON object (strict, as a line would be)."""
    try:
        return _ADAPTER.validate_python(obj, strict=None)
    except ValidationError as e:
        raise JournalError(_errors(e)) from e


def dump_record(rec: AnyRecord) -> bytes:
    """One journal line, newline included."""
    return orjson.dumps(rec.model_dump(), option=orjson.OPT_APPEND_NEWLINE)


def _jsonable(value: object) -> Any:
    """Free-form detail dicts: keep JSON-native values, stringify anything else (never fail the write)."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    return str(value)


def _opt(fmt: Callable[[int], str], value: int | None) -> str | None:
    return None if value is None else fmt(value)


def _ts(explicit: int | None, event_ts: int) -> int:
    return event_ts if explicit is None else explicit


# ----------------------------------------------------------------------------------- converters: decisions
def intent_record(note: IntentNote, session: str, ts_ms: int | None = None) -> IntentRecord:
    top = note.top
    return IntentRecord(
        ts_ms=_ts(ts_ms, note.ts_ms),
        session=session,
        intent_id=note.intent_id,
        ticker=note.ticker,
        side=note.outcome,
        price=format_price(note.price),
        count=format_count(note.count),
        yes_bid=_opt(format_price, top.yes_bid),
        yes_bid_size=_opt(format_count, top.yes_bid_size),
        yes_ask=_opt(format_price, top.yes_ask),
        yes_ask_size=_opt(format_count, top.yes_ask_size),
        book_seq=top.book_seq,
        reason=_jsonable(note.reason),
    )


_COUNT_LIMIT_WORDS = ("size", "count", "position", "contracts", "qty", "quantity")


def risk_record(
    note: RiskNote, session: str, ts_ms: int, *, unit: Literal["dollars", "contracts"] | None = None
) -> RiskRecord:
    """``RiskNote.value``/``threshold`` are Money or Count ints; ``unit`` says which. Without it the limit's name
    decides: names mentioning size/count/position/contracts are counts, everything else is money."""
    if unit is None:
        unit = "contracts" if any(w in note.limit.lower() for w in _COUNT_LIMIT_WORDS) else "dollars"
    fmt = format_count if unit == "contracts" else format_money
    return RiskRecord(
        ts_ms=ts_ms,
        session=session,
        state=note.state,
        limit=note.limit,
        value=_opt(fmt, note.value),
        threshold=_opt(fmt, note.threshold),
        unit=unit if note.value is not None or note.threshold is not None else None,
        scope=note.scope,
        scope_id=note.scope_id,
        message=note.message,
    )


def lifecycle_record(note: LifecycleNote, session: str, ts_ms: int) -> LifecycleRecord:
    """Known keys of ``note.detail`` (status, close_ts_ms, result, settlement_value as micros) become fields; the
    rest stays in ``detail``."""
    detail = dict(note.detail)
    status, close, result, value = (detail.pop(k, None) for k in ("status", "close_ts_ms", "result", "settlement_value"))
    if type(value) is int:
        value = format_price(value)
    return LifecycleRecord(
        ts_ms=ts_ms,
        session=session,
        ticker=note.ticker,
        event_type=note.event_type,
        status=None if status is None else str(status),
        close_ts_ms=close if type(close) is int else None,
        result=None if result is None else str(result),
        settlement_value=value if isinstance(value, str) else None,
        detail=_jsonable(detail),
    )


def settlement_record(note: SettlementNote, session: str, ts_ms: int) -> SettlementRecord:
    return SettlementRecord(
        ts_ms=ts_ms,
        session=session,
        ticker=note.ticker,
        result=note.result,
        position=format_count(note.position),
        payout=format_money(note.payout),
        fees=format_money(note.fees),
    )


def fill_record(ev: FillEvent, session: str, position_after: int, ts_ms: int | None = None) -> FillRecord:
    """``price`` is the price of the outcome bought: the YES price for a YES buy, 1 - YES price for a NO buy."""
    price = ev.yes_price if ev.outcome == "yes" else ONE_DOLLAR - ev.yes_price
    return FillRecord(
        ts_ms=_ts(ts_ms, ev.ts_ms),
        session=session,
        order_id=ev.order_id,
        trade_id=ev.trade_id,
        client_order_id=ev.client_order_id,
        ticker=ev.ticker,
        side=ev.outcome,
        book_side=ev.book_side,
        price=format_price(price),
        count=format_count(ev.count),
        fee=format_money(ev.fee),
        is_taker=ev.is_taker,
        position_after=format_count(position_after),
        paper=ev.paper,
        exchange_ts_ms=ev.ts_ms or None,
    )


# ----------------------------------------------------------------------------------- converters: execution
def order_sent_record(a: PlaceOrder, session: str, ts_ms: int) -> OrderSentRecord:
    return OrderSentRecord(
        ts_ms=ts_ms,
        session=session,
        intent_id=a.intent_id,
        client_order_id=a.client_order_id,
        ticker=a.ticker,
        side=a.side,
        price=format_price(a.price),
        count=format_count(a.count),
        tif=a.time_in_force,
        post_only=a.post_only,
        expiration_time=a.expiration_ts_s,
        reduce_only=a.reduce_only,
        book_seq=a.book_seq,
    )


def ack_record(ev: OrderAck, session: str, ts_ms: int) -> AckRecord:
    return AckRecord(
        ts_ms=ts_ms,
        session=session,
        client_order_id=ev.client_order_id,
        order_id=ev.order_id,
        exchange_ts_ms=ev.exchange_ts_ms or None,
        fill_count=format_count(ev.fill_count),
        remaining_count=format_count(ev.remaining_count),
    )


def reject_record(ev: OrderReject, session: str, ts_ms: int) -> RejectRecord:
    return RejectRecord(
        ts_ms=ts_ms,
        session=session,
        client_order_id=ev.client_order_id,
        order_id=ev.order_id,
        exchange_ts_ms=ev.exchange_ts_ms or None,
        code=ev.code,
        message=ev.message,
        request=ev.request,
    )


def amend_record(a: AmendOrder | AmendAck, session: str, ts_ms: int) -> AmendRecord:
    if isinstance(a, AmendOrder):
        return AmendRecord(
            ts_ms=ts_ms,
            session=session,
            order_id=a.order_id,
            client_order_id=a.client_order_id,
            new_client_order_id=a.new_client_order_id,
            ticker=a.ticker,
            side=a.side,
            price=format_price(a.price),
            count=format_count(a.count),
            expiration_time=a.expiration_ts_s,
            intent_id=a.intent_id,
        )
    return AmendRecord(
        ts_ms=ts_ms,
        session=session,
        stage="acked",
        order_id=a.order_id,
        client_order_id=a.client_order_id,
        price=format_price(a.price),
        count=format_count(a.fill_count + a.remaining_count),
        remaining_count=format_count(a.remaining_count),
        fill_count=format_count(a.fill_count),
        expiration_time=a.expiration_ts_s,
        exchange_ts_ms=a.exchange_ts_ms or None,
    )


def decrease_record(a: DecreaseOrder | DecreaseAck, session: str, ts_ms: int) -> DecreaseRecord:
    if isinstance(a, DecreaseOrder):
        return DecreaseRecord(
            ts_ms=ts_ms,
            session=session,
            order_id=a.order_id,
            client_order_id=a.client_order_id,
            reduced_by=format_count(a.reduce_by),
            ticker=a.ticker,
            intent_id=a.intent_id,
        )
    return DecreaseRecord(
        ts_ms=ts_ms,
        session=session,
        stage="acked",
        order_id=a.order_id,
        client_order_id=a.client_order_id,
        remaining_count=format_count(a.remaining_count),
        exchange_ts_ms=a.exchange_ts_ms or None,
    )


def cancel_record(a: CancelOrder | CancelAck, session: str, ts_ms: int) -> CancelRecord:
    if isinstance(a, CancelOrder):
        return CancelRecord(
            ts_ms=ts_ms,
            session=session,
            order_id=a.order_id,
            client_order_id=a.client_order_id,
            ticker=a.ticker,
            reason=a.reason,
        )
    return CancelRecord(
        ts_ms=ts_ms,
        session=session,
        stage="acked",
        order_id=a.order_id,
        client_order_id=a.client_order_id,
        # Kalshi may report reduced_by <= 0 for an order that had already filled (API.md §3.5): journal 0.00
        reduced_by=format_count(max(a.reduced_by, 0)),
        exchange_ts_ms=a.exchange_ts_ms or None,
    )


# ---------------------------------------------------------------------------------- converters: market data
def book_record(ev: BookSnapshot | BookDelta, session: str, ts_ms: int | None = None) -> BookSnapshotRecord | BookDeltaRecord:
    """A book snapshot or delta; NO levels are normalised to NO-leg prices."""
    if isinstance(ev, BookSnapshot):
        flip = ev.no_in_yes_prices
        return BookSnapshotRecord(
            ts_ms=_ts(ts_ms, ev.ts_ms),
            session=session,
            ticker=ev.ticker,
            sid=ev.sid,
            seq=ev.seq,
            yes=[(format_price(p), format_count(c)) for p, c in ev.yes],
            no=[(format_price(ONE_DOLLAR - p if flip else p), format_count(c)) for p, c in ev.no],
            exchange_ts_ms=ev.ts_ms or None,
        )
    price = ONE_DOLLAR - ev.price if ev.side == "no" and ev.no_in_yes_prices else ev.price
    return BookDeltaRecord(
        ts_ms=_ts(ts_ms, ev.ts_ms),
        session=session,
        ticker=ev.ticker,
        sid=ev.sid,
        seq=ev.seq,
        side=ev.side,
        price=format_price(price),
        delta=format_count(ev.delta),
        client_order_id=ev.client_order_id,
        exchange_ts_ms=ev.ts_ms or None,
    )


def trade_record(ev: TradePrint, session: str, ts_ms: int | None = None) -> TradeRecord:
    return TradeRecord(
        ts_ms=_ts(ts_ms, ev.ts_ms),
        session=session,
        ticker=ev.ticker,
        trade_id=ev.trade_id,
        yes_price=format_price(ev.yes_price),
        count=format_count(ev.count),
        taker_side=ev.taker_outcome,
        exchange_ts_ms=ev.ts_ms or None,
    )
