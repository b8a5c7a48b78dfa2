"""Journal records: the models (re-exported from :mod:`.models`) and converters from the core's types.

The converters (``intent_record``, ``fill_record``, ``book_record``, ...) build a record from the core's events,
actions and notes, formatting fixed-point ints with :mod:`kalshibot.core.fixed`. Book records keep NO levels in
NO-leg prices (Kalshi's default convention, API.md §5.3) whatever the feed used, so a replay never needs to know the
subscription's ``use_yes_price``. A converter sets ``ts_ms`` from the event when the caller passes none; the daemon
passes its wall clock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

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
from kalshibot.journal.models import (
    CORE_INTS,
    JOURNAL_TYPES,
    MARKET_TYPES,
    MODELS,
    RECORD_TYPES,
    SCHEMA_VERSION,
    AckRecord,
    AmendRecord,
    AnyRecord,
    BookDeltaRecord,
    BookSnapshotRecord,
    CancelRecord,
    DecreaseRecord,
    FillRecord,
    IntentRecord,
    LifecycleRecord,
    OrderSentRecord,
    Record,
    RejectRecord,
    RiskRecord,
    SessionRecord,
    SettlementRecord,
    TradeRecord,
    dump_record,
    make_record,
    parse_record,
    validate_obj,
)

__all__ = [
    "CORE_INTS",
    "JOURNAL_TYPES",
    "MARKET_TYPES",
    "MODELS",
    "RECORD_TYPES",
    "SCHEMA_VERSION",
    "AckRecord",
    "AmendRecord",
    "AnyRecord",
    "BookDeltaRecord",
    "BookSnapshotRecord",
    "CancelRecord",
    "DecreaseRecord",
    "FillRecord",
    "IntentRecord",
    "LifecycleRecord",
    "OrderSentRecord",
    "Record",
    "RejectRecord",
    "RiskRecord",
    "SessionRecord",
    "SettlementRecord",
    "TradeRecord",
    "ack_record",
    "amend_record",
    "book_record",
    "cancel_record",
    "decrease_record",
    "dump_record",
    "fill_record",
    "intent_record",
    "lifecycle_record",
    "make_record",
    "order_sent_record",
    "parse_record",
    "reject_record",
    "risk_record",
    "settlement_record",
    "trade_record",
    "validate_obj",
]


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
    status, close, result, value = (
        detail.pop(k, None) for k in ("status", "close_ts_ms", "result", "settlement_value")
    )
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
        # journaled as the exchange said it: <= 0 means the order had already filled (API.md §3.5)
        reduced_by=format_count(a.reduced_by),
        exchange_ts_ms=a.exchange_ts_ms or None,
    )


# ---------------------------------------------------------------------------------- converters: market data
def book_record(
    ev: BookSnapshot | BookDelta, session: str, ts_ms: int | None = None
) -> BookSnapshotRecord | BookDeltaRecord:
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
