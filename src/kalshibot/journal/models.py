"""Journal record models (CONTRACTS.md "Journal records"; every type documented with an example in docs/journal.md).

One pydantic model per record ``type``; every record carries the envelope ``v`` (schema version), ``type``, ``ts_ms``
(wall clock, integer) and ``session``. Prices and money are decimal strings as Kalshi writes them (``"0.5600"``,
fees may carry 6 decimals), counts are strings with two decimals (``"10.00"``): no floats, and the string formats
are checked by pattern, so a float or an int in a price field is refused. Unknown fields are refused
(``extra="forbid"``) and the models are strict (no "1" -> 1 coercion), so the reader accepts exactly what the
checked-in JSON Schema describes.

:func:`make_record` builds a record from keyword fields (what ``Journal.record`` uses); there, price / count / money
fields may also be given as the core's fixed-point ints and are formatted with :mod:`kalshibot.core.fixed`. Reading a
line (:func:`parse_record`, :func:`validate_obj`) never does that: a JSON number where a decimal string belongs is an
invalid line. The converters from core types live in :mod:`kalshibot.journal.records`, which re-exports all of this.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic_core.core_schema import ValidationInfo

from kalshibot.core.fixed import format_count, format_money, format_price
from kalshibot.errors import JournalError

SCHEMA_VERSION = 1
CORE_INTS = "core_ints"  # validation-context key: fixed-point ints are accepted in decimal-string fields
WIRE = "wire"  # validation-context key: validating a line, where the envelope must be complete

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
Level = Annotated[tuple[PriceStr, CountStr], Strict(False)]  # lax: a JSON array or a Python list is a pair


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

    @model_validator(mode="before")
    @classmethod
    def _complete_envelope(cls, data: Any, info: ValidationInfo) -> Any:
        # defaults make v/type optional when building a record in Python; a line must carry them
        if isinstance(info.context, Mapping) and info.context.get(WIRE) and isinstance(data, dict) and "v" not in data:
            raise ValueError("missing envelope field 'v'")
        return data


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
    reduced_by: SignedCountStr | None = None  # signed: Kalshi may report <= 0 for an already-filled order
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
    yes: list[Level]
    no: list[Level]
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
# every record type, read off the models' ``type`` literals (one list to keep, not two)
RECORD_TYPES: frozenset[str] = frozenset(str(m.model_fields["type"].default) for m in MODELS)
MARKET_TYPES: frozenset[str] = frozenset({"book", "trade"})
JOURNAL_TYPES: frozenset[str] = RECORD_TYPES - MARKET_TYPES

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
        return _ADAPTER.validate_json(line, context={WIRE: True})
    except ValidationError as e:
        raise JournalError(_errors(e)) from e


def validate_obj(obj: Any) -> AnyRecord:
    """Validate an already-decoded JSON object (strict, as a line would be)."""
    try:
        return _ADAPTER.validate_python(obj, context={WIRE: True})
    except ValidationError as e:
        raise JournalError(_errors(e)) from e


def dump_record(rec: AnyRecord) -> bytes:
    """One journal line, newline included."""
    return orjson.dumps(rec.model_dump(), option=orjson.OPT_APPEND_NEWLINE)
